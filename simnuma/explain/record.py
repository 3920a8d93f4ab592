"""One simulated syscall as it was decided: the answer and every status it stored,
each with the clause and the source line that decided it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import CodeType
from typing import Any

from simnuma.explain.answers import Because


@dataclass(frozen=True)
class Decision:
    """A value and what decided it: registry clause ids and the deciding line."""

    value: int
    clauses: tuple[str, ...]
    code: CodeType
    line: int

    @classmethod
    def of(cls, value: int, clauses: tuple[str, ...], code: CodeType, line: int) -> Decision:
        """``value``'s own reason if it carries one, else ``clauses`` at ``code:line``."""
        if isinstance(value, Because):
            return cls(int(value), value.clauses, value.code, value.line)
        return cls(int(value), clauses, code, line)


@dataclass(frozen=True)
class _Store:
    first: int  # index of values[0] in the status array
    values: Sequence[int]
    clauses: tuple[str, ...]  # for values that carry no reason of their own
    code: CodeType
    line: int
    pages: Sequence[tuple[str, ...]] | None  # what is said of each entry's page, if any


class CallRecord:
    """A NUMA syscall of the simulator: ``name``, its registers, the release, the
    answer (``ret``, ``errno``) and, for move_pages, every status entry written.

    The simulator fills it while the call runs (``store``, ``finish``); it keeps
    references to the lists the call built, so recording costs one append per store.
    """

    def __init__(self, name: str, args: tuple[int, ...], release: str) -> None:
        self.name = name
        self.args = args
        self.release = release
        self.ret = 0
        self.errno = 0
        self.answer: Decision | None = None
        self.path: list[Decision] = []  # what happened on the way (note())
        self.queued: set[object] = set()  # folios this call isolated (same page twice)
        # what happened to a folio on its way (split, written out, waited for), by folio
        self.folio_notes: dict[object, tuple[str, ...]] = {}
        self._stores: list[_Store] = []

    def store(
        self,
        first: int,
        values: Sequence[int],
        *clauses: str,
        pages: Sequence[tuple[str, ...]] | None = None,
    ) -> None:
        """Status entries ``first, first + 1, ...`` were written with ``values``; an entry
        that is no ``Because`` was decided by ``clauses`` at the caller's line; ``pages``:
        the clauses said of each entry's page (``Frame.why``: how it was placed)."""
        frame = sys._getframe(1)
        self._stores.append(_Store(first, values, clauses, frame.f_code, frame.f_lineno, pages))

    def note_folio(self, folio: object, *clauses: str) -> None:
        """``clauses`` name what happened to ``folio`` (its entry's status says them)."""
        self.folio_notes[folio] = self.folio_notes.get(folio, ()) + clauses

    def note(self, *clauses: str) -> None:
        """Something on the way to the answer that the clauses name: a permission the
        caller had, a THP split, pages left alone.  No clauses: nothing to say."""
        if clauses:
            frame = sys._getframe(1)
            self.path.append(Decision(0, clauses, frame.f_code, frame.f_lineno))

    def finish(self, answer: int, fallback: tuple[str, ...], code: CodeType, line: int) -> None:
        """The syscall returned ``answer`` (as the kernel does: >= 0 or -errno)."""
        self.answer = Decision.of(answer, fallback, code, line)
        value = int(answer)
        self.ret, self.errno = (-1, -value) if value < 0 else (value, 0)
        # the call's scratch holds its folios: a record kept after it must not
        self.queued = set()
        self.folio_notes = {}

    def statuses(self) -> dict[int, Decision]:
        """The decision behind each status entry the call wrote, the last write winning."""
        out: dict[int, Decision] = {}
        for s in self._stores:
            alike: dict[tuple[int, tuple[str, ...]], Decision] = {}  # one per kind of entry
            for k, v in enumerate(s.values):
                said = s.pages[k] if s.pages is not None else ()
                if isinstance(v, Because):
                    d = Decision(int(v), v.clauses + said, v.code, v.line)
                else:
                    d = alike.get((v, said)) or alike.setdefault(
                        (v, said), Decision(v, s.clauses + said, s.code, s.line)
                    )
                out[s.first + k] = d
        return out

    def explain(self, pages: Sequence[int] | None = None) -> str:
        """The account of the call for people (``pages``: the addresses, to show)."""
        from simnuma.explain.render import render

        return render(self, pages)

    def reason(self) -> str:
        """One line: what decided the return value (an error's reason)."""
        from simnuma.explain.render import reason

        return reason(self)

    @property
    def clauses(self) -> set[str]:
        """Every clause the call's answer and statuses name."""
        named = set(self.answer.clauses if self.answer else ())
        for d in self.path:
            named.update(d.clauses)
        for d in self.statuses().values():
            named.update(d.clauses)
        return named


class IdleRecord(CallRecord):
    """The record outside any syscall (world-building that reuses the syscalls' code,
    a cpuset's memory_migrate): it keeps nothing."""

    def __init__(self) -> None:
        super().__init__("", (), "")

    def _keep_nothing(self, *args: Any, **kwargs: Any) -> None:
        pass

    store = note = note_folio = _keep_nothing


IDLE = IdleRecord()
