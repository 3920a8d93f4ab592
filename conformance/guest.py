"""Inside the guest: run the conformance suite on this kernel through the host backend,
and print the results as JSON between the markers (the boot has already taken the CPUs
of CPU-less nodes offline: realnuma.vm.initramfs).

    python -m conformance.guest [--clause PREFIX ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from realnuma.vm.initramfs import BEGIN, END


def reserve_hugepages(count: int) -> None:
    """Give the guest a pool of 2 MiB hugetlb pages (spread over the memory nodes); a
    kernel built without hugetlb (CONFIG_HUGETLBFS) has none, and its cases skip."""
    knob = Path("/proc/sys/vm/nr_hugepages")
    if knob.exists():
        knob.write_text(str(count))


def run(clauses: list[str]) -> dict[str, Any]:
    from conformance.backends import HostBackend
    from conformance.registry import all_cases
    from conformance.runner import run as run_cases

    cases = [c for c in all_cases() if not clauses or c.clause.id.startswith(tuple(clauses))]
    backend = HostBackend()
    results = []
    for case in cases:
        print(f"[guest] {case.id}", file=sys.stderr, flush=True)  # lands in the console log
        results += run_cases([case], [backend])
    return {
        "facts": dataclasses.asdict(backend.facts),
        "results": [
            {
                "case": r.case.id,
                "outcome": r.outcome.value,
                "detail": r.detail,
                "seconds": r.seconds,
                "calls": [_jsonable(c) for c in r.calls],
            }
            for r in results
        ],
    }


def _jsonable(call: tuple[object, ...]) -> list[object]:
    name, ret, err, out = call
    assert out is None or isinstance(out, tuple)
    return [name, ret, err, None if out is None else list(out)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conformance.guest")
    parser.add_argument("--clause", action="append", default=[])
    parser.add_argument("--hugepages", type=int, default=16)
    args = parser.parse_args(argv)
    try:
        reserve_hugepages(args.hugepages)
        payload: dict[str, Any] = run(args.clause)
    except Exception:
        payload = {"error": traceback.format_exc()}
    sys.stdout.write(f"\n{BEGIN}\n{json.dumps(payload)}\n{END}\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
