"""python -m realnuma.leftovers: fail if any helper process or cpuset of ours is left.

Run last in the test environment, so a leak anywhere in the run is a failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from realnuma.probe import _read, _under, parse_mountinfo
from realnuma.procfs import is_live
from realnuma.vm import leftovers as vm_leftovers


def helper_pids() -> list[int]:
    """Live processes running realnuma.helper."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"realnuma.helper" in cmdline and is_live(entry.name):
            found.append(int(entry.name))
    return found


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


def main() -> int:
    pids, dirs = helper_pids(), cpuset_dirs()
    for pid in pids:
        print(f"left behind: helper process {pid}")
    for d in dirs:
        print(f"left behind: cpuset {d}")
    vm = vm_leftovers.find()  # VM runs' QEMUs and temp dirs: realnuma/vm/leftovers.py
    print("".join(f"left behind: {line}\n" for line in vm), end="")
    if not pids and not dirs:
        print("no helper process or cpuset left behind")
    return 1 if pids or dirs or vm else 0


if __name__ == "__main__":
    sys.exit(main())
