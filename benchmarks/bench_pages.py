"""Throughput, memory and scaling of the simulator (figures go in README).

    python benchmarks/bench_pages.py [--pages 1000000] [--scale-pages 131072] [--repeats 3]

Over ``--pages`` touched pages: touch() in µs per page, move_pages() in query mode
and in move mode (one call each, through the Python API, arrays included) in
pages/s, and the bytes of Python heap per touched page.  Then how cost grows with
the work: touch() and migrate_pages() (small pages, and THPs split on the way as
before 4.14) over N = ``--scale-pages`` and 4N pages, with t(4N)/t(N), which is
about 4 when the cost is linear.  touch() and the scaling figures are the best of
``--repeats`` runs.

Targets: touch <= 1 µs/page, query >= 2 M pages/s, move >= 1 M pages/s,
<= 200 bytes per touched page, t(4N)/t(N) about 4.

Times are CPU time of this process (time.process_time: the simulator is single-threaded),
so other work on a shared machine does not inflate them.  It measures the simulator
of the checkout it lives in.
"""

from __future__ import annotations

import argparse
import functools
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simnuma import SimKernel
from simnuma.abi import MPOL_MF_MOVE

PAGE = 4096


def timed_touch(n: int) -> float:
    """Seconds for one touch() of ``n`` fresh pages."""
    kernel = SimKernel(nodes=2)
    proc = kernel.spawn()
    addr = proc.mmap(n * PAGE)
    gc.collect()
    t0 = time.process_time()
    proc.touch(addr, n * PAGE)
    elapsed = time.process_time() - t0
    assert kernel.nodes[0].used == n
    kernel.close()
    return elapsed


def timed_migrate_pages(n: int, *, thp: bool = False) -> float:
    """Seconds for migrate_pages() of ``n`` touched pages from node 0 to node 1
    (``thp``: 2 MiB THPs at 4.13, which splits each into 512 pages first)."""
    kernel = SimKernel(nodes=2, profile="4.13" if thp else None)
    proc = kernel.spawn()
    addr = proc.mmap(n * PAGE, huge="thp" if thp else None)
    proc.touch(addr, n * PAGE)
    gc.collect()
    t0 = time.process_time()
    left = proc.migrate_pages(0, [0], [1])
    elapsed = time.process_time() - t0
    assert left == 0 and kernel.nodes[1].used == n and kernel.nodes[0].used == 0
    kernel.close()
    return elapsed


def scaling(name: str, unit: str, n: int, repeats: int, run: Callable[[int], float]) -> None:
    small = min(run(n) for _ in range(repeats))
    large = min(run(4 * n) for _ in range(repeats))
    if unit == "us":
        figures = f"{small / n * 1e6:.2f} / {large / (4 * n) * 1e6:.2f} µs/page"
    else:
        figures = f"{small:.3f} s / {large:.3f} s"
    print(f"{name:<28}{figures}  t(4N)/t(N) = {large / small:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--scale-pages", type=int, default=131_072)
    parser.add_argument("--repeats", type=int, default=3, help="time: the best of this many")
    args = parser.parse_args()
    n = args.pages
    scale, repeats = args.scale_pages, args.repeats

    t_touch = min(timed_touch(n) for _ in range(repeats))

    kernel = SimKernel(nodes=2)
    proc = kernel.spawn()
    addr = proc.mmap(n * PAGE)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    proc.touch(addr, n * PAGE)
    gc.collect()
    per_page = (tracemalloc.get_traced_memory()[0] - before) / n
    tracemalloc.stop()

    pages = list(range(addr, addr + n * PAGE, PAGE))
    t0 = time.process_time()
    query = proc.move_pages(0, pages, None, 0)
    t_query = time.process_time() - t0
    assert query.ret == 0 and query.status[0] == 0 and query.status[-1] == 0

    t0 = time.process_time()
    moved = proc.move_pages(0, pages, [1] * n, MPOL_MF_MOVE)
    t_move = time.process_time() - t0
    assert moved.ret == 0 and moved.status[0] == 1 and moved.status[-1] == 1
    assert kernel.nodes[1].used >= n
    kernel.close()
    del pages, query, moved

    print(f"touched pages:              {n:,}")
    print(f"touch:                      {t_touch / n * 1e6:.2f} µs/page  ({t_touch:.2f} s)")
    print(f"query (nodes=NULL):         {n / t_query / 1e6:.2f} M pages/s  ({t_query:.2f} s)")
    print(f"move (MPOL_MF_MOVE):        {n / t_move / 1e6:.2f} M pages/s  ({t_move:.2f} s)")
    print(f"memory per page:            {per_page:.0f} bytes")
    print(f"scaling, N = {scale:,} and 4N = {4 * scale:,} pages (best of {repeats}):")
    scaling("  touch", "us", scale, repeats, timed_touch)
    scaling("  migrate_pages", "s", scale, repeats, timed_migrate_pages)
    thp_split = functools.partial(timed_migrate_pages, thp=True)
    scaling("  migrate_pages, THP split", "s", scale, repeats, thp_split)


if __name__ == "__main__":
    main()
