"""rebalance on the simulator (three kernel releases) and, with --numa-backend host,
on this machine's kernel, through simnuma's numa_kernel fixture and strategies."""

from __future__ import annotations

import errno
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rebalance import Libc, Memory, allowed_nodes, plan, rebalance, where

from simnuma.abi.quirks import Quirk, parse_release

PAGE = 4096
RELEASES = ["5.10", "6.1", "6.12"]


def touched_pages(p: Memory, count: int) -> list[int]:
    """``count`` fresh pages of ``p``, written (so present), each with its own bytes."""
    base = p.mmap(count * PAGE)
    pages = [base + i * PAGE for i in range(count)]
    for i, a in enumerate(pages):
        p.write_bytes(a, bytes([i + 1]) * PAGE)
    return pages


@pytest.mark.numa(nodes=4, memoryless=[3], profiles=RELEASES)
def test_spreads_evenly_over_the_nodes_with_memory(numa_kernel):
    p = numa_kernel.spawn()
    pages = touched_pages(p, 10)
    p.move_pages(0, pages, [0] * 10, 2)  # all on node 0 (first touch is the CPU's node)
    assert where(p, pages) == [0] * 10

    report = rebalance(p, pages)

    assert report.before == {0: 10}
    assert report.after == {0: 4, 1: 3, 2: 3}  # node 3 has no memory: never a target
    assert report.moved == 6 and report.failed == {} and report.absent == []
    assert Counter(where(p, pages)) == Counter(report.after)
    for i, a in enumerate(pages):  # moved, not copied wrong
        assert p.read_bytes(a, PAGE) == bytes([i + 1]) * PAGE


@pytest.mark.numa(nodes=4, memoryless=[3], profiles=RELEASES)
def test_refuses_a_memoryless_node(numa_kernel):
    p = numa_kernel.spawn()
    pages = touched_pages(p, 2)
    assert allowed_nodes(p) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"nodes: node 3 has no memory"):
        rebalance(p, pages, [0, 3])


@pytest.mark.numa(nodes=3, profiles=RELEASES)
def test_a_balanced_process_moves_nothing(numa_kernel):
    p = numa_kernel.spawn()
    pages = touched_pages(p, 6)
    p.move_pages(0, pages, [0, 0, 1, 1, 2, 2], 2)  # MPOL_MF_MOVE

    report = rebalance(p, pages)

    assert report.moved == 0 and report.after == {0: 2, 1: 2, 2: 2}


@pytest.mark.numa(nodes=2, profiles=RELEASES)
def test_pages_another_process_maps_are_reported_not_moved(numa_kernel):
    p = numa_kernel.spawn()
    pages = touched_pages(p, 4)
    child = p.fork()  # its copy-on-write mappings share every page: MPOL_MF_MOVE skips them
    report = rebalance(p, pages)
    assert report.moved == 0
    assert set(report.failed.values()) == {-errno.EACCES}
    assert len(report.failed) == 2  # two had to move to node 1
    child.exit()


@pytest.mark.numa(nodes=2, profiles=RELEASES)
def test_untouched_pages_are_absent(numa_kernel):
    """A mapped page never touched has no frame: -ENOENT, or -EFAULT on 4.3–6.11."""
    p = numa_kernel.spawn()
    pages = touched_pages(p, 2)
    empty = p.mmap(PAGE)
    report = rebalance(p, [*pages, empty])
    assert report.absent == [empty]
    efault = Quirk.UNPOPULATED_ANON_EFAULT.holds_in(parse_release(numa_kernel.release))
    assert where(p, [empty]) == [-errno.EFAULT if efault else -errno.ENOENT]


@pytest.mark.numa(nodes=1)
def test_onto_the_node_they_are_on_moves_nothing(numa_kernel):
    """Fits any machine, a one-node host too (which may have more nodes than node 0)."""
    p = numa_kernel.spawn()
    pages = touched_pages(p, 3)
    (node,) = set(where(p, pages))  # first touch by one task: one node
    report = rebalance(p, pages, [node])
    assert report.moved == 0 and report.after == {node: 3} and report.failed == {}


def test_bad_arguments_are_refused_by_name(numa_kernel):
    p = numa_kernel.spawn()
    (page,) = touched_pages(p, 1)
    with pytest.raises(ValueError, match=r"pages\[0\]: .* not the address of a page"):
        rebalance(p, [page + 1])
    with pytest.raises(ValueError, match=r"pages\[1\]: .* listed twice"):
        rebalance(p, [page, page])
    with pytest.raises(ValueError, match=r"nodes: empty"):
        rebalance(p, [page], [])
    with pytest.raises(ValueError, match=r"pid"):
        rebalance(p, [page], pid=-1)


def test_libc_is_this_process():
    """The real thing: this process's own pages, through ctypes and libc's syscall()."""
    libc = Libc()
    nodes = allowed_nodes(libc)
    assert nodes
    pages = touched_pages(libc, 4)
    report = rebalance(libc, pages, nodes[:1])
    assert report.after == {nodes[0]: 4} and report.failed == {}
    libc.munmap(pages[0], 4 * PAGE)


# --- properties, on simulated worlds drawn by simnuma.strategies -----------------------
def test_plan_is_even_and_minimal():
    placement = {a * PAGE: 0 for a in range(1, 8)} | {100 * PAGE: 5}
    moves = plan(placement, [0, 1, 2])
    final = Counter({**placement, **moves}.values())
    assert sorted(final.values()) == [2, 3, 3] and 5 not in final
    assert len(moves) == 5  # 7 on node 0 keep 3; node 5's page must go


SMALL = ["touched", "zero", "untouched", "unmapped", "pinned", "swapped"]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_rebalance_on_any_world(data):
    from simnuma.strategies import worlds

    world = data.draw(
        worlds(kinds=st.lists(st.sampled_from(SMALL), min_size=1, max_size=12)), "world"
    )
    p = world.process
    mapped = [a for a, kind in zip(world.pages, world.kinds, strict=True) if kind != "unmapped"]
    report = rebalance(p, mapped)

    world.check()  # the kernel's invariants; every written page kept its contents
    present = sum(report.before.values())
    assert sum(report.after.values()) == present
    assert set(report.after) <= set(world.allowed_nodes)
    if not report.failed:  # everything that had to move moved: within one of even
        counts = [report.after.get(n, 0) for n in world.allowed_nodes]
        assert max(counts) - min(counts) <= 1
