"""The conformance suite as pytest tests: one test per case, on ``--numa-backend``.

    pytest --pyargs conformance --numa-backend sim:profile=5.10
    pytest --pyargs conformance --numa-backend host -k ENODEV --junit-xml=suite.xml -n 2

The backend spec is ``numa-conformance``'s (``sim:profile=all,nodes=3,memoryless=1``,
``host``, ``host:libnuma``; ``vm:kernel=...`` runs this whole pytest in the guest, see
``simnuma.pytest_plugin``).  Each case runs exactly as ``numa-conformance`` runs it
(``conformance.runner.run_case``): ``pass`` passes, ``skip`` and ``n/a`` skip with
their reason, ``FAIL`` and ``ERROR`` fail with the detail and the line of the case.
Test ids are the case ids, ``clause:name`` (pytest keeps ``::`` for its own use),
prefixed with the backend when there are several.  ``numa-conformance`` stays the
tool for the side-by-side table, ``--compare`` and one-boot VM runs (docs/pytest.md).
"""

from __future__ import annotations

import pytest

from conformance.backends import Backend, parse_backends
from conformance.registry import Case, all_cases
from conformance.runner import Outcome, run_case


def case_id(case: Case) -> str:
    """``move_pages.errno.ENODEV:memoryless_target``: the case id, pytest-safe."""
    return case.id.replace("::", ":")


def _backend_id(backend: Backend) -> str:
    return backend.label.replace("–", "-")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.name != "test_case":
        return
    spec = metafunc.config.getoption("numa_backend", default="sim")
    try:
        backends = parse_backends(spec)
    except ValueError as exc:
        raise pytest.UsageError(f"--numa-backend: {exc}") from None
    cases = all_cases()
    params = [(b, c) for b in backends for c in cases]
    if len(backends) == 1:
        ids = [case_id(c) for _, c in params]
    else:
        ids = [f"{_backend_id(b)}:{case_id(c)}" for b, c in params]
    metafunc.parametrize(("backend", "case"), params, ids=ids)


def test_case(backend: Backend, case: Case) -> None:
    """One conformance case on one backend."""
    result = run_case(case, backend)
    if result.outcome is Outcome.NA:
        pytest.skip(f"n/a on {backend.label}: {result.detail}")
    if result.outcome is Outcome.SKIP:
        pytest.skip(result.detail)
    if result.outcome in (Outcome.FAIL, Outcome.ERROR):
        pytest.fail(f"{result.outcome.value}: {result.detail}", pytrace=False)
    assert result.outcome is Outcome.PASS
