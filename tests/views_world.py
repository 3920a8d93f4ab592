"""One small world of mappings, built alike on the simulator and on a real kernel (any
backend of the Kernel protocol), for the views' real-kernel agreement test
(tests/test_views_tools.py).  Run as a script in a guest (numa-run), it builds the world
with the host backend and prints, as JSON, what the real tools and files said."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from simnuma.abi import MPOL_INTERLEAVE, MPOL_MF_MOVE

PAGE = 4096
HUGE = 2 << 20
BASE = 0x6000_0000_0000  # the mmap hints: a range no program here uses, 2 MiB aligned
NODE_DIR = Path("/sys/devices/system/node")
NODE_FILES = ("cpumap", "meminfo", "distance", "numastat")
T = TypeVar("T")


def build(kernel: Any, proc: Any) -> dict[str, int]:
    """Map, touch and move: a mapping per kind of page a learner meets, each asked for
    at a fixed hint with a gap around it (so none merge, and both kernels place them at
    the same addresses); the start of each by its label."""
    kernel.run_on(proc, 0)  # first touch: node 0's CPU
    at: dict[str, int] = {}
    slot = iter(range(BASE, BASE + (64 << 20), 4 << 20))
    at["private"] = a = proc.mmap(8 * PAGE, addr=next(slot))
    proc.touch(a, 8 * PAGE)
    pages = [a + i * PAGE for i in range(8)]
    proc.move_pages(0, pages, [0, 0, 1, 0, 2, 2, 2, 2], MPOL_MF_MOVE)
    at["partial"] = b = proc.mmap(4 * PAGE, addr=next(slot))
    proc.touch(b + PAGE, 2 * PAGE)
    at["zero"] = z = proc.mmap(4 * PAGE, addr=next(slot))
    proc.read(z, 4 * PAGE)
    at["shared"] = s = proc.mmap(4 * PAGE, shared=True, addr=next(slot))
    proc.touch(s, 4 * PAGE)
    at["interleave"] = i = proc.mmap(6 * PAGE, addr=next(slot))
    proc.mbind(i, 6 * PAGE, MPOL_INTERLEAVE, [0, 1, 2])
    proc.touch(i, 6 * PAGE)
    at["thp"] = t = proc.mmap(HUGE, huge="thp", addr=next(slot))
    proc.touch(t, HUGE)
    proc.move_pages(0, [t], [2], MPOL_MF_MOVE)
    at["hugetlb"] = h = proc.mmap(HUGE, huge="hugetlb", addr=next(slot))
    proc.touch(h, HUGE)
    f = kernel.create_file(3 * PAGE, name="views-file")
    at["file"] = m = proc.mmap(3 * PAGE, shared=True, file=f, addr=next(slot))
    proc.touch(m, 3 * PAGE)
    return at


def numa_maps_lines(pid: int, starts: dict[str, int]) -> dict[str, str]:
    """The lines of /proc/PID/numa_maps that start at ``starts``, by label."""
    text = Path(f"/proc/{pid}/numa_maps").read_text()
    lines = {int(ln.split()[0], 16): ln for ln in text.splitlines()}
    return {label: lines.get(addr, "") for label, addr in starts.items()}


def maps_names(pid: int, starts: dict[str, int]) -> dict[str, str]:
    """The path /proc/PID/maps gives each mapping of ``starts`` ("" for none)."""
    names = {}
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        names[int(fields[0].split("-")[0], 16)] = fields[5] if len(fields) > 5 else ""
    return {label: names.get(addr, "") for label, addr in starts.items()}


def node_files() -> dict[str, str]:
    """The files numactl -H and numastat read, by their path under NODE_DIR."""
    return {
        f"{d.name}/{name}": (d / name).read_text()
        for d in sorted(NODE_DIR.glob("node[0-9]*"))
        for name in NODE_FILES
    }


def _out(argv: list[str]) -> str:
    env = {**os.environ, "NUMASTAT_WIDTH": "10000000"}  # stdout is a pipe here anyway
    return subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout


def _settled(
    read: Callable[[], T], run: list[str], same: Callable[[T, T], bool], tries: int = 5
) -> tuple[T, str, bool]:
    """``run``'s output with what it read: ``read()`` before and after it, until the
    two are the ``same`` (at most ``tries`` times); whether they were."""
    for _ in range(tries):
        before, out, after = read(), _out(run), read()
        if same(before, after):
            return before, out, True
    return before, out, False


def guest() -> dict[str, Any]:
    from realnuma import HostKernel
    from simnuma.tools import numactl_hardware_from_files

    report: dict[str, Any] = {}
    files, report["numactl"], report["numactl_settled"] = _settled(
        node_files,
        ["numactl", "-H"],
        lambda a, b: numactl_hardware_from_files(a) == numactl_hardware_from_files(b),
    )
    report["node_files"] = files
    report["numastat"] = _out(["numastat"])
    Path("/proc/sys/vm/nr_hugepages").write_text("4")
    with HostKernel() as k:
        p = k.spawn()
        at = build(k, p)
        report["at"] = at
        report["names"] = maps_names(p.pid, at)
        report["lines"] = numa_maps_lines(p.pid, at)
        status = Path(f"/proc/{p.pid}/status").read_text()
        report["pid"], report["comm"] = p.pid, status.split("\n")[0].split("\t")[1]
        report["numa_maps"], report["numastat_p"], report["numastat_p_settled"] = _settled(
            lambda: Path(f"/proc/{p.pid}/numa_maps").read_text(),
            ["numastat", "-p", str(p.pid)],
            lambda a, b: a == b,
        )
        child = p.fork()
        report["forked"] = numa_maps_lines(p.pid, at)
        child.exit()
    return report


if __name__ == "__main__":
    json.dump(guest(), sys.stdout)
