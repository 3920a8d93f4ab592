"""numa-fuzz: random programs on a real kernel and on the simulator mirroring it.

    numa-fuzz --backend host --programs 200 --seed 0 [--save DIR]
    numa-fuzz --replay FILE [--backend host]

Prints programs/s and each disagreement, shrunk to a minimal program, with the
command that replays it; exits 1 if there is any.  ``--replay`` without ``--backend``
compares the real kernel's answer recorded in the file with the simulator now.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from conformance.backends import HostBackend, SimBackend, mirror_of, parse_backends
from conformance.env import Needs
from conformance.fuzz import (
    MAX_STEPS,
    Disagreement,
    campaign,
    difference,
    dumps,
    program_from_json,
    program_to_json,
    run_on,
    save,
)
from simnuma.abi import Kernel

DEFAULT_SAVE = "numa-fuzz-failures"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="numa-fuzz",
        description="Differential fuzzing: random programs of world-building and NUMA "
        "syscalls on a real kernel and on the simulator mirroring it (its release and "
        "node layout), every answer compared; a disagreement is shrunk to a minimal "
        "program and saved as a replayable JSON file.",
    )
    ap.add_argument(
        "--backend",
        help="the real kernel: host or host:libnuma (vm backends are not supported yet)",
    )
    ap.add_argument("--programs", type=int, default=100, help="programs to run (default 100)")
    ap.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    ap.add_argument(
        "--max-steps", type=int, default=MAX_STEPS, help=f"steps per program (default {MAX_STEPS})"
    )
    ap.add_argument(
        "--no-read-faults",
        action="store_true",
        help="generate no get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR), the one read fault: "
        "the simulator does not fault around yet (a known difference)",
    )
    ap.add_argument(
        "--save",
        metavar="DIR",
        help=f"where disagreements are written (default ./{DEFAULT_SAVE}, only if any)",
    )
    ap.add_argument(
        "--replay",
        metavar="FILE",
        help="run a saved program again: on --backend and its mirror, or, without "
        "--backend, on the mirror against the real answer the file recorded",
    )
    return ap


def _host(ap: argparse.ArgumentParser, spec: str) -> HostBackend:
    try:
        backends = parse_backends(spec)
    except (ValueError, RuntimeError) as exc:
        ap.error(f"--backend: {exc}")
    if len(backends) != 1 or not isinstance(backends[0], HostBackend):
        ap.error(
            f"--backend: {spec!r} is not a real kernel numa-fuzz can drive (host, host:libnuma)"
        )
    return backends[0]


def _opener(backend: HostBackend | SimBackend) -> Callable[[], Kernel]:
    return lambda: backend.open(Needs())


def main(argv: Sequence[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    if args.programs < 1:
        ap.error(f"--programs must be at least 1, got {args.programs}")
    if args.max_steps < 1:
        ap.error(f"--max-steps must be at least 1, got {args.max_steps}")
    if args.replay is not None:
        return _replay(ap, args.replay, args.backend)
    if args.backend is None:
        ap.error("--backend is required (host or host:libnuma), or --replay FILE")
    host = _host(ap, args.backend)
    facts = dataclasses.asdict(host.facts)
    mirror = host.mirror()
    result = campaign(
        _opener(host),
        _opener(mirror),
        facts["online_nodes"],
        programs_count=args.programs,
        seed=args.seed,
        max_numnodes=facts.get("max_numnodes") or 1024,
        max_steps=args.max_steps,
        read_faults=not args.no_read_faults,
    )
    print(
        f"numa-fuzz: {host.label} vs {mirror.label}: {result.runs} programs "
        f"(with shrinking) in {result.seconds:.1f} s, {result.rate:.1f} programs/s, "
        f"{len(result.disagreements)} disagreement(s)"
    )
    for d in result.disagreements:
        path = save(d, args.save or DEFAULT_SAVE, args.backend, facts)
        _show(d)
        print(f"replay: numa-fuzz --replay {path} --backend {args.backend}")
    return 1 if result.disagreements else 0


def _show(d: Disagreement) -> None:
    print(f"disagreement, shrunk to {len(d.program)} step(s):")
    print(dumps(d.program))
    for line in d.lines:
        print(f"  {line}")


def load(path: str) -> dict[str, Any]:
    """A regression file: ``program``, ``backend``, ``facts`` and the ``real`` answer."""
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if not isinstance(record, dict) or not {"program", "facts", "backend"} <= set(record):
        raise ValueError(f"{path}: not a numa-fuzz regression file")
    record["program"] = program_from_json(record["program"])
    return record


def replay_on_sim(record: dict[str, Any]) -> dict[str, Any]:
    """The file's program on the simulator mirroring the kernel it was recorded on."""
    mirror = mirror_of(record["backend"], record["facts"])
    return run_on(_opener(mirror), record["program"])


def _replay(ap: argparse.ArgumentParser, path: str, spec: str | None) -> int:
    if not os.path.isfile(path):
        ap.error(f"--replay: no such file {path!r}")
    try:
        record = load(path)
    except (ValueError, json.JSONDecodeError) as exc:
        ap.error(f"--replay: {exc}")
    program = record["program"]
    if spec is None:
        real, where = record.get("real"), f"{record['backend']} (recorded)"
        if real is None:
            ap.error(f"--replay: {path} records no real answer; pass --backend")
        sim = replay_on_sim(record)
    else:
        host = _host(ap, spec)
        real, where = run_on(_opener(host), program), host.label
        sim = run_on(_opener(host.mirror()), program)
    lines = difference(real, sim)
    print(f"numa-fuzz: replay of {path} ({len(program)} steps) on {where} and the simulator:")
    print(json.dumps(program_to_json(program)))
    if not lines:
        print("they agree")
        return 0
    for line in lines:
        print(f"  {line}")
    if record.get("known"):
        print(f"known: {record['known']}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
