"""What a child of fork(2) holds of its parent's mappings, as move_pages(2) sees it.

fork() copies a VMA's page-table entries only where a fault could not refill them
(copy_page_range(): VMAs with an anon_vma; hugetlb VMAs too before 6.0).  Everything
else is not present in the child until it touches it, and stays mapped once in the
parent, which decides -ENOENT in the child and -EACCES (mapped twice) in the parent.

Needs: 1 memory node for the child's view; 2 for the parent's moves; files or
hugetlb where named.
"""

from __future__ import annotations

import errno

from conformance.env import Env, Needs, expect, expect_status
from conformance.registry import case
from simnuma.abi import MPOL_MF_MOVE, Process

FILES = Needs(features=frozenset({"files"}))
FILES_TWO = Needs(memory_nodes=2, features=frozenset({"files"}))
HUGETLB = Needs(memory_nodes=2, features=frozenset({"hugetlb"}))
HPAGE = 2 << 20


def _other(env: Env, proc: Process, addr: int) -> int:
    """A memory node the page at ``addr`` is not on."""
    here = env.where(proc, [addr])[0]
    return next(n for n in env.memory_nodes if n != here)


@case("fork.shared_not_copied", needs=FILES)
def shared_pages_absent_in_child(env: Env) -> None:
    """Shared anonymous and shared file pages the parent touched: -ENOENT in the child."""
    p = env.spawn()
    (anon,) = env.pages(p, 1, shared=True)
    f = env.world.create_file(env.page_size)
    (mapped,) = env.pages(p, 1, shared=True, file=f)
    child = p.fork()
    parent = env.where(p, [anon, mapped])
    expect(all(n in env.memory_nodes for n in parent), True, f"parent: both present {parent}")
    expect(env.where(child, [anon, mapped]), [-errno.ENOENT] * 2, "child before touching")
    child.touch(anon, env.page_size)
    expect(env.where(child, [anon]), env.where(p, [anon]), "child after touching: the same page")


@case("fork.shared_not_copied", needs=Needs(memory_nodes=2))
def parent_moves_shared_page_child_never_touched(env: Env) -> None:
    """The parent's shared page is mapped once after fork: it moves without MOVE_ALL."""
    p = env.spawn()
    (a,) = env.pages(p, 1, shared=True)
    p.fork()
    target = _other(env, p, a)
    expect_status(p.move_pages(0, [a], [target], MPOL_MF_MOVE), [target], "status")


@case("fork.private_file_clean_not_copied", needs=FILES)
def clean_private_file_absent_in_child(env: Env) -> None:
    """A private file mapping the parent only read: -ENOENT in the child."""
    p = env.spawn()
    f = env.world.create_file(2 * env.page_size)
    a = p.mmap(2 * env.page_size, file=f)
    p.read(a, 2 * env.page_size)
    child = p.fork()
    expect(env.where(child, [a, a + env.page_size]), [-errno.ENOENT] * 2, "child")


@case("fork.anon_vma_copies_every_entry", needs=FILES)
def written_private_file_copied_whole(env: Env) -> None:
    """One copy-on-write page makes fork() copy the whole VMA, page-cache pages included."""
    p = env.spawn()
    f = env.world.create_file(2 * env.page_size)
    a = p.mmap(2 * env.page_size, file=f)
    p.read(a, 2 * env.page_size)
    p.touch(a, env.page_size)  # a private copy: the VMA gets an anon_vma
    child = p.fork()
    expect(env.where(child, [a, a + env.page_size]), env.where(p, [a, a + env.page_size]), "child")


@case("fork.anon_vma_copies_every_entry", needs=FILES_TWO)
def page_cache_page_mapped_twice_after_fork(env: Env) -> None:
    """The copied page-cache page is mapped by parent and child: -EACCES in the parent."""
    p = env.spawn()
    f = env.world.create_file(2 * env.page_size)
    a = p.mmap(2 * env.page_size, file=f)
    p.read(a, 2 * env.page_size)
    p.touch(a, env.page_size)
    p.fork()
    cached = a + env.page_size
    target = _other(env, p, cached)
    expect(env.status_of(p, cached, target, MPOL_MF_MOVE), -errno.EACCES, "status")


@case("fork.zero_page_not_copied")
def zero_page_only_vma_absent_in_child(env: Env) -> None:
    """Private anonymous memory that was only read: the zero page (-EFAULT) in the parent,
    not present (-ENOENT) in the child; one written page makes fork() copy them all."""
    p = env.spawn()
    a = p.mmap(env.page_size)
    p.read(a, env.page_size)
    b = p.mmap(2 * env.page_size)
    p.touch(b, env.page_size)
    p.read(b + env.page_size, env.page_size)
    child = p.fork()
    expect(env.where(p, [a, b + env.page_size]), [-errno.EFAULT] * 2, "parent: zero pages")
    expect(env.where(child, [a]), [-errno.ENOENT], "child: the read-only VMA")
    expect(env.where(child, [b + env.page_size]), [-errno.EFAULT], "child: the written VMA")


def _shared_hugetlb(env: Env) -> tuple[Process, Process, int, int]:
    p = env.spawn()
    a = p.mmap(HPAGE, shared=True, huge="hugetlb")
    p.touch(a, HPAGE)
    child = p.fork()
    return p, child, a, _other(env, p, a)


@case("fork.hugetlb_copied", needs=HUGETLB)
def hugetlb_mapped_in_child(env: Env) -> None:
    """Before 6.0 the child maps the shared hugetlb page at once; the parent's is shared."""
    p, child, a, target = _shared_hugetlb(env)
    expect(env.where(child, [a]), env.where(p, [a]), "child")
    expect(env.status_of(p, a, target, MPOL_MF_MOVE), -errno.EACCES, "parent's move")


@case("fork.hugetlb_not_copied", needs=HUGETLB)
def hugetlb_absent_in_child(env: Env) -> None:
    """Since 6.0 the child's shared hugetlb page is not present; the parent's moves."""
    p, child, a, target = _shared_hugetlb(env)
    expect(env.where(child, [a]), [-errno.ENOENT], "child")
    expect_status(p.move_pages(0, [a], [target], MPOL_MF_MOVE), [target], "parent's move")


@case("fork.hugetlb_private_copy_on_write", needs=Needs(features=frozenset({"hugetlb"})))
def hugetlb_private_written_after_fork(env: Env) -> None:
    """Parent and child write their private huge page after fork: each reads its own."""
    p = env.spawn()
    a = p.mmap(HPAGE, huge="hugetlb")
    p.write_bytes(a + HPAGE - 8, b"parent!!")
    child = p.fork()
    child.write_bytes(a + HPAGE - 8, b"child!!!")
    expect(p.read_bytes(a + HPAGE - 8, 8), b"parent!!", "the parent's page")
    expect(child.read_bytes(a + HPAGE - 8, 8), b"child!!!", "the child's copy")
