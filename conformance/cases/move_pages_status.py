"""move_pages(2) "Page states in the status array": one case per status clause.

Needs: 2 memory nodes for anything that moves; the world-building features named.
Statuses are compared exactly as the kernel writes them (node id or -errno).
"""

from __future__ import annotations

import errno

from conformance.env import Env, Needs, expect, expect_errno, expect_status, fail
from conformance.registry import case
from simnuma.abi import (
    MPOL_BIND,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    PROT_NONE,
    UNWRITTEN,
    Process,
    move_pages_raw,
)

TWO = Needs(memory_nodes=2)
HPAGE = 2 << 20


@case("move_pages.status.node", needs=TWO)
def query_then_move(env: Env) -> None:
    """Query reports the node; a move reports (and performs) the new node."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    a, b = env.pages(p, 2)
    start = env.where(p, [a, b])
    expect(all(n in env.memory_nodes for n in start), True, f"query nodes {start}")
    targets = [n1 if start[0] != n1 else n0, n0 if start[1] != n0 else n1]
    r = p.move_pages(0, [a, b], targets, MPOL_MF_MOVE)
    expect_status(r, targets)
    expect(r.ret, 0, "return value")
    expect(env.where(p, [a, b]), targets, "nodes after the move")


@case("move_pages.status.EACCES", needs=TWO)
def map_shared_with_child(env: Env) -> None:
    """MAP_SHARED page touched by parent and child: -EACCES without MOVE_ALL (move_pages05)."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    (a,) = env.pages(p, 1, shared=True)
    child = p.fork()
    child.touch(a, env.page_size)
    where = env.where(p, [a])[0]
    target = n1 if where == n0 else n0
    expect(env.status_of(p, a, target, MPOL_MF_MOVE), -errno.EACCES, "status")
    expect_status(
        p.move_pages(0, [a], [target], MPOL_MF_MOVE_ALL), [target], "with MPOL_MF_MOVE_ALL"
    )
    expect(env.where(child, [a]), [target], "the child sees the page moved")


@case("move_pages.status.EACCES.cow", needs=TWO)
def cow_shared_with_child(env: Env) -> None:
    """A private page not yet written after fork is mapped twice: -EACCES; written, it moves."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    (a,) = env.pages(p, 1)
    child = p.fork()
    target = n1 if env.where(p, [a])[0] == n0 else n0
    expect(env.status_of(p, a, target, MPOL_MF_MOVE), -errno.EACCES, "shared COW page")
    child.touch(a, env.page_size)  # the child's write breaks the sharing
    expect_status(p.move_pages(0, [a], [target], MPOL_MF_MOVE), [target], "after copy-on-write")


@case("move_pages.status.EBUSY", needs=Needs(memory_nodes=2, features=frozenset({"isolate"})))
def isolated_page(env: Env) -> None:
    """A page off the LRU (isolated by compaction) cannot be isolated again: -EBUSY."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    (a,) = env.pages(p, 1)
    env.world.isolate(p, a)
    target = n1 if env.where(p, [a])[0] == n0 else n0
    expect(env.status_of(p, a, target, MPOL_MF_MOVE), -errno.EBUSY, "status")


@case("move_pages.status.EBUSY.same_page_twice", needs=TWO)
def same_page_twice(env: Env) -> None:
    """The same page twice for one node: the first entry moves it, the second finds it isolated."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    (a,) = env.pages(p, 1)
    target = n1 if env.where(p, [a])[0] == n0 else n0
    expect_status(p.move_pages(0, [a, a], [target, target], MPOL_MF_MOVE), [target, -errno.EBUSY])


def _there_and_back(env: Env) -> tuple[list[int], int, int]:
    """One page named twice: first for another node, then for its own."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    (a,) = env.pages(p, 1)
    here = env.where(p, [a])[0]
    away = n1 if here == n0 else n0
    return p.move_pages(0, [a, a], [away, here], MPOL_MF_MOVE).status, here, away


@case("move_pages.status.EBUSY.moved_earlier", needs=TWO)
def moved_then_named_again(env: Env) -> None:
    """Moved by the first entry, named again by the second: -EBUSY."""
    status, _, away = _there_and_back(env)
    expect(status, [away, -errno.EBUSY], "statuses")


@case("move_pages.status.moved_again", needs=TWO)
def moved_then_moved_back(env: Env) -> None:
    """Moved by the first entry, back by the second."""
    status, here, away = _there_and_back(env)
    expect(status, [away, here], "statuses")


@case("move_pages.status.EFAULT.unmapped")
def unmapped_address(env: Env) -> None:
    """An address no mapping covers: -EFAULT in query and move mode (LTP move_pages04)."""
    p = env.spawn()
    a = env.unmapped
    expect_status(p.move_pages(0, [a], None, 0), [-errno.EFAULT], "query")
    expect(env.status_of(p, a, env.memory_nodes[0], MPOL_MF_MOVE), -errno.EFAULT, "move")


@case("move_pages.status.EFAULT.hole_below_vma")
def hole_below_vma_efault(env: Env) -> None:
    """A hole between two mappings: -EFAULT."""
    p = env.spawn()
    b = env.hole(p)
    expect_status(p.move_pages(0, [b], None, 0), [-errno.EFAULT], "query")
    expect(env.status_of(p, b, env.memory_nodes[0], MPOL_MF_MOVE), -errno.EFAULT, "move")


@case("move_pages.status.ENOENT.hole_below_vma")
def hole_below_vma_enoent(env: Env) -> None:
    """A hole between two mappings gave -ENOENT (looked up in the next VMA)."""
    p = env.spawn()
    b = env.hole(p)
    expect_status(p.move_pages(0, [b], None, 0), [-errno.ENOENT], "query")
    expect(env.status_of(p, b, env.memory_nodes[0], MPOL_MF_MOVE), -errno.ENOENT, "move")


@case("move_pages.status.EFAULT.zero_page")
def zero_page_efault(env: Env) -> None:
    """Untouched private anonymous memory that was only read maps the zero page: -EFAULT."""
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    p.read(a, env.page_size)
    expect_status(p.move_pages(0, [a], None, 0), [-errno.EFAULT], "query")
    expect(env.status_of(p, a, env.memory_nodes[0], MPOL_MF_MOVE), -errno.EFAULT, "move")


@case("move_pages.status.ENOENT.zero_page")
def zero_page_enoent(env: Env) -> None:
    """The zero page gives -ENOENT (PageReserved)."""
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    p.read(a, env.page_size)
    expect_status(p.move_pages(0, [a], None, 0), [-errno.ENOENT], "query")
    expect(env.status_of(p, a, env.memory_nodes[0], MPOL_MF_MOVE), -errno.ENOENT, "move")


@case("move_pages.status.ENOENT.unpopulated")
def unpopulated_enoent(env: Env) -> None:
    """A never-touched private anonymous page: -ENOENT (LTP move_pages04)."""
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    expect_status(p.move_pages(0, [a], None, 0), [-errno.ENOENT], "query")
    expect(env.status_of(p, a, env.memory_nodes[0], MPOL_MF_MOVE), -errno.ENOENT, "move")


@case("move_pages.status.EFAULT.unpopulated")
def unpopulated_efault(env: Env) -> None:
    """A never-touched private anonymous page gives -EFAULT (FOLL_DUMP)."""
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    expect_status(p.move_pages(0, [a], None, 0), [-errno.EFAULT], "query")
    expect(env.status_of(p, a, env.memory_nodes[0], MPOL_MF_MOVE), -errno.EFAULT, "move")


@case("move_pages.status.ENOENT.unpopulated_file")
def unpopulated_shared(env: Env) -> None:
    """A never-touched MAP_SHARED anonymous (shmem) page: -ENOENT in every release."""
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False, shared=True)
    expect_status(p.move_pages(0, [a], None, 0), [-errno.ENOENT], "query")
    expect(env.status_of(p, a, env.memory_nodes[0], MPOL_MF_MOVE), -errno.ENOENT, "move")


@case("move_pages.status.ENOENT.swapped", needs=Needs(memory_nodes=2, features=frozenset({"swap"})))
def swapped_out(env: Env) -> None:
    """A page reclaimed to swap is not present: -ENOENT; touched again, it is back on a node."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    p.write_bytes(a, b"swapped")
    env.world.swap_out(p, a)
    expect_status(p.move_pages(0, [a], None, 0), [-errno.ENOENT], "query")
    expect(env.status_of(p, a, env.memory_nodes[1], MPOL_MF_MOVE), -errno.ENOENT, "move")
    expect(p.read_bytes(a, 7), b"swapped", "contents after swap-in")
    expect(env.where(p, [a])[0] in env.memory_nodes, True, "back on a node")


NOWRITEBACK = Needs(memory_nodes=2, features=frozenset({"fs:nomigrate-nowriteback"}))
IOERROR = Needs(memory_nodes=2, features=frozenset({"fs:nomigrate-ioerror"}))
NOMIGRATE = Needs(memory_nodes=2, features=frozenset({"fs:nomigrate"}))


@case("move_pages.status.ENOENT.page_cache_unmapped", needs=Needs(features=frozenset({"files"})))
def page_cache_not_mapped(env: Env) -> None:
    """A file page written with write(2) is in the page cache; this mapping never faulted it."""
    p = env.spawn()
    f = env.world.create_file(env.page_size)
    env.world.write_file(f, 0, b"cached")
    a = p.mmap(env.page_size, file=f, shared=True)
    node = env.world.file_page_node(f, 0)
    if node is None:
        fail("write(2) left no page in the page cache")
    expect_status(p.move_pages(0, [a], None, 0), [-errno.ENOENT], "query")
    other = next((n for n in env.memory_nodes if n != node), node)
    expect(env.status_of(p, a, other, MPOL_MF_MOVE), -errno.ENOENT, "move")
    expect(env.world.file_page_node(f, 0), node, "page-cache page stays put")


def _dirty_file_page(env: Env, fs: str) -> tuple[Process, int, int]:
    p = env.spawn()
    f = env.world.create_file(env.page_size, fs=fs)
    a = p.mmap(env.page_size, file=f, shared=True)
    p.write_bytes(a, b"dirty")
    here = env.where(p, [a])[0]
    target = next(n for n in env.memory_nodes if n != here)
    return p, a, target


@case("move_pages.status.EIO", needs=IOERROR)
def dirty_writeback_fails(env: Env) -> None:
    """A dirty page, no migrate function, writeback fails: -EIO."""
    p, a, target = _dirty_file_page(env, "nomigrate-ioerror")
    r = p.move_pages(0, [a], [target], MPOL_MF_MOVE)
    expect_status(r, [-errno.EIO])


@case("move_pages.status.EINVAL", needs=NOWRITEBACK)
def dirty_no_writeback(env: Env) -> None:
    """A dirty page, no migrate function and no writeback: -EINVAL."""
    p, a, target = _dirty_file_page(env, "nomigrate-nowriteback")
    r = p.move_pages(0, [a], [target], MPOL_MF_MOVE)
    expect_status(r, [-errno.EINVAL])


@case("move_pages.status.EIO.as_count", needs=IOERROR)
def dirty_writeback_fails_counted(env: Env) -> None:
    """The -EIO page is counted in the return value; its status stays unwritten."""
    p, a, target = _dirty_file_page(env, "nomigrate-ioerror")
    r = p.move_pages(0, [a], [target], MPOL_MF_MOVE)
    expect((r.ret, r.status), (1, [UNWRITTEN]), "return value and status")


@case("move_pages.status.EINVAL.as_count", needs=NOWRITEBACK)
def dirty_no_writeback_counted(env: Env) -> None:
    """The -EINVAL page is counted in the return value; its status stays unwritten."""
    p, a, target = _dirty_file_page(env, "nomigrate-nowriteback")
    r = p.move_pages(0, [a], [target], MPOL_MF_MOVE)
    expect((r.ret, r.status), (1, [UNWRITTEN]), "return value and status")


@case("move_pages.dirty_nomigrate_written_out", needs=NOMIGRATE)
def dirty_written_out_then_moved(env: Env) -> None:
    """A dirty page, no migrate function, writeback works: written out, then it moves."""
    p, a, target = _dirty_file_page(env, "nomigrate")
    expect_status(p.move_pages(0, [a], [target], MPOL_MF_MOVE), [target])
    expect(p.read_bytes(a, 5), b"dirty", "contents")


@case("move_pages.status.EBUSY.dirty_nomigrate", needs=NOMIGRATE)
def dirty_nomigrate_busy(env: Env) -> None:
    """A dirty page, no migrate function (writeback or not): -EBUSY, counted; it stays."""
    p, a, target = _dirty_file_page(env, "nomigrate")
    r = p.move_pages(0, [a], [target], MPOL_MF_MOVE)
    expect((r.ret, r.status), (1, [UNWRITTEN]), "return value and status")
    expect(env.where(p, [a])[0] != target, True, "the page stayed")


@case("move_pages.status.EBUSY.dirty_nomigrate", needs=NOWRITEBACK)
def dirty_nowriteback_busy(env: Env) -> None:
    """A dirty page, neither a migrate function nor writeback: -EBUSY, counted."""
    p, a, target = _dirty_file_page(env, "nomigrate-nowriteback")
    r = p.move_pages(0, [a], [target], MPOL_MF_MOVE)
    expect((r.ret, r.status), (1, [UNWRITTEN]), "return value and status")


@case("move_pages.status.ENOMEM", needs=Needs(memory_nodes=2, features=frozenset({"fill_node"})))
def full_target_status(env: Env) -> None:
    """A full target node: the call fails with errno ENOMEM; no status says -ENOMEM."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    (a,) = env.pages(p, 1)
    target = n1 if env.where(p, [a])[0] == n0 else n0
    env.world.fill_node(target, 0)
    r = move_pages_raw(p, 0, [a], [target], MPOL_MF_MOVE)
    expect((r.ret, r.err), (-1, errno.ENOMEM), "ret, errno")
    expect(-errno.ENOMEM in r.out, False, f"no -ENOMEM status in {r.out}")


@case("move_pages.status.EPERM.mlocked", needs=TWO)
def mlocked_page_moves(env: Env) -> None:
    """An mlocked page moves; no -EPERM (the 2006 RFC text never shipped)."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    (a,) = env.pages(p, 1)
    p.mlock(a, env.page_size)
    target = n1 if env.where(p, [a])[0] == n0 else n0
    expect_status(p.move_pages(0, [a], [target], MPOL_MF_MOVE), [target])


PIN = Needs(memory_nodes=2, features=frozenset({"pin"}))


def _pinned_then_free(env: Env) -> tuple[Process, list[int], int]:
    """Three pages on one node, the middle one pinned; a target node."""
    p = env.spawn()
    pages = env.pages(p, 3)
    here = env.where(p, pages)
    expect(len(set(here)), 1, f"pages start on one node ({here})")
    env.world.pin(p, pages[1])
    target = next(n for n in env.memory_nodes if n != here[0])
    return p, pages, target


@case("move_pages.status.EAGAIN.pinned", needs=PIN)
def pinned_page_eagain(env: Env) -> None:
    """A pinned page fails every migration pass: status -EAGAIN, the others move."""
    p, pages, t = _pinned_then_free(env)
    r = p.move_pages(0, pages, [t, t, t], MPOL_MF_MOVE)
    expect_status(r, [t, -errno.EAGAIN, t])


@case("move_pages.pinned_page_written_in_place", needs=PIN)
def pinned_page_written_stays_pinned(env: Env) -> None:
    """Writing a pinned page writes that page (no copy): it still fails to move."""
    p, pages, t = _pinned_then_free(env)
    data = b"written after the pin"
    p.write_bytes(pages[1], data)
    p.move_pages(0, [pages[1]], [t], MPOL_MF_MOVE)
    expect(env.where(p, [pages[1]])[0] != t, True, "the pinned page stayed where it was")
    expect(p.read_bytes(pages[1], len(data)), data, "contents")


@case("move_pages.status.unwritten", needs=PIN)
def pinned_page_unwritten(env: Env) -> None:
    """A batch with a pinned page fails: its statuses and every later entry's stay unwritten."""
    p, pages, t = _pinned_then_free(env)
    first = next(n for n in env.memory_nodes if n != t)
    extra = env.pages(p, 1)[0]  # a fourth page, in a later batch (another node)
    r = p.move_pages(0, [*pages, extra], [t, t, t, first], MPOL_MF_MOVE)
    expect_status(r, [UNWRITTEN] * 4)
    expect(r.ret > 0, True, f"positive return, got {r.ret}")


@case("move_pages.status.already_on_target_unwritten", needs=TWO)
def already_on_target_unwritten(env: Env) -> None:
    """A lone entry already on its target node is left unwritten."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    here = env.where(p, [a])[0]
    expect_status(p.move_pages(0, [a], [here], MPOL_MF_MOVE), [UNWRITTEN])


@case(
    "move_pages.status.writeback",
    needs=Needs(memory_nodes=2, features=frozenset({"writeback", "files"})),
)
def writeback_waited_for(env: Env) -> None:
    """A page under writeback: MIGRATE_SYNC waits for the I/O, then the page moves."""
    p = env.spawn()
    f = env.world.create_file(env.page_size, fs="ext4")  # tmpfs pages are never written back
    a = p.mmap(env.page_size, file=f, shared=True)
    p.write_bytes(a, b"io")
    env.world.start_writeback(p, a)
    here = env.where(p, [a])[0]
    target = next(n for n in env.memory_nodes if n != here)
    expect_status(p.move_pages(0, [a], [target], MPOL_MF_MOVE), [target])


@case("move_pages.status.prot_none", needs=TWO)
def prot_none_after_touch(env: Env) -> None:
    """A touched page made PROT_NONE still moves (the pte is present)."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    here = env.where(p, [a])[0]
    p.mprotect(a, env.page_size, PROT_NONE)
    expect(env.where(p, [a]), [here], "query of the PROT_NONE page")
    target = next(n for n in env.memory_nodes if n != here)
    expect_status(p.move_pages(0, [a], [target], MPOL_MF_MOVE), [target])
    expect(env.where(p, [a]), [target], "query after the move")


@case("move_pages.status.ENOENT.prot_none", needs=TWO)
def prot_none_not_followed(env: Env) -> None:
    """A touched page made PROT_NONE is not present to move_pages()."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    here = env.where(p, [a])[0]
    p.mprotect(a, env.page_size, PROT_NONE)
    expect(env.where(p, [a]), [-errno.ENOENT], "query")
    target = next(n for n in env.memory_nodes if n != here)
    expect(env.status_of(p, a, target, MPOL_MF_MOVE), -errno.ENOENT, "move")


THP = Needs(memory_nodes=2, features=frozenset({"thp"}))


def _thp(env: Env) -> tuple[Process, int, int, int]:
    p = env.spawn()
    a = p.mmap(HPAGE, huge="thp")
    p.touch(a, HPAGE)
    here = env.where(p, [a])[0]
    target = next(n for n in env.memory_nodes if n != here)
    return p, a, here, target


@case("move_pages.status.EFAULT.prot_none_thp", needs=THP)
def prot_none_thp(env: Env) -> None:
    """A touched THP made PROT_NONE: -EFAULT for its first and a middle sub-page."""
    p, a, _, t = _thp(env)
    p.mprotect(a, HPAGE, PROT_NONE)
    mid = a + 256 * env.page_size
    expect(env.where(p, [a, mid]), [-errno.EFAULT, -errno.EFAULT], "query")
    expect(env.status_of(p, mid, t, MPOL_MF_MOVE), -errno.EFAULT, "move")


@case("move_pages.status.thp_whole", needs=THP)
def thp_middle_moves_folio(env: Env) -> None:
    """An address in the middle of a THP moves all 512 pages; a second sub-page is -EBUSY."""
    p, a, _, t = _thp(env)
    mid, last = a + 256 * env.page_size, a + HPAGE - env.page_size
    r = p.move_pages(0, [mid, last], [t, t], MPOL_MF_MOVE)
    expect_status(r, [t, -errno.EBUSY])
    expect(env.where(p, [a, mid, last]), [t, t, t], "every sub-page moved")


@case("move_pages.status.thp_split", needs=THP)
def thp_middle_splits(env: Env) -> None:
    """The THP is split and only the named 4 KiB page moves."""
    p, a, here, t = _thp(env)
    mid = a + 256 * env.page_size
    expect_status(p.move_pages(0, [mid], [t], MPOL_MF_MOVE), [t])
    expect(env.where(p, [a, mid]), [here, t], "only the named page moved")


PINNED_THP = Needs(memory_nodes=2, features=frozenset({"thp", "pin"}))


@case("move_pages.status.EBUSY.pinned_thp", needs=PINNED_THP)
def pinned_thp_not_split(env: Env) -> None:
    """FOLL_SPLIT cannot split a THP holding a pin: -EBUSY, every sub-page stays."""
    p, a, here, t = _thp(env)
    env.world.pin(p, a)
    mid = a + 256 * env.page_size
    expect_status(p.move_pages(0, [mid], [t], MPOL_MF_MOVE), [-errno.EBUSY])
    expect(env.where(p, [a, mid]), [here, here], "nothing moved")
    env.world.unpin(p, a)


@case("move_pages.status.pinned_thp_split", needs=PINNED_THP)
def pinned_thp_split(env: Env) -> None:
    """The split succeeds despite the pin; the named (unpinned) 4 KiB page moves."""
    p, a, here, t = _thp(env)
    env.world.pin(p, a)
    mid = a + 256 * env.page_size
    expect_status(p.move_pages(0, [mid], [t], MPOL_MF_MOVE), [t])
    expect(env.where(p, [a, mid]), [here, t], "only the named page moved")
    env.world.unpin(p, a)


HUGETLB = Needs(memory_nodes=2, features=frozenset({"hugetlb"}))


def _hugetlb(env: Env) -> tuple[Process, int, int, int]:
    p = env.spawn()
    a = p.mmap(HPAGE, huge="hugetlb")
    p.touch(a, HPAGE)
    here = env.where(p, [a])[0]
    target = next(n for n in env.memory_nodes if n != here)
    return p, a, here, target


@case("move_pages.status.hugetlb", needs=HUGETLB)
def hugetlb_head_moves(env: Env) -> None:
    """Naming a hugetlb page's first address moves the whole 2 MiB page."""
    p, a, _, t = _hugetlb(env)
    expect_status(p.move_pages(0, [a], [t], MPOL_MF_MOVE), [t])
    expect(env.where(p, [a + HPAGE - env.page_size]), [t], "the last sub-page moved too")


@case("move_pages.status.EFAULT.hugetlb", needs=HUGETLB)
def hugetlb_not_migratable(env: Env) -> None:
    """A hugetlb mapping fails vma_migratable(): -EFAULT."""
    p, a, _, t = _hugetlb(env)
    expect(env.status_of(p, a, t, MPOL_MF_MOVE), -errno.EFAULT, "status")


@case("move_pages.status.EACCES.hugetlb_tail", needs=HUGETLB)
def hugetlb_tail(env: Env) -> None:
    """A tail-page address of a hugetlb page keeps -EACCES and nothing moves."""
    p, a, here, t = _hugetlb(env)
    tail = a + 5 * env.page_size
    expect(env.status_of(p, tail, t, MPOL_MF_MOVE), -errno.EACCES, "status")
    expect(env.where(p, [a]), [here], "the page stays")


@case("move_pages.unaligned", needs=TWO)
def unaligned_address(env: Env) -> None:
    """a + 17 names the page at a, in query and move mode."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    here = env.where(p, [a])[0]
    expect(env.where(p, [a + 17]), [here], "query of a + 17")
    target = next(n for n in env.memory_nodes if n != here)
    expect_status(p.move_pages(0, [a + 17], [target], MPOL_MF_MOVE), [target], "move of a + 17")
    expect(env.where(p, [a]), [target], "the containing page moved")


@case("move_pages.unaligned")
def unaligned_query(env: Env) -> None:
    """On one node too: a + 17 and the page's last byte report the page at a; the next
    page (untouched) reports its own status."""
    p = env.spawn()
    a, b = env.pages(p, 2, touch=False)
    p.touch(a, env.page_size)  # b stays untouched: not present
    here = env.where(p, [a])[0]
    last = a + env.page_size - 1
    expect(env.where(p, [a + 17, last]), [here, here], "query inside the page")
    status = env.where(p, [b])[0]
    not_present = (-errno.ENOENT, -errno.EFAULT)  # -EFAULT: 4.3-6.11's FOLL_DUMP side effect
    expect(status in not_present, True, f"the next page, untouched: not present ({status})")


@case("move_pages.contents", needs=TWO)
def contents_survive(env: Env) -> None:
    """Bytes written before a move read back the same after it."""
    p = env.spawn()
    pages = env.pages(p, 4)
    data = bytes(range(256)) * (4 * env.page_size // 256)
    p.write_bytes(pages[0], data)
    here = env.where(p, pages)
    targets = [next(n for n in env.memory_nodes if n != h) for h in here]
    expect_status(p.move_pages(0, pages, targets, MPOL_MF_MOVE), targets)
    expect(p.read_bytes(pages[0], len(data)) == data, True, "contents after the move")


@case("move_pages.ignores_mempolicy", needs=TWO)
def move_outside_bind_policy(env: Env) -> None:
    """A page of a range bound to one node can still be moved to another (NOTES)."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    a = p.mmap(env.page_size)
    p.mbind(a, env.page_size, MPOL_BIND, [n0])
    p.touch(a, env.page_size)
    expect(env.where(p, [a]), [n0], "placed by MPOL_BIND")
    expect_status(p.move_pages(0, [a], [n1], MPOL_MF_MOVE), [n1])


@case(
    "move_pages.cpuset_excludes_page_node",
    needs=Needs(memory_nodes=2, features=frozenset({"cpuset", "cpuset_keep_pages"})),
)
def page_outside_own_cpuset(env: Env) -> None:
    """A page on a node the cpuset no longer allows: queried, and moved onto an allowed node."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn(cpuset_mems=[n0])
    (a,) = env.pages(p, 1)
    expect(env.where(p, [a]), [n0], "placed in the cpuset")
    p.set_cpuset([n1])  # cpuset.memory_migrate off: the page stays on n0
    expect(env.where(p, [a]), [n0], "still on the old node")
    expect_status(p.move_pages(0, [a], [n1], MPOL_MF_MOVE), [n1])
    expect_errno(lambda: p.move_pages(0, [a], [n0], MPOL_MF_MOVE), errno.EACCES, "back to n0")
