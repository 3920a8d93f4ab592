"""Throughput and memory of the simulator at scale (figures go in README).

    python benchmarks/bench_pages.py [--pages 1000000]

Prints pages/s for move_pages() in query mode and in move mode over N touched
pages (one call each, through the Python API, arrays included), and the bytes of
Python heap per touched page.  Targets: query >= 2 M pages/s, move >= 1 M pages/s,
<= 200 bytes per touched page.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

from simnuma import SimKernel
from simnuma.abi import MPOL_MF_MOVE

PAGE = 4096


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.pages

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
    t0 = time.perf_counter()
    query = proc.move_pages(0, pages, None, 0)
    t_query = time.perf_counter() - t0
    assert query.ret == 0 and query.status[0] == 0 and query.status[-1] == 0

    t0 = time.perf_counter()
    moved = proc.move_pages(0, pages, [1] * n, MPOL_MF_MOVE)
    t_move = time.perf_counter() - t0
    assert moved.ret == 0 and moved.status[0] == 1 and moved.status[-1] == 1
    assert kernel.nodes[1].used >= n

    print(f"touched pages:        {n:,}")
    print(f"query (nodes=NULL):   {n / t_query / 1e6:.2f} M pages/s  ({t_query:.2f} s)")
    print(f"move (MPOL_MF_MOVE):  {n / t_move / 1e6:.2f} M pages/s  ({t_move:.2f} s)")
    print(f"memory per page:      {per_page:.0f} bytes")


if __name__ == "__main__":
    main()
