"""Differential fuzzing: random programs of world-building and NUMA syscalls, run on a
real kernel and on the simulator mirroring it, every answer compared.

A program is plain data: a list of ``Step``s, each an operation name and its
arguments (ints, tuples of ints, None), JSON round-trippable.  Processes and mappings
are named by index, never by pid or address, so one program runs alike on every
backend.  A root process exists from the start; ``spawn`` and ``fork`` add one.
Process ``p`` of a step is the ``p``-th live process (modulo their number), mapping
``k`` the ``k``-th live mapping of the process the step acts on; with none there,
the step does nothing ("skip"), on every backend alike.

The observation of a run: every raw syscall as ``RecordedKernel`` logged it (return
value, errno, the whole sentinel-filled output array), each step's outcome, and at
the end the node of every page of every live mapping (a move_pages query) and a
digest of its contents.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from conformance.recording import Call, RecordedKernel, RecordedProcess
from simnuma.abi import (
    MPOL_F_ADDR,
    MPOL_F_MEMS_ALLOWED,
    MPOL_F_NODE,
    MPOL_F_STATIC_NODES,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Kernel,
    SyscallError,
)

Arg = Any  # int | None | tuple[int, ...] | tuple[tuple[int, ...], ...]

OPS = (
    "spawn",
    "fork",
    "exit",
    "mmap",
    "munmap",
    "mprotect",
    "write",
    "touch",
    "move_pages",
    "migrate_pages",
    "set_mempolicy",
    "get_mempolicy",
    "mbind",
    "file",
    "mlock",
    "pin",
    "setresuid",
    "thp",
)

# a spawn's capabilities: the uid's own (root: all), none, or CAP_SYS_NICE alone
CAPS: dict[int, list[str] | None] = {0: None, 1: [], 2: ["CAP_SYS_NICE"]}

# move_pages' target: the caller itself (pid 0), or a pid no process has.
SELF = -1
NO_SUCH_PID = -2
_NO_SUCH_PID_VALUE = (1 << 22) + 12345  # above any pid_max (PID_MAX_LIMIT is 2**22)

# A page reference (k, i, off): page i of mapping k, plus off bytes; k == LOW names
# page i of the first 64 KiB, which no process can map (mmap_min_addr).
LOW = -1
LOW_PAGES = 4

MAX_PAGES = 4  # pages of one mapping
PTRS_PER_PTE = 512  # pages one x86-64 page table maps
MAX_STEPS = 14


@dataclass(frozen=True)
class Step:
    op: str
    args: tuple[Arg, ...] = ()

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"op: unknown operation {self.op!r}")

    def to_json(self) -> list[Any]:
        return [self.op, *(_listify(a) for a in self.args)]

    @classmethod
    def from_json(cls, value: object) -> Step:
        if not isinstance(value, list) or not value or not isinstance(value[0], str):
            raise ValueError(f"step must be a list [op, args...], got {value!r}")
        return cls(value[0], tuple(_tuplify(a) for a in value[1:]))


def _listify(a: Arg) -> Any:
    return [_listify(x) for x in a] if isinstance(a, tuple) else a


def _tuplify(a: Any) -> Arg:
    if isinstance(a, list):
        return tuple(_tuplify(x) for x in a)
    if a is None or (isinstance(a, int) and not isinstance(a, bool)):
        return a
    raise ValueError(f"step argument must be an int, null or a list, got {a!r}")


Program = list[Step]


def program_to_json(program: Sequence[Step]) -> list[Any]:
    return [s.to_json() for s in program]


def program_from_json(value: object) -> Program:
    if not isinstance(value, list):
        raise ValueError(f"program must be a list of steps, got {type(value).__name__}")
    return [Step.from_json(v) for v in value]


def dumps(program: Sequence[Step]) -> str:
    """One line per step: diff-friendly regression files."""
    steps = ",\n  ".join(json.dumps(s.to_json()) for s in program)
    return f"[\n  {steps}\n]" if program else "[]"


# --- running a program ---------------------------------------------------------------


@dataclass
class _Mapping:
    addr: int
    pages: int
    prot: int = PROT_READ | PROT_WRITE
    live: bool = True
    placed: bool = True  # at a chosen offset from a page table's start (_Run.place)


@dataclass
class _Proc:
    proc: RecordedProcess
    mappings: list[_Mapping] = field(default_factory=list)
    live: bool = True
    # nothing but get_mempolicy ran since its last set_mempolicy: the interleave
    # rotor is where the program left it (any fault, fork, mmap... may allocate page
    # tables or slab pages by it, which the kernel does not let a program see)
    rotor_known: bool = False


class _Skip(Exception):
    """The step names something that is not there (on every backend alike)."""


class _Run:
    def __init__(self, kernel: Kernel) -> None:
        self.log: list[Call] = []
        self.kernel = RecordedKernel(kernel, self.log)
        self.page = kernel.page_size
        # every process runs on the first node with CPUs (a fork's child too, as its
        # parent): where the scheduler put it would decide where a first touch lands
        self.home = kernel.cpu_node_ids()[0] if "run_on" in kernel.features else None
        self.procs: list[_Proc] = [_Proc(self.spawned(uid=0))]
        self.files: list[Any] = []
        # the inode number of each shmem object (file, shared anonymous mapping) as it
        # was made: the real kernel's are handed to the simulator (plan_inodes)
        self.inos: list[int] = []

    def spawned(self, **how: Any) -> RecordedProcess:
        proc = self.kernel.spawn(**how)
        if self.home is not None:
            self.kernel.run_on(proc, self.home)
        return proc

    def proc(self, p: int, *, mapped: bool = False) -> _Proc:
        """The ``p``-th live process (modulo their number); with ``mapped``, among those
        with a live mapping if there are any."""
        live = [e for e in self.procs if e.live]
        if mapped:
            live = [e for e in live if any(m.live for m in e.mappings)] or live
        if not live:
            raise _Skip
        return live[p % len(live)]

    def mapping(self, proc: _Proc, k: int) -> _Mapping:
        """The ``k``-th live mapping of ``proc`` (modulo their number)."""
        live = [m for m in proc.mappings if m.live]
        if not live:
            raise _Skip
        return live[k % len(live)]

    def address(self, proc: _Proc, ref: tuple[int, ...]) -> int:
        """A page reference's address; an unmapped range is never named (a call's
        scratch arrays may lie there on one backend and not on another)."""
        k, i, off = ref
        live = [m for m in proc.mappings if m.live]
        if k == LOW or not live:
            return (i % LOW_PAGES) * self.page + off
        m = live[k % len(live)]
        return m.addr + (i % m.pages) * self.page + off

    def target(self, t: int) -> tuple[int, _Proc | None]:
        if t == SELF:
            return 0, None
        if t == NO_SUCH_PID:
            return _NO_SUCH_PID_VALUE, None
        entry = self.proc(t, mapped=True)
        return entry.proc.pid, entry

    def step(self, s: Step) -> Any:
        a = s.args
        if s.op not in ("get_mempolicy", "set_mempolicy", "spawn"):
            for entry in self.procs:
                entry.rotor_known = False  # a step of one process may fault in another's memory
        if s.op == "spawn":
            caps = CAPS[a[1]] if len(a) > 1 else None
            mems = list(a[2]) if len(a) > 2 and a[2] is not None else None
            self.procs.append(_Proc(self.spawned(uid=a[0], caps=caps, cpuset_mems=mems)))
        elif s.op == "fork":
            parent = self.proc(a[0])
            child = parent.proc.fork()
            copied = [dataclasses.replace(m) for m in parent.mappings]
            self.procs.append(_Proc(child, copied))
        elif s.op == "exit":
            entry = self.proc(a[0])
            entry.proc.exit()
            entry.live = False
        elif s.op == "mmap" and len(a) > 5 and a[5] is not None:
            # a tmpfs file (where the program's "file" steps made one), at whatever
            # address the kernel picks: only where a mapping lies decides fault-around,
            # and no read fault is made in one (get_mempolicy below)
            if not self.files:
                raise _Skip
            f = self.files[a[5] % len(self.files)]
            entry = self.proc(a[0])
            pages = min(a[1], f.size // self.page)
            addr = entry.proc.mmap(pages * self.page, shared=bool(a[2]), file=f)
            entry.mappings.append(_Mapping(addr, pages, placed=False))
            if a[3]:
                entry.proc.touch(addr, pages * self.page)
        elif s.op == "mmap":
            entry = self.proc(a[0])
            addr = self.place(entry.proc, a[1], bool(a[2]), a[4] if len(a) > 4 else 0)
            if a[2]:
                self.inos.append(self.kernel.mapping_inode(entry.proc, addr))
            entry.mappings.append(_Mapping(addr, a[1]))
            if a[3]:
                entry.proc.touch(addr, a[1] * self.page)
        elif s.op == "file":
            f = self.kernel.create_file(a[0] * self.page)
            self.inos.append(self.kernel.file_inode(f))
            if a[1]:  # write(2) puts the first page in the page cache, mapped nowhere
                self.kernel.write_file(f, 0, bytes([a[1] % 256]) * 64)
            self.files.append(f)
        elif s.op == "mlock":
            entry = self.proc(a[0], mapped=True)
            m = self.mapping(entry, a[1])
            entry.proc.mlock(m.addr, m.pages * self.page)
        elif s.op == "pin":
            # vmsplice() takes a page that is there; the query (recorded, as any call)
            # says whether one is
            entry = self.proc(a[0], mapped=True)
            m = self.mapping(entry, a[1])
            at = m.addr + (a[2] % m.pages) * self.page
            if entry.proc.move_pages(0, [at], None, 0).status[0] < 0:
                raise _Skip
            self.kernel.pin(entry.proc, at)
        elif s.op == "thp":
            # a 2 MiB-aligned anonymous range with MADV_HUGEPAGE; a touch faults a THP
            entry = self.proc(a[0])
            pages = PTRS_PER_PTE
            addr = int(entry.proc.mmap(pages * self.page, huge="thp"))
            entry.mappings.append(_Mapping(addr, pages, placed=False))
            if a[1]:
                entry.proc.touch(addr, pages * self.page)
        elif s.op == "setresuid":
            self.proc(a[0]).proc.setresuid(a[1], a[1], a[1])
        elif s.op == "munmap":
            entry = self.proc(a[0], mapped=True)
            m = self.mapping(entry, a[1])
            entry.proc.munmap(m.addr, m.pages * self.page)
            m.live = False
        elif s.op == "mprotect":
            entry = self.proc(a[0], mapped=True)
            m = self.mapping(entry, a[1])
            entry.proc.mprotect(m.addr, m.pages * self.page, a[2])
            m.prot = a[2]
        elif s.op in ("write", "touch"):
            entry = self.proc(a[0], mapped=True)
            m = self.mapping(entry, a[1])
            if m.prot != PROT_READ | PROT_WRITE:
                raise _Skip
            if s.op == "touch":
                entry.proc.touch(m.addr, m.pages * self.page)
            else:
                at = m.addr + (a[2] % m.pages) * self.page
                entry.proc.write_bytes(at, bytes([a[3] % 256]) * 64)
        elif s.op == "move_pages":
            caller = self.proc(a[0], mapped=a[1] == SELF)
            pid, target = self.target(a[1])
            owner = target or caller
            pages = [self.address(owner, ref) for ref in a[2]]
            nodes = None if a[3] is None else list(a[3])
            if nodes is not None:
                nodes = (nodes * (len(pages) // max(len(nodes), 1) + 1))[: len(pages)]
            return tuple(caller.proc.move_pages(pid, pages, nodes, a[4]))
        elif s.op == "migrate_pages":
            caller = self.proc(a[0])
            pid, _ = self.target(a[1])
            return caller.proc.migrate_pages(pid, a[2], a[3])
        elif s.op == "set_mempolicy":
            entry = self.proc(a[0])
            entry.proc.set_mempolicy(a[1], a[2])
            entry.rotor_known = True
        elif s.op == "get_mempolicy":
            entry = self.proc(a[0], mapped=a[2] is not None)
            addr = 0 if a[2] is None else self.address(entry, a[2])
            if a[1] & MPOL_F_NODE and a[1] & MPOL_F_ADDR and not self.placed(entry, addr):
                raise _Skip  # a read fault: it maps around where the kernel put the file
            if a[1] & MPOL_F_NODE and not a[1] & MPOL_F_ADDR and not entry.rotor_known:
                raise _Skip  # the rotor's next node, after allocations nobody can count
            mode, nodes = entry.proc.get_mempolicy(a[1], addr)
            return (mode, tuple(nodes))
        elif s.op == "mbind":
            entry = self.proc(a[0], mapped=True)
            m = self.mapping(entry, a[1])
            entry.proc.mbind(m.addr, m.pages * self.page, a[2], a[3], a[4])
        return None

    def placed(self, entry: _Proc, addr: int) -> bool:
        """Whether ``addr`` lies in no mapping, or in one _Run.place put where it is."""
        return all(
            m.placed or not m.addr <= addr < m.addr + m.pages * self.page
            for m in entry.mappings
            if m.live
        )

    def place(self, proc: RecordedProcess, pages: int, shared: bool, offset: int) -> int:
        """Map ``pages`` pages ``offset`` pages past a 6 MiB boundary, the same on every
        kernel: a read fault maps around within an aligned 64 KiB window of one page
        table (2 MiB), and interleave picks a node by the page's number in its object
        (the address, for private memory) modulo the nodes (1 to 3 here), so two
        kernels agree on both only if their mappings lie alike.  A private mapping
        twice as large finds the place; the mapping goes there as a hint (mmap(2)
        without MAP_FIXED), so that a shared one's object starts at it."""
        align = 3 * PTRS_PER_PTE * self.page
        length = pages * self.page
        span = 2 * align + length
        probe = int(proc.mmap(span))
        start = -(-probe // align) * align + (offset % PTRS_PER_PTE) * self.page
        proc.munmap(probe, span)
        addr = int(proc.mmap(length, shared=shared, addr=start))
        if addr != start:
            raise RuntimeError(f"mmap: the hint {start:#x} was free, the kernel chose {addr:#x}")
        return addr

    def final(self) -> tuple[list[Any], list[Any]]:
        """The node of every page of every live mapping, and a digest of its contents."""
        nodes: list[Any] = []
        contents: list[Any] = []
        for p, entry in enumerate(self.procs):
            if not entry.live:
                continue
            for k, m in enumerate(entry.mappings):
                if not m.live:
                    continue
                pages = [m.addr + i * self.page for i in range(m.pages)]
                query = functools.partial(entry.proc.move_pages, 0, pages, None, 0)
                nodes.append([p, k, outcome(query)])
                if m.prot & PROT_READ:
                    data = entry.proc.read_bytes(m.addr, m.pages * self.page)
                    contents.append([p, k, hashlib.sha256(data).hexdigest()[:16]])
        return nodes, contents


def outcome(thunk: Callable[[], Any]) -> Any:
    """A step's result as plain data: its value, "skip", or the exception's kind."""
    try:
        return _plain(thunk())
    except _Skip:
        return "skip"
    except SyscallError as exc:
        return f"SyscallError:{exc.errno}"
    except (TypeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    except OSError as exc:
        return f"{type(exc).__name__}:{exc.errno}"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def execute(
    kernel: Kernel, program: Sequence[Step], inos: Sequence[int] | None = None
) -> dict[str, Any]:
    """Run ``program`` on ``kernel`` (which the caller closes) and return what it saw:
    ``steps`` (each step's outcome), ``calls`` (the raw syscall log), ``nodes`` and
    ``contents`` afterwards, and ``inos`` (not compared: each kernel numbers its own).
    JSON-serialisable, comparable with ==.  A simulator given ``inos`` (a real run's)
    numbers its shmem objects alike, so that interleaving them is compared by its rule."""
    plan = getattr(kernel, "plan_inodes", None)
    if inos is not None and plan is not None:
        plan(list(inos))
    run = _Run(kernel)
    steps = [outcome(functools.partial(run.step, s)) for s in program]
    calls = [list(_plain(c)) for c in run.log]
    nodes, contents = run.final()
    return {"steps": steps, "calls": calls, "nodes": nodes, "contents": contents, "inos": run.inos}


def run_on(
    open_kernel: Callable[[], Kernel], program: Sequence[Step], inos: Sequence[int] | None = None
) -> dict[str, Any]:
    """``execute`` on a fresh kernel, closed afterwards whatever happens."""
    kernel = open_kernel()
    try:
        return execute(kernel, program, inos)
    finally:
        kernel.close()


def difference(real: dict[str, Any], sim: dict[str, Any]) -> list[str]:
    """What differs between two observations, one line each (empty: they agree)."""
    out: list[str] = []
    for key in ("steps", "calls", "nodes", "contents"):
        r, s = real.get(key, []), sim.get(key, [])
        for i in range(max(len(r), len(s))):
            rv = r[i] if i < len(r) else "(none)"
            sv = s[i] if i < len(s) else "(none)"
            if rv != sv:
                out.append(f"{key}[{i}]: real {rv}, sim {sv}")
    return out


# --- generation ------------------------------------------------------------------------


def node_universe(nodes: Sequence[int], max_numnodes: int = 1024) -> list[int]:
    """Node ids the generator draws from: the kernel's own, the next ones (absent),
    and MAX_NUMNODES' edge."""
    top = max(nodes, default=0)
    return sorted({*nodes, top + 1, top + 2, 63, 64, max_numnodes - 1, max_numnodes})


def programs(
    nodes: Sequence[int],
    *,
    max_steps: int = MAX_STEPS,
    max_numnodes: int = 1024,
    read_faults: bool = True,
    cpusets: bool = False,
    thp: bool = False,
    pins: bool = True,
) -> st.SearchStrategy[Program]:
    """Programs over the operations every backend performs, on a kernel with ``nodes``.
    Without ``read_faults``, get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR), the only read
    fault a program makes (and so the only fault-around), is not generated; with
    ``cpusets`` (the real kernel has a writable cpuset hierarchy), spawns in a cpuset
    are, with ``thp`` (it faults transparent huge pages on demand) THP mappings, and
    without ``pins`` (numa-sim-run: a real pin is invisible to its simulator) no pins."""
    universe = node_universe(nodes, max_numnodes)
    proc = st.integers(0, 3)
    mapping = st.integers(0, 3)
    node = st.one_of(st.sampled_from(sorted(nodes)), st.sampled_from(universe))
    bad_node = st.sampled_from([-1, -22])
    mask = st.lists(node, max_size=3).map(tuple)
    ref = st.tuples(
        st.integers(0, 3) | st.integers(0, 3) | st.just(LOW),
        st.integers(0, MAX_PAGES - 1),
        st.sampled_from([0, 0, 0, 1, 100, 4095]),
    )
    target = st.one_of(st.just(SELF), st.just(NO_SUCH_PID), proc)
    move_flags = st.sampled_from(
        [0, 0, MPOL_MF_MOVE, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, MPOL_MF_MOVE | MPOL_MF_MOVE_ALL, 1, 8]
    )
    mode = st.sampled_from([0, 1, 2, 3, 4, 5, 7, 2 | MPOL_F_STATIC_NODES])
    mbind_flags = st.sampled_from([0, MPOL_MF_STRICT, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, 16])
    get_flags = st.sampled_from(
        [0, MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED, 8]
        + ([MPOL_F_NODE | MPOL_F_ADDR] if read_faults else [])
    )

    def step(op: str, *args: st.SearchStrategy[Any]) -> st.SearchStrategy[Step]:
        return st.tuples(*args).map(lambda t: Step(op, t))

    refs = st.lists(ref, min_size=1, max_size=4).map(tuple)
    # where in its page table a mapping starts: at the start, just inside a 64 KiB
    # window's end (a fault-around window cut by the VMA), or at the table's end
    offset = st.sampled_from([0, 0, 1, 14, 15, 509, 510, 511])
    mmap = step(
        "mmap", proc, st.integers(1, MAX_PAGES), st.integers(0, 1), st.integers(0, 1), offset
    )
    # the same, of the k-th file the program made
    mmap_file = step(
        "mmap",
        proc,
        st.integers(1, MAX_PAGES),
        st.integers(0, 1),
        st.integers(0, 1),
        st.just(0),
        st.integers(0, 3),
    )
    move_pages = step(
        "move_pages",
        proc,
        target,
        refs,
        st.one_of(st.none(), st.lists(st.one_of(node, bad_node), min_size=1, max_size=4)),
        move_flags,
    )
    touch = step("touch", proc, mapping)
    step_strategy = st.one_of(
        mmap,
        touch,
        step("write", proc, mapping, st.integers(0, MAX_PAGES - 1), st.integers(1, 255)),
        move_pages,
        move_pages,
        step("spawn", st.sampled_from([0, 1000])),
        step(
            "spawn",
            st.sampled_from([0, 1000]),
            st.sampled_from(list(CAPS)),
            st.just(None) if not cpusets else st.one_of(st.none(), mask),
        ),
        step("fork", proc),
        step("exit", proc),
        mmap,
        step("munmap", proc, mapping),
        step("mprotect", proc, mapping, st.sampled_from([PROT_NONE, PROT_READ])),
        step("migrate_pages", proc, target, mask, mask),
        step("set_mempolicy", proc, mode, mask),
        step("get_mempolicy", proc, get_flags, st.one_of(st.none(), ref)),
        step("mbind", proc, mapping, mode, mask, mbind_flags),
        move_pages,
        touch,
        step("file", st.integers(1, MAX_PAGES), st.sampled_from([0, 0, 7])),
        mmap_file,
        mmap_file,
        step("mlock", proc, mapping),
        *([step("pin", proc, mapping, st.integers(0, MAX_PAGES - 1))] if pins else []),
        step("setresuid", proc, st.sampled_from([0, 1000])),
        *([step("thp", proc, st.integers(0, 1))] if thp else []),
    )
    # a program starts with a mapping, so that most steps have pages to work on
    return st.tuples(mmap, st.lists(step_strategy, max_size=max_steps - 1)).map(
        lambda t: [
            Step(s.op, tuple(tuple(n) if isinstance(n, list) else n for n in s.args))
            for s in (t[0], *t[1])
        ]
    )


# --- campaigns -------------------------------------------------------------------------


@dataclass
class Disagreement:
    program: Program
    real: dict[str, Any]
    sim: dict[str, Any]
    flaky: str = ""  # the real kernel answered this program differently when it ran again
    sim_answers: int = 1  # how many ways the simulator answered it in those runs

    @property
    def nondeterministic(self) -> bool:
        """Shown to be the real kernel's own variation: it answered in more than one way,
        the simulator (which must be deterministic) in one; recorded, not open."""
        return bool(self.flaky) and self.sim_answers == 1

    @property
    def lines(self) -> list[str]:
        return difference(self.real, self.sim)

    @property
    def signature(self) -> str:
        return signature(self.real, self.sim, self.program)


def signature(real: dict[str, Any], sim: dict[str, Any], program: Sequence[Step]) -> str:
    """What kind of disagreement this is: the first part that differs (for a step, its
    operation; for a raw call, the syscall) and how its values differ (``-2->-14``).
    Distinct kinds are shrunk separately."""
    for key in ("steps", "calls", "nodes", "contents"):
        r, s = real.get(key, []), sim.get(key, [])
        for i in range(max(len(r), len(s))):
            rv = r[i] if i < len(r) else None
            sv = s[i] if i < len(s) else None
            if rv == sv:
                continue
            where = key
            if key == "steps" and i < len(program):
                where = f"steps:{program[i].op}"
            elif key == "calls":
                call = rv if isinstance(rv, list) else sv
                where = f"calls:{call[0] if isinstance(call, list) else '?'}"
            pairs: set[str] = set()
            _changed(rv, sv, pairs)
            return f"{where}:{','.join(sorted(pairs)[:3])}"
    return "none"


def _changed(a: Any, b: Any, out: set[str]) -> None:
    """The leaves where two values of the same shape differ, as ``a->b``."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for x, y in zip(a, b, strict=True):
            _changed(x, y, out)
    elif a != b:
        out.add(f"{json.dumps(a)[:40]}->{json.dumps(b)[:40]}")


@dataclass
class Campaign:
    runs: int = 0
    seconds: float = 0.0
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.runs / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "seconds": self.seconds,
            "disagreements": [
                {"program": program_to_json(d.program), "real": d.real, "sim": d.sim}
                | ({"flaky": d.flaky, "sim_answers": d.sim_answers} if d.flaky else {})
                for d in self.disagreements
            ],
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Campaign:
        found = [
            Disagreement(
                program_from_json(d["program"]),
                d["real"],
                d["sim"],
                d.get("flaky", ""),
                int(d.get("sim_answers", 1)),
            )
            for d in value["disagreements"]
        ]
        return cls(int(value["runs"]), float(value["seconds"]), found)


class _Differs(AssertionError):
    """A disagreement; each signature gets its own subclass, so that hypothesis tells
    the kinds apart and shrinks each to its own minimal program."""


_KINDS: dict[str, type[_Differs]] = {}


def _differs(sig: str) -> type[_Differs]:
    if sig not in _KINDS:
        _KINDS[sig] = type(f"Differs[{sig}]", (_Differs,), {})
    return _KINDS[sig]


def campaign(
    open_real: Callable[[], Kernel],
    open_sim: Callable[[], Kernel],
    nodes: Sequence[int],
    *,
    programs_count: int,
    seed: int,
    max_numnodes: int = 1024,
    max_steps: int = MAX_STEPS,
    read_faults: bool = True,
    cpusets: bool = False,
    thp: bool = False,
    pins: bool = True,
    progress: Callable[[Campaign], None] | None = None,
) -> Campaign:
    """``programs_count`` programs (hypothesis, seeded, no database; shrinking counts) on
    both kernels.  Each kind of disagreement (``signature``) is shrunk to its own minimal
    program.  Hypothesis stops looking soon after a first failure, so a campaign runs in
    rounds: each round takes the kinds found so far as agreement and looks on (seed + the
    round's number) with what is left of the budget.  A program the real kernel does not
    answer the same way in three more runs is kept as found, marked ``flaky``.
    ``progress`` is called after each program."""
    import time

    strategy = programs(
        nodes,
        max_steps=max_steps,
        max_numnodes=max_numnodes,
        read_faults=read_faults,
        cpusets=cpusets,
        thp=thp,
        pins=pins,
    )
    result = Campaign()
    found: dict[str, Disagreement] = {}
    start = time.monotonic()
    for round_ in range(programs_count):
        budget = programs_count - result.runs
        if budget <= 0:
            break
        new = _round(open_real, open_sim, strategy, seed + round_, budget, found, result, progress)
        if not new:
            break
        found.update(new)
    result.disagreements = sorted(found.values(), key=lambda d: d.signature)
    result.seconds = time.monotonic() - start
    return result


def _round(
    open_real: Callable[[], Kernel],
    open_sim: Callable[[], Kernel],
    strategy: st.SearchStrategy[Program],
    seed: int,
    budget: int,
    known: dict[str, Disagreement],
    result: Campaign,
    progress: Callable[[Campaign], None] | None,
) -> dict[str, Disagreement]:
    """One hypothesis run of at most ``budget`` programs; the new kinds it found, each
    at its most shrunk (the last program of that kind hypothesis ran)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis.errors import Flaky

    latest: dict[str, Disagreement] = {}

    @hseed(seed)
    @settings(
        max_examples=budget,
        database=None,
        deadline=None,
        derandomize=False,
        report_multiple_bugs=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
        print_blob=False,
    )
    @given(strategy)
    def check(program: Program) -> None:
        result.runs += 1
        real = run_on(open_real, program)
        sim = run_on(open_sim, program, real["inos"])
        if progress is not None:
            progress(result)
        if not difference(real, sim):
            return
        d = Disagreement(program, real, sim)
        if d.signature not in known:
            latest[d.signature] = d
            raise _differs(d.signature)(program_to_json(program))

    why = ""
    try:
        check()
    except (_Differs, BaseExceptionGroup):
        pass
    except Flaky as exc:  # a failing program passed when hypothesis ran it again
        why = str(exc).splitlines()[0]
    # every kind found is run three more times on both kernels: a real kernel that
    # answers a program in more than one way leaves it to no single answer
    for d in latest.values():
        d.flaky, d.sim_answers = _flakiness(open_real, open_sim, d, why)
    return latest


def _flakiness(
    open_real: Callable[[], Kernel], open_sim: Callable[[], Kernel], d: Disagreement, why: str
) -> tuple[str, int]:
    """Empty if three more runs give the same two answers, else how many each gave;
    and how many the simulator gave."""
    real_runs = [d.real, *_runs(open_real, d.program)]
    reals = {_compared(r) for r in real_runs}
    sims = {
        _compared(s)
        for s in [d.sim, *(run_on(open_sim, d.program, r["inos"]) for r in real_runs[1:])]
    }
    if len(reals) == len(sims) == 1:
        return "", 1
    evidence = (
        f"in 4 runs the real kernel gave {len(reals)} different answer(s), "
        f"the simulator {len(sims)}"
    )
    return (f"{evidence} ({why})" if why else evidence), len(sims)


def _compared(observation: dict[str, Any]) -> str:
    """An observation as the comparison sees it (the inode numbers left out)."""
    return json.dumps({k: v for k, v in observation.items() if k != "inos"}, sort_keys=True)


def _runs(open_kernel: Callable[[], Kernel], program: Program, times: int = 3) -> list[Any]:
    return [run_on(open_kernel, program) for _ in range(times)]


def save(d: Disagreement, directory: str, backend: str, facts: dict[str, Any]) -> str:
    """Write a regression file (named by its program): the backend spec and facts of the
    real kernel, the program, the real kernel's observation, and what the simulator
    answered differently when it was found (and, for a program the real kernel did not
    answer the same way twice, the evidence, under ``nondeterministic``)."""
    import os

    os.makedirs(directory, exist_ok=True)
    name = "fuzz-" + hashlib.sha256(dumps(d.program).encode()).hexdigest()[:12] + ".json"
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_record(backend, facts, d.program, d.real, d.lines, d.flaky))
    return path


def render_record(
    backend: str,
    facts: dict[str, Any],
    program: Sequence[Step],
    real: dict[str, Any],
    found: Sequence[str] = (),
    nondeterministic: str = "",
) -> str:
    """A regression file's JSON, one step and one part of the answer a line."""
    steps = ",\n  ".join(json.dumps(s.to_json()) for s in program)
    parts = ",\n  ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in real.items())
    lines = ",\n  ".join(json.dumps(line) for line in found)
    return (
        "{\n"
        f' "backend": {json.dumps(backend)},\n'
        f' "facts": {json.dumps(facts)},\n'
        f' "program": [\n  {steps}\n ],\n'
        f' "real": {{\n  {parts}\n }},\n'
        f' "found": [\n  {lines}\n ]'
        + (f',\n "nondeterministic": {json.dumps(nondeterministic)}' if nondeterministic else "")
        + "\n}\n"
    )
