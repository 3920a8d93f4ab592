"""The case registry: ``@case(clause_id, needs=..., sim_differs=...)`` on a function of an Env."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from conformance.clauses import CLAUSES, Clause
from conformance.env import Env, Needs

CaseFn = Callable[[Env], None]


@dataclass(frozen=True)
class Case:
    clause: Clause
    name: str
    doc: str
    needs: Needs
    fn: CaseFn
    # Why the simulator knowingly answers otherwise than real kernels here ("" = it
    # does not): the report lists it under "Known divergences", the differential
    # reports its differences as known, and says so when they are gone.
    sim_differs: str = ""

    @property
    def id(self) -> str:
        return f"{self.clause.id}::{self.name}"


# by case id, in registration order
CASES: dict[str, Case] = {}


def case(
    clause_id: str, *, needs: Needs | None = None, sim_differs: str | None = None
) -> Callable[[CaseFn], CaseFn]:
    """Register a case that checks clause ``clause_id``; ``sim_differs="reason"`` marks
    a case where the simulator knowingly differs from real kernels (grep sim_differs)."""
    if clause_id not in CLAUSES:
        raise KeyError(f"no clause {clause_id!r} in conformance.clauses")
    if sim_differs is not None and (not isinstance(sim_differs, str) or not sim_differs.strip()):
        raise ValueError("sim_differs needs the reason the simulator differs, as a string")

    def register(fn: CaseFn) -> CaseFn:
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else fn.__name__
        reason = (sim_differs or "").strip()
        new = Case(CLAUSES[clause_id], fn.__name__, doc, needs or Needs(), fn, reason)
        old = CASES.get(new.id)
        # the same function again is its module imported anew (pytester's in-process runs
        # drop the modules they imported): it replaces itself; another one is a clash
        if old is not None and _origin(old.fn) != _origin(fn):
            raise ValueError(f"case {new.id} is registered twice: {_origin(old.fn)}, {_origin(fn)}")
        CASES[new.id] = new
        return fn

    return register


def _origin(fn: CaseFn) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def known_divergences(cases: Iterable[Case]) -> list[Case]:
    """The cases marked ``sim_differs``, each once, in order."""
    seen: dict[str, Case] = {}
    for c in cases:
        if c.sim_differs and c.id not in seen:
            seen[c.id] = c
    return list(seen.values())


def all_cases() -> list[Case]:
    """Every registered case (importing the case modules registers them)."""
    import conformance.cases  # noqa: F401

    return list(CASES.values())
