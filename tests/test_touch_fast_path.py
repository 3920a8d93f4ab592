"""touch() places a run of fresh private anonymous pages in bulk
(AddressSpace.fault_fresh_run); page by page through fault() must give the same
world: the same frames on the same nodes, the same node counts, the same error
after the same pages when memory runs out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from simnuma import NodeSpec, SimFile, SimKernel, SimProcess, Topology, named_profiles
from simnuma.abi import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_PREFERRED,
    MPOL_PREFERRED_MANY,
    MPOL_WEIGHTED_INTERLEAVE,
    PROT_READ,
)
from simnuma.frames import Frame
from simnuma.mempolicy import Mempolicy
from simnuma.mm import AddressSpace

PAGE = 4096
PROFILES = [p.name for p in named_profiles()]
MODES = [
    MPOL_DEFAULT,
    MPOL_BIND,
    MPOL_INTERLEAVE,
    MPOL_PREFERRED,
    MPOL_LOCAL,
    MPOL_PREFERRED_MANY,
    MPOL_WEIGHTED_INTERLEAVE,
]
MODE_FLAGS = [0, 0, 0, MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES]


@contextmanager
def page_by_page(slow: bool) -> Iterator[None]:
    """Every write fault through fault(), one page at a time (the reference)."""
    saved = AddressSpace.bulk_faults
    AddressSpace.bulk_faults = not slow
    try:
        yield
    finally:
        AddressSpace.bulk_faults = saved


@dataclass(frozen=True)
class World:
    profile: str
    nodes: dict[int, tuple[int, bool]]  # nid -> (pages of memory, has CPUs)
    distances: dict[tuple[int, int], int]
    cpuset: list[int] | None
    cpu: int
    task_policy: tuple[int, list[int]] | None
    pages: int
    mbinds: list[tuple[int, int, int, list[int]]]  # (first page, pages, mode, nodes)
    readonly: tuple[int, int] | None  # (first page, pages) made PROT_READ
    before: list[tuple[int, str]]  # (page, "write" | "read" | "swap")
    fork: bool
    fills: list[tuple[int, int]]  # (nid, pages left free)
    touch: tuple[int, int]  # (byte offset, byte length), may run past the mapping


@st.composite
def worlds(draw: st.DrawFn) -> World:
    ids = draw(st.lists(st.integers(0, 11), min_size=1, max_size=4, unique=True))
    nodes = {}
    for nid in ids:
        memory = draw(st.sampled_from([0, 0, 1, 3, 8, 20, 100, 4096]))
        cpus = draw(st.booleans()) if memory else True
        nodes[nid] = (memory, cpus)
    if not any(memory for memory, _ in nodes.values()):
        nodes[ids[0]] = (draw(st.sampled_from([1, 5, 50])), nodes[ids[0]][1])
    if not any(cpus for _, cpus in nodes.values()):
        nodes[ids[0]] = (nodes[ids[0]][0], True)
    distances = {}
    for a in ids:
        for b in ids:
            if a < b and draw(st.booleans()):
                distances[(a, b)] = draw(st.integers(11, 60))
    memory_nodes = sorted(n for n, (memory, _) in nodes.items() if memory)
    cpu_nodes = sorted(n for n, (_, cpus) in nodes.items() if cpus)
    cpuset = draw(
        st.none() | st.lists(st.sampled_from(memory_nodes), min_size=1, unique=True).map(sorted)
    )
    node_sets = st.lists(st.sampled_from([*ids, 12, 40]), max_size=4, unique=True)

    def policy() -> tuple[int, list[int]]:
        return draw(st.sampled_from(MODES)) | draw(st.sampled_from(MODE_FLAGS)), draw(node_sets)

    task_policy = policy() if draw(st.booleans()) else None
    pages = draw(st.integers(1, 48))
    mbinds = []
    for _ in range(draw(st.integers(0, 3))):
        first = draw(st.integers(0, pages - 1))
        mode, mbind_nodes = policy()
        mbinds.append((first, draw(st.integers(1, pages - first)), mode, mbind_nodes))
    readonly = None
    if draw(st.integers(0, 4)) == 0:
        first = draw(st.integers(0, pages - 1))
        readonly = (first, draw(st.integers(1, pages - first)))
    before = draw(
        st.lists(
            st.tuples(st.integers(0, pages - 1), st.sampled_from(["write", "read", "swap"])),
            max_size=6,
        )
    )
    fills = draw(st.lists(st.tuples(st.sampled_from(memory_nodes), st.integers(0, 30)), max_size=2))
    offset = draw(st.integers(0, pages * PAGE - 1))
    length = draw(st.integers(1, pages * PAGE - offset + 2 * PAGE))
    return World(
        profile=draw(st.sampled_from(PROFILES)),
        nodes=nodes,
        distances=distances,
        cpuset=cpuset,
        cpu=draw(st.sampled_from(cpu_nodes)),
        task_policy=task_policy,
        pages=pages,
        mbinds=mbinds,
        readonly=readonly,
        before=before,
        fork=draw(st.booleans()),
        fills=fills,
        touch=(offset, length),
    )


def outcome(call: Any, *args: Any) -> str | None:
    try:
        call(*args)
    except Exception as e:  # the two runs must fail alike, however they fail
        return f"{type(e).__name__}: {e}"
    return None


def frame_state(frame: Frame) -> tuple[object, ...]:
    """Every slot of a frame (new slots included), the file by name."""
    values: list[object] = []
    for slot in Frame.__slots__:
        value = getattr(frame, slot)
        values.append(value.name if slot == "mapping" and value is not None else value)
    return tuple(values)


def plain(obj: object) -> dict[str, object]:
    """An object's attributes that compare across two kernels (files by name; the
    attributes holding kernel objects only by name)."""
    out: dict[str, object] = {}
    for name, value in sorted(vars(obj).items()):
        if isinstance(value, SimFile):
            value = value.name
        elif not isinstance(value, int | str | frozenset | Mempolicy | type(None)):
            value = type(value).__name__
        out[name] = value
    return out


def state(kernel: SimKernel) -> object:
    """The whole world as plain data: page tables (which pages share a frame), frames,
    VMAs, address spaces, tasks, node counts."""
    kernel.check_consistency()
    ids: dict[int, int] = {}
    tasks = []
    for pid, proc in sorted(kernel.tasks.items()):
        if proc.mm is None:
            continue
        table = [
            (vpn, ids.setdefault(id(f), len(ids)), frame_state(f))
            for vpn, f in sorted(proc.mm.pt.items())
        ]
        vmas = [plain(vma) for vma in proc.mm.vmas]
        tasks.append((pid, table, vmas, plain(proc.mm), plain(proc)))
    nodes = [(nid, node.used, node.capacity) for nid, node in sorted(kernel.nodes.items())]
    return tasks, nodes


def run(world: World, slow: bool) -> tuple[list[str | None], object]:
    topology = Topology(
        {nid: NodeSpec(memory * PAGE, cpus) for nid, (memory, cpus) in world.nodes.items()},
        world.distances,
    )
    kernel = SimKernel(topology=topology, profile=world.profile)
    proc: SimProcess = kernel.spawn(cpuset_mems=world.cpuset)
    kernel.run_on(proc, world.cpu)
    log: list[str | None] = []
    with page_by_page(slow=True):  # the set-up is not under test: the same path both times
        if world.task_policy is not None:
            log.append(outcome(proc.set_mempolicy, *world.task_policy))
        base = proc.mmap(world.pages * PAGE)
        for first, count, mode, nodes in world.mbinds:
            log.append(outcome(proc.mbind, base + first * PAGE, count * PAGE, mode, nodes))
        for page, how in world.before:
            addr = base + page * PAGE
            if how == "swap":
                log.append(outcome(kernel.swap_out, proc, addr))
            else:
                log.append(outcome(proc.touch if how == "write" else proc.read, addr, PAGE))
        if world.readonly is not None:
            first, count = world.readonly
            log.append(outcome(proc.mprotect, base + first * PAGE, count * PAGE, PROT_READ))
        if world.fork:
            proc.fork()
        for nid, free in world.fills:
            log.append(outcome(kernel.fill_node, nid, free))
    offset, length = world.touch
    with page_by_page(slow):
        log.append(outcome(proc.touch, base + offset, length))
    return log, state(kernel)


@settings(max_examples=400, deadline=None)
@given(world=worlds())
def test_bulk_touch_matches_page_by_page(world: World) -> None:
    bulk = run(world, slow=False)
    assert bulk == run(world, slow=True)
    touched = bulk[0][-1]
    event(f"touch: {touched.split(':')[0] if touched else 'ok'}")


def test_fresh_range_takes_the_bulk_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common case really is bulk: no page of a fresh range goes through fault()."""
    kernel = SimKernel(nodes=2)
    proc = kernel.spawn()
    addr = proc.mmap(1000 * PAGE)
    assert proc.mm is not None

    def refuse(*args: object) -> Frame:
        raise AssertionError("fault() called for a fresh private anonymous page")

    monkeypatch.setattr(proc.mm, "fault", refuse)
    proc.touch(addr + 100, 1000 * PAGE - 100)
    assert kernel.nodes[0].used == 1000
    kernel.check_consistency()
