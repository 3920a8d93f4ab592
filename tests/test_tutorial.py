"""docs/tutorial.md runs: every example in it is executed and its output compared
(doctest), the last section in a QEMU guest booted from Debian's 6.12 kernel."""

from __future__ import annotations

import doctest
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_tutorial_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the tutorial names docs/tutorial_real.py from the top
    failed, attempted = doctest.testfile(
        str(ROOT / "docs" / "tutorial.md"),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert attempted > 80
    assert failed == 0
