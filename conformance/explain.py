"""``numa-conformance --explain CLAUSE``: a clause, its documents, releases and reason,
its cases, and each case run on the simulator with the simulator's own account of every
call it made (the same records ``MovePagesResult.explain()`` reads)."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass

from conformance.backends import SimBackend
from conformance.clauses import CLAUSES, Clause
from conformance.env import Needs
from conformance.registry import Case, all_cases
from conformance.runner import Result, run_case
from simnuma.abi.quirks import Release
from simnuma.explain import CallRecord
from simnuma.kernel import SimKernel
from simnuma.profiles import Profile, named_profiles


@dataclass(frozen=True)
class LoggingSim:
    """A simulator backend whose kernels keep every call's record in ``log``."""

    inner: SimBackend
    log: list[CallRecord]

    @property
    def label(self) -> str:
        return self.inner.label

    @property
    def release(self) -> Release:
        return self.inner.release

    def open(self, needs: Needs) -> SimKernel:
        kernel = self.inner.open(needs)
        assert isinstance(kernel, SimKernel)
        kernel.call_log = self.log
        return kernel


def profile_for(clause: Clause) -> Profile | None:
    """The newest named profile where ``clause`` holds (None: no release has it)."""
    for profile in reversed(named_profiles()):
        if clause.holds_in(profile.release):
            return profile
    return None


def run_explained(case: Case, profile: Profile) -> tuple[Result, list[CallRecord]]:
    """``case`` on the default simulated machine at ``profile``, with every call's record."""
    log: list[CallRecord] = []
    result = run_case(case, LoggingSim(SimBackend(profile=profile.name), log))
    return result, log


def cases_of(clause_id: str) -> list[Case]:
    return [c for c in all_cases() if c.clause.id == clause_id]


def explain_clause(clause_id: str) -> str:
    """The text ``--explain`` prints; KeyError naming the clause if there is none."""
    if clause_id not in CLAUSES:
        raise KeyError(clause_id)
    clause = CLAUSES[clause_id]
    out = [
        f"{clause.id}: {clause.text}",
        f"  documents: {', '.join(clause.sources)}",
        f"  holds in: {clause.releases or 'no release'}",
    ]
    if clause.why:
        out.append(f"  why: {clause.why}")
    profile = profile_for(clause)
    for case in cases_of(clause_id):
        fn = inspect.unwrap(case.fn)
        path = os.path.relpath(inspect.getsourcefile(fn) or "?")
        line = inspect.getsourcelines(fn)[1]
        out += ["", f"case {case.name} ({path}:{line}): {case.doc}"]
        out += ["    " + s for s in inspect.getsource(fn).rstrip().splitlines()]
        if profile is None:
            continue
        result, log = run_explained(case, profile)
        out += ["", f"  on the simulator at {profile.name}: {result.outcome}"]
        if result.detail:
            out.append(f"  {result.detail}")
        naming = [r for r in log if clause_id in r.clauses]
        for record in naming or log:
            out += ["", *("  " + s for s in record.explain().splitlines())]
    return "\n".join(out) + "\n"
