"""SIGINT, SIGTERM and SIGKILL into `numa-conformance --backend vm:…`: afterwards no QEMU
of that run and no temp dir of its pid remain (after `python -m realnuma.leftovers
--clean` for SIGKILL, which cannot be cleaned up from inside).

Against a stand-in QEMU (always), and against real boots of Debian's 6.12 kernel at
random moments: SIMNUMA_VM_SIGNAL_RUNS=N runs N of them (`tox -e faults` runs 50);
by default 2 when the kernel is already cached (a killed boot costs only seconds).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vmfakes import ROOT, fake_vm_env, gone_within, kill_quietly, running, wait_for

from realnuma.vm import initramfs
from realnuma.vm.kernels import cache_dir

CLI = [sys.executable, "-m", "conformance", "--quiet"]
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}


def _clean_after_sigkill(env: dict[str, str], owner: int) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "realnuma.leftovers", "--clean", "--owner", str(owner)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _run_dirs(tmpdir: Path, owner: int) -> list[Path]:
    return sorted(tmpdir.glob(f"simnuma-vm-{owner}-*"))


def _run_qemus(owner: int) -> list[int]:
    """Live QEMUs booting from run ``owner``'s temp dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ours = b"qemu-system" in cmdline and f"simnuma-vm-{owner}-".encode() in cmdline
        if ours and running(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path(initramfs.BUSYBOX).exists(), reason="needs busybox-static")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_signal_while_the_guest_runs(tmp_path: Path, signum: signal.Signals) -> None:
    env = fake_vm_env(tmp_path)
    cli = subprocess.Popen(
        [*CLI, "--backend", "vm:kernel=6.12,nodes=1", "--clause", "fork"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    qemu = wait_for(tmp_path / "qemu.pid", cli)
    try:
        assert _run_dirs(tmp_path / "t", cli.pid)
        cli.send_signal(signum)
        _, err = cli.communicate(timeout=30)
        assert cli.returncode == EXIT[signum], err
        assert gone_within(qemu, 5), "QEMU outlived the run"
        if signum == signal.SIGKILL:
            _clean_after_sigkill(env, cli.pid)
        else:
            assert f"numa-conformance: stopped by {signum.name}" in err
            assert "Traceback" not in err
        assert _run_dirs(tmp_path / "t", cli.pid) == []
    finally:
        kill_quietly(qemu, b"sleep")
        if cli.poll() is None:
            cli.kill()
            cli.wait()


@pytest.mark.skipif(not Path(initramfs.BUSYBOX).exists(), reason="needs busybox-static")
def test_an_ignored_sighup_stays_ignored(tmp_path: Path) -> None:
    """Started under nohup (SIGHUP ignored), a run goes on when the terminal goes."""
    env = fake_vm_env(tmp_path)
    cli = subprocess.Popen(
        [*CLI, "--backend", "vm:kernel=6.12,nodes=1", "--clause", "fork"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    qemu = wait_for(tmp_path / "qemu.pid", cli)
    try:
        cli.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert cli.poll() is None and running(qemu)
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=30) == EXIT[signal.SIGTERM]
        assert _run_dirs(tmp_path / "t", cli.pid) == []
    finally:
        kill_quietly(qemu, b"sleep")
        if cli.poll() is None:
            cli.kill()
        cli.communicate()


def _kernel_cached() -> bool:
    return (cache_dir() / "kernels" / "6.12" / "kernel.txt").exists()


def _runs() -> int:
    value = os.environ.get("SIMNUMA_VM_SIGNAL_RUNS")
    if value is not None:
        return int(value)
    return 2 if _kernel_cached() else 0


def _handlers_installed(pid: int) -> bool:
    """Whether the CLI catches SIGTERM yet (SigCgt of /proc/<pid>/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(next(x for x in status.splitlines() if x.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


REAL_RUNS = _runs()


@pytest.mark.skipif(
    REAL_RUNS == 0,
    reason="real boots: set SIMNUMA_VM_SIGNAL_RUNS=N (tox -e faults), or cache "
    "the 6.12 kernel (numa-conformance --backend vm:kernel=6.12) for the default 2",
)
@pytest.mark.skipif(not Path(initramfs.BUSYBOX).exists(), reason="needs busybox-static")
@pytest.mark.parametrize("run", range(REAL_RUNS))
def test_a_signal_at_a_random_moment_into_a_real_boot(run: int, tmp_path: Path) -> None:
    """One random signal (SIGKILL, SIGTERM, SIGINT in turn) at a random moment of a boot
    of the 6.12 kernel with a few clauses (~20 s when left alone)."""
    seed = int(os.environ.get("SIMNUMA_VM_SIGNAL_SEED", time.time_ns()))
    rng = random.Random(seed * 1000 + run)
    signum = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT][run % 3]
    delay = rng.uniform(0, 20)
    (tmp_path / "t").mkdir()
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONSAFEPATH": "1", "TMPDIR": str(tmp_path / "t")}
    cli = subprocess.Popen(
        [*CLI, "--backend", "vm:kernel=6.12,nodes=2", "--clause", "cpuset"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    note = f"seed {seed}, run {run}: {signum.name} after {delay:.1f} s"
    try:
        deadline = time.monotonic() + 30
        while not _handlers_installed(cli.pid) and cli.poll() is None:
            assert time.monotonic() < deadline, note
            time.sleep(0.005)
        time.sleep(delay)
        qemus = _run_qemus(cli.pid)
        cli.send_signal(signum)
        _, err = cli.communicate(timeout=120)
        print(f"{note}: exit {cli.returncode}, QEMU was {'up' if qemus else 'not up'}")
        assert "Traceback" not in err, f"{note}\n{err}"
        if cli.returncode in (0, 1):  # it finished first
            pass
        elif signum == signal.SIGKILL:
            assert cli.returncode == -signal.SIGKILL, f"{note}\n{err}"
            for pid in qemus:
                assert gone_within(pid, 5), f"{note}: QEMU {pid} outlived the run"
            _clean_after_sigkill(env, cli.pid)
        else:
            assert cli.returncode == EXIT[signum], f"{note}\n{err}"
            assert f"stopped by {signum.name}" in err, f"{note}\n{err}"
        deadline = time.monotonic() + 5
        while _run_qemus(cli.pid) and time.monotonic() < deadline:  # started after the look
            time.sleep(0.05)
        assert _run_qemus(cli.pid) == [], note
        assert _run_dirs(tmp_path / "t", cli.pid) == [], note
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
        for pid in _run_qemus(cli.pid):
            kill_quietly(pid, b"qemu-system")
