"""Hypothesis strategies for NUMA worlds and page-migration calls, for your own tests.

Needs ``hypothesis`` (``pip install simnuma[test]``); ``import simnuma`` never loads it.

- ``profiles()``: kernel releases (named profiles: ``"4.5–4.12"``, ``"6.12+"``).
- ``topologies()``: node layouts with sparse ids, memoryless and CPU-less nodes and
  nodes small enough to fill.
- ``page_kinds()``: the kinds of page a world can hold (``PAGE_KINDS``).
- ``worlds()``: a ``SimKernel`` with a process whose pages are of the drawn kinds,
  touched as each kind needs (a ``NumaWorld``).
- ``move_pages_args(world)``, ``migrate_pages_args(world)``: valid arguments for that
  world, or invalid ones carrying their defects (duplicated, unaligned or unmapped
  pages, nodes out of range, memoryless or offline, bad flags, ...).

Arguments depend on the world, so draw them from it::

    from hypothesis import given, strategies as st
    from simnuma.strategies import move_pages_args, worlds

    @given(st.data())
    def test_my_helper(data):
        world = data.draw(worlds())
        args = data.draw(move_pages_args(world, valid=True))
        result = world.process.move_pages(args.pid, args.pages, args.nodes, args.flags)
        ...
        world.check()  # the kernel's invariants hold, written pages kept their contents
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

try:
    from hypothesis import reject
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "simnuma.strategies needs hypothesis: pip install hypothesis (or simnuma[test])"
    ) from exc

from simnuma.abi.constants import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, MPOL_MF_STRICT
from simnuma.frames import OutOfNodeMemory
from simnuma.kernel import SimKernel
from simnuma.process import SimProcess
from simnuma.profiles import named_profiles
from simnuma.topology import NodeSpec, Topology

__all__ = [
    "MIGRATE_PAGES_DEFECTS",
    "MOVE_PAGES_DEFECTS",
    "PAGE_KINDS",
    "MigratePagesArgs",
    "MovePagesArgs",
    "NumaWorld",
    "migrate_pages_args",
    "move_pages_args",
    "page_kinds",
    "profiles",
    "topologies",
    "worlds",
]

PAGE = 4096
HPAGE = 2 << 20
MIB = 1 << 20

PAGE_KINDS: dict[str, str] = {
    "touched": "a private anonymous page, written",
    "zero": "a private anonymous page only read: the shared zero page",
    "untouched": "mapped, never touched: no page yet",
    "shared": "a shared anonymous page, written (read by the child too, when forked)",
    "pinned": "a private anonymous page, written and pinned (an extra reference)",
    "unmapped": "a hole: an address whose mapping was removed",
    "swapped": "a private anonymous page, written and then reclaimed to swap",
    "isolated": "a private anonymous page, written and taken off the LRU",
    "file": "a tmpfs file page mapped shared, written",
    "thp": "the first page of a transparent huge page, written ('touched' before THP existed)",
    "hugetlb": "the first page of a private hugetlb page, written",
}

MOVE_PAGES_DEFECTS: dict[str, str] = {
    "duplicate": "one page listed twice",
    "unaligned": "an address inside a page rather than its start",
    "unmapped": "an address no mapping covers",
    "node_out_of_range": "a target node < 0 or >= MAX_NUMNODES",
    "offline_node": "a target node id below MAX_NUMNODES that does not exist",
    "memoryless_node": "a target node without memory",
    "bad_flags": "flags beyond MPOL_MF_MOVE | MPOL_MF_MOVE_ALL",
}

MIGRATE_PAGES_DEFECTS: dict[str, str] = {
    "node_out_of_range": "a node >= MAX_NUMNODES in old_nodes or new_nodes",
    "memoryless_new_node": "a memoryless node among new_nodes",
    "offline_new_node": "a node that does not exist among new_nodes",
}


def profiles() -> st.SearchStrategy[str]:
    """A named profile (``simnuma.named_profiles()``), shrinking towards the oldest."""
    return st.sampled_from([p.name for p in named_profiles()])


@st.composite
def topologies(
    draw: st.DrawFn,
    *,
    min_nodes: int = 1,
    max_nodes: int = 4,
    node_ids: Sequence[int] = (0, 1, 2, 3, 5, 9),
    memory: Sequence[int] = (0, 4 * MIB, 16 * MIB),
    cpuless: bool = True,
) -> Topology:
    """``min_nodes``..``max_nodes`` nodes with ids from ``node_ids`` (sparse by default),
    each with a size from ``memory`` (0: memoryless; 4 MiB fills up fast) and CPUs or,
    when ``cpuless``, maybe none.  At least one node has memory and one has CPUs."""
    if not 1 <= min_nodes <= max_nodes <= len(node_ids):
        raise ValueError(
            f"need 1 <= min_nodes <= max_nodes <= len(node_ids), got {min_nodes}, "
            f"{max_nodes}, {len(node_ids)}"
        )
    if not memory or any(m < 0 for m in memory):
        raise ValueError(f"memory must be sizes >= 0, got {list(memory)}")
    ids = draw(
        st.lists(
            st.sampled_from(list(node_ids)), min_size=min_nodes, max_size=max_nodes, unique=True
        )
    )
    nodes = {}
    for nid in ids:
        size = draw(st.sampled_from(list(memory)))
        cpus = True if size == 0 or not cpuless else draw(st.booleans())
        nodes[nid] = NodeSpec(memory=size, cpus=cpus)
    first = min(ids)
    if not any(n.memory for n in nodes.values()):
        nodes[first] = NodeSpec(memory=max(memory) or 16 * MIB, cpus=nodes[first].cpus)
    if not any(n.cpus for n in nodes.values()):
        nodes[first] = NodeSpec(memory=nodes[first].memory, cpus=True)
    return Topology(nodes)


def page_kinds(*, exclude: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """A page kind (``PAGE_KINDS``), but those in ``exclude``."""
    unknown = set(exclude) - set(PAGE_KINDS)
    if unknown:
        raise ValueError(f"exclude: unknown page kinds {sorted(unknown)}")
    return st.sampled_from([k for k in PAGE_KINDS if k not in exclude])


@dataclass
class NumaWorld:
    """A simulated kernel and a process holding one page of each drawn kind."""

    kernel: SimKernel
    process: SimProcess
    pages: list[int]  # an address per kind, in order
    kinds: list[str]
    child: SimProcess | None = None  # forked after set-up (shares every page then)
    cpuset_mems: list[int] | None = None  # the process's cpuset (None: every node)
    # what the written pages hold (left out of the repr: a page each)
    contents: dict[int, bytes] = field(default_factory=dict, repr=False)

    @property
    def allowed_nodes(self) -> list[int]:
        """Memory nodes the process may have pages moved to (its cpuset's)."""
        memory = self.kernel.memory_node_ids()
        return memory if self.cpuset_mems is None else sorted(set(memory) & set(self.cpuset_mems))

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How hypothesis shows a falsifying world: without the pages' contents."""
        printer.text(repr(self))

    def check(self) -> None:
        """The kernel's invariants hold and every written page still holds its data
        (swapped pages are not read: that would fault them back in)."""
        self.kernel.check_consistency()
        for addr, data in self.contents.items():
            got = self.process.read_bytes(addr, PAGE)
            assert got == data, f"page {addr:#x} lost its contents"


@st.composite
def worlds(
    draw: st.DrawFn,
    *,
    profiles: st.SearchStrategy[str] | None = None,
    topologies: st.SearchStrategy[Topology] | None = None,
    kinds: st.SearchStrategy[list[str]] | None = None,
    fork: bool | st.SearchStrategy[bool] = False,
    cpuset_mems: st.SearchStrategy[list[int] | None] | None = None,
) -> NumaWorld:
    """A ``NumaWorld``: a ``SimKernel`` at a drawn profile and topology, a root process
    (in a cpuset drawn by ``cpuset_mems``, default none) whose pages are ``kinds``
    (default 1–12 of ``page_kinds()``), each written page holding its own bytes; with
    ``fork`` a child is forked after set-up.  The default topologies have 64 MiB nodes
    (and memoryless ones), so a world never starts out full.  Private and shared pages
    lie in one mapping each, page i at offset i, so an unmapped one is a hole between
    mapped pages.  A draw that runs out of node memory is rejected."""
    profile = draw(profiles if profiles is not None else _profiles_strategy())
    topology = draw(topologies if topologies is not None else _topologies_strategy())
    drawn = draw(kinds if kinds is not None else st.lists(page_kinds(), min_size=1, max_size=12))
    if not drawn:
        raise ValueError("kinds: a world needs at least one page")
    unknown = set(drawn) - set(PAGE_KINDS)
    if unknown:
        raise ValueError(f"kinds: unknown page kinds {sorted(unknown)}")
    forked = fork if isinstance(fork, bool) else draw(fork)
    cpuset = None if cpuset_mems is None else draw(cpuset_mems)
    k = SimKernel(topology=topology, profile=profile)
    try:
        return _build(k, list(drawn), forked, cpuset)
    except OutOfNodeMemory:
        reject()  # the kernel would OOM-kill: no world to test
        raise  # unreachable: reject() raises


def _build(k: SimKernel, kinds: list[str], fork: bool, cpuset: list[int] | None) -> NumaWorld:
    kinds = ["touched" if kind == "thp" and not k.has_thp else kind for kind in kinds]
    p = k.spawn(cpuset_mems=cpuset)
    world = NumaWorld(k, p, [], kinds, cpuset_mems=cpuset)
    n = len(kinds)
    private = p.mmap(n * PAGE)
    shared = p.mmap(n * PAGE, shared=True)
    f = k.create_file(n * PAGE) if "file" in kinds else None
    filemap = p.mmap(n * PAGE, file=f, shared=True) if f is not None else 0
    for i, kind in enumerate(kinds):
        data = bytes([i + 1]) * PAGE
        if kind in ("thp", "hugetlb"):
            addr = p.mmap(HPAGE, huge=kind)
        else:
            addr = {"shared": shared, "file": filemap}.get(kind, private) + i * PAGE
        world.pages.append(addr)
        if kind == "zero":
            p.read(addr, PAGE)
        elif kind == "unmapped":
            p.munmap(addr, PAGE)
        elif kind != "untouched":
            p.write_bytes(addr, data)
            if kind != "swapped":  # (check() reading it back would fault it in)
                world.contents[addr] = data
        if kind == "pinned":
            k.pin(p, addr)
        elif kind == "swapped":
            k.swap_out(p, addr)
        elif kind == "isolated":
            k.isolate(p, addr)
    if fork:
        world.child = p.fork()
        for addr, kind in zip(world.pages, kinds, strict=True):
            if kind == "shared":
                world.child.read(addr, PAGE)
    return world


def _profiles_strategy() -> st.SearchStrategy[str]:
    return profiles()


def _topologies_strategy() -> st.SearchStrategy[Topology]:
    # room for 12 huge pages and the calls' own arrays: no world starts out full
    return topologies(memory=(0, 64 * MIB))


@dataclass(frozen=True)
class MovePagesArgs:
    """move_pages(2)'s arguments (``nodes`` None: query) and the defects put in them."""

    pid: int
    pages: list[int]
    nodes: list[int] | None
    flags: int
    defects: tuple[str, ...] = ()  # names from MOVE_PAGES_DEFECTS; () when valid


@dataclass(frozen=True)
class MigratePagesArgs:
    """migrate_pages(2)'s arguments and the defects put in them."""

    pid: int
    old_nodes: list[int]
    new_nodes: list[int]
    defects: tuple[str, ...] = ()  # names from MIGRATE_PAGES_DEFECTS; () when valid


def _offline(world: NumaWorld) -> list[int]:
    ids = set(world.kernel.node_ids())
    return [n for n in range(max(ids) + 2) if n not in ids]


def _memoryless(world: NumaWorld) -> list[int]:
    memory = set(world.kernel.memory_node_ids())
    return [n for n in world.kernel.node_ids() if n not in memory]


def move_pages_defects(world: NumaWorld) -> list[str]:
    """The defects ``move_pages_args`` can put in a call on ``world``."""
    defects = ["duplicate", "unaligned", "unmapped", "node_out_of_range", "offline_node"]
    if _memoryless(world):
        defects.append("memoryless_node")
    return [*defects, "bad_flags"]


@st.composite
def move_pages_args(
    draw: st.DrawFn, world: NumaWorld, *, valid: bool | None = None
) -> MovePagesArgs:
    """Arguments for ``world.process`` moving its own pages (pid 0 or its pid).

    Valid (``valid=True``): distinct page-aligned addresses of the world's mapped pages
    (any kind but ``unmapped``), target nodes the process's cpuset allows (or ``None``,
    a query), flags 0, ``MPOL_MF_MOVE`` or ``MPOL_MF_MOVE_ALL`` (the process is root).
    The call then has no error of its own: it returns -1 only where no page could be
    queued before 2.6.29 (ENOENT), or where the kernel runs out of memory.  Each page's
    outcome is in its status.

    Invalid (``valid=False``): such arguments with one or more defects from
    ``MOVE_PAGES_DEFECTS`` put in (named in ``defects``); ``valid=None`` draws either.
    What the kernel makes of them: ``bad_flags`` is EINVAL, else a bad node
    (``node_out_of_range``, ``offline_node``, ``memoryless_node``) is ENODEV, for the
    whole call -- unless (4.17+) a node batch flushed before the bad entry left pages
    unmigrated (a pinned page): the call then ends there, returning their count; a
    duplicate, unaligned or unmapped page is no error of the call (an address names the
    page that holds it; each entry gets its own status).
    """
    if valid is None:
        valid = draw(st.booleans())
    mapped = [a for a, kind in zip(world.pages, world.kinds, strict=True) if kind != "unmapped"]
    pid = draw(st.sampled_from([0, world.process.pid]))
    allowed = world.allowed_nodes
    pages = (
        draw(st.lists(st.sampled_from(mapped), min_size=1, max_size=len(mapped), unique=True))
        if mapped
        else []
    )
    query = draw(st.booleans()) if valid else False
    nodes = None if query else [draw(st.sampled_from(allowed)) for _ in pages]
    flags = draw(st.sampled_from([0, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL]))
    if valid:
        if not pages:
            reject()  # every page of this world is a hole: no valid call names one
        return MovePagesArgs(pid, pages, nodes, flags)
    possible = move_pages_defects(world)
    if not pages:
        possible = [d for d in possible if d not in ("duplicate", "unaligned")]
    defects = draw(st.lists(st.sampled_from(possible), min_size=1, max_size=3, unique=True))
    assert nodes is not None
    k = world.kernel
    for defect in defects:
        if defect in ("duplicate", "unaligned", "unmapped"):
            if defect == "duplicate":
                addr = draw(st.sampled_from(pages))
            elif defect == "unaligned":
                addr = draw(st.sampled_from(pages)) + draw(st.integers(1, PAGE - 1))
            else:
                holes = [a for a, kind in zip(world.pages, world.kinds, strict=True)
                         if kind == "unmapped"]  # fmt: skip
                addr = draw(st.sampled_from([*holes, PAGE]))  # below mmap_min_addr
            at = draw(st.integers(0, len(pages)))
            pages.insert(at, addr)
            nodes.insert(at, draw(st.sampled_from(allowed)))
            continue
        if defect == "bad_flags":
            flags |= draw(st.sampled_from([MPOL_MF_STRICT, 1 << 4, 1 << 12]))
            continue
        if defect == "node_out_of_range":
            bad = draw(st.sampled_from([-1, k.max_numnodes, 2**31 - 1]))
        elif defect == "offline_node":
            bad = draw(st.sampled_from(_offline(world)))
        else:
            bad = draw(st.sampled_from(_memoryless(world)))
        if pages:
            nodes[draw(st.integers(0, len(pages) - 1))] = bad
        else:  # a world of holes: the only address to name is one
            pages.append(PAGE)
            nodes.append(bad)
            if "unmapped" not in defects:
                defects.append("unmapped")
    return MovePagesArgs(pid, pages, nodes, flags, tuple(defects))


@st.composite
def migrate_pages_args(
    draw: st.DrawFn, world: NumaWorld, *, valid: bool | None = None
) -> MigratePagesArgs:
    """Arguments for ``world.process`` migrating its own pages (pid 0 or its pid).

    Valid: ``old_nodes`` any memory nodes (maybe none), ``new_nodes`` one or more the
    process's cpuset allows; the call returns the pages it could not move (>= 0).
    Invalid: with defects from ``MIGRATE_PAGES_DEFECTS`` (named in ``defects``): a node
    past MAX_NUMNODES is EINVAL on every release; a memoryless or offline new node is
    EINVAL where the kernel checks new_nodes against the nodes with memory
    (``Quirk.MIGRATE_PAGES_NEW_SUBSET_OF_MEMORY``), and is dropped elsewhere (new_nodes
    is cut to the caller's cpuset).  ``valid=None`` draws either."""
    if valid is None:
        valid = draw(st.booleans())
    k = world.kernel
    pid = draw(st.sampled_from([0, world.process.pid]))
    old = draw(st.lists(st.sampled_from(k.memory_node_ids()), unique=True))
    new = draw(st.lists(st.sampled_from(world.allowed_nodes), min_size=1, unique=True))
    if valid:
        return MigratePagesArgs(pid, old, new)
    possible = ["node_out_of_range", "offline_new_node"]
    if _memoryless(world):
        possible.append("memoryless_new_node")
    defects = draw(st.lists(st.sampled_from(possible), min_size=1, max_size=3, unique=True))
    for defect in defects:
        if defect == "node_out_of_range":
            bad = draw(st.sampled_from([k.max_numnodes, k.max_numnodes + 63]))
            (old if draw(st.booleans()) else new).append(bad)
        elif defect == "offline_new_node":
            new.append(draw(st.sampled_from(_offline(world))))
        else:
            new.append(draw(st.sampled_from(_memoryless(world))))
    return MigratePagesArgs(pid, old, new, tuple(defects))
