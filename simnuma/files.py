"""Files with a page cache, on filesystems that do or do not migrate and write back.

Page migration asks the file's address_space: a ``migrate_folio`` operation moves
a dirty page directly; without one the kernel falls back to writing the page out
(``->writepage``), and without that a dirty page cannot move at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simnuma.frames import Frame

if TYPE_CHECKING:
    from simnuma.mempolicy import Mempolicy


@dataclass(frozen=True)
class Filesystem:
    """The migration-relevant operations a filesystem provides."""

    name: str
    migrate_folio: bool = True  # a_ops->migrate_folio (migratepage before 5.x)
    writepage: bool = True  # a_ops->writepage: dirty pages can be written back
    writepage_fails: bool = False  # the device returns an I/O error on write


TMPFS = Filesystem("tmpfs")
FILESYSTEMS = {
    "tmpfs": TMPFS,
    "ext4": Filesystem("ext4"),
    # a filesystem without a migrate function: dirty pages are written out first
    "nomigrate": Filesystem("nomigrate", migrate_folio=False),
    # ... and one that cannot write back either: dirty pages never move
    "nomigrate-nowriteback": Filesystem(
        "nomigrate-nowriteback", migrate_folio=False, writepage=False
    ),
    # ... and one whose writeback fails with an I/O error
    "nomigrate-ioerror": Filesystem("nomigrate-ioerror", migrate_folio=False, writepage_fails=True),
}


@dataclass(eq=False)
class SimFile:
    """A file (memfd/tmpfs-like unless told otherwise) and its page cache.

    ``unlinked`` marks the shmem object behind a shared anonymous mapping: no name
    keeps it, so it (and its page cache) goes away with the last VMA that maps it.
    """

    name: str
    size: int
    fs: Filesystem = TMPFS
    pages: dict[int, Frame] = field(default_factory=dict)  # page index -> page-cache frame
    unlinked: bool = False
    vmas: int = 0  # VMAs mapping it, in every address space
    ino: int = 0  # its inode number: shmem interleaves by it (SHMEM_INTERLEAVE_BY_INODE)
    # shmem's shared policy (mpol_set_shared_policy): page index ranges [start, end)
    policies: list[tuple[int, int, Mempolicy]] = field(default_factory=list)

    @property
    def shmem(self) -> bool:
        """tmpfs, or the object under a shared anonymous mapping: its policy is the
        object's (shmem_set_policy), whichever mapping of it mbind() was given."""
        return self.fs is TMPFS

    def policy_at(self, index: int) -> Mempolicy | None:
        """mpol_shared_policy_lookup(): the shared policy of page ``index``."""
        return next((p for start, end, p in self.policies if start <= index < end), None)

    def set_policy(self, start: int, end: int, policy: Mempolicy | None) -> None:
        """mpol_set_shared_policy(): ``policy`` (None: the default) over [start, end)."""
        kept: list[tuple[int, int, Mempolicy]] = []
        for a, b, p in self.policies:
            kept += [(a, min(b, start), p)] if a < start else []
            kept += [(max(a, end), b, p)] if b > end else []
        if policy is not None:
            kept.append((start, end, policy))
        self.policies = sorted((r for r in kept if r[0] < r[1]), key=lambda r: r[0])

    def __repr__(self) -> str:
        return f"SimFile({self.name!r}, size={self.size}, fs={self.fs.name})"
