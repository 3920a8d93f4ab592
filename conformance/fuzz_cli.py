"""numa-fuzz: random programs on a real kernel and on the simulator mirroring it.

    numa-fuzz --backend host --programs 200 --seed 0 [--save DIR]
    numa-fuzz --backend vm:kernel=5.10,nodes=4 --programs 1000 --seed random
    numa-fuzz --replay FILE [--backend host|vm:...]

Prints programs/s and each kind of disagreement, shrunk to a minimal program, with the
command that replays it; exits 1 if there is any, 3 if a guest could not run.  A vm
backend boots once: the whole campaign (and its shrinking) runs in the guest, against
its kernel and the simulator mirroring it there, and the guest sends back what it
found.  ``--replay`` without ``--backend`` compares the real kernel's answer recorded in
the file with the simulator now.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from conformance.backends import HostBackend, SimBackend, VmBackend, mirror_of, parse_backends
from conformance.env import Needs
from conformance.fuzz import (
    MAX_STEPS,
    Campaign,
    Disagreement,
    campaign,
    difference,
    dumps,
    program_from_json,
    program_to_json,
    run_on,
    save,
)
from realnuma.vm.initramfs import BEGIN, END
from realnuma.vm.kernels import KernelFetchError
from realnuma.vm.qemu import VmError
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
        help="the real kernel: host, host:libnuma, or vm:kernel=RELEASE|PATH[,nodes=N,...] "
        "(as numa-conformance --help lists)",
    )
    ap.add_argument("--programs", type=int, default=100, help="programs to run (default 100)")
    ap.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="hypothesis seed, or 'random' (printed, so that the run can be repeated); default 0",
    )
    ap.add_argument(
        "--max-steps", type=int, default=MAX_STEPS, help=f"steps per program (default {MAX_STEPS})"
    )
    ap.add_argument(
        "--no-read-faults",
        action="store_true",
        help="generate no get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR), the one read fault "
        "(and so the one fault-around) a program makes",
    )
    ap.add_argument(
        "--save",
        metavar="DIR",
        help=f"where disagreements are written (default ./{DEFAULT_SAVE}, only if any); "
        "with --replay and --backend, the replayed program is written there with the real "
        "answer whether or not they agree",
    )
    ap.add_argument(
        "--replay",
        nargs="+",
        metavar="FILE",
        help="run saved programs again (files, or directories of *.json files, in one "
        "boot for a vm backend): on --backend and its mirror, or, without --backend, on "
        "the mirror against the real answer each file recorded; a file marked known or "
        "nondeterministic may disagree",
    )
    # inside a guest: the result as JSON between the markers, for the host to read
    ap.add_argument("--payload", action="store_true", help=argparse.SUPPRESS)
    return ap


def _seed(text: str) -> int | str:
    if text == "random":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer or 'random': {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


RealBackend = HostBackend | VmBackend


def _real(ap: argparse.ArgumentParser, spec: str) -> RealBackend:
    try:
        backends = parse_backends(spec)
    except (ValueError, RuntimeError) as exc:
        ap.error(f"--backend: {exc}")
    if len(backends) != 1 or not isinstance(backends[0], HostBackend | VmBackend):
        ap.error(
            f"--backend: {spec!r} is not a real kernel numa-fuzz can drive "
            "(host, host:libnuma, vm:kernel=...)"
        )
    return backends[0]


def _opener(backend: HostBackend | SimBackend) -> Callable[[], Kernel]:
    return lambda: backend.open(Needs())


def _guest_timeout(programs: int) -> float:
    """A campaign in a guest under software emulation runs about 3 programs/s (and its
    shrinking a few hundred more): allow ten times that, and the boot."""
    return 300.0 + 3.0 * programs


def main(argv: Sequence[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    if args.programs < 1:
        ap.error(f"--programs must be at least 1, got {args.programs}")
    if args.max_steps < 1:
        ap.error(f"--max-steps must be at least 1, got {args.max_steps}")
    seed = random.SystemRandom().randrange(1 << 32) if args.seed == "random" else args.seed
    if args.replay is not None:
        return _replay(ap, args.replay, args.backend, payload=args.payload, save_dir=args.save)
    if args.backend is None:
        ap.error("--backend is required (host, host:libnuma or vm:kernel=...), or --replay FILE")
    real = _real(ap, args.backend)
    if isinstance(real, VmBackend):
        if args.payload:
            ap.error("--payload is what numa-fuzz runs inside a guest: --backend host there")
        guest_args = ["conformance.fuzz_cli", "--backend", "host", "--payload"]
        guest_args += ["--programs", str(args.programs), "--seed", str(seed)]
        guest_args += ["--max-steps", str(args.max_steps)]
        guest_args += ["--no-read-faults"] if args.no_read_faults else []
        try:
            payload = real.run_in_guest(
                guest_args, timeout=_guest_timeout(args.programs), stderr=_to_stderr
            )
        except (KernelFetchError, VmError, OSError, ValueError) as exc:
            print(f"numa-fuzz: {real.label}: {exc}", file=sys.stderr)
            return 3
        facts = payload["facts"]
        result = Campaign.from_json(payload["campaign"])
        label, mirror_label = real.label, real.mirror().label
    else:
        facts = dataclasses.asdict(real.facts)
        mirror = real.mirror()
        sim_run = bool(os.environ.get("NUMA_SIM_RUN"))
        result = campaign(
            _opener(real),
            _opener(mirror),
            facts["online_nodes"],
            programs_count=args.programs,
            seed=seed,
            max_numnodes=facts.get("max_numnodes") or 1024,
            max_steps=args.max_steps,
            read_faults=not args.no_read_faults,
            # under numa-sim-run, a real cpuset, THP or pin is invisible to the simulator
            # answering (realnuma's host backend drops those features there too)
            cpusets=bool(facts.get("cpusets")) and not sim_run,
            thp=_faults_thps(facts) and not sim_run,
            pins=not sim_run,
            progress=_Progress() if args.payload else None,
        )
        label, mirror_label = real.label, mirror.label
    if args.payload:  # the host prints the summary
        _print_payload({"facts": facts, "campaign": result.to_json()})
        return 0
    varied = [d for d in result.disagreements if d.nondeterministic]
    print(
        f"numa-fuzz: {label} vs {mirror_label}, seed {seed}: {result.runs} programs "
        f"(with shrinking) in {result.seconds:.1f} s, {result.rate:.1f} programs/s, "
        f"{len(result.disagreements) - len(varied)} disagreement(s)"
        + (f", {len(varied)} where the real kernel varies" if varied else "")
    )
    for d in result.disagreements:
        path = save(d, args.save or DEFAULT_SAVE, args.backend, facts)
        _show(d)
        print(f"replay: numa-fuzz --replay {path} --backend {args.backend}")
    # a program the real kernel answers in more than one way is recorded (the file
    # holds the evidence), not failed: no single answer can be required of the simulator
    return 1 if len(varied) < len(result.disagreements) else 0


def _faults_thps(facts: dict[str, Any]) -> bool:
    """Whether a helper faults a THP on demand there (HostKernel.features' "thp")."""
    from simnuma.abi.quirks import Quirk, parse_release

    release = parse_release(str(facts["release"]))
    return facts.get("thp") in ("always", "madvise") and Quirk.MADV_POPULATE.holds_in(release)


class _Progress:
    """A line on stderr every 30 s of a campaign (the guest's stderr reaches the user)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, result: Campaign) -> None:
        now = time.monotonic()
        if now - self.last >= 30:
            self.last = now
            print(f"[fuzz] {result.runs} programs", file=sys.stderr, flush=True)


def _to_stderr(data: bytes) -> None:
    sys.stderr.buffer.write(data)
    sys.stderr.buffer.flush()


def _print_payload(value: Any) -> None:
    sys.stdout.write(f"\n{BEGIN}\n{json.dumps(value)}\n{END}\n")
    sys.stdout.flush()


def _show(d: Disagreement) -> None:
    if d.nondeterministic:
        print(f"the real kernel varies ({d.signature}), not shrunk: {d.flaky}")
    elif d.flaky:
        print(f"disagreement ({d.signature}), not shrunk: not deterministic: {d.flaky}")
    else:
        print(f"disagreement ({d.signature}), shrunk to {len(d.program)} step(s):")
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
    real = record.get("real") or {}
    return run_on(_opener(mirror), record["program"], real.get("inos"))


def replay_files(ap: argparse.ArgumentParser, paths: Sequence[str]) -> list[str]:
    """The regression files named: files as given, directories as their ``*.json``."""
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(".json"))
            if not found:
                ap.error(f"--replay: no *.json in {path!r}")
            files += found
        elif os.path.isfile(path):
            files.append(path)
        else:
            ap.error(f"--replay: no such file or directory {path!r}")
    return files


def _replay(
    ap: argparse.ArgumentParser,
    paths: Sequence[str],
    spec: str | None,
    *,
    payload: bool,
    save_dir: str | None,
) -> int:
    files = replay_files(ap, paths)
    records = []
    for path in files:
        try:
            records.append(load(path))
        except (ValueError, json.JSONDecodeError) as exc:
            ap.error(f"--replay: {exc}")
    if spec is None:
        for path, record in zip(files, records, strict=True):
            if record.get("real") is None:
                ap.error(f"--replay: {path} records no real answer; pass --backend")
        answers = [{"real": r["real"], "sim": replay_on_sim(r)} for r in records]
        wheres = [f"{r['backend']} (recorded)" for r in records]
        facts = [r["facts"] for r in records]
    else:
        backend = _real(ap, spec)
        if isinstance(backend, VmBackend):
            # the same replays inside the guest (one boot), on its kernel and the
            # simulator there
            args = ["conformance.fuzz_cli", "--replay", *map(os.path.abspath, files)]
            try:
                answer = backend.run_in_guest(
                    [*args, "--backend", "host", "--payload"], stderr=_to_stderr
                )
            except (KernelFetchError, VmError, OSError, ValueError) as exc:
                print(f"numa-fuzz: {backend.label}: {exc}", file=sys.stderr)
                return 3
            answers = answer["answers"]
            one_facts = answer["facts"]
        else:
            answers = []
            for r in records:
                real = run_on(_opener(backend), r["program"])
                sim = run_on(_opener(backend.mirror()), r["program"], real["inos"])
                answers.append({"real": real, "sim": sim})
            one_facts = dataclasses.asdict(backend.facts)
            if payload:
                _print_payload({"facts": one_facts, "answers": answers})
                return 0
        wheres = [backend.label] * len(files)
        facts = [one_facts] * len(files)
    failed = 0
    for path, record, answer, where, fact in zip(
        files, records, answers, wheres, facts, strict=True
    ):
        failed += _replayed(path, record, answer, where, fact, spec, save_dir)
    if len(files) > 1:
        print(f"numa-fuzz: {len(files)} replayed, {failed} disagree")
    return 1 if failed else 0


def _replayed(
    path: str,
    record: dict[str, Any],
    answer: dict[str, Any],
    where: str,
    facts: dict[str, Any],
    spec: str | None,
    save_dir: str | None,
) -> int:
    """Print one replay; 1 if it disagrees (and its file does not say it may)."""
    program = record["program"]
    real, sim = answer["real"], answer["sim"]
    lines = difference(real, sim)
    print(f"numa-fuzz: replay of {path} ({len(program)} steps) on {where} and the simulator:")
    print(json.dumps(program_to_json(program)))
    # a disagreement is saved like a found one; --save keeps the real answer in any case
    # (a program written by hand becomes a regression file)
    if spec is not None and (lines or save_dir):
        d = Disagreement(program, real, sim)
        print(f"saved with the real answer: {save(d, save_dir or DEFAULT_SAVE, spec, facts)}")
    if not lines:
        print("they agree")
        return 0
    for line in lines:
        print(f"  {line}")
    for excuse in ("known", "nondeterministic"):
        if record.get(excuse):
            print(f"{excuse}: {record[excuse]}")
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
