"""The other side of a quirk: cases for clauses that exist so that every ABI quirk is
pinned from both sides (tests/test_registry.py), where no older case stood.

Needs: the kernel_thread feature for the permission-order pair; 2 memory nodes for
what moves, hugetlb pages for the hugetlb tail; nothing else.  The mode table runs every row on
every backend: a row whose clause does not hold in the release is not applicable.
"""

from __future__ import annotations

import errno

from conformance.env import Env, Needs, expect, expect_errno, expect_status
from conformance.registry import case
from simnuma.abi import (
    MODE_NAMES,
    MPOL_BIND,
    MPOL_F_NUMA_BALANCING,
    MPOL_LOCAL,
    MPOL_MF_MOVE,
    MPOL_PREFERRED,
    MPOL_PREFERRED_MANY,
    MPOL_WEIGHTED_INTERLEAVE,
)

USER = 1000
HPAGE = 2 << 20
KTHREAD = Needs(features=frozenset({"kernel_thread"}))


# ---------------------------------------------------------------- move_pages(2)
@case("move_pages.status.already_on_target", needs=Needs(memory_nodes=2))
def already_on_target_written(env: Env) -> None:
    """An entry already on its target node, after a page that moves: status is its node."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    here = env.where(p, [a])[0]
    expect(env.status_of(p, a, here, MPOL_MF_MOVE), here, "status")
    expect(env.where(p, [a]), [here], "the page stays")


@case(
    "move_pages.status.hugetlb_tail",
    needs=Needs(memory_nodes=2, features=frozenset({"hugetlb"})),
)
def hugetlb_tail_moves_the_page(env: Env) -> None:
    """A tail-page address of a hugetlb page: the whole 2 MiB page moves."""
    p = env.spawn()
    a = p.mmap(HPAGE, huge="hugetlb")
    p.touch(a, HPAGE)
    here = env.where(p, [a])[0]
    target = next(n for n in env.memory_nodes if n != here)
    expect_status(p.move_pages(0, [a + 5 * env.page_size], [target], MPOL_MF_MOVE), [target])
    expect(env.where(p, [a]), [target], "the head moved too")


@case("move_pages.errno.EINVAL.kernel_thread_first", needs=KTHREAD)
def kernel_thread_before_permission(env: Env) -> None:
    """uid 1000 queries a kernel thread: EINVAL (get_task_mm() first)."""
    user = env.spawn(uid=USER)
    kthread = env.world.spawn_kernel_thread()
    expect_errno(lambda: user.move_pages(kthread.pid, [0], None, 0), errno.EINVAL, "query")


@case("move_pages.errno.EPERM.kernel_thread", needs=KTHREAD)
def permission_before_kernel_thread(env: Env) -> None:
    """uid 1000 queries a kernel thread: EPERM (the permission check first)."""
    user = env.spawn(uid=USER)
    kthread = env.world.spawn_kernel_thread()
    expect_errno(lambda: user.move_pages(kthread.pid, [0], None, 0), errno.EPERM, "query")


# ---------------------------------------------------------------- set_mempolicy(2) modes
# clause, mode (flags included), whether it takes a node, the mode read back
MODES = [
    ("local", MPOL_LOCAL, False, None),  # read back: get_mempolicy.mode.local*
    ("numa_balancing", MPOL_BIND | MPOL_F_NUMA_BALANCING, True, None),
    ("preferred_many", MPOL_PREFERRED_MANY, True, MPOL_PREFERRED_MANY),
    ("weighted_interleave", MPOL_WEIGHTED_INTERLEAVE, True, MPOL_WEIGHTED_INTERLEAVE),
]


def _accepted(name: str, mode: int, with_node: bool, read_back: int | None) -> None:
    def accepted(env: Env) -> None:
        p = env.spawn()
        nodes = env.memory_nodes[:1] if with_node else []
        p.set_mempolicy(mode, nodes)
        if read_back is not None:
            expect(p.get_mempolicy(0), (read_back, nodes), "policy read back")

    accepted.__name__ = f"accepted_{name}"
    accepted.__doc__ = f"set_mempolicy({name}) is accepted"
    case(f"set_mempolicy.mode.{name}")(accepted)


def _refused(name: str, mode: int, with_node: bool) -> None:
    def refused(env: Env) -> None:
        p = env.spawn()
        nodes = env.memory_nodes[:1] if with_node else []
        expect_errno(lambda: p.set_mempolicy(mode, nodes), errno.EINVAL, name)

    refused.__name__ = f"refused_{name}"
    refused.__doc__ = f"set_mempolicy({name}) before the release that added it: EINVAL"
    case(f"set_mempolicy.errno.EINVAL.mode.{name}")(refused)


for _name, _mode, _with_node, _read_back in MODES:
    _accepted(_name, _mode, _with_node, _read_back)
    _refused(_name, _mode, _with_node)


# ---------------------------------------------------------------- a local policy read back
def _read_back_local(env: Env, mode: int) -> None:
    for set_mode in (MPOL_LOCAL, MPOL_PREFERRED):  # MPOL_PREFERRED with no node is local
        p = env.spawn()
        p.set_mempolicy(set_mode, [])
        expect(p.get_mempolicy(0), (mode, []), f"set {MODE_NAMES[set_mode]}, read back")


@case("get_mempolicy.mode.local")
def local_reads_as_local(env: Env) -> None:
    """A local policy reads back as MPOL_LOCAL (5.14+)."""
    _read_back_local(env, MPOL_LOCAL)


@case("get_mempolicy.mode.local_as_preferred")
def local_reads_as_preferred(env: Env) -> None:
    """A local policy reads back as MPOL_PREFERRED, no nodes (3.8–5.13)."""
    _read_back_local(env, MPOL_PREFERRED)
