"""The clause registry: every documented (or observed) behaviour, where it is stated,
and the kernel releases where it holds.

Sources are the seed documents: ``man-3.07`` (move_pages.2 as merged into man-pages
3.07), ``commit-2006`` (742755a1d8ce's text), ``man-fr-3.65`` (the French move_pages.2
of man-pages 3.65), ``migrate_pages.2-6.03``; ``get_mempolicy.2``/``mbind.2``/
``set_mempolicy.2``/``cpuset.7`` are the man pages the seeds point to; ``kernel`` marks
behaviour no document states (KERNEL-FACTS, with the commit that made it).
"""

from __future__ import annotations

from dataclasses import dataclass

from simnuma.abi.quirks import FIRST_RELEASE, Quirk, Release, describe, format_release

MAN = "man-3.07"
COMMIT = "commit-2006"
FR = "man-fr-3.65"
MIGRATE_MAN = "migrate_pages.2-6.03"
KERNEL = "kernel"


@dataclass(frozen=True)
class Clause:
    """A behaviour and where it holds: in every release where each ``when`` quirk holds
    and no ``unless`` quirk does (no quirk named: every release).  The releases, the
    commits and the reason are read from the quirks, never restated here."""

    id: str
    text: str
    sources: tuple[str, ...]
    when: tuple[Quirk, ...] = ()
    unless: tuple[Quirk, ...] = ()
    note: str = ""  # how the kernel comes to do it (no release fact)

    def holds_in(self, release: Release) -> bool:
        return all(q.holds_in(release) for q in self.when) and not any(
            q.holds_in(release) for q in self.unless
        )

    @property
    def spans(self) -> list[tuple[Release, Release | None]]:
        """The ``[first, end)`` release ranges where the clause holds, oldest first."""
        points = {FIRST_RELEASE}
        for quirk in (*self.when, *self.unless):
            for point in (quirk.info.since, quirk.info.until):
                if point is not None and point > FIRST_RELEASE:
                    points.add(point)
        ordered = sorted(points)
        spans: list[tuple[Release, Release | None]] = []
        for start, end in zip(ordered, [*ordered[1:], None], strict=True):
            if not self.holds_in(start):
                continue
            if spans and spans[-1][1] == start:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
        return spans

    @property
    def releases(self) -> str:
        """``4.17+``, ``4.3 – before 6.12``, ``4.17 – before 5.6, 6.1+``."""
        return ", ".join(
            f"{format_release(a)}+"
            if b is None
            else f"{format_release(a)} – before {format_release(b)}"
            for a, b in self.spans
        )

    @property
    def why(self) -> str:
        """The quirks that bound it (commit, releases) and the note: the table's column."""
        parts = [describe(q) for q in self.when] + [f"not {describe(q)}" for q in self.unless]
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


def _c(
    id: str,
    text: str,
    *sources: str,
    when: Quirk | tuple[Quirk, ...] = (),
    unless: Quirk | tuple[Quirk, ...] = (),
    note: str = "",
) -> Clause:
    return Clause(id, text, sources, _quirks(when), _quirks(unless), note)


def _quirks(named: Quirk | tuple[Quirk, ...]) -> tuple[Quirk, ...]:
    return (named,) if isinstance(named, Quirk) else named


Q = Quirk

_ALL = [
    # ---------------------------------------------------------------- move_pages status
    _c(
        "move_pages.status.node",
        "status holds the node each page resides on (query) or was moved to",
        MAN,
        COMMIT,
        FR,
    ),
    _c(
        "move_pages.status.EACCES",
        "a page mapped by several processes (MAP_SHARED) gives -EACCES without MPOL_MF_MOVE_ALL",
        MAN,
        COMMIT,
        FR,
    ),
    _c(
        "move_pages.status.EACCES.cow",
        "a private page still shared with a forked child (copy-on-write) also gives -EACCES",
        KERNEL,
        note="page_mapcount() > 1",
    ),
    _c(
        "move_pages.status.EBUSY",
        "a page that cannot be isolated (off the LRU: compaction, another migration) gives -EBUSY",
        MAN,
        COMMIT,
        FR,
    ),
    _c(
        "move_pages.status.EBUSY.same_page_twice",
        "the same page named twice in one call: the first entry moves, the second gives -EBUSY",
        KERNEL,
    ),
    _c(
        "move_pages.status.EBUSY.moved_earlier",
        "a page an earlier batch of the same call moved, named again for another node: "
        "-EBUSY (it waits in a per-CPU batch, not on an LRU list yet)",
        KERNEL,
        when=(Q.MOVE_PAGES_NODE_BATCHES, Q.LRU_ADD_BATCHED),
        note="before node batches both entries met the page before it moved",
    ),
    _c(
        "move_pages.status.moved_again",
        "a page an earlier batch of the same call moved, named again for another node, moves again",
        KERNEL,
        unless=Q.LRU_ADD_BATCHED,
        note="lru_cache_disable() for the whole call",
    ),
    _c(
        "move_pages.status.EFAULT.unmapped",
        "an address no VMA maps gives -EFAULT",
        MAN,
        COMMIT,
        FR,
        unless=Q.HOLE_BELOW_VMA_ENOENT,
    ),
    _c(
        "move_pages.status.EFAULT.hole_below_vma",
        "an address in a hole below a VMA gives -EFAULT",
        KERNEL,
        unless=Q.HOLE_BELOW_VMA_ENOENT,
        note="the vm_start check",
    ),
    _c(
        "move_pages.status.ENOENT.hole_below_vma",
        "an address in a hole below a VMA gave -ENOENT",
        KERNEL,
        when=Q.HOLE_BELOW_VMA_ENOENT,
        note="find_vma() returned the next VMA",
    ),
    _c(
        "move_pages.status.EFAULT.zero_page",
        "the zero page (read-faulted untouched anonymous memory) gives -EFAULT",
        MAN,
        COMMIT,
        FR,
        unless=Q.ZERO_PAGE_ENOENT,
    ),
    _c(
        "move_pages.status.ENOENT.zero_page",
        "the zero page gave -ENOENT",
        KERNEL,
        when=Q.ZERO_PAGE_ENOENT,
        note="PageReserved() check",
    ),
    _c(
        "move_pages.status.ENOENT.unpopulated",
        "a never-touched private anonymous page gives -ENOENT (not present)",
        MAN,
        COMMIT,
        FR,
        unless=Q.UNPOPULATED_ANON_EFAULT,
    ),
    _c(
        "move_pages.status.EFAULT.unpopulated",
        "a never-touched private anonymous page gives -EFAULT",
        KERNEL,
        when=Q.UNPOPULATED_ANON_EFAULT,
        note="FOLL_DUMP",
    ),
    _c(
        "move_pages.status.ENOENT.unpopulated_file",
        "a never-touched page of a file or MAP_SHARED anonymous mapping gives -ENOENT",
        MAN,
        COMMIT,
        FR,
    ),
    _c(
        "fork.shared_not_copied",
        "fork() copies no page-table entries of a shared mapping (anonymous or file): in the "
        "child the parent's page is not present (-ENOENT) until the child touches it, and the "
        "parent's page stays mapped once (it moves without MPOL_MF_MOVE_ALL)",
        KERNEL,
        note="copy_page_range(): a VMA without an anon_vma is refilled by faults",
    ),
    _c(
        "fork.private_file_clean_not_copied",
        "a private file mapping that holds no copy-on-write page is not copied by fork(): "
        "the child's page is not present (-ENOENT)",
        KERNEL,
        note="copy_page_range(): no anon_vma",
    ),
    _c(
        "fork.anon_vma_copies_every_entry",
        "a private mapping holding an anonymous page is copied whole by fork(): the child "
        "maps its page-cache pages too (a second mapping: -EACCES without MPOL_MF_MOVE_ALL)",
        KERNEL,
        note="copy_page_range(): the VMA has an anon_vma",
    ),
    _c(
        "fork.zero_page_not_copied",
        "a private anonymous mapping that only read (the zero page, -EFAULT) has no anon_vma: "
        "fork() does not copy it and the child's page is not present (-ENOENT)",
        KERNEL,
        unless=(Q.UNPOPULATED_ANON_EFAULT, Q.ZERO_PAGE_ENOENT),
        note="visible only where a not-present page and the zero page answer differently",
    ),
    _c(
        "fork.hugetlb_private_copy_on_write",
        "a private hugetlb page shared with a forked child is copied whole on a write: each "
        "side keeps what it wrote",
        KERNEL,
        note="hugetlb_wp()",
    ),
    _c(
        "fork.hugetlb_copied",
        "fork() copies a shared hugetlb mapping's entries: the child maps the page at once "
        "(query gives its node) and the parent's page is mapped twice (-EACCES)",
        KERNEL,
        when=Q.HUGETLB_FORK_COPIES_PTES,
        unless=Q.HUGETLB_NOT_MIGRATABLE,
        note="checked where hugetlb pages migrate (the parent's -EACCES)",
    ),
    _c(
        "fork.hugetlb_not_copied",
        "fork() leaves a shared hugetlb mapping's entries to faults: the child's page is not "
        "present (-ENOENT) and the parent's page moves without MPOL_MF_MOVE_ALL",
        KERNEL,
        unless=Q.HUGETLB_FORK_COPIES_PTES,
    ),
    _c(
        "move_pages.status.ENOENT.swapped",
        "a page swapped out gives -ENOENT (not present), even where untouched memory gave -EFAULT",
        MAN,
        COMMIT,
        FR,
        note="a swap entry is not an empty pte",
    ),
    _c(
        "move_pages.status.ENOENT.page_cache_unmapped",
        "a page-cache page the process has not mapped gives -ENOENT and is not moved",
        KERNEL,
    ),
    _c(
        "move_pages.status.EIO",
        "a dirty page on a filesystem without a migrate function whose writeback fails gives -EIO",
        MAN,
        COMMIT,
        FR,
        when=Q.DIRTY_NOMIGRATE_WRITEOUT,
        unless=Q.MOVE_PAGES_NODE_BATCHES,
    ),
    _c(
        "move_pages.status.EINVAL",
        "a dirty page on a filesystem with neither a migrate function nor writeback gives -EINVAL",
        MAN,
        COMMIT,
        FR,
        when=Q.DIRTY_NOMIGRATE_WRITEOUT,
        unless=Q.MOVE_PAGES_NODE_BATCHES,
    ),
    _c(
        "move_pages.status.EIO.as_count",
        "the -EIO case is counted in a positive return, its status left unwritten",
        KERNEL,
        when=(Q.MOVE_PAGES_NODE_BATCHES, Q.DIRTY_NOMIGRATE_WRITEOUT),
        unless=Q.UNATTEMPTED_OFF_BY_ONE,
        note="off_by_one: a lone page returned 0",
    ),
    _c(
        "move_pages.status.EINVAL.as_count",
        "the -EINVAL case is counted in a positive return, its status left unwritten",
        KERNEL,
        when=(Q.MOVE_PAGES_NODE_BATCHES, Q.DIRTY_NOMIGRATE_WRITEOUT),
        unless=Q.UNATTEMPTED_OFF_BY_ONE,
        note="off_by_one: a lone page returned 0",
    ),
    _c(
        "move_pages.dirty_nomigrate_written_out",
        "a dirty page on a filesystem with writeback but no migrate function is written "
        "out, then moves",
        KERNEL,
        when=Q.DIRTY_NOMIGRATE_WRITEOUT,
        note="writeout() answers -EAGAIN; the next pass finds the page clean",
    ),
    _c(
        "move_pages.status.EBUSY.dirty_nomigrate",
        "a dirty page on a filesystem without a migrate function is not written out: "
        "-EBUSY, counted in a positive return, its status left unwritten",
        KERNEL,
        when=Q.MOVE_PAGES_NODE_BATCHES,
        unless=(Q.DIRTY_NOMIGRATE_WRITEOUT, Q.UNATTEMPTED_OFF_BY_ONE),
        note="with or without ->writepage(s): migration no longer calls it",
    ),
    _c(
        "move_pages.status.ENOMEM",
        "-ENOMEM is documented per page; a full target node fails the call with errno ENOMEM",
        MAN,
        COMMIT,
        FR,
        note="the allocation failure aborts migrate_pages()",
    ),
    _c(
        "move_pages.status.EPERM.mlocked",
        "the 2006 text's -EPERM for an mlocked page never shipped: mlocked pages move",
        COMMIT,
    ),
    _c(
        "move_pages.pinned_page_written_in_place",
        "a write to a pinned page only this process maps lands in that very page (its pte is "
        "writable: no copy-on-write), so the page stays pinned and does not move",
        KERNEL,
        note="a writable pte takes the write without a fault",
    ),
    _c(
        "move_pages.status.EAGAIN.pinned",
        "a page with an extra reference (pinned) fails every pass: status -EAGAIN",
        KERNEL,
        unless=Q.MOVE_PAGES_NODE_BATCHES,
        note="unmap_and_move() stored rc",
    ),
    _c(
        "move_pages.status.unwritten",
        "status entries of a failing batch and of every entry after it are left unwritten",
        KERNEL,
        when=Q.MOVE_PAGES_NODE_BATCHES,
    ),
    _c(
        "move_pages.status.already_on_target_unwritten",
        "an entry already on its target node is written only if its batch flushes",
        KERNEL,
        when=Q.ALREADY_ON_TARGET_UNWRITTEN,
    ),
    _c(
        "move_pages.status.already_on_target",
        "an entry already on its target node has that node written in status",
        MAN,
        unless=Q.ALREADY_ON_TARGET_UNWRITTEN,
    ),
    _c(
        "move_pages.status.writeback",
        "a page under writeback is waited for and moves (MIGRATE_SYNC), it does not give -EBUSY",
        MAN,
        note="the man page's 'undergoing I/O' -EBUSY is not what move_pages does",
    ),
    _c(
        "move_pages.status.prot_none",
        "a page made PROT_NONE after it was touched is queried and moves like any other",
        KERNEL,
        unless=Q.PROT_NONE_NOT_FOLLOWED,
        note="see ENOENT.prot_none",
    ),
    _c(
        "move_pages.status.ENOENT.prot_none",
        "a page made PROT_NONE after it was touched is 'not present': -ENOENT, query and move",
        KERNEL,
        when=Q.PROT_NONE_NOT_FOLLOWED,
        note="gup_can_follow_protnone()",
    ),
    _c(
        "move_pages.status.EFAULT.prot_none_thp",
        "a transparent huge page made PROT_NONE after it was touched is -EFAULT, query and "
        "move: its huge pmd is not followed either, and an unfollowed pmd of anonymous "
        "memory is a hole to FOLL_DUMP",
        KERNEL,
        when=Q.PROT_NONE_NOT_FOLLOWED,
        note="follow_pmd_mask() -> no_page_table(), FOLL_DUMP",
    ),
    _c(
        "move_pages.status.thp_whole",
        "an address in the middle of a THP moves the whole 2 MiB folio",
        KERNEL,
        when=Q.THP,
        unless=Q.THP_SPLIT_ON_MOVE,
    ),
    _c(
        "move_pages.status.thp_split",
        "an address in the middle of a THP splits it and moves only that 4 KiB page",
        KERNEL,
        when=(Q.THP, Q.THP_SPLIT_ON_MOVE),
        note="FOLL_SPLIT",
    ),
    _c(
        "move_pages.status.EBUSY.pinned_thp",
        "a pinned THP does not split: its entry's status is -EBUSY and nothing moves",
        KERNEL,
        when=(Q.THP, Q.THP_SPLIT_ON_MOVE, Q.THP_SPLIT_REFUSES_PINNED),
        note="split_huge_page() refuses extra references",
    ),
    _c(
        "move_pages.status.pinned_thp_split",
        "a pinned THP splits; the pin stays on its 4 KiB page, another named page moves",
        KERNEL,
        when=(Q.THP, Q.THP_SPLIT_ON_MOVE),
        unless=Q.THP_SPLIT_REFUSES_PINNED,
        note="__split_huge_page_refcount",
    ),
    _c(
        "move_pages.status.hugetlb",
        "a hugetlb page moves as a whole when its first address is named",
        KERNEL,
        unless=Q.HUGETLB_NOT_MIGRATABLE,
    ),
    _c(
        "move_pages.status.EFAULT.hugetlb",
        "a hugetlb mapping is not migratable: -EFAULT",
        KERNEL,
        when=Q.HUGETLB_NOT_MIGRATABLE,
        note="vma_migratable()",
    ),
    _c(
        "move_pages.status.EACCES.hugetlb_tail",
        "a hugetlb tail-page address keeps -EACCES (only the head was isolated)",
        KERNEL,
        when=Q.HUGETLB_TAIL_EACCES,
        note="only a PageHead() page was isolated",
    ),
    _c(
        "move_pages.status.hugetlb_tail",
        "a hugetlb tail-page address moves the whole hugetlb page",
        KERNEL,
        unless=(Q.HUGETLB_NOT_MIGRATABLE, Q.HUGETLB_TAIL_EACCES),
        note="the folio of any sub-page is isolated",
    ),
    _c(
        "move_pages.unaligned",
        "an unaligned address names the page that contains it (FIXME 'what if not aligned?')",
        MAN,
    ),
    # ---------------------------------------------------------------- move_pages result
    _c("move_pages.result.zero", "success returns 0 (count 0 included)", MAN, COMMIT, FR),
    _c(
        "move_pages.result.positive",
        "pages migration could not move are counted in a positive return",
        KERNEL,
        when=Q.MOVE_PAGES_NODE_BATCHES,
        unless=Q.UNATTEMPTED_OFF_BY_ONE,
    ),
    _c(
        "move_pages.result.positive.old",
        "the original call returned migrate_pages()' count of pages not moved, statuses written",
        KERNEL,
        when=Q.MOVE_PAGES_WHOLE_ARRAY,
    ),
    _c(
        "move_pages.result.positive_swallowed",
        "pages that could not be moved do not reach the return value: 0",
        KERNEL,
        when=Q.MOVE_PAGES_CHUNKED,
    ),
    _c(
        "move_pages.result.unattempted",
        "a positive return also counts the entries never attempted after the failing batch",
        KERNEL,
        when=Q.COUNT_UNATTEMPTED,
        unless=Q.UNATTEMPTED_OFF_BY_ONE,
    ),
    _c(
        "move_pages.result.off_by_one",
        "the count of pages not migrated plus entries not attempted is one short: a lone "
        "page that cannot move returns 0, its status unwritten (seen on Debian 5.10)",
        KERNEL,
        when=Q.UNATTEMPTED_OFF_BY_ONE,
        note="nr_pages - i - 1",
    ),
    _c(
        "move_pages.result.batch_only",
        "a positive return counts only the failing batch's pages",
        KERNEL,
        when=Q.MOVE_PAGES_NODE_BATCHES,
        unless=Q.COUNT_UNATTEMPTED,
    ),
    _c(
        "move_pages.result.counts_entry_once",
        "after an entry's error status the count does not include that entry",
        KERNEL,
        when=Q.COUNT_UNATTEMPTED,
        note="first by the off-by-one, then by an explicit decrement",
    ),
    _c(
        "move_pages.result.nothing_to_move",
        "a call where no page needs moving returns 0",
        KERNEL,
        unless=Q.MOVE_PAGES_ENOENT_IF_NOTHING_QUEUED,
    ),
    _c(
        "move_pages.errno.E2BIG",
        "E2BIG: too many pages (nr_pages >= ULONG_MAX/sizeof(page_to_node) - 1)",
        MAN,
        COMMIT,
        FR,
        when=Q.MOVE_PAGES_WHOLE_ARRAY,
    ),
    _c(
        "move_pages.errno.EACCES",
        "EACCES: a target node is not allowed by the cpuset",
        MAN,
        COMMIT,
        FR,
    ),
    _c(
        "move_pages.errno.EACCES.target_cpuset",
        "'the current cpuset' is the target process's cpuset, not the caller's (FIXME)",
        MAN,
        KERNEL,
    ),
    _c(
        "move_pages.errno.ENOMEM.caller_cpuset",
        "a caller whose own cpuset excludes the target node passes the EACCES check (the "
        "target's cpuset allows it) but gets ENOMEM: the new page is allocated under the "
        "caller's cpuset",
        KERNEL,
        note="__GFP_HARDWALL allocation in the caller's context; seen under QEMU (docs/kernels.md)",
    ),
    _c("move_pages.errno.EFAULT", "EFAULT: the pages array cannot be read", MAN, COMMIT, FR),
    _c(
        "move_pages.errno.EFAULT.status",
        "EFAULT: the status array cannot be written",
        MAN,
        COMMIT,
        FR,
    ),
    _c(
        "move_pages.errno.EINVAL.flags",
        "EINVAL: flags other than MPOL_MF_MOVE and MPOL_MF_MOVE_ALL",
        MAN,
        COMMIT,
        FR,
    ),
    _c(
        "move_pages.errno.EINVAL.kernel_thread",
        "EINVAL: the target is a kernel thread",
        MAN,
        COMMIT,
        FR,
    ),
    _c(
        "move_pages.errno.EINVAL.kernel_thread_first",
        "a caller without privilege naming a kernel thread gets EINVAL: the mm is looked "
        "at before the permission check",
        KERNEL,
        when=Q.MM_BEFORE_PERMISSION,
    ),
    _c(
        "move_pages.errno.EPERM.kernel_thread",
        "a caller without privilege naming a kernel thread gets EPERM: the permission "
        "check comes before the mm is looked at",
        KERNEL,
        unless=Q.MM_BEFORE_PERMISSION,
    ),
    _c(
        "move_pages.errno.ENODEV",
        "ENODEV: a target node is online but has no memory",
        MAN,
        COMMIT,
        FR,
    ),
    _c(
        "move_pages.errno.ENODEV.out_of_range",
        "ENODEV: a target node id that does not exist (negative or >= MAX_NUMNODES)",
        MAN,
        unless=Q.NODE_RANGE_UNCHECKED,
    ),
    _c(
        "move_pages.errno.ENOENT",
        "ENOENT: no page needed moving",
        MAN,
        COMMIT,
        FR,
        when=Q.MOVE_PAGES_ENOENT_IF_NOTHING_QUEUED,
    ),
    _c(
        "move_pages.errno.ENOMEM",
        "ENOMEM: the target node has no free memory (documented only in the 2006 text)",
        COMMIT,
    ),
    _c(
        "move_pages.errno.ENOMEM.thp_whole",
        "ENOMEM: a THP with no room for it on the target node stays whole and unmoved",
        KERNEL,
        when=Q.THP,
        unless=(Q.THP_SPLIT_ON_MOVE, Q.THP_NO_ROOM_SPLITS),
    ),
    _c(
        "move_pages.errno.ENOMEM.thp_split_retry",
        "ENOMEM: a THP with no room for it is split and its pages moved, the head at "
        "once and the tails from the last one down, until one finds no room",
        KERNEL,
        when=(Q.THP, Q.THP_NO_ROOM_SPLITS),
        unless=Q.THP_SPLIT_HEAD_LAST,
        note="split and retry on -ENOMEM",
    ),
    _c(
        "move_pages.errno.ENOMEM.thp_split_head_last",
        "ENOMEM: a THP with no room for it is split and its pages moved after the rest "
        "of the list, the tails from the last one down and the head last, until one "
        "finds no room",
        KERNEL,
        when=(Q.THP, Q.THP_NO_ROOM_SPLITS, Q.THP_SPLIT_HEAD_LAST),
        unless=Q.THP_SPLIT_PAGES_BEST_EFFORT,
        note="try_split_thp() moves the head after its tails",
    ),
    _c(
        "move_pages.result.thp_split_counted",
        "a THP with no room for it is split and as many of its pages moved as there is "
        "room for, the tails from the last one down: no ENOMEM, the THP counted as one "
        "page not moved",
        KERNEL,
        when=(Q.THP, Q.THP_NO_ROOM_SPLITS, Q.THP_SPLIT_PAGES_BEST_EFFORT),
        unless=Q.THP_SPLIT_TAILS_ASCENDING,
        note="one asynchronous pass over the split pages, their failures not counted",
    ),
    _c(
        "move_pages.thp_split_zero_pages_shared",
        "a THP holding only zeros, split for want of room: each page becomes the shared "
        "zero page (-EFAULT to a query) and the call returns 0",
        KERNEL,
        when=(Q.THP, Q.THP_NO_ROOM_SPLITS, Q.THP_SPLIT_ZERO_PAGES_SHARED),
        note="remap_page(RMP_USE_SHARED_ZEROPAGE); migration finds the pages freed",
    ),
    _c(
        "move_pages.thp_split_zero_pages_moved",
        "a THP holding only zeros, split for want of room, has its pages moved like any "
        "other's, as far as there is room",
        KERNEL,
        when=(Q.THP, Q.THP_NO_ROOM_SPLITS, Q.THP_SPLIT_PAGES_BEST_EFFORT),
        unless=Q.THP_SPLIT_ZERO_PAGES_SHARED,
    ),
    _c(
        "move_pages.result.thp_split_counted_ascending",
        "the same, the tails from the first one up",
        KERNEL,
        when=(
            Q.THP,
            Q.THP_NO_ROOM_SPLITS,
            Q.THP_SPLIT_PAGES_BEST_EFFORT,
            Q.THP_SPLIT_TAILS_ASCENDING,
        ),
        note="the uniform split lists the tails upwards",
    ),
    _c(
        "move_pages.errno.EPERM.move_all",
        "EPERM: MPOL_MF_MOVE_ALL without CAP_SYS_NICE",
        MAN,
        COMMIT,
        FR,
    ),
    _c(
        "move_pages.errno.EPERM.move_all_before_ESRCH",
        "the MPOL_MF_MOVE_ALL check comes before the pid lookup: EPERM wins over ESRCH",
        KERNEL,
    ),
    _c(
        "move_pages.errno.EPERM.other_user",
        "EPERM: moving pages of another user's process without privilege",
        MAN,
        COMMIT,
        FR,
    ),
    _c(
        "move_pages.errno.EPERM.cap_sys_nice",
        "CAP_SYS_NICE lets a caller move another user's pages (the man page's rule)",
        MAN,
        FR,
        when=Q.MOVE_PAGES_UID_RULE,
    ),
    _c(
        "move_pages.errno.EPERM.uid_rule",
        "a caller whose uid equals the target's real uid may move its pages though the "
        "target's effective and saved uids differ",
        MAN,
        FR,
        when=Q.MOVE_PAGES_UID_RULE,
        note="ptrace needs all three target uids to match",
    ),
    _c(
        "move_pages.errno.EPERM.uid_rule_gone",
        "the same caller is refused with EPERM: ptrace access needs the target's real, "
        "effective and saved uids all equal to the caller's",
        KERNEL,
        unless=Q.MOVE_PAGES_UID_RULE,
    ),
    _c(
        "move_pages.errno.EPERM.ptrace_rule",
        "CAP_SYS_NICE no longer suffices for another user's pages: the ptrace rule applies",
        KERNEL,
        unless=Q.MOVE_PAGES_UID_RULE,
        note="CVE-2017-14140",
    ),
    _c(
        "move_pages.errno.EPERM.nondumpable",
        "a same-uid target that is not dumpable refuses with EPERM",
        KERNEL,
        unless=Q.MOVE_PAGES_UID_RULE,
    ),
    _c("move_pages.errno.ESRCH", "ESRCH: no such process", MAN, COMMIT, FR),
    _c(
        "move_pages.errno.partial_status",
        "statuses of entries before a mid-array error are written",
        KERNEL,
        when=Q.MOVE_PAGES_NODE_BATCHES,
        note="the man page says status is invalid on error",
    ),
    _c(
        "move_pages.errno.no_partial_status",
        "a mid-array error leaves the status array of the call untouched",
        MAN,
        unless=Q.MOVE_PAGES_NODE_BATCHES,
        note="validation of the (chunk's) array before any page moved",
    ),
    _c(
        "move_pages.wrapper_errors",
        "the numaif.h move_pages() returns -1 and sets errno on error, 0 or the count otherwise "
        "(FIXME 'does the wrapper in numactl do the right thing?': run it on host:libnuma)",
        MAN,
    ),
    _c(
        "move_pages.ignores_mempolicy",
        "memory policy does not constrain move_pages' destination nodes (NOTES)",
        MAN,
        FR,
    ),
    _c(
        "move_pages.cpuset_excludes_page_node",
        "a page on a node outside the target's cpuset can be queried and moved away",
        KERNEL,
    ),
    _c("move_pages.contents", "migration keeps every page's contents", COMMIT),
    # ---------------------------------------------------------------- migrate_pages
    _c("migrate_pages.result.zero", "all pages moved: returns 0", MIGRATE_MAN),
    _c(
        "migrate_pages.result.count",
        "returns the number of pages that could not be moved",
        MIGRATE_MAN,
    ),
    _c(
        "migrate_pages.result.counts_unisolated",
        "pages that could not be isolated are counted",
        KERNEL,
        when=Q.MIGRATE_PAGES_COUNTS_UNQUEUED,
    ),
    _c(
        "migrate_pages.result.skips_unisolated",
        "pages that could not be isolated are silently skipped",
        KERNEL,
        unless=Q.MIGRATE_PAGES_COUNTS_UNQUEUED,
    ),
    _c(
        "migrate_pages.errno.EFAULT",
        "EFAULT: old_nodes/new_nodes outside the accessible address space",
        MIGRATE_MAN,
    ),
    _c(
        "migrate_pages.errno.EINVAL.maxnode",
        "EINVAL: maxnode exceeds a kernel-imposed limit",
        MIGRATE_MAN,
    ),
    _c(
        "migrate_pages.errno.EINVAL.node_id",
        "EINVAL: a node id greater than the maximum supported node id",
        MIGRATE_MAN,
    ),
    _c(
        "migrate_pages.errno.EINVAL.outside_caller_cpuset",
        "EINVAL: no node of new_nodes is allowed by the caller's cpuset",
        MIGRATE_MAN,
        unless=Q.MIGRATE_PAGES_NEW_SUBSET_OF_MEMORY,
    ),
    _c(
        "migrate_pages.errno.EINVAL.no_memory",
        "EINVAL: a node of new_nodes has no memory",
        MIGRATE_MAN,
        when=Q.MIGRATE_PAGES_NEW_SUBSET_OF_MEMORY,
    ),
    _c(
        "migrate_pages.errno.EINVAL.empty_new",
        "EINVAL: new_nodes is empty",
        KERNEL,
        unless=Q.MIGRATE_PAGES_NEW_SUBSET_OF_MEMORY,
    ),
    _c(
        "migrate_pages.result.empty_new",
        "an empty new_nodes is accepted and moves nothing (0)",
        KERNEL,
        when=Q.MIGRATE_PAGES_NEW_SUBSET_OF_MEMORY,
    ),
    _c("migrate_pages.errno.EINVAL.kernel_thread", "EINVAL: the target is a kernel thread", KERNEL),
    _c(
        "migrate_pages.errno.EPERM.other_user",
        "EPERM: no privilege to move pages of the process",
        MIGRATE_MAN,
    ),
    _c(
        "migrate_pages.errno.EPERM.cap_sys_nice",
        "CAP_SYS_NICE lets a caller migrate another user's process",
        MIGRATE_MAN,
        when=Q.MIGRATE_PAGES_UID_RULE,
    ),
    _c(
        "migrate_pages.errno.EPERM.ptrace_rule",
        "CAP_SYS_NICE no longer suffices: the ptrace rule applies",
        KERNEL,
        unless=Q.MIGRATE_PAGES_UID_RULE,
    ),
    _c(
        "migrate_pages.errno.EPERM.target_cpuset",
        "EPERM: new_nodes outside the target's cpuset without CAP_SYS_NICE",
        MIGRATE_MAN,
    ),
    _c("migrate_pages.errno.ESRCH", "ESRCH: no process matching pid", MIGRATE_MAN),
    _c(
        "migrate_pages.shared_needs_cap_sys_nice",
        "pages shared with another process move only with CAP_SYS_NICE",
        MIGRATE_MAN,
    ),
    _c(
        "migrate_pages.relative_topology",
        "the relative topology inside old_nodes is kept in new_nodes",
        MIGRATE_MAN,
    ),
    _c(
        "migrate_pages.outside_old_untouched",
        "pages not on a node of old_nodes are not migrated",
        MIGRATE_MAN,
    ),
    _c(
        "migrate_pages.page_cache_unmapped",
        "page-cache pages no process maps are left where they are",
        KERNEL,
    ),
    # ---------------------------------------------------------------- mempolicy
    _c(
        "get_mempolicy.mems_allowed",
        "MPOL_F_MEMS_ALLOWED returns the caller's cpuset nodes",
        MAN,
        MIGRATE_MAN,
    ),
    _c(
        "get_mempolicy.errno.EINVAL.mems_allowed_combined",
        "EINVAL: MPOL_F_MEMS_ALLOWED with MPOL_F_NODE or MPOL_F_ADDR",
        KERNEL,
    ),
    _c(
        "get_mempolicy.node_addr",
        "MPOL_F_NODE|MPOL_F_ADDR returns the node of the page at addr, faulting it in",
        KERNEL,
    ),
    _c(
        "get_mempolicy.errno.EFAULT.addr",
        "EFAULT: MPOL_F_ADDR with an unmapped addr (NULL included; the man page says EINVAL)",
        KERNEL,
    ),
    _c(
        "get_mempolicy.errno.EINVAL.addr_without_flag",
        "EINVAL: addr given without MPOL_F_ADDR",
        KERNEL,
    ),
    _c("get_mempolicy.errno.EINVAL.flags", "EINVAL: unknown flags", KERNEL),
    _c(
        "get_mempolicy.errno.EINVAL.maxnode",
        "EINVAL: maxnode smaller than the number of node ids",
        KERNEL,
    ),
    _c(
        "get_mempolicy.errno.EINVAL.node_without_interleave",
        "EINVAL: MPOL_F_NODE alone without an interleave policy",
        KERNEL,
    ),
    _c(
        "set_mempolicy.placement",
        "new pages follow the task policy: BIND, PREFERRED, INTERLEAVE, DEFAULT (local)",
        KERNEL,
    ),
    _c(
        "set_mempolicy.errno.EINVAL.mode",
        "EINVAL: an unknown mode, or nodes with MPOL_DEFAULT",
        KERNEL,
    ),
    _c(
        "set_mempolicy.errno.EINVAL.static_and_relative",
        "EINVAL: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES together",
        KERNEL,
        note="sanitize_mpol_flags()",
    ),
    _c(
        "set_mempolicy.errno.EINVAL.empty_nodes",
        "EINVAL: MPOL_BIND or MPOL_INTERLEAVE with an empty nodemask",
        KERNEL,
        note="mpol_new()",
    ),
    _c(
        "set_mempolicy.errno.EINVAL.no_memory_node",
        "EINVAL: no node of the nodemask both has memory and is allowed by the cpuset "
        "(a memoryless node alone)",
        KERNEL,
        note="mpol_set_nodemask(): the mask is cut to cpuset mems with N_MEMORY first",
    ),
    _c(
        "set_mempolicy.errno.EINVAL.local_static",
        "EINVAL: MPOL_PREFERRED with no node (local) and MPOL_F_STATIC_NODES or "
        "MPOL_F_RELATIVE_NODES",
        KERNEL,
        note="mpol_new(): a local preference cannot be static or relative",
    ),
    _c(
        "mempolicy.errno.EINVAL.maxnode",
        "EINVAL: set_mempolicy() and mbind() with a nodemask of more than a page of bits",
        KERNEL,
        note="get_nodes()",
    ),
    _c(
        "mempolicy.errno.EINVAL.node_id",
        "EINVAL: set_mempolicy() and mbind() with a nodemask bit at or beyond MAX_NUMNODES",
        KERNEL,
        note="get_nodes()",
    ),
    _c(
        "mempolicy.errno.EFAULT.nodemask",
        "EFAULT: set_mempolicy() and mbind() with a nodemask that cannot be read",
        KERNEL,
        note="get_nodes()",
    ),
    _c(
        "get_mempolicy.errno.EFAULT.policy",
        "EFAULT: the mode cannot be written to policy",
        KERNEL,
    ),
    _c(
        "get_mempolicy.errno.EFAULT.nmask",
        "EFAULT: the nodemask cannot be written to nmask",
        KERNEL,
        note="copy_nodes_to_user()",
    ),
    _c(
        "get_mempolicy.errno.EINVAL.mask_over_page",
        "EINVAL: nmask with maxnode of more than a page of bits",
        KERNEL,
        note="copy_nodes_to_user()",
    ),
    _c(
        "set_mempolicy.mode.local",
        "MPOL_LOCAL is a mode of its own: accepted without nodes",
        KERNEL,
        when=Q.MPOL_LOCAL_MODE,
    ),
    _c(
        "get_mempolicy.mode.local",
        "a local policy (MPOL_LOCAL, or MPOL_PREFERRED with no node) reads back as MPOL_LOCAL",
        KERNEL,
        when=Q.MPOL_LOCAL_MODE,
        unless=Q.MPOL_LOCAL_READS_AS_PREFERRED,
    ),
    _c(
        "get_mempolicy.mode.local_as_preferred",
        "a local policy (MPOL_LOCAL, or MPOL_PREFERRED with no node) reads back as "
        "MPOL_PREFERRED with an empty mask",
        KERNEL,
        when=Q.MPOL_LOCAL_READS_AS_PREFERRED,
    ),
    _c(
        "set_mempolicy.errno.EINVAL.mode.local",
        "MPOL_LOCAL (4) is beyond MPOL_MAX: EINVAL",
        KERNEL,
        unless=Q.MPOL_LOCAL_MODE,
    ),
    _c(
        "set_mempolicy.mode.numa_balancing",
        "MPOL_BIND | MPOL_F_NUMA_BALANCING is accepted",
        KERNEL,
        when=Q.MPOL_F_NUMA_BALANCING_FLAG,
    ),
    _c(
        "set_mempolicy.errno.EINVAL.mode.numa_balancing",
        "MPOL_F_NUMA_BALANCING is no mode flag: MPOL_BIND with it is an unknown mode, EINVAL",
        KERNEL,
        unless=Q.MPOL_F_NUMA_BALANCING_FLAG,
    ),
    _c(
        "set_mempolicy.mode.preferred_many",
        "MPOL_PREFERRED_MANY with a node is accepted and read back",
        KERNEL,
        when=Q.MPOL_PREFERRED_MANY_MODE,
    ),
    _c(
        "set_mempolicy.errno.EINVAL.mode.preferred_many",
        "MPOL_PREFERRED_MANY (5) is beyond MPOL_MAX: EINVAL",
        KERNEL,
        unless=Q.MPOL_PREFERRED_MANY_MODE,
    ),
    _c(
        "set_mempolicy.mode.weighted_interleave",
        "MPOL_WEIGHTED_INTERLEAVE with a node is accepted and read back",
        KERNEL,
        when=Q.MPOL_WEIGHTED_INTERLEAVE_MODE,
    ),
    _c(
        "set_mempolicy.errno.EINVAL.mode.weighted_interleave",
        "MPOL_WEIGHTED_INTERLEAVE (6) is beyond MPOL_MAX: EINVAL",
        KERNEL,
        unless=Q.MPOL_WEIGHTED_INTERLEAVE_MODE,
    ),
    _c("mbind.placement", "new pages in an mbind range follow the VMA policy", KERNEL),
    _c(
        "mbind.move.default",
        "MPOL_DEFAULT with MPOL_MF_MOVE moves every page of the range to where the task's "
        "policy places a new page",
        KERNEL,
        note="do_mbind(): an empty nodemask with MPOL_MF_INVERT queues every page",
    ),
    _c(
        "mbind.shmem.shared_policy",
        "mbind() on a mapping of a shmem object (a tmpfs file) sets the object's policy: "
        "another process mapping it allocates by it, and get_mempolicy(MPOL_F_ADDR) "
        "there reports it",
        KERNEL,
        note="shmem_set_policy(), shmem_get_policy()",
    ),
    _c(
        "mempolicy.shmem.interleave_by_inode",
        "interleaved shmem places page i of an object on node (i + the object's inode "
        "number) mod n of the mask",
        KERNEL,
        when=Q.SHMEM_INTERLEAVE_BY_INODE,
    ),
    _c(
        "mempolicy.shmem.interleave_by_index",
        "interleaved shmem places page i of an object on node i mod n of the mask",
        KERNEL,
        unless=Q.SHMEM_INTERLEAVE_BY_INODE,
    ),
    _c(
        "mempolicy.shmem.copy_by_inode",
        "a private copy of page i of a tmpfs file interleaves by (i + the file's inode number) too",
        KERNEL,
        when=Q.SHMEM_COPY_INTERLEAVE_BY_INODE,
    ),
    _c(
        "mempolicy.shmem.copy_by_offset",
        "a private copy of page i of a tmpfs file interleaves by i alone",
        KERNEL,
        unless=Q.SHMEM_COPY_INTERLEAVE_BY_INODE,
    ),
    _c(
        "mempolicy.interleave.offset_low_32_bits",
        "interleave places a page by the low 32 bits of its offset: a private anonymous "
        "page above 0x1000_0000_0000 (its offset past 2^32) over three nodes lands where "
        "offset mod 2^32 mod 3 says, not offset mod 3",
        KERNEL,
        when=Q.INTERLEAVE_OFFSET_32BIT,
    ),
    _c(
        "mempolicy.interleave.offset_whole",
        "interleave places a page by its whole offset: a private anonymous page over "
        "three nodes lands where offset mod 3 says, at any address",
        KERNEL,
        unless=Q.INTERLEAVE_OFFSET_32BIT,
    ),
    _c(
        "mempolicy.interleave.thp_by_huge_offset",
        "a transparent huge page under interleave goes by its offset in huge pages: the "
        "2 MiB folio at address A of anonymous memory on node (A >> 21) mod n of the mask",
        KERNEL,
        note="interleave_nid(pol, vma, addr, PAGE_SHIFT + order); get_vma_policy(..., order)",
    ),
    _c(
        "mempolicy.interleave.file_copy_by_offset",
        "a private copy of page i of a regular file interleaves by i, its offset in the "
        "file, as anonymous memory does by its VMA offset (not by the task's rotor, which "
        "the file's page cache takes)",
        KERNEL,
        note="wp_page_copy() / do_cow_fault() -> vma_alloc_folio() -> interleave_nid()",
    ),
    _c("mbind.errno.EPERM.move_all", "EPERM: MPOL_MF_MOVE_ALL without CAP_SYS_NICE", KERNEL),
    _c(
        "mbind.errno.EIO.strict",
        "EIO: MPOL_MF_STRICT and a page in the range could not be moved onto the policy",
        KERNEL,
    ),
    _c(
        "mbind.errno.EIO.strict_keeps_policy",
        "EIO from MPOL_MF_STRICT alone over a misplaced page comes before the policy is "
        "set: the range keeps its old one",
        KERNEL,
        note="queue_pages_range() fails, do_mbind() skips mbind_range()",
    ),
    _c(
        "mbind.errno.EINVAL.flags",
        "EINVAL: flags other than MPOL_MF_STRICT, MPOL_MF_MOVE and MPOL_MF_MOVE_ALL",
        KERNEL,
    ),
    _c("mbind.errno.EINVAL.unaligned", "EINVAL: start is not page aligned", KERNEL),
    _c(
        "mbind.errno.EINVAL.wraps",
        "EINVAL: start + len, rounded up to a page, wraps around the address space",
        KERNEL,
    ),
    _c(
        "mbind.result.empty_range",
        "a len of 0 does nothing and returns 0, even over unmapped memory",
        KERNEL,
    ),
    _c(
        "mbind.errno.EFAULT.hole",
        "EFAULT: the range is not all mapped (MPOL_DEFAULT: maps nothing at all)",
        KERNEL,
        note="a policy other than MPOL_DEFAULT needs every page mapped",
    ),
    _c(
        "cpuset.rebinds_policy",
        "moving to another cpuset remaps a policy's nodes onto the new mems "
        "(MPOL_F_STATIC_NODES: the given nodes that remain allowed)",
        KERNEL,
        note="mpol_rebind_nodemask()",
    ),
    _c(
        "cpuset.memory_migrate",
        "moving a process to a cpuset with memory_migrate moves its pages onto the new mems",
        KERNEL,
    ),
]

CLAUSES: dict[str, Clause] = {}
for _clause in _ALL:
    if _clause.id in CLAUSES:
        raise ValueError(f"clause {_clause.id} registered twice")
    CLAUSES[_clause.id] = _clause
