"""The simulated kernel: nodes, the task table, and the world-building API.

World-building sets *state* (a pinned page, writeback in progress, a full node,
a capability dropped); every syscall result is computed from that state.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, MutableSequence, Sequence
from dataclasses import replace

from simnuma.abi import (
    KTHREADD_PID,
    PROT_READ,
    WORLD_FEATURES,
    check_file_index,
    check_file_name,
    check_file_write,
    check_int,
    check_span,
    check_spawn,
    raise_errno,
)
from simnuma.abi.quirks import Quirk
from simnuma.creds import SUID_DUMP_DISABLE, Credentials
from simnuma.explain import IDLE, CallRecord
from simnuma.files import FILESYSTEMS, Filesystem, SimFile
from simnuma.frames import (
    DIRTY,
    HPAGE_NR,
    ISOLATED,
    PAGE_SHIFT,
    PAGE_SIZE,
    SWAPPED,
    THP,
    WRITEBACK,
    ZERO,
    Frame,
    Node,
    NodeMemory,
)
from simnuma.mempolicy import candidate_nodes
from simnuma.mm import VMA
from simnuma.process import SimProcess
from simnuma.profiles import Profile, resolve_profile
from simnuma.topology import Topology

FIRST_USER_PID = 1000


PAGEVEC_SIZE = 15  # pages an LRU add batch holds before they go onto the lists


class SimKernel:
    """An in-memory Linux kernel with NUMA nodes, at one release (``profile``)."""

    def __init__(
        self,
        nodes: int | None = None,
        *,
        topology: Topology | None = None,
        profile: str | None = None,
        max_numnodes: int = 1024,
    ) -> None:
        if nodes is not None and topology is not None:
            raise ValueError("give nodes or topology, not both")
        if topology is None:
            topology = Topology.uniform(2 if nodes is None else nodes)
        if not isinstance(topology, Topology):
            raise TypeError(f"topology must be Topology, not {type(topology).__name__}")
        check_int("max_numnodes", max_numnodes, minimum=1)
        if max(topology.nodes) >= max_numnodes:
            raise ValueError(f"node {max(topology.nodes)} is beyond max_numnodes={max_numnodes}")
        self.profile: Profile = resolve_profile(profile)
        self.topology = topology
        self.max_numnodes = max_numnodes
        self.nodes: dict[int, Node] = {}
        for nid, spec in sorted(topology.nodes.items()):
            node = Node(nid, spec.memory // PAGE_SIZE, spec.cpus)
            node.distances = {other: topology.distance(nid, other) for other in topology.nodes}
            self.nodes[nid] = node
        self.memory = NodeMemory(self.nodes)
        self.suid_dumpable = SUID_DUMP_DISABLE
        self.reserved: dict[int, int] = {}
        self.files: list[SimFile] = []
        self.last_ino = 0  # get_next_ino(): each new shmem object takes the next number
        self.planned_inos: list[int] = []
        self.pinned: dict[int, Frame] = {}  # frames with extra references, by identity
        # pages migration put back into this CPU's LRU add batch, not on a list yet
        # (LRU_ADD_BATCHED; move_pages() drains it when it starts)
        self.lru_batch: list[Frame] = []
        self.lru_batched = self.profile.has(Quirk.LRU_ADD_BATCHED)  # asked once per page
        # the 4 KiB page of a THP each of its pins was taken on (a split hands it there)
        self.thp_pin_pages: dict[int, list[int]] = {}
        # names from simnuma.approximations.APPROXIMATIONS this kernel answered with
        self.approximated: set[str] = set()
        self.current: SimProcess | None = None  # the task in a syscall (None: a kworker)
        self.record: CallRecord = IDLE  # the syscall running: its answers' reasons
        # every call's record, oldest first, when a list (or a bounded deque) is put here
        self.call_log: MutableSequence[CallRecord] | None = None
        self.tasks: dict[int, SimProcess] = {}
        self._next_pid = FIRST_USER_PID
        kthreadd = SimProcess(
            self, KTHREADD_PID, Credentials.for_user(0), self.memory_nodes(), kthread=True
        )
        self.tasks[KTHREADD_PID] = kthreadd

    # --- facts ----------------------------------------------------------------------
    @property
    def page_size(self) -> int:
        return PAGE_SIZE

    @property
    def release(self) -> str:
        return self.profile.release_name

    @property
    def has_thp(self) -> bool:
        return self.profile.has(Quirk.THP)

    @property
    def features(self) -> frozenset[str]:
        """Every world-building operation: the simulator models them all."""
        features = set(WORLD_FEATURES)
        if not self.has_thp:
            features.discard("thp")
        return frozenset(features)

    def node_ids(self) -> list[int]:
        return sorted(self.nodes)

    def memory_nodes(self) -> frozenset[int]:
        """node_states[N_MEMORY]."""
        return frozenset(n for n, node in self.nodes.items() if node.has_memory)

    def memory_node_ids(self) -> list[int]:
        return sorted(self.memory_nodes())

    def cpu_node_ids(self) -> list[int]:
        return self.cpu_nodes()

    def cpu_nodes(self) -> list[int]:
        return sorted(n for n, node in self.nodes.items() if node.has_cpus)

    # --- tasks ----------------------------------------------------------------------
    def _new_pid(self) -> int:
        pid = self._next_pid
        while pid in self.tasks:  # a renumbered task may hold it
            pid += 1
        self._next_pid = pid + 1
        return pid

    def spawn(
        self,
        *,
        uid: int = 0,
        cpuset_mems: Iterable[int] | None = None,
        caps: Sequence[str] | None = None,
    ) -> SimProcess:
        """A new process of ``uid`` (root has every capability, unless ``caps`` says)."""
        args = check_spawn(uid, cpuset_mems, caps, self.memory_nodes())
        creds = Credentials.for_user(args.uid)
        if args.caps is not None:
            creds.permitted = creds.effective = args.caps
        mems = self.memory_nodes() if args.mems is None else args.mems
        proc = SimProcess(self, self._new_pid(), creds, mems)
        self.tasks[proc.pid] = proc
        return proc

    def spawn_kernel_thread(self) -> SimProcess:
        """A kernel thread: a task with no mm (move_pages/migrate_pages give EINVAL)."""
        proc = SimProcess(
            self, self._new_pid(), Credentials.for_user(0), self.memory_nodes(), kthread=True
        )
        self.tasks[proc.pid] = proc
        return proc

    def renumber(self, proc: SimProcess, pid: int) -> None:
        """Give ``proc`` the pid ``pid`` (numa-sim-run: a simulated task carries the
        real pid of the program it mirrors); ValueError if another task has it."""
        proc = self._process(proc)
        check_int("pid", pid, minimum=1)
        if self.tasks.get(pid, proc) is not proc:
            raise ValueError(f"pid {pid} belongs to another task")
        del self.tasks[proc.pid]
        proc._pid = pid
        self.tasks[pid] = proc

    def task(self, pid: int) -> SimProcess | None:
        return self.tasks.get(pid)

    def fork(self, parent: SimProcess) -> SimProcess:
        """fork(2): the child gets a copy of every VMA, but page-table entries only
        where a fault could not refill them (copy_page_range(): VMAs holding
        anonymous pages; hugetlb VMAs too before bcd51a3c679d)."""
        mm = parent._mm()
        child = SimProcess(self, self._new_pid(), parent.creds.copy(), parent.cpuset)
        child.policy, child.il_next, child.cpu_node = parent.policy, parent.il_next, parent.cpu_node
        child.dumpable = parent.dumpable
        assert child.mm is not None
        child_mm = child.mm
        copies_hugetlb = self.profile.has(Quirk.HUGETLB_FORK_COPIES_PTES)
        for vma in mm.vmas:
            vma.why = _fork_clauses(vma, copies_hugetlb)
            child_mm.add_vma(replace(vma, locked=False))  # mlock is not inherited (mlock(2))
        seen: set[int] = set()  # a huge folio is one mapping per address space
        for vpn, frame in mm.pt.items():  # one pass: the cost grows with the pages mapped
            owner = mm.vma_lookup(vpn << PAGE_SHIFT)
            assert owner is not None
            if not (owner.anon_vma or (owner.huge == "hugetlb" and copies_hugetlb)):
                _say(frame, owner.why)
                continue  # a fault in the child maps the page again
            _say(frame, owner.why)
            child_mm.pt[vpn] = frame
            if frame.flags & ZERO or id(frame) in seen:
                continue
            if frame.order:
                seen.add(id(frame))
            frame.mapcount += 1
        child_mm._next = mm._next
        parent.rotor_moved = True  # copy_page_range() allocated the child's page tables
        self.tasks[child.pid] = child
        return child

    def exit(self, proc: SimProcess) -> None:
        if not proc.alive:
            return
        if proc.mm is not None:
            proc.mm.remove_range(0, 1 << 48)
        proc.alive = False
        self.tasks.pop(proc.pid, None)

    def close(self) -> None:
        """Every process exits (the Kernel protocol's clean-up)."""
        for proc in list(self.tasks.values()):
            if proc.mm is not None:
                self.exit(proc)

    def __enter__(self) -> SimKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- world building: files ---------------------------------------------------------
    def create_file(self, size: int, *, fs: str | Filesystem = "tmpfs", name: str = "") -> SimFile:
        """A file on ``fs`` (a name from files.FILESYSTEMS, or a Filesystem)."""
        check_int("size", size, minimum=1)
        check_file_name("name", name)
        if isinstance(fs, str):
            if fs not in FILESYSTEMS:
                raise ValueError(f"fs must be one of {sorted(FILESYSTEMS)}, not {fs!r}")
            fs = FILESYSTEMS[fs]
        if not isinstance(fs, Filesystem):
            raise TypeError(f"fs must be str or Filesystem, not {type(fs).__name__}")
        f = SimFile(name or f"file{len(self.files)}", size, fs, ino=self.new_ino())
        self.files.append(f)
        return f

    def _page_cache_nodes(self, f: SimFile, index: int) -> list[int]:
        """Where write(2) finds a new page-cache page: near the writer (on the first
        node with CPUs, policy default), or as the shmem object's shared policy says."""
        policy = f.policy_at(index) if f.shmem else None
        if policy is None:
            return self.memory_node_ids()
        if self.profile.has(Quirk.SHMEM_INTERLEAVE_BY_INODE):
            index += f.ino
        allowed = frozenset(self.memory_node_ids())
        nodes = candidate_nodes(self, policy, self.cpu_node_ids()[0], allowed, index)
        return [n for n in nodes if self.nodes[n].has_memory]

    def back_to_lru(self, frame: Frame) -> None:
        """putback_lru_page(): through this CPU's batch of PAGEVEC_SIZE pages before
        lru_cache_disable() (LRU_ADD_BATCHED), a full batch or a huge page draining it."""
        if not self.lru_batched:
            return
        self.lru_batch.append(frame)
        if len(self.lru_batch) == PAGEVEC_SIZE or frame.order:
            self.lru_batch.clear()

    def waits_for_lru(self, frame: Frame) -> bool:
        """Whether ``frame`` is in the LRU add batch: isolate_lru_page() fails on it."""
        return bool(self.lru_batch) and any(f is frame for f in self.lru_batch)

    def new_ino(self) -> int:
        """get_next_ino(): the next planned number (plan_inodes), else the next one."""
        if self.planned_inos:
            return self.planned_inos.pop(0)
        self.last_ino += 1
        return self.last_ino

    def plan_inodes(self, numbers: list[int]) -> None:
        """The inode numbers the next shmem objects (files, shared anonymous mappings)
        get, in the order they are made: a real kernel's, so that shmem's interleave
        (SHMEM_INTERLEAVE_BY_INODE) can be compared by its rule."""
        self.planned_inos = [check_int("numbers[]", n, minimum=0) for n in numbers]

    def file_inode(self, f: SimFile) -> int:
        """The inode number of a file (``ls -i``)."""
        if not isinstance(f, SimFile):
            raise TypeError(f"f must be SimFile, not {type(f).__name__}")
        return f.ino

    def mapping_inode(self, proc: SimProcess, addr: int) -> int:
        """The inode number of the file or shmem object mapped at ``addr`` (as
        /proc/PID/maps shows it); ValueError for anonymous memory."""
        proc = self._process(proc)
        check_span(addr, 1)
        vma = proc._mm().vma_lookup(addr)
        if vma is None:
            raise_errno(errno.EFAULT, f"addr {addr:#x}")
        if vma.file is None:
            raise ValueError(f"addr {addr:#x}: anonymous memory has no inode")
        return vma.file.ino

    def write_file(self, f: SimFile, offset: int, data: bytes) -> None:
        """write(2) to a file: page-cache pages, dirty, mapped by no process."""
        if not isinstance(f, SimFile):
            raise TypeError(f"f must be SimFile, not {type(f).__name__}")
        data = check_file_write(offset, data, f.size)
        pos = 0
        while pos < len(data):
            index, off = divmod(offset + pos, PAGE_SIZE)
            frame = f.pages.get(index)
            if frame is None:
                frame = self.memory.alloc(self._page_cache_nodes(f, index), 0)
                frame.mapping, frame.index = f, index
                f.pages[index] = frame
            n = min(PAGE_SIZE - off, len(data) - pos)
            if frame.data is None:
                frame.data = bytearray(PAGE_SIZE)
            frame.data[off : off + n] = data[pos : pos + n]
            frame.flags |= DIRTY
            pos += n

    def file_page_node(self, f: SimFile, index: int) -> int | None:
        """The node of the page-cache page at ``index``, None when not cached."""
        if not isinstance(f, SimFile):
            raise TypeError(f"f must be SimFile, not {type(f).__name__}")
        check_file_index(index, f.size, PAGE_SIZE)
        frame = f.pages.get(index)
        return None if frame is None else frame.nid

    # --- world building: page state -------------------------------------------------------
    def _process(self, proc: object) -> SimProcess:
        """``proc``, a live process of this kernel with user memory."""
        if not isinstance(proc, SimProcess):
            raise TypeError(f"proc must be a SimProcess, not {type(proc).__name__}")
        if proc.kernel is not self:
            raise ValueError(f"proc: pid {proc.pid} belongs to another SimKernel")
        proc._mm()  # RuntimeError for an exited process or a kernel thread
        return proc

    def _mapped_frame(self, proc: SimProcess, addr: int) -> Frame:
        proc = self._process(proc)
        check_span(addr, 1)
        mm = proc._mm()
        if mm.vma_lookup(addr) is None:
            raise_errno(errno.EFAULT, f"addr {addr:#x}")  # get_user_pages(): no mapping
        frame = mm.pt.get(addr >> PAGE_SHIFT)
        if frame is None or frame.flags & ZERO:
            raise ValueError(f"addr {addr:#x}: no page is mapped there in pid {proc.pid}")
        return frame

    def pin(self, proc: SimProcess, addr: int) -> None:
        """Take an extra reference on the page at ``addr`` (vmsplice, O_DIRECT, RDMA)."""
        frame = self._mapped_frame(proc, addr)
        vma = proc._mm().vma_lookup(addr)
        if vma is not None and not vma.prot & PROT_READ:
            # vmsplice() reads the page: get_user_pages() without FOLL_FORCE refuses a
            # mapping without VM_READ (check_vma_flags)
            raise_errno(errno.EFAULT, f"addr {addr:#x}: vmsplice")
        frame.pins += 1
        self.pinned[id(frame)] = frame
        _say(frame, ("move_pages.pinned_page_written_in_place",))
        if frame.flags & THP:
            self.thp_pin_pages.setdefault(id(frame), []).append((addr >> PAGE_SHIFT) % HPAGE_NR)

    def unpin(self, proc: SimProcess, addr: int) -> None:
        frame = self._mapped_frame(proc, addr)
        if frame.pins == 0:
            raise ValueError(f"addr {addr:#x}: the page is not pinned")
        frame.pins -= 1
        pages = self.thp_pin_pages.get(id(frame))
        if pages is not None:
            sub = (addr >> PAGE_SHIFT) % HPAGE_NR
            pages.remove(sub if sub in pages else pages[-1])
            if not pages:
                del self.thp_pin_pages[id(frame)]
        if frame.pins == 0:
            del self.pinned[id(frame)]
            proc._mm().maybe_free(frame)

    def start_writeback(self, proc: SimProcess, addr: int) -> None:
        """Put the page at ``addr`` under writeback (I/O in flight)."""
        frame = self._mapped_frame(proc, addr)
        if frame.mapping is None:
            raise ValueError(f"addr {addr:#x}: anonymous pages are not written back (no swap)")
        frame.flags |= WRITEBACK

    def isolate(self, proc: SimProcess, addr: int) -> None:
        """Take the page off the LRU, as compaction or a concurrent migration would."""
        self._mapped_frame(proc, addr).flags |= ISOLATED

    def putback(self, proc: SimProcess, addr: int) -> None:
        self._mapped_frame(proc, addr).flags &= ~ISOLATED

    def set_dumpable(self, proc: SimProcess, value: int) -> None:
        """prctl(PR_SET_DUMPABLE)."""
        proc = self._process(proc)
        check_int("value", value)
        if value not in (0, 1):
            raise ValueError(f"value must be 0 or 1, not {value}")
        proc.dumpable = value

    def run_on(self, proc: SimProcess, nid: int) -> None:
        """Run ``proc`` on a CPU of node ``nid`` (its local node for MPOL_DEFAULT)."""
        proc = self._process(proc)
        check_int("nid", nid)
        if nid not in self.nodes:
            raise ValueError(f"nid {nid} is not a node")
        if nid not in self.cpu_nodes():
            raise ValueError(f"nid {nid} has no CPUs")
        proc.cpu_node = nid

    def fill_node(self, nid: int, free_pages: int = 0) -> None:
        """Let another user take node memory until ``free_pages`` are left (memhog)."""
        check_int("nid", nid)
        check_int("free_pages", free_pages, minimum=0)
        node = self.nodes.get(nid)
        if node is None or not node.has_memory:
            raise ValueError(f"nid {nid} is not a node with memory")
        take = node.free - free_pages
        if take < 0:
            raise ValueError(f"node {nid} has only {node.free} free pages")
        node.used += take
        self.reserved[nid] = self.reserved.get(nid, 0) + take

    def drain_node(self, nid: int) -> None:
        """Give back what fill_node() took."""
        check_int("nid", nid)
        if nid not in self.nodes:
            raise ValueError(f"nid {nid} is not a node")
        self.nodes[nid].used -= self.reserved.pop(nid, 0)

    def swap_out(self, proc: SimProcess, addr: int) -> None:
        """Reclaim the private anonymous page at ``addr`` to swap (a swap entry remains)."""
        frame = self._mapped_frame(proc, addr)
        if frame.mapping is not None or frame.order or frame.pins or frame.flags & SWAPPED:
            raise ValueError(
                f"addr {addr:#x}: only an unpinned private anonymous small page is swapped here"
            )
        self.memory.swap_out(frame)

    # --- consistency --------------------------------------------------------------------
    def live_files(self) -> list[SimFile]:
        """Named files, and the shmem objects of shared anonymous mappings still mapped."""
        found = {id(f): f for f in self.files}
        for proc in self.tasks.values():
            if proc.mm is not None:
                for vma in proc.mm.vmas:
                    if vma.file is not None:
                        found.setdefault(id(vma.file), vma.file)
        return list(found.values())

    def frames(self) -> dict[int, Frame]:
        """Every live frame, by identity: mapped, cached or pinned."""
        found: dict[int, Frame] = {}
        for proc in self.tasks.values():
            if proc.mm is not None:
                for frame in proc.mm.pt.values():
                    if not frame.flags & ZERO:
                        found[id(frame)] = frame
        for f in self.live_files():
            for frame in f.pages.values():
                found[id(frame)] = frame
        found.update(self.pinned)
        return found

    def check_consistency(self) -> None:
        """The model's invariants; AssertionError naming the first one broken.

        Every frame is on exactly one node with memory (or on swap) and the node counts
        add up, so nothing leaks; mapcounts equal the mappings; every page-table entry
        lies in a VMA of its address space, a huge folio under all its 512 aligned page
        numbers; page caches and the VMA counts of files are right; pins are tracked.
        """
        used = dict.fromkeys(self.nodes, 0)
        for nid, taken in self.reserved.items():
            used[nid] += taken
        mapcounts: dict[int, int] = {}
        file_vmas: dict[int, int] = {}
        for proc in self.tasks.values():
            if proc.mm is None:
                continue
            for vma in proc.mm.vmas:
                if vma.file is not None:
                    file_vmas[id(vma.file)] = file_vmas.get(id(vma.file), 0) + 1
            for frame in _check_page_table(proc):
                mapcounts[id(frame)] = mapcounts.get(id(frame), 0) + 1
        for f in self.live_files():
            if f.vmas != file_vmas.get(id(f), 0):
                raise AssertionError(f"{f}: counts {f.vmas} VMAs, {file_vmas.get(id(f), 0)} map it")
            for index, frame in f.pages.items():
                if frame.mapping is not f or frame.index != index:
                    raise AssertionError(f"{f}: page {index} is {frame} of another file/index")
        for key, frame in self.frames().items():
            if mapcounts.get(key, 0) != frame.mapcount:
                raise AssertionError(
                    f"{frame}: mapcount {frame.mapcount}, {mapcounts.get(key, 0)} mappings"
                )
            if (key in self.pinned) != (frame.pins > 0):
                raise AssertionError(f"{frame}: pins={frame.pins}, tracked={key in self.pinned}")
            if frame.flags & THP and len(self.thp_pin_pages.get(key, ())) != frame.pins:
                raise AssertionError(f"{frame}: pins={frame.pins}, pinned pages not tracked")
            if frame.flags & SWAPPED:
                continue
            if frame.nid not in self.nodes or not self.nodes[frame.nid].has_memory:
                raise AssertionError(f"{frame} is on no node with memory")
            used[frame.nid] += frame.nr_pages
        for nid, node in self.nodes.items():
            if node.used != used[nid]:
                raise AssertionError(f"node {nid}: used={node.used}, frames say {used[nid]}")


def _say(frame: Frame, clauses: tuple[str, ...]) -> None:
    """Add ``clauses`` to what is said of ``frame`` (not of the shared zero page)."""
    if not frame.flags & ZERO and not set(clauses) <= set(frame.why):
        frame.why = (*frame.why, *(c for c in clauses if c not in frame.why))


def _fork_clauses(vma: VMA, copies_hugetlb: bool) -> tuple[str, ...]:
    """What copy_page_range() does with ``vma``'s entries, as the clauses name it."""
    if vma.huge == "hugetlb":
        if copies_hugetlb:
            return ("fork.hugetlb_copied",)
        return () if vma.anon_vma else ("fork.hugetlb_not_copied",)
    if vma.anon_vma:
        return ("fork.anon_vma_copies_every_entry",)
    if vma.shared or vma.anon_shared:
        return ("fork.shared_not_copied",)
    if vma.file is not None:
        return ("fork.private_file_clean_not_copied",)
    return ("fork.zero_page_not_copied",)


def _check_page_table(proc: SimProcess) -> list[Frame]:
    """The distinct frames ``proc`` maps (each huge folio once), checking that every
    entry lies in a VMA and every huge folio fills its aligned 512 entries."""
    mm = proc.mm
    assert mm is not None
    frames: list[Frame] = []
    for vpn, frame in mm.pt.items():
        vma = mm.vma_lookup(vpn << PAGE_SHIFT)
        if vma is None:
            raise AssertionError(f"pid {proc.pid}: {vpn << PAGE_SHIFT:#x} mapped outside a VMA")
        if frame.flags & ZERO:
            continue
        if frame.order:
            base = vpn & ~(HPAGE_NR - 1)
            if vpn != base:
                continue
            if any(mm.pt.get(v) is not frame for v in range(base, base + HPAGE_NR)):
                raise AssertionError(f"pid {proc.pid}: huge {frame} at {vpn << PAGE_SHIFT:#x} torn")
        frames.append(frame)
    return frames
