"""realnuma.leftovers finds every kind of leftover with its owner, and removes only
what a dead owner left: by ``--clean`` and by the next HostKernel's start-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from subprocs import pythonpath

from realnuma import leftovers
from realnuma.leftovers import Leftover, find, owner_alive

HOLDER = """
import sys, time
from realnuma import HostKernel
k = HostKernel()
mems = k.memory_node_ids()[:1]
p = k.spawn(cpuset_mems=mems if "cpuset" in k.features else None)
f = k.create_file(4096, name="held")
a = p.mmap(4096, file=f, shared=True)
p.touch(a, 4096)
print("ready", flush=True)
time.sleep(600)
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: cgroups, helpers")


def _holder() -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
        env=dict(os.environ, PYTHONPATH=pythonpath()),
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def _kinds(owner: int) -> set[str]:
    return {f.kind for f in find(owner)}


def test_a_killed_controllers_leftovers_go_at_the_next_start() -> None:
    """SIGKILL: nothing runs in the controller.  Its cgroup and directory of files stay
    (its helpers exit by themselves) until the next HostKernel starts."""
    proc = _holder()
    expected = {"helper", "files"} | ({"cgroup"} if leftovers.cpuset_dirs(proc.pid) else set())
    assert _kinds(proc.pid) == expected
    proc.kill()
    _, err = proc.communicate(timeout=60)
    assert err == "", "a helper of a killed controller exits without a word"
    left = find(proc.pid)
    assert {f.kind for f in left} == expected - {"helper"}
    assert all(f.orphaned for f in left)
    subprocess.run(
        [sys.executable, "-c", "from realnuma import HostKernel; HostKernel().close()"],
        cwd="/",
        env=dict(os.environ, PYTHONPATH=pythonpath()),
        check=True,
        timeout=120,
    )
    assert find(proc.pid) == []


def test_clean_never_touches_a_live_owner() -> None:
    proc = _holder()
    try:
        before = find(proc.pid)
        assert before and not any(f.orphaned for f in before)
        done = subprocess.run(
            [sys.executable, "-m", "realnuma.leftovers", "--clean"],
            capture_output=True,
            text=True,
            cwd="/",
            env=dict(os.environ, PYTHONPATH=pythonpath()),
            timeout=120,
            check=False,
        )
        assert f"owner {proc.pid} alive" in done.stdout
        assert find(proc.pid) == before
    finally:
        proc.send_signal(signal.SIGTERM)  # a clean exit: everything goes
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and err == ""
    assert find(proc.pid) == []


def test_a_reused_pid_is_not_the_owner() -> None:
    assert owner_alive(os.getpid(), time.time())
    assert not owner_alive(os.getpid(), time.time() - 3600), "we started after it was made"
    assert not owner_alive(2**22 + 1, time.time()), "no such process"


def test_directories_without_an_owner_in_their_name(tmp_path: Path) -> None:
    """Names from before owners were written in them: orphans once nothing alive could
    have made them (loads realnuma, or runs Python for a VM's, and started before)."""
    import realnuma.binding  # noqa: F401  (so this process could have made a realnuma- dir)

    fresh = tmp_path / "realnuma-abcdefgh"
    old = tmp_path / "realnuma-ijklmnop"
    vm_old = tmp_path / "simnuma-vm-qrstuvwx"
    dead = tmp_path / f"realnuma-{2**22 + 1}-abc"
    mine = tmp_path / f"simnuma-vm-{os.getpid()}-abc"
    for d in (fresh, old, vm_old, dead, mine):
        d.mkdir()
    boot = time.time() - float(Path("/proc/uptime").read_text().split()[0])
    for d in (old, vm_old):  # made at boot: nothing that loads realnuma was running
        os.utime(d, (boot + 1, boot + 1))
    found = {Path(f.where).name: f for f in leftovers._dirs([tmp_path])}
    assert found[fresh.name] == Leftover("files", str(fresh), None, False)  # we load it
    assert found[old.name].orphaned and found[vm_old.name].orphaned
    assert found[dead.name] == Leftover("files", str(dead), 2**22 + 1, True)
    assert found[mine.name] == Leftover("vm-tmp", str(mine), os.getpid(), False)
    leftovers.clean(found.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, mine.name])


def test_an_orphaned_qemu_is_found_and_killed(tmp_path: Path) -> None:
    """QEMU booted by the vm backend outlives a killed controller (a session of its own):
    found by its initrd in a simnuma-vm- directory, killed by --clean."""
    dead = 2**22 + 1
    vm_dir = Path("/tmp") / f"simnuma-vm-{dead}-test{os.getpid()}"
    live_dir = Path("/tmp") / f"simnuma-vm-{os.getpid()}-test"
    qemus = [
        subprocess.Popen(
            [
                "bash",
                "-c",
                f"exec -a qemu-system-x86_64 {sys.executable} -c 'import time; time.sleep(60)'"
                f' -initrd "{d}/initrd.gz"',
            ],
            start_new_session=True,
        )
        for d in (vm_dir, live_dir)
    ]
    try:
        deadline = time.monotonic() + 10
        while (
            len([f for f in find() if f.kind == "qemu" and f.where in {str(q.pid) for q in qemus}])
            < 2
        ):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        found = {f.where: f for f in find() if f.kind == "qemu"}
        assert found[str(qemus[0].pid)] == Leftover("qemu", str(qemus[0].pid), dead, True)
        assert found[str(qemus[1].pid)] == Leftover("qemu", str(qemus[1].pid), os.getpid(), False)
        assert leftovers.clean(found[str(q.pid)] for q in qemus) == []
        assert qemus[0].wait(timeout=10) == -signal.SIGKILL
        assert qemus[1].poll() is None, "a live owner's QEMU is never touched"
    finally:
        for q in qemus:
            q.kill()
            q.wait()
