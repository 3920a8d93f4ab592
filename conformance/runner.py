"""Run cases on backends and render the clause × backend table."""

from __future__ import annotations

import dataclasses
import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from conformance.clauses import CLAUSES
from conformance.env import CaseFailed, Env, Skip
from conformance.registry import Case, known_divergences

if TYPE_CHECKING:
    from conformance.backends import Backend
from conformance.recording import RecordedKernel
from simnuma.abi import SyscallError, errno_name, format_statuses


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "FAIL"
    ERROR = "ERROR"  # set-up broke: not a verdict on the clause
    SKIP = "skip"
    NA = "n/a"  # the clause does not hold in this release


@dataclass(frozen=True)
class Result:
    case: Case
    backend: str
    outcome: Outcome
    detail: str = ""
    calls: tuple[tuple[object, ...], ...] = ()  # every raw call's (name, ret, errno, out)
    seconds: float = 0.0  # wall time of the case, set-up and clean-up included
    # per call, the clauses behind its answers where the backend keeps them (the simulator)
    why: tuple[tuple[str, ...], ...] = ()


def run_case(case: Case, backend: Backend) -> Result:
    start = time.monotonic()
    result = _run_case(case, backend)
    return dataclasses.replace(result, seconds=time.monotonic() - start)


def _run_case(case: Case, backend: Backend) -> Result:
    if not case.clause.holds_in(backend.release):
        return Result(case, backend.label, Outcome.NA, f"holds in {case.clause.releases}")
    try:
        kernel = backend.open(case.needs)
    except Skip as skip:
        return Result(case, backend.label, Outcome.SKIP, str(skip))
    calls: list[tuple[object, ...]] = []
    why: list[tuple[str, ...]] = []
    try:
        case.fn(Env(RecordedKernel(kernel, calls, why), backend.release, case.needs))
    except Skip as skip:
        return Result(case, backend.label, Outcome.SKIP, str(skip))
    except CaseFailed as failed:
        detail = f"{failed} ({location(case, failed)})"
        return Result(case, backend.label, Outcome.FAIL, detail, tuple(calls), why=tuple(why))
    except SyscallError as exc:  # the call under test answered an errno the case did not expect
        err = exc.errno or 0
        because = f"; because {exc.why}" if exc.why else ""
        detail = (
            f"{exc.syscall}: unexpected {errno_name(err)} ({os.strerror(err)}{because}) "
            f"({location(case, exc)})"
        )
        return Result(case, backend.label, Outcome.FAIL, detail, tuple(calls), why=tuple(why))
    except Exception as exc:  # set-up broke: report it, never as a pass
        detail = f"{type(exc).__name__}: {exc} ({location(case, exc)})"
        return Result(case, backend.label, Outcome.ERROR, detail, tuple(calls), why=tuple(why))
    finally:
        kernel.close()
    return Result(case, backend.label, Outcome.PASS, "", tuple(calls), why=tuple(why))


def location(case: Case, exc: BaseException) -> str:
    """``file:line`` of the innermost traceback frame in the case's own module (the
    line of the case that made the failing call), else of the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "no traceback"
    code = getattr(case.fn, "__code__", None)  # the module the case's function lives in
    home = code.co_filename if code is not None else None
    mine = [f for f in frames if f.filename == home]
    where = (mine or frames)[-1]
    return f"{_short(where.filename)}:{where.lineno}"


def _short(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        return path
    return path if rel.startswith(os.pardir) else rel


@dataclass(frozen=True)
class Differential:
    """The simulator against a real kernel, case by case: ``unexpected`` differences
    fail the run; ``known`` ones are those of cases marked ``sim_differs``; ``stale``
    lists marked cases that ran on both and no longer differ (remove the marker)."""

    unexpected: list[str]
    known: list[str]
    stale: list[str]

    def __add__(self, other: Differential) -> Differential:
        return Differential(
            self.unexpected + other.unexpected, self.known + other.known, self.stale + other.stale
        )


def differential(real: Sequence[Result], sim: Sequence[Result]) -> Differential:
    """Cases that ran on a real backend whose raw calls the simulator answered otherwise,
    sorted into unexpected, known (``sim_differs``) and stale markers."""
    by_case = {r.case.id: r for r in sim}
    unexpected: list[str] = []
    known: list[str] = []
    stale: list[str] = []
    for r in real:
        if r.outcome in (Outcome.SKIP, Outcome.NA):
            continue
        twin = by_case.get(r.case.id)
        found = _mismatch(r, twin)
        reason = r.case.sim_differs
        if found is None:
            if reason:
                shown = twin.backend if twin is not None else "the simulator"
                stale.append(
                    f"{r.case.id}: marked sim_differs ({reason}), but {r.backend} and "
                    f"{shown} agree: remove the marker if no kernel differs any more"
                )
        elif reason:
            known.append(f"{found} [known: {reason}]")
        else:
            unexpected.append(found)
    return Differential(unexpected, known, stale)


def differences(real: Sequence[Result], sim: Sequence[Result]) -> list[str]:
    """The unexpected differences alone (see ``differential``)."""
    return differential(real, sim).unexpected


def _mismatch(r: Result, twin: Result | None) -> str | None:
    """How the simulator's run of a case differs from a real kernel's, or None."""
    if twin is None or twin.outcome in (Outcome.SKIP, Outcome.NA):
        return f"{r.case.id}: ran on {r.backend}, not on the simulator ({twin and twin.detail})"
    for i, (a, b) in enumerate(zip(r.calls, twin.calls, strict=False)):
        if a != b:
            said = twin.why[i] if i < len(twin.why) else ()
            because = f" (because {', '.join(said)})" if said else ""
            return (
                f"{r.case.id}: call {i}: {r.backend} {_show(a)} != "
                f"{twin.backend} {_show(b)}{because}"
            )
    if len(r.calls) != len(twin.calls):
        return (
            f"{r.case.id}: {len(r.calls)} calls on {r.backend}, {len(twin.calls)} on {twin.backend}"
        )
    return None


def render_differential(diff: Differential, *, markdown: bool = False) -> str:
    """The differential's lines: DIFFERS, KNOWN, STALE, then its summary line."""
    if markdown:
        lines = [
            f"{len(diff.unexpected)} case(s) where the simulator disagrees with a real kernel "
            f"unexpectedly; {len(diff.known)} known divergence(s); "
            f"{len(diff.stale)} stale marker(s).",
            "",
            *(f"- {line}" for line in diff.unexpected),
            *(f"- known: {line}" for line in diff.known),
            *(f"- stale: {line}" for line in diff.stale),
        ]
        return "\n".join(lines).rstrip() + "\n"
    lines = [f"DIFFERS: {line}" for line in diff.unexpected]
    lines += [f"KNOWN: {line}" for line in diff.known]
    lines += [f"STALE: {line}" for line in diff.stale]
    lines.append(
        f"differential: {len(diff.unexpected)} case(s) where the simulator disagrees"
        + (f" ({len(diff.known)} known divergence(s) besides)" if diff.known else "")
        + (f", {len(diff.stale)} stale sim_differs marker(s)" if diff.stale else "")
    )
    return "\n".join(lines) + "\n"


def _show(call: tuple[object, ...]) -> str:
    name, ret, err, out = call
    assert isinstance(err, int) and (out is None or isinstance(out, tuple))
    if out is None:
        shown = "(output unreadable)"
    else:
        shown = format_statuses(list(out)) if name == "move_pages" else str(list(out))
    return f"{name} -> ret={ret} errno={errno_name(err)} {shown}"


def run(cases: Sequence[Case], backends: Sequence[Backend]) -> list[Result]:
    """Every case on every backend; a backend with ``run_all`` (a VM) runs them at once."""
    results: list[Result] = []
    for backend in backends:
        run_all = getattr(backend, "run_all", None)
        if run_all is not None:
            results += run_all(cases)
        else:
            results += [run_case(case, backend) for case in cases]
    return results


_RANK = {Outcome.FAIL: 0, Outcome.ERROR: 1, Outcome.PASS: 2, Outcome.SKIP: 3, Outcome.NA: 4}


def clause_cells(results: Sequence[Result]) -> dict[tuple[str, str], Result]:
    """The worst result per (clause, backend): one FAIL makes the cell FAIL."""
    cells: dict[tuple[str, str], Result] = {}
    for r in results:
        key = (r.case.clause.id, r.backend)
        if key not in cells or _RANK[r.outcome] < _RANK[cells[key].outcome]:
            cells[key] = r
    return cells


def failed(results: Sequence[Result]) -> bool:
    return any(r.outcome in (Outcome.FAIL, Outcome.ERROR) for r in results)


def render(results: Sequence[Result], backends: Sequence[str], *, markdown: bool = False) -> str:
    """The clause × backend table, every FAIL/ERROR/skip with its reason, then the
    known divergences (cases marked ``sim_differs``) with theirs."""
    cells = clause_cells(results)
    divergent = known_divergences(r.case for r in results)
    clause_ids = [c for c in CLAUSES if any((c, b) in cells for b in backends)]
    notes: list[str] = []

    def cell(cid: str, backend: str) -> str:
        r = cells.get((cid, backend))
        if r is None:
            return ""
        if r.outcome in (Outcome.FAIL, Outcome.ERROR, Outcome.SKIP):
            notes.append(f"{cid} on {backend}: {r.outcome.value}: {r.case.name}: {r.detail}")
            return f"{r.outcome.value} [{len(notes)}]"
        return r.outcome.value

    header = ["clause", *backends]
    rows = [[cid, *(cell(cid, b) for b in backends)] for cid in clause_ids]
    counts = {o: sum(1 for r in results if r.outcome is o) for o in Outcome}
    summary = ", ".join(f"{n} {o.value}" for o, n in counts.items() if n)
    if markdown:
        header[1:1] = ["holds in", "documents", "why it holds where it does"]
        for row in rows:
            clause = CLAUSES[row[0]]
            row[1:1] = [clause.releases, ", ".join(clause.sources), clause.why or "—"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines += ["", f"Cases: {summary}."]
        lines += ["", *(f"{i}. {n}" for i, n in enumerate(notes, 1))] if notes else []
        lines += ["", "## Known divergences", ""]
        lines += [f"- `{c.id}`: {c.sim_differs}" for c in divergent] or [
            "None: no case is marked `sim_differs`."
        ]
        return "\n".join(lines) + "\n"
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["", f"cases: {summary}"]
    lines += [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
    if divergent:
        lines += ["", "known divergences (the simulator knowingly differs from real kernels):"]
        lines += [f"  {c.id}: {c.sim_differs}" for c in divergent]
    return "\n".join(lines) + "\n"


def summary_line(results: Sequence[Result]) -> str:
    """The runner's closing line: 'N passed, N failed, N skipped'."""
    passed = sum(1 for r in results if r.outcome is Outcome.PASS)
    bad = sum(1 for r in results if r.outcome in (Outcome.FAIL, Outcome.ERROR))
    skipped = sum(1 for r in results if r.outcome is Outcome.SKIP)
    return f"conformance: {passed} passed, {bad} failed, {skipped} skipped"
