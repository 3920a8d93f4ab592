"""migrate_pages(2) RETURN VALUE, ERRORS and DESCRIPTION: one or more cases per clause.

Needs: 2 memory nodes to move anything (3 for the relative-topology cases); a
memoryless node for the no-memory EINVAL; root and uid 1000 for the permission
cases; the world-building features named.  Placement is read back with a
move_pages() query before and after every call.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

from conformance.env import Env, Needs, expect, expect_errno, expect_raw, fail
from conformance.registry import case
from simnuma.abi import (
    MPOL_MF_MOVE,
    Process,
    errno_name,
    migrate_pages_raw,
    nodemask_words,
    pack_ulongs,
)

TWO = Needs(memory_nodes=2)
THREE = Needs(memory_nodes=3)
PIN = Needs(memory_nodes=2, features=frozenset({"pin"}))
ISOLATE = Needs(memory_nodes=2, features=frozenset({"isolate"}))
CPUSET = Needs(memory_nodes=2, features=frozenset({"cpuset"}))
CAPS = Needs(memory_nodes=2, features=frozenset({"capabilities"}))
USER = 1000


def _move_to(env: Env, p: Process, pages: Sequence[int], nodes: Sequence[int]) -> None:
    """Move each page onto its node (only those elsewhere: where
    MOVE_PAGES_ENOENT_IF_NOTHING_QUEUED holds a call that moves nothing fails with ENOENT)
    and check where they are."""
    todo = [(a, n) for a, n, h in zip(pages, nodes, env.where(p, pages), strict=True) if n != h]
    if todo:
        p.move_pages(0, [a for a, _ in todo], [n for _, n in todo], MPOL_MF_MOVE)
    expect(env.where(p, pages), list(nodes), "pages placed before migrate_pages")


def _placed(env: Env, p: Process, nodes: Sequence[int], **mmap: bool) -> list[int]:
    """One touched page per entry of ``nodes``, placed there."""
    pages = env.pages(p, len(nodes), **mmap)
    _move_to(env, p, pages, nodes)
    return pages


def _ret(p: Process, pid: int, old: Sequence[int], new: Sequence[int], what: str) -> int:
    """migrate_pages() expected to succeed: its return value; an errno fails the case."""
    try:
        return p.migrate_pages(pid, old, new)
    except OSError as exc:
        fail(f"{what}: expected a return value, got {errno_name(exc.errno or 0)}")


def _gone_pid(env: Env) -> int:
    """The pid of a process that has exited."""
    q = env.spawn()
    pid = q.pid
    q.exit()
    return pid


def _masks(env: Env, p: Process, *masks: Sequence[int], maxnode: int = 65) -> list[int]:
    """Node masks of ``maxnode`` bits written into a mapping of ``p``; their addresses."""
    size = 8 * len(nodemask_words([], maxnode))
    base = p.mmap(len(masks) * size)
    for i, nodes in enumerate(masks):
        p.write_bytes(base + i * size, pack_ulongs(nodemask_words(nodes, maxnode)))
    return [base + i * size for i in range(len(masks))]


# ---------------------------------------------------------------- RETURN VALUE
@case("migrate_pages.result.zero", needs=TWO)
def all_moved_zero(env: Env) -> None:
    """Every page on n0 moves to n1: returns 0 and the pages are on n1."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    pages = _placed(env, p, [n0, n0, n0])
    expect(p.migrate_pages(0, [n0], [n1]), 0, "return value")
    expect(env.where(p, pages), [n1, n1, n1], "nodes after migrate_pages")


@case("migrate_pages.result.count", needs=PIN)
def pinned_page_counted(env: Env) -> None:
    """A pinned page cannot be migrated: returns 1; the other pages move."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    pages = _placed(env, p, [n0, n0, n0])
    env.world.pin(p, pages[1])
    expect(p.migrate_pages(0, [n0], [n1]), 1, "return value")
    expect(env.where(p, pages), [n1, n0, n1], "nodes after migrate_pages")


@case("migrate_pages.result.counts_unisolated", needs=ISOLATE)
def isolated_page_counted(env: Env) -> None:
    """A page off the LRU (cannot be isolated) is counted: returns 1."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    pages = _placed(env, p, [n0, n0])
    env.world.isolate(p, pages[0])
    expect(p.migrate_pages(0, [n0], [n1]), 1, "return value")
    expect(env.where(p, pages), [n0, n1], "nodes after migrate_pages")


@case("migrate_pages.result.skips_unisolated", needs=ISOLATE)
def isolated_page_skipped(env: Env) -> None:
    """A page off the LRU is skipped silently: returns 0, the page stays."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn()
    pages = _placed(env, p, [n0, n0])
    env.world.isolate(p, pages[0])
    expect(p.migrate_pages(0, [n0], [n1]), 0, "return value")
    expect(env.where(p, pages), [n0, n1], "nodes after migrate_pages")


@case("migrate_pages.result.empty_new", needs=TWO)
def empty_new_accepted(env: Env) -> None:
    """An empty new_nodes is accepted: returns 0 and nothing moves."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    pages = _placed(env, p, [n0])
    expect(_ret(p, 0, [n0], [], "empty new_nodes"), 0, "return value")
    expect(env.where(p, pages), [n0], "the page stays")


# ---------------------------------------------------------------- ERRORS
@case("migrate_pages.errno.EFAULT")
def mask_unreadable(env: Env) -> None:
    """old_nodes or new_nodes in unmapped memory: EFAULT (LTP migrate_pages01)."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    (good,) = _masks(env, p, [n0])
    bad = env.unmapped
    expect(p.syscall("migrate_pages", 0, 65, bad, good), (-1, errno.EFAULT), "old_nodes")
    expect(p.syscall("migrate_pages", 0, 65, good, bad), (-1, errno.EFAULT), "new_nodes")
    expect(p.syscall("migrate_pages", 0, 65, good, good), (0, 0), "both readable")


@case("migrate_pages.errno.EINVAL.maxnode")
def maxnode_too_large(env: Env) -> None:
    """maxnode - 1 above PAGE_SIZE*8 bits (and maxnode 0 with a mask): EINVAL."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    big = env.page_size * 8 + 2
    old, new = _masks(env, p, [n0], [n0], maxnode=big)
    expect(p.syscall("migrate_pages", 0, big, old, new), (-1, errno.EINVAL), "PAGE_SIZE*8 + 2")
    expect(p.syscall("migrate_pages", 0, 0, old, new), (-1, errno.EINVAL), "maxnode 0")
    expect(p.syscall("migrate_pages", 0, big - 1, old, new), (0, 0), "PAGE_SIZE*8 + 1")


@case("migrate_pages.errno.EINVAL.node_id")
def node_id_too_large(env: Env) -> None:
    """A bit set at PAGE_SIZE*8 - 2, beyond any MAX_NUMNODES: EINVAL, in either mask."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    maxnode = env.page_size * 8
    bit = maxnode - 2
    expect_raw(migrate_pages_raw(p, 0, [bit], [n0], maxnode), -1, errno.EINVAL, "old_nodes")
    expect_raw(migrate_pages_raw(p, 0, [n0], [bit], maxnode), -1, errno.EINVAL, "new_nodes")
    expect_raw(migrate_pages_raw(p, 0, [n0], [n0], maxnode), 0, 0, "bit clear")


@case("migrate_pages.errno.EINVAL.outside_caller_cpuset", needs=CPUSET)
def outside_caller_cpuset(env: Env) -> None:
    """Root confined to n0 asks to move another process's pages to n1: EINVAL."""
    n0, n1 = env.memory_nodes[:2]
    caller = env.spawn(cpuset_mems=[n0])
    target = env.spawn()
    pages = _placed(env, target, [n0])
    expect_errno(lambda: caller.migrate_pages(target.pid, [n0], [n1]), errno.EINVAL, "to n1")
    expect(env.where(target, pages), [n0], "the page stays")


@case("migrate_pages.errno.EINVAL.no_memory", needs=Needs(memory_nodes=2, memoryless_node=True))
def new_node_without_memory(env: Env) -> None:
    """new_nodes = {n1, a memoryless node}: EINVAL, nothing moves."""
    n0, n1 = env.memory_nodes[:2]
    m = env.memoryless_nodes[0]
    p = env.spawn()
    pages = _placed(env, p, [n0])
    expect_errno(lambda: p.migrate_pages(0, [n0], [n1, m]), errno.EINVAL, f"new {{{n1}, {m}}}")
    expect(env.where(p, pages), [n0], "the page stays")


@case("migrate_pages.errno.EINVAL.empty_new", needs=TWO)
def empty_new_refused(env: Env) -> None:
    """An empty new_nodes: EINVAL, nothing moves."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    pages = _placed(env, p, [n0])
    expect_errno(lambda: p.migrate_pages(0, [n0], []), errno.EINVAL, "empty new_nodes")
    expect(env.where(p, pages), [n0], "the page stays")


@case(
    "migrate_pages.errno.EINVAL.kernel_thread", needs=Needs(features=frozenset({"kernel_thread"}))
)
def kernel_thread(env: Env) -> None:
    """Root asks to migrate a kernel thread (no mm): EINVAL."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    kthread = env.world.spawn_kernel_thread()
    expect_errno(lambda: p.migrate_pages(kthread.pid, [n0], [n0]), errno.EINVAL, "kthread")


@case("migrate_pages.errno.EPERM.other_user", needs=TWO)
def other_users_process(env: Env) -> None:
    """uid 1000 asks to migrate a root process: EPERM, nothing moves."""
    n0, n1 = env.memory_nodes[:2]
    root = env.spawn()
    pages = _placed(env, root, [n0])
    user = env.spawn(uid=USER)
    expect_errno(lambda: user.migrate_pages(root.pid, [n0], [n1]), errno.EPERM, "root's pages")
    expect(env.where(root, pages), [n0], "the page stays")


def _user_with_cap_sys_nice(env: Env) -> tuple[Process, Process, list[int]]:
    """A root process with a page on n0 and a uid-1000 caller holding CAP_SYS_NICE."""
    root = env.spawn()
    pages = _placed(env, root, [env.memory_nodes[0]])
    user = env.spawn(uid=USER, caps=["CAP_SYS_NICE"])
    return user, root, pages


@case("migrate_pages.errno.EPERM.cap_sys_nice", needs=CAPS)
def cap_sys_nice_suffices(env: Env) -> None:
    """CAP_SYS_NICE lets uid 1000 migrate a root process: 0, the page moves."""
    n0, n1 = env.memory_nodes[:2]
    user, root, pages = _user_with_cap_sys_nice(env)
    expect(_ret(user, root.pid, [n0], [n1], "root's pages"), 0, "return value")
    expect(env.where(root, pages), [n1], "the page moved")


@case("migrate_pages.errno.EPERM.ptrace_rule", needs=CAPS)
def cap_sys_nice_not_enough(env: Env) -> None:
    """The same call needs ptrace access: EPERM, nothing moves."""
    n0, n1 = env.memory_nodes[:2]
    user, root, pages = _user_with_cap_sys_nice(env)
    expect_errno(lambda: user.migrate_pages(root.pid, [n0], [n1]), errno.EPERM, "root's pages")
    expect(env.where(root, pages), [n0], "the page stays")


@case("migrate_pages.errno.EPERM.target_cpuset", needs=CPUSET)
def own_pages_outside_cpuset(env: Env) -> None:
    """uid 1000 confined to n0 migrates its own pages to n1: EPERM, nothing moves."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn(uid=USER, cpuset_mems=[n0])
    pages = env.pages(p, 1)
    expect(env.where(p, pages), [n0], "placed in the cpuset")
    expect_errno(lambda: p.migrate_pages(0, [n0], [n1]), errno.EPERM, "own pages to n1")
    expect(env.where(p, pages), [n0], "the page stays")


@case("migrate_pages.errno.EPERM.target_cpuset", needs=CPUSET)
def target_confined(env: Env) -> None:
    """The target's cpuset decides: an unconfined uid-1000 caller, a target confined to n0."""
    n0, n1 = env.memory_nodes[:2]
    target = env.spawn(uid=USER, cpuset_mems=[n0])
    pages = env.pages(target, 1)
    caller = env.spawn(uid=USER)
    expect_errno(lambda: caller.migrate_pages(target.pid, [n0], [n1]), errno.EPERM, "to n1")
    expect(env.where(target, pages), [n0], "the page stays")


@case("migrate_pages.errno.ESRCH")
def no_such_process(env: Env) -> None:
    """A pid that has exited: ESRCH (LTP migrate_pages01)."""
    n0 = env.memory_nodes[0]
    p = env.spawn()
    pid = _gone_pid(env)
    expect_errno(lambda: p.migrate_pages(pid, [n0], [n0]), errno.ESRCH, "exited pid")


# ---------------------------------------------------------------- DESCRIPTION
@case("migrate_pages.shared_needs_cap_sys_nice", needs=TWO)
def shared_page_needs_privilege(env: Env) -> None:
    """A MAP_SHARED page mapped by a child stays (uncounted) for uid 1000; root moves it."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn(uid=USER)
    (shared,) = _placed(env, p, [n0], shared=True)
    child = p.fork()
    child.touch(shared, env.page_size)
    private = _placed(env, p, [n0])  # mapped after the fork: p's alone
    expect(env.where(child, [shared]), [n0], "the child maps the same page")
    expect(p.migrate_pages(0, [n0], [n1]), 0, "uid 1000: return value")
    expect(env.where(p, [shared, *private]), [n0, n1], "uid 1000: shared stays, private moves")
    root = env.spawn()
    expect(root.migrate_pages(p.pid, [n0], [n1]), 0, "root: return value")
    expect(env.where(child, [shared]), [n1], "root moved the shared page")


@case("migrate_pages.relative_topology", needs=THREE)
def relative_topology(env: Env) -> None:
    """[n0,n1] -> [n1,n2]: the page on n0 goes to n1, the one on n1 to n2."""
    n0, n1, n2 = env.memory_nodes[:3]
    p = env.spawn()
    pages = _placed(env, p, [n0, n1, n2])
    expect(p.migrate_pages(0, [n0, n1], [n1, n2]), 0, "return value")
    expect(env.where(p, pages), [n1, n2, n2], "nodes after migrate_pages")


@case("migrate_pages.outside_old_untouched", needs=THREE)
def outside_old_stays(env: Env) -> None:
    """[n0] -> [n2]: the page on n0 moves, the page on n1 stays."""
    n0, n1, n2 = env.memory_nodes[:3]
    p = env.spawn()
    pages = _placed(env, p, [n0, n1])
    expect(p.migrate_pages(0, [n0], [n2]), 0, "return value")
    expect(env.where(p, pages), [n2, n1], "nodes after migrate_pages")


@case(
    "migrate_pages.page_cache_unmapped",
    needs=Needs(memory_nodes=2, features=frozenset({"files"})),
)
def page_cache_stays(env: Env) -> None:
    """A page-cache page written with write(2) and mapped by nobody stays; a mapped page moves."""
    p = env.spawn()
    f = env.world.create_file(env.page_size)
    env.world.write_file(f, 0, b"cached")
    node = env.world.file_page_node(f, 0)
    if node is None:
        fail("write(2) left no page in the page cache")
    other = next(n for n in env.memory_nodes if n != node)
    pages = _placed(env, p, [node])
    expect(p.migrate_pages(0, [node], [other]), 0, "return value")
    expect(env.where(p, pages), [other], "the mapped page moved")
    expect(env.world.file_page_node(f, 0), node, "the page-cache page stays")
