"""migrate_pages(2), in the kernel's check order (kernel_migrate_pages)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from simnuma.abi.quirks import Quirk
from simnuma.creds import CAP_SYS_NICE
from simnuma.migrate import do_migrate_pages
from simnuma.syscalls.common import find_task, get_nodes, may_act_on
from simnuma.uaccess import as_s32, as_u64

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel
    from simnuma.process import SimProcess


def sys_migrate_pages(
    kernel: SimKernel, current: SimProcess, pid: int, maxnode: int, old_nodes: int, new_nodes: int
) -> int:
    """migrate_pages(2): the number of pages not moved, or -errno."""
    pid = as_s32(pid)
    maxnode, old_nodes, new_nodes = as_u64(maxnode), as_u64(old_nodes), as_u64(new_nodes)
    profile = kernel.profile
    # ERRORS EINVAL/EFAULT: old_nodes (maxnode too large, bits past MAX_NUMNODES, unreadable)
    old = get_nodes(kernel, current, old_nodes, maxnode)
    if isinstance(old, int):
        return old
    # ERRORS EINVAL/EFAULT: the same for new_nodes
    new = get_nodes(kernel, current, new_nodes, maxnode)
    if isinstance(new, int):
        return new
    task = find_task(kernel, current, pid)
    # ERRORS ESRCH: no process matching pid
    if task is None:
        return -errno.ESRCH
    # EINVAL: kernel thread, looked at before the permission check (MM_BEFORE_PERMISSION)
    if task.mm is None and profile.has(Quirk.MM_BEFORE_PERMISSION):
        return -errno.EINVAL
    # ERRORS EPERM: no privilege over the target (MIGRATE_PAGES_UID_RULE, else ptrace)
    if not may_act_on(current, task, profile.has(Quirk.MIGRATE_PAGES_UID_RULE)):
        return -errno.EPERM
    nice = current.creds.capable(CAP_SYS_NICE)
    # ERRORS EPERM: new_nodes outside the target's cpuset without CAP_SYS_NICE
    if not new <= task.cpuset and not nice:
        return -errno.EPERM
    if profile.has(Quirk.MIGRATE_PAGES_NEW_SUBSET_OF_MEMORY):
        # ERRORS EINVAL: a node of new_nodes has no memory (MIGRATE_PAGES_NEW_SUBSET_OF_MEMORY)
        if not new <= kernel.memory_nodes():
            return -errno.EINVAL
    else:
        # ERRORS EINVAL: no node of new_nodes is allowed by the *caller's* cpuset
        new = new & current.cpuset
        if not new:
            return -errno.EINVAL
    # (security_task_movememory(): no LSM is modelled)
    # ERRORS EINVAL: a kernel thread has no mm
    if task.mm is None:
        return -errno.EINVAL
    # DESCRIPTION: shared pages move only with CAP_SYS_NICE (MPOL_MF_MOVE_ALL)
    return do_migrate_pages(kernel, task.mm, old, new, move_all=nice)
