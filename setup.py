"""setuptools hook for the cffi extensions; everything else is in pyproject.toml.

The libnuma binding is built only where libnuma's header is installed (libnuma-dev).
Neither extension is required: where no C compiler or no headers are found, the
install goes on without them and says so (the simulator is pure Python; the host
backend then names what to install, see realnuma/extension.py).
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

try:  # setuptools' own copy of distutils (Python 3.12+ has none in the stdlib)
    from setuptools.errors import CCompilerError, ExecError, PlatformError
except ImportError:  # setuptools < 59
    from distutils.errors import CCompilerError
    from distutils.errors import DistutilsExecError as ExecError
    from distutils.errors import DistutilsPlatformError as PlatformError

BUILD_FAILURES = (CCompilerError, ExecError, PlatformError, OSError)

WARNING = """
WARNING: realnuma's C extension {name} was not built: {error}
The simulator (simnuma, numa-conformance --backend sim) does not need it; the host and
vm backends do. To build it: apt-get install gcc python3-dev libnuma-dev, then reinstall.
"""


class OptionalBuildExt(build_ext):
    """build_ext where an extension that cannot be compiled is left out, with a warning.

    cffi's ``cffi_modules`` wraps the build_ext it finds in ``cmdclass``, so this class
    runs under cffi's, which generates the C sources first (no compiler needed)."""

    def run(self) -> None:
        try:
            super().run()
        except BUILD_FAILURES as exc:  # no compiler at all (new_compiler fails)
            self._skipped("(all)", exc)

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except BUILD_FAILURES as exc:
            self._skipped(ext.name, exc)

    def _skipped(self, name: str, exc: BaseException) -> None:
        sys.stderr.write(WARNING.format(name=name, error=exc))


modules = ["realnuma/_build.py:ffibuilder"]
if os.path.exists("/usr/include/numaif.h"):
    modules.append("realnuma/_build_libnuma.py:ffibuilder")

setup(cffi_modules=modules, cmdclass={"build_ext": OptionalBuildExt})
