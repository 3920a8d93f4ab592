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


# --- nothing half-done, and exit/close never fail ---------------------------------------
def _state(k: SimKernel) -> object:
    """Everything a failed call must leave as it was."""
    procs = []
    for proc in k.tasks.values():
        if proc.mm is not None:
            vmas = [(v.start, v.end, v.prot, v.locked, v.policy) for v in proc.mm.vmas]
            procs.append((proc.pid, vmas, sorted((v, id(f)) for v, f in proc.mm.pt.items())))
    nodes = [(n, node.used) for n, node in k.nodes.items()]
    return procs, nodes


def _thp_world() -> tuple[SimKernel, Any, int]:
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(2 * HPAGE, huge="thp")
    p.touch(a, 2 * HPAGE)
    return k, p, a


def test_munmap_ending_inside_a_thp_changes_nothing() -> None:
    k, p, a = _thp_world()
    before = _state(k)
    with pytest.raises(NotImplementedError, match="huge page"):
        p.munmap(a, HPAGE + PAGE)
    assert _state(k) == before
    k.check_consistency()


@pytest.mark.parametrize("op", ["mprotect", "mlock", "mbind"])
def test_a_thp_vma_split_off_2mib_still_exits(op: str) -> None:
    """mprotect/mlock/mbind split the VMA inside a mapped THP (the kernel splits the
    PMD: a PTE-mapped THP across two VMAs).  exit() and close() unmap whole ranges
    and never need the split; a munmap of one side is refused before any change."""
    k, p, a = _thp_world()
    if op == "mprotect":
        p.mprotect(a + PAGE, PAGE, 1)
    elif op == "mlock":
        p.mlock(a + PAGE, PAGE)
    else:
        p.mbind(a + PAGE, PAGE, MPOL_BIND, [0])
    k.check_consistency()
    before = _state(k)
    with pytest.raises(NotImplementedError):
        p.munmap(a, PAGE)
    assert _state(k) == before
    p.exit()
    k.check_consistency()
    assert all(node.used == 0 for node in k.nodes.values())
    k.close()


def test_close_never_fails() -> None:
    with SimKernel(nodes=2) as k:
        p = k.spawn()
        a = p.mmap(2 * HPAGE, huge="thp")
        p.touch(a, 2 * HPAGE)
        p.mprotect(a + PAGE, PAGE, 1)
        p.fork()
    assert not any(t.mm is not None for t in k.tasks.values())


@pytest.mark.parametrize("op", ["munmap", "mprotect"])
def test_hugetlb_split_off_2mib_is_einval_and_changes_nothing(op: str) -> None:
    """hugetlb_vm_op_split(): -EINVAL off a huge page boundary (checked before the
    first edge is split, so nothing changes)."""
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(2 * HPAGE, huge="hugetlb")
    p.touch(a, HPAGE)
    before = _state(k)
    with pytest.raises(OSError) as info:
        if op == "munmap":
            p.munmap(a, HPAGE + PAGE)
        else:
            p.mprotect(a, HPAGE + PAGE, 1)
    assert info.value.errno == errno.EINVAL
    assert _state(k) == before
    k.check_consistency()


def test_raw_mbind_splitting_hugetlb_off_2mib_is_einval() -> None:
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(2 * HPAGE, huge="hugetlb")
    before = _state(k)
    with pytest.raises(OSError) as info:
        p.mbind(a, HPAGE + PAGE, MPOL_BIND, [0])
    assert info.value.errno == errno.EINVAL
    assert _state(k) == before


def test_mlock_leaves_hugetlb_vmas_whole() -> None:
    """mlock_fixup() skips hugetlb VMAs (no split, no VM_LOCKED); populate faults the
    range in.  mlock off a 2 MiB boundary used to raise half-way."""
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(2 * HPAGE, huge="hugetlb")
    p.mlock(a, HPAGE + PAGE)
    mm = p.mm
    assert mm is not None
    assert [(v.start, v.end, v.locked) for v in mm.vmas] == [(a, a + 2 * HPAGE, False)]
    assert p.move_pages(0, [a, a + HPAGE], None, 0).status == [0, 0]
    k.check_consistency()


# --- a THP that does not fit on its target node (4.14+) ----------------------------------
@pytest.mark.parametrize("profile", ["4.14", "4.16", "4.17", "6.1", "6.12", "6.15"])
@pytest.mark.parametrize("how", ["move_pages", "migrate_pages", "mbind"])
def test_thp_without_room_is_split_and_its_pages_retried(profile: str, how: str) -> None:
    """migrate_pages(): since 94723aafb9e7 (4.17) a THP whose allocation fails with
    -ENOMEM is split and its base pages retried, the tails from 511 down: before 6.1 the
    head at once, then (e6fa8a79fe03) after its tails; a page without room ends the call
    with -ENOMEM until 6.3, where (5dfab109d519) the split pages get one pass and the
    THP counts as one page not moved; the tails go upwards from 6.15.  4.14-4.16 end the
    call at the THP, unmoved.  This raised NotImplementedError once."""
    k = SimKernel(nodes=2, profile=profile)
    p = k.spawn()
    a = p.mmap(HPAGE, huge="thp")
    p.write_bytes(a, b"\x5a" * HPAGE)  # zeros would be the zero page after a split (6.12+)
    k.fill_node(1, free_pages=10)
    enomem = profile not in ("6.12", "6.15")

    def call() -> int:
        if how == "move_pages":
            return p.move_pages(0, [a + 7 * PAGE], [1], MPOL_MF_MOVE).ret
        if how == "migrate_pages":
            return p.migrate_pages(0, [0], [1])
        p.mbind(a, HPAGE, MPOL_BIND, [1], MPOL_MF_MOVE)
        return 0

    if enomem:
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.ENOMEM
    else:
        # one page not moved: the THP (mbind without MPOL_MF_STRICT says nothing)
        assert call() == (0 if how == "mbind" else 1)
    moved = [i for i, n in enumerate(_where(p, a)) if n == 1]
    # migrate_pages also moves the page holding its node masks, queued after the THP
    room = 9 if how == "migrate_pages" else 10
    if profile in ("4.14", "4.16"):
        assert moved == []
    elif profile == "4.17":
        assert moved == [0, *range(512 - room + 1, 512)]
    elif profile == "6.15":
        assert moved == list(range(1, room + 1))
    else:
        assert moved == list(range(512 - room, 512))
    k.check_consistency()
    p.exit()
    k.check_consistency()


@pytest.mark.parametrize("profile", ["6.11", "6.12"])
def test_a_thp_of_zeros_split_for_room_becomes_the_zero_page(profile: str) -> None:
    """Since 6.12 the split of an isolated anonymous THP maps the zero page in place of
    every page of zeros (remap_page(RMP_USE_SHARED_ZEROPAGE)): nothing is left to move,
    the call returns 0, and the node's room is untouched; before, its pages move."""
    k = SimKernel(nodes=2, profile=profile)
    p = k.spawn()
    a = p.mmap(HPAGE, huge="thp")
    p.touch(a, HPAGE)
    p.write_bytes(a + 5 * PAGE, b"data")  # one page of data
    k.fill_node(1, free_pages=10)
    used = k.nodes[0].used
    ret = p.move_pages(0, [a], [1], MPOL_MF_MOVE).ret
    where = _where(p, a)
    if profile == "6.12":
        assert ret == 0 and where[5] == 1
        assert where.count(-errno.EFAULT) == 511 and k.nodes[0].used == used - 512
        assert p.read_bytes(a, PAGE) == bytes(PAGE)
    else:
        assert ret == 1 and where.count(1) == 10
    k.check_consistency()


def test_out_of_range_node_before_2_6_33_is_a_named_approximation() -> None:
    """CVE-2010-0415: the old kernel read node_states[] out of bounds.  The raw ABI
    answers ENODEV as the fixed kernel does and records the approximation by name;
    it used to raise NotImplementedError from the raw ABI."""
    from simnuma.approximations import APPROXIMATIONS

    for profile, approximated in (("2.6.32", True), ("2.6.33", False)):
        k = SimKernel(nodes=2, profile=profile)
        p = k.spawn()
        a = p.mmap(PAGE)
        p.touch(a, PAGE)
        with pytest.raises(OSError) as info:
            p.move_pages(0, [a], [5000], MPOL_MF_MOVE)
        assert info.value.errno == errno.ENODEV
        assert k.approximated == ({"NODE_RANGE_UNCHECKED_ENODEV"} if approximated else set())
    assert set(APPROXIMATIONS) >= {"NODE_RANGE_UNCHECKED_ENODEV"}


def test_pinned_thp_without_room_is_a_named_approximation() -> None:
    k = SimKernel(nodes=2, profile="6.12")
    p = k.spawn()
    a = p.mmap(HPAGE, huge="thp")
    p.touch(a, HPAGE)
    k.pin(p, a)
    k.fill_node(1, free_pages=10)
    with pytest.raises(OSError) as info:
        p.move_pages(0, [a], [1], MPOL_MF_MOVE)
    assert info.value.errno == errno.ENOMEM
    assert k.approximated == {"PINNED_THP_NO_ROOM_ENOMEM"}
    assert _where(p, a) == [0] * 512
    k.check_consistency()


# --- huge masks are never built ---------------------------------------------------------
BIG = 2**40


@pytest.mark.parametrize(
    "call",
    [
        lambda p, a: p.migrate_pages(0, [0], [BIG]),
        lambda p, a: p.migrate_pages(0, [0], [1], maxnode=BIG),
        lambda p, a: p.migrate_pages(0, [0], [1], maxnode=0),
        lambda p, a: p.set_mempolicy(MPOL_BIND, [BIG]),
        lambda p, a: p.mbind(a, PAGE, MPOL_BIND, [BIG]),
    ],
)
def test_a_mask_the_kernel_refuses_unread_is_einval_not_memory(call: Any) -> None:
    """get_nodes(): maxnode - 1 > PAGE_SIZE * 8 is EINVAL before anything is read; the
    Python API passes the call through with a one-word mask (it used to build the
    2**40-bit mask in Python and exhaust memory)."""
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(PAGE)
    with pytest.raises(OSError) as info:
        call(p, a)
    assert info.value.errno == errno.EINVAL


def test_a_node_outside_an_explicit_maxnode_is_a_value_error() -> None:
    p = SimKernel(nodes=2).spawn()
    with pytest.raises(ValueError, match="old_nodes: node 100"):
        p.migrate_pages(0, [100], [0], maxnode=10)
    with pytest.raises(ValueError, match="new_nodes: node 100"):
        p.migrate_pages(0, [0], [100], maxnode=10)


# --- found by the long fuzz (benchmarks/fuzz_raw_abi.py) ------------------------------------
def test_raw_write_into_a_fork_shared_thp_copies_it() -> None:
    """get_mempolicy() writing its answer into a THP shared with a forked child: the
    writer gets its own copy (the named approximation THP_COW_COPIES_WHOLE).  The raw
    ABI raised NotImplementedError from the copy-on-write."""
    k = SimKernel(nodes=2, profile="6.12")
    p = k.spawn()
    a = p.mmap(HPAGE, huge="thp")
    p.touch(a, HPAGE)
    child = p.fork()
    assert p.syscall("get_mempolicy", a + 8, 0, 0, 0, 0) == (0, 0)
    assert p.read_bytes(a + 8, 4) == bytes(4)  # MPOL_DEFAULT
    mm, child_mm = p.mm, child.mm
    assert mm is not None and child_mm is not None
    vpn = a >> 12
    assert mm.pt[vpn] is not child_mm.pt[vpn]
    assert mm.pt[vpn].mapcount == child_mm.pt[vpn].mapcount == 1
    k.check_consistency()
    k.close()
    k.check_consistency()


def test_raw_write_with_no_room_for_the_page_is_efault() -> None:
    """A kernel write to an untouched user page when no node has room: VM_FAULT_OOM in
    a uaccess is a short copy, EFAULT (it raised OutOfNodeMemory from the raw ABI)."""
    k = SimKernel(nodes=1)
    p = k.spawn()
    a = p.mmap(PAGE)
    k.fill_node(0, free_pages=0)
    assert p.syscall("get_mempolicy", a, 0, 0, 0, 0) == (-1, errno.EFAULT)
    k.check_consistency()


def test_a_write_to_a_private_hugetlb_page_shared_by_fork_copies_it() -> None:
    """hugetlb_wp(): the writer gets its own huge page; the write used to land in the
    page the parent maps too (found by tests/test_state_machine.py)."""
    k = SimKernel(nodes=2, profile="2.6.18")
    p = k.spawn()
    a = p.mmap(HPAGE, huge="hugetlb")
    p.touch(a, PAGE)
    child = p.fork()
    child.write_bytes(a, b"xyz")
    assert (p.read_bytes(a, 3), child.read_bytes(a, 3)) == (bytes(3), b"xyz")
    k.check_consistency()
