"""Pieces two or more syscalls share: task lookup, access rules, get_nodes()."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from simnuma.creds import (
    CAP_SYS_NICE,
    SUID_DUMP_USER,
    ptrace_may_access_read_realcreds,
    uid_may_move,
)
from simnuma.explain import because, mirrors
from simnuma.frames import PAGE_SIZE
from simnuma.uaccess import UserArray

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel
    from simnuma.process import SimProcess

BITS_PER_LONG = 64


def find_task(kernel: SimKernel, current: SimProcess, pid: int) -> SimProcess | None:
    """find_task_by_vpid(); pid 0 is the caller.  A negative pid finds nothing."""
    if pid == 0:
        return current
    return kernel.tasks.get(pid)


def may_act_on(current: SimProcess, task: SimProcess, uid_rule: bool) -> bool:
    """The privilege to move another task's pages: the uid rule or ptrace READ_REALCREDS."""
    if uid_rule:
        return uid_may_move(current.creds, task.creds)
    dumpable = task.dumpable if task.mm is not None else SUID_DUMP_USER
    return ptrace_may_access_read_realcreds(current.creds, task.creds, dumpable, task is current)


# The clauses that name why the privilege check refused another process, or what let it
# through, per syscall (migrate_pages(2) has no clause of its own for some of them).
_PERMISSION_CLAUSES: dict[str, dict[str, tuple[str, ...]]] = {
    "move_pages": {
        "refused": ("move_pages.errno.EPERM.other_user",),
        "nice_not_enough": (
            "move_pages.errno.EPERM.other_user",
            "move_pages.errno.EPERM.ptrace_rule",
        ),
        "uid_rule_gone": ("move_pages.errno.EPERM.uid_rule_gone",),
        "nondumpable": ("move_pages.errno.EPERM.nondumpable",),
        "kernel_thread": ("move_pages.errno.EPERM.kernel_thread",),
        "by_cap_sys_nice": ("move_pages.errno.EPERM.cap_sys_nice",),
        "by_real_uid": ("move_pages.errno.EPERM.uid_rule",),
    },
    "migrate_pages": {
        "refused": ("migrate_pages.errno.EPERM.other_user",),
        "nice_not_enough": (
            "migrate_pages.errno.EPERM.other_user",
            "migrate_pages.errno.EPERM.ptrace_rule",
        ),
        "uid_rule_gone": ("migrate_pages.errno.EPERM.other_user",),
        "nondumpable": ("migrate_pages.errno.EPERM.other_user",),
        "kernel_thread": ("migrate_pages.errno.EPERM.other_user",),
        "by_cap_sys_nice": ("migrate_pages.errno.EPERM.cap_sys_nice",),
        "by_real_uid": (),
    },
}


def permission_clauses(
    syscall: str, current: SimProcess, task: SimProcess, uid_rule: bool, allowed: bool
) -> tuple[str, ...]:
    """The clauses behind may_act_on()'s answer about another process: why it refused
    (``allowed`` False) or what let the caller through; () when nothing needs saying."""
    if task is current:
        return ()
    caller, target = current.creds, task.creds
    same_uid = bool({caller.uid, caller.euid} & {target.uid, target.suid})
    real_uid_only = caller.uid == target.uid and {target.euid, target.suid} != {target.uid}
    kind = ""
    if uid_rule and allowed:
        kind = "by_cap_sys_nice" if not same_uid else "by_real_uid" if real_uid_only else ""
    elif uid_rule or allowed:
        kind = "" if allowed else "refused"
    elif task.mm is None:
        kind = "kernel_thread"
    elif real_uid_only:
        kind = "uid_rule_gone"
    elif caller.uid == target.uid == target.euid == target.suid:
        kind = "nondumpable" if task.dumpable != SUID_DUMP_USER else "refused"
    else:
        kind = "nice_not_enough" if caller.capable(CAP_SYS_NICE) else "refused"
    return _PERMISSION_CLAUSES[syscall].get(kind, ())


# get_nodes()' errors as the clauses of each syscall name them
_MEMPOLICY_NODEMASK = {
    "maxnode": "mempolicy.errno.EINVAL.maxnode",
    "node_id": "mempolicy.errno.EINVAL.node_id",
    "fault": "mempolicy.errno.EFAULT.nodemask",
}
_NODEMASK_CLAUSES = {
    "migrate_pages": {
        "maxnode": "migrate_pages.errno.EINVAL.maxnode",
        "node_id": "migrate_pages.errno.EINVAL.node_id",
        "fault": "migrate_pages.errno.EFAULT",
    },
    "set_mempolicy": _MEMPOLICY_NODEMASK,
    "mbind": _MEMPOLICY_NODEMASK,
}


def _nodemask_error(kernel: SimKernel, err: int, kind: str) -> int:
    clause = _NODEMASK_CLAUSES.get(kernel.record.name, {}).get(kind)
    return because(err, clause, depth=2) if clause else because(err, depth=2)


@mirrors("get_nodes")
def get_nodes(
    kernel: SimKernel, current: SimProcess, nmask: int, maxnode: int
) -> frozenset[int] | int:
    """get_nodes(): a user node mask of ``maxnode - 1`` bits, or -EINVAL/-EFAULT."""
    maxnode = (maxnode - 1) & ((1 << 64) - 1)
    if maxnode == 0 or nmask == 0:
        return frozenset()
    # a mask larger than a page of bits is refused before anything is read
    if maxnode > PAGE_SIZE * 8:
        return _nodemask_error(kernel, -errno.EINVAL, "maxnode")
    mm = current.mm
    assert mm is not None
    words = UserArray(mm, nmask, (maxnode + BITS_PER_LONG - 1) // BITS_PER_LONG, "Q")
    limit = kernel.max_numnodes
    # bits beyond MAX_NUMNODES must be clear, checked a word at a time from the top
    while maxnode > limit:
        bits = min(maxnode, BITS_PER_LONG)
        t = words.get((maxnode - 1) // BITS_PER_LONG)
        if t is None:
            return _nodemask_error(kernel, -errno.EFAULT, "fault")
        if maxnode - bits >= limit:
            maxnode -= bits
        else:
            maxnode = limit
            t &= ~((1 << (limit % BITS_PER_LONG)) - 1)
        if t:
            return _nodemask_error(kernel, -errno.EINVAL, "node_id")
    nodes = set()
    for w in range((maxnode + BITS_PER_LONG - 1) // BITS_PER_LONG):
        word = words.get(w)
        if word is None:
            return _nodemask_error(kernel, -errno.EFAULT, "fault")
        if w == (maxnode - 1) // BITS_PER_LONG and maxnode % BITS_PER_LONG:
            word &= (1 << (maxnode % BITS_PER_LONG)) - 1
        while word:
            low = word & -word
            nodes.add(w * BITS_PER_LONG + low.bit_length() - 1)
            word ^= low
    return frozenset(nodes)
