"""numa-conformance: the conformance table, clause × backend."""

from __future__ import annotations

import argparse
import difflib
import os
import signal
import sys
from collections.abc import Sequence

from conformance.backends import Backend, HostBackend, VmBackend, backend_help, parse_backends
from conformance.registry import all_cases
from conformance.reports import Pair, to_json, to_junit, version, write_json, write_junit
from conformance.runner import (
    Differential,
    Outcome,
    differential,
    failed,
    render,
    render_differential,
    run,
    summary_line,
)
from realnuma.stopping import Stopped, stopped_by_signals

MARKDOWN_LEGEND = """\
Cells: `pass`; `FAIL` (the backend does not do what the clause says, or a call under
test answered an errno the case did not expect); `ERROR` (set-up broke); `skip` (the
backend cannot set the case up; the reason is in the notes); `n/a` (the clause does
not hold in that release). A `sim(...)` column is the simulator at the
real kernel's release and node layout; with `--compare`, every raw call of every case
that ran on the real kernel returned the same value, errno and status array there,
except in the known divergences (cases marked `sim_differs`, listed with the reason).
Documents: `man-3.07` move_pages.2 (man-pages 3.07), `commit-2006` 742755a1d8ce,
`man-fr-3.65` the French page, `migrate_pages.2-6.03`; `kernel`: no document says so.

"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="numa-conformance",
        description="Run the NUMA page-migration conformance suite and print clause × backend.",
        epilog=backend_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--backend",
        action="append",
        metavar="SPEC",
        help="where to run the suite (repeatable; default: sim); the specs are listed below",
    )
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write every case × backend as JSON: outcome, clause, detail, raw calls",
    )
    parser.add_argument(
        "--junit-xml",
        metavar="FILE",
        help="also write JUnit XML for CI (skip and n/a as skipped, FAIL/ERROR as failures)",
    )
    parser.add_argument(
        "--version", action="version", version=f"numa-conformance (simnuma) {version()}"
    )
    parser.add_argument(
        "--list-clauses",
        action="store_true",
        help="list the clauses (those of --clause PREFIX only, if given) and exit",
    )
    parser.add_argument(
        "--list-profiles",
        action="store_true",
        help="list the simulator's profiles, their releases and quirk changes, and exit",
    )
    parser.add_argument("--probe", action="store_true", help="describe this host and exit")
    parser.add_argument(
        "--explain",
        metavar="CLAUSE",
        help="print the clause, its documents, releases and reason, and its cases run on "
        "the simulator with the reason for every answer, and exit",
    )
    parser.add_argument(
        "--clause", action="append", metavar="PREFIX", help="only clauses starting with PREFIX"
    )
    parser.add_argument("--quiet", action="store_true", help="print only problems and the summary")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run the simulator mirroring each real backend and require identical calls",
    )
    args = parser.parse_args(argv)
    try:
        with stopped_by_signals():
            return _main(parser, args, argv)
    except Stopped as exc:
        name = signal.Signals(exc.signum).name
        print(f"numa-conformance: stopped by {name}", file=sys.stderr)
        return 128 + exc.signum


def _writable(path: str) -> str | None:
    """Why ``path`` cannot be written, or None; a file made for the check is removed."""
    existed = os.path.lexists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    if not existed:
        os.unlink(path)
    return None


def _main(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str] | None
) -> int:
    for option, path in (
        ("--markdown", args.markdown),
        ("--json", args.json),
        ("--junit-xml", args.junit_xml),
    ):
        if path is not None:
            problem = _writable(path)
            if problem:
                parser.error(f"{option} {path}: cannot write it: {problem}")
    if args.list_profiles:
        print(list_profiles(), end="")
        return 0
    if args.list_clauses:
        text = list_clauses(args.clause or [])
        if not text:
            parser.error(f"no clause starts with {args.clause}")
        print(text, end="")
        return 0
    if args.explain is not None:
        from conformance.explain import explain_clause

        try:
            print(explain_clause(args.explain), end="")
        except KeyError:
            from conformance.clauses import CLAUSES

            near = difflib.get_close_matches(args.explain, list(CLAUSES), n=8, cutoff=0.6)
            hint = "; clauses near it: " + ", ".join(near) if near else ""
            parser.error(f"--explain: no clause {args.explain!r}{hint} (--list-clauses)")
        return 0
    if args.probe:
        from realnuma.probe import describe, probe

        facts = probe()
        print(describe(facts))
        print(f"simnuma profile: {_profile_name(facts.release)}")
        return 0
    try:
        backends: list[Backend] = [
            b for spec in args.backend or ["sim"] for b in parse_backends(spec)
        ]
    except ValueError as exc:
        parser.error(str(exc))
    cases = all_cases()
    if args.clause:
        cases = [c for c in cases if any(c.clause.id.startswith(p) for p in args.clause)]
        if not cases:
            parser.error(f"no clause starts with {args.clause}")
    results = run(cases, backends)
    reals = [b for b in backends if isinstance(b, HostBackend | VmBackend)]
    booted = [b for b in reals if not (isinstance(b, VmBackend) and b.facts is None)]
    mirrors = [b.mirror() for b in booted] if args.compare else []
    results += run(cases, mirrors)
    labels = [b.label for b in [*backends, *mirrors]]
    if args.quiet:
        for r in results:
            if r.outcome in (Outcome.FAIL, Outcome.ERROR):
                print(f"{r.outcome.value}: {r.case.id} on {r.backend}: {r.detail}")
    else:
        print(render(results, labels), end="")
    diff = Differential([], [], [])
    pairs: list[Pair] = []
    for real, mirror in zip(booted, mirrors, strict=False):
        ran = [r for r in results if r.backend == real.label]
        found = differential(ran, [r for r in results if r.backend == mirror.label])
        compared = tuple(r.case.id for r in ran if r.outcome not in (Outcome.SKIP, Outcome.NA))
        pairs.append(Pair(real.label, mirror.label, compared, found))
        diff += found
    command = " ".join(["numa-conformance", *(argv if argv is not None else sys.argv[1:])])
    everyone: list[object] = [*backends, *mirrors]
    try:
        if args.json:
            report = to_json(
                results, everyone, command=command, pairs=pairs if args.compare else None
            )
            write_json(args.json, report)
        if args.junit_xml:
            write_junit(
                args.junit_xml, to_junit(results, everyone, pairs=pairs if args.compare else None)
            )
    except OSError as exc:  # checked before the run; it can still go (a full disk)
        print(f"numa-conformance: error: {exc}", file=sys.stderr)
        return 2
    if args.markdown:
        text = f"# Conformance: {', '.join(labels)}\n\nProduced by `{command}`.\n\n"
        text += MARKDOWN_LEGEND + render(results, labels, markdown=True)
        if args.compare:
            text += "\n## Differential\n\n" + render_differential(diff, markdown=True)
        try:
            with open(args.markdown, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:  # checked before the run; it can still go (a full disk)
            print(f"numa-conformance: error: --markdown {args.markdown}: {exc}", file=sys.stderr)
            return 2
    if args.compare:
        print(render_differential(diff), end="")
    print(summary_line(results))
    return 1 if failed(results) or diff.unexpected else 0


def list_clauses(prefixes: Sequence[str]) -> str:
    """``--list-clauses``: id, releases, documents and text of each clause, one block each."""
    from conformance.clauses import CLAUSES

    chosen = [c for c in CLAUSES.values() if not prefixes or c.id.startswith(tuple(prefixes))]
    lines = []
    for c in chosen:
        lines.append(f"{c.id}  [{c.releases}]  ({', '.join(c.sources)})")
        lines.append(f"    {' '.join(c.text.split())}")
    return "\n".join(lines) + "\n" if lines else ""


def list_profiles() -> str:
    """``--list-profiles``: each profile, the releases it covers, the quirks that change."""
    from simnuma.abi.quirks import Quirk, format_release
    from simnuma.profiles import named_profiles

    profiles = named_profiles()
    lines = ["profile (sim:profile=NAME or any release in it): quirks gained (+) and lost (-)"]
    previous: frozenset[Quirk] = frozenset()
    for i, p in enumerate(profiles):
        end = profiles[i + 1].release if i + 1 < len(profiles) else None
        span = (
            f"{format_release(p.release)}+"
            if end is None
            else (f"{format_release(p.release)} to before {format_release(end)}")
        )
        lines.append(f"{p.name}  ({span})")
        quirks = p.quirks
        gained = sorted(q.name for q in quirks - previous)
        lost = sorted(q.name for q in previous - quirks)
        if i == 0:
            lines.append(f"    {len(quirks)} quirks: " + (", ".join(gained) or "none"))
        else:
            lines += [f"    + {name}" for name in gained] + [f"    - {name}" for name in lost]
        previous = quirks
    return "\n".join(lines) + "\n"


def _profile_name(release: str) -> str:
    """The simulator profile that matches a host release (for --probe)."""
    from simnuma.profiles import resolve_profile

    try:
        return resolve_profile(release).name
    except ValueError as exc:
        return f"unknown ({exc})"


if __name__ == "__main__":
    sys.exit(main())
