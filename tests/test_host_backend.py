"""realnuma on this machine's kernel: helpers never outlive their kernel object, a dead
helper is a clear error, and the raw ABI answers bad pointers with EFAULT."""

from __future__ import annotations

import errno
import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realnuma.host import HelperDied, HostKernel
from realnuma.leftovers import cpuset_dirs
from realnuma.probe import HostFacts, probe


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
        live = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, IndexError):
                continue
            if state != "Z":
                live.append(pid)
        if not live:
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
