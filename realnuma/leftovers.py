"""python -m realnuma.leftovers [--clean] [--owner PID]: what realnuma left behind.

Every kind of leftover, each with the controller that made it (its owner's pid):

- helper processes (``python -m realnuma.helper ... OWNER``);
- cgroups ``simnuma-<owner>-<n>`` and ``simnuma-probe-<owner>`` in every hierarchy;
- ``realnuma-<owner>-*`` directories of files (/dev/shm, or the temp directory);
- ``simnuma-vm-*`` temp directories and the ``qemu-system-*`` processes booted from them
  by the vm backend.

A leftover whose owner is dead is an orphan, and ``--clean`` removes it (helpers and QEMU
killed, cgroups emptied into their hierarchy's root and removed, directories deleted).
Nothing of a live owner is ever touched: other runs may be going on.  An owner is alive
while a process of that pid exists that started before the leftover was made (a reused
pid is not the owner).  Directories named before owners were written in names
(``realnuma-<random>``, ``simnuma-vm-<random>``) are orphans once no process that could
have made them is alive: no process started before them that loads realnuma (for
``realnuma-``) or runs Python (for ``simnuma-vm-``), and no QEMU booted from them.

Exit status: 1 when anything is left (after ``--clean``: anything it could not remove,
or that belongs to a live owner), else 0.  Run last in the test environment, so a leak
anywhere in the run is a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from realnuma.probe import _read, _under, parse_mountinfo, remove_cgroup_dir
from realnuma.procfs import is_live, read_stat

SLACK = 2.0  # seconds: /proc start times are in clock ticks after a whole-second btime

_CGROUP = re.compile(r"simnuma-(?:probe-)?(\d+)(?:-\d+(?:\.\d+)?)?")
_OWNED_DIR = re.compile(r"(?:realnuma|simnuma-vm)-(\d+)-.*")
_DIR_PREFIXES = ("realnuma-", "simnuma-vm-")


def dir_prefix(owner: int) -> str:
    """The temp dir prefix of a VM run by process ``owner``: ``simnuma-vm-<owner>-``."""
    return f"simnuma-vm-{owner}-"


@dataclass(frozen=True)
class Leftover:
    kind: str  # "helper", "qemu", "cgroup", "files" (a realnuma- dir), "vm-tmp"
    where: str  # a path, or a pid
    owner: int | None  # the controller's pid; None when the name does not say
    orphaned: bool  # its owner is dead: --clean removes it

    def __str__(self) -> str:
        if self.owner is None:
            whose = "owner gone" if self.orphaned else "owner unknown, maybe alive"
        else:
            whose = f"owner {self.owner} {'dead' if self.orphaned else 'alive'}"
        return f"{self.kind} {self.where} ({whose})"


# --- processes -----------------------------------------------------------------------
def start_time(pid: int | str) -> float | None:
    """When ``pid`` started, in seconds since the epoch; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        ticks = int(text.rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def owner_alive(owner: int, made: float) -> bool:
    """Whether process ``owner`` lives and started before ``made`` (no reused pid)."""
    started = start_time(owner)
    return started is not None and is_live(owner) and started <= made + SLACK


def _cmdline(pid: int | str) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [os.fsdecode(a) for a in raw.split(b"\0")[:-1]]


def _processes(*, me: bool = False) -> Iterable[tuple[int, list[str]]]:
    """Every process's pid and argv (this one's only with ``me``)."""
    own = -1 if me else os.getpid()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != own:
            argv = _cmdline(entry.name)
            if argv:
                yield int(entry.name), argv


def _helper_owner(argv: list[str]) -> int | None:
    """The OWNER argument of ``python -m realnuma.helper FD UID CAPS VIA OWNER``."""
    i = argv.index("realnuma.helper")
    try:
        return int(argv[i + 5])
    except (IndexError, ValueError):
        return None


def helper_pids(owner: int | None = None) -> list[int]:
    """Live processes running realnuma.helper (only ``owner``'s when given)."""
    return sorted(
        pid
        for pid, argv in _processes()
        if "realnuma.helper" in argv
        and is_live(pid)
        and (owner is None or _helper_owner(argv) == owner)
    )


def _helpers() -> list[Leftover]:
    found = []
    for pid, argv in _processes():
        if "realnuma.helper" not in argv or not is_live(pid):
            continue
        owner = _helper_owner(argv)
        started = start_time(pid)
        orphaned = owner is not None and started is not None and not owner_alive(owner, started)
        found.append(Leftover("helper", str(pid), owner, orphaned))
    return found


def _vm_dir_of(argv: list[str]) -> str | None:
    for arg in argv:
        for part in Path(arg).parts:
            if part.startswith("simnuma-vm-"):
                return part
    return None


def _qemus() -> list[Leftover]:
    """QEMU processes the vm backend booted (their initrd lies in a simnuma-vm- dir)."""
    found = []
    for pid, argv in _processes():
        if not Path(argv[0]).name.startswith("qemu-system") or not is_live(pid):
            continue
        vm_dir = _vm_dir_of(argv)
        if vm_dir is None:
            continue
        owned = _OWNED_DIR.fullmatch(vm_dir)
        stat = read_stat(pid)
        started = start_time(pid)
        if owned is not None:
            owner: int | None = int(owned.group(1))
        else:  # the controller is its parent, until it dies and QEMU is reparented
            owner = stat.ppid if stat is not None and stat.ppid > 1 else None
        orphaned = owner is None or (started is not None and not owner_alive(owner, started))
        found.append(Leftover("qemu", str(pid), owner, orphaned))
    return found


# --- cgroups ---------------------------------------------------------------------------
def cpuset_roots(root: Path = Path("/")) -> list[Path]:
    """Every hierarchy realnuma.cpusets may make its cgroups in: each mounted cgroup v1
    hierarchy with cpuset and each cgroup2 mount (from mountinfo), and the conventional
    places (``sys/fs/cgroup/cpuset``, ``sys/fs/cgroup``, ``sys/fs/cgroup/unified``)."""
    text = _read(root / "proc/self/mountinfo")
    mounted = [_under(root, m.path) for m in parse_mountinfo(text or "")]
    cg = root / "sys/fs/cgroup"
    found: list[Path] = []
    for path in [*mounted, cg / "cpuset", cg, cg / "unified"]:
        if path.is_dir() and path not in found:
            found.append(path)
    return found


def cpuset_dirs(owner: int | None = None, root: Path = Path("/")) -> list[str]:
    """Our cgroups (``simnuma-*``) in every hierarchy; only those process ``owner``
    made (``simnuma-<owner>-<n>``, ``simnuma-probe-<owner>``) when it is given."""
    patterns = ["simnuma-*"] if owner is None else [f"simnuma-{owner}-*", f"simnuma-probe-{owner}"]
    return sorted(
        {str(d) for top in cpuset_roots(root) for pattern in patterns for d in top.glob(pattern)}
    )


def _mtime(path: Path) -> float:
    """When ``path`` was last changed (>= when it was made); now if it cannot be told."""
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def _cgroups(root: Path = Path("/")) -> list[Leftover]:
    found = []
    for d in cpuset_dirs(None, root):
        path = Path(d)
        match = _CGROUP.fullmatch(path.name)
        owner = int(match.group(1)) if match else None
        orphaned = owner is not None and not owner_alive(owner, _mtime(path))
        found.append(Leftover("cgroup", d, owner, orphaned))
    return found


def _remove_cgroup_tree(path: Path) -> str | None:
    """Empty ``path`` and its children into the hierarchy root (its parent), remove them."""
    top = path.parent
    problems: list[str] = []
    for directory in [*sorted((p for p in path.rglob("*") if p.is_dir()), reverse=True), path]:
        for name in ("cgroup.procs", "tasks"):
            with contextlib.suppress(OSError):
                for ident in (directory / name).read_text().split():
                    with contextlib.suppress(OSError):  # gone meanwhile, or a kernel thread
                        (top / name).write_text(ident)
        why = remove_cgroup_dir(directory)
        if why is not None:
            problems.append(why)
    return "; ".join(problems) or None


# --- directories --------------------------------------------------------------------------
def temp_dirs() -> list[Path]:
    """Where realnuma and the vm backend make their directories."""
    found: list[Path] = []
    for d in ("/dev/shm", tempfile.gettempdir(), "/tmp", "/var/tmp"):
        path = Path(d)
        if path.is_dir() and path.resolve() not in [p.resolve() for p in found]:
            found.append(path)
    return found


def _loads_realnuma(pid: int) -> bool:
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return "realnuma/_syscalls" in maps or "realnuma/_libnuma" in maps


def _dirs(places: Sequence[Path] | None = None) -> list[Leftover]:
    found = []
    procs: list[tuple[int, float, list[str]]] | None = None  # who could have made a dir
    loads: dict[int, bool] = {}
    qemu_dirs: set[str] = set()
    for place in temp_dirs() if places is None else places:
        entries: list[Path] = []
        with contextlib.suppress(OSError):
            entries = sorted(place.iterdir())
        for path in entries:
            if not path.name.startswith(_DIR_PREFIXES) or not path.is_dir():
                continue
            kind = "files" if path.name.startswith("realnuma-") else "vm-tmp"
            made = _mtime(path)
            owned = _OWNED_DIR.fullmatch(path.name)
            if owned is not None:
                owner = int(owned.group(1))
                found.append(Leftover(kind, str(path), owner, not owner_alive(owner, made)))
                continue
            # a name without its owner: an orphan once nothing alive could have made it
            if procs is None:
                procs = [
                    (pid, started, argv)
                    for pid, argv in _processes(me=True)
                    if "realnuma.helper" not in argv and (started := start_time(pid)) is not None
                ]
                qemu_dirs = {d for q in _qemus() if (d := _vm_dir_of(_cmdline(q.where)))}
            makers = []
            for pid, started, argv in procs:
                if started > made + SLACK or not is_live(pid):
                    continue
                if kind == "vm-tmp":
                    if "python" in Path(argv[0]).name:
                        makers.append(pid)
                    continue
                if pid not in loads:
                    loads[pid] = _loads_realnuma(pid)
                if loads[pid]:
                    makers.append(pid)
            in_use = path.name in qemu_dirs
            found.append(Leftover(kind, str(path), None, not makers and not in_use))
    return found


# --- all of it ---------------------------------------------------------------------------
def find(owner: int | None = None, *, kinds: Iterable[str] | None = None) -> list[Leftover]:
    """Every leftover (only ``owner``'s when given; only of ``kinds`` when given)."""
    wanted = set(kinds) if kinds is not None else {"helper", "qemu", "cgroup", "files", "vm-tmp"}
    found: list[Leftover] = []
    if "helper" in wanted:
        found += _helpers()
    if "qemu" in wanted:
        found += _qemus()
    if "cgroup" in wanted:
        found += _cgroups()
    if wanted & {"files", "vm-tmp"}:
        found += [d for d in _dirs() if d.kind in wanted]
    return [f for f in found if owner is None or f.owner == owner]


def _kill(pids: list[int], *, group: bool = False) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group and os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(is_live(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.01)


def clean(leftovers: Iterable[Leftover]) -> list[str]:
    """Remove the orphans among ``leftovers`` (never what a live owner has); what could
    not be removed, and why."""
    orphans = [f for f in leftovers if f.orphaned]
    problems: list[str] = []
    _kill([int(f.where) for f in orphans if f.kind == "helper"])
    _kill([int(f.where) for f in orphans if f.kind == "qemu"], group=True)
    for f in orphans:
        if f.kind in ("helper", "qemu") and is_live(f.where):
            problems.append(f"{f}: still running after SIGKILL")
        elif f.kind == "cgroup":
            why = _remove_cgroup_tree(Path(f.where))
            if why is not None:
                problems.append(why)
        elif f.kind in ("files", "vm-tmp"):
            shutil.rmtree(f.where, ignore_errors=True)
            if os.path.exists(f.where):
                problems.append(f"{f}: cannot remove it")
    return problems


_swept = False


def sweep() -> None:
    """Once per process: remove what dead controllers left (a SIGKILL lets none clean up)."""
    global _swept
    if _swept:
        return
    _swept = True
    with contextlib.suppress(Exception):  # best effort: never in the way of a start-up
        clean(find(kinds=("helper", "cgroup", "files")))


def clean_vm() -> list[str]:
    """Kill the QEMUs and remove the ``simnuma-vm-<owner>-*`` dirs of dead VM runs (every
    VM run does so first); what was removed.  Live owners' are never touched."""
    found = [f for f in find(kinds=("qemu", "vm-tmp")) if f.orphaned and f.owner is not None]
    problems = clean(found)
    return [str(f) for f in found if not any(p.startswith(str(f)) for p in problems)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realnuma.leftovers", description=__doc__)
    parser.add_argument("--clean", action="store_true", help="remove leftovers of dead owners")
    parser.add_argument("--owner", type=int, help="only what process OWNER made")
    args = parser.parse_args(argv)
    found = find(args.owner)
    if args.clean:
        for problem in clean(found):
            print(f"cannot clean: {problem}")
        for f in found:
            if f.orphaned:
                print(f"removed: {f}")
        found = find(args.owner)
    for f in found:
        print(f"left behind: {f}")
    if not found:
        print("no helper process, cpuset, file directory, VM temp dir or QEMU left behind")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
