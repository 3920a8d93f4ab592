"""Page frames (folios) and the per-node frame accounting.

A frame that migrates stays the same Python object: migration changes ``nid``
and moves the node accounting, so every page table that maps it follows along
and its contents are kept by construction.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simnuma.abi.constants import HUGE_PAGE_SIZE

if TYPE_CHECKING:
    from simnuma.files import SimFile

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
HPAGE_SIZE = HUGE_PAGE_SIZE  # the contract's huge page: 2 MiB folios (THP and hugetlb)
HPAGE_ORDER = HPAGE_SIZE.bit_length() - 1 - PAGE_SHIFT
HPAGE_NR = 1 << HPAGE_ORDER

# Frame.flags bits
DIRTY = 1 << 0
WRITEBACK = 1 << 1
ISOLATED = 1 << 2  # off the LRU: isolated by compaction or another migration
THP = 1 << 3
HUGETLB = 1 << 4
ANON = 1 << 5
ZERO = 1 << 6
SWAPPED = 1 << 7  # on swap: no node holds it; the page table keeps a swap entry


class Frame:
    """One folio: ``1 << order`` base pages on node ``nid``.

    ``mapcount`` counts mappings (a PTE for a small page, one per address space
    for a huge folio); ``pins`` counts extra references (vmsplice, O_DIRECT, RDMA).
    """

    __slots__ = ("data", "flags", "index", "mapcount", "mapping", "nid", "order", "pins", "why")

    def __init__(
        self,
        nid: int,
        flags: int,
        order: int = 0,
        mapping: SimFile | None = None,
        index: int = 0,
        why: tuple[str, ...] = (),
    ) -> None:
        self.nid = nid
        self.mapcount = 0
        self.flags = flags
        self.data: bytearray | None = None  # None: all zeroes
        self.pins = 0
        self.mapping = mapping
        self.index = index
        self.order = order
        # the clauses of how it came to be on its node (the policy that placed it)
        self.why = why

    @property
    def nr_pages(self) -> int:
        return 1 << self.order

    def __repr__(self) -> str:
        return (
            f"Frame(nid={self.nid}, order={self.order}, "
            f"mapcount={self.mapcount}, flags={self.flags:#x})"
        )


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while frames are made by the thousand.

    Frames form no reference cycles, but each one made counts towards the next
    collection, and the collector walks the whole growing heap again and again:
    paused, it runs once afterwards.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


# The shared zero page: mapped by read faults on private anonymous memory.  It is
# not node memory the simulator accounts for.
ZERO_PAGE = Frame(nid=0, flags=ZERO)


@dataclass
class Node:
    """A NUMA node: its memory in pages (0 = memoryless) and whether it has CPUs."""

    nid: int
    capacity: int
    has_cpus: bool
    used: int = 0
    distances: dict[int, int] = field(default_factory=dict)

    @property
    def has_memory(self) -> bool:
        return self.capacity > 0

    @property
    def free(self) -> int:
        return self.capacity - self.used


class OutOfNodeMemory(Exception):
    """No node the allocation may use has room (the kernel would OOM-kill or SIGBUS)."""


class NodeMemory:
    """Frame allocation and freeing on nodes, with exact per-node counts."""

    def __init__(self, nodes: dict[int, Node]) -> None:
        self.nodes = nodes

    def alloc(self, candidates: list[int], flags: int, order: int = 0) -> Frame:
        """Allocate from the first candidate node with room (a zonelist walk)."""
        need = 1 << order
        for nid in candidates:
            node = self.nodes[nid]
            if node.free >= need:
                node.used += need
                return Frame(nid, flags, order)
        raise OutOfNodeMemory(f"no room for {need} page(s) on nodes {candidates}")

    def alloc_run(
        self,
        candidates: list[list[int]],
        first: int,
        count: int,
        flags: int,
        why: tuple[str, ...] = (),
    ) -> list[Frame]:
        """``count`` small pages, one after another as alloc() would place them: page
        ``i`` from ``candidates[(first + i) % len(candidates)]``.  Stops at the first
        page no candidate node has room for (alloc() then raises for it)."""
        nodes = self.nodes
        frames: list[Frame] = []
        period = len(candidates)
        if period == 1:
            # one list for every page: each node in turn until it is full
            for nid in candidates[0]:
                node = nodes[nid]
                take = min(node.capacity - node.used, count - len(frames))
                if take > 0:
                    node.used += take
                    frames += [Frame(nid, flags, why=why) for _ in range(take)]
            return frames
        for i in range(first, first + count):
            for nid in candidates[i % period]:
                node = nodes[nid]
                if node.used < node.capacity:
                    node.used += 1
                    frames.append(Frame(nid, flags, why=why))
                    break
            else:
                break
        return frames

    def try_move(self, frame: Frame, nid: int) -> bool:
        """Account ``frame`` to node ``nid`` (__GFP_THISNODE: no fallback)."""
        need = frame.nr_pages
        target = self.nodes[nid]
        if target.free < need:
            return False
        target.used += need
        self.nodes[frame.nid].used -= need
        frame.nid = nid
        return True

    def free(self, frame: Frame) -> None:
        if not frame.flags & SWAPPED:
            self.nodes[frame.nid].used -= frame.nr_pages
        frame.nid = -1

    def swap_out(self, frame: Frame) -> None:
        self.nodes[frame.nid].used -= frame.nr_pages
        frame.nid = -1
        frame.flags |= SWAPPED
