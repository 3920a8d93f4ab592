"""Named approximations: corners where the kernel's result is undefined or not
modelled exactly, and the simulator answers something defined instead of raising
(the raw ABI never raises).  Each answer records its name in
``SimKernel.approximated`` so a caller can see it was not the kernel's own."""

from __future__ import annotations

APPROXIMATIONS: dict[str, str] = {
    "NODE_RANGE_UNCHECKED_ENODEV": (
        "before 2.6.33 (Quirk.NODE_RANGE_UNCHECKED, CVE-2010-0415) move_pages() indexed "
        "node_states[] with an out-of-range node unchecked: an out-of-bounds read with no "
        "defined result (garbage bits, or an oops).  The simulator answers as the fixed "
        "kernel does: ENODEV."
    ),
    "PINNED_THP_NO_ROOM_ENOMEM": (
        "a pinned THP with no room on its target node cannot be split for the retry "
        "(THP_NO_ROOM_SPLITS, 4.17+); the simulator answers -ENOMEM in every release "
        "(94723aafb9e7's migrate_pages() returned the failed split's -EBUSY from its "
        "'goto out'; later batch code keeps -ENOMEM: not read release by release)."
    ),
    "INTERLEAVE_ROTOR_OWN_ALLOCATIONS": (
        "get_mempolicy(MPOL_F_NODE) reports the next node of an interleave task policy's "
        "rotor; the kernel turns it for every allocation it makes for the task without a "
        "VMA (page tables on a fault, slab pages, a non-shmem file's page cache), the "
        "simulator only for the page cache, so after anything else the task did the "
        "answer may be behind the kernel's (a page-table allocation by a fault turned it "
        "on 6.1: numa-fuzz)."
    ),
    "THP_COW_COPIES_WHOLE": (
        "a write to a THP shared by fork copies the whole 2 MiB folio for the writer, as "
        "do_huge_pmd_wp_page() did before 5.8; since 3917c80280c9 (thp: change CoW "
        "semantics for anon-THP) the kernel splits the writer's PMD and copies one 4 KiB "
        "page, leaving a PTE-mapped THP the model cannot hold."
    ),
}
