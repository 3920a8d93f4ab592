"""What a VM run killed by SIGKILL leaves: its ``simnuma-vm-<pid>-*`` temp dir (and, were
the PR_SET_PDEATHSIG of qemu.py defeated, its QEMU).  A run's things are named by the
pid of the process that made them; they are left over once that process is dead.

    python -m realnuma.vm.leftovers [--clean]

``find()`` describes them, ``clean()`` removes them (every VM run does so first); a run
that is still alive is never touched.  realnuma.leftovers reports these too.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from realnuma.procfs import read_stat

PREFIX = "simnuma-vm-"
_OWNED = re.compile(rf"{PREFIX}(\d+)-")


def dir_prefix(owner: int) -> str:
    """The temp dir prefix of a VM run by process ``owner``: ``simnuma-vm-<owner>-``."""
    return f"{PREFIX}{owner}-"


def temp_roots() -> list[Path]:
    """Where the temp dirs are made (tempfile's choice, from TMPDIR), and /tmp."""
    roots: list[Path] = []
    for root in (Path(tempfile.gettempdir()), Path("/tmp")):
        if root.is_dir() and root.resolve() not in [r.resolve() for r in roots]:
            roots.append(root)
    return roots


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def _started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch); None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def owner_alive(owner: int, since: float) -> bool:
    """Whether process ``owner`` is alive and started no later than ``since`` (a pid
    reused by a newer process is not the owner)."""
    started = _started(owner)
    return _running(owner) and started is not None and started <= since + 1


@dataclass(frozen=True)
class Qemu:
    pid: int
    owner: int


def _qemus() -> list[Qemu]:
    """Live QEMUs booting an initrd from a VM run's temp dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not argv or "qemu-system" not in os.path.basename(argv[0]):
            continue
        for arg in argv:
            m = _OWNED.search(arg)
            if m:
                if _running(int(entry.name)):
                    found.append(Qemu(int(entry.name), int(m.group(1))))
                break
    return found


def _running(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is not None and stat.state != "Z"


def leftover_qemus(owner: int | None = None) -> list[Qemu]:
    """QEMUs whose run is dead (only run ``owner``'s when given)."""
    left = []
    for q in _qemus():
        started = _started(q.pid)
        if owner not in (None, q.owner) or started is None:
            continue
        if not owner_alive(q.owner, started):
            left.append(q)
    return left


def leftover_dirs(owner: int | None = None) -> list[Path]:
    """Temp dirs whose run is dead (only run ``owner``'s when given)."""
    left = []
    for root in temp_roots():
        for path in sorted(root.glob(f"{PREFIX}*")):
            m = _OWNED.match(path.name)
            if m is None or owner not in (None, int(m.group(1))):
                continue
            try:
                changed = path.lstat().st_ctime
            except OSError:
                continue
            if not owner_alive(int(m.group(1)), changed):
                left.append(path)
    return left


def find(owner: int | None = None) -> list[str]:
    """One description per leftover QEMU process and temp dir of a dead VM run."""
    return [f"QEMU process {q.pid} of dead VM run {q.owner}" for q in leftover_qemus(owner)] + [
        f"VM temp dir {d}" for d in leftover_dirs(owner)
    ]


def clean(owner: int | None = None) -> list[str]:
    """Kill the leftover QEMUs, remove the leftover temp dirs; what was removed."""
    done = []
    qemus = leftover_qemus(owner)
    for q in qemus:
        try:
            os.kill(q.pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        done.append(f"QEMU process {q.pid} of dead VM run {q.owner}")
    deadline = time.monotonic() + 10
    while any(_running(q.pid) for q in qemus) and time.monotonic() < deadline:
        time.sleep(0.05)  # orphans are reaped by init (or the subreaper)
    for d in leftover_dirs(owner):
        try:
            shutil.rmtree(d)
        except FileNotFoundError:  # another run cleaned it first
            continue
        done.append(f"VM temp dir {d}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realnuma.vm.leftovers")
    parser.add_argument("--clean", action="store_true", help="remove what is left")
    parser.add_argument("--owner", type=int, help="only what run (pid) OWNER left")
    args = parser.parse_args(argv)
    if args.clean:
        for line in clean(args.owner):
            print(f"removed: {line}")
        return 0
    found = find(args.owner)
    for line in found:
        print(f"left behind: {line}")
    if not found:
        print("no VM run left a QEMU or a temp dir behind")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
