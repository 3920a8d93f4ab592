"""Simulated processes: the Process protocol on top of the simulated kernel."""

from __future__ import annotations

import errno
from collections.abc import Iterable
from typing import TYPE_CHECKING

from simnuma.abi import (
    MPOL_INTERLEAVE,
    MPOL_WEIGHTED_INTERLEAVE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    SyscallMethods,
    check_bool,
    check_bytes,
    check_int,
    check_mems,
    check_mmap,
    check_prot,
    check_range,
    check_span,
    raise_errno,
)
from simnuma.abi.quirks import Quirk
from simnuma.creds import SUID_DUMP_USER, Credentials, setresuid
from simnuma.explain import CallRecord
from simnuma.files import SimFile
from simnuma.frames import ANON, HPAGE_SIZE, PAGE_SHIFT, PAGE_SIZE, ZERO, Frame
from simnuma.mempolicy import (
    DEFAULT_POLICY,
    Mempolicy,
    candidate_nodes,
    candidate_rule,
    interleave_offset,
    rebind,
    vma_interleave_index,
)
from simnuma.mm import VMA, AddressSpace, Segfault

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel


class SimProcess(SyscallMethods):
    """A task of the simulated kernel (a kernel thread when ``mm`` is None)."""

    def __init__(
        self,
        kernel: SimKernel,
        pid: int,
        creds: Credentials,
        cpuset: frozenset[int],
        *,
        kthread: bool = False,
    ) -> None:
        self.kernel = kernel
        self._pid = pid
        self.creds = creds
        self.cpuset = cpuset
        self.dumpable = SUID_DUMP_USER
        self.policy: Mempolicy = DEFAULT_POLICY
        self.il_next = 0
        # the kernel allocated for the task since its policy was set (a fault's page
        # tables): its rotor may have turned unseen (INTERLEAVE_ROTOR_OWN_ALLOCATIONS)
        self.rotor_moved = False
        self.last_call: CallRecord | None = None  # the last NUMA syscall and its reasons
        self.cpu_node = kernel.cpu_nodes()[0]
        self.alive = True
        self.mm: AddressSpace | None = None if kthread else AddressSpace(kernel.memory, self._alloc)
        if self.mm is not None:
            self.mm.alloc_run = self._alloc_run

    # --- identity ------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self._pid

    def __repr__(self) -> str:
        return f"SimProcess(pid={self._pid}, uid={self.creds.uid}, cpuset={sorted(self.cpuset)})"

    def _mm(self) -> AddressSpace:
        if not self.alive:
            raise RuntimeError(f"process {self._pid} has exited")
        if self.mm is None:
            raise RuntimeError(f"pid {self._pid} is a kernel thread: it has no user memory")
        return self.mm

    # --- allocation: where a fault's page comes from --------------------------------
    def _alloc(self, vma: VMA, addr: int, flags: int, order: int) -> Frame:
        self.rotor_moved = True
        policy = vma.policy or self.policy
        if vma.shmem:
            assert vma.file is not None
            # shmem_alloc_folio() / get_vma_policy() -> shmem_get_policy(): the object's
            # shared policy, else the task's; interleaved by the page's index in the
            # object, biased by its inode number (a private copy too, since 6.7)
            index = vma.file_index(addr >> PAGE_SHIFT)
            policy = vma.file.policy_at(index) or self.policy
            if self.kernel.profile.has(
                Quirk.SHMEM_COPY_INTERLEAVE_BY_INODE
                if flags & ANON
                else Quirk.SHMEM_INTERLEAVE_BY_INODE
            ):
                index += vma.file.ino
        elif vma.anonymous or vma.policy is not None or flags & ANON:
            # interleave_nid(): a fault in a VMA interleaves by its page offset, under
            # the task's policy too; so does a private copy of a file's page
            # (wp_page_copy() -> vma_alloc_folio()); a huge page by its offset in huge
            # pages (the shift is PAGE_SHIFT + order)
            index = vma_interleave_index(vma.start, vma.pgoff, addr, order)
        else:
            # page cache of a file: no VMA reaches the allocator, the task's rotor turns
            index = self.il_next
            self.il_next += 1
        nodes = candidate_nodes(self.kernel, policy, self.cpu_node, self.cpuset, index)
        frame = self.kernel.memory.alloc(
            [n for n in nodes if self.kernel.nodes[n].has_memory], flags, order
        )
        frame.why = placed_by(self.kernel, vma, policy, flags, order, addr)
        return frame

    def _alloc_run(self, vma: VMA, vpn: int, count: int, flags: int) -> list[Frame]:
        """_alloc() of small pages for ``count`` fresh pages of a private anonymous VMA
        from page ``vpn`` on, in address order; fewer when a page finds no room."""
        assert vma.anonymous and not vma.anon_shared
        self.rotor_moved = True
        policy = vma.policy or self.policy
        period, nodes_for = candidate_rule(self.kernel, policy, self.cpu_node, self.cpuset)
        nodes = self.kernel.nodes
        lists = [[n for n in nodes_for(r) if nodes[n].has_memory] for r in range(period)]
        # interleave_nid(): the page offset in the VMA, one more for each page
        first = interleave_offset(
            self.kernel, vma_interleave_index(vma.start, vma.pgoff, vpn << PAGE_SHIFT)
        )
        # a 32-bit offset wraps to 0 after 2**32 - 1: the run stops there, fault()
        # places the page after it (INTERLEAVE_OFFSET_32BIT)
        if self.kernel.profile.has(Quirk.INTERLEAVE_OFFSET_32BIT):
            count = min(count, (1 << 32) - first)
        why = placed_by(self.kernel, vma, policy, flags, 0, vpn << PAGE_SHIFT)
        return self.kernel.memory.alloc_run(lists, first, count, flags, why)

    # --- memory set-up (the process acting on itself) --------------------------------
    def mmap(
        self,
        length: int,
        *,
        shared: bool = False,
        file: object | None = None,
        huge: str | None = None,
        prot: int = PROT_READ | PROT_WRITE,
        offset: int = 0,
        addr: int = 0,
    ) -> int:
        """mmap(2) anonymous (private or shared), a file, or 2 MiB huge pages; at
        ``addr`` if that range is free (a hint, as without MAP_FIXED)."""
        mm = self._mm()
        length = check_mmap(length, prot, offset, huge, PAGE_SIZE, addr)
        check_bool("shared", shared)
        if file is not None and not isinstance(file, SimFile):
            raise TypeError(
                f"file must be a SimFile from SimKernel.create_file, not {type(file).__name__}"
            )
        if huge == "thp" and not self.kernel.has_thp:
            raise ValueError("huge='thp': transparent huge pages first appeared in 2.6.38")
        if huge and file is not None:
            raise ValueError(
                "huge pages of a file (hugetlbfs/shmem THP) are not supported: use file=None"
            )
        addr = mm.pick_address(length, HPAGE_SIZE if huge else PAGE_SIZE, addr)
        anon_shared = shared and file is None
        if anon_shared:
            file = SimFile(
                f"/dev/zero (deleted) pid {self._pid}",
                length,
                unlinked=True,
                ino=self.kernel.new_ino(),
            )
        assert file is None or isinstance(file, SimFile)
        pgoff = offset // PAGE_SIZE if file is not None else addr // PAGE_SIZE
        mm.add_vma(
            VMA(addr, addr + length, prot, shared, file, pgoff, huge, anon_shared=anon_shared)
        )
        return addr

    def _range(self, addr: int, length: int) -> tuple[int, int]:
        return check_range(addr, length, PAGE_SIZE)

    def munmap(self, addr: int, length: int) -> None:
        mm = self._mm()
        start, end = self._range(addr, length)
        err = mm.remove_range(start, end)
        if err:
            raise_errno(err, "munmap")

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        mm = self._mm()
        start, end = self._range(addr, length)
        check_prot(prot)
        covered = sum(min(v.end, end) - max(v.start, start) for v in mm.vmas_in(start, end))
        # ENOMEM: part of the range is not mapped
        if covered != end - start:
            raise_errno(errno.ENOMEM, "mprotect")
        err = mm.split_errno(start, end)
        if err:
            raise_errno(err, "mprotect")
        mm.split(start)
        mm.split(end)
        for vma in mm.vmas_in(start, end):
            vma.prot = prot
        if prot == PROT_NONE:
            # a page that stays mapped PROT_NONE is still a page of its node
            _mark(mm, start, end, "move_pages.status.prot_none")

    def touch(self, addr: int, length: int) -> None:
        """Write-fault every page of the range (allocates per the memory policy)."""
        check_span(addr, length)
        self._mm().access_range(addr, length, write=True)

    def read(self, addr: int, length: int) -> None:
        """Read-fault every page (untouched private anonymous memory maps the zero page)."""
        check_span(addr, length)
        self._mm().access_range(addr, length, write=False)

    def write_bytes(self, addr: int, data: bytes) -> None:
        data = check_bytes("data", data)
        check_span(addr, len(data), minimum=0)
        done = self._mm().copy_to_user(addr, data, kernel=False)
        if done != len(data):
            raise Segfault(addr + done, "write outside a writable mapping")

    def read_bytes(self, addr: int, length: int) -> bytes:
        check_span(addr, length, minimum=0)
        data = self._mm().copy_from_user(addr, length, kernel=False)
        if len(data) != length:
            raise Segfault(addr + len(data), "read outside a readable mapping")
        return data

    def mlock(self, addr: int, length: int) -> None:
        """mlock(2): VM_LOCKED and every page populated (write-faulted if writable private)."""
        mm = self._mm()
        start, end = self._range(addr, length)
        if (
            sum(min(v.end, end) - max(v.start, start) for v in mm.vmas_in(start, end))
            != end - start
        ):
            raise_errno(errno.ENOMEM, "mlock")  # part of the range is not mapped
        # mlock_fixup() leaves hugetlb VMAs alone (no split, no VM_LOCKED); they are
        # only populated
        for edge in (start, end):
            vma = mm.vma_lookup(edge)
            if vma is None or vma.huge != "hugetlb":
                mm.split(edge)
        vmas = list(mm.vmas_in(start, end))
        for vma in vmas:
            if vma.huge != "hugetlb":
                vma.locked = True
        # then __mm_populate(): a PROT_NONE VMA stops it (EFAULT, reported as ENOMEM);
        # what was locked and populated before stays so, as in the kernel
        for vma in vmas:
            first, last = max(vma.start, start), min(vma.end, end)
            if not vma.prot & (PROT_READ | PROT_WRITE):
                if vma.prot == PROT_NONE:
                    raise_errno(errno.ENOMEM, "mlock")
                continue
            write = bool(vma.prot & PROT_WRITE) and not vma.shared
            mm.access_range(first, last - first, write=write)
        # mlock keeps a page in memory, not on its node
        _mark(mm, start, end, "move_pages.status.EPERM.mlocked")

    def fork(self) -> SimProcess:
        return self.kernel.fork(self)

    def exit(self) -> None:
        self.kernel.exit(self)

    # --- credentials and cpuset --------------------------------------------------------
    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        for name, v in (("ruid", ruid), ("euid", euid), ("suid", suid)):
            check_int(name, v, minimum=-1)
        old_euid = self.creds.euid
        err = setresuid(self.creds, ruid, euid, suid)
        if err:
            raise_errno(err, "setresuid")
        if self.creds.euid != old_euid:
            # commit_creds(): a changed euid makes the task non-dumpable (suid_dumpable=0)
            self.dumpable = self.kernel.suid_dumpable

    def set_cpuset(self, mems: Iterable[int], *, memory_migrate: bool = False) -> None:
        """Move to a cpuset whose cpuset.mems is ``mems`` (cpuset(7)).

        With ``memory_migrate`` (cgroup v2 always; v1 cpuset.memory_migrate=1) the
        pages on the old mems move to the new ones, as cpuset_migrate_mm() does.
        """
        self._mm()
        new = check_mems("mems", mems, self.kernel.memory_nodes())
        check_bool("memory_migrate", memory_migrate)
        old = self.cpuset
        self.cpuset = new
        # cpuset_attach(): the task's and its VMAs' policies follow the new mems
        self.policy = rebind(self.policy, new)
        for vma in self._mm().vmas:
            if vma.policy is not None:
                vma.policy = rebind(vma.policy, new)
        left = [f for f in self._mm().pt.values() if f.nid in old - new]
        if memory_migrate and old != new:
            from simnuma.migrate import do_migrate_pages

            do_migrate_pages(self.kernel, self._mm(), old, new, move_all=True)
        for frame in left:  # moved with the cpuset, or left behind without memory_migrate
            if "cpuset.memory_migrate" not in frame.why:
                frame.why = (*frame.why, "cpuset.memory_migrate")

    # --- the NUMA syscalls ---------------------------------------------------------------
    def last_explained(self) -> CallRecord | None:
        """The last NUMA syscall this process made, with the reason for each answer."""
        return self.last_call

    def syscall(self, name: str, *args: int) -> tuple[int, int]:
        """The raw ABI: (return value, errno); pointers are addresses in this process."""
        from simnuma.syscalls import dispatch

        if not isinstance(name, str):
            raise TypeError(f"name must be str, not {type(name).__name__}")
        for i, a in enumerate(args):
            check_int(f"args[{i}]", a)
        self._mm()  # an exited process or a kernel thread makes no syscalls here
        return dispatch(self.kernel, self, name, args)


def _mark(mm: AddressSpace, start: int, end: int, clause: str) -> None:
    """Add ``clause`` to what is said of each page mapped in [start, end)."""
    for vpn in mm.mapped_vpns(start, end):
        frame = mm.pt[vpn]
        if clause not in frame.why and not frame.flags & ZERO:
            frame.why = (*frame.why, clause)


def placed_by(
    kernel: SimKernel, vma: VMA, policy: Mempolicy, flags: int, order: int, addr: int
) -> tuple[str, ...]:
    """The clauses that name how a new page of ``vma`` at ``addr`` was placed."""
    profile = kernel.profile
    shared = None
    if vma.shmem and vma.file is not None:
        shared = vma.file.policy_at(vma.file_index(addr >> PAGE_SHIFT))
    if shared is not None:
        base = "mbind.shmem.shared_policy"
    elif vma.policy is not None:
        base = "mbind.placement"
    else:
        base = "set_mempolicy.placement"
    if policy.mode not in (MPOL_INTERLEAVE, MPOL_WEIGHTED_INTERLEAVE):
        return (base,)
    if vma.shmem and flags & ANON:
        if profile.has(Quirk.SHMEM_COPY_INTERLEAVE_BY_INODE):
            return (base, "mempolicy.shmem.copy_by_inode")
        return (base, "mempolicy.shmem.copy_by_offset")
    if vma.shmem:
        if profile.has(Quirk.SHMEM_INTERLEAVE_BY_INODE):
            return (base, "mempolicy.shmem.interleave_by_inode")
        return (base, "mempolicy.shmem.interleave_by_index")
    if vma.file is not None and flags & ANON:
        return (base, "mempolicy.interleave.file_copy_by_offset")
    if order:
        return (base, "mempolicy.interleave.thp_by_huge_offset")
    if not vma.anonymous:
        return (base,)
    if profile.has(Quirk.INTERLEAVE_OFFSET_32BIT):
        return (base, "mempolicy.interleave.offset_low_32_bits")
    return (base, "mempolicy.interleave.offset_whole")
