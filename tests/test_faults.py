"""Issue 8, "nothing crashes, nothing is left behind": corners where the simulator
raised, lost a pin or left its model half-changed.  Each test failed before its fix."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from simnuma import SimKernel
from simnuma.abi import MPOL_BIND, MPOL_F_RELATIVE_NODES, MPOL_F_STATIC_NODES, MPOL_MF_MOVE
from simnuma.abi.arrays import get_mempolicy_raw


@pytest.mark.parametrize("flag", [MPOL_F_RELATIVE_NODES, MPOL_F_STATIC_NODES])
def test_get_mempolicy_copies_only_the_words_of_nr_node_ids(flag: int) -> None:
    """The user nodemask kept for MPOL_F_{RELATIVE,STATIC}_NODES may name nodes beyond
    nr_node_ids; copy_nodes_to_user() copies BITS_TO_LONGS(nr_node_ids) longs of it and
    clears the rest.  The host (1 node, 6.18) answers [0] for this very call."""
    k = SimKernel(nodes=2)
    p = k.spawn()
    p.set_mempolicy(MPOL_BIND | flag, [0, 100])
    assert p.get_mempolicy(0) == (MPOL_BIND | flag, [0])
    for maxnode in (2, 65, 129, 4097):
        assert get_mempolicy_raw(p, 0, 0, maxnode) == (0, 0, [MPOL_BIND | flag, 0])
    k.check_consistency()


# --- a pinned THP where move_pages/queue_pages split THPs (before 4.14) ---------------
HPAGE = 2 << 20
PAGE = 4096


def _pinned_thp(profile: str) -> tuple[SimKernel, Any, int]:
    k = SimKernel(nodes=2, profile=profile)
    p = k.spawn()
    a = p.mmap(HPAGE, huge="thp")
    p.touch(a, HPAGE)
    assert p.move_pages(0, [a], None, 0).status == [0]
    k.pin(p, a + 5 * PAGE)
    return k, p, a


def _where(p: Any, a: int) -> list[int]:
    return p.move_pages(0, [a + i * PAGE for i in range(512)], None, 0).status


MOVERS = {
    "move_pages": lambda p, a: p.move_pages(0, [a + 5 * PAGE], [1], MPOL_MF_MOVE),
    "move_pages_other": lambda p, a: p.move_pages(0, [a + 6 * PAGE], [1], MPOL_MF_MOVE),
    "migrate_pages": lambda p, a: p.migrate_pages(0, [0], [1]),
    "cpuset": lambda p, a: p.set_cpuset([1], memory_migrate=True),
}


@pytest.mark.parametrize("how", sorted(MOVERS))
def test_pinned_thp_is_not_split_since_4_5(how: str) -> None:
    """split_huge_page() fails with -EBUSY on a THP with extra references (4.5+:
    can_split / the refcount freeze): move_pages' follow_page(FOLL_SPLIT) returns
    ERR_PTR(-EBUSY), the entry's status; queue_pages skips the THP.  Nothing moves."""
    k, p, a = _pinned_thp("4.13")
    result = MOVERS[how](p, a)
    if how.startswith("move_pages"):
        assert result.status == [-errno.EBUSY]
    elif how == "migrate_pages":
        assert result == 0  # skipped, not counted
    assert _where(p, a) == [0] * 512
    k.check_consistency()
    k.unpin(p, a + 5 * PAGE)
    k.check_consistency()
    p.exit()
    k.check_consistency()
    assert all(node.used == 0 for node in k.nodes.values())


@pytest.mark.parametrize("how", sorted(MOVERS))
def test_pinned_thp_splits_before_4_5_and_the_pin_stays_on_its_page(how: str) -> None:
    """Before the THP refcounting rework (4.5) split_huge_page() always succeeded: a
    pin on a tail page stays on that 4 KiB page (__split_huge_page_refcount), which
    then fails to migrate like any pinned page; the others move."""
    k, p, a = _pinned_thp("3.12")
    MOVERS[how](p, a)
    where = _where(p, a)
    assert where[5] == 0  # the pinned page stays
    if how == "move_pages_other":
        assert where[6] == 1 and where.count(1) == 1
    elif how != "move_pages":
        assert where.count(1) == 511
    k.check_consistency()
    k.unpin(p, a + 5 * PAGE)
    k.check_consistency()
    p.exit()
    k.check_consistency()
    assert all(node.used == 0 for node in k.nodes.values())


def test_pinned_thp_moves_whole_or_not_at_all_since_4_14() -> None:
    k, p, a = _pinned_thp("4.14")
    p.move_pages(0, [a + 6 * PAGE], [1], MPOL_MF_MOVE)
    assert _where(p, a) == [0] * 512
    k.check_consistency()
    k.unpin(p, a + 5 * PAGE)
    k.check_consistency()
