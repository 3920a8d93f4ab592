"""realnuma: the simnuma contract (``simnuma.abi``) on the real kernel this machine runs.

``HostKernel`` (``realnuma.host``) is the backend: its processes are real helper
processes (``realnuma.helper``) that set themselves up and make the NUMA syscalls as
themselves, through raw ``syscall(2)`` (``realnuma.binding``, a cffi module built
from ``<sys/syscall.h>`` and ``<linux/mempolicy.h>``) or through libnuma.
``realnuma.probe`` reports what the host offers (nodes, privileges, cpusets, THP, huge
pages), ``realnuma.cpusets`` puts helpers in real cgroup cpusets, and ``realnuma.vm``
boots Debian's kernels in QEMU with emulated NUMA nodes to run the suite on them.

The names below load ``realnuma.host`` on first use, so that a helper importing the
binding loads nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realnuma.host import HelperDied, HostKernel, HostProcess

__all__ = ["HelperDied", "HostKernel", "HostProcess"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("realnuma.host"), name)
    raise AttributeError(f"module 'realnuma' has no attribute {name!r}")
