"""realnuma on this machine's kernel: helpers never outlive their kernel object, a dead
helper is a clear error, and the raw ABI answers bad pointers with EFAULT."""

from __future__ import annotations

import errno
import gc
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realnuma.host import HelperDied, HostKernel
from realnuma.leftovers import cpuset_dirs
from realnuma.probe import HostFacts, probe
from realnuma.procfs import is_live, read_stat
from simnuma import SimKernel
from simnuma.abi import MPOL_BIND, MPOL_F_MEMS_ALLOWED, Kernel, World


@pytest.fixture(scope="module", autouse=True)
def facts() -> HostFacts:
    """The host, probed when the module's first test runs (not at import: collecting
    the suite probes nothing)."""
    found = probe()
    if not found.is_root:
        pytest.skip("needs root: helpers change uid")
    return found


def _gone(pids: list[int], timeout: float = 10.0) -> bool:
    """True once no pid is a live process (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(is_live(pid) for pid in pids):
            return True
        time.sleep(0.02)
    return False


def _family(kernel: HostKernel, facts: HostFacts) -> list[int]:
    """Helpers: a process, its child and grandchild, another uid's, and (where the
    host has cpusets) one in a cpuset of its own."""
    p = kernel.spawn()
    child = p.fork()
    grandchild = child.fork()
    user = kernel.spawn(uid=1000)
    pids = [p.pid, child.pid, grandchild.pid, user.pid]
    if facts.cpusets is not None:
        pids.append(kernel.spawn(cpuset_mems=facts.memory_nodes[:1]).pid)
        assert cpuset_dirs(os.getpid()), "a cpuset of this process's own"
    return pids


def test_close_kills_every_helper(facts: HostFacts) -> None:
    kernel = HostKernel()
    pids = _family(kernel, facts)
    assert not _gone(pids, timeout=0.1)
    kernel.close()
    assert _gone(pids)
    assert not cpuset_dirs(os.getpid())


def test_dropping_the_kernel_kills_every_helper(facts: HostFacts) -> None:
    kernel = HostKernel()
    pids = _family(kernel, facts)
    del kernel
    gc.collect()
    assert _gone(pids)
    assert not cpuset_dirs(os.getpid())


def test_a_crashed_controller_leaves_no_helper() -> None:
    import realnuma

    script = (
        "import os, realnuma\n"
        "from realnuma.host import HostKernel\n"
        "k = HostKernel()\n"
        "p = k.spawn(); c = p.fork(); u = k.spawn(uid=1000)\n"
        "print(realnuma.__file__, p.pid, c.pid, u.pid, flush=True)\n"
        "os._exit(1)\n"
    )
    ours = os.path.dirname(os.path.dirname(os.path.abspath(realnuma.__file__)))
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
        env={**os.environ, "PYTHONPATH": ours},  # this tree's realnuma, not the installed one
    )
    imported, *pids = out.stdout.split() or [""]
    assert imported == realnuma.__file__, (imported, out.stderr)
    assert len(pids) == 3, out.stderr
    assert _gone([int(p) for p in pids])


def test_a_dead_helper_is_a_clear_error() -> None:
    with HostKernel() as kernel:
        p = kernel.spawn()
        other = kernel.spawn()
        os.kill(p.pid, signal.SIGKILL)
        with pytest.raises(
            HelperDied, match=rf"helper {p.pid} died during mmap: the process is gone"
        ):
            p.mmap(4096)
        with pytest.raises(RuntimeError, match="exited"):
            p.mmap(4096)
        assert other.mmap(4096) > 0  # the others carry on
    assert _gone([p.pid, other.pid])


def test_exit_makes_the_pid_unknown() -> None:
    with HostKernel() as kernel:
        p = kernel.spawn()
        child = p.fork()
        pid = child.pid
        child.exit()
        assert p.syscall("move_pages", pid, 0, 0, 0, 0, 0) == (-1, errno.ESRCH)


def test_bad_pointers_come_back_as_efault() -> None:
    with HostKernel() as kernel:
        p = kernel.spawn()
        assert p.syscall("move_pages", 0, 1, 8, 8, 8, 2) == (-1, errno.EFAULT)
        assert p.syscall("migrate_pages", 0, 65, 8, 8) == (-1, errno.EFAULT)
        assert p.syscall("get_mempolicy", 8, 8, 1025, 0, 0) == (-1, errno.EFAULT)
        with pytest.raises(OSError) as info:
            p.read_bytes(8, 4)
        assert info.value.errno == errno.EFAULT
        assert p.syscall("no_such_call") == (-1, errno.ENOSYS)


REGS = st.one_of(st.integers(-(2**63), 2**64 - 1), st.integers(0, 16))


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(
        st.tuples(
            st.sampled_from(["move_pages", "migrate_pages", "get_mempolicy", "mbind"]),
            st.lists(REGS, max_size=6),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_random_registers_never_crash_a_helper(calls: list[tuple[str, list[int]]]) -> None:
    """Random registers reach the real kernel; every call answers (ret, errno)."""
    kernel = _shared_kernel()
    p = kernel.processes[0]
    for name, regs in calls:
        if name == "mbind":
            regs = [*regs[:2], 0, *regs[3:]]  # MPOL_DEFAULT: never re-policy the helper's heap
        if name in ("move_pages", "migrate_pages"):
            regs = [0, *regs[1:]]  # only the helper's own pages: never another process's
        ret, err = p.syscall(name, *regs)
        assert (ret == -1) == (err != 0)
    assert p.read_bytes(p.mmap(4096), 1) == b"\0"


_KERNEL: list[HostKernel] = []


def _shared_kernel() -> HostKernel:
    if not _KERNEL:
        kernel = HostKernel()
        kernel.spawn()
        _KERNEL.append(kernel)
    return _KERNEL[0]


def teardown_module() -> None:
    """No cgroup this process made is left, in any hierarchy (cgroup v1's cpuset or
    cgroup2): other runs' cgroups (``simnuma-<their pid>-*``) are theirs."""
    for kernel in _KERNEL:
        kernel.close()
    leftovers = cpuset_dirs(os.getpid())
    assert not leftovers, leftovers


def test_libnuma_backend_calls_through_libnuma() -> None:
    from realnuma.binding import libnuma_available

    if not libnuma_available():
        pytest.skip("realnuma was built without libnuma's headers (libnuma-dev)")
    with HostKernel(libnuma=True) as kernel:
        p = kernel.spawn()
        assert p.syscall("move_pages", 0, 1, 8, 0, 8, 0) == (-1, errno.EFAULT)
        assert "libnuma" in Path(f"/proc/{p.pid}/maps").read_text()
    with HostKernel() as kernel:
        p = kernel.spawn()
        p.syscall("move_pages", 0, 0, 0, 0, 0, 0)
        assert "libnuma" not in Path(f"/proc/{p.pid}/maps").read_text()


def test_helpers_run_the_controllers_realnuma() -> None:
    """The helpers load the very realnuma the controller runs (this tree's, under test),
    not whatever realnuma is installed."""
    from realnuma import _syscalls

    ours = os.path.realpath(_syscalls.__file__)
    with HostKernel() as kernel:
        for p in (kernel.spawn(), kernel.spawn(uid=1000)):
            maps = Path(f"/proc/{p.pid}/maps").read_text()
            loaded = {line.split()[-1] for line in maps.splitlines() if "_syscalls" in line}
            assert loaded == {ours}, (p.pid, loaded)


NODE_ITERABLES = {
    "list": list,
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
    "range": lambda ns: range(ns[0], ns[0] + 1),
    "iterator": iter,
}


@pytest.mark.parametrize("make", NODE_ITERABLES.values(), ids=NODE_ITERABLES.keys())
def test_node_lists_take_any_iterable(make: Any, facts: HostFacts) -> None:
    """Node lists whose order does not matter take any iterable of ints on the host too."""
    node = facts.memory_nodes[0]
    with HostKernel() as kernel:
        p = kernel.spawn()
        p.set_mempolicy(MPOL_BIND, make([node]))
        assert p.get_mempolicy(0) == (MPOL_BIND, [node])
        a = p.mmap(kernel.page_size)
        p.mbind(a, kernel.page_size, MPOL_BIND, make([node]))
        p.touch(a, kernel.page_size)
        assert p.migrate_pages(0, make([node]), make([node])) == 0
        assert p.move_pages(0, [a], None, 0).status == [node]
        if "cpuset" in kernel.features:
            p.set_cpuset(make([node]))
            confined = kernel.spawn(cpuset_mems=make([node]))
            assert confined.get_mempolicy(MPOL_F_MEMS_ALLOWED)[1] == [node]


BAD_NODE_LISTS = {
    "str": lambda: "0",
    "bytes": lambda: b"\0",
    "dict": lambda: {0: 1},
    "int": lambda: 0,
    "bool-in-list": lambda: [0, True],
    "bool-in-set": lambda: {True},
    "float-in-generator": lambda: (n for n in [0, 1.0]),
    "negative-in-range": lambda: range(-1, 1),
    "negative-in-set": lambda: {0, -2},
}


@pytest.mark.parametrize("nodes", BAD_NODE_LISTS.values(), ids=BAD_NODE_LISTS.keys())
def test_bad_node_lists_say_what_the_simulator_says(nodes: Any) -> None:
    """The same TypeError/ValueError, word for word, naming the same argument."""
    sim = SimKernel(nodes=1).spawn()
    host = _shared_kernel().processes[0]
    for call in (
        lambda p: p.set_mempolicy(MPOL_BIND, nodes()),
        lambda p: p.mbind(0, 4096, MPOL_BIND, nodes()),
        lambda p: p.migrate_pages(0, nodes(), [0]),
        lambda p: p.migrate_pages(0, [0], nodes()),
        lambda p: p.set_cpuset(nodes()),
        lambda p: p.kernel.spawn(cpuset_mems=nodes()),
    ):
        with pytest.raises((TypeError, ValueError)) as expected:
            call(sim)
        with pytest.raises(expected.type, match=f"^{re.escape(str(expected.value))}$"):
            call(host)


BAD_SPAWNS = {
    "negative-uid": {"uid": -1},
    "str-uid": {"uid": "0"},
    "unknown-cap": {"caps": ["CAP_NOPE"]},
    "caps-as-str": {"caps": "CAP_SYS_NICE"},
    "empty-cpuset": {"cpuset_mems": set()},
    "node-without-memory": {"cpuset_mems": [0, 4095]},
    "uid-checked-first": {"uid": -1, "caps": ["CAP_NOPE"], "cpuset_mems": []},
}


@pytest.mark.parametrize("kwargs", BAD_SPAWNS.values(), ids=BAD_SPAWNS.keys())
def test_bad_spawns_say_what_the_simulator_says(kwargs: dict[str, Any]) -> None:
    """spawn() and set_cpuset() refuse before any helper or cpuset exists, in the
    simulator's words: one checker serves both backends."""
    sim = SimKernel(nodes=1)
    host = _shared_kernel()
    with pytest.raises((TypeError, ValueError)) as expected:
        sim.spawn(**kwargs)
    before = len(host.processes)
    with pytest.raises(expected.type, match=f"^{re.escape(str(expected.value))}$"):
        host.spawn(**kwargs)
    assert len(host.processes) == before
    if "cpuset_mems" in kwargs and "uid" not in kwargs:
        with pytest.raises(ValueError) as expected:
            sim.spawn().set_cpuset(kwargs["cpuset_mems"])
        assert "mems" in str(expected.value)
        with pytest.raises(ValueError, match=f"^{re.escape(str(expected.value))}$"):
            host.processes[0].set_cpuset(kwargs["cpuset_mems"])


def test_contract_facts_are_this_hosts() -> None:
    """The contract's kthreadd pid and huge page size, and the binding's page size, are
    what this kernel has; the binding numbers every syscall the contract names."""
    from realnuma import binding
    from simnuma.abi import HUGE_PAGE_SIZE, KTHREADD_PID, SYSCALL_NAMES

    kthreadd = read_stat(KTHREADD_PID)
    assert kthreadd is not None and (kthreadd.comm, kthreadd.ppid) == ("kthreadd", 0)
    assert _shared_kernel().spawn_kernel_thread().pid == KTHREADD_PID
    assert binding.PAGE_SIZE == os.sysconf("SC_PAGE_SIZE") == _shared_kernel().page_size
    pmd = Path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
    if pmd.exists():
        assert int(pmd.read_text()) == HUGE_PAGE_SIZE
    assert sorted(binding.SYSCALL_NUMBERS) == sorted(SYSCALL_NAMES)
    assert all(isinstance(n, int) and n > 0 for n in binding.SYSCALL_NUMBERS.values())


@pytest.mark.parametrize("backend", ["sim", "host"])
def test_mmap_offset_is_part_of_the_contract(backend: str) -> None:
    """Process.mmap(offset=...) maps a file from that offset on either backend."""
    kernel: Kernel = SimKernel(nodes=1) if backend == "sim" else _shared_kernel()
    world = cast(World, kernel)
    page = kernel.page_size
    f = world.create_file(2 * page)
    world.write_file(f, page, b"second page")
    p = kernel.spawn()
    a = p.mmap(page, shared=True, file=f, offset=page)
    assert p.read_bytes(a, 11) == b"second page"
    p.exit()


def test_contract_constants_are_the_kernel_headers() -> None:
    """simnuma.abi's constants equal what the C compiler read from <linux/mempolicy.h>
    and <sys/mman.h> when realnuma was built."""
    from realnuma._syscalls import lib
    from simnuma import abi

    for name in (
        "MPOL_MF_STRICT",
        "MPOL_MF_MOVE",
        "MPOL_MF_MOVE_ALL",
        "MPOL_F_NODE",
        "MPOL_F_ADDR",
        "MPOL_F_MEMS_ALLOWED",
        "MPOL_DEFAULT",
        "MPOL_PREFERRED",
        "MPOL_BIND",
        "MPOL_INTERLEAVE",
        "PROT_NONE",
        "PROT_READ",
        "PROT_WRITE",
        "PROT_EXEC",
    ):
        assert getattr(abi, name) == getattr(lib, name), name
