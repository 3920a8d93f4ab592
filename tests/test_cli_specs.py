"""Bad input to numa-conformance: exit status 2 and one clear message naming the
problem, no traceback, before any case runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import conformance
from conformance import cli
from conformance.backends import VmBackend

ROOT = str(Path(conformance.__file__).resolve().parent.parent)


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running a case (or booting a guest) at all fails the test: bad input is refused first."""

    def refuse(*args: object, **kw: object) -> object:
        raise AssertionError("the suite ran although the input was bad")

    monkeypatch.setattr(cli, "run", refuse)
    monkeypatch.setattr(VmBackend, "run_all", refuse)


def test_markdown_to_an_unwritable_path_is_refused_before_the_run(
    tmp_path: Path, no_run: None, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in (tmp_path / "no" / "such" / "dir.md", tmp_path):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["--backend", "sim", "--markdown", str(path)])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"--markdown {path}: cannot write it" in err and "Traceback" not in err


def test_markdown_check_leaves_no_file_and_keeps_an_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check opens the file to append: a new one is removed again if the run stops,
    an existing one keeps its text until the table replaces it."""

    def stop(*args: object, **kw: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run", stop)
    new, old = tmp_path / "new.md", tmp_path / "old.md"
    old.write_text("kept\n")
    for path in (new, old):
        with pytest.raises(KeyboardInterrupt):
            cli.main(["--backend", "sim", "--quiet", "--markdown", str(path)])
    assert not new.exists()
    assert old.read_text() == "kept\n"


def test_markdown_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "table.md"
    argv = ["--backend", "sim", "--clause", "fork", "--quiet", "--markdown", str(out)]
    assert cli.main(argv) == 0
    assert out.read_text().startswith("# Conformance: sim:")


@pytest.mark.parametrize(
    "argv",
    [
        ["--backend", "sim", "--markdown", "/proc/no/such/file.md"],
    ],
)
def test_the_real_command_exits_2_without_a_traceback(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "--quiet", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": ROOT},
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("error:") == 1
    assert done.stdout == ""  # no case ran
