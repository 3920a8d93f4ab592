"""A stand-in kernel package and QEMU for the VM backend's fault tests: the real code
path (fetch from the cache, initramfs, Popen of "qemu-system-x86_64") without a boot."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import conformance
from realnuma.procfs import read_stat

ROOT = str(Path(conformance.__file__).resolve().parent.parent)
FAKE_VERSION = "6.12.0-fake"


def fake_vm_env(tmp: Path) -> dict[str, str]:
    """An environment where kernel 6.12 is cached (a fake one) and qemu-system-x86_64 is
    a script that writes its pid to ``tmp/qemu.pid`` and sleeps; TMPDIR is ``tmp/t``."""
    tree = tmp / "cache" / "simnuma" / "kernels" / "6.12"
    (tree / "tree" / "lib" / "modules" / FAKE_VERSION).mkdir(parents=True)
    (tree / "tree" / "boot").mkdir()
    (tree / "tree" / "boot" / f"vmlinuz-{FAKE_VERSION}").write_bytes(b"")
    (tree / "kernel.txt").write_text(FAKE_VERSION + "\n")
    bin_ = tmp / "bin"
    bin_.mkdir()
    qemu = bin_ / "qemu-system-x86_64"
    # exec: the sleeping process is the one Popen started (PR_SET_PDEATHSIG survives exec)
    qemu.write_text(f"#!/bin/sh\necho $$ > {tmp / 'qemu.pid.new'}\n"
                    f"mv {tmp / 'qemu.pid.new'} {tmp / 'qemu.pid'}\nexec sleep 300\n")  # fmt: skip
    qemu.chmod(0o755)
    (tmp / "t").mkdir()
    return {
        **os.environ,
        "PATH": f"{bin_}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "TMPDIR": str(tmp / "t"),
        "PYTHONPATH": ROOT,
        "PYTHONSAFEPATH": "1",  # not the current directory: a checkout has no binding
        "SIMNUMA_ACCEL": "tcg",  # no KVM probe: it would run the stand-in QEMU too
    }


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> int:
    """The pid written to ``path`` once it appears (while ``proc`` runs)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"exited {proc.returncode} first: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)
    return int(path.read_text())


def running(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is not None and stat.state != "Z"


def gone_within(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def kill_quietly(pid: int, marker: bytes) -> None:
    """Test clean-up: a process the test started that is still there (checked by a
    ``marker`` in its command line, so that a reused pid is left alone)."""
    try:
        if marker in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, 9)
    except (OSError, ProcessLookupError):
        pass
