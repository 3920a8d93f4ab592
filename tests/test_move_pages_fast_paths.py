"""The fast paths of move_pages() (the query run of do_pages_stat, the batched path's
inline queueing and whole-array read) give what the lookup rule gives.

Each random call runs twice on two identical worlds, once as shipped and once with
``FAST_PATHS`` off (every entry through resolve()/isolate_for_move()); ret, errno, the
status array and afterwards every page's node must agree.  The worlds mix every kind
of entry the rule distinguishes: present, zero page, never touched, swapped out,
PROT_NONE, unmapped (a hole), MAP_SHARED and copy-on-write shared with a child,
pinned, isolated, hugetlb and THP heads and tails, on random profiles.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import given, settings
from hypothesis import strategies as st

import simnuma.syscalls.move_pages as move_pages_module
from simnuma import NodeSpec, Quirk, SimKernel, Topology, named_profiles
from simnuma.abi import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, PROT_NONE, PROT_READ, move_pages_raw
from simnuma.process import SimProcess

PAGE = 4096
HPAGE = 2 << 20
PROFILES = [p.name for p in named_profiles()]
# kind of each small page: what is done to it after mapping
SMALL_KINDS = [
    "touched",
    "zero_page",
    "untouched",
    "swapped",
    "prot_none",
    "hole",
    "cow_child",
    "map_shared",
    "pinned",
    "isolated",
]
SMALL = 8  # small pages in the world
TARGETS = [0, 1, 2, 3, -1, 7]  # 3: no memory; -1, 7: out of range / not a node


@contextmanager
def slow_paths() -> Iterator[None]:
    move_pages_module.FAST_PATHS = False
    try:
        yield
    finally:
        move_pages_module.FAST_PATHS = True


def build(profile: str, kinds: list[str], huge: bool) -> tuple[SimKernel, SimProcess, list[int]]:
    """The world: small pages of the given kinds, then a hugetlb page and a THP."""
    topology = Topology({0: NodeSpec(), 1: NodeSpec(), 2: NodeSpec(), 3: NodeSpec(memory=0)})
    k = SimKernel(topology=topology, profile=profile)
    p = k.spawn()
    base = p.mmap(SMALL * PAGE)
    shared = p.mmap(SMALL * PAGE, shared=True)
    pool = [(shared if kind == "map_shared" else base) + i * PAGE for i, kind in enumerate(kinds)]
    # pages shared with the child first: after the fork, what the parent touches is its own
    for i, kind in enumerate(kinds):
        if kind in ("cow_child", "map_shared"):
            p.write_bytes(pool[i], bytes([i + 1]) * PAGE)
    child = p.fork()
    for i, kind in enumerate(kinds):
        a = pool[i]
        if kind in ("cow_child", "map_shared"):
            child.read(a, PAGE)
        elif kind == "zero_page":
            p.read(a, PAGE)
        elif kind == "hole":
            p.munmap(a, PAGE)
        elif kind != "untouched":
            p.write_bytes(a, bytes([i + 1]) * PAGE)
        if kind == "swapped":
            k.swap_out(p, a)
        elif kind == "prot_none":
            p.mprotect(a, PAGE, PROT_NONE)
        elif kind == "pinned":
            k.pin(p, a)
        elif kind == "isolated":
            k.isolate(p, a)
    if huge:
        h = p.mmap(HPAGE, huge="hugetlb")
        p.touch(h, HPAGE)
        pool += [h, h + 5 * PAGE]
        if k.has_thp:
            t = p.mmap(HPAGE, huge="thp")
            p.touch(t, HPAGE)
            pool += [t, t + 7 * PAGE]
    return k, p, pool


def _nodes_of(k: SimKernel, p: SimProcess, pool: list[int]) -> list[int]:
    with slow_paths():
        return list(p.move_pages(0, pool, None, 0).status)


@settings(max_examples=400, deadline=None)
@given(
    profile=st.sampled_from(PROFILES),
    kinds=st.lists(st.sampled_from(SMALL_KINDS), min_size=SMALL, max_size=SMALL),
    huge=st.booleans(),
    picks=st.lists(st.integers(0, 11), min_size=1, max_size=40),
    targets=st.lists(st.sampled_from(TARGETS), min_size=40, max_size=40),
    query=st.booleans(),
    move_all=st.booleans(),
)
def test_fast_paths_agree_with_the_rule(
    profile: str,
    kinds: list[str],
    huge: bool,
    picks: list[int],
    targets: list[int],
    query: bool,
    move_all: bool,
) -> None:
    results = []
    for fast in (True, False):
        k, p, pool = build(profile, kinds, huge)
        addrs = [pool[i % len(pool)] for i in picks]
        nodes = None if query else targets[: len(addrs)]
        if nodes is not None and k.profile.has(Quirk.NODE_RANGE_UNCHECKED):
            nodes = [7 if n < 0 else n for n in nodes]  # the CVE-2010-0415 read: not modelled
        flags = MPOL_MF_MOVE_ALL if move_all else MPOL_MF_MOVE
        if fast:
            call = move_pages_raw(p, 0, addrs, nodes, 0 if query else flags)
        else:
            with slow_paths():
                call = move_pages_raw(p, 0, addrs, nodes, 0 if query else flags)
        k.check_consistency()
        results.append((call, _nodes_of(k, p, pool)))
    (fast_call, fast_nodes), (slow_call, slow_nodes) = results
    assert fast_call == slow_call, (addrs, nodes)
    assert fast_nodes == slow_nodes


def test_the_switch_reaches_the_fast_paths() -> None:
    """A long query of present pages takes the run path as shipped and not when off."""
    k = SimKernel(profile="6.12")
    p = k.spawn()
    a = p.mmap(40 * PAGE, prot=PROT_READ | 2)
    p.touch(a, 40 * PAGE)
    calls = []
    original = move_pages_module.stat_one

    def counting(*args: object) -> int:
        calls.append(1)
        return original(*args)  # type: ignore[arg-type]

    move_pages_module.stat_one = counting  # type: ignore[assignment]
    try:
        p.move_pages(0, [a + i * PAGE for i in range(40)], None, 0)
        fast = len(calls)
        with slow_paths():
            p.move_pages(0, [a + i * PAGE for i in range(40)], None, 0)
    finally:
        move_pages_module.stat_one = original
    assert fast == 0 and len(calls) == 40
