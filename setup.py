"""setuptools hook for the cffi extensions; everything else is in pyproject.toml.

The libnuma binding is built only where libnuma's header is installed (libnuma-dev).
"""

import os

from setuptools import setup

modules = ["realnuma/_build.py:ffibuilder"]
if os.path.exists("/usr/include/numaif.h"):
    modules.append("realnuma/_build_libnuma.py:ffibuilder")

setup(cffi_modules=modules)
