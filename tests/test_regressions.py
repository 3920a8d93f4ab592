"""Every program numa-fuzz saved in tests/regressions/ (shrunk disagreements between a
real kernel and the simulator): the simulator mirroring that kernel must now give the
answer the real kernel gave.  A file with ``"known"`` records a difference not fixed
yet (the reason): it must still differ (strict xfail), so a fix is noticed; one with
``"nondeterministic"`` records a program the real kernel answered in more than one way
(the evidence), so no single answer can be required."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.fuzz import difference
from conformance.fuzz_cli import load, replay_on_sim

FILES = sorted((Path(__file__).parent / "regressions").glob("*.json"))


def _param(path: Path) -> object:
    record = json.loads(path.read_text())
    known, evidence = record.get("known"), record.get("nondeterministic")
    marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
    if evidence:  # one recorded answer of several the real kernel gives: nothing to require
        marks = [pytest.mark.skip(reason=f"the real kernel is not deterministic: {evidence}")]
    return pytest.param(path, id=path.stem, marks=marks)


def test_there_are_regression_files() -> None:
    assert FILES, "tests/regressions/ holds no program"


@pytest.mark.parametrize("path", [_param(p) for p in FILES])
def test_simulator_gives_the_recorded_real_answer(path: Path) -> None:
    record = load(str(path))
    assert difference(record["real"], replay_on_sim(record)) == []
