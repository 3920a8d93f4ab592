"""numa-fuzz: programs are plain data, the executor is deterministic, an injected
simulator bug is found and shrunk, and the simulator agrees with this machine's kernel."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from conformance.backends import HostBackend, SimBackend
from conformance.env import Needs
from conformance.fuzz import (
    Step,
    campaign,
    difference,
    program_from_json,
    program_to_json,
    programs,
    run_on,
)
from conformance.fuzz_cli import main
from simnuma.abi import Kernel, pack_ints, unpack_ints
from simnuma.process import SimProcess

SIM = SimBackend()  # three nodes with memory, one without
SIM_NODES = list(range(SIM.memory_nodes + SIM.memoryless_nodes))
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the host backend needs root")


def _sim() -> Kernel:
    return SIM.open(Needs())


@settings(max_examples=60, deadline=None, database=None)
@given(programs(SIM_NODES))
def test_program_json_round_trip(program: list[Step]) -> None:
    text = json.dumps(program_to_json(program))
    assert program_from_json(json.loads(text)) == program


def test_bad_programs_are_refused() -> None:
    with pytest.raises(ValueError, match="op: unknown operation"):
        Step("reboot", ())
    with pytest.raises(ValueError, match="program must be a list"):
        program_from_json({"op": "mmap"})
    with pytest.raises(ValueError, match="step must be a list"):
        program_from_json([[]])
    with pytest.raises(ValueError, match="step argument"):
        program_from_json([["mmap", "0"]])


@settings(max_examples=30, deadline=None, database=None)
@given(programs(SIM_NODES))
def test_same_program_same_observation(program: list[Step]) -> None:
    first = run_on(_sim, program)
    assert run_on(_sim, program) == first
    json.dumps(first)  # plain data


def test_observation_sees_pages_and_calls() -> None:
    program = [
        Step("mmap", (0, 2, 0, 1)),
        Step("write", (0, 0, 1, 7)),
        Step("move_pages", (0, -1, ((0, 0, 0), (0, 1, 0)), (2, 1), 2)),
        Step("move_pages", (0, -2, ((0, 0, 0),), None, 0)),
    ]
    seen = run_on(_sim, program)
    assert seen["calls"][0] == ["move_pages", 0, 0, [2, 1]]
    assert seen["calls"][1][:3] == ["move_pages", -1, 3]  # ESRCH
    assert seen["nodes"] == [[0, 0, [0, [2, 1]]]]
    assert len(seen["contents"]) == 1


@pytest.fixture
def enoent_as_efault(monkeypatch: pytest.MonkeyPatch) -> Callable[[], Kernel]:
    """A simulator whose move_pages reports a page not present as -EFAULT (only the
    kernels the returned opener makes; the reference kernels stay right)."""
    original = SimProcess.syscall

    def buggy(self: SimProcess, name: str, *args: int) -> tuple[int, int]:
        ret, err = original(self, name, *args)
        if name == "move_pages" and getattr(self.kernel, "buggy", False) and args[1] > 0:
            status = unpack_ints(self.read_bytes(args[4], 4 * args[1]))
            self.write_bytes(args[4], pack_ints([-14 if s == -2 else s for s in status]))
        return ret, err

    monkeypatch.setattr(SimProcess, "syscall", buggy)

    def open_buggy() -> Kernel:
        kernel = _sim()
        kernel.buggy = True  # type: ignore[attr-defined]
        return kernel

    return open_buggy


def test_an_injected_bug_is_found_and_shrunk(enoent_as_efault: Callable[[], Kernel]) -> None:
    result = campaign(_sim, enoent_as_efault, SIM_NODES, programs_count=50, seed=0)
    # the bug shows in the final query, and in the query a pin makes first (its own kinds)
    assert all("-14" in " ".join(d.lines) for d in result.disagreements)
    found = {d.signature: d for d in result.disagreements}["nodes:-2->-14"]
    # minimal: one page mapped, never touched; the final query says -ENOENT, the bug -EFAULT
    assert found.program == [Step("mmap", (0, 1, 0, 0, 0))]
    assert found.lines == ["nodes[0]: real [0, 0, [0, [-2]]], sim [0, 0, [0, [-14]]]"]


@pytest.fixture
def two_bugs(
    monkeypatch: pytest.MonkeyPatch, enoent_as_efault: Callable[[], Kernel]
) -> Callable[[], Kernel]:
    """The -EFAULT bug above, and move_pages on a pid nobody has failing with EPERM."""
    buggy_one = SimProcess.syscall

    def buggy(self: SimProcess, name: str, *args: int) -> tuple[int, int]:
        ret, err = buggy_one(self, name, *args)
        if name == "move_pages" and getattr(self.kernel, "buggy", False) and err == 3:
            return ret, 1
        return ret, err

    monkeypatch.setattr(SimProcess, "syscall", buggy)
    return enoent_as_efault


def test_each_kind_of_disagreement_is_shrunk_on_its_own(two_bugs: Callable[[], Kernel]) -> None:
    result = campaign(_sim, two_bugs, SIM_NODES, programs_count=200, seed=0)
    kinds = {d.signature: d for d in result.disagreements}
    assert kinds["nodes:-2->-14"].program == [Step("mmap", (0, 1, 0, 0, 0))]
    esrch = kinds['steps:move_pages:"SyscallError:3"->"SyscallError:1"']
    # shrunk to a few steps ending in the one call: how far hypothesis gets differs
    # with the process it runs in (one mmap alone; up to three steps more in the whole
    # suite under tox), but never keeps the long programs it generates
    *before, call = esrch.program
    assert before[0].op == "mmap" and len(before) <= 4, esrch.program
    assert call.op == "move_pages" and call.args[1] == -2  # the pid nobody has
    assert all(not d.flaky for d in result.disagreements)


def test_a_real_kernel_that_answers_twice_differently_is_flaky(
    enoent_as_efault: Callable[[], Kernel],
) -> None:
    """Every other kernel is the buggy one: hypothesis cannot reproduce the failure it
    found; the campaign says so, with the evidence of more runs, instead of shrinking."""
    opened = iter(range(1 << 30))

    def sometimes() -> Kernel:
        return enoent_as_efault() if next(opened) % 2 else _sim()

    result = campaign(sometimes, _sim, SIM_NODES, programs_count=50, seed=0)
    assert result.disagreements
    flaky = result.disagreements[0].flaky
    assert "in 4 runs the real kernel gave 2 different answer(s), the simulator 1" in flaky
    assert result.disagreements[0].nondeterministic  # recorded, not open


def test_a_simulator_that_varies_is_never_excused(enoent_as_efault: Callable[[], Kernel]) -> None:
    """The simulator must answer a program alike every time: if it does not, the
    disagreement stays open whatever the real kernel does."""
    opened = iter(range(1 << 30))

    def sometimes() -> Kernel:
        return enoent_as_efault() if next(opened) % 2 else _sim()

    result = campaign(sometimes, sometimes, SIM_NODES, programs_count=50, seed=0)
    assert result.disagreements
    assert not any(d.nondeterministic for d in result.disagreements)


def test_a_correct_simulator_agrees_with_itself() -> None:
    result = campaign(_sim, _sim, SIM_NODES, programs_count=20, seed=0)
    assert result.runs == 20
    assert result.disagreements == []


def test_difference_names_every_part() -> None:
    a = {"steps": [None], "calls": [], "nodes": [[0, 0, [0, [0]]]], "contents": []}
    b = {**a, "calls": [["mbind", -1, 22, []]], "nodes": [[0, 0, [0, [1]]]]}
    assert difference(a, b) == [
        "calls[0]: real (none), sim ['mbind', -1, 22, []]",
        "nodes[0]: real [0, 0, [0, [0]]], sim [0, 0, [0, [1]]]",
    ]


@needs_root
def test_simulator_agrees_with_this_kernel() -> None:
    host = HostBackend()
    mirror = host.mirror()
    result = campaign(
        lambda: host.open(Needs()),
        lambda: mirror.open(Needs()),
        host.facts.online_nodes,
        programs_count=30,
        seed=0,
    )
    assert result.runs == 30
    assert [d.lines for d in result.disagreements] == []


def test_cli_refuses_what_it_cannot_drive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--backend", "sim", "--programs", "3"])
    assert exc.value.code == 2
    assert "is not a real kernel numa-fuzz can drive" in capsys.readouterr().err
    for argv, message in [
        (["--programs", "0", "--backend", "host"], "--programs must be at least 1"),
        ([], "--backend is required"),
        (["--replay", "/nonexistent.json"], "no such file or directory"),
        (["--replay", "/proc/self/fdinfo"], "no *.json in"),
    ]:
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err


def _record(tmp_path: Path, real: dict[str, Any], name: str = "r.json", **more: str) -> str:
    facts = {
        "release": "6.1",
        "online_nodes": [0, 1],
        "memory_nodes": [0, 1],
        "cpu_nodes": [0],
        "max_numnodes": 1024,
    }
    record = {
        "backend": "host",
        "facts": facts,
        "program": [["mmap", 0, 1, 0, 1], ["move_pages", 0, -1, [[0, 0, 0]], [1], 2]],
        "real": real,
        **more,
    }
    path = tmp_path / name
    path.write_text(json.dumps(record))
    return str(path)


def test_cli_replays_a_recorded_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    right = {
        "steps": [None, [0, [1]]],
        "calls": [["move_pages", 0, 0, [1]]],
        "nodes": [[0, 0, [0, [1]]]],
        "contents": [[0, 0, "ad7facb2586fc6e9"]],
    }
    assert main(["--replay", _record(tmp_path, right)]) == 0
    assert "they agree" in capsys.readouterr().out
    wrong = {**right, "nodes": [[0, 0, [0, [0]]]]}
    assert main(["--replay", _record(tmp_path, wrong)]) == 1
    assert "nodes[0]: real [0, 0, [0, [0]]], sim [0, 0, [0, [1]]]" in capsys.readouterr().out
    # a directory is every file in it; one that says why it may differ does not fail
    _record(tmp_path, wrong, "known.json", known="a difference not fixed yet")
    assert main(["--replay", str(tmp_path)]) == 1  # r.json still disagrees
    _record(tmp_path, right)
    assert main(["--replay", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "known: a difference not fixed yet" in out and "2 replayed, 0 disagree" in out


@needs_root
def test_cli_campaign_on_this_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--backend", "host", "--programs", "10", "--seed", "3", "--save", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "10 programs" in out and "programs/s, 0 disagreement(s)" in out


@settings(max_examples=200, deadline=None, database=None)
@given(programs(SIM_NODES, read_faults=False))
def test_no_read_faults_means_no_node_lookup_by_address(program: list[Step]) -> None:
    assert not [s for s in program if s.op == "get_mempolicy" and s.args[1] == 3]
