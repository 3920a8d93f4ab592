"""Kernel releases and the quirks: behaviours of the ABI that changed between releases,
each citing the release and commit that made it.

This is the one source of every release fact: the simulator's profiles, the clauses
of the conformance suite and the real backend's feature checks all read it.  A quirk
holds for a half-open range of releases ``[since, until)``.

Three kinds: ``"abi"`` quirks are behaviours of the syscalls; the conformance suite pins
each down from both sides (a clause that holds only where it holds, one only where it
does not).  ``"feature"`` rows are facts of the environment that decide what a backend
can set up (THP exists) and that the simulator models, so they cut profiles too;
``"host-feature"`` rows only the real backend asks (MADV_POPULATE_*, cgroup v2 cpusets
migrating pages).  Features need no clause.

``commit`` is the hash (12+ hex digits) of the change that opened or closed the range,
or ``a..b`` / ``a … b`` for one that opened and one that closed it.  A row whose hash or
landing release was not read in the kernel's history says ``confirmed=False``
(``unconfirmed()`` lists them; ``grep -n confirmed=False`` finds them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

Release = tuple[int, ...]

FIRST_RELEASE: Release = (2, 6, 18)  # move_pages(2) appeared (742755a1d8ce)
NEWEST_RELEASE: Release = (7, 2)


def parse_release(text: str) -> Release:
    """``'6.1'`` / ``'2.6.18'`` / ``'6.12.38+deb13-amd64'`` -> ``(6, 1)`` ..."""
    if not isinstance(text, str):
        raise TypeError(f"release must be str, not {type(text).__name__}")
    m = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not m:
        raise ValueError(f"release {text!r} is not a kernel version such as '6.1'")
    major, minor, patch = int(m[1]), int(m[2]), m[3]
    # 2.6.x and older: the third number names the release; later it is a stable update.
    if (major, minor) <= (2, 6) and patch is not None:
        return (major, minor, int(patch))
    return (major, minor)


def format_release(release: Release) -> str:
    return ".".join(str(n) for n in release)


ABI = "abi"
FEATURE = "feature"
HOST_FEATURE = "host-feature"

HASH = r"[0-9a-f]{12,40}"
COMMIT_FORMAT = re.compile(rf"^{HASH}(?:(?:\.\.| … ){HASH})?$")


@dataclass(frozen=True)
class QuirkInfo:
    since: Release
    until: Release | None
    commit: str  # a hash, or "a..b" / "a … b": see the module docstring
    summary: str
    kind: str = ABI
    confirmed: bool = True  # False: hash or landing release not yet read in the history
    one_sided: str = ""  # why only one side can be a clause (the other is undefined)


def _q(
    since: str,
    until: str | None,
    commit: str,
    summary: str,
    *,
    kind: str = ABI,
    confirmed: bool = True,
    one_sided: str = "",
) -> QuirkInfo:
    return QuirkInfo(
        parse_release(since),
        parse_release(until) if until else None,
        commit,
        summary,
        kind,
        confirmed,
        one_sided,
    )


class Quirk(Enum):
    """Kernel behaviours (and environment features) that changed across releases."""

    # --- move_pages(2) front end -------------------------------------------------
    MOVE_PAGES_WHOLE_ARRAY = _q(
        "2.6.18",
        "2.6.29",
        "3140a2273009",
        "whole pages[]/nodes[] array read and validated before any migration; "
        "E2BIG for nr_pages >= ULONG_MAX/sizeof(page_to_node)-1; vmalloc'd control array; "
        "per-page migration outcomes (node, -EAGAIN, -EIO, -EINVAL) in status and "
        "migrate_pages()' failure count returned as is",
    )
    MOVE_PAGES_CHUNKED = _q(
        "2.6.29",
        "4.17",
        "3140a2273009..a49bd4d71637",
        "array handled in chunks of PAGE_SIZE/sizeof(page_to_node)-1 (169) entries: "
        "each chunk validated, then migrated, then its statuses stored (per-page "
        "migration outcomes); pages not migrated never reach the return value (0)",
    )
    MOVE_PAGES_NODE_BATCHES = _q(
        "4.17",
        None,
        "a49bd4d71637",
        "mm, numa: rework do_pages_move: consecutive entries bound for one node form a "
        "batch; migration failures are counted in a positive return, the failing batch's "
        "statuses and every later one left unwritten; no per-page migration outcomes",
    )
    MOVE_PAGES_ENOENT_IF_NOTHING_QUEUED = _q(
        "2.6.18",
        "2.6.28",
        "e78bbfa82624",
        "errno ENOENT when no page needed moving (mm: stop returning -ENOENT from "
        "sys_move_pages() if nothing got migrated)",
    )
    NODE_RANGE_UNCHECKED = _q(
        "2.6.18",
        "2.6.33",
        "6f5a55f1a6c5",
        "target node not bounds-checked before node_state() (CVE-2010-0415); a 2.6.32.2 "
        "tree lacks the node < 0 || node >= MAX_NUMNODES check, 2.6.33.3 and 2.6.36 have "
        "it (the hash is not read). The simulator answers ENODEV there, as the fixed "
        "kernel does, and records the named approximation NODE_RANGE_UNCHECKED_ENODEV "
        "(simnuma/approximations.py): the raw ABI never raises",
        confirmed=False,
        one_sided="an out-of-range node read past node_states[]: no defined result to check",
    )
    HOLE_BELOW_VMA_ENOENT = _q(
        "2.6.18",
        "2.6.37",
        "",
        "address in a hole below a VMA looked up in the next VMA: -ENOENT, not -EFAULT, "
        "until Gleb Natapov's 'fix error reporting in move_pages syscall' (linux-mm, "
        "2010-10-19): a 2.6.36 tree's mm/migrate.c has no vm_start check, 2.6.37's has it "
        "in the move and the query path (the hash is not read)",
        confirmed=False,
    )
    ZERO_PAGE_ENOENT = _q(
        "2.6.18",
        "4.3",
        "d899844e9c98",
        "the zero page reported as -ENOENT (PageReserved), not -EFAULT",
    )
    UNPOPULATED_ANON_EFAULT = _q(
        "4.3",
        "6.12",
        "d899844e9c98..7dff875c9436",
        "FOLL_DUMP side effect: never-populated anonymous memory gives -EFAULT; "
        "6.12's folio_walk conversion restored -ENOENT",
    )
    MM_BEFORE_PERMISSION = _q(
        "2.6.16",
        "3.4",
        "3268c63eded4",
        "get_task_mm() (EINVAL for a kernel thread) came before the permission check "
        "(mm: fix move/migrate_pages() race on task struct, 2012-03-21)",
    )
    MOVE_PAGES_UID_RULE = _q(
        "2.6.18",
        "4.13",
        "197e7e521384",
        "another process's pages: caller uid/euid must match target uid/suid, or "
        "CAP_SYS_NICE (replaced by ptrace_may_access(PTRACE_MODE_READ_REALCREDS))",
    )
    THP_SPLIT_ON_MOVE = _q(
        "2.6.18",
        "4.14",
        "e8db67eb0ded",
        "a transparent huge page (where THP exists) is split (FOLL_SPLIT) and only the "
        "named 4 KiB page moves, until 'mm: migrate: move_pages() supports thp migration' (4.14)",
    )
    THP_SPLIT_REFUSES_PINNED = _q(
        "4.5",
        None,
        "e9b61f19858a",
        "split_huge_page() fails with -EBUSY on a THP holding extra references (pins), "
        "leaving it whole: where THPs are split for migration (THP_SPLIT_ON_MOVE) "
        "move_pages' follow_page(FOLL_SPLIT) returns ERR_PTR(-EBUSY), that entry's "
        "status, and queue_pages_pte_range() skips the THP ('if (ret) return 0'). Before "
        "'thp: reintroduce split_huge_page()' (the THP refcounting rework) the split "
        "always succeeded and a pin on a tail page stayed on that 4 KiB page "
        "(__split_huge_page_refcount). Read: follow_page_mask() of a pre-4.5 tree; the "
        "hash and title in later commits' Fixes: tags; the release from the series "
        "(PATCHv12 32/37, November 2015, merged for 4.5), not from the history itself",
        confirmed=False,
    )
    LRU_ADD_BATCHED = _q(
        "2.6.18",
        "5.13",
        "d479960e44f2",
        "a page migration puts back (the new page of a move, one that failed) waits in a "
        "per-CPU batch of 15 before it is on an LRU list, so a later batch of the same "
        "move_pages() call cannot isolate it again (-EBUSY); 'mm: disable LRU pagevec "
        "during the migration temporarily' has migration bypass the batch "
        "(lru_cache_disable()); release from the patch's date (March 2021)",
        confirmed=False,
    )
    THP_SPLIT_HEAD_LAST = _q(
        "6.1",
        None,
        "e6fa8a79fe03",
        "a THP split for want of room ('migrate_pages(): fix failure counting for THP "
        "splitting') is no longer retried at once: try_split_thp() puts its head after "
        "its tails, all migrated after the rest of the list, and the THP counts as one "
        "failure unless every page of it moves (b5bade978e9b, 5.17, stopped counting "
        "the pages' own failures)",
    )
    THP_SPLIT_PAGES_BEST_EFFORT = _q(
        "6.3",
        None,
        "5dfab109d519",
        "migrate_pages() in batches ('migrate_pages: batch _unmap and _move'): the pages "
        "of a split THP get one asynchronous pass after the batch, and one that finds no "
        "room ends that pass, not the call: no -ENOMEM, the THP counted as one failure",
    )
    THP_SPLIT_ZERO_PAGES_SHARED = _q(
        "6.12",
        None,
        "b1f202060afe",
        "splitting an isolated anonymous THP maps the shared zero page in place of each "
        "page that holds only zeros ('mm: remap unused subpages to shared zeropage when "
        "splitting isolated thp'), which migration then finds freed; the 6.12 and 7.1.5 "
        "sources have it, 6.1.20 not, and 6.12 and 7.2 guests showed it",
        confirmed=False,
    )
    THP_SPLIT_TAILS_ASCENDING = _q(
        "6.15",
        None,
        "58729c04cf10",
        "the uniform folio split (Zi Yan's folio_split() series) lists a THP's tails "
        "upwards, 1 to 511; __split_huge_page() had counted down from 511",
        confirmed=False,
    )
    SHMEM_INTERLEAVE_BY_INODE = _q(
        "3.6",
        None,
        "09c231cb8bfd",
        "shmem (tmpfs, shared anonymous memory) interleaves a page by its index plus the "
        "object's inode number ('tmpfs: distribute interleave better across nodes': "
        "the pseudo VMA's vm_pgoff = index + i_ino), so objects made one after another "
        "start on successive nodes",
    )
    INTERLEAVE_OFFSET_32BIT = _q(
        "2.6.18",
        "6.7",
        "ddc1a5cbc05d",
        "offset_il_node() took an interleave offset modulo 2^32 ((unsigned int)n % "
        "nnodes): a private anonymous page's offset is its address >> 12, past 2^32 from "
        "0x1000_0000_0000 on, so over a mask whose size is not a power of two the pages "
        "start on another node; 'mempolicy: alloc_pages_mpol() for NUMA policy without "
        "vma' has interleave_nid() take the whole pgoff_t ilx",
    )
    SHMEM_COPY_INTERLEAVE_BY_INODE = _q(
        "6.7",
        None,
        "ddc1a5cbc05d",
        "a private copy in a mapping of shmem interleaves by the inode number too: "
        "'mempolicy: alloc_pages_mpol() for NUMA policy without vma' has "
        "shmem_get_policy() return ilx = i_ino to get_vma_policy(); before, only the "
        "page's offset chose the node",
    )
    DIRTY_NOMIGRATE_WRITEOUT = _q(
        "2.6.18",
        "6.16",
        "7ee3647243e5",
        "fallback_migrate_folio(): a dirty folio of a mapping without migrate_folio is "
        "written out first (writeout(): -EINVAL without ->writepage, -EIO when it fails, "
        "else retried once clean); 'migrate: Remove call to ->writepage' (merged for "
        "6.16-rc1) makes such a folio fail with -EBUSY",
    )
    THP_NO_ROOM_SPLITS = _q(
        "4.17",
        None,
        "94723aafb9e7",
        "migrate_pages(): a THP whose target allocation fails (-ENOMEM) is split and its "
        "base pages retried, the head at once and the tails after the rest of the list "
        "('mm: unclutter THP migration'; a blame of mm/migrate.c dates it 2018-04-10, "
        "the 4.17 merge window); from 4.14, when THPs first "
        "migrated whole, to 4.16 the -ENOMEM ended the call with the THP unmoved",
    )
    HUGETLB_NOT_MIGRATABLE = _q(
        "2.6.18",
        "3.12",
        "e632a938d914",
        "hugetlb VMAs fail vma_migratable(): status -EFAULT, until 'mm: migrate: add "
        "hugepage migration code to move_pages()' (3.12)",
    )
    HUGETLB_TAIL_EACCES = _q(
        "3.12",
        "6.7",
        "e632a938d914..b426ed7889be",
        "a hugetlb tail-page address keeps err=-EACCES (only a PageHead() page was "
        "isolated) until 'mm: migrate: remove PageHead() check for HugeTLB in "
        "add_page_for_migration()' (6.7 merge window); seen on Debian 5.10 and 6.1",
    )
    HUGETLB_FORK_COPIES_PTES = _q(
        "2.6.18",
        "6.0",
        "bcd51a3c679d",
        "fork() copies the page-table entries of every hugetlb VMA (copy_page_range() "
        "excluded VM_HUGETLB from its lazy copy): a child sees a shared hugetlb page mapped "
        "(a second mapping) before it touches it; since 6.0 only VMAs with an anon_vma are "
        "copied (hugetlb: lazy page table copies in fork())",
    )
    ALREADY_ON_TARGET_UNWRITTEN = _q(
        "4.17",
        "5.5",
        "a49bd4d71637..e0153fc2c760",
        "an entry already on its target node is written only when its batch migrates",
    )
    COUNT_UNATTEMPTED = _q(
        "5.6",
        None,
        "5984fabb6e82",
        "positive return also counts the entries never attempted after a failing batch",
    )
    UNATTEMPTED_OFF_BY_ONE = _q(
        "5.6",
        "6.1",
        "5984fabb6e82..a7504ed14f9b",
        "the not-attempted count is nr_pages - i - 1 at every flush: one short after a "
        "node change or at the end (a lone unmovable page returns 0), until 'migrate: "
        "fix syscall move_pages() return value for failure'; seen on Debian 5.10",
    )
    PROT_NONE_NOT_FOLLOWED = _q(
        "6.1",
        "6.5",
        "474098edac26..d74943a2f3cd",
        "follow_page() refuses PROT_NONE ptes (gup_can_follow_protnone) until "
        "FOLL_HONOR_NUMA_FAULT: such a page is 'not present', -ENOENT; seen on Debian 6.1",
    )
    # --- migrate_pages(2) ----------------------------------------------------------
    MIGRATE_PAGES_UID_RULE = _q(
        "2.6.16",
        "4.15",
        "313674661925",
        "uid/euid match or CAP_SYS_NICE instead of ptrace_may_access(READ_REALCREDS)",
    )
    MIGRATE_PAGES_NEW_SUBSET_OF_MEMORY = _q(
        "2.6.16",
        "4.16",
        "0486a38bcc47",
        "new_nodes must be a subset of N_MEMORY (else EINVAL); an empty new_nodes or one "
        "outside the caller's cpuset is accepted, until Yisheng Xie's 'mm/mempolicy: add "
        "nodes_empty check in SYSC_migrate_pages' (queued in mmotm since-4.15; a 4.16.13 "
        "tree has the new check and still the chunked do_pages_move: the hash is not read)",
        confirmed=False,
    )
    MIGRATE_PAGES_COUNTS_UNQUEUED = _q(
        "6.7",
        None,
        "1cb5d11a370f",
        "pages that could not be isolated are counted in the return value",
    )
    # --- memory policy modes ---------------------------------------------------------
    MPOL_LOCAL_MODE = _q("3.8", None, "479e2802d09f", "MPOL_LOCAL is a mode of its own")
    MPOL_LOCAL_READS_AS_PREFERRED = _q(
        "3.8",
        "5.14",
        "479e2802d09f..7858d7bca7fb",
        "MPOL_LOCAL (and MPOL_PREFERRED with no node) was stored as MPOL_PREFERRED with the "
        "internal MPOL_F_LOCAL flag, so get_mempolicy() reported MPOL_PREFERRED; seen on "
        "Debian 5.10 (mm/mempolicy: don't handle MPOL_LOCAL like a fake MPOL_PREFERRED policy)",
    )
    MPOL_F_NUMA_BALANCING_FLAG = _q(
        "5.12", None, "bda420b98505", "MPOL_F_NUMA_BALANCING mode flag (MPOL_BIND only)"
    )
    MPOL_PREFERRED_MANY_MODE = _q("5.15", None, "b27abaccf8e8", "MPOL_PREFERRED_MANY exists")
    MPOL_WEIGHTED_INTERLEAVE_MODE = _q(
        "6.9", None, "fa3bea4e1f82", "MPOL_WEIGHTED_INTERLEAVE exists"
    )
    # --- environment features (no clause pair: they decide what can be set up) -------
    THP = _q(
        "2.6.38",
        None,
        "71e3aac0724f",
        "transparent huge pages exist (thp: transparent hugepage core, committed "
        "2011-01-13, after 2.6.37's release; a 2.6.37 tree has no mm/huge_memory.c)",
        kind=FEATURE,
    )
    MADV_POPULATE = _q(
        "5.14",
        None,
        "4ca9b3859dac",
        "madvise(MADV_POPULATE_READ/WRITE) prefaults a range; a write-populate of a THP "
        "range maps a huge page (older kernels: EINVAL); part of v5.14-rc1",
        kind=HOST_FEATURE,
    )
    CGROUP_V2_CPUSET_MIGRATES = _q(
        "5.15",
        None,
        "ee9707e8593d",
        "cgroup v2 cpusets migrate a moved task's pages (v1 follows cpuset.memory_migrate) "
        "(cgroup/cpuset: Enable memory migration for cpuset v2)",
        kind=HOST_FEATURE,
    )

    @property
    def info(self) -> QuirkInfo:
        value: QuirkInfo = self.value
        return value

    def holds_in(self, release: Release) -> bool:
        info = self.info
        return info.since <= release and (info.until is None or release < info.until)

    @property
    def is_feature(self) -> bool:
        return self.info.kind != ABI


def abi_quirks() -> list[Quirk]:
    """The quirks that are syscall behaviour (what profiles and clause pairs are made of)."""
    return [q for q in Quirk if q.info.kind == ABI]


def simulated() -> list[Quirk]:
    """The rows the simulator models (ABI quirks and features): profiles are cut at them."""
    return [q for q in Quirk if q.info.kind != HOST_FEATURE]


def unconfirmed() -> list[Quirk]:
    """Rows whose hash or landing release is still to be read in the kernel's history."""
    return [q for q in Quirk if not q.info.confirmed]


def describe(quirk: Quirk) -> str:
    """``NAME (commit, 4.3–6.11)``: the quirk as the conformance tables cite it."""
    info = quirk.info
    span = format_release(info.since)
    span += "+" if info.until is None else f" – before {format_release(info.until)}"
    commit = info.commit or "commit unknown"
    mark = "" if info.confirmed else ", to confirm"
    return f"{quirk.name} ({commit}, {span}{mark})"
