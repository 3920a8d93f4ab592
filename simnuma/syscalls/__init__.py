"""The simulated syscalls and the raw-ABI dispatcher (ret, errno)."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING

from simnuma.explain import IDLE, CallRecord
from simnuma.syscalls.mempolicy import sys_get_mempolicy, sys_mbind, sys_set_mempolicy
from simnuma.syscalls.migrate_pages import sys_migrate_pages
from simnuma.syscalls.move_pages import sys_move_pages

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel
    from simnuma.process import SimProcess

SyscallFn = Callable[..., int]

# name -> (implementation, number of register arguments)
SYSCALLS: dict[str, tuple[SyscallFn, int]] = {
    "move_pages": (sys_move_pages, 6),
    "migrate_pages": (sys_migrate_pages, 4),
    "get_mempolicy": (sys_get_mempolicy, 5),
    "set_mempolicy": (sys_set_mempolicy, 3),
    "mbind": (sys_mbind, 6),
}


def dispatch(
    kernel: SimKernel, current: SimProcess, name: str, args: tuple[int, ...]
) -> tuple[int, int]:
    """Run syscall ``name``: missing registers read as 0, extra ones are ignored."""
    entry = SYSCALLS.get(name)
    if entry is None:
        return -1, errno.ENOSYS
    fn, nargs = entry
    regs = (tuple(a & 0xFFFF_FFFF_FFFF_FFFF for a in args) + (0,) * nargs)[:nargs]
    record = CallRecord(name, regs, kernel.release)
    kernel.current = current  # whose cpuset the migration's page allocations obey
    kernel.record = record
    try:
        ret = fn(kernel, current, *regs)
    finally:
        kernel.current = None
        kernel.record = IDLE
    record.finish(ret, (), fn.__code__, fn.__code__.co_firstlineno)
    current.last_call = record
    if kernel.call_log is not None:
        kernel.call_log.append(record)
    return record.ret, record.errno
