"""Every program numa-fuzz saved in tests/regressions/ (shrunk disagreements between a
real kernel and the simulator): the simulator mirroring that kernel must now give the
answer the real kernel gave."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.fuzz import difference
from conformance.fuzz_cli import load, replay_on_sim

FILES = sorted((Path(__file__).parent / "regressions").glob("*.json"))


def test_there_are_regression_files() -> None:
    assert FILES, "tests/regressions/ holds no program"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_simulator_gives_the_recorded_real_answer(path: Path) -> None:
    record = load(str(path))
    assert difference(record["real"], replay_on_sim(record)) == []
