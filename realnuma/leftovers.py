"""python -m realnuma.leftovers: fail if any helper process or cpuset of ours is left.

Run last in the test environment, so a leak anywhere in the run is a failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from realnuma.procfs import is_live


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


def cpuset_dirs() -> list[str]:
    roots = [Path("/sys/fs/cgroup/cpuset"), Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")]
    return [str(d) for root in roots if root.is_dir() for d in root.glob("simnuma-*")]


def main() -> int:
    pids, dirs = helper_pids(), cpuset_dirs()
    for pid in pids:
        print(f"left behind: helper process {pid}")
    for d in dirs:
        print(f"left behind: cpuset {d}")
    if not pids and not dirs:
        print("no helper process or cpuset left behind")
    return 1 if pids or dirs else 0


if __name__ == "__main__":
    sys.exit(main())
