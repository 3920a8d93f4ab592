"""migrate_pages(2), in the kernel's check order (kernel_migrate_pages)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from simnuma.abi.quirks import Quirk
from simnuma.creds import CAP_SYS_NICE
from simnuma.explain import because, mirrors
from simnuma.migrate import do_migrate_pages
from simnuma.syscalls.common import find_task, get_nodes, may_act_on, permission_clauses
from simnuma.uaccess import as_s32, as_u64

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel
    from simnuma.process import SimProcess


@mirrors("kernel_migrate_pages")
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
        return because(-errno.ESRCH, "migrate_pages.errno.ESRCH")
    # EINVAL: kernel thread, looked at before the permission check (MM_BEFORE_PERMISSION)
    if task.mm is None and profile.has(Quirk.MM_BEFORE_PERMISSION):
        return because(-errno.EINVAL, "migrate_pages.errno.EINVAL.kernel_thread")
    uid_rule = profile.has(Quirk.MIGRATE_PAGES_UID_RULE)
    allowed = may_act_on(current, task, uid_rule)
    why = permission_clauses("migrate_pages", current, task, uid_rule, allowed)
    # ERRORS EPERM: no privilege over the target (MIGRATE_PAGES_UID_RULE, else ptrace)
    if not allowed:
        return because(-errno.EPERM, *why)
    kernel.record.note(*why)
    nice = current.creds.capable(CAP_SYS_NICE)
    # ERRORS EPERM: new_nodes outside the target's cpuset without CAP_SYS_NICE
    if not new <= task.cpuset and not nice:
        return because(-errno.EPERM, "migrate_pages.errno.EPERM.target_cpuset")
    if profile.has(Quirk.MIGRATE_PAGES_NEW_SUBSET_OF_MEMORY):
        # ERRORS EINVAL: a node of new_nodes has no memory (MIGRATE_PAGES_NEW_SUBSET_OF_MEMORY)
        if not new <= kernel.memory_nodes():
            return because(-errno.EINVAL, "migrate_pages.errno.EINVAL.no_memory")
        if not new:
            kernel.record.note("migrate_pages.result.empty_new")
    else:
        # ERRORS EINVAL: no node of new_nodes is allowed by the *caller's* cpuset
        outside = bool(new)
        new = new & current.cpuset
        if not new:
            return because(
                -errno.EINVAL,
                "migrate_pages.errno.EINVAL.outside_caller_cpuset"
                if outside
                else "migrate_pages.errno.EINVAL.empty_new",
            )
    # (security_task_movememory(): no LSM is modelled)
    # ERRORS EINVAL: a kernel thread has no mm
    if task.mm is None:
        return because(-errno.EINVAL, "migrate_pages.errno.EINVAL.kernel_thread")
    # DESCRIPTION: shared pages move only with CAP_SYS_NICE (MPOL_MF_MOVE_ALL)
    return do_migrate_pages(kernel, task.mm, old, new, move_all=nice)
