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

from simnuma.abi.quirks import Release, parse_release

MAN = "man-3.07"
COMMIT = "commit-2006"
FR = "man-fr-3.65"
MIGRATE_MAN = "migrate_pages.2-6.03"
KERNEL = "kernel"


@dataclass(frozen=True)
class Clause:
    id: str
    text: str
    sources: tuple[str, ...]
    since: str = "2.6.18"
    until: str | None = None  # first release where it no longer holds
    why: str = ""  # the commit or reason that bounds it
    gap: tuple[str, str] | None = None  # [first, end) releases where it did not hold

    def holds_in(self, release: Release) -> bool:
        if release < parse_release(self.since):
            return False
        if self.gap and parse_release(self.gap[0]) <= release < parse_release(self.gap[1]):
            return False
        return self.until is None or release < parse_release(self.until)

    @property
    def releases(self) -> str:
        span = f"{self.since}+" if self.until is None else f"{self.since} – before {self.until}"
        if self.gap:
            span += f", except {self.gap[0]} – before {self.gap[1]}"
        return span


def _c(
    id: str,
    text: str,
    *sources: str,
    since: str = "2.6.18",
    until: str | None = None,
    why: str = "",
    gap: tuple[str, str] | None = None,
) -> Clause:
    return Clause(id, text, sources, since, until, why, gap)


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
        why="page_mapcount() > 1",
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
        "move_pages.status.EFAULT.unmapped",
        "an address no VMA maps gives -EFAULT",
        MAN,
        COMMIT,
        FR,
        since="2.6.37",
        why="before, any VMA above the address was used (see hole_below_vma)",
    ),
    _c(
        "move_pages.status.EFAULT.hole_below_vma",
        "an address in a hole below a VMA gives -EFAULT",
        KERNEL,
        since="2.6.37",
        why="Gleb Natapov 2010: vm_start check; before it -ENOENT",
    ),
    _c(
        "move_pages.status.ENOENT.hole_below_vma",
        "an address in a hole below a VMA gave -ENOENT",
        KERNEL,
        until="2.6.37",
        why="find_vma() returned the next VMA",
    ),
    _c(
        "move_pages.status.EFAULT.zero_page",
        "the zero page (read-faulted untouched anonymous memory) gives -EFAULT",
        MAN,
        COMMIT,
        FR,
        since="4.3",
        why="d899844e9c98",
    ),
    _c(
        "move_pages.status.ENOENT.zero_page",
        "the zero page gave -ENOENT",
        KERNEL,
        until="4.3",
        why="PageReserved() check, until d899844e9c98",
    ),
    _c(
        "move_pages.status.ENOENT.unpopulated",
        "a never-touched private anonymous page gives -ENOENT (not present)",
        MAN,
        COMMIT,
        FR,
        why="4.3–6.11 gave -EFAULT",
        gap=("4.3", "6.12"),
    ),
    _c(
        "move_pages.status.EFAULT.unpopulated",
        "a never-touched private anonymous page gives -EFAULT",
        KERNEL,
        since="4.3",
        until="6.12",
        why="FOLL_DUMP d899844e9c98, undone by 7dff875c9436",
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
        why="copy_page_range(): a VMA without an anon_vma is refilled by faults",
    ),
    _c(
        "fork.private_file_clean_not_copied",
        "a private file mapping that holds no copy-on-write page is not copied by fork(): "
        "the child's page is not present (-ENOENT)",
        KERNEL,
        why="copy_page_range(): no anon_vma",
    ),
    _c(
        "fork.anon_vma_copies_every_entry",
        "a private mapping holding an anonymous page is copied whole by fork(): the child "
        "maps its page-cache pages too (a second mapping: -EACCES without MPOL_MF_MOVE_ALL)",
        KERNEL,
        why="copy_page_range(): the VMA has an anon_vma",
    ),
    _c(
        "fork.zero_page_not_copied",
        "a private anonymous mapping that only read (the zero page, -EFAULT) has no anon_vma: "
        "fork() does not copy it and the child's page is not present (-ENOENT)",
        KERNEL,
        since="6.12",
        why="visible once 7dff875c9436 gave unpopulated memory -ENOENT (-EFAULT before)",
    ),
    _c(
        "fork.hugetlb_copied",
        "fork() copies a shared hugetlb mapping's entries: the child maps the page at once "
        "(query gives its node) and the parent's page is mapped twice (-EACCES)",
        KERNEL,
        since="3.12",
        until="6.0",
        why="copy_page_range() excluded VM_HUGETLB from its lazy copy until bcd51a3c679d; "
        "checked from 3.12, when hugetlb pages became migratable (e632a938d914)",
    ),
    _c(
        "fork.hugetlb_not_copied",
        "fork() leaves a shared hugetlb mapping's entries to faults: the child's page is not "
        "present (-ENOENT) and the parent's page moves without MPOL_MF_MOVE_ALL",
        KERNEL,
        since="6.0",
        why="bcd51a3c679d (hugetlb: lazy page table copies in fork())",
    ),
    _c(
        "move_pages.status.ENOENT.swapped",
        "a page swapped out gives -ENOENT (not present), even where untouched memory gave -EFAULT",
        MAN,
        COMMIT,
        FR,
        why="a swap entry is not an empty pte",
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
        until="4.17",
        why="a49bd4d71637 reports migration failures as a positive return",
    ),
    _c(
        "move_pages.status.EINVAL",
        "a dirty page on a filesystem with neither a migrate function nor writeback gives -EINVAL",
        MAN,
        COMMIT,
        FR,
        until="4.17",
        why="a49bd4d71637",
    ),
    _c(
        "move_pages.status.EIO.as_count",
        "the -EIO case is counted in a positive return, its status left unwritten",
        KERNEL,
        since="4.17",
        why="a49bd4d71637; 5.6–6.0 returned 0 for a lone page (off_by_one)",
        gap=("5.6", "6.1"),
    ),
    _c(
        "move_pages.status.EINVAL.as_count",
        "the -EINVAL case is counted in a positive return, its status left unwritten",
        KERNEL,
        since="4.17",
        why="a49bd4d71637; 5.6–6.0 returned 0 for a lone page (off_by_one)",
        gap=("5.6", "6.1"),
    ),
    _c(
        "move_pages.status.ENOMEM",
        "-ENOMEM is documented per page; a full target node fails the call with errno ENOMEM",
        MAN,
        COMMIT,
        FR,
        why="the allocation failure aborts migrate_pages()",
    ),
    _c(
        "move_pages.status.EPERM.mlocked",
        "the 2006 text's -EPERM for an mlocked page never shipped: mlocked pages move",
        COMMIT,
    ),
    _c(
        "move_pages.status.EAGAIN.pinned",
        "a page with an extra reference (pinned) fails every pass: status -EAGAIN",
        KERNEL,
        until="4.17",
        why="unmap_and_move() stored rc; a49bd4d71637",
    ),
    _c(
        "move_pages.status.unwritten",
        "status entries of a failing batch and of every entry after it are left unwritten",
        KERNEL,
        since="4.17",
        why="a49bd4d71637",
    ),
    _c(
        "move_pages.status.already_on_target_unwritten",
        "an entry already on its target node is written only if its batch flushes",
        KERNEL,
        since="4.17",
        until="5.5",
        why="fixed by e0153fc2c760",
    ),
    _c(
        "move_pages.status.writeback",
        "a page under writeback is waited for and moves (MIGRATE_SYNC), it does not give -EBUSY",
        MAN,
        why="the man page's 'undergoing I/O' -EBUSY is not what move_pages does",
    ),
    _c(
        "move_pages.status.prot_none",
        "a page made PROT_NONE after it was touched is queried and moves like any other",
        KERNEL,
        gap=("6.1", "6.5"),
        why="6.1–6.4: see ENOENT.prot_none",
    ),
    _c(
        "move_pages.status.ENOENT.prot_none",
        "a page made PROT_NONE after it was touched is 'not present': -ENOENT, query and move",
        KERNEL,
        since="6.1",
        until="6.5",
        why="474098edac26 (gup_can_follow_protnone) until d74943a2f3cd; seen on Debian 6.1 [R]",
    ),
    _c(
        "move_pages.status.thp_whole",
        "an address in the middle of a THP moves the whole 2 MiB folio",
        KERNEL,
        since="4.14",
        why="e8db67eb0ded",
    ),
    _c(
        "move_pages.status.thp_split",
        "an address in the middle of a THP splits it and moves only that 4 KiB page",
        KERNEL,
        since="2.6.38",
        until="4.14",
        why="FOLL_SPLIT until e8db67eb0ded",
    ),
    _c(
        "move_pages.status.hugetlb",
        "a hugetlb page moves as a whole when its first address is named",
        KERNEL,
        since="3.12",
        why="e632a938d914",
    ),
    _c(
        "move_pages.status.EFAULT.hugetlb",
        "a hugetlb mapping is not migratable: -EFAULT",
        KERNEL,
        until="3.12",
        why="vma_migratable() until e632a938d914",
    ),
    _c(
        "move_pages.status.EACCES.hugetlb_tail",
        "a hugetlb tail-page address keeps -EACCES (only the head was isolated)",
        KERNEL,
        since="3.12",
        until="6.7",
        why="only a PageHead() page was isolated until b426ed7889be (6.7)",
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
        since="4.17",
        why="a49bd4d71637; man 5.07+; 5.6–6.0 one short (see off_by_one)",
        gap=("5.6", "6.1"),
    ),
    _c(
        "move_pages.result.positive.old",
        "the original call returned migrate_pages()' count of pages not moved, statuses written",
        KERNEL,
        until="2.6.29",
        why="3140a2273009 dropped it",
    ),
    _c(
        "move_pages.result.positive_swallowed",
        "pages that could not be moved do not reach the return value: 0",
        KERNEL,
        since="2.6.29",
        until="4.17",
        why="3140a2273009 … a49bd4d71637",
    ),
    _c(
        "move_pages.result.unattempted",
        "a positive return also counts the entries never attempted after the failing batch",
        KERNEL,
        since="6.1",
        why="5984fabb6e82 (5.6) counted them one short until Huang Ying's 2022 fix",
    ),
    _c(
        "move_pages.result.off_by_one",
        "the count of pages not migrated plus entries not attempted is one short: a lone "
        "page that cannot move returns 0, its status unwritten (seen on Debian 5.10)",
        KERNEL,
        since="5.6",
        until="6.1",
        why="5984fabb6e82 added nr_pages - i - 1; fixed by 'migrate: fix syscall "
        "move_pages() return value for failure' (Huang Ying, 2022)",
    ),
    _c(
        "move_pages.result.batch_only",
        "a positive return counts only the failing batch's pages",
        KERNEL,
        since="4.17",
        until="5.6",
        why="a49bd4d71637 … 5984fabb6e82",
    ),
    _c(
        "move_pages.result.counts_entry_once",
        "after an entry's error status the count does not include that entry",
        KERNEL,
        since="5.6",
        why="5.6–6.0 by the off-by-one, 6.1+ by an explicit decrement (a7504ed14f9b)",
    ),
    _c(
        "move_pages.result.nothing_to_move",
        "a call where no page needs moving returns 0",
        KERNEL,
        since="2.6.28",
        why="e78bbfa82624",
    ),
    _c(
        "move_pages.errno.E2BIG",
        "E2BIG: too many pages (nr_pages >= ULONG_MAX/sizeof(page_to_node) - 1)",
        MAN,
        COMMIT,
        FR,
        until="2.6.29",
        why="3140a2273009",
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
        why="__GFP_HARDWALL allocation in the caller's context; seen on 6.12 under QEMU",
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
        since="2.6.33",
        why="CVE-2010-0415 bound check",
    ),
    _c(
        "move_pages.errno.ENOENT",
        "ENOENT: no page needed moving",
        MAN,
        COMMIT,
        FR,
        until="2.6.28",
        why="e78bbfa82624",
    ),
    _c(
        "move_pages.errno.ENOMEM",
        "ENOMEM: the target node has no free memory (documented only in the 2006 text)",
        COMMIT,
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
        until="4.13",
        why="197e7e521384 replaced it by ptrace_may_access()",
    ),
    _c(
        "move_pages.errno.EPERM.uid_rule",
        "a caller whose uid equals the target's real uid may move its pages though the "
        "target's effective and saved uids differ",
        MAN,
        FR,
        until="4.13",
        why="197e7e521384: ptrace needs all three target uids to match",
    ),
    _c(
        "move_pages.errno.EPERM.uid_rule_gone",
        "the same caller is refused with EPERM: ptrace access needs the target's real, "
        "effective and saved uids all equal to the caller's",
        KERNEL,
        since="4.13",
        why="197e7e521384",
    ),
    _c(
        "move_pages.errno.EPERM.ptrace_rule",
        "CAP_SYS_NICE no longer suffices for another user's pages: the ptrace rule applies",
        KERNEL,
        since="4.13",
        why="197e7e521384 (CVE-2017-14140)",
    ),
    _c(
        "move_pages.errno.EPERM.nondumpable",
        "a same-uid target that is not dumpable refuses with EPERM",
        KERNEL,
        since="4.13",
        why="197e7e521384",
    ),
    _c("move_pages.errno.ESRCH", "ESRCH: no such process", MAN, COMMIT, FR),
    _c(
        "move_pages.errno.partial_status",
        "statuses of entries before a mid-array error are written",
        KERNEL,
        since="4.17",
        why="a49bd4d71637 (the man page says status is invalid on error)",
    ),
    _c(
        "move_pages.errno.no_partial_status",
        "a mid-array error leaves the status array of the call untouched",
        MAN,
        until="4.17",
        why="validation of the (chunk's) array before any page moved",
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
        since="6.7",
        why="1cb5d11a370f",
    ),
    _c(
        "migrate_pages.result.skips_unisolated",
        "pages that could not be isolated are silently skipped",
        KERNEL,
        until="6.7",
        why="1cb5d11a370f",
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
        since="4.16",
        why="0486a38bcc47 [R]",
    ),
    _c(
        "migrate_pages.errno.EINVAL.no_memory",
        "EINVAL: a node of new_nodes has no memory",
        MIGRATE_MAN,
        until="4.16",
        why="replaced by 0486a38bcc47 [R]",
    ),
    _c(
        "migrate_pages.errno.EINVAL.empty_new",
        "EINVAL: new_nodes is empty",
        KERNEL,
        since="4.16",
        why="0486a38bcc47 [R]; before, 0",
    ),
    _c(
        "migrate_pages.result.empty_new",
        "an empty new_nodes is accepted and moves nothing (0)",
        KERNEL,
        until="4.16",
        why="0486a38bcc47 [R]",
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
        until="4.15",
        why="313674661925",
    ),
    _c(
        "migrate_pages.errno.EPERM.ptrace_rule",
        "CAP_SYS_NICE no longer suffices: the ptrace rule applies",
        KERNEL,
        since="4.15",
        why="313674661925",
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
    _c("mbind.placement", "new pages in an mbind range follow the VMA policy", KERNEL),
    _c("mbind.errno.EPERM.move_all", "EPERM: MPOL_MF_MOVE_ALL without CAP_SYS_NICE", KERNEL),
    _c(
        "mbind.errno.EIO.strict",
        "EIO: MPOL_MF_STRICT and a page in the range could not be moved onto the policy",
        KERNEL,
    ),
    _c(
        "cpuset.rebinds_policy",
        "moving to another cpuset remaps a policy's nodes onto the new mems "
        "(MPOL_F_STATIC_NODES: the given nodes that remain allowed)",
        KERNEL,
        why="mpol_rebind_nodemask()",
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
