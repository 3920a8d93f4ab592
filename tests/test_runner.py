"""The runner's verdicts on tiny fake cases: which outcome, and which line it names.

A NUMA syscall answering an errno the case did not expect is the call under test
failing (FAIL); anything else raising is set-up breaking (ERROR).  Either way the
location printed is the line in the case's own module, not the contract's.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hostfakes import FakeHost

from conformance.backends import SimBackend
from conformance.clauses import CLAUSES
from conformance.env import Env, Needs, expect, expect_errno
from conformance.registry import Case
from conformance.runner import (
    Differential,
    Outcome,
    Result,
    differential,
    failed,
    render,
    render_differential,
    run_case,
)
from simnuma.abi import MPOL_MF_MOVE, MPOL_MF_STRICT, SyscallError

HERE = os.path.abspath(__file__)


def _case(fn: Callable[[Env], None], clause: str = "move_pages.result.zero") -> Case:
    return Case(CLAUSES[clause], fn.__name__, "", Needs(), fn)


def _line(fn: Callable[..., object], marker: str) -> int:
    """The line of ``fn``'s source that carries the comment ``# <marker>``."""
    lines, first = inspect.getsourcelines(fn)
    hits = [first + i for i, text in enumerate(lines) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


def _location(result: Result) -> str:
    """The trailing ``(file:line)`` of a result's detail, the file made absolute (it is
    printed relative to the working directory when it lies below it)."""
    m = re.search(r"\(([^()]+):(\d+)\)$", result.detail)
    assert m, result.detail
    return f"{os.path.abspath(m[1])}:{m[2]}"


def _run(fn: Callable[[Env], None]) -> Result:
    return run_case(_case(fn), SimBackend("6.12"))


# ------------------------------------------------------------------ the call under test


def test_an_unexpected_errno_from_the_call_under_test_is_a_fail() -> None:
    def wrong_errno(env: Env) -> None:
        p = env.spawn()
        (a,) = env.pages(p, 1)
        p.move_pages(0, [a], [env.memory_nodes[0]], MPOL_MF_STRICT)  # the call

    result = _run(wrong_errno)
    assert result.outcome is Outcome.FAIL, result
    assert "move_pages: unexpected EINVAL" in result.detail
    assert _location(result) == f"{HERE}:{_line(wrong_errno, 'the call')}"
    assert failed([result])


@pytest.mark.parametrize("syscall", ["migrate_pages", "get_mempolicy", "set_mempolicy", "mbind"])
def test_every_numa_syscall_method_fails_the_case(syscall: str) -> None:
    calls: dict[str, Callable[[Env], object]] = {
        "migrate_pages": lambda env: env.spawn().migrate_pages(0, [0], [4095]),
        "get_mempolicy": lambda env: env.spawn().get_mempolicy(1 << 30),
        "set_mempolicy": lambda env: env.spawn().set_mempolicy(99, [0]),
        "mbind": lambda env: env.spawn().mbind(env.unmapped + 1, 4096, 0, []),
    }

    def call(env: Env) -> None:
        calls[syscall](env)

    result = _run(call)
    assert result.outcome is Outcome.FAIL, result
    assert result.detail.startswith(f"{syscall}: unexpected E"), result.detail


def test_the_location_is_the_cases_line_not_a_helpers() -> None:
    """The errno is raised in simnuma/abi/methods.py, called from conformance/env.py;
    the line printed is the case's call of the helper."""

    def gone_target(env: Env) -> None:
        p = env.spawn()
        q = env.spawn()
        pid = q.pid
        q.exit()
        env.where(p, [env.unmapped], pid=pid)  # through a helper

    result = _run(gone_target)
    assert result.outcome is Outcome.FAIL, result
    assert "move_pages: unexpected ESRCH" in result.detail
    assert _location(result) == f"{HERE}:{_line(gone_target, 'through a helper')}"
    assert "simnuma" not in result.detail and "env.py" not in result.detail


def test_a_failed_check_names_the_cases_line() -> None:
    def wrong_value(env: Env) -> None:
        expect(env.spawn().move_pages(0, [], None, 0).ret, 1, "ret")  # the check

    result = _run(wrong_value)
    assert result.outcome is Outcome.FAIL
    assert "ret: expected 1, got 0" in result.detail
    assert _location(result) == f"{HERE}:{_line(wrong_value, 'the check')}"


# ------------------------------------------------------------------ set-up


def test_a_set_up_oserror_is_an_error_not_a_fail() -> None:
    """Reading unmapped memory is an OSError too, but not the call under test."""

    def bad_read(env: Env) -> None:
        p = env.spawn()
        p.read_bytes(env.unmapped, 4)  # set-up

    result = _run(bad_read)
    assert result.outcome is Outcome.ERROR, result
    assert f": [Errno {errno.EFAULT}] " in result.detail and "unexpected" not in result.detail
    assert _location(result) == f"{HERE}:{_line(bad_read, 'set-up')}"
    assert failed([result])


def test_a_refused_setresuid_is_an_error() -> None:
    """setresuid() is world-building: its errno is set-up breaking, not a verdict."""

    def refused(env: Env) -> None:
        user = env.spawn(uid=1000)
        user.setresuid(0, 0, 0)  # refused

    result = _run(refused)
    assert result.outcome is Outcome.ERROR, result
    assert result.detail.startswith(f"PermissionError: [Errno {errno.EPERM}] setresuid: ")
    assert _location(result) == f"{HERE}:{_line(refused, 'refused')}"


def test_a_set_up_error_inside_a_syscall_method_is_still_an_error() -> None:
    """A bad argument caught by the Python API (ValueError) never reaches the kernel."""

    def bad_argument(env: Env) -> None:
        env.spawn().move_pages(0, [0], [0, 1], MPOL_MF_MOVE)  # bad argument

    result = _run(bad_argument)
    assert result.outcome is Outcome.ERROR, result
    assert result.detail.startswith("ValueError: nodes has 2 entries")
    assert _location(result) == f"{HERE}:{_line(bad_argument, 'bad argument')}"


def test_a_syscall_failing_inside_world_building_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The host's file_page_node() makes a move_pages() query in a helper of its own:
    should that fail, set-up broke; the case's call under test did not answer."""
    from simnuma import SimKernel

    def fill_node(self: SimKernel, nid: int, leave: int = 0) -> None:
        raise SyscallError("move_pages", errno.EIO)

    monkeypatch.setattr(SimKernel, "fill_node", fill_node)

    def world_building(env: Env) -> None:
        env.world.fill_node(env.memory_nodes[0], 0)  # world-building

    result = _run(world_building)
    assert result.outcome is Outcome.ERROR, result
    assert result.detail.startswith("SetUpError: fill_node: [Errno 5] move_pages: ")
    assert _location(result) == f"{HERE}:{_line(world_building, 'world-building')}"


def test_expect_errno_judges_only_the_syscalls_errno() -> None:
    """An OSError from set-up inside expect_errno's call is not the errno it expects."""

    def set_up_inside(env: Env) -> None:
        p = env.spawn()
        expect_errno(lambda: p.read_bytes(env.unmapped, 4), errno.EFAULT, "read")  # inside

    result = _run(set_up_inside)
    assert result.outcome is Outcome.ERROR, result
    assert _location(result) == f"{HERE}:{_line(set_up_inside, 'inside')}"


def test_without_a_frame_in_the_cases_module_the_innermost_is_named() -> None:
    """A case function with no code of its own (a partial): the innermost frame."""
    case = Case(
        CLAUSES["move_pages.result.zero"],
        "partial",
        "",
        Needs(),
        functools.partial(Env.spawn, uid="root"),  # type: ignore[arg-type]
    )
    result = run_case(case, SimBackend("6.12"))
    assert result.outcome is Outcome.ERROR, result
    assert result.detail.startswith("TypeError: uid must be int")
    assert _location(result).split(":")[0].endswith(os.path.join("simnuma", "abi", "checks.py"))


def test_syscall_error_is_an_oserror_with_its_errno() -> None:
    exc = SyscallError("move_pages", errno.ENODEV)
    assert isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)
    assert (exc.errno, exc.syscall) == (errno.ENODEV, "move_pages")
    assert str(exc) == f"[Errno {errno.ENODEV}] move_pages: {os.strerror(errno.ENODEV)}"


# ------------------------------------------------------------------ known divergences

REASON = "the simulator answers -ENOENT for an untouched page at every release"


def _query_untouched(env: Env) -> None:
    """A move_pages() query of a page never faulted in (its answer changed in 4.3 and 6.12)."""
    p = env.spawn()
    (a,) = env.pages(p, 1, touch=False)
    p.move_pages(0, [a], None, 0)


def _marked(fn: Callable[[Env], None] = _query_untouched, reason: str = REASON) -> Case:
    return Case(CLAUSES["move_pages.result.zero"], fn.__name__, "", Needs(), fn, reason)


def _clashing(fn: Callable[..., None]) -> Callable[..., None]:
    """Another function under ``fn``'s name (a case id registered by two functions)."""

    def other(env: Any) -> None:
        fn(env)

    other.__name__ = fn.__name__
    return other


def test_the_decorator_records_the_reason_and_wants_one() -> None:
    from conformance.registry import CASES, case, known_divergences

    with pytest.raises(ValueError, match="reason"):
        case("move_pages.result.zero", sim_differs=" ")
    key = f"move_pages.result.zero::{_query_untouched.__name__}"
    assert key not in CASES
    try:
        case("move_pages.result.zero", sim_differs=f"  {REASON} ")(_query_untouched)
        registered = CASES[key]
        with pytest.raises(ValueError, match="registered twice"):
            case("move_pages.result.zero")(_clashing(_query_untouched))
    finally:
        CASES.pop(key, None)
    assert registered.sim_differs == REASON
    assert known_divergences([registered, _case(_query_untouched), registered]) == [registered]


def test_reports_list_every_known_divergence_with_its_reason() -> None:
    marked = run_case(_marked(), SimBackend("6.12"))
    plain = run_case(_case(_query_untouched, "move_pages.errno.EFAULT"), SimBackend("6.12"))
    assert marked.outcome is plain.outcome is Outcome.PASS
    text = render([marked, plain], ["sim:6.12+"])
    assert text.splitlines()[-2:] == [
        "known divergences (the simulator knowingly differs from real kernels):",
        f"  move_pages.result.zero::_query_untouched: {REASON}",
    ]
    md = render([marked, plain], ["sim:6.12+"], markdown=True)
    assert md.endswith(
        f"\n## Known divergences\n\n- `move_pages.result.zero::_query_untouched`: {REASON}\n"
    )
    assert "known divergences" not in render([plain], ["sim:6.12+"])
    assert "None: no case is marked `sim_differs`." in render([plain], ["sim:6.12+"], markdown=True)


def _twins(case: Case, real_profile: str, sim_profile: str) -> tuple[Result, Result]:
    """The case on a "real" kernel (the simulator at another release) and on the simulator."""
    real = run_case(case, SimBackend(real_profile, label_text="host:fake"))
    sim = run_case(case, SimBackend(sim_profile, label_text="sim(host:fake)"))
    return real, sim


def test_the_differential_sorts_known_unexpected_and_stale() -> None:
    # 4.9 answers -EFAULT (FOLL_DUMP side effect), 6.12 -ENOENT: the calls differ
    real, sim = _twins(_marked(), "4.9", "6.12")
    diff = differential([real], [sim])
    assert diff.unexpected == [] and diff.stale == []
    (known,) = diff.known
    assert known.startswith("move_pages.result.zero::_query_untouched: call 0: host:fake ")
    assert "-EFAULT" in known and "-ENOENT" in known and known.endswith(f"[known: {REASON}]")

    real, sim = _twins(_case(_query_untouched), "4.9", "6.12")
    diff = differential([real], [sim])
    assert (len(diff.unexpected), diff.known, diff.stale) == (1, [], [])

    real, sim = _twins(_marked(), "6.12", "6.12")  # the marker no longer holds
    diff = differential([real], [sim])
    assert (diff.unexpected, diff.known) == ([], [])
    (stale,) = diff.stale
    assert stale.startswith("move_pages.result.zero::_query_untouched: marked sim_differs (")
    assert "host:fake and sim(host:fake) agree" in stale

    real, sim = _twins(_case(_query_untouched), "6.12", "6.12")
    assert differential([real], [sim]) == Differential([], [], [])


def test_a_known_divergence_skipped_on_the_real_kernel_is_not_stale() -> None:
    real = Result(_marked(), "host:fake", Outcome.SKIP, "needs 2 memory nodes")
    assert differential([real], []) == Differential([], [], [])


def test_render_differential_lines() -> None:
    diff = Differential(["a: call 0"], ["b: call 1 [known: why]"], ["c: marked"])
    assert render_differential(diff).splitlines() == [
        "DIFFERS: a: call 0",
        "KNOWN: b: call 1 [known: why]",
        "STALE: c: marked",
        "differential: 1 case(s) where the simulator disagrees "
        "(1 known divergence(s) besides), 1 stale sim_differs marker(s)",
    ]
    assert render_differential(Differential([], [], [])) == (
        "differential: 0 case(s) where the simulator disagrees\n"
    )
    md = render_differential(diff, markdown=True)
    assert "- known: b: call 1 [known: why]" in md and "- stale: c: marked" in md


@pytest.mark.parametrize(
    ("marked", "mirrored", "code", "printed"),
    [
        (True, "6.12", 0, "KNOWN: move_pages.result.zero::_query_untouched: call 0: host:fake"),
        (False, "6.12", 1, "DIFFERS: move_pages.result.zero::_query_untouched: call 0:"),
        (True, "4.9", 0, "STALE: move_pages.result.zero::_query_untouched: marked sim_differs"),
    ],
)
def test_compare_reports_known_divergences(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    marked: bool,
    mirrored: str,
    code: int,
    printed: str,
) -> None:
    from conformance import cli

    case = _marked() if marked else _case(_query_untouched)
    monkeypatch.setattr(cli, "all_cases", lambda: [case])
    monkeypatch.setattr(cli, "parse_backends", lambda spec: [FakeHost("4.9", mirrored)])
    out = tmp_path / "report.md"
    assert cli.main(["--backend", "host", "--compare", "--quiet", "--markdown", str(out)]) == code
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(printed) for line in lines), lines
    report = out.read_text()
    listed = f"- `move_pages.result.zero::_query_untouched`: {REASON}"
    assert (listed in report) is marked
    assert "## Differential" in report
