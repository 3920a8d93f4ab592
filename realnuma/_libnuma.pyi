# Type stub for the cffi extension built from realnuma/_build_libnuma.py.
from typing import Any

ffi: Any
lib: Any
