"""numa-sim-run: run an unmodified program on a simulated NUMA machine."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from simnuma.kernel import SimKernel
from simnuma.run.inject import Injection, load_rules
from simnuma.run.seccomp import Unsupported
from simnuma.run.supervisor import ProgramError, Supervisor
from simnuma.topology import NodeSpec, Topology

MIB = 1 << 20


def _ids(text: str) -> list[int]:
    try:
        return sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of node ids (1,3)") from None


def _rule(text: str) -> Injection:
    try:
        return Injection.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="numa-sim-run",
        usage="numa-sim-run [options] -- PROG [ARGS...]",
        description="Run PROG, unmodified (dynamic or static, libc or raw syscalls), with "
        "its NUMA system calls (move_pages, migrate_pages, mbind, set_mempolicy, "
        "get_mempolicy) answered by the simulated kernel, and its view of "
        "/sys/devices/system/node, /proc/PID/status (Mems_allowed) and "
        "/proc/PID/numa_maps showing the simulated nodes.  Its children and what it "
        "execs stay on the same simulated machine.",
        epilog="Exit status: PROG's (128+N for signal N); 127 PROG not found, 126 not "
        "executable, 125 this machine cannot supervise (no seccomp user notification), "
        "2 bad usage.  Injection rules (--inject, one per line in --inject-file): "
        "busy:page=N|all|addr=A, pinned:..., writeback:..., swapped:..., full:node=N "
        "(page=N: the N-th entry of a move_pages() pages array).",
    )
    p.add_argument("--nodes", type=int, default=2, metavar="N", help="NUMA nodes 0..N-1 (2)")
    p.add_argument(
        "--memoryless", type=_ids, default=[], metavar="IDS", help="nodes with no memory"
    )
    p.add_argument("--cpuless", type=_ids, default=[], metavar="IDS", help="nodes with no CPU")
    p.add_argument("--mem", type=int, default=16384, metavar="MIB", help="per node (16384)")
    p.add_argument("--distance", type=int, metavar="D", help="between any two nodes (20)")
    p.add_argument(
        "--profile",
        metavar="RELEASE",
        help="the kernel release to behave as, e.g. 5.10 (default: the newest profile)",
    )
    p.add_argument(
        "--inject", type=_rule, action="append", default=[], metavar="RULE", help="fault injection"
    )
    p.add_argument("--inject-file", metavar="FILE", help="injection rules, one per line")
    p.add_argument("-q", "--quiet", action="store_true", help="no notes on stderr")
    p.add_argument(
        "--trace", action="store_true", help="print each call the simulator answered on stderr"
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="print why the simulator answered each call so (clause, releases, check) on stderr",
    )
    p.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def topology(args: argparse.Namespace) -> Topology:
    if args.nodes < 1:
        raise ValueError(f"--nodes must be at least 1, not {args.nodes}")
    for flag, ids in (("--memoryless", args.memoryless), ("--cpuless", args.cpuless)):
        bad = [n for n in ids if not 0 <= n < args.nodes]
        if bad:
            raise ValueError(f"{flag}: node {bad[0]} is not among 0..{args.nodes - 1}")
    if args.mem < 1:
        raise ValueError(f"--mem must be at least 1 MiB, not {args.mem}")
    specs = {
        n: NodeSpec(0 if n in args.memoryless else args.mem * MIB, n not in args.cpuless)
        for n in range(args.nodes)
    }
    distances = {}
    if args.distance is not None:
        distances = {(a, b): args.distance for a in specs for b in specs if a < b}
    return Topology(specs, distances)


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        p.error("no program: numa-sim-run [options] -- PROG [ARGS...]")
    rules = list(args.inject)
    try:
        if args.inject_file:
            with open(args.inject_file) as f:
                rules += load_rules(f)
        kernel = SimKernel(topology=topology(args), profile=args.profile)
        sup = Supervisor(kernel, rules, warn=not args.quiet, trace=args.trace, explain=args.explain)
    except (ValueError, OSError) as exc:
        p.error(str(exc))
    except Unsupported as exc:
        print(f"numa-sim-run: {exc}", file=sys.stderr)
        return 125
    try:
        return sup.run(command)
    except KeyboardInterrupt:
        return 130  # the program's tree is ended already (the warden saw us stop)
    except ProgramError as exc:
        print(f"numa-sim-run: {exc}", file=sys.stderr)
        return 126 if "not executable" in str(exc) else 127


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
