"""The Python API rejects bad input with TypeError/ValueError naming the argument,
and leaves nothing half-done."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from simnuma import NodeSpec, SimKernel, Topology
from simnuma.abi import MPOL_BIND, MPOL_MF_MOVE, SyscallError


@pytest.fixture
def p() -> Any:
    return SimKernel(nodes=2).spawn()


@pytest.mark.parametrize(
    ("call", "exc", "name"),
    [
        (lambda p: p.move_pages("0", [], None, 0), TypeError, "pid"),
        (lambda p: p.move_pages(0, [1.5], None, 0), TypeError, r"pages\[0\]"),
        (lambda p: p.move_pages(0, "abc", None, 0), TypeError, "pages"),
        (lambda p: p.move_pages(0, [0], [None], 0), TypeError, r"nodes\[0\]"),
        (lambda p: p.move_pages(0, [0], [0, 1], 0), ValueError, "nodes has 2 entries"),
        (lambda p: p.move_pages(0, [0], None, "MOVE"), TypeError, "flags"),
        (lambda p: p.migrate_pages(0, [-1], [0]), ValueError, "old_nodes"),
        (lambda p: p.migrate_pages(0, [0], [0], maxnode="8"), TypeError, "maxnode"),
        (lambda p: p.get_mempolicy(None), TypeError, "flags"),
        (lambda p: p.set_mempolicy(MPOL_BIND, {0: 1}), TypeError, "nodes"),
        (lambda p: p.mbind(-4096, 4096, MPOL_BIND, [0]), ValueError, "addr"),
        (lambda p: p.mmap(0), ValueError, "length"),
        (lambda p: p.mmap(4096, huge="giant"), ValueError, "huge"),
        (lambda p: p.mmap(4096, file="/etc/passwd"), TypeError, "file"),
        (lambda p: p.munmap(4097, 4096), ValueError, "addr"),
        (lambda p: p.touch(0, "1"), TypeError, "length"),
        (lambda p: p.write_bytes(0, "text"), TypeError, "data"),
        (lambda p: p.setresuid(0, "x", 0), TypeError, "euid"),
        (lambda p: p.set_cpuset([]), ValueError, "mems"),
        (lambda p: p.set_cpuset([7]), ValueError, "mems"),
        (lambda p: p.syscall("move_pages", 1.0), TypeError, r"args\[0\]"),
    ],
)
def test_bad_arguments(p: Any, call: Any, exc: type[Exception], name: str) -> None:
    with pytest.raises(exc, match=name):
        call(p)


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"nodes": "2"}, TypeError, "nodes"),
        ({"nodes": 0}, ValueError, "nodes"),
        ({"nodes": 2, "topology": Topology()}, ValueError, "topology"),
        ({"profile": "1.0"}, ValueError, "2.6.18"),
        ({"topology": {0: 1}}, TypeError, "topology"),
    ],
)
def test_bad_kernel_arguments(kwargs: dict[str, Any], exc: type[Exception], name: str) -> None:
    with pytest.raises(exc, match=name):
        SimKernel(**kwargs)


def test_bad_topology() -> None:
    with pytest.raises(ValueError, match="memory"):
        Topology({0: NodeSpec(memory=0)})
    with pytest.raises(ValueError, match="distances"):
        Topology({0: NodeSpec()}, distances={(0, 5): 20})
    with pytest.raises(TypeError, match="memory"):
        NodeSpec(memory=1.5)  # type: ignore[arg-type]


def test_spawn_arguments() -> None:
    k = SimKernel(nodes=2)
    with pytest.raises(ValueError, match="uid"):
        k.spawn(uid=-1)
    with pytest.raises(ValueError, match="cpuset_mems"):
        k.spawn(cpuset_mems=[2])


def test_errors_come_back_as_oserror_with_errno(p: Any) -> None:
    with pytest.raises(OSError) as info:
        p.move_pages(0, [0], [0], 99)
    assert info.value.errno == errno.EINVAL


@pytest.mark.parametrize(
    ("call", "name", "err"),
    [
        (lambda p: p.move_pages(0, [0], [0], 99), "move_pages", errno.EINVAL),
        (lambda p: p.migrate_pages(0, [0], [4095]), "migrate_pages", errno.EINVAL),
        (lambda p: p.get_mempolicy(1 << 30), "get_mempolicy", errno.EINVAL),
        (lambda p: p.set_mempolicy(99, [0]), "set_mempolicy", errno.EINVAL),
        (lambda p: p.mbind(4097, 4096, 0, []), "mbind", errno.EINVAL),
    ],
)
def test_a_numa_syscall_failing_raises_syscall_error(
    p: Any, call: Any, name: str, err: int
) -> None:
    """The NUMA syscalls raise SyscallError (an OSError): the runner's FAIL."""
    with pytest.raises(SyscallError) as info:
        call(p)
    assert (info.value.syscall, info.value.errno) == (name, err)


def test_a_set_up_call_failing_is_a_plain_oserror() -> None:
    """setresuid() is set-up, not a call under test: not a SyscallError."""
    user = SimKernel(nodes=2).spawn(uid=1000)
    with pytest.raises(OSError) as info:
        user.setresuid(0, 0, 0)
    assert info.value.errno == errno.EPERM and not isinstance(info.value, SyscallError)


def test_failed_call_leaves_no_scratch_mapping(p: Any) -> None:
    before = [(v.start, v.end) for v in p.mm.vmas]
    with pytest.raises(OSError):
        p.move_pages(0, [0], [5], MPOL_MF_MOVE)
    assert [(v.start, v.end) for v in p.mm.vmas] == before


def test_exited_process_refuses(p: Any) -> None:
    p.exit()
    with pytest.raises(RuntimeError, match="exited"):
        p.mmap(4096)


# Node lists whose order does not matter take any iterable of ints.
NODE_ITERABLES = [
    pytest.param(lambda: [1], id="list"),
    pytest.param(lambda: (1,), id="tuple"),
    pytest.param(lambda: {1}, id="set"),
    pytest.param(lambda: frozenset({1}), id="frozenset"),
    pytest.param(lambda: range(1, 2), id="range"),
    pytest.param(lambda: (n for n in [1]), id="generator"),
    pytest.param(lambda: iter([1, 1]), id="iterator-with-repeats"),
]


@pytest.mark.parametrize("nodes", NODE_ITERABLES)
def test_node_lists_take_any_iterable(nodes: Any) -> None:
    k = SimKernel(nodes=2)
    p = k.spawn(cpuset_mems=nodes())
    assert p.cpuset == {1}
    p.set_cpuset(nodes())
    assert p.cpuset == {1}
    p.set_mempolicy(MPOL_BIND, nodes())
    assert p.get_mempolicy(0) == (MPOL_BIND, [1])
    q = k.spawn()
    a = q.mmap(2 * k.page_size)
    q.mbind(a, k.page_size, MPOL_BIND, nodes())
    q.touch(a, 2 * k.page_size)
    assert q.move_pages(0, [a, a + k.page_size], None, 0).status == [1, 0]
    assert q.migrate_pages(0, nodes(), (n for n in {0})) == 0
    assert q.move_pages(0, [a, a + k.page_size], None, 0).status == [0, 0]


@pytest.mark.parametrize(
    ("nodes", "exc", "message"),
    [
        (lambda: "0", TypeError, "nodes must be an iterable of int, not str"),
        (lambda: b"\0", TypeError, "nodes must be an iterable of int, not bytes"),
        (lambda: bytearray(1), TypeError, "nodes must be an iterable of int, not bytearray"),
        (lambda: {0: 1}, TypeError, "nodes must be an iterable of int, not dict"),
        (lambda: 0, TypeError, "nodes must be an iterable of int, not int"),
        (lambda: None, TypeError, "nodes must be an iterable of int, not NoneType"),
        (lambda: [0, True], TypeError, r"nodes\[1\] must be int, not bool"),
        (lambda: {True}, TypeError, r"nodes must hold only int, not bool \(True\)"),
        (lambda: {"0"}, TypeError, r"nodes must hold only int, not str \('0'\)"),
        (
            lambda: (n for n in [0, 1.0]),
            TypeError,
            r"nodes must hold only int, not float \(1\.0\)",
        ),
        (lambda: range(-1, 1), ValueError, r"nodes\[0\] must be a node id >= 0, got -1"),
        (lambda: {0, -2}, ValueError, "nodes must hold only node ids >= 0, got -2"),
    ],
)
def test_bad_node_lists(p: Any, nodes: Any, exc: type[Exception], message: str) -> None:
    """Every node-list argument says what is wrong, under its own name."""
    calls = [
        ("nodes", lambda: p.set_mempolicy(MPOL_BIND, nodes())),
        ("nodes", lambda: p.mbind(p.mmap(4096), 4096, MPOL_BIND, nodes())),
        ("old_nodes", lambda: p.migrate_pages(0, nodes(), [0])),
        ("new_nodes", lambda: p.migrate_pages(0, [0], nodes())),
        ("mems", lambda: p.set_cpuset(nodes())),
    ]
    if nodes() is not None:  # spawn(cpuset_mems=None): no cpuset of its own
        calls.append(("cpuset_mems", lambda: p.kernel.spawn(cpuset_mems=nodes())))
    for name, call in calls:
        with pytest.raises(exc, match="^" + message.replace("nodes", name, 1) + "$"):
            call()


def test_move_pages_lists_stay_sequences(p: Any) -> None:
    """move_pages' pages and nodes pair up entry by entry: an unordered set is refused."""
    with pytest.raises(TypeError, match=r"^pages must be a sequence of int, not set$"):
        p.move_pages(0, {0}, None, 0)
    with pytest.raises(TypeError, match=r"^nodes must be a sequence of int, not set$"):
        p.move_pages(0, [0], {0}, 0)
