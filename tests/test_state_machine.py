"""The model's invariants over random runs of the whole world (hypothesis state machine).

Processes map memory of every kind (private and shared anonymous, tmpfs and other
files shared and private, THP, hugetlb private and shared), touch, read and write it,
fork, exit, unmap (partly too), change protections, lock, pin, swap, isolate, fill
nodes, change cpusets and memory policies, and call move_pages (query and move,
MOVE_ALL) and migrate_pages — on a random profile and a random topology (sparse ids,
memoryless and CPU-less nodes, small nodes that fill up).

After every step:
- ``SimKernel.check_consistency()`` holds: every frame on one node (or swap), node
  counts exact, nothing leaked after an exit or an unmap, mapcounts and pins right;
- every page of every live process holds what was last written to it, by a shadow
  model that knows only the documented semantics (private pages copied on fork,
  shared ones shared, files seen through their page cache);
and every move_pages() status is one the page's kind allows at that profile.

``SIMNUMA_STATE_EXAMPLES`` raises the example count for a long campaign; the steps run
are counted and printed (see README).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from conformance.clauses import CLAUSES
from simnuma import SimKernel, Topology, named_profiles
from simnuma.abi import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_PREFERRED,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    UNWRITTEN,
    format_status,
)
from simnuma.abi.quirks import Quirk
from simnuma.frames import ANON, HUGETLB, ISOLATED, SWAPPED, ZERO, OutOfNodeMemory
from simnuma.mm import Segfault
from simnuma.process import SimProcess
from simnuma.strategies import topologies

PAGE = 4096
HPAGE = 2 << 20
HPAGES = HPAGE // PAGE
ZEROES = bytes(PAGE)
PROFILES = [p.name for p in named_profiles()]
KINDS = ["anon", "anon", "shared", "file", "file_private", "thp", "hugetlb", "hugetlb_shared"]
FILESYSTEMS = ["tmpfs", "ext4", "nomigrate", "nomigrate-nowriteback", "nomigrate-ioerror"]
EXAMPLES = int(os.environ.get("SIMNUMA_STATE_EXAMPLES", "60"))
STEPS = {"run": 0}
SEEN: dict[str, int] = {}  # outcomes, for the campaign's report


def seen(what: str) -> None:
    SEEN[what] = SEEN.get(what, 0) + 1
    event(what)


def refused(exc: Exception) -> None:
    """The kernel would OOM-kill (no room), or the model refused a corner it does not model."""
    seen(f"{type(exc).__name__}: {str(exc)[:70]}")


@contextlib.contextmanager
def tolerated() -> Iterator[None]:
    try:
        yield
    except (OutOfNodeMemory, NotImplementedError) as exc:
        refused(exc)


@dataclass
class Area:
    """One mapping as the shadow model sees it."""

    start: int
    end: int
    kind: str
    obj: int | None  # the shared object (a file or shmem), by number
    pgoff: int  # the object's page index at ``start``
    prot: int

    @property
    def huge(self) -> bool:
        return self.kind in ("thp", "hugetlb", "hugetlb_shared")

    @property
    def shared(self) -> bool:
        return self.kind in ("shared", "file", "hugetlb_shared")

    def index(self, addr: int) -> int:
        return self.pgoff + (addr - self.start) // PAGE


@dataclass
class Shadow:
    """What a process holds by the documented semantics: its areas, its private pages."""

    areas: list[Area] = field(default_factory=list)
    private: dict[int, bytes] = field(default_factory=dict)  # page address -> contents

    def area(self, addr: int) -> Area | None:
        return next((a for a in self.areas if a.start <= addr < a.end), None)

    def cut(self, start: int, end: int) -> list[Area]:
        """Split areas at ``start`` and ``end``; return those inside [start, end)."""
        out: list[Area] = []
        for edge in (start, end):
            for a in list(self.areas):
                if a.start < edge < a.end:
                    upper = replace(a, start=edge, pgoff=a.index(edge))
                    a.end = edge
                    self.areas.append(upper)
        self.areas.sort(key=lambda a: a.start)
        for a in self.areas:
            if a.start >= start and a.end <= end:
                out.append(a)
        return out


class World(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.k: SimKernel
        self.procs: list[SimProcess] = []
        self.shadow: dict[int, Shadow] = {}
        self.objects: dict[int, dict[int, bytes]] = {}  # object -> page index -> contents
        self.files: list[tuple[int, object]] = []  # (object, SimFile) of named files
        self.pins: list[tuple[SimProcess, int]] = []
        self.filled: set[int] = set()
        self.next_obj = 0

    # --- set-up --------------------------------------------------------------------------
    @initialize(profile=st.sampled_from(PROFILES), topology=topologies())
    def boot(self, profile: str, topology: Topology) -> None:
        self.k = SimKernel(topology=topology, profile=profile)
        self.procs.append(self.k.spawn())
        self.shadow[self.procs[0].pid] = Shadow()
        for n, kind in enumerate(KINDS):  # one mapping of each kind, half of it touched
            self.mmap(0, kind, 4 + n, n, FILESYSTEMS[n % len(FILESYSTEMS)])
            self.fault(0, n, 0, 2 + n, write=n % 3 != 2)

    def _node(self, n: int) -> int:
        """Mostly a node with memory; sometimes a memoryless one or no node at all."""
        if n < 85:
            nodes = self.k.memory_node_ids()
        elif n < 93:
            nodes = self.k.node_ids()
        else:
            nodes = [-1, 1024, 4096, 2**31 - 1]
        return nodes[n % len(nodes)]

    def _nodes(self, picks: list[int]) -> list[int]:
        """A node mask's nodes (the Python API refuses negative ids itself)."""
        return [abs(self._node(n)) for n in picks]

    def _proc(self, i: int) -> SimProcess | None:
        return self.procs[i % len(self.procs)] if self.procs else None

    def _area(self, p: SimProcess, i: int) -> Area | None:
        areas = self.shadow[p.pid].areas
        return areas[i % len(areas)] if areas else None

    def _span(self, area: Area, first: int, count: int) -> tuple[int, int]:
        """A sub-range of ``area``: whole huge pages for huge kinds."""
        unit = HPAGE if area.huge else PAGE
        units = (area.end - area.start) // unit
        lo = first % units
        hi = lo + 1 + count % (units - lo)
        return area.start + lo * unit, area.start + hi * unit

    def _new_obj(self) -> int:
        self.next_obj += 1
        self.objects[self.next_obj] = {}
        return self.next_obj

    # --- processes -----------------------------------------------------------------------
    @rule(uid=st.sampled_from([0, 0, 1000]), mems=st.lists(st.integers(0, 99), max_size=3))
    def spawn(self, uid: int, mems: list[int]) -> None:
        allowed = [n for n in self._nodes(mems) if n in self.k.memory_node_ids()]
        p = self.k.spawn(uid=uid, cpuset_mems=allowed or None)
        self.procs.append(p)
        self.shadow[p.pid] = Shadow()

    @rule(i=st.integers(0, 99))
    def fork(self, i: int) -> None:
        p = self._proc(i)
        if p is None or len(self.procs) > 6:
            return
        child = p.fork()
        mine = self.shadow[p.pid]
        self.shadow[child.pid] = Shadow([replace(a) for a in mine.areas], dict(mine.private))
        self.procs.append(child)

    @rule(i=st.integers(0, 99))
    def exit(self, i: int) -> None:
        p = self._proc(i)
        if p is None:
            return
        p.exit()
        self.procs.remove(p)
        del self.shadow[p.pid]
        self.pins = [(q, a) for q, a in self.pins if q is not p]

    # --- memory ------------------------------------------------------------------------
    @rule(
        i=st.integers(0, 99),
        kind=st.sampled_from(KINDS),
        pages=st.integers(1, 12),
        reuse=st.integers(0, 99),
        fs=st.sampled_from(FILESYSTEMS),
    )
    def mmap(self, i: int, kind: str, pages: int, reuse: int, fs: str) -> None:
        p = self._proc(i)
        if p is None or len(self.shadow[p.pid].areas) > 8:
            return
        if kind == "thp" and not self.k.has_thp:
            kind = "anon"
        if kind in ("thp", "hugetlb", "hugetlb_shared"):
            length = HPAGE * (1 + pages % 2)
            huge = "thp" if kind == "thp" else "hugetlb"
            addr = p.mmap(length, huge=huge, shared=kind == "hugetlb_shared")
            obj = self._new_obj() if kind == "hugetlb_shared" else None
            self.shadow[p.pid].areas.append(Area(addr, addr + length, kind, obj, 0, 3))
            return
        length = pages * PAGE
        obj, pgoff = None, 0
        if kind in ("file", "file_private"):
            sized = [(o, f) for o, f in self.files if f.size >= length]  # type: ignore[attr-defined]
            if sized and reuse % 2:
                obj, f = sized[reuse % len(sized)]
                pgoff = (reuse // 2) % ((f.size - length) // PAGE + 1)  # type: ignore[attr-defined]
            else:
                f = self.k.create_file(length + (reuse % 3) * PAGE, fs=fs)
                obj = self._new_obj()
                self.files.append((obj, f))
            addr = p.mmap(length, file=f, shared=kind == "file", offset=pgoff * PAGE)
        else:
            addr = p.mmap(length, shared=kind == "shared")
            obj = self._new_obj() if kind == "shared" else None
        self.shadow[p.pid].areas.append(Area(addr, addr + length, kind, obj, pgoff, 3))

    @rule(i=st.integers(0, 99), j=st.integers(0, 99), first=st.integers(0, 999),
          count=st.integers(0, 999), write=st.booleans())  # fmt: skip
    def fault(self, i: int, j: int, first: int, count: int, write: bool) -> None:
        p = self._proc(i)
        area = p and self._area(p, j)
        if p is None or area is None:
            return
        start, end = self._span(area, first, count)
        if not area.prot & (PROT_WRITE if write else PROT_READ):
            with pytest.raises(Segfault):
                (p.touch if write else p.read)(start, end - start)
            return
        # the kernel would OOM-kill; or an unmodelled corner, refused loudly
        with tolerated():
            (p.touch if write else p.read)(start, end - start)
        if write:
            self._copied_on_write(p, start, end)

    def _copied_on_write(self, p: SimProcess, start: int, end: int) -> None:
        """A write fault in a private file mapping copies the page as it is now (COW)."""
        assert p.mm is not None
        mine = self.shadow[p.pid]
        for area in mine.areas:
            if area.kind != "file_private":
                continue
            for addr in range(max(start, area.start), min(end, area.end), PAGE):
                frame = p.mm.pt.get(addr // PAGE)
                if frame is not None and frame.flags & ANON and addr not in mine.private:
                    mine.private[addr] = self.expected(p, addr)

    @rule(i=st.integers(0, 99), j=st.integers(0, 99), page=st.integers(0, 9999),
          offset=st.integers(0, PAGE - 8), value=st.binary(min_size=1, max_size=8))  # fmt: skip
    def write(self, i: int, j: int, page: int, offset: int, value: bytes) -> None:
        p = self._proc(i)
        area = p and self._area(p, j)
        if p is None or area is None or not area.prot & PROT_WRITE:
            return
        addr = area.start + (page % ((area.end - area.start) // PAGE)) * PAGE
        before = self.expected(p, addr)
        try:
            p.write_bytes(addr + offset, value)
        except (OutOfNodeMemory, NotImplementedError) as exc:
            refused(exc)
            return
        data = before[:offset] + value + before[offset + len(value) :]
        if area.shared:
            assert area.obj is not None
            self.objects[area.obj][area.index(addr)] = data
        else:
            self.shadow[p.pid].private[addr] = data

    @rule(n=st.integers(0, 99), page=st.integers(0, 99), value=st.binary(min_size=1, max_size=8))
    def write_file(self, n: int, page: int, value: bytes) -> None:
        """write(2) to a named file: its page cache, seen by shared and clean private maps."""
        if not self.files:
            return
        obj, f = self.files[n % len(self.files)]
        index = page % (f.size // PAGE)  # type: ignore[attr-defined]
        before = self.objects[obj].get(index, ZEROES)
        try:
            self.k.write_file(f, index * PAGE, value)  # type: ignore[arg-type]
        except OutOfNodeMemory:
            return
        self.objects[obj][index] = value + before[len(value) :]

    @rule(i=st.integers(0, 99), j=st.integers(0, 99), first=st.integers(0, 999),
          count=st.integers(0, 999))  # fmt: skip
    def munmap(self, i: int, j: int, first: int, count: int) -> None:
        p = self._proc(i)
        area = p and self._area(p, j)
        if p is None or area is None:
            return
        start, end = self._span(area, first, count)
        p.munmap(start, end - start)
        mine = self.shadow[p.pid]
        for gone in mine.cut(start, end):
            mine.areas.remove(gone)
        mine.private = {a: d for a, d in mine.private.items() if not start <= a < end}
        self.pins = [(q, a) for q, a in self.pins if q is not p or not start <= a < end]

    @rule(i=st.integers(0, 99), j=st.integers(0, 99), first=st.integers(0, 999),
          count=st.integers(0, 999), prot=st.sampled_from([PROT_NONE, PROT_READ, 3]))  # fmt: skip
    def mprotect(self, i: int, j: int, first: int, count: int, prot: int) -> None:
        p = self._proc(i)
        area = p and self._area(p, j)
        if p is None or area is None:
            return
        start, end = self._span(area, first, count)
        p.mprotect(start, end - start, prot)
        for a in self.shadow[p.pid].cut(start, end):
            a.prot = prot

    @rule(i=st.integers(0, 99), j=st.integers(0, 99))
    def mlock(self, i: int, j: int) -> None:
        p = self._proc(i)
        area = p and self._area(p, j)
        if p is None or area is None or not area.prot & PROT_READ:
            return
        with tolerated():
            p.mlock(area.start, area.end - area.start)  # populates: write faults if writable
        self._copied_on_write(p, area.start, area.end)

    # --- world-building ------------------------------------------------------------------
    def _mapped_page(self, i: int, j: int, page: int) -> tuple[SimProcess, int] | None:
        p = self._proc(i)
        area = p and self._area(p, j)
        if p is None or area is None:
            return None
        addr = area.start + (page % ((area.end - area.start) // PAGE)) * PAGE
        assert p.mm is not None
        frame = p.mm.pt.get(addr // PAGE)
        return None if frame is None or frame.flags & ZERO else (p, addr)

    @rule(i=st.integers(0, 99), j=st.integers(0, 99), page=st.integers(0, 9999))
    def pin(self, i: int, j: int, page: int) -> None:
        found = self._mapped_page(i, j, page)
        if found is not None and not found[0].mm.pt[found[1] // PAGE].flags & SWAPPED:  # type: ignore[union-attr]
            vma = found[0].mm.vma_lookup(found[1])  # type: ignore[union-attr]
            if vma is not None and not vma.prot & PROT_READ:
                with pytest.raises(OSError):  # vmsplice reads the page: EFAULT
                    self.k.pin(*found)
                return
            self.k.pin(*found)
            self.pins.append(found)

    @rule(n=st.integers(0, 99))
    def unpin(self, n: int) -> None:
        while self.pins:
            p, addr = self.pins.pop(n % len(self.pins))
            assert p.mm is not None
            frame = p.mm.pt.get(addr // PAGE)
            if frame is not None and frame.pins:  # still the pinned page (not COW-replaced)
                self.k.unpin(p, addr)
                return

    @rule(i=st.integers(0, 99), j=st.integers(0, 99), page=st.integers(0, 9999),
          action=st.sampled_from(["swap", "isolate", "putback"]))  # fmt: skip
    def page_state(self, i: int, j: int, page: int, action: str) -> None:
        found = self._mapped_page(i, j, page)
        if found is None:
            return
        p, addr = found
        assert p.mm is not None
        frame = p.mm.pt[addr // PAGE]
        if action == "swap":
            if not (frame.mapping or frame.order or frame.pins or frame.flags & SWAPPED):
                self.k.swap_out(p, addr)
        elif action == "isolate" and not frame.flags & SWAPPED:
            self.k.isolate(p, addr)
        else:
            self.k.putback(p, addr)

    @rule(n=st.integers(0, 99), left=st.integers(0, 600))
    def fill_or_drain(self, n: int, left: int) -> None:
        nodes = self.k.memory_node_ids()
        nid = nodes[n % len(nodes)]
        if nid in self.filled:
            self.k.drain_node(nid)
            self.filled.discard(nid)
        elif self.k.nodes[nid].free >= left:
            self.k.fill_node(nid, left)
            self.filled.add(nid)

    # --- policies and cpusets --------------------------------------------------------------
    @rule(i=st.integers(0, 99), mems=st.lists(st.integers(0, 99), max_size=3),
          migrate=st.booleans())  # fmt: skip
    def set_cpuset(self, i: int, mems: list[int], migrate: bool) -> None:
        p = self._proc(i)
        allowed = [n for n in self._nodes(mems) if n in self.k.memory_node_ids()]
        if p is None or not allowed:
            return
        with tolerated():
            p.set_cpuset(allowed, memory_migrate=migrate)

    MODES = st.sampled_from(
        [MPOL_DEFAULT, MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED, MPOL_LOCAL,
         MPOL_BIND | MPOL_F_STATIC_NODES]
    )  # fmt: skip

    @rule(i=st.integers(0, 99), mode=MODES, nodes=st.lists(st.integers(0, 99), max_size=3))
    def set_mempolicy(self, i: int, mode: int, nodes: list[int]) -> None:
        p = self._proc(i)
        if p is None:
            return
        try:
            p.set_mempolicy(mode, self._nodes(nodes))
        except OSError as exc:
            assert exc.errno in (errno.EINVAL, errno.ENODEV, errno.EFAULT), exc
        except OutOfNodeMemory as exc:
            refused(exc)

    @rule(i=st.integers(0, 99), j=st.integers(0, 99), mode=MODES,
          nodes=st.lists(st.integers(0, 99), max_size=3),
          flags=st.sampled_from([0, MPOL_MF_MOVE, MPOL_MF_MOVE | 1]))  # fmt: skip
    def mbind(self, i: int, j: int, mode: int, nodes: list[int], flags: int) -> None:
        p = self._proc(i)
        area = p and self._area(p, j)
        if p is None or area is None:
            return
        try:
            p.mbind(area.start, area.end - area.start, mode, self._nodes(nodes), flags)
        except OSError as exc:
            assert exc.errno in (errno.EINVAL, errno.EIO, errno.EFAULT, errno.ENOMEM), exc
        except (OutOfNodeMemory, NotImplementedError) as exc:
            refused(exc)
            pass

    # --- migration -------------------------------------------------------------------------
    @rule(i=st.integers(0, 99), t=st.integers(0, 99),
          picks=st.lists(st.tuples(st.integers(0, 99), st.integers(0, 9999)), min_size=1,
                         max_size=8),
          dests=st.lists(st.integers(0, 99), min_size=8,
                           max_size=8),
          query=st.booleans(), move_all=st.booleans(), hole=st.booleans())  # fmt: skip
    def move_pages(
        self,
        i: int,
        t: int,
        picks: list[tuple[int, int]],
        dests: list[int],
        query: bool,
        move_all: bool,
        hole: bool,
    ) -> None:
        caller, target = self._proc(i), self._proc(t)
        if caller is None or target is None:
            return
        areas = self.shadow[target.pid].areas
        addrs = [
            areas[j % len(areas)].start + PAGE * (n % ((areas[j % len(areas)].end
                                                        - areas[j % len(areas)].start) // PAGE))
            if areas else PAGE
            for j, n in picks
        ]  # fmt: skip
        if hole:
            addrs.append(PAGE)  # below mmap_min_addr: never mapped
        nodes = None if query else [self._node(dests[n % 8]) for n in range(len(addrs))]
        before = [_kind(self.k, target, a) for a in addrs]
        assert target.mm is not None
        folios = [id(target.mm.pt.get(a // PAGE)) for a in addrs]
        flags = MPOL_MF_MOVE_ALL if move_all else MPOL_MF_MOVE
        pid = 0 if caller is target else target.pid
        try:
            ret, status = caller.move_pages(pid, addrs, nodes, flags)
        except OSError as exc:
            assert exc.errno in MOVE_PAGES_ERRNOS, exc
            seen(f"move_pages {errno.errorcode[exc.errno or 0]}")
            _check_explained(caller, None)
            return
        except (OutOfNodeMemory, NotImplementedError) as exc:
            refused(exc)
            return  # (the API's own arrays need memory too: a full node OOM-kills)
        _check_explained(caller, status)
        profile = self.k.profile
        if query:
            assert ret == 0, ret
        assert 0 <= ret <= len(addrs), ret
        for n, (value, kind) in enumerate(zip(status, before, strict=True)):
            allowed = _allowed(self.k, kind, None if nodes is None else nodes[n], query)
            assert value in allowed, (n, kind, value, sorted(allowed), profile.name)
            seen(f"status {kind[0]} {'node' if value >= 0 else format_status(value)}")
            if value >= 0 and nodes is not None and folios.count(folios[n]) == 1:
                assert target.mm is not None
                frame = target.mm.pt.get(addrs[n] // PAGE)
                assert frame is not None and frame.nid == value, (n, value, frame)

    @rule(i=st.integers(0, 99), t=st.integers(0, 99),
          old=st.lists(st.integers(0, 99), max_size=3),
          new=st.lists(st.integers(0, 99), max_size=3))  # fmt: skip
    def migrate_pages(self, i: int, t: int, old: list[int], new: list[int]) -> None:
        caller, target = self._proc(i), self._proc(t)
        if caller is None or target is None:
            return
        pid = 0 if caller is target else target.pid
        try:
            ret = caller.migrate_pages(pid, self._nodes(old), self._nodes(new))
        except OSError as exc:
            assert exc.errno in MIGRATE_PAGES_ERRNOS, exc
            seen(f"migrate_pages {errno.errorcode[exc.errno or 0]}")
            _check_explained(caller, None)
            return
        except (OutOfNodeMemory, NotImplementedError) as exc:
            refused(exc)
            return
        assert ret >= 0
        _check_explained(caller, None)
        seen("migrate_pages ok" if ret == 0 else "migrate_pages > 0")

    # --- invariants ---------------------------------------------------------------------------
    @invariant()
    def consistent(self) -> None:
        STEPS["run"] += 1
        if not hasattr(self, "k"):
            return
        self.k.check_consistency()
        for p in self.procs:
            for area in self.shadow[p.pid].areas:
                step = 1 if not area.huge else 61  # huge areas: a sample of their pages
                for addr in range(area.start, area.end, step * PAGE):
                    assert _peek(p, addr) == self.expected(p, addr), (p, hex(addr), area)

    def expected(self, p: SimProcess, addr: int) -> bytes:
        area = self.shadow[p.pid].area(addr)
        assert area is not None
        if addr in self.shadow[p.pid].private:
            return self.shadow[p.pid].private[addr]
        if area.obj is not None:
            return self.objects[area.obj].get(area.index(addr), ZEROES)
        return ZEROES

    def teardown(self) -> None:
        """Every process exits: what is left is named files' caches, pins and fill_node."""
        if hasattr(self, "k"):
            self.k.close()
            self.k.check_consistency()
            assert not any(p.mm and p.mm.pt for p in self.k.tasks.values())


def _check_explained(caller: SimProcess, status: list[int] | None) -> None:
    """The call's record explains it: its answer and every status written name clauses of
    the registry that speak of that very value, and the record holds what memory holds."""
    rec = caller.last_call
    assert rec is not None and rec.answer is not None
    assert rec.answer.clauses, f"{rec.name} answered {rec.ret}/{rec.errno} with no clause"
    if rec.errno:
        name = errno.errorcode[rec.errno]
        assert any(name in c for c in rec.answer.clauses), (name, rec.answer.clauses)
    decided = rec.statuses()
    named = set(rec.answer.clauses).union(*(d.clauses for d in decided.values()))
    assert named <= set(CLAUSES), sorted(named - set(CLAUSES))
    if status is None:
        return
    for n, value in enumerate(status):
        d = decided.get(n)
        if d is None:
            assert value == UNWRITTEN, (n, value)
            continue
        assert d.value == value and d.clauses, (n, value, d)
        if value < 0:
            name = errno.errorcode[-value]
            assert name in d.clauses[0], (n, name, d.clauses)
        else:
            assert "status.node" in d.clauses[0] or "already_on_target" in d.clauses[0], d


MOVE_PAGES_ERRNOS = {errno.EACCES, errno.ENODEV, errno.EPERM, errno.ESRCH, errno.EINVAL,
                     errno.ENOENT, errno.E2BIG, errno.ENOMEM, errno.EFAULT}  # fmt: skip
MIGRATE_PAGES_ERRNOS = {errno.EINVAL, errno.EPERM, errno.ESRCH, errno.EFAULT, errno.ENOMEM}


def _kind(k: SimKernel, p: SimProcess, addr: int) -> tuple[str, int, int, int, bool]:
    """The page at ``addr`` before a call: (state, node, mapcount, pins, hugetlb/isolated)."""
    assert p.mm is not None
    vma = p.mm.vma_lookup(addr)
    if vma is None:
        return ("unmapped", -1, 0, 0, False)
    frame = p.mm.pt.get(addr // PAGE)
    if frame is None:
        return ("absent", -1, 0, 0, vma.huge == "hugetlb")
    if frame.flags & SWAPPED:
        return ("swapped", -1, 0, 0, False)
    if frame.flags & ZERO:
        return ("zero", -1, 0, 0, False)
    state = "prot_none" if vma.prot == PROT_NONE else "present"
    special = bool(frame.flags & (HUGETLB | ISOLATED)) or frame.mapping is not None
    return (state, frame.nid, frame.mapcount, frame.pins, special)


def _allowed(
    k: SimKernel, kind: tuple[str, int, int, int, bool], node: int | None, query: bool
) -> set[int]:
    """The statuses a page of this kind may get at this profile (node or -errno)."""
    state, nid, mapcount, pins, special = kind
    profile = k.profile
    absent = {-errno.ENOENT, -errno.EFAULT}
    out: set[int]
    if state == "unmapped":
        out = {-errno.EFAULT}
        if profile.has(Quirk.HOLE_BELOW_VMA_ENOENT):
            out.add(-errno.ENOENT)
    elif state in ("absent", "zero"):
        out = absent
    elif state == "swapped":
        out = {-errno.ENOENT}
    elif query:
        out = {nid}
        if state == "prot_none" and profile.has(Quirk.PROT_NONE_NOT_FOLLOWED):
            out = {-errno.ENOENT}
    else:
        out = {nid, -errno.EBUSY, -errno.ENOMEM}  # already there; isolated or twice; no room
        if node is not None and node >= 0:
            out.add(node)
        if state == "prot_none" and profile.has(Quirk.PROT_NONE_NOT_FOLLOWED):
            out = {-errno.ENOENT}
        if mapcount > 1 or special:
            out.add(-errno.EACCES)
        if pins:
            out.add(-errno.EAGAIN)
        if special:  # files whose fs cannot migrate or write back; hugetlb before 3.12
            out |= {-errno.EIO, -errno.EINVAL, -errno.EFAULT}
    if not query:
        out.add(UNWRITTEN)  # a failing batch and what follows stay unwritten (4.17+)
    return out


def _peek(p: SimProcess, addr: int) -> bytes:
    """What a read of the page at ``addr`` returns, without faulting anything in."""
    mm = p.mm
    assert mm is not None
    vpn = addr // PAGE
    frame = mm.pt.get(vpn)
    vma = mm.vma_lookup(addr)
    assert vma is not None
    if frame is None and vma.file is not None:
        index = vma.file_index(vpn - vpn % HPAGES if vma.huge == "hugetlb" else vpn)
        frame = vma.file.pages.get(index)
    if frame is None or frame.data is None:
        return ZEROES
    offset = (vpn % HPAGES) * PAGE if frame.order else 0
    return bytes(frame.data[offset : offset + PAGE])


World.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=40,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_world = World.TestCase


def test_steps_ran() -> None:
    """The machine ran (a figure for the campaign in README)."""
    print(f"state machine: {STEPS['run']} steps checked")
    for what, count in sorted(SEEN.items()):
        print(f"  {count:7d}  {what}")
