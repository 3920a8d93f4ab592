"""Pieces two or more syscalls share: task lookup, access rules, get_nodes()."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from simnuma.creds import SUID_DUMP_USER, ptrace_may_access_read_realcreds, uid_may_move
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


def get_nodes(
    kernel: SimKernel, current: SimProcess, nmask: int, maxnode: int
) -> frozenset[int] | int:
    """get_nodes(): a user node mask of ``maxnode - 1`` bits, or -EINVAL/-EFAULT."""
    maxnode = (maxnode - 1) & ((1 << 64) - 1)
    if maxnode == 0 or nmask == 0:
        return frozenset()
    # a mask larger than a page of bits is refused before anything is read
    if maxnode > PAGE_SIZE * 8:
        return -errno.EINVAL
    mm = current.mm
    assert mm is not None
    words = UserArray(mm, nmask, (maxnode + BITS_PER_LONG - 1) // BITS_PER_LONG, "Q")
    limit = kernel.max_numnodes
    # bits beyond MAX_NUMNODES must be clear, checked a word at a time from the top
    while maxnode > limit:
        bits = min(maxnode, BITS_PER_LONG)
        t = words.get((maxnode - 1) // BITS_PER_LONG)
        if t is None:
            return -errno.EFAULT
        if maxnode - bits >= limit:
            maxnode -= bits
        else:
            maxnode = limit
            t &= ~((1 << (limit % BITS_PER_LONG)) - 1)
        if t:
            return -errno.EINVAL
    nodes = set()
    for w in range((maxnode + BITS_PER_LONG - 1) // BITS_PER_LONG):
        word = words.get(w)
        if word is None:
            return -errno.EFAULT
        if w == (maxnode - 1) // BITS_PER_LONG and maxnode % BITS_PER_LONG:
            word &= (1 << (maxnode % BITS_PER_LONG)) - 1
        while word:
            low = word & -word
            nodes.add(w * BITS_PER_LONG + low.bit_length() - 1)
            word ^= low
    return frozenset(nodes)
