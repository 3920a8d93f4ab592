"""The simulated kernel's picture of the supervised programs: one SimProcess per
real process (carrying its real pid), whose VMAs and present pages follow the real
address space, while the simulator alone decides the node of each page.

The real address space is the truth for what is mapped and present; ``sync`` brings
the simulated one level with it before every call the simulator answers.  A page
the program touched since the last sync is faulted in the simulator then, under the
policy in effect: policies change only through calls the simulator answers, each
after a sync, so a page lands where the kernel of that profile would have put it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from simnuma.abi import CAPABILITIES, PROT_WRITE
from simnuma.files import FILESYSTEMS, SimFile
from simnuma.frames import ANON, PAGE_SHIFT, PAGE_SIZE, SWAPPED, ZERO, Frame, OutOfNodeMemory
from simnuma.kernel import SimKernel
from simnuma.mm import VMA, AddressSpace
from simnuma.process import SimProcess
from simnuma.run import remote
from simnuma.run.remote import (
    PM_EXCLUSIVE,
    PM_FILE,
    PM_PFN_MASK,
    PM_PRESENT,
    PM_SWAP,
    RealMapping,
)

PID_MAX_LIMIT = 1 << 22  # the simulator's own tasks (fork snapshots) number above it
CLONE_THREAD = 0x0001_0000
_CHUNK = PAGE_SIZE  # pagemap bytes per chunk: 512 pages, skipped when all empty
_SHMEM_NAMES = ("/memfd:", "/dev/zero", "/SYSV", "/dev/shm/", "[anon_shmem:")
_SHARED_ANON = ("/dev/zero", "[anon_shmem:")  # MAP_SHARED|MAP_ANONYMOUS, named or not
_NO_MIGRATE_FS = {"ramfs": "nomigrate-nowriteback"}


def _count(pt: dict[int, Frame], base: int) -> int:
    """How many of the 512 pages from ``base`` on have an entry."""
    return sum(1 for v in range(base, base + 512) if v in pt)


def _children(tgid: int) -> list[int]:
    """The children of every thread of ``tgid`` (/proc/PID/task/TID/children)."""
    out: list[int] = []
    try:
        threads = os.listdir(f"/proc/{tgid}/task")
    except OSError:
        return out
    for tid in threads:
        try:
            with open(f"/proc/{tgid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            continue
    return out


class RealBytes:
    """UserBytes of a real process: the simulator's copies go to its memory."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def read(self, addr: int, length: int) -> bytes:
        return remote.read_memory(self.pid, addr, length)

    def write(self, addr: int, data: bytes) -> int:
        return remote.write_memory(self.pid, addr, data)


@dataclass
class _Exec:
    """What identified the address space when execve() was called."""

    exe: str
    first: int


def _mount_types() -> dict[str, str]:
    """major:minor -> filesystem type, from /proc/self/mountinfo."""
    out: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if len(fields) > 2 and right:
                out.setdefault(fields[2], right.split()[0])
    return out


class Mirror:
    """Real processes -> simulated tasks, kept level by ``sync``."""

    def __init__(self, kernel: SimKernel, *, warn: bool = True) -> None:
        self.kernel = kernel
        kernel._next_pid = max(kernel._next_pid, PID_MAX_LIMIT + 1)
        self.tasks: dict[int, SimProcess] = {}  # real tgid -> its task
        self.files: dict[tuple[str, int], SimFile] = {}
        self.snapshots: dict[int, list[SimProcess]] = {}  # parent tgid -> fork copies
        self.orphans: list[SimProcess] = []  # fork copies of parents that exited
        self.execs: dict[int, _Exec] = {}
        self.seen: set[int] = set()  # every real process adopted, alive or not
        # the real PFN each frame stands for (root only): a fork's shared page that one
        # side wrote has another PFN on that side
        self._pfns: dict[int, tuple[Frame, int]] = {}
        # per task, per 512-page block: its pagemap bytes and how many of its pages
        # were mapped here when the last sync left them level (the block is skipped
        # while both stay so)
        self._blocks: dict[int, dict[int, tuple[bytes, int]]] = {}
        self.zero_pfn = remote.zero_pfn()
        self.fstypes = _mount_types()
        self.warn = warn
        self._warned: set[str] = set()

    def note(self, text: str) -> None:
        """Say once, on stderr, what the simulation could not follow."""
        if self.warn and text not in self._warned:
            self._warned.add(text)
            print(f"numa-sim-run: {text}", file=sys.stderr)

    # --- tasks ------------------------------------------------------------------------
    def start(self, pid: int) -> SimProcess:
        """The program the supervisor started: a new task of its credentials."""
        proc = self.kernel.spawn(uid=0)
        return self._bind(proc, pid)

    def _bind(self, proc: SimProcess, tgid: int) -> SimProcess:
        other = self.kernel.task(tgid)
        if other is not None and other is not proc:
            self.kernel.renumber(other, self.kernel._new_pid())
        self.kernel.renumber(proc, tgid)
        assert proc.mm is not None
        proc.mm.backing = RealBytes(tgid)
        self.tasks[tgid] = proc
        self.seen.add(tgid)
        self.refresh_creds(proc)
        return proc

    def tgid(self, tid: int) -> int | None:
        value = remote.status_field(tid, "Tgid")
        return int(value) if value else None

    def task(self, tid: int) -> SimProcess | None:
        """The task of a supervised thread ``tid``, adopted on first sight: the fork
        copy made when its parent called clone(), else a copy of its parent now, else
        (its parent exited first) a fork copy left over or a new task; None only
        when ``tid`` is gone."""
        tgid = self.tgid(tid)
        if tgid is None:
            return None
        proc = self.tasks.get(tgid)
        if proc is not None and proc.alive:
            return proc
        ppid = int(remote.status_field(tgid, "PPid") or 0)
        copies = self.snapshots.get(ppid)
        if copies:
            return self._bind(copies.pop(0), tgid)
        parent = self.tasks.get(ppid)
        if parent is not None and parent.alive:
            self.note(f"pid {tgid}: its fork was not seen; it starts as its parent is now")
            return self._bind(parent.fork(), tgid)
        # only the program's tree runs under the filter: this is ours, its parent gone
        # (it was reparented to the warden) before it made a call of ours
        if self.orphans:
            self.note(f"pid {tgid}: its parent exited first; it takes the oldest fork copy left")
            return self._bind(self.orphans.pop(0), tgid)
        self.note(f"pid {tgid}: neither it nor its parent was seen: a new task")
        return self._bind(self.kernel.spawn(uid=0), tgid)

    def lookup(self, pid: int) -> SimProcess | None:
        """The task a call names by ``pid`` (a thread's id names its process), if the
        program's tree has it; None for any other process (the simulator then answers
        as for a pid it does not have)."""
        tgid = self.tgid(pid)
        proc = self.tasks.get(tgid) if tgid is not None else None
        return proc if proc is not None and proc.alive else None

    def adopt_children(self) -> None:
        """Bind the fork copies of children that made no call of ours yet (a page's
        mapcount counts them: a child sharing it must be in the picture)."""
        for tgid in list(self.tasks):
            for kid in _children(tgid):
                if kid not in self.tasks and self.snapshots.get(tgid):
                    self.task(kid)

    def sync_all(self) -> None:
        """Every task level with its process: whether a page is shared (EACCES
        without MPOL_MF_MOVE_ALL) depends on the others' page tables too."""
        self.adopt_children()
        for proc in list(self.tasks.values()):
            if proc.alive:
                self.sync(proc)

    def forked(self, parent: SimProcess, flags: int) -> None:
        """clone()/fork() is about to run in ``parent``: copy it as it is now."""
        if flags & CLONE_THREAD:
            return  # a thread shares its process's task here (one policy per process)
        self.sync(parent)
        self.snapshots.setdefault(parent.pid, []).append(parent.fork())

    def execed(self, proc: SimProcess) -> None:
        """execve() is about to run: after it, a new address space (the task's
        policy stays, mbind()'s go with the VMAs: execve(2))."""
        self.execs[proc.pid] = self._identity(proc.pid)

    def _identity(self, pid: int) -> _Exec:
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            maps = remote.read_maps(pid)
        except OSError:
            return _Exec("", 0)
        return _Exec(exe, maps[0].start if maps else 0)

    def refresh_creds(self, proc: SimProcess) -> None:
        """Ids and capabilities as the real process has them now (setuid() and
        friends run for real)."""
        uids = (remote.status_field(proc.pid, "Uid") or "").split()
        gids = (remote.status_field(proc.pid, "Gid") or "").split()
        prm = int(remote.status_field(proc.pid, "CapPrm") or "0", 16)
        eff = int(remote.status_field(proc.pid, "CapEff") or "0", 16)
        c = proc.creds
        if len(uids) >= 3 and len(gids) >= 3:
            c.uid, c.euid, c.suid = (int(x) for x in uids[:3])
            c.gid, c.egid, c.sgid = (int(x) for x in gids[:3])
        c.permitted = frozenset(n for n, bit in CAPABILITIES.items() if prm >> bit & 1)
        c.effective = frozenset(n for n, bit in CAPABILITIES.items() if eff >> bit & 1)

    def close(self) -> None:
        """The run is over: every task of ours exits (their real processes have)."""
        for proc in self.tasks.values():
            proc.exit()
        for copy in [c for copies in self.snapshots.values() for c in copies] + self.orphans:
            copy.exit()
        self.tasks.clear()
        self.snapshots.clear()
        self.orphans.clear()

    def reap(self) -> None:
        """Tasks whose real process is gone (or a zombie) exit."""
        for tgid, proc in list(self.tasks.items()):
            state = remote.status_field(tgid, "State")
            if state is None or state.startswith(("Z", "X")):
                del self.tasks[tgid]
                self.execs.pop(tgid, None)
                self._blocks.pop(tgid, None)
                proc.exit()
                # its children not seen yet may still come (reparented to the warden)
                self.orphans += self.snapshots.pop(tgid, [])

    # --- address spaces -----------------------------------------------------------------
    def sync(self, proc: SimProcess) -> None:
        """Bring ``proc``'s VMAs and present pages level with the real process's."""
        mm = proc.mm
        assert mm is not None
        pid = proc.pid
        try:
            maps = remote.read_maps(pid)
        except OSError:
            return  # it exited: reap() ends the task
        seen = self.execs.pop(pid, None)
        if seen is not None and seen != self._identity(pid):
            mm.remove_range(0, 1 << 48)  # the old address space went with execve()
        wanted = [m for m in maps if self._modelled(pid, m)]
        for m in wanted:
            mm.split(m.start)
            mm.split(m.end)
        self._drop_outside(mm, wanted)
        for m in wanted:
            self._sync_vmas(mm, m)
            self._sync_pages(proc, m)

    def _modelled(self, pid: int, m: RealMapping) -> bool:
        if m.special:
            return False  # [vvar], [vsyscall]: no pages to migrate
        if self.fstypes.get(m.dev) == "hugetlbfs" or "anon_hugepage" in m.path:
            self.note(
                f"pid {pid}: hugetlb mapping at {m.start:#x} ({m.path}) is not modelled: "
                "the simulator answers for it as for unmapped memory"
            )
            return False
        return True

    def _drop_outside(self, mm: AddressSpace, wanted: list[RealMapping]) -> None:
        spans = [(m.start, m.end) for m in wanted]
        for vma in list(mm.vmas):
            if not any(s <= vma.start and vma.end <= e for s, e in spans):
                mm.remove_range(vma.start, vma.end)

    def _matches(self, vma: VMA, m: RealMapping) -> bool:
        if vma.shared != m.shared:
            return False
        if m.anonymous:
            return vma.file is None
        if vma.file is None or vma.file is not self._file(m):
            return False
        return vma.file_index(vma.start >> PAGE_SHIFT) == (
            (m.offset + vma.start - m.start) >> PAGE_SHIFT
        )

    def _sync_vmas(self, mm: AddressSpace, m: RealMapping) -> None:
        inside = sorted(mm.vmas_in(m.start, m.end), key=lambda v: v.start)
        if not all(self._matches(v, m) for v in inside):
            mm.remove_range(m.start, m.end)
            inside = []
        cursor = m.start
        for vma in inside:
            vma.prot = m.prot
            if vma.start > cursor:
                mm.add_vma(self._vma(m, cursor, vma.start))
            cursor = vma.end
        if cursor < m.end:
            mm.add_vma(self._vma(m, cursor, m.end))

    def _vma(self, m: RealMapping, start: int, end: int) -> VMA:
        if m.anonymous:
            return VMA(start, end, m.prot, m.shared, None, start >> PAGE_SHIFT, None)
        f = self._file(m)
        pgoff = (m.offset + start - m.start) >> PAGE_SHIFT
        anon_shared = m.path.startswith(_SHARED_ANON)
        return VMA(start, end, m.prot, m.shared, f, pgoff, None, anon_shared=anon_shared)

    def _file(self, m: RealMapping) -> SimFile:
        key = (m.dev, m.inode)
        f = self.files.get(key)
        end = m.offset + m.end - m.start
        if f is None:
            fstype = self.fstypes.get(m.dev, "")
            shmem = fstype == "tmpfs" or m.path.startswith(_SHMEM_NAMES)
            fs = FILESYSTEMS["tmpfs" if shmem else _NO_MIGRATE_FS.get(fstype, "ext4")]
            try:
                size = os.stat(m.path).st_size if m.path.startswith("/") else 0
            except OSError:
                size = 0
            f = SimFile(m.path or f"inode {m.inode}", max(size, end), fs, ino=m.inode)
            f.unlinked = m.path.startswith(_SHARED_ANON)
            self.kernel.files.append(f)
            self.files[key] = f
            if not f.unlinked and m.path.startswith("/"):
                self._cached_before(f, m.path, size)
        f.size = max(f.size, end)
        return f

    def _cached_before(self, f: SimFile, path: str, size: int) -> None:
        """The file's pages already in the real page cache when the simulation first
        sees it were read before it started (a library, a binary): they sit in the
        simulated page cache from the start, on the first memory node with room, so
        that a fault on them allocates nothing (and turns no interleave rotor)."""
        for index in remote.cached_pages(path, size):
            nodes = self.kernel.memory_node_ids()
            try:
                frame = self.kernel.memory.alloc(nodes, 0)
            except OutOfNodeMemory:
                return
            frame.mapping, frame.index = f, index
            f.pages[index] = frame

    def _sync_pages(self, proc: SimProcess, m: RealMapping) -> None:
        mm = proc.mm
        assert mm is not None
        try:
            entries = remote.pagemap_bytes(proc.pid, m.start, m.end)
        except OSError:
            return
        pt = mm.pt
        first = m.start >> PAGE_SHIFT
        seen = self._blocks.setdefault(proc.pid, {})
        real: dict[int, int] = {}
        done: list[tuple[int, bytes]] = []
        for chunk in range(0, len(entries), _CHUNK):
            block = entries[chunk : chunk + _CHUNK]
            base = first + chunk // 8
            mapped = _count(pt, base)
            if seen.get(base) == (block, mapped):
                continue  # as at the last sync, on both sides
            if not mapped and not block.strip(b"\0"):
                continue  # nothing there, on either side
            done.append((base, block))
            for i, entry in enumerate(remote.unpack_entries(block)):
                real[base + i] = entry
        self._fresh_runs(mm, real)
        for vpn, entry in real.items():
            if entry & PM_PRESENT:
                self._fault_in(proc, mm, vpn, entry)
        # then what is mapped here and not there (a read fault here maps around)
        for vpn in [v for v in real if v in pt and not real[v] & PM_PRESENT]:
            self._drop(proc, mm, vpn, real[vpn])
        for base, block in done:
            seen[base] = (block, _count(pt, base))

    def _fresh_runs(self, mm: AddressSpace, real: dict[int, int]) -> None:
        """Runs of fresh private anonymous pages (the common case: memory the program
        wrote since the last sync) faulted in one go (fault_fresh_run: the placement
        fault() gives each, page by page)."""
        pt = mm.pt
        run: list[int] = []
        vpns = sorted(real)
        for vpn in [*vpns, -1]:
            entry = real.get(vpn, 0)
            pfn = entry & PM_PFN_MASK
            fresh = (
                entry & PM_PRESENT
                and vpn not in pt
                and not (self.zero_pfn is not None and pfn == self.zero_pfn)
            )
            if fresh and run and vpn == run[-1] + 1:
                run.append(vpn)
                continue
            if len(run) > 1:
                self._fault_run(mm, run, real)
            run = [vpn] if fresh else []

    def _fault_run(self, mm: AddressSpace, run: list[int], real: dict[int, int]) -> None:
        addr, end = run[0] << PAGE_SHIFT, (run[-1] + 1) << PAGE_SHIFT
        while addr < end:
            vma = mm.vma_lookup(addr)
            if vma is None:
                return
            limit = min(end, vma.end)
            if vma.file is None and not vma.anon_shared and vma.prot & PROT_WRITE:
                stop = mm.fault_fresh_run(vma, addr, limit)
                for vpn in range(addr >> PAGE_SHIFT, stop >> PAGE_SHIFT):
                    frame = mm.pt[vpn]
                    self._pfns[id(frame)] = (frame, real[vpn] & PM_PFN_MASK)
            addr = limit  # what is left, page by page

    def _drop(self, proc: SimProcess, mm: AddressSpace, vpn: int, entry: int) -> None:
        frame = mm.pt[vpn]
        addr = vpn << PAGE_SHIFT
        if frame.flags & SWAPPED:
            return
        if entry & PM_SWAP and frame.flags & ANON and not frame.pins and frame.mapping is None:
            self.kernel.swap_out(proc, addr)  # reclaimed for real: to swap here too
        else:
            mm.unmap_pages(addr, addr + PAGE_SIZE)

    def _replaced(self, frame: Frame, pfn: int, entry: int) -> bool:
        """Whether this process's page is no longer the one ``frame`` stands for:
        its PFN changed (root); without PFNs, a page the simulator shares since a
        fork that is now exclusively mapped (which side wrote is a guess then)."""
        if not pfn:
            return frame.mapcount > 1 and bool(entry & PM_EXCLUSIVE)
        seen = self._pfns.get(id(frame))
        if seen is None or seen[0] is not frame:
            self._pfns[id(frame)] = (frame, pfn)
            return False
        return seen[1] != pfn

    def _fault_in(self, proc: SimProcess, mm: AddressSpace, vpn: int, entry: int) -> None:
        frame = mm.pt.get(vpn)
        addr = vpn << PAGE_SHIFT
        vma = mm.vma_lookup(addr)
        assert vma is not None
        pfn = entry & PM_PFN_MASK
        if self.zero_pfn is not None and pfn == self.zero_pfn:
            want = "zero"
        elif vma.file is None or (not vma.shared and not entry & PM_FILE):
            want = "anon"  # private anonymous, or a private copy of a file's page
        else:
            want = "cache"
        if frame is None or frame.flags & SWAPPED:
            have = None
        elif frame.flags & ZERO:
            have = "zero"
        else:
            have = "anon" if frame.flags & ANON else "cache"
        if have == want:
            if frame is None or have == "zero" or not self._replaced(frame, pfn, entry):
                return
            # the real page is another one now: a write copied it after a fork, or the
            # mapping was replaced between two syncs; so it is here
            mm.unmap_pages(addr, addr + PAGE_SIZE)
        elif have == "anon" and want == "zero":
            mm.unmap_pages(addr, addr + PAGE_SIZE)  # MADV_DONTNEED, then a read
        try:
            placed = mm.fault(vma, addr, write=want == "anon")
            self._pfns[id(placed)] = (placed, pfn)
        except OutOfNodeMemory:
            self.note(
                f"pid {proc.pid}: page {addr:#x} is there, but no simulated node it may "
                "use has room (the simulated kernel would have failed the fault): it "
                "stays unmapped in the simulation"
            )
