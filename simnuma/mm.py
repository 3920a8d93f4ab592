"""Address spaces: VMAs, a sparse page table, page faults, user-memory access.

The page table maps virtual page numbers to frames; nothing is allocated until a
fault, so mapping a terabyte costs one VMA.  A huge folio appears under each of
its 512 page numbers and counts as one mapping of its address space.
"""

from __future__ import annotations

import bisect
import errno
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from simnuma.abi import PROT_READ, PROT_WRITE
from simnuma.files import SimFile
from simnuma.frames import (
    ANON,
    DIRTY,
    HPAGE_NR,
    HPAGE_ORDER,
    HPAGE_SIZE,
    HUGETLB,
    PAGE_SHIFT,
    PAGE_SIZE,
    SWAPPED,
    THP,
    ZERO,
    ZERO_PAGE,
    Frame,
    NodeMemory,
    OutOfNodeMemory,
    collector_paused,
)
from simnuma.mempolicy import Mempolicy

MMAP_BASE = 0x7000_0000_0000
MMAP_LIMIT = 0x7FFF_FFFF_F000  # TASK_SIZE on x86-64 (47-bit)
FAULT_AROUND_PAGES = 16  # /sys/kernel/debug/fault_around_bytes: 65536 by default
PTRS_PER_PTE = 512  # entries in one x86-64 page table


@dataclass
class VMA:
    """A mapping [start, end) and what backs it."""

    start: int
    end: int
    prot: int
    shared: bool
    file: SimFile | None  # the file, or the shmem object of a shared anonymous mapping
    pgoff: int  # page offset into the file (anon: start >> PAGE_SHIFT)
    huge: str | None  # None, "thp" or "hugetlb"
    anon_shared: bool = False  # MAP_SHARED|MAP_ANONYMOUS (shmem underneath)
    locked: bool = False  # VM_LOCKED (mlock)
    policy: Mempolicy | None = None  # mbind(2) policy
    anon_vma: bool = False  # holds anonymous pages (a write fault or a COW copy made one)
    # the clauses of why its pages are missing from the page table: fork() left them out
    why: tuple[str, ...] = ()

    @property
    def anonymous(self) -> bool:
        return self.file is None

    @property
    def shmem(self) -> bool:
        """A mapping of a shmem object (tmpfs, shared anonymous; hugetlbfs is not)."""
        return self.file is not None and self.file.shmem and self.huge != "hugetlb"

    def file_index(self, vpn: int) -> int:
        return self.pgoff + vpn - (self.start >> PAGE_SHIFT)


class Segfault(OSError):
    """An access the process itself makes outside its mappings (SIGSEGV)."""

    def __init__(self, addr: int, why: str) -> None:
        super().__init__(errno.EFAULT, f"address {addr:#x}: {why}")


AllocFn = Callable[[VMA, int, int, int], Frame]  # (vma, addr, flags, order) -> frame
# (vma, first vpn, count, flags) -> small frames for that many fresh pages, placed as
# AllocFn would place them one by one; fewer when a page finds no room
AllocRunFn = Callable[[VMA, int, int, int], list[Frame]]


class UserBytes(Protocol):
    """Where the bytes of user memory live when not in the frames: a real process
    (numa-sim-run), whose memory the simulator's page tables mirror."""

    def read(self, addr: int, length: int) -> bytes: ...

    def write(self, addr: int, data: bytes) -> int: ...


class AddressSpace:
    """One mm_struct."""

    def __init__(self, memory: NodeMemory, alloc: AllocFn) -> None:
        self.memory = memory
        self.alloc = alloc  # the owning task's policy-aware allocator
        self.vmas: list[VMA] = []
        self._starts: list[int] = []
        self.pt: dict[int, Frame] = {}
        self._next = MMAP_BASE
        self.users = 1  # processes (threads) sharing this mm
        # None: user bytes live in the frames; else in the real process this mirrors,
        # the simulator deciding only which accesses fault (the VMAs) and where pages go
        self.backing: UserBytes | None = None

    # --- VMA bookkeeping ---------------------------------------------------------
    def _reindex(self) -> None:
        self.vmas.sort(key=lambda v: v.start)
        self._starts = [v.start for v in self.vmas]

    def vma_lookup(self, addr: int) -> VMA | None:
        """The VMA containing ``addr`` (vma_lookup())."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.vmas[i].end:
            return self.vmas[i]
        return None

    def find_vma(self, addr: int) -> VMA | None:
        """The first VMA ending above ``addr`` (find_vma(): may start above it)."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.vmas[i].end:
            return self.vmas[i]
        return self.vmas[i + 1] if i + 1 < len(self.vmas) else None

    def vmas_in(self, start: int, end: int) -> Iterator[VMA]:
        for vma in list(self.vmas):
            if vma.end > start and vma.start < end:
                yield vma

    def _clash(self, start: int, end: int) -> VMA | None:
        """The first VMA overlapping [start, end), found by bisection."""
        vma = self.find_vma(start)
        return vma if vma is not None and vma.start < end else None

    def pick_address(self, length: int, align: int, hint: int = 0) -> int:
        """Where a new mapping goes: at ``hint`` if the range is free and aligned (a
        hole around it, so that it merges with nothing), else past the last one."""
        fits = hint and not hint % align and hint + length <= MMAP_LIMIT
        if fits and self._clash(hint - PAGE_SIZE, hint + length + PAGE_SIZE) is None:
            return hint
        addr = (self._next + align - 1) & ~(align - 1)
        while (clash := self._clash(addr, addr + length + PAGE_SIZE)) is not None:
            addr = (clash.end + PAGE_SIZE + align - 1) & ~(align - 1)  # past a hinted one
        if addr + length > MMAP_LIMIT:
            raise ValueError(f"length {length:#x} does not fit in the address space")
        self._next = addr + length + PAGE_SIZE  # leave a hole so mappings never merge
        return addr

    def add_vma(self, vma: VMA) -> None:
        self._attach(vma)
        self.vmas.append(vma)
        self._reindex()

    def _attach(self, vma: VMA) -> None:
        if vma.file is not None:
            vma.file.vmas += 1

    def _detach(self, vma: VMA) -> None:
        """``vma`` is gone: the shmem object of a shared anonymous mapping goes with
        its last VMA (shmem_evict_inode: its page cache is truncated)."""
        f = vma.file
        if f is None:
            return
        f.vmas -= 1
        if f.vmas == 0 and f.unlinked:
            cached, f.pages = f.pages, {}
            for frame in cached.values():
                self.maybe_free(frame)

    def split_errno(self, *addrs: int) -> int:
        """What splitting the VMAs at ``addrs`` would fail with, checked before any
        change: EINVAL off a huge page boundary of a hugetlb VMA
        (hugetlb_vm_op_split()); 0 when every split is fine.  A THP VMA splits
        anywhere: a THP mapped across the edge stays whole, mapped by two VMAs (the
        kernel splits its PMD; the folio is PTE-mapped)."""
        for addr in addrs:
            vma = self.vma_lookup(addr)
            if vma is not None and vma.huge == "hugetlb" and addr % HPAGE_SIZE:
                return errno.EINVAL
        return 0

    def split(self, addr: int) -> None:
        """Split the VMA containing ``addr`` so that a VMA starts at ``addr``."""
        vma = self.vma_lookup(addr)
        if vma is None or vma.start == addr:
            return
        if vma.huge == "hugetlb" and addr % HPAGE_SIZE:
            # callers check split_errno() first: nothing is half-done
            raise AssertionError(f"address {addr:#x} splits a hugetlb mapping off 2 MiB")
        upper = replace(vma, start=addr, pgoff=vma.file_index(addr >> PAGE_SHIFT))
        if vma.anonymous and not vma.anon_shared:
            upper.pgoff = addr >> PAGE_SHIFT
        vma.end = addr
        self._attach(upper)
        self.vmas.append(upper)
        self._reindex()

    def remove_range(self, start: int, end: int) -> int:
        """munmap(): drop the VMAs of [start, end), splitting those that straddle it;
        0, or the errno of a split the kernel refuses (nothing changed then).

        The pages go in one sweep over the whole range, not VMA by VMA: a THP mapped
        across two VMAs that both go never needs its PMD split (exit() unmaps
        everything, so it never fails)."""
        for edge in (start, end):
            self._refuse_pmd_split(edge)
        err = self.split_errno(start, end)
        if err:
            return err
        self.split(start)
        self.split(end)
        self.unmap_pages(start, end)
        for vma in list(self.vmas_in(start, end)):
            self.vmas.remove(vma)
            self._detach(vma)
        self._reindex()
        return 0

    def _refuse_pmd_split(self, addr: int) -> None:
        """Checked before anything changes: a range edge inside a mapped huge folio."""
        frame = self.pt.get(addr >> PAGE_SHIFT)
        if frame is not None and frame.order and addr % HPAGE_SIZE:
            raise NotImplementedError(
                f"address {addr:#x} falls inside a mapped huge page: splitting its PMD "
                "(partial munmap of a transparent huge page) is not modelled"
            )

    # --- page table ----------------------------------------------------------------
    def map_frame(self, vpn: int, frame: Frame) -> None:
        """Install ``frame`` at ``vpn`` (the whole folio for a huge frame)."""
        if frame.order:
            base = vpn & ~(HPAGE_NR - 1)
            for v in range(base, base + HPAGE_NR):
                self.pt[v] = frame
        else:
            self.pt[vpn] = frame
        if not frame.flags & ZERO:
            frame.mapcount += 1

    def mapped_vpns(self, start: int, end: int) -> list[int]:
        """The page numbers in [start, end) that have an entry, in order."""
        pt = self.pt
        first, last = start >> PAGE_SHIFT, end >> PAGE_SHIFT
        if len(pt) < last - first:
            return sorted(v for v in pt if first <= v < last)
        return [v for v in range(first, last) if v in pt]

    def unmap_pages(self, start: int, end: int) -> None:
        """Drop the mappings of [start, end); free frames nothing else holds."""
        pt = self.pt
        vpn = start >> PAGE_SHIFT
        last = end >> PAGE_SHIFT
        vpns = self.mapped_vpns(start, end)
        for v in vpns:
            frame = pt.get(v)
            if frame is None:
                continue
            if frame.order:
                base = v & ~(HPAGE_NR - 1)
                if base < vpn or base + HPAGE_NR > last:
                    raise NotImplementedError(
                        "unmapping part of a huge page (a PMD split) is not modelled"
                    )
                for sub in range(base, base + HPAGE_NR):
                    del pt[sub]
            else:
                del pt[v]
            self.release(frame)

    def release(self, frame: Frame) -> None:
        """One mapping of ``frame`` went away."""
        if frame.flags & ZERO:
            return
        frame.mapcount -= 1
        self.maybe_free(frame)

    def maybe_free(self, frame: Frame) -> None:
        in_cache = frame.mapping is not None and frame.mapping.pages.get(frame.index) is frame
        if frame.mapcount == 0 and frame.pins == 0 and not in_cache:
            self.memory.free(frame)

    # --- faults ----------------------------------------------------------------------
    def fault(self, vma: VMA, addr: int, write: bool) -> Frame:
        """Resolve a user access at ``addr`` inside ``vma``; returns the mapped frame."""
        vpn = addr >> PAGE_SHIFT
        frame = self.pt.get(vpn)
        if frame is not None and frame.flags & SWAPPED:
            # do_swap_page(): read it back in, on a node the policy picks
            placed = self.alloc(vma, addr, 0, frame.order)  # accounted on its node
            frame.nid = placed.nid
            frame.flags &= ~SWAPPED
        if frame is not None and not write:
            return frame
        if vma.huge == "hugetlb":
            if frame is not None and frame.mapcount > 1 and not vma.shared:
                # hugetlb_wp(): a private huge page shared by fork is copied for the
                # writer
                return self._cow_huge(vma, vpn, frame, HUGETLB | ANON | DIRTY)
            huge = frame or self._fault_hugetlb(vma, vpn)
            # hugetlb_fault() makes the PTE of a write dirty (numa_maps: dirty=1)
            huge.flags |= DIRTY
            return huge
        if not vma.anonymous or vma.anon_shared:
            return self._fault_file(vma, vpn, write, frame)
        return self._fault_anon(vma, addr, vpn, write, frame)

    def _fault_hugetlb(self, vma: VMA, vpn: int) -> Frame:
        base = vpn & ~(HPAGE_NR - 1)
        if vma.file is not None:
            index = vma.file_index(base)
            cached = vma.file.pages.get(index)
            if cached is None:
                cached = self.alloc(vma, base << PAGE_SHIFT, HUGETLB, HPAGE_ORDER)
                cached.mapping, cached.index = vma.file, index
                vma.file.pages[index] = cached
            self.map_frame(vpn, cached)
            return cached
        frame = self.alloc(vma, base << PAGE_SHIFT, HUGETLB | ANON, HPAGE_ORDER)
        vma.anon_vma = True
        self.map_frame(vpn, frame)
        return frame

    def _fault_file(self, vma: VMA, vpn: int, write: bool, mapped: Frame | None) -> Frame:
        assert vma.file is not None
        if mapped is not None and mapped.flags & ANON and not vma.shared:
            # a private copy made earlier is an anonymous page now (shared with a forked
            # child, a write copies it again)
            return self._fault_anon(vma, vpn << PAGE_SHIFT, vpn, write, mapped)
        if mapped is not None and vma.shared:
            if write:
                mapped.flags |= DIRTY
            return mapped  # a shared page is written in place
        index = vma.file_index(vpn)
        cached = vma.file.pages.get(index)
        if cached is None:
            # read from "disk" (or a shmem hole) into a new page-cache page
            cached = self.alloc(vma, vpn << PAGE_SHIFT, 0, 0)
            cached.mapping, cached.index = vma.file, index
            vma.file.pages[index] = cached
        if not vma.shared and write:
            # MAP_PRIVATE write: copy-on-write from the page cache
            if mapped is not None:
                del self.pt[vpn]
                self.release(mapped)
            copy = self.alloc(vma, vpn << PAGE_SHIFT, ANON | DIRTY, 0)
            copy.data = bytearray(cached.data) if cached.data is not None else None
            vma.anon_vma = True
            self.map_frame(vpn, copy)
            return copy
        if mapped is None:
            self.map_frame(vpn, cached)
            if not write:
                self._fault_around(vma, vpn)
        if write:
            cached.flags |= DIRTY
        return cached

    def _fault_around(self, vma: VMA, vpn: int) -> None:
        """do_read_fault() -> do_fault_around(): a read fault on a file or shmem mapping
        also maps the neighbours already in the page cache (filemap_map_pages), into
        empty entries only, over the fault_around_bytes (64 KiB) aligned window clamped
        to the VMA, the page table and the file's end."""
        assert vma.file is not None
        cache = vma.file.pages
        start = max(vpn & ~(FAULT_AROUND_PAGES - 1), vma.start >> PAGE_SHIFT)
        end = min(
            start + FAULT_AROUND_PAGES,
            (vpn | (PTRS_PER_PTE - 1)) + 1,  # one page table: do_fault_around stays in it
            vma.end >> PAGE_SHIFT,
        )
        eof = -(-vma.file.size // PAGE_SIZE)  # i_size, in pages: nothing past it maps
        for v in range(start, end):
            if v == vpn or v in self.pt:
                continue
            index = vma.file_index(v)
            frame = cache.get(index) if index < eof else None
            if frame is not None:
                self.map_frame(v, frame)

    def _fault_anon(
        self, vma: VMA, addr: int, vpn: int, write: bool, mapped: Frame | None
    ) -> Frame:
        if not write:
            # read fault on untouched private anonymous memory: the shared zero page
            self.pt[vpn] = ZERO_PAGE
            return ZERO_PAGE
        if mapped is not None and not mapped.flags & ZERO:
            if mapped.mapcount == 1:
                # exclusively ours: its pte is writable, so the write lands in place, pinned
                # or not (a pin holds this very page: vmsplice sees the new bytes)
                mapped.flags |= DIRTY
                return mapped
            if mapped.order:
                return self._cow_thp(vma, vpn, mapped)
            copy = self.alloc(vma, addr, ANON | DIRTY, 0)
            copy.data = bytearray(mapped.data) if mapped.data is not None else None
            self.pt[vpn] = copy
            copy.mapcount = 1
            self.release(mapped)
            return copy
        if vma.huge == "thp" and self._thp_fits(vma, vpn):
            base = vpn & ~(HPAGE_NR - 1)
            frame = self.alloc(vma, base << PAGE_SHIFT, ANON | DIRTY | THP, HPAGE_ORDER)
            vma.anon_vma = True
            self.map_frame(vpn, frame)
            return frame
        frame = self.alloc(vma, addr, ANON | DIRTY, 0)
        vma.anon_vma = True
        if mapped is not None:  # replacing the zero page
            del self.pt[vpn]
        self.map_frame(vpn, frame)
        return frame

    def _cow_thp(self, vma: VMA, vpn: int, shared: Frame) -> Frame:
        """A write to a THP shared by fork: this address space gets its own copy of the
        whole 2 MiB folio (do_huge_pmd_wp_page() before 5.8).  A named approximation,
        THP_COW_COPIES_WHOLE (simnuma/approximations.py): since 3917c80280c9 (5.8) the
        kernel splits the writer's PMD and copies only the 4 KiB page written, a
        PTE-mapped THP this model cannot hold.  No room for a copy: OutOfNodeMemory,
        before anything changed."""
        return self._cow_huge(vma, vpn, shared, ANON | DIRTY | THP)

    def _cow_huge(self, vma: VMA, vpn: int, shared: Frame, flags: int) -> Frame:
        """The writer's own copy of a huge folio shared by fork."""
        base = vpn & ~(HPAGE_NR - 1)
        copy = self.alloc(vma, base << PAGE_SHIFT, flags, HPAGE_ORDER)
        copy.data = bytearray(shared.data) if shared.data is not None else None
        for v in range(base, base + HPAGE_NR):
            self.pt[v] = copy
        copy.mapcount = 1
        self.release(shared)
        return copy

    def _thp_fits(self, vma: VMA, vpn: int) -> bool:
        base = vpn & ~(HPAGE_NR - 1)
        start = base << PAGE_SHIFT
        if start < vma.start or start + HPAGE_SIZE > vma.end:
            return False
        return all(v not in self.pt for v in range(base, base + HPAGE_NR))

    # --- user memory -----------------------------------------------------------------
    def _walk(
        self, addr: int, length: int, write: bool, kernel: bool = True
    ) -> Iterator[tuple[Frame, int, int]]:
        """Yield (frame, offset in frame, byte count) page by page; stop at a fault.
        ``kernel``: the kernel's own access (uaccess), where no room for a page ends
        the copy; the process's own access raises OutOfNodeMemory instead."""
        need = PROT_WRITE if write else PROT_READ
        end = addr + length
        while addr < end:
            vma = self.vma_lookup(addr)
            if vma is None or not vma.prot & need:
                return
            try:
                frame = self.fault(vma, addr, write)
            except OutOfNodeMemory:
                if not kernel:
                    raise
                # VM_FAULT_OOM in a kernel access to user memory: the copy stops there
                # (the uaccess fixup), the caller sees a short copy: EFAULT
                return
            vpn = addr >> PAGE_SHIFT
            sub = (vpn & (HPAGE_NR - 1)) if frame.order else 0
            offset = (sub << PAGE_SHIFT) + (addr & (PAGE_SIZE - 1))
            count = min(end - addr, PAGE_SIZE - (addr & (PAGE_SIZE - 1)))
            yield frame, offset, count
            addr += count

    def copy_from_user(self, addr: int, length: int, *, kernel: bool = True) -> bytes:
        """The readable prefix of [addr, addr+length) (shorter = a fault cut it)."""
        if addr < 0 or addr + length > MMAP_LIMIT + PAGE_SIZE:
            return b""
        if self.backing is not None:
            n = sum(count for _, _, count in self._walk(addr, length, False, kernel))
            return self.backing.read(addr, n)
        parts = []
        for frame, offset, count in self._walk(addr, length, False, kernel):
            if frame.data is None:
                parts.append(bytes(count))
            else:
                parts.append(bytes(frame.data[offset : offset + count]))
        return b"".join(parts)

    def copy_to_user(self, addr: int, data: bytes, *, kernel: bool = True) -> int:
        """Write ``data``; return how many bytes landed before a fault."""
        if addr < 0 or addr + len(data) > MMAP_LIMIT + PAGE_SIZE:
            return 0
        if self.backing is not None:
            n = sum(count for _, _, count in self._walk(addr, len(data), True, kernel))
            return self.backing.write(addr, data[:n])
        done = 0
        for frame, offset, count in self._walk(addr, len(data), True, kernel):
            if frame.data is None:
                frame.data = bytearray(frame.nr_pages << PAGE_SHIFT)
            frame.data[offset : offset + count] = data[done : done + count]
            done += count
        return done

    def access_range(self, addr: int, length: int, write: bool) -> None:
        """Fault in every page of the range as the process itself would (touch/read)."""
        end = addr + length
        addr &= ~(PAGE_SIZE - 1)
        need = PROT_WRITE if write else PROT_READ
        while addr < end:
            vma = self.vma_lookup(addr)
            if vma is None:
                raise Segfault(addr, "not mapped")
            if not vma.prot & need:
                raise Segfault(addr, "protection forbids the access")
            if write:
                done = self.fault_fresh_run(vma, addr, end)
                if done != addr:
                    addr = done
                    continue
            frame = self.fault(vma, addr, write)
            step = HPAGE_SIZE - (addr & (HPAGE_SIZE - 1)) if frame.order else PAGE_SIZE
            addr += step

    # --- bulk faults -------------------------------------------------------------------
    alloc_run: AllocRunFn | None = None  # the owning task's allocator for runs of pages
    bulk_faults = True  # False: every page through fault() (what the fast path must match)
    BULK_CHUNK = 1 << 16  # pages allocated per call (bounds the temporary list)

    def fault_fresh_run(self, vma: VMA, addr: int, end: int) -> int:
        """Write-fault the untouched pages of a private anonymous small-page VMA from
        ``addr`` on, as fault() would one by one; return where it stopped (``addr``
        when it did nothing: not such a VMA, a page already there, or no room).

        The caller has checked that ``vma`` allows the write.  Each page gets what
        _fault_anon() gives a fresh small page: keep the two in step (the property
        test tests/test_touch_fast_path.py compares them)."""
        alloc_run = self.alloc_run
        if (
            alloc_run is None
            or not self.bulk_faults
            or not vma.anonymous
            or vma.anon_shared
            or vma.huge is not None
        ):
            return addr
        pt = self.pt
        vpn = addr >> PAGE_SHIFT
        last = (min(end, vma.end) + PAGE_SIZE - 1) >> PAGE_SHIFT
        with collector_paused():
            while vpn < last:
                stop = vpn
                limit = min(last, vpn + self.BULK_CHUNK)
                while stop < limit and stop not in pt:
                    stop += 1
                if stop == vpn:
                    break
                frames = alloc_run(vma, vpn, stop - vpn, ANON | DIRTY)
                if frames:
                    vma.anon_vma = True
                for v, frame in zip(range(vpn, vpn + len(frames)), frames, strict=True):
                    frame.mapcount = 1  # map_frame() of a small page
                    pt[v] = frame
                vpn += len(frames)
                if vpn != stop:
                    break  # no room for this page: fault() raises for it
        return max(addr, vpn << PAGE_SHIFT)
