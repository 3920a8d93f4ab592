"""move_pages(2), in the kernel's check order, per release era.

Three eras differ in structure, so each has its own body (the releases are the
quirks'): MOVE_PAGES_WHOLE_ARRAY reads and validates the whole array first (E2BIG,
ENOENT), MOVE_PAGES_CHUNKED works in chunks of 169 entries with per-page migration
statuses (the two share the validation, _read_entries, and the per-page migration,
_move_and_report), MOVE_PAGES_NODE_BATCHES batches consecutive entries bound for one
node and reports failures as a positive return.  Smaller differences are quirks
checked inline.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from simnuma.abi import MPOL_DEFAULT, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, PROT_NONE
from simnuma.abi.quirks import Quirk
from simnuma.creds import CAP_SYS_NICE
from simnuma.explain import also, because, frame_why, mirrors, reasons_of
from simnuma.frames import (
    ANON,
    HPAGE_NR,
    HUGETLB,
    ISOLATED,
    PAGE_SHIFT,
    PAGE_SIZE,
    SWAPPED,
    THP,
    ZERO,
    Frame,
)
from simnuma.migrate import migrate_frames, split_thp, thp_splittable, vma_migratable
from simnuma.mm import AddressSpace
from simnuma.syscalls.common import find_task, may_act_on, permission_clauses
from simnuma.uaccess import U64, UserArray, as_s32, as_u64, put_ints, readable, writable

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel
    from simnuma.process import SimProcess
    from simnuma.profiles import Profile

PAGE_TO_NODE_SIZE = 24  # struct page_to_node: addr, page, node, status
CHUNK_NR_PAGES = 4096 // PAGE_TO_NODE_SIZE - 1  # 169 (MOVE_PAGES_CHUNKED)
DO_PAGES_STAT_CHUNK_NR = 16
VMALLOC_SPACE = 32 << 40  # x86-64 vmalloc area: 32 TiB

Getter = Callable[[int], int | None]

# The query and batched paths answer the common entry (a present private page) from the
# page table without the lookup rule (resolve/isolate_for_move).  False sends every
# entry through the rule: tests/test_move_pages_fast_paths.py runs each call both ways.
FAST_PATHS = True


@dataclass(frozen=True)
class MoveCall:
    """One call's arguments once find_mm_struct() has passed: what every era body takes."""

    kernel: SimKernel
    mm: AddressSpace  # the target's memory
    user: AddressSpace  # the caller's: pages[], nodes[] and status[] live there
    task_nodes: frozenset[int]  # the target's cpuset (EACCES)
    nr_pages: int
    pages: int
    nodes: int
    status: int
    move_all: bool

    def addresses(self) -> UserArray:
        return UserArray(self.user, self.pages, self.nr_pages, "Q")

    def targets(self) -> UserArray:
        return UserArray(self.user, self.nodes, self.nr_pages, "i")

    def store(self, first: int, values: list[int]) -> bool:
        """put_user() of status entries from ``first``; False if it faulted."""
        return put_ints(self.user, self.status + 4 * first, values)


@mirrors("kernel_move_pages")
def sys_move_pages(
    kernel: SimKernel,
    current: SimProcess,
    pid: int,
    nr_pages: int,
    pages: int,
    nodes: int,
    status: int,
    flags: int,
) -> int:
    """move_pages(2): returns 0, pages not migrated (> 0), or -errno."""
    pid, flags = as_s32(pid), as_s32(flags)
    nr_pages, pages, nodes, status = as_u64(nr_pages), as_u64(pages), as_u64(nodes), as_u64(status)
    profile = kernel.profile
    # ERRORS EINVAL: flags other than MPOL_MF_MOVE and MPOL_MF_MOVE_ALL
    if flags & ~(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        return because(-errno.EINVAL, "move_pages.errno.EINVAL.flags")
    move_all = bool(flags & MPOL_MF_MOVE_ALL)
    # ERRORS EPERM: MPOL_MF_MOVE_ALL without CAP_SYS_NICE (checked before the pid)
    if move_all and not current.creds.capable(CAP_SYS_NICE):
        no_pid = find_task(kernel, current, pid) is None
        before_esrch = ("move_pages.errno.EPERM.move_all_before_ESRCH",) if no_pid else ()
        return because(-errno.EPERM, "move_pages.errno.EPERM.move_all", *before_esrch)
    found = find_mm_struct(kernel, current, pid)
    if isinstance(found, int):
        return found
    mm, task_nodes = found
    target = find_task(kernel, current, pid)
    policies = target is not None and target.policy.mode != MPOL_DEFAULT
    if policies or any(v.policy is not None for v in mm.vmas):
        # the target's memory policies are not consulted (NOTES)
        kernel.record.note("move_pages.ignores_mempolicy")
    user = current.mm  # the arrays live in the caller's memory
    assert user is not None
    call = MoveCall(kernel, mm, user, task_nodes, nr_pages, pages, nodes, status, move_all)
    kernel.lru_batch.clear()  # migrate_prep(): lru_add_drain_all()
    if profile.has(Quirk.MOVE_PAGES_WHOLE_ARRAY):
        return _whole_array(call)
    if nodes == 0:
        return do_pages_stat(kernel, mm, user, nr_pages, pages, status)
    if profile.has(Quirk.MOVE_PAGES_CHUNKED):
        return _chunked(call)
    return _batched(call)


@mirrors("find_mm_struct")
def find_mm_struct(
    kernel: SimKernel, current: SimProcess, pid: int
) -> tuple[AddressSpace, frozenset[int]] | int:
    """The target's mm and the node set EACCES is judged by: the *target's* cpuset."""
    profile = kernel.profile
    task = find_task(kernel, current, pid)
    # ERRORS ESRCH: process does not exist
    if task is None:
        return because(-errno.ESRCH, "move_pages.errno.ESRCH")
    uid_rule = profile.has(Quirk.MOVE_PAGES_UID_RULE)
    allowed = pid == 0 or may_act_on(current, task, uid_rule)
    # ERRORS EINVAL: kernel thread, looked at before the permission check (MM_BEFORE_PERMISSION)
    if task.mm is None and profile.has(Quirk.MM_BEFORE_PERMISSION):
        first = () if allowed else ("move_pages.errno.EINVAL.kernel_thread_first",)
        return because(-errno.EINVAL, "move_pages.errno.EINVAL.kernel_thread", *first)
    why = permission_clauses("move_pages", current, task, uid_rule, allowed)
    # ERRORS EPERM: another user's process (MOVE_PAGES_UID_RULE, else the ptrace rule)
    if not allowed:
        return because(-errno.EPERM, *why)
    kernel.record.note(*why)
    # ERRORS EINVAL: an attempt to migrate pages of a kernel thread
    if task.mm is None:
        return because(-errno.EINVAL, "move_pages.errno.EINVAL.kernel_thread")
    return task.mm, task.cpuset


@mirrors("follow_page")
def resolve(kernel: SimKernel, mm: AddressSpace, addr: int, for_move: bool) -> Frame | int:
    """The folio mapped at ``addr``, or the status the lookup gives (-EFAULT, -ENOENT)."""
    profile = kernel.profile
    if profile.has(Quirk.HOLE_BELOW_VMA_ENOENT):
        vma = mm.find_vma(addr)
    else:
        vma = mm.vma_lookup(addr)
    # STATUS -EFAULT: the memory area is not mapped
    if vma is None:
        below = mm.find_vma(addr) is not None
        hole = "move_pages.status.EFAULT.hole_below_vma" if below else ""
        return because(-errno.EFAULT, "move_pages.status.EFAULT.unmapped", *filter(None, [hole]))
    # STATUS -EFAULT: moving, a mapping that cannot migrate (HUGETLB_NOT_MIGRATABLE)
    if for_move and not vma_migratable(kernel, vma):
        return because(-errno.EFAULT, "move_pages.status.EFAULT.hugetlb")
    # STATUS -ENOENT: a hole below a VMA looked up in that VMA (HOLE_BELOW_VMA_ENOENT)
    if addr < vma.start:
        return because(-errno.ENOENT, "move_pages.status.ENOENT.hole_below_vma")
    frame = mm.pt.get(addr >> PAGE_SHIFT)
    # STATUS -ENOENT: not present (never-populated private anon: UNPOPULATED_ANON_EFAULT)
    if frame is None:
        anon_private = vma.anonymous and not vma.anon_shared and vma.huge != "hugetlb"
        if anon_private and profile.has(Quirk.UNPOPULATED_ANON_EFAULT):
            return because(-errno.EFAULT, "move_pages.status.EFAULT.unpopulated")
        if anon_private:
            return because(-errno.ENOENT, "move_pages.status.ENOENT.unpopulated", *vma.why)
        cached = vma.file is not None and vma.file_index(addr >> PAGE_SHIFT) in vma.file.pages
        unmapped = ("move_pages.status.ENOENT.page_cache_unmapped",) if cached else ()
        return because(
            -errno.ENOENT, "move_pages.status.ENOENT.unpopulated_file", *vma.why, *unmapped
        )
    if vma.prot == PROT_NONE and profile.has(Quirk.PROT_NONE_NOT_FOLLOWED):
        # STATUS -EFAULT: a PROT_NONE huge pmd is not followed: no_page_table(), which
        # FOLL_DUMP makes -EFAULT in anonymous memory (PROT_NONE_NOT_FOLLOWED)
        if frame.flags & THP and frame.order and vma.anonymous:
            return because(-errno.EFAULT, "move_pages.status.EFAULT.prot_none_thp")
        # STATUS -ENOENT: a PROT_NONE pte is not followed (PROT_NONE_NOT_FOLLOWED)
        return because(-errno.ENOENT, "move_pages.status.ENOENT.prot_none")
    # STATUS -ENOENT: swapped out (a swap entry is not an empty pte: never -EFAULT)
    if frame.flags & SWAPPED:
        return because(-errno.ENOENT, "move_pages.status.ENOENT.swapped")
    # STATUS -EFAULT: the zero page (-ENOENT: ZERO_PAGE_ENOENT)
    if frame.flags & ZERO:
        if profile.has(Quirk.ZERO_PAGE_ENOENT):
            return because(-errno.ENOENT, "move_pages.status.ENOENT.zero_page")
        return because(-errno.EFAULT, "move_pages.status.EFAULT.zero_page")
    return frame


@mirrors("do_pages_stat_array")
def stat_one(kernel: SimKernel, mm: AddressSpace, addr: int) -> int:
    """One query entry: the page's node or the lookup's error."""
    found = resolve(kernel, mm, addr, for_move=False)
    if isinstance(found, int):
        return found
    # STATUS node: the node the page resides on
    return because(found.nid, "move_pages.status.node", *frame_why(found), *_unaligned(addr))


def _unaligned(addr: int) -> tuple[str, ...]:
    """An address inside a page names that page (the FIXME 'what if not aligned?')."""
    return ("move_pages.unaligned",) if addr & (PAGE_SIZE - 1) else ()


@mirrors("add_page_for_migration")
def isolate_for_move(
    kernel: SimKernel, mm: AddressSpace, addr: int, node: int, move_all: bool
) -> Frame | int:
    """add_folio_for_migration(): a folio isolated for the batch, or a status."""
    found = resolve(kernel, mm, addr, for_move=True)
    if isinstance(found, int):
        return found
    frame = found
    profile = kernel.profile
    if frame.flags & THP and profile.has(Quirk.THP_SPLIT_ON_MOVE):
        # STATUS -EBUSY: FOLL_SPLIT's split_huge_page() failed on a pinned THP
        # (THP_SPLIT_REFUSES_PINNED): follow_page() returns ERR_PTR(-EBUSY)
        if not thp_splittable(kernel, frame):
            return because(-errno.EBUSY, "move_pages.status.EBUSY.pinned_thp")
        # FOLL_SPLIT: the THP becomes 512 small pages and only the named one moves
        pinned = frame.pins
        frame = split_thp(kernel, frame, addr >> PAGE_SHIFT)[(addr >> PAGE_SHIFT) % HPAGE_NR]
        split = "move_pages.status.pinned_thp_split" if pinned else "move_pages.status.thp_split"
        kernel.record.note_folio(frame, split)
    # STATUS node: already on the target node
    if frame.nid == node:
        return because(node, "move_pages.status.already_on_target")
    # STATUS -EACCES: mapped by several processes and no MPOL_MF_MOVE_ALL
    if frame.mapcount > 1 and not move_all:
        cow = frame.flags & ANON
        shared = "move_pages.status.EACCES.cow" if cow else "move_pages.status.EACCES"
        vma = mm.vma_lookup(addr)
        forked = vma.why if vma is not None else ()
        return because(-errno.EACCES, shared, *forked)
    # STATUS -EACCES: a hugetlb tail page is never isolated, err keeps -EACCES (HUGETLB_TAIL_EACCES)
    tail = (addr >> PAGE_SHIFT) % HPAGE_NR
    if frame.flags & HUGETLB and tail and profile.has(Quirk.HUGETLB_TAIL_EACCES):
        return because(-errno.EACCES, "move_pages.status.EACCES.hugetlb_tail")
    # STATUS -EBUSY: isolation failed: off the LRU already (compaction, another
    # migration, or the same folio named earlier in this call), or not on it yet: put
    # back by an earlier batch of this call into a per-CPU batch (LRU_ADD_BATCHED)
    if frame in kernel.record.queued and not frame.flags & ISOLATED:
        # an earlier batch of this call moved it; on the LRU again, it moves again
        kernel.record.note_folio(frame, "move_pages.status.moved_again")
    if frame.flags & ISOLATED:
        queued = frame in kernel.record.queued
        why = "move_pages.status.EBUSY.same_page_twice" if queued else "move_pages.status.EBUSY"
        return because(-errno.EBUSY, why)
    if kernel.waits_for_lru(frame):
        return because(-errno.EBUSY, "move_pages.status.EBUSY.moved_earlier")
    frame.flags |= ISOLATED
    kernel.record.queued.add(frame)
    if frame.flags & THP:
        kernel.record.note_folio(frame, "move_pages.status.thp_whole")
    elif frame.flags & HUGETLB:
        whole = "move_pages.status.hugetlb_tail" if tail else "move_pages.status.hugetlb"
        kernel.record.note_folio(frame, whole)
    return frame


@mirrors("do_pages_move")
def _check_node(
    kernel: SimKernel, node: int, memory_nodes: frozenset[int], task_nodes: frozenset[int]
) -> int:
    """The per-entry node checks: 0, -ENODEV or -EACCES."""
    # ERRORS ENODEV: node out of range (MAX_NUMNODES)
    if not 0 <= node < kernel.max_numnodes:
        if kernel.profile.has(Quirk.NODE_RANGE_UNCHECKED):
            # the old kernel read node_states[] out of bounds (CVE-2010-0415): no
            # defined result; answered as the fixed kernel does, and said so
            kernel.approximated.add("NODE_RANGE_UNCHECKED_ENODEV")
        return because(-errno.ENODEV, "move_pages.errno.ENODEV.out_of_range")
    # ERRORS ENODEV: node without memory (N_MEMORY)
    if node not in memory_nodes:
        return because(-errno.ENODEV, "move_pages.errno.ENODEV")
    # ERRORS EACCES: node not allowed by the target's cpuset
    if node not in task_nodes:
        return because(
            -errno.EACCES, "move_pages.errno.EACCES", "move_pages.errno.EACCES.target_cpuset"
        )
    return 0


def _put_each(user: AddressSpace, status: int, values: list[int]) -> bool:
    """put_user() per entry, going on past a fault; False if any entry faulted."""
    if put_ints(user, status, values):
        return True
    for i, v in enumerate(values):
        put_ints(user, status + 4 * i, [v])
    return False


# --- query mode (nodes == NULL), after MOVE_PAGES_WHOLE_ARRAY ---------------------------
@mirrors("do_pages_stat")
def do_pages_stat(
    kernel: SimKernel, mm: AddressSpace, user: AddressSpace, nr_pages: int, pages: int, status: int
) -> int:
    """Chunks of 16: copy the pointers, look each up, copy the statuses out; a chunk
    that faults ends the call with EFAULT, earlier chunks already written."""
    group = DO_PAGES_STAT_CHUNK_NR * 256
    record = kernel.record
    pt_get = mm.pt.get
    # the inline lookup below is only right where every present page is followed
    inline = not kernel.profile.has(Quirk.PROT_NONE_NOT_FOLLOWED)
    done = 0
    while done < nr_pages:
        n = min(group, nr_pages - done)
        src, dst = pages + 8 * done, status + 4 * done
        run = FAST_PATHS and n > DO_PAGES_STAT_CHUNK_NR
        if run and readable(user, src, 8 * n) and writable(user, dst, 4 * n):
            # no fault anywhere in this run of chunks: handle it in one go
            addrs = UserArray(user, src, n, "Q").get_range(0, n) or []
            out: list[int] = []
            placed: list[tuple[str, ...]] = []
            answer, say = out.append, placed.append
            for a in addrs:
                frame = pt_get(a >> PAGE_SHIFT)
                if inline and not a & 0xFFF and frame and not frame.flags & (ZERO | SWAPPED):
                    answer(frame.nid)
                    say(frame.why)
                else:
                    answer(stat_one(kernel, mm, a))
                    say(())
            put_ints(user, dst, out)
            # STATUS node: a present page's node (an entry no lookup rule answered)
            record.store(done, out, "move_pages.status.node", pages=placed)
            done += n
            continue
        n = min(DO_PAGES_STAT_CHUNK_NR, nr_pages - done)
        chunk = UserArray(user, src, n, "Q").get_range(0, n) if src + 8 * n <= U64 else None
        if chunk is None:
            break
        out = [stat_one(kernel, mm, a) for a in chunk]
        if not put_ints(user, dst, out):
            break
        record.store(done, out)
        done += n
    # ERRORS EFAULT: a chunk of pages[] or status[] could not be accessed
    if done < nr_pages:
        return because(-errno.EFAULT, *_array_fault(user, pages, status, done, nr_pages))
    # RETURN VALUE: 0, every status written
    return because(0, "move_pages.result.zero")


def _array_fault(user: AddressSpace, pages: int, status: int, i: int, n: int) -> tuple[str, ...]:
    """Which array faulted at entry ``i``: pages[] (EFAULT) or status[] (EFAULT.status)."""
    if readable(user, pages + 8 * i, 8 * min(DO_PAGES_STAT_CHUNK_NR, n - i)):
        return ("move_pages.errno.EFAULT.status",)
    return ("move_pages.errno.EFAULT",)


# --- MOVE_PAGES_WHOLE_ARRAY, then MOVE_PAGES_CHUNKED ------------------------------------
@mirrors("do_pages_move")
def _read_entries(call: MoveCall, start: int, end: int) -> tuple[list[int], list[int]] | int:
    """Entries [start, end) copied in and validated before any of them is looked up:
    each address, then its node (none in query mode) and the node checks."""
    kernel, memory_nodes = call.kernel, call.kernel.memory_nodes()
    addr_of = call.addresses()
    node_of = call.targets() if call.nodes else None
    addrs, targets = [], []
    for i in range(start, end):
        untouched = ("move_pages.errno.no_partial_status",) if i else ()
        addr = addr_of.get(i)
        # ERRORS EFAULT: pages[] could not be read
        if addr is None:
            return because(-errno.EFAULT, "move_pages.errno.EFAULT", *untouched)
        addrs.append(addr)
        if node_of is not None:
            node = node_of.get(i)
            # ERRORS EFAULT: nodes[] could not be read
            if node is None:
                return because(-errno.EFAULT, "move_pages.errno.EFAULT", *untouched)
            # ERRORS ENODEV / EACCES: the node checks
            err = _check_node(kernel, node, memory_nodes, call.task_nodes)
            if err:
                return also(err, *untouched)
            targets.append(node)
    return addrs, targets


@mirrors("sys_move_pages")
def _whole_array(call: MoveCall) -> int:
    """The original sys_move_pages() (MOVE_PAGES_WHOLE_ARRAY): one control array."""
    kernel, nr_pages = call.kernel, call.nr_pages
    # ERRORS E2BIG: nr_pages >= ULONG_MAX / sizeof(struct page_to_node) - 1
    if nr_pages >= U64 // PAGE_TO_NODE_SIZE - 1:
        return because(-errno.E2BIG, "move_pages.errno.E2BIG")
    # ERRORS ENOMEM: the (nr_pages + 1)-entry control array could not be vmalloc'd
    free_bytes = sum(n.free for n in kernel.nodes.values()) << PAGE_SHIFT
    if (nr_pages + 1) * PAGE_TO_NODE_SIZE > min(VMALLOC_SPACE, free_bytes):
        return because(-errno.ENOMEM, "move_pages.errno.ENOMEM")
    # ERRORS EFAULT / ENODEV / EACCES: the whole array validated first
    entries = _read_entries(call, 0, nr_pages)
    if isinstance(entries, int):
        return entries
    addrs, targets = entries
    if not call.nodes:
        out = [stat_one(kernel, call.mm, a) for a in addrs]
        err = 0
    else:
        out, err = _move_and_report(call, addrs, targets)
    if err >= 0 and not _put_each(call.user, call.status, out):
        # ERRORS EFAULT: status[] could not be written
        err = because(-errno.EFAULT, "move_pages.errno.EFAULT.status")
    elif err >= 0:
        kernel.record.store(0, out)
    # RETURN VALUE: migrate_pages()' count of pages not moved, statuses written
    if err > 0:
        return because(err, "move_pages.result.positive.old")
    return because(0, "move_pages.result.zero") if err == 0 and not reasons_of(err) else err


@mirrors("do_move_pages")
def _move_and_report(call: MoveCall, addrs: list[int], targets: list[int]) -> tuple[list[int], int]:
    """Before MOVE_PAGES_NODE_BATCHES: look every entry up, migrate what was isolated,
    statuses per page.

    Returns the statuses and migrate_pages()' result (failures, or -errno).
    """
    out: list[int] = []
    queued: list[Frame] = []
    queued_at: list[int] = []
    kernel = call.kernel
    for i, (addr, node) in enumerate(zip(addrs, targets, strict=True)):
        found = isolate_for_move(kernel, call.mm, addr, node, call.move_all)
        if isinstance(found, int):
            out.append(found)
        else:
            out.append(-errno.EACCES if found.flags & HUGETLB else 0)
            queued.append(found)
            queued_at.append(i)
    if not queued:
        # ERRORS ENOENT: no page needed moving (MOVE_PAGES_ENOENT_IF_NOTHING_QUEUED)
        if kernel.profile.has(Quirk.MOVE_PAGES_ENOENT_IF_NOTHING_QUEUED):
            return out, because(-errno.ENOENT, "move_pages.errno.ENOENT")
        return out, because(0, "move_pages.result.zero", "move_pages.result.nothing_to_move")
    migration = migrate_frames(kernel, queued, [targets[i] for i in queued_at])
    for i, folio, result in zip(queued_at, queued, migration.results, strict=True):
        if result is None:
            continue
        if not reasons_of(result):
            # STATUS node: moved by the common path of migrate_pages(), contents and all
            result = because(result, "move_pages.status.node", "move_pages.contents")
        more = kernel.record.folio_notes.get(folio, ()) + folio.why
        out[i] = also(result, *more)
    return out, migration.rc


@mirrors("do_pages_move")
def _chunked(call: MoveCall) -> int:
    """do_pages_move() of MOVE_PAGES_CHUNKED: validate, migrate, report 169 entries at
    a time."""
    not_moved = 0
    for chunk_start in range(0, call.nr_pages, CHUNK_NR_PAGES):
        chunk_end = min(call.nr_pages, chunk_start + CHUNK_NR_PAGES)
        # ERRORS EFAULT / ENODEV / EACCES: the chunk validated first
        entries = _read_entries(call, chunk_start, chunk_end)
        if isinstance(entries, int):
            return entries
        out, rc = _move_and_report(call, *entries)
        # ERRORS ENOMEM: a target page could not be allocated
        if rc < 0:
            return rc
        not_moved += rc
        # ERRORS EFAULT: status[] could not be written
        for j, value in enumerate(out):
            if not call.store(chunk_start + j, [value]):
                return because(-errno.EFAULT, "move_pages.errno.EFAULT.status")
        call.kernel.record.store(chunk_start, out)
    # RETURN VALUE: pages that migrate_pages() could not move do not reach it
    if not_moved:
        return because(0, "move_pages.result.positive_swallowed")
    return because(0, "move_pages.result.zero")


# --- MOVE_PAGES_NODE_BATCHES ------------------------------------------------------------
@mirrors("do_pages_move")
def _batched(call: MoveCall) -> int:
    """do_pages_move() of a49bd4d71637: runs of entries for one node form a batch."""
    kernel, mm, user, task_nodes = call.kernel, call.mm, call.user, call.task_nodes
    nr_pages, pages, nodes = call.nr_pages, call.pages, call.nodes
    profile = kernel.profile
    already_unwritten = profile.has(Quirk.ALREADY_ON_TARGET_UNWRITTEN)
    memory_nodes = kernel.memory_nodes()
    ok_nodes = memory_nodes & task_nodes
    addr_of, node_of = call.addresses(), call.targets()
    get_addr: Getter = addr_of.get
    get_node: Getter = node_of.get
    whole = FAST_PATHS and readable(user, pages, 8 * nr_pages)
    if whole and readable(user, nodes, 4 * nr_pages):
        # both arrays readable: read them whole instead of entry by entry
        get_addr = cast(Getter, (addr_of.get_range(0, nr_pages) or []).__getitem__)
        get_node = cast(Getter, (node_of.get_range(0, nr_pages) or []).__getitem__)
    pt_get = mm.pt.get
    inline = FAST_PATHS and not profile.has(Quirk.PROT_NONE_NOT_FOLLOWED)
    record = kernel.record
    batch: list[Frame] = []
    current_node = -1
    start = 0

    @mirrors("move_pages_and_store_status")
    def flush(i: int, final: bool = False) -> int:
        """move_pages_and_store_status(): migrate the batch, store its node for [start, i)."""
        nonlocal batch
        if not batch:
            if already_unwritten and not final and current_node >= 0 and i > start:
                # ALREADY_ON_TARGET_UNWRITTEN stored the run's node though nothing was queued,
                # except at out_flush, which returned early on an empty list
                run = [current_node] * (i - start)
                if not call.store(start, run):
                    return because(-errno.EFAULT, "move_pages.errno.EFAULT.status")
                # STATUS node: a run already on its node, stored as its batch ended
                record.store(start, run, "move_pages.status.already_on_target_unwritten")
            return 0
        migration = migrate_frames(kernel, batch, [current_node] * len(batch))
        moved, batch = batch, []
        err = migration.rc
        # RETURN VALUE: -ENOMEM, or the pages not migrated (their statuses unwritten)
        if err < 0:
            return err
        if err:
            record.note("move_pages.status.unwritten")
            return _not_migrated(profile, err, nr_pages - i)
        run = [current_node] * (i - start)
        if not call.store(start, run):
            return because(-errno.EFAULT, "move_pages.errno.EFAULT.status")
        # STATUS node: the batch moved there, contents and all
        said = [f.why for f in moved] if not already_unwritten else None
        record.store(start, run, "move_pages.status.node", "move_pages.contents", pages=said)
        if record.folio_notes and not already_unwritten:
            # STATUS node: and what the lookup and the migration did to a folio (entry
            # start + k queued moved[k]: an entry already in place ends the batch)
            for k, folio in enumerate(moved):
                more = record.folio_notes.get(folio)
                if more:
                    node_why = ("move_pages.status.node", "move_pages.contents", *more)
                    record.store(start + k, [current_node], *node_why)
        return 0

    err = 0
    i = 0
    while i < nr_pages:
        addr = get_addr(i)
        node = get_node(i) if addr is not None else None
        # ERRORS EFAULT: pages[i] or nodes[i] could not be read
        if addr is None or node is None:
            err = because(-errno.EFAULT, "move_pages.errno.EFAULT", *_written_before(i))
            break
        if node not in ok_nodes:
            err = _check_node(kernel, node, memory_nodes, task_nodes)
            if err:
                err = also(err, *_written_before(i))
                break  # ERRORS ENODEV / EACCES, after the pending batch is migrated
        if current_node == -1:
            current_node, start = node, i
        elif node != current_node:
            err = flush(i)
            if err:
                return err
            current_node, start = node, i
        frame = pt_get(addr >> PAGE_SHIFT)
        if (
            inline
            and frame is not None
            and frame.mapcount == 1
            and not frame.flags & (ZERO | SWAPPED | ISOLATED | THP | HUGETLB)
            and frame.nid != node
            and not kernel.waits_for_lru(frame)
        ):
            frame.flags |= ISOLATED  # the common case: a private page, queued
            if frame in record.queued:  # an earlier batch of this call moved it
                record.note_folio(frame, "move_pages.status.moved_again")
            if frame.nid not in task_nodes:  # a cpuset no longer allowing the page's node
                record.note_folio(frame, "move_pages.cpuset_excludes_page_node")
            record.queued.add(frame)
            batch.append(frame)
            i += 1
            continue
        found = isolate_for_move(kernel, mm, addr, node, call.move_all)
        if not isinstance(found, int):
            batch.append(found)
            i += 1
            continue
        if found == node and already_unwritten:
            record.note("move_pages.status.already_on_target_unwritten")
            i += 1  # ALREADY_ON_TARGET_UNWRITTEN: queued-like; written if its batch flushes
            continue
        # STATUS: the error, or the node the page already is on
        if not call.store(i, [found]):
            err = because(-errno.EFAULT, "move_pages.errno.EFAULT.status")
            break
        record.store(i, [found])
        err = flush(i)
        if err:
            # entry i was counted as not attempted although its status is stored
            fixed = not profile.has(Quirk.UNATTEMPTED_OFF_BY_ONE)
            if err > 0 and fixed and profile.has(Quirk.COUNT_UNATTEMPTED):
                once = because(err - 1, *reasons_of(err))
                err = also(once, "move_pages.result.counts_entry_once")
            return err
        current_node = -1
        i += 1
    # out_flush: the pending batch still migrates; an earlier error wins
    err1 = flush(i, final=True)
    if err < 0:
        record.note("move_pages.status.unwritten")
        return err
    if err1:
        return err1
    # RETURN VALUE: 0, every page moved or already in place
    nothing = () if record.queued else ("move_pages.result.nothing_to_move",)
    return because(0, "move_pages.result.zero", *nothing)


def _written_before(i: int) -> tuple[str, ...]:
    """An error at entry ``i`` > 0: the statuses before it are written (4.17+)."""
    return ("move_pages.errno.partial_status",) if i else ()


def _not_migrated(profile: Profile, failed: int, after: int) -> int:
    """The positive return of a batch that did not all move: its failures, plus (since
    COUNT_UNATTEMPTED) the ``after`` entries never attempted, one short in 5.6-6.0."""
    # RETURN VALUE: only the failing batch's pages (before COUNT_UNATTEMPTED)
    if not profile.has(Quirk.COUNT_UNATTEMPTED):
        return because(failed, "move_pages.result.positive", "move_pages.result.batch_only")
    # RETURN VALUE: one short (UNATTEMPTED_OFF_BY_ONE)
    if profile.has(Quirk.UNATTEMPTED_OFF_BY_ONE):
        return because(failed + after - 1, "move_pages.result.off_by_one")
    # RETURN VALUE: the failing batch's pages and every entry never attempted
    return because(failed + after, "move_pages.result.positive", "move_pages.result.unattempted")
