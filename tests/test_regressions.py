"""Every program numa-fuzz saved in tests/regressions/ (shrunk disagreements between a
real kernel and the simulator): the simulator mirroring that kernel must now give the
answer the real kernel gave.  A file with ``"known"`` records a difference not fixed
yet (the reason): it must still differ (strict xfail), so a fix is noticed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.fuzz import difference
from conformance.fuzz_cli import load, replay_on_sim

FILES = sorted((Path(__file__).parent / "regressions").glob("*.json"))


def _param(path: Path) -> object:
    known = json.loads(path.read_text()).get("known")
    marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
    return pytest.param(path, id=path.stem, marks=marks)


def test_there_are_regression_files() -> None:
    assert FILES, "tests/regressions/ holds no program"


@pytest.mark.parametrize("path", [_param(p) for p in FILES])
def test_simulator_gives_the_recorded_real_answer(path: Path) -> None:
    record = load(str(path))
    assert difference(record["real"], replay_on_sim(record)) == []
