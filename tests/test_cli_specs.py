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
from conformance.backends import SimBackend, VmBackend, parse_backends

ROOT = str(Path(conformance.__file__).resolve().parent.parent)

BAD_SPECS = {
    # spec: what the message must say
    "sim:nodes=1025": "nodes must be an integer in 1..1024",
    "sim:nodes=1,memoryless=1": "memoryless must be 0..0 with nodes=1 (at least one node",
    "sim:nodes=4,memoryless=4": "memoryless must be 0..3 with nodes=4",
    "sim:nodes=1024,memoryless=0,nodes=2": "'nodes' is given twice",
    "sim:memoryless=5000": "memoryless must be an integer in 0..1024",
    "sim:nodes=2,nodes=3": "'nodes' is given twice",
    "sim:nodes=0": "nodes must be an integer in 1..1024",
    "sim:nodes=x": "not 'x'",
    "sim:nodes=-1": "not '-1'",
    "sim:nodes": "'nodes' is not key=value",
    "sim:colour=red": "unknown options ['colour']",
    "sim:profile=bogus": "'bogus' is not a kernel version",
    "host:foo": "host takes no options but 'libnuma'",
    "cloud": "unknown kind 'cloud'",
    "vm:nodes=3": "vm needs kernel=5.10|6.1|6.12|7.2",
    "vm:kernel=9": "vm needs kernel=5.10|6.1|6.12|7.2, not '9'",
    "vm:kernel=6.12,kernel=6.1": "'kernel' is given twice",
    "vm:kernel=6.12,nodes=100000": "nodes must be an integer in 1..128",
    "vm:kernel=6.12,nodes=129": "nodes must be an integer in 1..128",
    "vm:kernel=6.12,mem=x": "mem must be an integer in 64..",
    "vm:kernel=6.12,mem=16": "mem must be an integer in 64..",
    "vm:kernel=6.12,mem=99999999999": "mem must be an integer in 64..",
    "vm:kernel=6.12,nodes=100,mem=4096": "more than this host has",
    "vm:kernel=6.12,nodes=2,memoryless=2": "memoryless must be 0..1",
    "vm:kernel=6.12,nodes=3,cpuless=2": "cpuless must be 0..1",
    "vm:kernel=6.12,distance=5": "distance must be 11..254",
    "vm:kernel=6.12,distance=255": "distance must be 11..254",
    "vm:kernel=6.12,colour=red": "unknown options ['colour']",
}


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running a case (or booting a guest) at all fails the test: bad input is refused first."""

    def refuse(*args: object, **kw: object) -> object:
        raise AssertionError("the suite ran although the input was bad")

    monkeypatch.setattr(cli, "run", refuse)
    monkeypatch.setattr(VmBackend, "run_all", refuse)


@pytest.mark.parametrize("spec", sorted(BAD_SPECS))
def test_a_bad_spec_exits_2_with_one_message(
    spec: str, no_run: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--backend", spec, "--quiet"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if "error:" in x]
    assert BAD_SPECS[spec] in line, line
    assert line.count(f"backend {spec!r}") == 1, line  # named once, not "backend …: backend …:"
    assert "Traceback" not in err


GOOD_SPECS = {
    "sim:nodes=1024": 1024,  # ids 0..1023, the last memoryless
    "sim:nodes=1024,memoryless=0": 1024,
    "sim:nodes=1024,memoryless=1023": 1024,
    "vm:kernel=6.12,nodes=128,mem=64": 128,
    "vm:kernel=6.12,nodes=1": 1,
}


@pytest.mark.parametrize("spec", sorted(GOOD_SPECS))
def test_the_limits_themselves_are_accepted(spec: str) -> None:
    (backend,) = parse_backends(spec)
    if isinstance(backend, SimBackend):
        assert len(backend.topology().nodes) == GOOD_SPECS[spec]
        assert max(backend.topology().nodes) < backend.max_numnodes
    else:
        assert isinstance(backend, VmBackend)
        assert len(backend.topology.nodes) == GOOD_SPECS[spec]


def test_the_largest_sim_runs() -> None:
    """The bound is the simulator's: a kernel at the limit opens and answers."""
    (backend,) = parse_backends("sim:nodes=1024")
    assert isinstance(backend, SimBackend)
    from conformance.env import Needs

    backend.open(Needs())


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
        ["--backend", "vm:kernel=6.12,nodes=100000"],
        ["--backend", "vm:kernel=6.12,mem=x"],
        ["--backend", "sim:nodes=1025"],
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
