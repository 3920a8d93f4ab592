"""The order migrate_pages() queues folios in, seen through which pages move before
the target node fills up: address order, a THP split before 4.14 in its own place."""

from __future__ import annotations

import errno

import pytest

from simnuma import SimKernel
from simnuma.frames import HPAGE_NR, PAGE_SHIFT, THP

PAGE = 4096
HPAGE = HPAGE_NR * PAGE


def nodes_of(proc: object, addr: int, pages: int) -> list[int | None]:
    """The node of each page from ``addr`` (None: not mapped)."""
    pt = proc.mm.pt  # type: ignore[attr-defined]
    first = addr >> PAGE_SHIFT
    return [pt[v].nid if v in pt else None for v in range(first, first + pages)]


def thp_world(profile: str) -> tuple[SimKernel, object, int]:
    """Three 2 MiB blocks: a THP, 511 small pages and the zero page, a THP."""
    kernel = SimKernel(nodes=2, profile=profile)
    proc = kernel.spawn()
    addr = proc.mmap(3 * HPAGE, huge="thp")
    zero = addr + HPAGE + 7 * PAGE
    proc.read(zero, PAGE)  # the zero page: no THP in the 2nd block
    proc.touch(addr, zero - addr)
    proc.touch(zero + PAGE, addr + 3 * HPAGE - zero - PAGE)
    pt = proc.mm.pt  # type: ignore[union-attr]
    assert pt[addr >> PAGE_SHIFT].flags & THP
    assert not pt[(addr + HPAGE) >> PAGE_SHIFT].flags & THP
    assert pt[(addr + 2 * HPAGE) >> PAGE_SHIFT].flags & THP
    return kernel, proc, addr


@pytest.mark.parametrize("fork", [False, True])
@pytest.mark.parametrize("profile", ["4.13", "4.14"])
def test_pages_move_in_address_order_until_the_node_fills(profile: str, fork: bool) -> None:
    kernel, proc, addr = thp_world(profile)
    child = proc.fork() if fork else None  # type: ignore[attr-defined]
    room = 700  # the first THP and 188 small pages, whole or split
    kernel.fill_node(1, room)
    with pytest.raises(OSError) as failed:
        proc.migrate_pages(0, [0], [1])  # type: ignore[attr-defined]
    assert failed.value.errno == errno.ENOMEM
    kernel.check_consistency()
    where = nodes_of(proc, addr, 3 * HPAGE_NR)
    zero = HPAGE_NR + 7
    expected = [1 if i < room + (i > zero) else 0 for i in range(3 * HPAGE_NR)]
    expected[zero] = 0  # the zero page is never queued
    assert where == expected
    pt = proc.mm.pt  # type: ignore[attr-defined]
    split = not pt[addr >> PAGE_SHIFT].flags & THP
    assert split == (profile == "4.13")
    if child is not None:
        assert nodes_of(child, addr, 3 * HPAGE_NR) == where


@pytest.mark.parametrize("profile", ["4.13", "4.14"])
def test_split_reaches_every_page_table(profile: str) -> None:
    """A THP mapped by parent and child, in the parent over three VMAs, is split
    in both page tables and every page moves."""
    kernel, proc, addr = thp_world(profile)
    child = proc.fork()  # type: ignore[attr-defined]
    proc.mprotect(addr + 2 * HPAGE + 100 * PAGE, PAGE, 1)  # type: ignore[attr-defined]
    assert proc.migrate_pages(0, [0], [1]) == 0  # type: ignore[attr-defined]
    kernel.check_consistency()
    where = nodes_of(proc, addr, 3 * HPAGE_NR)
    assert where == [0 if i == HPAGE_NR + 7 else 1 for i in range(3 * HPAGE_NR)]
    first = addr >> PAGE_SHIFT
    parent_pt, child_pt = proc.mm.pt, child.mm.pt  # type: ignore[attr-defined]
    for v in range(first, first + 3 * HPAGE_NR):
        assert parent_pt[v] is child_pt[v]
        assert bool(parent_pt[v].flags & THP) == (
            profile == "4.14" and v - first not in range(512, 1024)
        )
