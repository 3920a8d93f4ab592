"""numa-sim-run: what a supervised NUMA call costs, and how it grows with the pages
the program has (every call syncs the mirror from /proc/PID/maps and pagemap).

    python3 benchmarks/bench_sim_run.py [--pages 16384] [--calls 5]

Runs benchmarks/sim_run_calls.c (built with gcc) under the supervisor with N and 4N
touched pages; prints the wall time of the first move_pages() query of all N pages
(the mirror faults each in), of the next ones, and of a get_mempolicy() (no pages:
a round trip and a sync that finds nothing changed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from simnuma import SimKernel
from simnuma.run import Supervisor

HERE = Path(__file__).parent


def measure(exe: str, pages: int, calls: int) -> dict[str, float]:
    with tempfile.TemporaryFile(mode="w+") as out:
        saved = os.dup(1)
        os.dup2(out.fileno(), 1)
        try:
            rc = Supervisor(SimKernel(2), warn=False).run([exe, str(pages), str(calls)])
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        out.seek(0)
        text = out.read()
    if rc != 0:
        raise SystemExit(f"sim_run_calls exited {rc}: {text}")
    return {k: float(v) for k, v in (f.split("=") for f in text.split())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=16384)
    ap.add_argument("--calls", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "sim_run_calls")
        subprocess.run(["gcc", "-O2", "-o", exe, str(HERE / "sim_run_calls.c")], check=True)
        rows = [(n, measure(exe, n, args.calls)) for n in (args.pages, 4 * args.pages)]
    for n, r in rows:
        print(
            f"{n:>8} pages: first query {r['first_us'] / 1000:7.1f} ms "
            f"({r['first_us'] * 1000 / n:5.0f} ns/page), then {r['query_us'] / 1000:7.1f} ms "
            f"({r['query_us'] * 1000 / n:5.0f} ns/page), null {r['null_us'] / 1000:5.1f} ms"
        )
    (_, a), (_, b) = rows
    growth = ", ".join(f"{k[:-3]} x{b[k] / a[k]:.2f}" for k in ("first_us", "query_us", "null_us"))
    print(f"4x the pages: {growth}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
