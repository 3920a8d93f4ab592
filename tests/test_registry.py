"""The clause registry and the suite's own machinery."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest

from conformance.backends import SimBackend, parse_backends
from conformance.clauses import CLAUSES, Clause
from conformance.cli import main
from conformance.env import Env, Needs, expect
from conformance.registry import Case, all_cases
from conformance.runner import Outcome, failed, run_case
from simnuma import named_profiles
from simnuma.abi.quirks import Quirk, Release, abi_quirks


def test_every_clause_has_a_case() -> None:
    covered = {c.clause.id for c in all_cases()}
    missing = sorted(set(CLAUSES) - covered)
    assert not missing, f"clauses without a conformance case: {missing}"


def test_every_clause_holds_in_some_profile() -> None:
    releases = [p.release for p in named_profiles()]
    for clause in CLAUSES.values():
        assert any(clause.holds_in(r) for r in releases), clause.id


def _boundaries(quirk: Quirk) -> list[tuple[Release, Release]]:
    """Each edge of the quirk's range as (last release on one side, first on the other):
    the newest profile before the edge and the edge itself."""
    starts = [p.release for p in named_profiles()]
    edges = []
    for edge in (quirk.info.since, quirk.info.until):
        if edge is not None and edge > starts[0]:
            edges.append((max(r for r in starts if r < edge), edge))
    return edges


def _pinning(quirk: Quirk, inside: bool, at: Release) -> list[str]:
    """Clauses that hold at ``at`` and only where the quirk holds (``inside``) or only
    where it does not."""
    releases = [p.release for p in named_profiles()]
    found = []
    for clause in CLAUSES.values():
        where = [r for r in releases if clause.holds_in(r)]
        if clause.holds_in(at) and all(quirk.holds_in(r) is inside for r in where):
            found.append(clause.id)
    return found


def test_every_abi_quirk_is_pinned_from_both_sides() -> None:
    """At each edge of each ABI quirk's range, a clause that holds right inside it and
    only where the quirk holds, and one that holds right outside it and only where the
    quirk does not: a boundary moved either way makes some case fail."""
    missing = []
    for quirk in abi_quirks():
        for before, after in _boundaries(quirk):
            inside, outside = (after, before) if quirk.holds_in(after) else (before, after)
            if not _pinning(quirk, True, inside) and not quirk.info.one_sided:
                missing.append(f"{quirk.name}: no clause holds only where it holds, at {inside}")
            if not _pinning(quirk, False, outside):
                missing.append(
                    f"{quirk.name}: no clause holds only where it does not, at {outside}"
                )
    assert not missing, "\n".join(missing)


def test_one_sided_quirks_are_few_and_say_why() -> None:
    one_sided = [q for q in abi_quirks() if q.info.one_sided]
    assert one_sided == [Quirk.NODE_RANGE_UNCHECKED]


def test_clauses_name_quirks_not_releases() -> None:
    """A clause's releases come from the quirks it names: no release text of its own."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(Clause)}
    assert not fields & {"since", "until", "gap"}, fields
    release = re.compile(r"\b(2\.6\.\d+|[3-7]\.\d+)\b|[0-9a-f]{12}")
    for clause in CLAUSES.values():
        assert not release.search(clause.note), f"{clause.id}: note {clause.note!r}"
        for quirk in clause.when:
            assert quirk.info.kind in ("abi", "feature")
        assert all(not q.is_feature for q in clause.unless), clause.id


def test_releases_and_why_are_derived() -> None:
    gap = CLAUSES["move_pages.status.EIO.as_count"]
    assert gap.releases == "4.17 – before 5.6, 6.1 – before 6.16"
    assert all(h in gap.why for h in ("a49bd4d71637", "a7504ed14f9b", "7ee3647243e5"))
    tail = CLAUSES["move_pages.status.EACCES.hugetlb_tail"]
    assert tail.releases == "3.12 – before 6.7"
    assert "b426ed7889be" in tail.why
    assert CLAUSES["move_pages.result.zero"].releases == "2.6.18+"


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in all_cases()]
    assert len(ids) == len(set(ids))


def _case(fn: object, needs: Needs | None = None) -> Case:
    return Case(CLAUSES["move_pages.result.zero"], "synthetic", "", needs or Needs(), fn)  # type: ignore[arg-type]


def test_a_failing_check_is_a_fail_not_a_pass() -> None:
    def wrong(env: Env) -> None:
        expect(env.spawn().move_pages(0, [], None, 0).ret, 1, "return value")

    result = run_case(_case(wrong), SimBackend())
    assert result.outcome is Outcome.FAIL
    assert "expected 1, got 0" in result.detail
    assert failed([result])


def test_a_broken_setup_is_an_error() -> None:
    def broken(env: Env) -> None:
        raise RuntimeError("set-up exploded")

    result = run_case(_case(broken), SimBackend())
    assert result.outcome is Outcome.ERROR and "set-up exploded" in result.detail
    assert failed([result])


def test_a_backend_that_cannot_set_up_skips_with_the_reason() -> None:
    result = run_case(_case(lambda env: None, Needs(memory_nodes=4)), SimBackend(memory_nodes=2))
    assert result.outcome is Outcome.SKIP
    assert result.detail == "needs 4 memory nodes, backend has 2"


def test_clause_not_holding_in_the_release_is_not_applicable() -> None:
    case = Case(CLAUSES["move_pages.errno.E2BIG"], "x", "", Needs(), lambda env: None)
    assert run_case(case, SimBackend("6.1")).outcome is Outcome.NA


def test_backend_specs() -> None:
    assert [b.label for b in parse_backends("sim:profile=6.1")] == ["sim:6.1–6.2"]
    assert len(parse_backends("sim:profile=all")) == len(named_profiles())
    for bad in (
        "sim:nodes=0",
        "sim:profile",
        "vm:kernel=9.9",
        "vm:nodes=2",
        "sim:colour=red",
        "sim:profile=1.0",
    ):
        with pytest.raises(ValueError):
            parse_backends(bad)


def test_cli_prints_table_and_writes_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "table.md"
    code = main(
        ["--backend", "sim:profile=4.9", "--clause", "move_pages.errno", "--markdown", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "move_pages.errno.EPERM.cap_sys_nice" in printed and "sim:4.5–4.12" in printed
    assert printed.rstrip().splitlines()[-1].startswith("conformance: ")
    text = out.read_text()
    assert text.startswith("# Conformance: sim:4.5–4.12\n\nProduced by `numa-conformance --backend")
    assert "| clause | holds in | documents | why it holds where it does | sim:4.5–4.12 |" in text


def test_cli_rejects_a_bad_backend(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--backend", "sim:nodes=x"])
    assert exit_.value.code == 2
    assert "nodes must be an integer" in capsys.readouterr().err


def test_errnos_and_statuses_are_named_for_people() -> None:
    """What FAIL details and the differential print: errno names, status arrays."""
    from simnuma.abi import UNWRITTEN, errno_name, format_status, format_statuses

    assert [errno_name(e) for e in (0, errno.EPERM, errno.ENODEV, 4095)] == [
        "0",
        "EPERM",
        "ENODEV",
        "4095",
    ]
    assert [format_status(v) for v in (0, 3, -errno.EFAULT, UNWRITTEN, -4095)] == [
        "0",
        "3",
        "-EFAULT",
        "unwritten",
        "-4095",
    ]
    assert format_statuses([1, -errno.ENOENT, UNWRITTEN]) == "[1, -ENOENT, unwritten]"
    assert format_statuses([]) == "[]"


def test_cases_use_only_the_backend_neutral_interface() -> None:
    """Case modules import nothing of simnuma but the contract (simnuma.abi), and
    nothing of realnuma; the files are found from the package, wherever pytest runs."""
    import ast

    import conformance.cases

    package = Path(conformance.cases.__file__).parent
    paths = sorted(package.glob("*.py"))
    modules = {p.stem for p in paths}
    assert set(conformance.cases.__all__) <= modules, (package, sorted(modules))
    registered = {c.fn.__module__.rpartition(".")[2] for c in all_cases()}
    assert registered <= modules, (package, sorted(registered - modules))
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if top == "simnuma":
                    assert name == "simnuma.abi", f"{path}: imports {name}"
                assert top != "realnuma", f"{path}: imports {name}"


def test_simulator_implements_the_protocols() -> None:
    from simnuma import SimKernel
    from simnuma.abi import Kernel, Process, World

    kernel = SimKernel()
    assert isinstance(kernel, Kernel) and isinstance(kernel, World)
    assert isinstance(kernel.spawn(), Process)
