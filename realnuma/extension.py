"""Whether realnuma's C extension (``realnuma._syscalls``, built by cffi at install) is
there, and what to install where it is not.

The install builds the extension where a C compiler and the Python and kernel headers
are found, and goes on without it elsewhere (setup.py): the simulator and the
conformance suite on it are pure Python.  The host backend (and the VM backend, which
runs the host backend in the guest) needs the extension; importing ``realnuma.binding``
without it raises ``ImportError`` with ``HOW_TO_BUILD``.
"""

from __future__ import annotations

import importlib

HOW_TO_BUILD = (
    "realnuma's C extension was not built (no C compiler or Python headers at install "
    "time), so the host and vm backends cannot run; the simulator works without it. "
    "To build it: apt-get install gcc python3-dev libnuma-dev (Debian/Ubuntu; dnf install "
    "gcc python3-devel numactl-devel on Fedora) && pip install --force-reinstall "
    "--no-deps simnuma (or the checkout you installed from)"
)


def missing() -> str | None:
    """None if ``realnuma._syscalls`` imports, else the message saying what to install."""
    try:
        importlib.import_module("realnuma._syscalls")
    except ImportError as exc:
        return f"{HOW_TO_BUILD} [{exc}]"
    return None


def require() -> None:
    """Raise ImportError with ``HOW_TO_BUILD`` if the extension is not there."""
    problem = missing()
    if problem is not None:
        raise ImportError(problem, name="realnuma._syscalls")
