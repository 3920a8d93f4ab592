"""numa-conformance's reports for CI: the JSON and JUnit XML files of real runs on the
simulator, parsed back (json, xml.etree); --help, --version, --list-clauses,
--list-profiles; what sim:nodes= means."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hostfakes import FakeHost
from subprocs import pythonpath

from conformance import cli
from conformance.backends import BACKEND_SPECS, SimBackend, parse_backends
from conformance.clauses import CLAUSES
from conformance.env import Env, Needs, Skip, fail
from conformance.registry import Case, all_cases
from conformance.reports import SCHEMA_VERSION
from simnuma.profiles import named_profiles

SUBSET = ("fork", "move_pages.errno")


def _case(fn: Callable[[Env], None], clause: str = "move_pages.result.zero") -> Case:
    return Case(CLAUSES[clause], fn.__name__, "", Needs(), fn)


def _fails(env: Env) -> None:
    """A case whose check does not hold: FAIL."""
    p = env.spawn()
    (a,) = env.pages(p, 1)
    p.move_pages(0, [a], None, 0)
    fail("injected: the page is not where the clause says\nsecond line")


def _breaks(env: Env) -> None:
    """A case whose set-up breaks: ERROR."""
    raise RuntimeError("injected: set-up broke")


def _skips(env: Env) -> None:
    raise Skip("injected: cannot be set up here")


def _query_untouched(env: Env) -> None:
    """A query of a page never faulted in: -ENOENT before 4.3, -EFAULT from 4.3 to 6.11."""
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    p.move_pages(0, [a], None, 0)


INJECTED = [_case(_fails), _case(_breaks), _case(_skips)]


def _subset() -> list[Case]:
    return [c for c in all_cases() if c.clause.id.startswith(SUBSET)]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run on two simulator profiles of a clause subset and three injected cases."""
    tmp = tmp_path_factory.mktemp("reports")
    out_json, out_xml = tmp / "run.json", tmp / "run.xml"
    argv = ["--backend", "sim:profile=4.9", "--backend", "sim", "--quiet"]
    argv += ["--json", str(out_json), "--junit-xml", str(out_xml)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "all_cases", lambda: _subset() + INJECTED)
        code = cli.main(argv)
    return {
        "code": code,
        "json": json.loads(out_json.read_text()),
        "xml": ET.parse(out_xml).getroot(),
        "argv": argv,
    }


def test_a_run_with_a_fail_exits_1(reports: dict[str, Any]) -> None:
    assert reports["code"] == 1


def test_json_has_every_case_on_every_backend(reports: dict[str, Any]) -> None:
    doc = reports["json"]
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert doc["command"] == " ".join(["numa-conformance", *reports["argv"]])
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", doc["simnuma_version"])
    labels = [b["label"] for b in doc["backends"]]
    assert labels == ["sim:4.5–4.12", f"sim:{named_profiles()[-1].name}"]
    assert [b["release"] for b in doc["backends"]] == ["4.9", doc["backends"][1]["release"]]
    assert doc["backends"][0]["facts"] == {"nodes": [0, 1, 2, 3], "memory_nodes": [0, 1, 2]}
    ids = [c.id for c in _subset() + INJECTED]
    assert [(r["backend"], r["case"]) for r in doc["results"]] == [
        (b, i) for b in labels for i in ids
    ]
    for r in doc["results"]:
        assert r["clause"] == r["case"].split("::")[0] and r["case"].endswith("::" + r["name"])
    counts = {o: sum(1 for r in doc["results"] if r["outcome"] == o) for o in doc["summary"]}
    assert counts == doc["summary"]
    assert doc["summary"]["pass"] > 20 and doc["summary"]["n/a"] > 0
    assert doc["differential"] is None  # no --compare


def test_json_results_carry_outcome_detail_and_raw_calls(reports: dict[str, Any]) -> None:
    by = {(r["backend"], r["name"]): r for r in reports["json"]["results"]}
    failed = by[("sim:4.5–4.12", "_fails")]
    assert failed["outcome"] == "FAIL"
    assert failed["detail"].startswith("injected: the page is not where the clause says")
    assert "tests/test_reports.py:" in failed["detail"]
    # the one query the case made, as the kernel answered it: ret 0, status [node 0]
    # and why the simulator answered so: the return value's clause first, then the status's
    assert failed["calls"] == [
        {
            "name": "move_pages",
            "ret": 0,
            "errno": 0,
            "errno_name": None,
            "out": [0],
            "why": ["move_pages.result.zero", "move_pages.status.node", "set_mempolicy.placement"],
        }
    ]
    broken = by[("sim:4.5–4.12", "_breaks")]
    assert broken["outcome"] == "ERROR" and "RuntimeError: injected" in broken["detail"]
    assert by[("sim:4.5–4.12", "_skips")]["outcome"] == "skip"
    errno_calls = [
        c
        for r in reports["json"]["results"]
        if r["clause"].startswith("move_pages.errno")
        for c in r["calls"]
        if c["errno"]
    ]
    assert errno_calls and all(
        c["ret"] == -1 and c["errno_name"].startswith("E") for c in errno_calls
    )


def test_junit_is_the_schema_ci_tools_read(reports: dict[str, Any]) -> None:
    root = reports["xml"]
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [b["label"] for b in reports["json"]["backends"]]
    results = reports["json"]["results"]
    for suite in suites:
        mine = [r for r in results if r["backend"] == suite.get("name")]
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "")) == len(cases) == len(mine)
        for key, outcomes in (
            ("failures", {"FAIL"}),
            ("errors", {"ERROR"}),
            ("skipped", {"skip", "n/a"}),
        ):
            assert int(suite.get(key, "")) == sum(1 for r in mine if r["outcome"] in outcomes)
        for case, r in zip(cases, mine, strict=True):
            assert case.get("classname") == r["clause"]
            assert case.get("name") == f"{r['name']} [{r['backend']}]"
            assert float(case.get("time", "")) >= 0
            children = [child.tag for child in case]
            expected = {"FAIL": ["failure"], "ERROR": ["error"], "skip": ["skipped"]}
            assert children == expected.get(
                r["outcome"], ["skipped"] if r["outcome"] == "n/a" else []
            )
    assert int(root.get("tests", "")) == len(results)
    assert int(root.get("failures", "")) == 2  # _fails on both backends


def test_junit_messages(reports: dict[str, Any]) -> None:
    cases = {c.get("name"): c for c in reports["xml"].iter("testcase")}
    failure = cases["_fails [sim:4.5–4.12]"].find("failure")
    assert failure is not None
    assert failure.get("message") == "injected: the page is not where the clause says"
    assert failure.text is not None and "second line" in failure.text
    error = cases["_breaks [sim:4.5–4.12]"].find("error")
    assert error is not None and "RuntimeError: injected: set-up broke" in (
        error.get("message") or ""
    )
    skipped = cases["_skips [sim:4.5–4.12]"].find("skipped")
    assert skipped is not None and skipped.get("message") == "injected: cannot be set up here"
    na = cases["zero_page_only_vma_absent_in_child [sim:4.5–4.12]"].find("skipped")
    assert na is not None
    assert na.get("message") == "clause does not hold in 4.9 (it holds in 6.12+)"


def test_the_differential_is_in_both_reports(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A host that answers as 2.6.32 mirrored by the simulator at 4.9: the query of an
    untouched page differs (-ENOENT against -EFAULT), the fork cases do not."""
    cases = [c for c in all_cases() if c.clause.id.startswith("fork.shared")]
    differs = _case(_query_untouched)
    monkeypatch.setattr(cli, "all_cases", lambda: [*cases, differs])
    monkeypatch.setattr(cli, "parse_backends", lambda spec: [FakeHost("2.6.32", "4.9")])
    out_json, out_xml = tmp_path / "d.json", tmp_path / "d.xml"
    argv = ["--backend", "host", "--compare", "--quiet"]
    assert cli.main([*argv, "--json", str(out_json), "--junit-xml", str(out_xml)]) == 1
    (pair,) = json.loads(out_json.read_text())["differential"]
    assert pair["real"] == "host:fake" and pair["simulator"] == "sim(host:fake)"
    assert pair["compared"] == [c.id for c in [*cases, differs]]
    (line,) = pair["unexpected"]
    assert line.startswith(f"{differs.id}: call 0: host:fake move_pages -> ret=0")
    assert pair["known"] == [] and pair["stale"] == []
    root = ET.parse(out_xml).getroot()
    (suite,) = [s for s in root.findall("testsuite") if s.get("name") == "differential"]
    assert suite.get("tests") == str(len(cases) + 1) and suite.get("failures") == "1"
    failing = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failing] == [f"{differs.id} [host:fake vs sim(host:fake)]"]


@pytest.mark.parametrize("option", ["--json", "--junit-xml"])
def test_an_unwritable_report_is_refused_before_the_run(
    option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*args: object, **kw: object) -> object:
        raise AssertionError("the suite ran although the input was bad")

    monkeypatch.setattr(cli, "run", refuse)
    path = tmp_path / "no" / "such" / "dir.out"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--backend", "sim", option, str(path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{option} {path}: cannot write it" in err and "Traceback" not in err


# ------------------------------------------------------------------ --help and friends


def _help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_help_lists_every_backend_spec_and_option(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys)
    listed = text[text.index("backend specs") :]
    for spec in BACKEND_SPECS:
        assert re.search(rf"^  {re.escape(spec.spec)} ", listed, re.M), spec.spec
        for option in spec.options:
            assert f"{option.name}=" in listed
    # every spec in the help is one the parser knows, and the other way round
    shown = re.findall(r"^  (\S+) ", listed, re.M)
    assert shown == ["sim", "host", "host:libnuma", "vm"]
    for kind in ("sim", "vm"):
        with pytest.raises(ValueError, match=r"unknown options \['zz'\] \(known: (.*)\)") as exc:
            parse_backends(f"{kind}:kernel=6.12,zz=1" if kind == "vm" else f"{kind}:zz=1")
        known = re.search(r"known: (.*)\)", str(exc.value))
        assert known is not None
        spec = next(s for s in BACKEND_SPECS if s.spec == kind)
        assert known[1].split(", ") == [o.name for o in spec.options]


@pytest.mark.parametrize("kind", ["sim", "vm"])
def test_every_option_in_help_is_parsed_and_its_default_is_the_parsers(kind: str) -> None:
    """Each option at the default --help states gives the backend the bare spec gives."""
    spec = next(s for s in BACKEND_SPECS if s.spec == kind)
    prefix = "vm:kernel=6.12," if kind == "vm" else "sim:"
    (bare,) = parse_backends(prefix.rstrip(":,"))
    checked = 0
    for option in spec.options:
        if not option.default.isdigit():  # "required", "the newest", "1 if nodes >= 3, ..."
            continue
        (given,) = parse_backends(f"{prefix}{option.name}={option.default}")
        assert vars(given) == vars(bare), option
        checked += 1
    assert checked == (2 if kind == "vm" else 1)  # vm: nodes, mem; sim: nodes
    # the stated conditional default of memoryless: 1 if nodes >= 3, else 0
    for nodes, memoryless in ((1, 0), (2, 0), (3, 1), (5, 1)):
        (b,) = parse_backends(f"{prefix}nodes={nodes}")
        if isinstance(b, SimBackend):
            sizes = [s.memory for s in b.topology().nodes.values()]
        else:
            sizes = [n.memory_mib for n in b.topology.nodes]  # type: ignore[attr-defined]
        assert len(sizes) == nodes and sizes.count(0) == memoryless, (nodes, sizes)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"numa-conformance (simnuma) {version('simnuma')}\n"


def test_list_clauses(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--list-clauses"]) == 0
    out = capsys.readouterr().out
    heads = [line.split("  ")[0] for line in out.splitlines() if not line.startswith(" ")]
    assert heads == list(CLAUSES)
    clause = CLAUSES["fork.zero_page_not_copied"]
    assert f"fork.zero_page_not_copied  [{clause.releases}]  (kernel)\n" in out
    assert cli.main(["--list-clauses", "--clause", "fork.zero"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("fork.zero_page_not_copied  [6.12+]")
    with pytest.raises(SystemExit):
        cli.main(["--list-clauses", "--clause", "nothing.like.this"])
    assert "no clause starts with" in capsys.readouterr().err


def test_list_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--list-profiles"]) == 0
    out = capsys.readouterr().out
    names = [line.split("  (")[0] for line in out.splitlines()[1:] if not line.startswith(" ")]
    assert names == [p.name for p in named_profiles()]
    assert (
        "4.3–4.4  (4.3 to before 4.5)\n    + UNPOPULATED_ANON_EFAULT\n    - ZERO_PAGE_ENOENT\n"
        in out
    )


def test_listing_runs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kw: object) -> object:
        raise AssertionError("a listing ran the suite")

    monkeypatch.setattr(cli, "run", refuse)
    assert cli.main(["--list-clauses"]) == 0
    assert cli.main(["--list-profiles"]) == 0


# ------------------------------------------------------------------ what nodes= means


@pytest.mark.parametrize(
    ("spec", "memory", "memoryless"),
    [
        ("sim", [0, 1, 2], [3]),  # the default: 4 nodes, the last memoryless
        ("sim:nodes=4", [0, 1, 2], [3]),
        ("sim:nodes=4,memoryless=1", [0, 1, 2], [3]),
        ("sim:nodes=2", [0, 1], []),
        ("sim:nodes=1", [0], []),
        ("sim:nodes=3", [0, 1], [2]),
        ("sim:nodes=5,memoryless=2", [0, 1, 2], [3, 4]),
        ("sim:nodes=3,memoryless=0", [0, 1, 2], []),
    ],
)
def test_sim_nodes_counts_every_node(spec: str, memory: list[int], memoryless: list[int]) -> None:
    (backend,) = parse_backends(spec)
    assert isinstance(backend, SimBackend)
    nodes = backend.topology().nodes
    assert sorted(n for n, s in nodes.items() if s.memory) == memory
    assert sorted(n for n, s in nodes.items() if not s.memory) == memoryless


@pytest.mark.parametrize("nodes", [1, 2, 3, 4, 6])
def test_sim_and_vm_nodes_mean_the_same(nodes: int) -> None:
    """The same spec gives the simulator and the VM the same memory and memoryless nodes."""
    (sim,) = parse_backends(f"sim:nodes={nodes}")
    (vm,) = parse_backends(f"vm:kernel=6.12,nodes={nodes},mem=64")
    assert isinstance(sim, SimBackend)
    guest = vm.topology.nodes  # type: ignore[attr-defined]
    assert len(sim.topology().nodes) == len(guest) == nodes
    with_memory = [i for i, node in enumerate(guest) if node.memory_mib]
    assert sorted(n for n, s in sim.topology().nodes.items() if s.memory) == with_memory


def test_the_command_shows_help_and_lists_from_a_clean_interpreter() -> None:
    env = {**os.environ, "PYTHONPATH": pythonpath()}
    for argv, wanted in (
        (["--help"], "host:libnuma"),
        (["--version"], "numa-conformance (simnuma) "),
        (["--list-profiles"], "6.16+"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "conformance.cli", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
            cwd="/",
        )
        assert done.returncode == 0, done.stderr
        assert wanted in done.stdout
