"""Every answer explains itself (issue 12): each clause's case, run on the simulator at
a release where the clause holds, makes calls whose recorded reasons name that clause;
the reasons come from the code path that decided (``because`` at the guard), and every
clause id the simulator names is one of the registry's."""

from __future__ import annotations

import ast
import errno
import pathlib

import pytest

from conformance.clauses import CLAUSES
from conformance.explain import explain_clause, profile_for, run_explained
from conformance.registry import Case, all_cases
from conformance.runner import Outcome
from simnuma import SimKernel
from simnuma.abi import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, SyscallError

# Cases whose calls cannot name their clause, with the reason; the test fails when one
# of them starts to (remove it here) or another stops.
NOT_YET_NAMED: dict[str, str] = {}
_NOT_YET = {
    "it checks contents after writes and makes no NUMA call": [
        "fork.hugetlb_private_copy_on_write::hugetlb_private_written_after_fork",
    ],
    "it is about libnuma's wrapper: the simulator is called through the raw ABI": [
        "move_pages.wrapper_errors::wrapper_reports_errno",
    ],
}
for _why, _ids in _NOT_YET.items():
    NOT_YET_NAMED.update(dict.fromkeys(_ids, _why))


def _cases() -> list[Case]:
    return [c for c in all_cases() if profile_for(c.clause) is not None]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.id)
def test_case_calls_name_their_clause(case: Case) -> None:
    profile = profile_for(case.clause)
    assert profile is not None
    result, log = run_explained(case, profile)
    assert result.outcome == Outcome.PASS, result.detail
    named = set().union(*(r.clauses for r in log))
    if case.id in NOT_YET_NAMED:
        assert case.clause.id not in named, "named now: remove it from NOT_YET_NAMED"
    else:
        assert case.clause.id in named, f"{len(log)} calls named {sorted(named)}"


def _named_in_source() -> set[str]:
    """Every string literal of the simulator that looks like a clause id."""
    root = pathlib.Path(__file__).resolve().parent.parent / "simnuma"
    prefixes = tuple({cid.split(".")[0] + "." for cid in CLAUSES})
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if text.startswith(prefixes) and " " not in text and text.count(".") >= 2:
                    found.add(text)
    return found


def test_every_clause_the_simulator_names_exists() -> None:
    named = _named_in_source()
    assert len(named) > 100
    assert sorted(named - set(CLAUSES)) == []


def test_move_pages_explains_each_status() -> None:
    k = SimKernel(nodes=4, profile="6.1")
    p = k.spawn()
    a = p.mmap(4 * k.page_size)
    p.touch(a, 3 * k.page_size)
    r = p.move_pages(0, [a, a + 4096, a + 8192, a + 12288, 0], [1, 1, 2, 1, 1], MPOL_MF_MOVE)
    assert r.status == [1, 1, 2, -errno.EFAULT, -errno.EFAULT]
    text = r.explain()
    assert "status[0..1] (page " in text and "status[2] (page " in text
    assert "move_pages.status.EFAULT.unpopulated" in text  # 6.1: untouched is -EFAULT
    assert "move_pages.status.EFAULT.unmapped" in text
    assert "decided in follow_page() at simnuma/syscalls/move_pages.py:" in text
    assert "check: STATUS -EFAULT: not present" not in text  # each status its own check


def test_the_oserror_carries_the_reason() -> None:
    k = SimKernel(nodes=2)
    p = k.spawn(uid=1000)
    a = p.mmap(4096)
    with pytest.raises(SyscallError) as info:
        p.move_pages(0, [a], [1], MPOL_MF_MOVE_ALL)
    assert info.value.errno == errno.EPERM
    assert "MPOL_MF_MOVE_ALL without CAP_SYS_NICE" in str(info.value)
    assert "move_pages.errno.EPERM.move_all" in info.value.why


def test_a_real_kernel_result_says_it_is_not_explained() -> None:
    from simnuma.abi import MovePagesResult

    assert "not explained" in MovePagesResult(0, [0]).explain()


def test_explain_clause_prints_documents_releases_and_the_case() -> None:
    text = explain_clause("move_pages.errno.EPERM.ptrace_rule")
    assert "holds in: 4.13+" in text and "197e7e521384" in text
    assert "def cap_sys_nice_not_enough" in text
    assert "on the simulator at 6.16+: pass" in text
    assert "decided in find_mm_struct()" in text
    with pytest.raises(KeyError):
        explain_clause("move_pages.no.such.clause")


def test_trace_walks_the_guards_in_order() -> None:
    from simnuma.explain import trace
    from simnuma.syscalls import move_pages

    k = SimKernel(nodes=2, profile="6.12")
    p = k.spawn()
    a = p.mmap(2 * k.page_size)
    p.touch(a, k.page_size)
    result, steps = trace(lambda: p.move_pages(0, [a, a + 4096, 0], None, 0))
    assert result is not None and result.status == [0, -errno.ENOENT, -errno.EFAULT]
    text = str(steps)
    checks = steps.checks
    # the unmapped address: the first check of the lookup decides it
    unmapped = "[x] STATUS -EFAULT: the memory area is not mapped -- `vma is None`: yes"
    assert any(c.startswith(unmapped) for c in checks)
    # 6.12: an untouched private page is -ENOENT, decided after the earlier checks passed
    absent = [c for c in checks if "not present" in c]
    assert absent[-1].startswith("[x]") and "(frame=None)" in absent[-1]
    assert "=> -2: move_pages.status.ENOENT.unpopulated" in text
    assert "=> -14: move_pages.status.EFAULT.unmapped" in text
    assert text.index("do_pages_stat()") < text.index("follow_page()")
    assert move_pages.FAST_PATHS  # restored


def test_trace_keeps_the_steps_of_a_call_that_raised() -> None:
    from simnuma.explain import trace

    k = SimKernel(nodes=2)
    p = k.spawn(uid=1000)
    with pytest.raises(SyscallError) as info:
        trace(lambda: p.move_pages(0, [0], [1], MPOL_MF_MOVE_ALL))
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "[x] ERRORS EPERM: MPOL_MF_MOVE_ALL without CAP_SYS_NICE" in notes


def test_bad_input_is_refused_naming_the_argument() -> None:
    from simnuma.explain import trace

    with pytest.raises(TypeError, match="call must be callable"):
        trace(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit must be >= 1"):
        trace(lambda: None, limit=0)


def test_the_reason_survives_pickling() -> None:
    import pickle

    err = SyscallError("move_pages", errno.EPERM, "EPERM: why [move_pages.errno.EPERM]")
    again = pickle.loads(pickle.dumps(err))
    assert (again.errno, again.why, str(again)) == (err.errno, err.why, str(err))


def test_cli_explain_names_an_unknown_clause(capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.cli import main

    with pytest.raises(SystemExit) as info:
        main(["--explain", "move_pages.errno.EPERM.nonesuch"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "no clause 'move_pages.errno.EPERM.nonesuch'" in err
    assert "move_pages.errno.EPERM.move_all" in err  # the clauses near it
    assert main(["--explain", "move_pages.errno.ESRCH"]) == 0
    assert "decided in find_mm_struct()" in capsys.readouterr().out


def test_a_difference_from_a_real_kernel_says_why_the_simulator_answered_so() -> None:
    from conformance.runner import Result, differential

    case = next(c for c in all_cases() if c.clause.id == "move_pages.status.ENOENT.unpopulated")
    real = Result(case, "vm:6.12", Outcome.PASS, calls=(("move_pages", 0, 0, (-2,)),))
    sim = Result(
        case,
        "sim(vm:6.12)",
        Outcome.PASS,
        calls=(("move_pages", 0, 0, (-14,)),),
        why=(("move_pages.result.zero", "move_pages.status.EFAULT.unpopulated"),),
    )
    (line,) = differential([real], [sim]).unexpected
    assert line.endswith(
        "sim(vm:6.12) move_pages -> ret=0 errno=0 [-EFAULT] "
        "(because move_pages.result.zero, move_pages.status.EFAULT.unpopulated)"
    ), line
