"""The page-migration core: isolate, migrate a batch, node-to-node migration.

``migrate_frames`` is the kernel's migrate_pages() (MIGRATE_SYNC, MR_SYSCALL):
each folio is tried up to 10 times; the outcome per folio is its new node or
the error of its last attempt, and the return value counts the folios that did
not move (or is -ENOMEM when a target page could not be allocated).
"""

from __future__ import annotations

import bisect
import errno
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simnuma.abi.quirks import Quirk
from simnuma.explain import because, mirrors, reasons_of
from simnuma.frames import (
    ANON,
    DIRTY,
    HPAGE_NR,
    ISOLATED,
    PAGE_SHIFT,
    PAGE_SIZE,
    SWAPPED,
    THP,
    WRITEBACK,
    ZERO,
    ZERO_PAGE,
    Frame,
    collector_paused,
)
from simnuma.mempolicy import node_remap
from simnuma.mm import VMA, AddressSpace

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel


@dataclass
class Migration:
    """migrate_pages() outcome: ``rc`` (folios not moved, or -ENOMEM) and per-folio results."""

    rc: int
    results: list[int | None]  # node id, -errno, or None when never attempted
    why: tuple[str, ...] = ()  # clauses of what happened to the list as a whole


@mirrors("unmap_and_move")
def migrate_one(kernel: SimKernel, frame: Frame, target: int) -> int:
    """One folio through all passes: its new node, or the error of its last attempt."""
    node = kernel.nodes[target]
    # ENOMEM: the new page is a user allocation of the calling task: its cpuset is a hard
    # wall (__GFP_HARDWALL), whatever the target process's cpuset allows
    if kernel.current is not None and target not in kernel.current.cpuset:
        return because(-errno.ENOMEM, "move_pages.errno.ENOMEM.caller_cpuset")
    # ENOMEM: alloc_migration_target(__GFP_THISNODE) failed
    if node.free < frame.nr_pages:
        return because(-errno.ENOMEM, "move_pages.errno.ENOMEM", "move_pages.status.ENOMEM")
    done: list[str] = []
    mapping = frame.mapping
    if mapping is not None and frame.flags & DIRTY and not mapping.fs.migrate_folio:
        # EBUSY: fallback_migrate_folio(): no writeout any more
        if not kernel.profile.has(Quirk.DIRTY_NOMIGRATE_WRITEOUT):
            return because(-errno.EBUSY, "move_pages.status.EBUSY.dirty_nomigrate")
        # fallback_migrate_folio(): a dirty page must be written out first
        # EINVAL: writeout(): no ->writepage, permanent failure (counted since node batches)
        counted = kernel.profile.has(Quirk.MOVE_PAGES_NODE_BATCHES)
        if not mapping.fs.writepage:
            einval = "move_pages.status.EINVAL.as_count" if counted else "move_pages.status.EINVAL"
            return because(-errno.EINVAL, einval)
        # EIO: ->writepage failed
        if mapping.fs.writepage_fails:
            eio = "move_pages.status.EIO.as_count" if counted else "move_pages.status.EIO"
            return because(-errno.EIO, eio)
        frame.flags &= ~DIRTY  # written out; later passes find it clean
        done.append("move_pages.dirty_nomigrate_written_out")
    if frame.flags & WRITEBACK:
        # MIGRATE_SYNC waits for writeback to end (folio_wait_writeback)
        frame.flags &= ~WRITEBACK
        done.append("move_pages.status.writeback")
    # EAGAIN: the reference count never matches the expected one, every pass
    if frame.pins:
        return because(-errno.EAGAIN, "move_pages.status.EAGAIN.pinned")
    kernel.memory.try_move(frame, target)
    kernel.record.note_folio(frame, *done)
    # node: moved, its contents copied
    return because(target, "move_pages.status.node", "move_pages.contents", *done)


@mirrors("migrate_pages")
def migrate_frames(kernel: SimKernel, frames: list[Frame], targets: list[int]) -> Migration:
    """migrate_pages(): move each isolated folio to its target; put every folio back.

    A THP that finds no room is split and its pages retried (THP_NO_ROOM_SPLITS): the
    head at once, answering for the THP, the tails after the rest of the list; since
    THP_SPLIT_HEAD_LAST every page after the list, the head last, the THP counted as
    one failure unless all of them move (their own failures are not counted); since
    THP_SPLIT_PAGES_BEST_EFFORT one whose page finds no room no longer ends the call."""
    results: list[int | None] = [None] * len(frames)
    tails: list[tuple[Frame, int]] = []
    items = enumerate(zip(frames, targets, strict=True))
    rc, failed, split = _migrate_list(kernel, items, results, tails)
    if split:
        # the split pages (put back if the list's own -ENOMEM ended the call): a page
        # finding no room ends the call too, or (best effort) only their pass
        late, _, _ = _migrate_list(kernel, enumerate(tails), None, [], rc)
        if not kernel.profile.has(Quirk.THP_SPLIT_PAGES_BEST_EFFORT):
            rc = late
        # "Return 0 in case all subpages of fail-to-migrate THPs are migrated"
        if failed == split and all(f.nid == t for f, t in tails):
            failed = 0
    elif tails:
        late, more, _ = _migrate_list(kernel, enumerate(tails), None, tails, rc)
        rc, failed = late, failed + more
    return Migration(rc or failed, results)


def _migrate_list(
    kernel: SimKernel,
    items: Iterable[tuple[int, tuple[Frame, int]]],
    results: list[int | None] | None,
    tails: list[tuple[Frame, int]],
    rc: int = 0,
) -> tuple[int, int, int]:
    """The passes over one list: (rc, failures, THPs split to be retried after it, each
    one of the failures).  ``results``: where each outcome goes (None for the pages of
    a split THP, which answer for nothing)."""
    failed = split = 0
    nodes = kernel.nodes
    walled = kernel.current.cpuset if kernel.current is not None else None
    for i, (frame, target) in items:
        if rc:
            frame.flags &= ~ISOLATED  # putback_movable_pages() after the abort
            kernel.back_to_lru(frame)
            continue
        node = nodes[target]
        # the common case, inline: an anonymous small page nothing else holds
        simple = frame.mapping is None and not frame.pins and not frame.order
        if simple and node.used < node.capacity and (walled is None or target in walled):
            node.used += 1
            nodes[frame.nid].used -= 1
            frame.nid = target
            frame.flags &= ~ISOLATED
            kernel.back_to_lru(frame)
            if results is not None:
                results[i] = target
            continue
        outcome = migrate_one(kernel, frame, target)
        if (
            outcome == -errno.ENOMEM
            and frame.flags & THP
            and kernel.profile.has(Quirk.THP_NO_ROOM_SPLITS)
            and thp_splittable(kernel, frame)
        ):
            # "THP migration might be unsupported or the allocation could've failed so
            # we should retry on the same page with the THP split to base pages"; the
            # split lists the tails from the last one down (upwards since 6.15)
            subs = split_thp(kernel, frame)
            kernel.record.note(_thp_no_room_clause(kernel))
            zeros = not (frame.data and any(frame.data))
            if kernel.profile.has(Quirk.THP_SPLIT_ZERO_PAGES_SHARED):
                shared = share_zero_pages(kernel, subs)
                subs = [s for s in subs if s not in shared]
                if shared:
                    kernel.record.note("move_pages.thp_split_zero_pages_shared")
            elif zeros and kernel.profile.has(Quirk.THP_SPLIT_PAGES_BEST_EFFORT):
                kernel.record.note("move_pages.thp_split_zero_pages_moved")
            ascending = kernel.profile.has(Quirk.THP_SPLIT_TAILS_ASCENDING)
            order = subs[1:] if ascending else subs[:0:-1]
            if kernel.profile.has(Quirk.THP_SPLIT_HEAD_LAST):
                # try_split_thp(): the head after its tails, all after the list
                tails.extend((sub, target) for sub in [*order, *subs[:1]])
                failed += 1
                split += 1
                if results is not None:
                    results[i] = -errno.ENOMEM
                continue
            tails.extend((sub, target) for sub in order)  # the head at once
            frame = subs[0]
            outcome = migrate_one(kernel, frame, target)
        frame.flags &= ~ISOLATED
        kernel.back_to_lru(frame)
        if outcome == -errno.ENOMEM:
            if frame.flags & THP and kernel.profile.has(Quirk.THP_NO_ROOM_SPLITS):
                # a pinned THP that cannot split for the retry
                kernel.approximated.add("PINNED_THP_NO_ROOM_ENOMEM")
            elif frame.flags & THP and frame.order:
                kernel.record.note("move_pages.errno.ENOMEM.thp_whole")
            rc = outcome
            continue
        if results is not None:
            results[i] = outcome
        if outcome < 0:
            failed += 1
            kernel.record.note(*reasons_of(outcome))
    return rc, failed, split


def share_zero_pages(kernel: SimKernel, subs: list[Frame]) -> set[Frame]:
    """remap_page(RMP_USE_SHARED_ZEROPAGE): the pages of an isolated anonymous THP
    being split that hold only zeros go: the shared zero page is mapped in their place
    (not under mlock), and migration finds them freed.  Returns those."""
    zero = {s for s in subs if s.flags & ANON and not s.pins and not (s.data and any(s.data))}
    mapped: list[tuple[dict[int, Frame], int, Frame]] = []
    for proc in kernel.tasks.values():
        if proc.mm is None:
            continue
        for vpn, f in proc.mm.pt.items():
            if f in zero:
                vma = proc.mm.vma_lookup(vpn << PAGE_SHIFT)
                if vma is not None and vma.locked:
                    zero.discard(f)  # try_to_map_unused_to_zeropage(): not when mlocked
                else:
                    mapped.append((proc.mm.pt, vpn, f))
    for pt, vpn, f in mapped:
        if f in zero:
            pt[vpn] = ZERO_PAGE
    for f in zero:
        f.mapcount = 0
        f.flags &= ~ISOLATED
        kernel.memory.free(f)
    return zero


def _thp_no_room_clause(kernel: SimKernel) -> str:
    """The clause of the release's way of splitting a THP that found no room."""
    profile = kernel.profile
    if profile.has(Quirk.THP_SPLIT_PAGES_BEST_EFFORT):
        if profile.has(Quirk.THP_SPLIT_TAILS_ASCENDING):
            return "move_pages.result.thp_split_counted_ascending"
        return "move_pages.result.thp_split_counted"
    if profile.has(Quirk.THP_SPLIT_HEAD_LAST):
        return "move_pages.errno.ENOMEM.thp_split_head_last"
    return "move_pages.errno.ENOMEM.thp_split_retry"


def thp_splittable(kernel: SimKernel, frame: Frame) -> bool:
    """Whether split_huge_page() succeeds: since 4.5 not with extra references (the
    refcount never freezes: -EBUSY, THP_SPLIT_REFUSES_PINNED); before, always."""
    return not (frame.pins and kernel.profile.has(Quirk.THP_SPLIT_REFUSES_PINNED))


def split_thp(kernel: SimKernel, frame: Frame, vpn: int | None = None) -> list[Frame]:
    """split_huge_page(): replace a THP by 512 small pages in every page table.

    The caller has checked thp_splittable(); a pin (before 4.5) stays on the 4 KiB
    page it was taken on (__split_huge_page_refcount()).

    ``vpn``, a page number where the caller found ``frame``, lets the split look
    only at that 2 MiB block of each page table (fork maps a folio at the same
    address).  When the blocks holding it there do not account for its mapcount
    (one per address space), every page table is scanned instead.
    """
    assert frame.order and frame.flags & THP and thp_splittable(kernel, frame)
    subs = []
    for i in range(HPAGE_NR):
        sub = Frame(frame.nid, frame.flags & ~THP, 0, frame.mapping, frame.index + i)
        sub.mapcount = frame.mapcount
        sub.flags |= frame.flags & ISOLATED
        if frame.data is not None:
            sub.data = bytearray(frame.data[i * PAGE_SIZE : (i + 1) * PAGE_SIZE])
        subs.append(sub)
    if frame.pins:
        for i in kernel.thp_pin_pages.pop(id(frame)):
            subs[i].pins += 1
            kernel.pinned[id(subs[i])] = subs[i]
        del kernel.pinned[id(frame)]
        frame.pins = 0
    tables = {id(p.mm): p.mm.pt for p in kernel.tasks.values() if p.mm is not None}
    if vpn is not None:
        base = vpn & ~(HPAGE_NR - 1)
        found = [pt for pt in tables.values() if pt.get(base) is frame]
        if len(found) == frame.mapcount:
            for pt in found:
                for v in range(base, base + HPAGE_NR):
                    if pt.get(v) is frame:
                        pt[v] = subs[v % HPAGE_NR]
            return subs
    for pt in tables.values():
        for v in [v for v, f in pt.items() if f is frame]:
            pt[v] = subs[v % HPAGE_NR]
    return subs


def vma_migratable(kernel: SimKernel, vma: VMA) -> bool:
    """vma_migratable(): hugetlb only once it could migrate (device mappings are not modelled)."""
    return not (vma.huge == "hugetlb" and kernel.profile.has(Quirk.HUGETLB_NOT_MIGRATABLE))


def _mapped_folios(
    mm: AddressSpace, vma: VMA, present: list[int] | None = None
) -> tuple[list[int], list[Frame]]:
    """Each folio mapped in ``vma`` once, in address order (the zero page excluded),
    and the page number it was first found at.  ``present``: every page number of
    the page table, sorted (else each page of the VMA is looked up)."""
    pt = mm.pt
    first, last = vma.start >> PAGE_SHIFT, vma.end >> PAGE_SHIFT
    if present is not None:
        vpns = present[bisect.bisect_left(present, first) : bisect.bisect_left(present, last)]
    else:
        vpns = [v for v in range(first, last) if v in pt]
    found: list[int] = []
    folios: list[Frame] = []
    previous = None
    for vpn in vpns:
        frame = pt[vpn]
        if frame is previous or frame.flags & (ZERO | SWAPPED):
            continue
        previous = frame
        found.append(vpn)
        folios.append(frame)
    return found, folios


def queue_pages(
    kernel: SimKernel,
    mm: AddressSpace,
    start: int,
    end: int,
    wanted: set[int],
    invert: bool,
    move_all: bool,
) -> tuple[list[Frame], int]:
    """queue_pages_range(): isolate the folios in [start, end) whose node is in
    ``wanted`` (not in it, with ``invert``); returns them and how many could not
    be isolated.  Shared folios are left alone without MPOL_MF_MOVE_ALL."""
    queued: list[Frame] = []
    unqueued = 0
    vmas = [vma for vma in mm.vmas_in(start, end) if vma_migratable(kernel, vma)]
    # a page table smaller than the VMAs is sorted once (splitting THPs below changes
    # no page number in it), not searched again for each VMA
    span = sum((vma.end - vma.start) >> PAGE_SHIFT for vma in vmas)
    present = sorted(mm.pt) if len(mm.pt) < span else None
    with collector_paused():  # a THP split makes 512 frames
        for vma in vmas:
            # stacks, next folio last: a split THP's pages go on top in address order
            vpns, pending = _mapped_folios(mm, vma, present)
            vpns.reverse()
            pending.reverse()
            while pending:
                frame = pending.pop()
                vpn = vpns.pop()
                if (frame.nid in wanted) == invert:
                    continue
                if frame.mapcount > 1 and not move_all:
                    # shared: only MPOL_MF_MOVE_ALL moves it, and it is not counted
                    kernel.record.note("migrate_pages.shared_needs_cap_sys_nice")
                    continue
                if frame.flags & THP and kernel.profile.has(Quirk.THP_SPLIT_ON_MOVE):
                    # before 4.14 THPs migrate as 512 pages; one that does not split
                    # (pinned, THP_SPLIT_REFUSES_PINNED) is skipped: neither queued
                    # nor counted ("Failed to split -- skip")
                    if not thp_splittable(kernel, frame):
                        continue
                    base = vpn & ~(HPAGE_NR - 1)
                    pending.extend(reversed(split_thp(kernel, frame, vpn)))
                    vpns.extend(range(base + HPAGE_NR - 1, base - 1, -1))
                    continue
                if frame.flags & ISOLATED:
                    unqueued += 1
                    continue
                frame.flags |= ISOLATED
                queued.append(frame)
    return queued, unqueued


@mirrors("do_migrate_pages")
def do_migrate_pages(
    kernel: SimKernel, mm: AddressSpace, old: frozenset[int], new: frozenset[int], *, move_all: bool
) -> int:
    """Move every page on ``old`` to ``new`` keeping the relative node layout.

    Returns the count of pages not moved, or -ENOMEM.  "[0-7] -> [3,4,5] moves
    only 0,1,2,6,7": with masks of unequal weight a node of ``new`` is never a source.
    """
    old_list, new_list = sorted(old), sorted(new)
    todo = set(old_list)
    busy = 0
    while todo:
        source = dest = -1
        for s in sorted(todo):
            if len(old_list) != len(new_list) and s in new:
                continue
            d = node_remap(s, old_list, new_list)
            if s == d:
                continue
            source, dest = s, d
            if dest not in todo:
                break  # not creating a cycle
        if source == -1:
            break
        todo.discard(source)
        queued, unqueued = queue_pages(kernel, mm, 0, 1 << 48, {source}, False, move_all)
        if queued and len(old_list) > 1:
            kernel.record.note("migrate_pages.relative_topology")
        migration = migrate_frames(kernel, queued, [dest] * len(queued))
        if migration.rc < 0:
            return migration.rc
        busy += migration.rc
        # pages another isolation holds are counted (MIGRATE_PAGES_COUNTS_UNQUEUED)
        if kernel.profile.has(Quirk.MIGRATE_PAGES_COUNTS_UNQUEUED):
            busy += unqueued
            if unqueued:
                kernel.record.note("migrate_pages.result.counts_unisolated")
        elif unqueued:
            kernel.record.note("migrate_pages.result.skips_unisolated")
    if any(f.nid >= 0 and f.nid not in old for f in mm.pt.values() if not f.flags & ZERO):
        kernel.record.note("migrate_pages.outside_old_untouched")
    cached = (f for file in kernel.live_files() for f in file.pages.values())
    if any(f.nid in old and not f.mapcount for f in cached):
        kernel.record.note("migrate_pages.page_cache_unmapped")
    # the number of pages not moved (0: all of them moved)
    busy = min(busy, 0x7FFF_FFFF)
    if busy:
        return because(busy, "migrate_pages.result.count")
    return because(0, "migrate_pages.result.zero")
