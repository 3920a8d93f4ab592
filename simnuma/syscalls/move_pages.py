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

from simnuma.abi import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, PROT_NONE
from simnuma.abi.quirks import Quirk
from simnuma.creds import CAP_SYS_NICE
from simnuma.frames import HPAGE_NR, HUGETLB, ISOLATED, PAGE_SHIFT, SWAPPED, THP, ZERO, Frame
from simnuma.migrate import migrate_frames, split_thp, thp_splittable, vma_migratable
from simnuma.mm import AddressSpace
from simnuma.syscalls.common import find_task, may_act_on
from simnuma.uaccess import U64, UserArray, as_s32, as_u64, put_ints, readable, writable

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel
    from simnuma.process import SimProcess

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
        return -errno.EINVAL
    # ERRORS EPERM: MPOL_MF_MOVE_ALL without CAP_SYS_NICE (checked before the pid)
    move_all = bool(flags & MPOL_MF_MOVE_ALL)
    if move_all and not current.creds.capable(CAP_SYS_NICE):
        return -errno.EPERM
    found = find_mm_struct(kernel, current, pid)
    if isinstance(found, int):
        return found
    mm, task_nodes = found
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


def find_mm_struct(
    kernel: SimKernel, current: SimProcess, pid: int
) -> tuple[AddressSpace, frozenset[int]] | int:
    """The target's mm and the node set EACCES is judged by: the *target's* cpuset."""
    profile = kernel.profile
    task = find_task(kernel, current, pid)
    # ERRORS ESRCH: process does not exist
    if task is None:
        return -errno.ESRCH
    # ERRORS EINVAL: kernel thread, looked at before the permission check (MM_BEFORE_PERMISSION)
    if task.mm is None and profile.has(Quirk.MM_BEFORE_PERMISSION):
        return -errno.EINVAL
    # ERRORS EPERM: another user's process (MOVE_PAGES_UID_RULE, else the ptrace rule)
    if pid != 0 and not may_act_on(current, task, profile.has(Quirk.MOVE_PAGES_UID_RULE)):
        return -errno.EPERM
    # ERRORS EINVAL: an attempt to migrate pages of a kernel thread
    if task.mm is None:
        return -errno.EINVAL
    return task.mm, task.cpuset


def resolve(kernel: SimKernel, mm: AddressSpace, addr: int, for_move: bool) -> Frame | int:
    """The folio mapped at ``addr``, or the status the lookup gives (-EFAULT, -ENOENT)."""
    profile = kernel.profile
    if profile.has(Quirk.HOLE_BELOW_VMA_ENOENT):
        vma = mm.find_vma(addr)
    else:
        vma = mm.vma_lookup(addr)
    # STATUS -EFAULT: the memory area is not mapped (or, moving, cannot migrate)
    if vma is None or (for_move and not vma_migratable(kernel, vma)):
        return -errno.EFAULT
    # STATUS -ENOENT: a hole below a VMA looked up in that VMA (HOLE_BELOW_VMA_ENOENT)
    if addr < vma.start:
        return -errno.ENOENT
    frame = mm.pt.get(addr >> PAGE_SHIFT)
    # STATUS -ENOENT: not present (never-populated private anon: UNPOPULATED_ANON_EFAULT)
    if frame is None:
        anon_private = vma.anonymous and not vma.anon_shared and vma.huge != "hugetlb"
        if anon_private and profile.has(Quirk.UNPOPULATED_ANON_EFAULT):
            return -errno.EFAULT
        return -errno.ENOENT
    if vma.prot == PROT_NONE and profile.has(Quirk.PROT_NONE_NOT_FOLLOWED):
        # STATUS -EFAULT: a PROT_NONE huge pmd is not followed: no_page_table(), which
        # FOLL_DUMP makes -EFAULT in anonymous memory (PROT_NONE_NOT_FOLLOWED)
        if frame.flags & THP and frame.order and vma.anonymous:
            return -errno.EFAULT
        # STATUS -ENOENT: a PROT_NONE pte is not followed (PROT_NONE_NOT_FOLLOWED)
        return -errno.ENOENT
    # STATUS -ENOENT: swapped out (a swap entry is not an empty pte: never -EFAULT)
    if frame.flags & SWAPPED:
        return -errno.ENOENT
    # STATUS -EFAULT: the zero page (-ENOENT: ZERO_PAGE_ENOENT)
    if frame.flags & ZERO:
        return -errno.ENOENT if profile.has(Quirk.ZERO_PAGE_ENOENT) else -errno.EFAULT
    return frame


def stat_one(kernel: SimKernel, mm: AddressSpace, addr: int) -> int:
    """One query entry: the page's node or the lookup's error."""
    found = resolve(kernel, mm, addr, for_move=False)
    return found if isinstance(found, int) else found.nid


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
            return -errno.EBUSY
        # FOLL_SPLIT: the THP becomes 512 small pages and only the named one moves
        frame = split_thp(kernel, frame, addr >> PAGE_SHIFT)[(addr >> PAGE_SHIFT) % HPAGE_NR]
    # STATUS node: already on the target node
    if frame.nid == node:
        return node
    # STATUS -EACCES: mapped by several processes and no MPOL_MF_MOVE_ALL
    if frame.mapcount > 1 and not move_all:
        return -errno.EACCES
    # STATUS -EACCES: a hugetlb tail page is never isolated, err keeps -EACCES (HUGETLB_TAIL_EACCES)
    tail = (addr >> PAGE_SHIFT) % HPAGE_NR
    if frame.flags & HUGETLB and tail and profile.has(Quirk.HUGETLB_TAIL_EACCES):
        return -errno.EACCES
    # STATUS -EBUSY: isolation failed: off the LRU already (compaction, another
    # migration, or the same folio named earlier in this call), or not on it yet: put
    # back by an earlier batch of this call into a per-CPU batch (LRU_ADD_BATCHED)
    if frame.flags & ISOLATED or kernel.waits_for_lru(frame):
        return -errno.EBUSY
    frame.flags |= ISOLATED
    return frame


def _check_node(
    kernel: SimKernel, node: int, memory_nodes: frozenset[int], task_nodes: frozenset[int]
) -> int:
    """The per-entry node checks: 0, -ENODEV or -EACCES."""
    # ERRORS ENODEV: node out of range or without memory (N_MEMORY)
    if not 0 <= node < kernel.max_numnodes:
        if kernel.profile.has(Quirk.NODE_RANGE_UNCHECKED):
            # the old kernel read node_states[] out of bounds (CVE-2010-0415): no
            # defined result; answered as the fixed kernel does, and said so
            kernel.approximated.add("NODE_RANGE_UNCHECKED_ENODEV")
        return -errno.ENODEV
    if node not in memory_nodes:
        return -errno.ENODEV
    # ERRORS EACCES: node not allowed by the target's cpuset
    if node not in task_nodes:
        return -errno.EACCES
    return 0


def _put_each(user: AddressSpace, status: int, values: list[int]) -> bool:
    """put_user() per entry, going on past a fault; False if any entry faulted."""
    if put_ints(user, status, values):
        return True
    for i, v in enumerate(values):
        put_ints(user, status + 4 * i, [v])
    return False


# --- query mode (nodes == NULL), after MOVE_PAGES_WHOLE_ARRAY ---------------------------
def do_pages_stat(
    kernel: SimKernel, mm: AddressSpace, user: AddressSpace, nr_pages: int, pages: int, status: int
) -> int:
    """Chunks of 16: copy the pointers, look each up, copy the statuses out; a chunk
    that faults ends the call with EFAULT, earlier chunks already written."""
    group = DO_PAGES_STAT_CHUNK_NR * 256
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
            out = []
            for a in addrs:
                frame = pt_get(a >> PAGE_SHIFT)
                if inline and frame is not None and not frame.flags & (ZERO | SWAPPED):
                    out.append(frame.nid)
                else:
                    out.append(stat_one(kernel, mm, a))
            put_ints(user, dst, out)
            done += n
            continue
        n = min(DO_PAGES_STAT_CHUNK_NR, nr_pages - done)
        chunk = UserArray(user, src, n, "Q").get_range(0, n) if src + 8 * n <= U64 else None
        if chunk is None:
            break
        if not put_ints(user, dst, [stat_one(kernel, mm, a) for a in chunk]):
            break
        done += n
    # ERRORS EFAULT: a chunk of pages[] or status[] could not be accessed
    return -errno.EFAULT if done < nr_pages else 0


# --- MOVE_PAGES_WHOLE_ARRAY, then MOVE_PAGES_CHUNKED ------------------------------------
def _read_entries(call: MoveCall, start: int, end: int) -> tuple[list[int], list[int]] | int:
    """Entries [start, end) copied in and validated before any of them is looked up:
    each address, then its node (none in query mode) and the node checks."""
    kernel, memory_nodes = call.kernel, call.kernel.memory_nodes()
    addr_of = call.addresses()
    node_of = call.targets() if call.nodes else None
    addrs, targets = [], []
    for i in range(start, end):
        addr = addr_of.get(i)
        # ERRORS EFAULT: pages[] could not be read
        if addr is None:
            return -errno.EFAULT
        addrs.append(addr)
        if node_of is not None:
            node = node_of.get(i)
            # ERRORS EFAULT: nodes[] could not be read
            if node is None:
                return -errno.EFAULT
            # ERRORS ENODEV / EACCES: the node checks
            err = _check_node(kernel, node, memory_nodes, call.task_nodes)
            if err:
                return err
            targets.append(node)
    return addrs, targets


def _whole_array(call: MoveCall) -> int:
    """The original sys_move_pages() (MOVE_PAGES_WHOLE_ARRAY): one control array."""
    kernel, nr_pages = call.kernel, call.nr_pages
    # ERRORS E2BIG: nr_pages >= ULONG_MAX / sizeof(struct page_to_node) - 1
    if nr_pages >= U64 // PAGE_TO_NODE_SIZE - 1:
        return -errno.E2BIG
    # ERRORS ENOMEM: the (nr_pages + 1)-entry control array could not be vmalloc'd
    free_bytes = sum(n.free for n in kernel.nodes.values()) << PAGE_SHIFT
    if (nr_pages + 1) * PAGE_TO_NODE_SIZE > min(VMALLOC_SPACE, free_bytes):
        return -errno.ENOMEM
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
        err = -errno.EFAULT
    return err


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
            return out, -errno.ENOENT
        return out, 0
    migration = migrate_frames(kernel, queued, [targets[i] for i in queued_at])
    for i, result in zip(queued_at, migration.results, strict=True):
        if result is not None:
            out[i] = result
    return out, migration.rc


def _chunked(call: MoveCall) -> int:
    """do_pages_move() of MOVE_PAGES_CHUNKED: validate, migrate, report 169 entries at
    a time."""
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
        # ERRORS EFAULT: status[] could not be written
        for j, value in enumerate(out):
            if not put_ints(call.user, call.status + 4 * (chunk_start + j), [value]):
                return -errno.EFAULT
    # pages that migrate_pages() could not move do not reach the return value
    return 0


# --- MOVE_PAGES_NODE_BATCHES ------------------------------------------------------------
def _batched(call: MoveCall) -> int:
    """do_pages_move() of a49bd4d71637: runs of entries for one node form a batch."""
    kernel, mm, user, task_nodes = call.kernel, call.mm, call.user, call.task_nodes
    nr_pages, pages, nodes, status = call.nr_pages, call.pages, call.nodes, call.status
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
    batch: list[Frame] = []
    current_node = -1
    start = 0

    def flush(i: int, final: bool = False) -> int:
        """move_pages_and_store_status(): migrate the batch, store its node for [start, i)."""
        nonlocal batch
        if not batch:
            if already_unwritten and not final and current_node >= 0 and i > start:
                # ALREADY_ON_TARGET_UNWRITTEN stored the run's node though nothing was queued,
                # except at out_flush, which returned early on an empty list
                stored = put_ints(user, status + 4 * start, [current_node] * (i - start))
                return 0 if stored else -errno.EFAULT
            return 0
        migration = migrate_frames(kernel, batch, [current_node] * len(batch))
        batch = []
        err = migration.rc
        if err:
            # a positive count also takes the entries never attempted (5984fabb6e82)
            if err > 0 and profile.has(Quirk.COUNT_UNATTEMPTED):
                err += nr_pages - i - (1 if profile.has(Quirk.UNATTEMPTED_OFF_BY_ONE) else 0)
            return err
        ok = put_ints(user, status + 4 * start, [current_node] * (i - start))
        return 0 if ok else -errno.EFAULT

    err = 0
    i = 0
    while i < nr_pages:
        addr = get_addr(i)
        node = get_node(i) if addr is not None else None
        # ERRORS EFAULT: pages[i] or nodes[i] could not be read
        if addr is None or node is None:
            err = -errno.EFAULT
            break
        if node not in ok_nodes:
            err = _check_node(kernel, node, memory_nodes, task_nodes)
            if err:
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
            batch.append(frame)
            i += 1
            continue
        found = isolate_for_move(kernel, mm, addr, node, call.move_all)
        if not isinstance(found, int):
            batch.append(found)
            i += 1
            continue
        if found == node and already_unwritten:
            i += 1  # ALREADY_ON_TARGET_UNWRITTEN: queued-like; written if its batch flushes
            continue
        # STATUS: the error, or the node the page already is on
        if not put_ints(user, status + 4 * i, [found]):
            err = -errno.EFAULT
            break
        err = flush(i)
        if err:
            # entry i was counted as not attempted although its status is stored
            fixed = not profile.has(Quirk.UNATTEMPTED_OFF_BY_ONE)
            if err > 0 and fixed and profile.has(Quirk.COUNT_UNATTEMPTED):
                err -= 1
            return err
        current_node = -1
        i += 1
    # out_flush: the pending batch still migrates; an earlier error wins
    err1 = flush(i, final=True)
    return err if err < 0 else err1
