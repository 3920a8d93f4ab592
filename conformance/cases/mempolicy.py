"""get_mempolicy(2), set_mempolicy(2), mbind(2) and cpuset(7) memory_migrate.

Needs: 2 memory nodes to tell placements apart; root and uid 1000 for the
MPOL_MF_MOVE_ALL case; the world-building features named.  Where a page landed
is read back with a move_pages() query.
"""

from __future__ import annotations

import errno
from functools import partial

from conformance.env import Env, Needs, Skip, expect, expect_errno, expect_raw, fail
from conformance.registry import case
from simnuma.abi import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_ADDR,
    MPOL_F_MEMS_ALLOWED,
    MPOL_F_NODE,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
    Process,
    get_mempolicy_raw,
    mbind_raw,
    set_mempolicy_raw,
)

TWO = Needs(memory_nodes=2)
CPUSET = Needs(memory_nodes=2, features=frozenset({"cpuset"}))
USER = 1000


def _local_and_away(env: Env, p: Process) -> tuple[int, int]:
    """The node a page of ``p`` lands on by default, and another memory node."""
    here = env.where(p, env.pages(p, 1))[0]
    return here, next(n for n in env.memory_nodes if n != here)


def _even_pages(env: Env, p: Process, count: int) -> list[int]:
    """``count`` untouched pages starting at an even page number (interleave_nid():
    an anonymous page's node is its page number modulo the node count)."""
    a = p.mmap((count + 1) * env.page_size)
    if (a // env.page_size) % 2:
        a += env.page_size
    return [a + i * env.page_size for i in range(count)]


# ---------------------------------------------------------------- get_mempolicy(2)
@case("get_mempolicy.mems_allowed", needs=CPUSET)
def mems_allowed(env: Env) -> None:
    """MPOL_F_MEMS_ALLOWED: mode 0 and the caller's cpuset.mems."""
    n0, n1 = env.memory_nodes[:2]
    confined = env.spawn(cpuset_mems=[n1])
    expect(confined.get_mempolicy(MPOL_F_MEMS_ALLOWED), (0, [n1]), "cpuset {n1}")
    wide = env.spawn(cpuset_mems=[n0, n1])
    expect(wide.get_mempolicy(MPOL_F_MEMS_ALLOWED), (0, [n0, n1]), "cpuset {n0, n1}")


@case("get_mempolicy.errno.EINVAL.mems_allowed_combined")
def mems_allowed_combined(env: Env) -> None:
    """MPOL_F_MEMS_ALLOWED with MPOL_F_NODE or with MPOL_F_ADDR: EINVAL."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    flags = MPOL_F_MEMS_ALLOWED | MPOL_F_NODE
    expect_errno(lambda: p.get_mempolicy(flags), errno.EINVAL, "with MPOL_F_NODE")
    flags = MPOL_F_MEMS_ALLOWED | MPOL_F_ADDR
    expect_errno(lambda: p.get_mempolicy(flags, a), errno.EINVAL, "with MPOL_F_ADDR")


@case("get_mempolicy.node_addr", needs=TWO)
def node_of_page(env: Env) -> None:
    """MPOL_F_NODE|MPOL_F_ADDR gives the node the page was moved to (LTP migrate_pages02)."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    here = env.where(p, [a])[0]
    away = next(n for n in env.memory_nodes if n != here)
    expect(p.get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR, a)[0], here, "before the move")
    p.move_pages(0, [a], [away], MPOL_MF_MOVE)
    expect(p.get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR, a)[0], away, "after the move")


@case("get_mempolicy.node_addr")
def faults_page_in(env: Env) -> None:
    """An untouched MAP_SHARED page is faulted in by the lookup and reported on its node."""
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False, shared=True)
    expect(env.where(p, [a]), [-errno.ENOENT], "not present before")
    node = p.get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR, a)[0]
    expect(node in env.memory_nodes, True, f"node {node} is a memory node")
    expect(env.where(p, [a]), [node], "present after, on the node reported")


@case("get_mempolicy.errno.EFAULT.addr")
def addr_unmapped(env: Env) -> None:
    """MPOL_F_ADDR with addr NULL or an unmapped page: EFAULT (LTP get_mempolicy02)."""
    p = env.spawn()
    a = env.hole(p)
    expect_errno(lambda: p.get_mempolicy(MPOL_F_ADDR, 0), errno.EFAULT, "addr NULL")
    expect_errno(lambda: p.get_mempolicy(MPOL_F_ADDR, a), errno.EFAULT, "unmapped addr")
    flags = MPOL_F_NODE | MPOL_F_ADDR
    expect_errno(lambda: p.get_mempolicy(flags, a), errno.EFAULT, "MPOL_F_NODE, unmapped addr")


@case("get_mempolicy.errno.EINVAL.addr_without_flag")
def addr_without_flag(env: Env) -> None:
    """A mapped addr with flags 0: EINVAL; with MPOL_F_ADDR the same addr is fine."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    expect_errno(lambda: p.get_mempolicy(0, a), errno.EINVAL, "flags 0")
    expect(p.get_mempolicy(MPOL_F_ADDR, a), (MPOL_DEFAULT, []), "with MPOL_F_ADDR")


@case("get_mempolicy.errno.EINVAL.flags")
def unknown_flags(env: Env) -> None:
    """flags with an unknown bit (1 << 3, 1 << 31): EINVAL."""
    p = env.spawn()
    expect_errno(lambda: p.get_mempolicy(1 << 3), errno.EINVAL, "flags 1 << 3")
    expect_errno(lambda: p.get_mempolicy(1 << 31), errno.EINVAL, "flags 1 << 31")


@case("get_mempolicy.errno.EINVAL.maxnode", needs=TWO)
def maxnode_below_node_count(env: Env) -> None:
    """A mask of 1 bit on a machine with 2+ node ids: EINVAL; a wide mask works."""
    p = env.spawn()
    expect_raw(get_mempolicy_raw(p, 0, 0, 1), -1, errno.EINVAL, "maxnode 1")
    expect(p.get_mempolicy(0), (MPOL_DEFAULT, []), "a wide mask")


@case("get_mempolicy.errno.EINVAL.node_without_interleave", needs=TWO)
def node_without_interleave(env: Env) -> None:
    """MPOL_F_NODE alone: EINVAL under MPOL_DEFAULT and MPOL_BIND, a node under interleave."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    expect_errno(lambda: p.get_mempolicy(MPOL_F_NODE), errno.EINVAL, "MPOL_DEFAULT")
    p.set_mempolicy(MPOL_BIND, [n0])
    expect_errno(lambda: p.get_mempolicy(MPOL_F_NODE), errno.EINVAL, "MPOL_BIND")
    p.set_mempolicy(MPOL_INTERLEAVE, [n0, n1])
    node = p.get_mempolicy(MPOL_F_NODE)[0]
    expect(node in (n0, n1), True, f"MPOL_INTERLEAVE: next node {node}")


# ---------------------------------------------------------------- set_mempolicy(2)
@case("set_mempolicy.placement", needs=TWO)
def bind_placement(env: Env) -> None:
    """MPOL_BIND to a node other than the local one: new pages land there."""
    p = env.spawn()
    _, away = _local_and_away(env, p)
    p.set_mempolicy(MPOL_BIND, [away])
    expect(env.where(p, env.pages(p, 3)), [away] * 3, "pages under MPOL_BIND")
    expect(p.get_mempolicy(0), (MPOL_BIND, [away]), "policy read back")


@case("set_mempolicy.placement", needs=TWO)
def preferred_placement(env: Env) -> None:
    """MPOL_PREFERRED for a node other than the local one: new pages land there."""
    p = env.spawn()
    _, away = _local_and_away(env, p)
    p.set_mempolicy(MPOL_PREFERRED, [away])
    expect(env.where(p, env.pages(p, 3)), [away] * 3, "pages under MPOL_PREFERRED")


@case("set_mempolicy.placement", needs=TWO)
def interleave_placement(env: Env) -> None:
    """MPOL_INTERLEAVE over two nodes: a fault's page offset picks the node, so an even
    page goes to the first node, an odd one to the second."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    p.set_mempolicy(MPOL_INTERLEAVE, [n0, n1])
    pages = _even_pages(env, p, 6)
    for a in pages:
        p.touch(a, env.page_size)
    expect(env.where(p, pages), [n0, n1] * 3, "nodes of pages 0..5 from an even page")


@case("set_mempolicy.placement", needs=Needs(memory_nodes=2, features=frozenset({"run_on"})))
def default_is_local(env: Env) -> None:
    """MPOL_DEFAULT (after a BIND) puts new pages on the node of the CPU that faults."""
    local = [n for n in env.memory_nodes if n in env.cpu_nodes]
    if len(local) < 2:
        raise Skip(f"needs 2 nodes with CPUs and memory, backend has {len(local)}")
    n0, n1 = local[:2]
    p = env.spawn()
    p.set_mempolicy(MPOL_BIND, [n0])
    p.set_mempolicy(MPOL_DEFAULT, [])
    env.world.run_on(p, n1)
    expect(env.where(p, env.pages(p, 2)), [n1, n1], "running on n1")
    env.world.run_on(p, n0)
    expect(env.where(p, env.pages(p, 2)), [n0, n0], "running on n0")


@case("set_mempolicy.errno.EINVAL.mode")
def bad_mode(env: Env) -> None:
    """Mode 99: EINVAL; MPOL_DEFAULT with a node: EINVAL; the policy stays default."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    expect_errno(lambda: p.set_mempolicy(99, [n0]), errno.EINVAL, "mode 99")
    expect_errno(lambda: p.set_mempolicy(MPOL_DEFAULT, [n0]), errno.EINVAL, "MPOL_DEFAULT, {n0}")
    expect(p.get_mempolicy(0), (MPOL_DEFAULT, []), "policy unchanged")


# ---------------------------------------------------------------- mbind(2)
@case("mbind.placement", needs=TWO)
def bind_range(env: Env) -> None:
    """MPOL_BIND on the middle page of three: it lands on the bound node, the others local."""
    p = env.spawn()
    here, away = _local_and_away(env, p)
    a = p.mmap(3 * env.page_size)
    p.mbind(a + env.page_size, env.page_size, MPOL_BIND, [away])
    p.touch(a, 3 * env.page_size)
    pages = [a + i * env.page_size for i in range(3)]
    expect(env.where(p, pages), [here, away, here], "pages after the faults")
    expect(p.get_mempolicy(MPOL_F_ADDR, pages[1]), (MPOL_BIND, [away]), "VMA policy")


@case("mbind.placement", needs=TWO)
def interleave_range(env: Env) -> None:
    """MPOL_INTERLEAVE on a range: its pages alternate over the nodes."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    pages = _even_pages(env, p, 6)
    p.mbind(pages[0], 6 * env.page_size, MPOL_INTERLEAVE, [n0, n1])
    p.touch(pages[0], 6 * env.page_size)
    expect(env.where(p, pages), [n0, n1] * 3, "nodes of pages 0..5 from an even page")


@case("mbind.shmem.shared_policy", needs=Needs(memory_nodes=2, features=frozenset({"files"})))
def shared_policy_of_a_file(env: Env) -> None:
    """One process binds its mapping of a tmpfs file away; another maps the file and
    faults its pages in: they land where the first one's mbind() said."""
    p = env.spawn()
    _, away = _local_and_away(env, p)
    f = env.world.create_file(2 * env.page_size)
    a = p.mmap(2 * env.page_size, file=f, shared=True)
    p.mbind(a, 2 * env.page_size, MPOL_BIND, [away])
    q = env.spawn()
    b = q.mmap(2 * env.page_size, file=f, shared=True)
    q.touch(b, 2 * env.page_size)
    expect(env.where(q, [b, b + env.page_size]), [away, away], "the other process's pages")
    expect(q.get_mempolicy(MPOL_F_ADDR, b), (MPOL_BIND, [away]), "its mapping's policy")


FILES = Needs(memory_nodes=2, features=frozenset({"files"}))


def _interleaving(env: Env) -> tuple[Process, int, int]:
    """A process interleaving over two nodes, and them in mask order (low, high)."""
    lo, hi = sorted(env.memory_nodes[:2])
    p = env.spawn()
    p.set_mempolicy(MPOL_INTERLEAVE, [lo, hi])
    return p, lo, hi


def _two_pages(env: Env, p: Process, a: int, first: int) -> None:
    """Pages 0 and 1 at ``a``; ``first`` (0 or 1) is the one expected on the low node."""
    page = env.page_size
    low, high = a + first * page, a + (1 - first) * page
    lo, hi = sorted(env.memory_nodes[:2])
    expect(env.where(p, [low, high]), [lo, hi], f"pages {first} and {1 - first}")


@case("mempolicy.shmem.interleave_by_inode", needs=TWO)
def shmem_by_inode(env: Env) -> None:
    """Two shared anonymous objects: in each, the page whose index plus the object's
    inode number is even is on the mask's first node, the other on the second."""
    p, _, _ = _interleaving(env)
    for _ in range(2):
        a = p.mmap(2 * env.page_size, shared=True)
        p.touch(a, 2 * env.page_size)
        _two_pages(env, p, a, env.world.mapping_inode(p, a) % 2)


@case("mempolicy.shmem.interleave_by_index", needs=TWO)
def shmem_by_index(env: Env) -> None:
    """Two shared anonymous objects: page 0 of each on the mask's first node."""
    p, _, _ = _interleaving(env)
    for _ in range(2):
        a = p.mmap(2 * env.page_size, shared=True)
        p.touch(a, 2 * env.page_size)
        _two_pages(env, p, a, 0)


def _private_copies(env: Env) -> tuple[Process, int, int]:
    """Private copies of pages 0 and 1 of a tmpfs file, made under interleave."""
    p, _, _ = _interleaving(env)
    f = env.world.create_file(2 * env.page_size)
    a = p.mmap(2 * env.page_size, file=f)
    p.touch(a, 2 * env.page_size)  # a write: each page is copied
    return p, a, env.world.file_inode(f)


@case("mempolicy.shmem.copy_by_inode", needs=FILES)
def copies_by_inode(env: Env) -> None:
    """The copy whose index plus the file's inode number is even is on the first node."""
    p, a, ino = _private_copies(env)
    _two_pages(env, p, a, ino % 2)


@case("mempolicy.shmem.copy_by_offset", needs=FILES)
def copies_by_offset(env: Env) -> None:
    """The copy of page 0 is on the mask's first node, whatever the file's number."""
    p, a, _ = _private_copies(env)
    _two_pages(env, p, a, 0)


THREE = Needs(memory_nodes=3)
INTERLEAVE_HINT = 0x7E00_0000_0000  # its offset is 7 * 2^32 + 0xE000_0000


def _three_way(env: Env) -> tuple[int, int, list[int]]:
    """An anonymous page under MPOL_INTERLEAVE over three nodes, touched: its node,
    its offset (address >> 12: high above 2^32 at a user address past 2^44), the mask."""
    nodes = sorted(env.memory_nodes[:3])
    p = env.spawn()
    # at a chosen address (a hint), the same on every backend: the node depends on it
    a = p.mmap(env.page_size, addr=INTERLEAVE_HINT)
    if a != INTERLEAVE_HINT:
        fail(f"mmap: the hint {INTERLEAVE_HINT:#x} was not taken ({a:#x})")
    p.mbind(a, env.page_size, MPOL_INTERLEAVE, nodes, 0)
    p.touch(a, env.page_size)
    offset = a // env.page_size
    if (offset & 0xFFFF_FFFF) % 3 == offset % 3:
        fail(f"the page at {a:#x}: its offset cannot tell the two rules apart")
    return env.where(p, [a])[0], offset, nodes


@case("mempolicy.interleave.offset_low_32_bits", needs=THREE)
def interleave_low_32_bits(env: Env) -> None:
    """The node is nodes[(offset mod 2^32) mod 3] (offset_il_node()'s unsigned int)."""
    node, offset, nodes = _three_way(env)
    expect(node, nodes[(offset & 0xFFFF_FFFF) % 3], f"offset {offset:#x} over {nodes}")


@case("mempolicy.interleave.offset_whole", needs=THREE)
def interleave_whole_offset(env: Env) -> None:
    """The node is nodes[offset mod 3] (interleave_nid()'s pgoff_t ilx)."""
    node, offset, nodes = _three_way(env)
    expect(node, nodes[offset % 3], f"offset {offset:#x} over {nodes}")


THP_TWO = Needs(memory_nodes=2, features=frozenset({"thp"}))
THP_HINT = 0x7E00_0020_0000  # 2 MiB-aligned; its huge-page offset is odd


@case("mempolicy.interleave.thp_by_huge_offset", needs=THP_TWO)
def thp_interleave_by_huge_offset(env: Env) -> None:
    """Two THPs under MPOL_INTERLEAVE over two nodes: the one whose address >> 21 is
    even on the mask's first node, the other on the second (not both on the first,
    as an offset in 4 KiB pages, always even, would say)."""
    lo, hi = sorted(env.memory_nodes[:2])
    p = env.spawn()
    huge = 2 << 20
    a = p.mmap(2 * huge, huge="thp", addr=THP_HINT)  # the same on every backend
    if a != THP_HINT:
        fail(f"mmap: the hint {THP_HINT:#x} was not taken ({a:#x})")
    p.mbind(a, 2 * huge, MPOL_INTERLEAVE, [lo, hi], 0)
    p.touch(a, 2 * huge)
    expected = [[lo, hi][((a + k * huge) >> 21) % 2] for k in range(2)]
    expect(env.where(p, [a, a + huge]), expected, f"the THPs at {a:#x}")


# a regular file: realnuma mounts ext4 where it can build writeback (a disposable guest)
EXT4 = Needs(memory_nodes=2, features=frozenset({"writeback"}))


@case("mempolicy.interleave.file_copy_by_offset", needs=EXT4)
def file_copies_by_offset(env: Env) -> None:
    """Private copies of pages 1 and 2 of an ext4 file (mapped from page 1, its page
    cache filled before): page 1's copy on the mask's second node, by its index in the
    file, not on the first as the task's rotor (which page-cache pages take) would."""
    p, _, _ = _interleaving(env)
    page = env.page_size
    f = env.world.create_file(3 * page, fs="ext4")
    env.world.write_file(f, 0, b"x" * (3 * page))
    a = p.mmap(2 * page, file=f, offset=page)
    p.touch(a, 2 * page)  # a write: each page is copied
    _two_pages(env, p, a, 1)


@case("mbind.move.default", needs=TWO)
def default_moves_back(env: Env) -> None:
    """MPOL_BIND away with MPOL_MF_MOVE, then MPOL_DEFAULT with MPOL_MF_MOVE: the page
    returns to the local node (the task's default policy)."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    here, away = _local_and_away(env, p)
    p.mbind(a, env.page_size, MPOL_BIND, [away], MPOL_MF_MOVE)
    expect(env.where(p, [a]), [away], "moved by MPOL_BIND")
    p.mbind(a, env.page_size, MPOL_DEFAULT, [], MPOL_MF_MOVE)
    expect(env.where(p, [a]), [here], "moved back by MPOL_DEFAULT")
    expect(p.get_mempolicy(MPOL_F_ADDR, a), (MPOL_DEFAULT, []), "VMA policy")


@case("mbind.move.default", needs=TWO)
def default_moves_by_task_policy(env: Env) -> None:
    """A local page, then the task's policy MPOL_BIND away: mbind(MPOL_DEFAULT,
    MPOL_MF_MOVE) on a range that had no policy moves the page away."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    here, away = _local_and_away(env, p)
    expect(env.where(p, [a]), [here], "first touch")
    p.set_mempolicy(MPOL_BIND, [away])
    p.mbind(a, env.page_size, MPOL_DEFAULT, [], MPOL_MF_MOVE)
    expect(env.where(p, [a]), [away], "moved where the task policy places pages")


@case("mbind.errno.EPERM.move_all", needs=TWO)
def move_all_unprivileged(env: Env) -> None:
    """uid 1000 with MPOL_MF_MOVE_ALL: EPERM, the page stays; MPOL_MF_MOVE moves it."""
    p = env.spawn(uid=USER)
    (a,) = env.pages(p, 1)
    here = env.where(p, [a])[0]
    away = next(n for n in env.memory_nodes if n != here)
    expect_errno(
        lambda: p.mbind(a, env.page_size, MPOL_BIND, [away], MPOL_MF_MOVE_ALL),
        errno.EPERM,
        "MPOL_MF_MOVE_ALL",
    )
    expect(env.where(p, [a]), [here], "the page stays")
    p.mbind(a, env.page_size, MPOL_BIND, [away], MPOL_MF_MOVE)
    expect(env.where(p, [a]), [away], "moved with MPOL_MF_MOVE")


@case("mbind.errno.EIO.strict", needs=Needs(memory_nodes=2, features=frozenset({"pin"})))
def strict_pinned(env: Env) -> None:
    """STRICT|MOVE to another node with a pinned page in range: EIO; the free page moves."""
    p = env.spawn()
    pages = env.pages(p, 2)
    here = env.where(p, pages)
    expect(len(set(here)), 1, f"pages start on one node ({here})")
    away = next(n for n in env.memory_nodes if n != here[0])
    env.world.pin(p, pages[1])
    flags = MPOL_MF_STRICT | MPOL_MF_MOVE
    expect_errno(
        lambda: p.mbind(pages[0], 2 * env.page_size, MPOL_BIND, [away], flags),
        errno.EIO,
        "STRICT|MOVE",
    )
    expect(env.where(p, pages), [away, here[0]], "the free page moved, the pinned one stayed")


@case("mbind.errno.EIO.strict_keeps_policy", needs=TWO)
def strict_alone_keeps_the_policy(env: Env) -> None:
    """MPOL_BIND away with MPOL_MF_STRICT alone over a present page: EIO, and it came
    before the policy was set: the range's policy is still the default."""
    p = env.spawn()
    here, away = _local_and_away(env, p)
    (a,) = env.pages(p, 1)
    expect_errno(
        lambda: p.mbind(a, env.page_size, MPOL_BIND, [away], MPOL_MF_STRICT),
        errno.EIO,
        "STRICT alone, a misplaced page",
    )
    expect(env.where(p, [a]), [here], "the page stayed")
    expect(p.get_mempolicy(MPOL_F_ADDR, a), (MPOL_DEFAULT, []), "the range's policy")


# ---------------------------------------------------------------- cpuset(7)
@case(
    "cpuset.memory_migrate",
    needs=Needs(memory_nodes=2, features=frozenset({"cpuset", "cpuset_migrate_pages"})),
)
def memory_migrate(env: Env) -> None:
    """Moved from cpuset {n0} to {n1} with memory_migrate: the pages follow."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn(cpuset_mems=[n0])
    pages = env.pages(p, 2)
    expect(env.where(p, pages), [n0] * 2, "placed in cpuset {n0}")
    p.set_cpuset([n1], memory_migrate=True)
    expect(env.where(p, pages), [n1, n1], "with memory_migrate")


@case(
    "cpuset.memory_migrate",
    needs=Needs(memory_nodes=2, features=frozenset({"cpuset", "cpuset_keep_pages"})),
)
def no_memory_migrate(env: Env) -> None:
    """Moved without memory_migrate (cgroup v1's default): the pages stay where they are."""
    n0, n1 = env.memory_nodes[:2]
    q = env.spawn(cpuset_mems=[n0])
    others = env.pages(q, 2)
    q.set_cpuset([n1])
    expect(env.where(q, others), [n0, n0], "without memory_migrate")


@case(
    "cpuset.rebinds_policy",
    needs=Needs(memory_nodes=3, features=frozenset({"cpuset", "cpuset_migrate_pages"})),
)
def policy_follows_cpuset(env: Env) -> None:
    """MPOL_BIND {n0} in cpuset {n0,n1} moved to {n1,n2} becomes {n1}; a static {n0} keeps {n0}
    as given but allocates from the new mems."""
    n0, n1, n2 = env.memory_nodes[:3]
    p = env.spawn(cpuset_mems=[n0, n1])
    p.set_mempolicy(MPOL_BIND, [n0])
    p.set_cpuset([n1, n2], memory_migrate=True)
    expect(p.get_mempolicy(0), (MPOL_BIND, [n1]), "remapped policy")
    (a,) = env.pages(p, 1)
    expect(env.where(p, [a]), [n1], "a new page follows the remapped policy")
    q = env.spawn(cpuset_mems=[n0, n1])
    q.set_mempolicy(MPOL_BIND | MPOL_F_STATIC_NODES, [n0])
    q.set_cpuset([n1, n2], memory_migrate=True)
    expect(q.get_mempolicy(0), (MPOL_BIND | MPOL_F_STATIC_NODES, [n0]), "static nodes as given")
    (b,) = env.pages(q, 1)
    expect(env.where(q, [b])[0] in (n1, n2), True, "allocated inside the new mems")


# ---------------------------------------------------------------- on a single node too
@case("get_mempolicy.mems_allowed", needs=Needs(features=frozenset({"cpuset"})))
def mems_allowed_one_node(env: Env) -> None:
    """Unconfined: every memory node; in a cpuset of the first node: that node."""
    n0 = env.memory_nodes[0]
    expect(env.spawn().get_mempolicy(MPOL_F_MEMS_ALLOWED), (0, env.memory_nodes), "unconfined")
    confined = env.spawn(cpuset_mems=[n0])
    expect(confined.get_mempolicy(MPOL_F_MEMS_ALLOWED), (0, [n0]), "cpuset {n0}")


@case("get_mempolicy.errno.EINVAL.node_without_interleave")
def node_without_interleave_one_node(env: Env) -> None:
    """MPOL_F_NODE alone: EINVAL under MPOL_DEFAULT; the next node under MPOL_INTERLEAVE."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    expect_errno(lambda: p.get_mempolicy(MPOL_F_NODE), errno.EINVAL, "MPOL_DEFAULT")
    p.set_mempolicy(MPOL_INTERLEAVE, [n0])
    expect(p.get_mempolicy(MPOL_F_NODE)[0], n0, "MPOL_INTERLEAVE {n0}")


@case("mbind.errno.EPERM.move_all")
def move_all_unprivileged_one_node(env: Env) -> None:
    """uid 1000, MPOL_MF_MOVE_ALL: EPERM before anything else is looked at."""
    p = env.spawn(uid=USER)
    (a,) = env.pages(p, 1)
    n0 = env.memory_nodes[0]
    expect_errno(
        lambda: p.mbind(a, env.page_size, MPOL_BIND, [n0], MPOL_MF_MOVE_ALL),
        errno.EPERM,
        "MPOL_MF_MOVE_ALL",
    )


# ---------------------------------------------------------------- the EINVALs and EFAULTs of
# set_mempolicy(2), mbind(2) and get_mempolicy(2), as LTP's set_mempolicy, mbind02 and
# get_mempolicy02 tables ask them
@case("set_mempolicy.errno.EINVAL.static_and_relative")
def static_and_relative(env: Env) -> None:
    """MPOL_F_STATIC_NODES with MPOL_F_RELATIVE_NODES: EINVAL; either alone is a policy."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    both = MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES
    expect_errno(lambda: p.set_mempolicy(both, [n0]), errno.EINVAL, "both flags")
    p.set_mempolicy(MPOL_BIND | MPOL_F_RELATIVE_NODES, [0])
    expect(p.get_mempolicy(0)[0], MPOL_BIND | MPOL_F_RELATIVE_NODES, "MPOL_F_RELATIVE_NODES")


@case("set_mempolicy.errno.EINVAL.empty_nodes")
def empty_nodes(env: Env) -> None:
    """MPOL_BIND and MPOL_INTERLEAVE with no node: EINVAL, set_mempolicy and mbind alike."""
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    for mode in (MPOL_BIND, MPOL_INTERLEAVE):
        expect_errno(partial(p.set_mempolicy, mode, []), errno.EINVAL, f"set_mempolicy {mode}")
        expect_errno(partial(p.mbind, a, env.page_size, mode, []), errno.EINVAL, f"mbind {mode}")
    expect(p.get_mempolicy(0), (MPOL_DEFAULT, []), "the policy unchanged")


@case("set_mempolicy.errno.EINVAL.no_memory_node", needs=Needs(memoryless_node=True))
def memoryless_node_alone(env: Env) -> None:
    """MPOL_BIND to a memoryless node alone: EINVAL; with a memory node beside it, bound."""
    n0, m = env.memory_nodes[0], env.memoryless_nodes[0]
    p = env.spawn()
    expect_errno(lambda: p.set_mempolicy(MPOL_BIND, [m]), errno.EINVAL, "the memoryless node")
    p.set_mempolicy(MPOL_BIND, [n0, m])
    expect(p.get_mempolicy(0), (MPOL_BIND, [n0]), "a memory node beside it")


@case("set_mempolicy.errno.EINVAL.local_static")
def local_static(env: Env) -> None:
    """MPOL_PREFERRED with no node and MPOL_F_STATIC_NODES (or RELATIVE): EINVAL."""
    p = env.spawn()
    for flag in (MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES):
        mode = MPOL_PREFERRED | flag
        expect_errno(partial(p.set_mempolicy, mode, []), errno.EINVAL, f"mode {mode:#x}")


@case("mempolicy.errno.EINVAL.maxnode")
def nodemask_over_a_page(env: Env) -> None:
    """maxnode - 1 above PAGE_SIZE*8 bits: EINVAL, set_mempolicy and mbind; one bit less
    is read."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    big = env.page_size * 8 + 2
    expect_raw(set_mempolicy_raw(p, MPOL_BIND, [n0], big), -1, errno.EINVAL, "set_mempolicy")
    expect_raw(mbind_raw(p, a, env.page_size, MPOL_BIND, [n0], big, 0), -1, errno.EINVAL, "mbind")
    expect_raw(set_mempolicy_raw(p, MPOL_BIND, [n0], big - 1), 0, 0, "PAGE_SIZE*8 + 1")


@case("mempolicy.errno.EINVAL.node_id")
def nodemask_bit_beyond_max_numnodes(env: Env) -> None:
    """A bit set at PAGE_SIZE*8 - 2, beyond any MAX_NUMNODES: EINVAL, set_mempolicy and
    mbind; the policy is not changed."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    maxnode = env.page_size * 8
    bit = maxnode - 2
    expect_raw(set_mempolicy_raw(p, MPOL_BIND, [n0, bit], maxnode), -1, errno.EINVAL, "set")
    expect_raw(
        mbind_raw(p, a, env.page_size, MPOL_BIND, [bit], maxnode, 0), -1, errno.EINVAL, "mbind"
    )
    expect(p.get_mempolicy(0), (MPOL_DEFAULT, []), "the policy unchanged")


@case("mempolicy.errno.EFAULT.nodemask")
def nodemask_unreadable(env: Env) -> None:
    """A nodemask in unmapped memory: EFAULT, set_mempolicy and mbind."""
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    bad = env.unmapped
    expect(p.syscall("set_mempolicy", MPOL_BIND, bad, 65), (-1, errno.EFAULT), "set_mempolicy")
    got = p.syscall("mbind", a, env.page_size, MPOL_BIND, bad, 65, 0)
    expect(got, (-1, errno.EFAULT), "mbind")


@case("get_mempolicy.errno.EFAULT.policy")
def policy_unwritable(env: Env) -> None:
    """policy in unmapped memory: EFAULT; policy NULL: nothing is written, 0."""
    p = env.spawn()
    expect(p.syscall("get_mempolicy", env.unmapped, 0, 0, 0, 0), (-1, errno.EFAULT), "policy")
    expect(p.syscall("get_mempolicy", 0, 0, 0, 0, 0), (0, 0), "policy NULL")


@case("get_mempolicy.errno.EFAULT.nmask")
def nmask_unwritable(env: Env) -> None:
    """nmask in unmapped memory: EFAULT."""
    p = env.spawn()
    got = p.syscall("get_mempolicy", 0, env.unmapped, 1024, 0, 0)
    expect(got, (-1, errno.EFAULT), "nmask")


@case("get_mempolicy.errno.EINVAL.mask_over_page")
def nmask_over_a_page(env: Env) -> None:
    """nmask with maxnode - 1 above PAGE_SIZE*8 bits: EINVAL; PAGE_SIZE*8 + 1 is read back."""
    p = env.spawn()
    bits = env.page_size * 8
    expect_raw(get_mempolicy_raw(p, 0, 0, bits + 2), -1, errno.EINVAL, "PAGE_SIZE*8 + 2")
    expect_raw(get_mempolicy_raw(p, 0, 0, bits + 1), 0, 0, "PAGE_SIZE*8 + 1")


@case("mbind.errno.EINVAL.flags")
def mbind_unknown_flags(env: Env) -> None:
    """flags with a bit beyond MPOL_MF_STRICT|MPOL_MF_MOVE|MPOL_MF_MOVE_ALL: EINVAL."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    for flags in (1 << 3, 1 << 31):
        call = partial(p.mbind, a, env.page_size, MPOL_BIND, [n0], flags)
        expect_errno(call, errno.EINVAL, f"flags {flags:#x}")


@case("mbind.errno.EINVAL.unaligned")
def mbind_unaligned(env: Env) -> None:
    """start one byte into a page: EINVAL; the page itself is bound."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    expect_errno(lambda: p.mbind(a + 1, 1, MPOL_BIND, [n0]), errno.EINVAL, "start + 1")
    p.mbind(a, 1, MPOL_BIND, [n0])
    expect(p.get_mempolicy(MPOL_F_ADDR, a), (MPOL_BIND, [n0]), "start aligned, len 1")


@case("mbind.errno.EINVAL.wraps")
def mbind_wraps(env: Env) -> None:
    """A len that carries start past the top of the address space: EINVAL."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    huge = 2**64 - a
    expect_raw(mbind_raw(p, a, huge, MPOL_BIND, [n0], 65, 0), -1, errno.EINVAL, "len 2**64 - start")


@case("mbind.result.empty_range")
def mbind_empty_range(env: Env) -> None:
    """len 0: 0, over a mapping or over nothing at all; so is a len that PAGE_ALIGN()
    rounds to 0 (within a page of 2**64); no policy is set."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    p.mbind(a, 0, MPOL_BIND, [n0])
    expect(p.get_mempolicy(MPOL_F_ADDR, a), (MPOL_DEFAULT, []), "over a mapping")
    p.mbind(env.unmapped, 0, MPOL_BIND, [n0])
    wrapped = 2**64 - env.page_size + 1
    expect_raw(mbind_raw(p, a, wrapped, MPOL_BIND, [n0], 65, 0), 0, 0, "len 2**64 - 4095")
    expect(p.get_mempolicy(MPOL_F_ADDR, a), (MPOL_DEFAULT, []), "still nothing bound")


@case("mbind.errno.EFAULT.hole")
def mbind_over_a_hole(env: Env) -> None:
    """MPOL_BIND over pages around an unmapped one: EFAULT, and no page bound;
    MPOL_DEFAULT over nothing mapped: EFAULT."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    first, hole, last = env.pages(p, 3, touch=False)
    p.munmap(hole, env.page_size)
    span = 3 * env.page_size
    expect_errno(lambda: p.mbind(first, span, MPOL_BIND, [n0]), errno.EFAULT, "MPOL_BIND")
    expect(p.get_mempolicy(MPOL_F_ADDR, first), (MPOL_DEFAULT, []), "nothing bound")
    expect(p.get_mempolicy(MPOL_F_ADDR, last), (MPOL_DEFAULT, []), "nothing bound after")
    expect_errno(
        lambda: p.mbind(hole, env.page_size, MPOL_DEFAULT, []), errno.EFAULT, "MPOL_DEFAULT"
    )
