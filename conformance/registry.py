"""The case registry: ``@case(clause_id, needs=...)`` on a function of an Env."""

from __future__ import annotations

from collections.abc import Callable
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

    @property
    def id(self) -> str:
        return f"{self.clause.id}::{self.name}"


CASES: list[Case] = []


def case(clause_id: str, *, needs: Needs | None = None) -> Callable[[CaseFn], CaseFn]:
    """Register a case that checks clause ``clause_id``."""
    if clause_id not in CLAUSES:
        raise KeyError(f"no clause {clause_id!r} in conformance.clauses")

    def register(fn: CaseFn) -> CaseFn:
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else fn.__name__
        CASES.append(Case(CLAUSES[clause_id], fn.__name__, doc, needs or Needs(), fn))
        return fn

    return register


def all_cases() -> list[Case]:
    """Every registered case (importing the case modules registers them)."""
    import conformance.cases  # noqa: F401

    return list(CASES)
