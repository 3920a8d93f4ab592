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

import pytest

from conformance.backends import SimBackend
from conformance.clauses import CLAUSES
from conformance.env import Env, Needs, expect, expect_errno
from conformance.registry import Case
from conformance.runner import Outcome, Result, failed, run_case
from simnuma.abi import MPOL_MF_MOVE, MPOL_MF_STRICT, SyscallError

HERE = os.path.relpath(__file__)


def _case(fn: Callable[[Env], None], clause: str = "move_pages.result.zero") -> Case:
    return Case(CLAUSES[clause], fn.__name__, "", Needs(), fn)


def _line(fn: Callable[..., object], marker: str) -> int:
    """The line of ``fn``'s source that carries the comment ``# <marker>``."""
    lines, first = inspect.getsourcelines(fn)
    hits = [first + i for i, text in enumerate(lines) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


def _location(result: Result) -> str:
    """The trailing ``(file:line)`` of a result's detail."""
    m = re.search(r"\(([^()]+:\d+)\)$", result.detail)
    assert m, result.detail
    return m[1]


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
