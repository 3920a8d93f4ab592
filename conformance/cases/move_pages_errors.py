"""move_pages(2) RETURN VALUE and ERRORS: one case per clause, LTP-style.

Needs: 2 memory nodes to move anything; a memoryless node for ENODEV; root and
another uid for the permission cases; the world-building features named.
"""

from __future__ import annotations

import errno

from conformance.env import Env, Needs, expect, expect_errno, expect_status, fail
from conformance.registry import case
from simnuma.abi import (
    HUGE_PAGE_SIZE,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    PROT_READ,
    UNWRITTEN,
    Process,
    RawResult,
    format_statuses,
    move_pages_raw,
    pack_ulongs,
)

TWO = Needs(memory_nodes=2)
PIN = Needs(memory_nodes=2, features=frozenset({"pin"}))
USER = 1000
HPAGE = HUGE_PAGE_SIZE


def _away(env: Env, p: Process, addr: int) -> int:
    """A memory node other than the one ``addr`` is on."""
    here = env.where(p, [addr])[0]
    return next(n for n in env.memory_nodes if n != here)


def _gone_pid(env: Env) -> int:
    """The pid of a process that has exited."""
    q = env.spawn()
    pid = q.pid
    q.exit()
    return pid


def _pinned_and_free(env: Env) -> tuple[Process, list[int], int]:
    """Three pages on one node, the middle one pinned, and a target node."""
    p = env.spawn()
    pages = env.pages(p, 3)
    expect(len(set(env.where(p, pages))), 1, "pages start on one node")
    env.world.pin(p, pages[1])
    return p, pages, _away(env, p, pages[0])


# ---------------------------------------------------------------- RETURN VALUE
@case("move_pages.result.zero", needs=TWO)
def returns_zero(env: Env) -> None:
    """A move that succeeds returns 0; so does a query of count 0."""
    p = env.spawn()
    expect(p.move_pages(0, [], None, 0).ret, 0, "query, count 0")
    (a,) = env.pages(p, 1)
    expect(p.move_pages(0, [a], [_away(env, p, a)], MPOL_MF_MOVE).ret, 0, "one page moved")


@case("move_pages.result.positive", needs=PIN)
def positive_count(env: Env) -> None:
    """A pinned page cannot be migrated: move_pages returns 1."""
    p, pages, t = _pinned_and_free(env)
    expect(p.move_pages(0, [pages[1]], [t], MPOL_MF_MOVE).ret, 1, "return value")


@case("move_pages.result.positive.old", needs=PIN)
def positive_count_old(env: Env) -> None:
    """2.6.18–2.6.28: migrate_pages()' failure count is returned, statuses written."""
    p, pages, t = _pinned_and_free(env)
    r = p.move_pages(0, pages, [t, t, t], MPOL_MF_MOVE)
    expect(r.ret, 1, "return value")
    expect_status(r, [t, -errno.EAGAIN, t])


@case("move_pages.result.positive_swallowed", needs=PIN)
def positive_swallowed(env: Env) -> None:
    """2.6.29–4.16: the pinned page shows only in its status; the call returns 0."""
    p, pages, t = _pinned_and_free(env)
    r = p.move_pages(0, pages, [t, t, t], MPOL_MF_MOVE)
    expect(r.ret, 0, "return value")
    expect_status(r, [t, -errno.EAGAIN, t])


def _failing_batch_then_other_node(env: Env) -> tuple[int, list[int]]:
    p, pages, t = _pinned_and_free(env)
    other = next(n for n in env.memory_nodes if n != t)
    r = p.move_pages(0, [pages[1], pages[0]], [t, other], MPOL_MF_MOVE)
    return r.ret, r.status


@case("move_pages.result.unattempted", needs=PIN)
def counts_unattempted(env: Env) -> None:
    """The failing batch (1) plus the never-attempted entry after it (1): returns 2."""
    ret, status = _failing_batch_then_other_node(env)
    expect((ret, status), (2, [UNWRITTEN, UNWRITTEN]), "return value, status")


@case("move_pages.result.batch_only", needs=PIN)
def counts_batch_only(env: Env) -> None:
    """4.17–5.5: only the failing batch is counted: returns 1."""
    ret, status = _failing_batch_then_other_node(env)
    expect((ret, status), (1, [UNWRITTEN, UNWRITTEN]), "return value, status")


def _failing_batch_then_bad_entry(env: Env) -> tuple[int, list[int]]:
    p, pages, t = _pinned_and_free(env)
    r = p.move_pages(0, [pages[1], env.unmapped], [t, t], MPOL_MF_MOVE)
    return r.ret, r.status


@case("move_pages.result.off_by_one", needs=PIN)
def count_one_short(env: Env) -> None:
    """5.6–6.0: a lone pinned page returns 0; then another node's entry: 1, not 2."""
    p, pages, t = _pinned_and_free(env)
    alone = p.move_pages(0, [pages[1]], [t], MPOL_MF_MOVE)
    expect((alone.ret, alone.status), (0, [UNWRITTEN]), "lone pinned page: ret, status")
    ret, status = _failing_batch_then_other_node(env)
    expect((ret, status), (1, [UNWRITTEN, UNWRITTEN]), "then another node: ret, status")


@case("move_pages.result.counts_entry_once", needs=PIN)
def counts_entry_once(env: Env) -> None:
    """Entry 1's -EFAULT flushes the failing batch: 1 (the batch), entry 1 not counted."""
    ret, status = _failing_batch_then_bad_entry(env)
    expect((ret, status), (1, [UNWRITTEN, -errno.EFAULT]), "return value, status")


@case("move_pages.result.nothing_to_move")
def nothing_to_move(env: Env) -> None:
    """Every page already on its target node: returns 0 (LTP move_pages09)."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    here = env.where(p, [a])[0]
    expect(p.move_pages(0, [a], [here], MPOL_MF_MOVE).ret, 0, "return value")


# ---------------------------------------------------------------- ERRORS
@case("move_pages.errno.E2BIG")
def too_many_pages(env: Env) -> None:
    """nr_pages = ULONG_MAX/24 - 1: E2BIG before any array is read (LTP move_pages08)."""
    p = env.spawn()
    expect(
        p.syscall("move_pages", 0, 2**64 // 24 - 1, 0, 0, 0, MPOL_MF_MOVE),
        (-1, errno.E2BIG),
        "ret, errno",
    )


@case("move_pages.errno.EACCES", needs=Needs(memory_nodes=2, features=frozenset({"cpuset"})))
def node_outside_cpuset(env: Env) -> None:
    """A process in a cpuset of one node asks for the other: EACCES."""
    n0, n1 = env.memory_nodes[:2]
    p = env.spawn(cpuset_mems=[n0])
    (a,) = env.pages(p, 1)
    expect_errno(lambda: p.move_pages(0, [a], [n1], MPOL_MF_MOVE), errno.EACCES, "move to n1")


@case(
    "move_pages.errno.EACCES.target_cpuset",
    needs=Needs(memory_nodes=2, features=frozenset({"cpuset"})),
)
def target_cpuset_decides(env: Env) -> None:
    """The target's cpuset is checked, not the caller's (the 'current cpuset' FIXME)."""
    n0, n1 = env.memory_nodes[:2]
    confined = env.spawn(cpuset_mems=[n0])
    (b,) = env.pages(confined, 1)
    free = env.spawn(cpuset_mems=[n0, n1])
    expect_errno(
        lambda: free.move_pages(confined.pid, [b], [n1], MPOL_MF_MOVE),
        errno.EACCES,
        "target confined",
    )


@case("move_pages.errno.EFAULT")
def pages_array_unreadable(env: Env) -> None:
    """pages points at unmapped memory: EFAULT, in move and query mode."""
    p = env.spawn()
    arrays = p.mmap(env.page_size)
    node, status = arrays, arrays + 64
    p.write_bytes(node, bytes(4))
    expect(p.syscall("move_pages", 0, 1, 8, node, status, MPOL_MF_MOVE), (-1, errno.EFAULT), "move")
    expect(p.syscall("move_pages", 0, 1, 8, 0, status, 0), (-1, errno.EFAULT), "query")


@case("move_pages.errno.EFAULT.status")
def status_array_readonly(env: Env) -> None:
    """status in a read-only mapping: EFAULT."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    arrays = p.mmap(env.page_size)
    p.write_bytes(arrays, pack_ulongs([a]))
    readonly = p.mmap(env.page_size, prot=PROT_READ)
    expect(p.syscall("move_pages", 0, 1, arrays, 0, readonly, 0), (-1, errno.EFAULT), "query")


@case("move_pages.errno.EINVAL.flags")
def bad_flags(env: Env) -> None:
    """flags = MPOL_MF_STRICT: EINVAL (LTP move_pages10)."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    expect_errno(
        lambda: p.move_pages(0, [a], [env.memory_nodes[0]], MPOL_MF_STRICT), errno.EINVAL, "flags"
    )


@case("move_pages.errno.EINVAL.kernel_thread", needs=Needs(features=frozenset({"kernel_thread"})))
def kernel_thread(env: Env) -> None:
    """Root asks to move pages of a kernel thread: EINVAL."""
    p = env.spawn()
    kthread = env.world.spawn_kernel_thread()
    expect_errno(lambda: p.move_pages(kthread.pid, [0], None, 0), errno.EINVAL, "query a kthread")


@case("move_pages.errno.ENODEV", needs=Needs(memoryless_node=True))
def memoryless_node(env: Env) -> None:
    """An online node without memory: ENODEV."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    node = env.memoryless_nodes[0]
    expect_errno(lambda: p.move_pages(0, [a], [node], MPOL_MF_MOVE), errno.ENODEV, f"node {node}")


@case("move_pages.errno.ENODEV.out_of_range")
def node_out_of_range(env: Env) -> None:
    """Node -1 and node 1<<20: ENODEV (LTP move_pages06)."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    for node in (-1, 1 << 20):
        r = move_pages_raw(p, 0, [a], [node], MPOL_MF_MOVE)
        expect((r.ret, r.err), (-1, errno.ENODEV), f"node {node}: ret, errno")


@case("move_pages.errno.ENOENT")
def enoent_nothing_queued(env: Env) -> None:
    """Before 2.6.28 a call where no page needed moving failed with ENOENT."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    here = env.where(p, [a])[0]
    expect_errno(lambda: p.move_pages(0, [a], [here], MPOL_MF_MOVE), errno.ENOENT, "already there")


@case("move_pages.errno.ENOMEM", needs=Needs(memory_nodes=2, features=frozenset({"fill_node"})))
def target_node_full(env: Env) -> None:
    """The target node has no free page: ENOMEM."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    target = _away(env, p, a)
    env.world.fill_node(target, 0)
    expect_errno(lambda: p.move_pages(0, [a], [target], MPOL_MF_MOVE), errno.ENOMEM, "full node")


THP_FULL = Needs(memory_nodes=2, features=frozenset({"fill_node_partial", "thp"}))
THP_NO_ROOM = Needs(memory_nodes=2, features=frozenset({"fill_node", "thp"}))


def _thp_to_small_node(
    env: Env, *, zeros: bool = False, room: int = 10
) -> tuple[Process, list[int], int, int, RawResult]:
    """A THP (of data, or ``zeros``) moved to a node left with room for ``room`` small
    pages: the call's result."""
    p = env.spawn()
    a = p.mmap(HPAGE, huge="thp")
    p.touch(a, HPAGE)
    if not zeros:  # a page of zeros may leave a split THP as the zero page (6.12+)
        p.write_bytes(a, b"\x5a" * HPAGE)
    pages = [a + i * env.page_size for i in range(HPAGE // env.page_size)]
    here = env.where(p, [a])[0]
    target = _away(env, p, a)
    env.world.fill_node(target, room)
    return p, pages, here, target, move_pages_raw(p, 0, [a], [target], MPOL_MF_MOVE)


def _moved(env: Env, p: Process, pages: list[int], target: int, which: list[int]) -> None:
    where = env.where(p, pages)
    moved = [i for i, n in enumerate(where) if n == target]
    expect(moved, sorted(which), "the pages that moved")


@case("move_pages.errno.ENOMEM.thp_whole", needs=THP_FULL)
def thp_no_room_unmoved(env: Env) -> None:
    """The THP's allocation fails: ENOMEM, and all 512 pages stay where they were."""
    p, pages, here, _, r = _thp_to_small_node(env)
    expect((r.ret, r.err), (-1, errno.ENOMEM), "no room")
    expect(env.where(p, pages), [here] * len(pages), "nodes after the call")


@case("move_pages.errno.ENOMEM.thp_split_retry", needs=THP_FULL)
def thp_no_room_split(env: Env) -> None:
    """Split and retried: the head at once, then tails 511 down to 503; then ENOMEM."""
    p, pages, _, target, r = _thp_to_small_node(env)
    expect((r.ret, r.err), (-1, errno.ENOMEM), "no room")
    _moved(env, p, pages, target, [0, *range(503, 512)])


@case("move_pages.errno.ENOMEM.thp_split_head_last", needs=THP_FULL)
def thp_no_room_split_head_last(env: Env) -> None:
    """Split: tails 511 down to 502 move, the head (last) does not; then ENOMEM."""
    p, pages, _, target, r = _thp_to_small_node(env)
    expect((r.ret, r.err), (-1, errno.ENOMEM), "no room")
    _moved(env, p, pages, target, list(range(502, 512)))


def _split_and_counted(env: Env, moved: list[int], *, zeros: bool = False) -> None:
    """Room for 10 pages: those ``moved``; the call returns 1, the status unwritten."""
    p, pages, _, target, r = _thp_to_small_node(env, zeros=zeros)
    expect((r.ret, r.out), (1, [UNWRITTEN]), "return value and status")
    _moved(env, p, pages, target, moved)


@case("move_pages.result.thp_split_counted", needs=THP_FULL)
def thp_no_room_split_counted(env: Env) -> None:
    """Split: tails 511 down to 502 move; the call returns 1, the status unwritten."""
    _split_and_counted(env, list(range(502, 512)))


@case("move_pages.errno.ENOMEM.thp_split_head_last", needs=THP_NO_ROOM)
def thp_no_room_at_all_head_last(env: Env) -> None:
    """A full node: the split pages find no room either: ENOMEM, nothing moved."""
    p, pages, here, _, r = _thp_to_small_node(env, room=0)
    expect((r.ret, r.err), (-1, errno.ENOMEM), "no room")
    expect(env.where(p, pages), [here] * len(pages), "nodes after the call")


def _counted_without_room(env: Env) -> None:
    p, pages, here, _, r = _thp_to_small_node(env, room=0)
    expect((r.ret, r.out), (1, [UNWRITTEN]), "return value and status")
    expect(env.where(p, pages), [here] * len(pages), "nodes after the call")


@case("move_pages.result.thp_split_counted", needs=THP_NO_ROOM)
def thp_no_room_at_all_counted(env: Env) -> None:
    """A full node: no page moves, no ENOMEM; the call returns 1, the status unwritten."""
    _counted_without_room(env)


@case("move_pages.result.thp_split_counted_ascending", needs=THP_NO_ROOM)
def thp_no_room_at_all_counted_ascending(env: Env) -> None:
    """A full node: no page moves, no ENOMEM; the call returns 1, the status unwritten."""
    _counted_without_room(env)


@case("move_pages.thp_split_zero_pages_shared", needs=THP_NO_ROOM)
def thp_of_zeros_split_to_the_zero_page(env: Env) -> None:
    """A THP of zeros, a full node: split, every page is the zero page (-EFAULT); the
    call returns 0 and reports the page moved."""
    p, pages, _, target, r = _thp_to_small_node(env, zeros=True, room=0)
    expect((r.ret, r.out), (0, [target]), "return value and status")
    expect(set(env.where(p, pages)), {-errno.EFAULT}, "the pages' statuses after the call")


@case("move_pages.thp_split_zero_pages_moved", needs=THP_FULL)
def thp_of_zeros_split_and_moved(env: Env) -> None:
    """A THP of zeros: split, tails 511 down to 502 move; the call returns 1."""
    _split_and_counted(env, list(range(502, 512)), zeros=True)


@case("move_pages.result.thp_split_counted_ascending", needs=THP_FULL)
def thp_no_room_split_counted_ascending(env: Env) -> None:
    """Split: tails 1 to 10 move; the call returns 1, the status unwritten."""
    _split_and_counted(env, list(range(1, 11)))


@case("move_pages.errno.EPERM.move_all")
def move_all_unprivileged(env: Env) -> None:
    """uid 1000 with MPOL_MF_MOVE_ALL: EPERM (LTP move_pages11)."""
    p = env.spawn(uid=USER)
    (a,) = env.pages(p, 1)
    expect_errno(
        lambda: p.move_pages(0, [a], [env.memory_nodes[0]], MPOL_MF_MOVE_ALL),
        errno.EPERM,
        "MOVE_ALL",
    )


@case("move_pages.errno.EPERM.move_all_before_ESRCH")
def move_all_before_pid(env: Env) -> None:
    """uid 1000, MPOL_MF_MOVE_ALL and an unused pid: EPERM, not ESRCH."""
    p = env.spawn(uid=USER)
    pid = _gone_pid(env)
    expect_errno(
        lambda: p.move_pages(pid, [0], [0], MPOL_MF_MOVE_ALL), errno.EPERM, "MOVE_ALL, no pid"
    )


@case("move_pages.errno.EPERM.other_user")
def other_users_process(env: Env) -> None:
    """uid 1000 asks to move pages of a root process: EPERM."""
    root = env.spawn()
    (a,) = env.pages(root, 1)
    user = env.spawn(uid=USER)
    expect_errno(lambda: user.move_pages(root.pid, [a], None, 0), errno.EPERM, "query root's page")


CAPS = Needs(memory_nodes=2, features=frozenset({"capabilities"}))


def _user_with_cap_sys_nice(env: Env) -> tuple[Process, Process, int]:
    root = env.spawn()
    (a,) = env.pages(root, 1)
    user = env.spawn(uid=USER, caps=["CAP_SYS_NICE"])
    return user, root, a


@case("move_pages.errno.EPERM.cap_sys_nice", needs=CAPS)
def cap_sys_nice_suffices(env: Env) -> None:
    """Before 4.13 CAP_SYS_NICE lets uid 1000 move a root process's page."""
    user, root, a = _user_with_cap_sys_nice(env)
    dest = _away(env, root, a)
    expect_status(user.move_pages(root.pid, [a], [dest], MPOL_MF_MOVE), [dest])


@case("move_pages.errno.EPERM.ptrace_rule", needs=CAPS)
def cap_sys_nice_not_enough(env: Env) -> None:
    """Since 4.13 the same call needs ptrace access: EPERM."""
    user, root, a = _user_with_cap_sys_nice(env)
    dest = _away(env, root, a)
    expect_errno(lambda: user.move_pages(root.pid, [a], [dest], MPOL_MF_MOVE), errno.EPERM, "move")


def _uid_rule_call(env: Env) -> tuple[Process, Process, int, int]:
    """uid 1000 and a target with ruid 1000, euid = suid = 2000."""
    target = env.spawn()
    (a,) = env.pages(target, 1)
    target.setresuid(USER, 2000, 2000)
    caller = env.spawn(uid=USER)
    return caller, target, a, _away(env, target, a)


@case("move_pages.errno.EPERM.uid_rule", needs=TWO)
def uid_rule(env: Env) -> None:
    """Before 4.13: caller uid == target ruid is enough (the man page's rule)."""
    caller, target, a, dest = _uid_rule_call(env)
    expect_status(caller.move_pages(target.pid, [a], [dest], MPOL_MF_MOVE), [dest])


@case("move_pages.errno.EPERM.uid_rule_gone", needs=TWO)
def uid_rule_gone(env: Env) -> None:
    """Since 4.13 the same call is refused: EPERM."""
    caller, target, a, dest = _uid_rule_call(env)
    expect_errno(
        lambda: caller.move_pages(target.pid, [a], [dest], MPOL_MF_MOVE), errno.EPERM, "move"
    )


@case("move_pages.errno.EPERM.nondumpable", needs=Needs(features=frozenset({"dumpable"})))
def nondumpable_target(env: Env) -> None:
    """Same uid, but the target did prctl(PR_SET_DUMPABLE, 0): EPERM."""
    target = env.spawn(uid=USER)
    (a,) = env.pages(target, 1)
    caller = env.spawn(uid=USER)
    status = caller.move_pages(target.pid, [a], None, 0).status
    if status[0] not in env.memory_nodes:  # the kernel wrote the page's node
        fail(f"dumpable target: allowed, but status {format_statuses(status)} names no memory node")
    env.world.set_dumpable(target, 0)
    expect_errno(lambda: caller.move_pages(target.pid, [a], None, 0), errno.EPERM, "non-dumpable")


@case("move_pages.errno.ESRCH")
def no_such_process(env: Env) -> None:
    """A pid that has exited: ESRCH (LTP move_pages07)."""
    p = env.spawn()
    pid = _gone_pid(env)
    expect_errno(lambda: p.move_pages(pid, [0], None, 0), errno.ESRCH, "query")


def _move_then_memoryless(env: Env) -> tuple[int, int, list[int], int]:
    p = env.spawn()
    a, b = env.pages(p, 2)
    t = _away(env, p, a)
    r = move_pages_raw(p, 0, [a, b], [t, env.memoryless_nodes[0]], MPOL_MF_MOVE)
    return r.ret, r.err, r.out, t


MIXED = Needs(memory_nodes=2, memoryless_node=True)


@case("move_pages.errno.partial_status", needs=MIXED)
def status_before_error(env: Env) -> None:
    """Entry 0 moves and is written, entry 1 names a memoryless node: ENODEV, entry 1 unwritten."""
    ret, err, status, t = _move_then_memoryless(env)
    expect((ret, err, status), (-1, errno.ENODEV, [t, UNWRITTEN]), "ret, errno, status")


@case("move_pages.errno.no_partial_status", needs=MIXED)
def no_status_before_error(env: Env) -> None:
    """Before 4.17 the array was validated first: ENODEV and nothing written."""
    ret, err, status, _ = _move_then_memoryless(env)
    expect((ret, err, status), (-1, errno.ENODEV, [UNWRITTEN, UNWRITTEN]), "ret, errno, status")


@case("move_pages.wrapper_errors")
def wrapper_reports_errno(env: Env) -> None:
    """-1 with errno EINVAL for bad flags, ESRCH for a gone pid; 0 for a query."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    bad_flags = move_pages_raw(p, 0, [a], [env.memory_nodes[0]], MPOL_MF_STRICT)
    expect((bad_flags.ret, bad_flags.err), (-1, errno.EINVAL), "flags MPOL_MF_STRICT")
    gone = move_pages_raw(p, _gone_pid(env), [a], None, 0)
    expect((gone.ret, gone.err), (-1, errno.ESRCH), "pid gone")
    query = move_pages_raw(p, 0, [a], None, 0)
    expect((query.ret, query.err), (0, 0), "query")


@case(
    "move_pages.errno.ENOMEM.caller_cpuset",
    needs=Needs(memory_nodes=2, features=frozenset({"cpuset"})),
)
def caller_cpuset_walls_allocation(env: Env) -> None:
    """Caller confined to {n0}, target allowed {n0, n1}: moving to n1 is not EACCES but ENOMEM."""
    n0, n1 = env.memory_nodes[:2]
    caller = env.spawn(cpuset_mems=[n0])
    target = env.spawn(cpuset_mems=[n0, n1])
    (a,) = env.pages(target, 1)
    pages = [a]
    expect(env.where(target, pages), [n0], "the page starts on n0")
    r = move_pages_raw(caller, target.pid, pages, [n1], MPOL_MF_MOVE)
    expect((r.ret, r.err), (-1, errno.ENOMEM), "ret, errno")
    expect(env.where(target, pages), [n0], "the page stays")
