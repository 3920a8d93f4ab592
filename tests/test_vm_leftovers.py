"""What a VM run killed with SIGKILL leaves is findable and cleanable afterwards:
QEMU dies with its parent (PR_SET_PDEATHSIG), the temp dir carries the run's pid."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from vmfakes import fake_vm_env, gone_within, kill_quietly, running, wait_for

from realnuma import leftovers as host_leftovers
from realnuma.vm import initramfs

VM = ("qemu", "vm-tmp")


def vm_find(owner: int) -> list[str]:
    """The VM leftovers of run ``owner`` that --clean would remove (its owner is dead)."""
    return [str(f) for f in host_leftovers.find(owner, kinds=VM) if f.orphaned]


def vm_clean(owner: int) -> list[str]:
    """Clean run ``owner``'s VM leftovers; what was removed."""
    found = [f for f in host_leftovers.find(owner, kinds=VM) if f.orphaned]
    assert host_leftovers.clean(found) == []
    return [str(f) for f in found]


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_a_dead_runs_dir_is_found_and_cleaned(private_tmp: Path) -> None:
    dead = _dead_pid()
    left = private_tmp / f"simnuma-vm-{dead}-abc"
    (left / "sub").mkdir(parents=True)
    (left / "initrd.gz").write_bytes(b"x")
    assert vm_find(dead) == [f"vm-tmp {left} (owner {dead} dead)"]
    assert vm_clean(dead) == [f"vm-tmp {left} (owner {dead} dead)"]
    assert not left.exists()
    assert host_leftovers.find(dead, kinds=VM) == []


def test_a_live_runs_dir_is_left_alone(private_tmp: Path) -> None:
    import os

    live = private_tmp / f"simnuma-vm-{os.getpid()}-abc"
    live.mkdir()
    old_style = private_tmp / "simnuma-vm-abc123"  # no owner in the name: not ours to judge
    old_style.mkdir()
    assert vm_find(os.getpid()) == []
    assert vm_clean(os.getpid()) == []
    host_leftovers.clean_vm()  # what a VM run does first
    assert live.exists() and old_style.exists()


def test_a_dead_runs_qemu_is_found_and_killed(tmp_path: Path) -> None:
    """A process that looks like a VM run's QEMU (argv[0] and -initrd) whose run is dead."""
    import os

    dead = _dead_pid()
    fakes = []
    for owner in (dead, os.getpid()):
        initrd = tmp_path / f"simnuma-vm-{owner}-abc" / "initrd.gz"
        fakes.append(
            subprocess.Popen(
                ["qemu-system-x86_64", "-c", "import time; time.sleep(60)", "-initrd", str(initrd)],
                executable=sys.executable,
            )
        )
    try:
        assert all(running(fake.pid) for fake in fakes)
        expected = [f"qemu {fakes[0].pid} (owner {dead} dead)"]
        assert vm_find(dead) == expected
        assert vm_find(os.getpid()) == []  # its run (this test) is alive
        assert vm_clean(dead) == expected
        assert fakes[0].wait(timeout=10) == -signal.SIGKILL
        assert running(fakes[1].pid)
    finally:
        for fake in fakes:
            fake.kill()
            fake.wait()


def test_realnuma_leftovers_reports_vm_leftovers(
    private_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    left = private_tmp / f"simnuma-vm-{_dead_pid()}-abc"
    left.mkdir()
    assert host_leftovers.main([]) == 1
    assert f"left behind: vm-tmp {left} (owner " in capsys.readouterr().out


@pytest.mark.skipif(not Path(initramfs.BUSYBOX).exists(), reason="needs busybox-static")
def test_qemu_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL to the process that started QEMU: QEMU gets SIGKILL too (not orphaned for
    the rest of its boot), and the run's temp dir is found and cleaned afterwards."""
    env = fake_vm_env(tmp_path)
    script = (
        "from realnuma.vm import kernels, qemu\n"
        "qemu.run_in_guest(kernels.fetch('6.12'), qemu.VmTopology.default(1), ['true'])\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], env=env, text=True)
    qemu_pid = wait_for(tmp_path / "qemu.pid", parent)
    try:
        assert running(qemu_pid)
        parent.kill()
        parent.wait()
        assert gone_within(qemu_pid, 5), "QEMU outlived its killed parent"
        found = vm_leftovers_in(tmp_path / "t", parent.pid)
        assert len(found) == 1 and found[0].startswith("vm-tmp "), found
        cleaned = subprocess.run(
            [sys.executable, "-m", "realnuma.leftovers", "--clean", "--owner", str(parent.pid)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert cleaned.stdout.startswith("removed: vm-tmp ")
        assert list((tmp_path / "t").iterdir()) == []
    finally:
        kill_quietly(qemu_pid, b"sleep")


def vm_leftovers_in(tmp: Path, owner: int) -> list[str]:
    saved = tempfile.tempdir
    tempfile.tempdir = str(tmp)
    try:
        return vm_find(owner)
    finally:
        tempfile.tempdir = saved


def test_a_run_cleans_dead_runs_dirs_first(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later VM run removes what dead runs left (before it makes its own dir)."""
    from realnuma.vm import qemu

    left = private_tmp / f"simnuma-vm-{_dead_pid()}-abc"
    left.mkdir()
    monkeypatch.setattr(qemu.shutil, "which", lambda name: "/bin/false")
    monkeypatch.setattr(qemu.initramfs, "build", lambda *a: (_ for _ in ()).throw(OSError("x")))
    with pytest.raises(OSError):
        qemu.run_in_guest(None, qemu.VmTopology.default(1), ["true"])  # type: ignore[arg-type]
    assert not left.exists()
