"""The raw ABI never raises: random register values for every syscall come back as
(ret, errno), and the model stays consistent (frames on one node each, node counts
right, mapcounts right, contents unchanged)."""

from __future__ import annotations

import errno
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simnuma import SimKernel, named_profiles
from simnuma.abi import MPOL_MF_MOVE, pack_ints, pack_ulongs
from simnuma.mm import MMAP_BASE
from simnuma.process import SimProcess
from simnuma.syscalls import SYSCALLS

PAGE = 4096
PATTERN = bytes(range(256)) * 16


def world(profile: str) -> tuple[SimKernel, SimProcess, SimProcess, list[int], int]:
    """A target with private and shared pages of known contents (and a forked child), a
    caller whose argument area holds plausible arrays naming them, so random calls also
    reach the deep paths.  Syscalls write only into the caller's memory."""
    k = SimKernel(nodes=3, profile=profile)
    q = k.spawn()
    base = q.mmap(8 * PAGE)
    q.write_bytes(base, PATTERN * 8)
    shared = q.mmap(2 * PAGE, shared=True)
    q.write_bytes(shared, PATTERN * 2)
    child = q.fork()
    child.touch(shared, PAGE)
    p = k.spawn()
    p.mmap(10 * PAGE)  # the same addresses exist in the caller too
    args = p.mmap(4 * PAGE)
    pages = [base + i * PAGE for i in range(8)] + [shared, shared + PAGE]
    p.write_bytes(args, pack_ulongs(pages) + pack_ints([1, 2, 0, 1, 7, -1, 2, 2, 1, 0]))
    p.write_bytes(args + PAGE, pack_ulongs([0b111, 0b10]))
    return k, p, q, [base, shared], args


POINTERISH = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.integers(min_value=0, max_value=16),
    st.sampled_from([MMAP_BASE + i * PAGE for i in range(64)]),
)
CALLS = st.lists(
    st.tuples(st.sampled_from(sorted(SYSCALLS)), st.lists(POINTERISH, min_size=0, max_size=7)),
    min_size=1,
    max_size=6,
)
PROFILES = [p.name for p in named_profiles()]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=st.sampled_from(PROFILES), calls=CALLS, args_offset=st.integers(0, 2 * PAGE))
def test_random_registers(
    profile: str, calls: list[tuple[str, list[int]]], args_offset: int
) -> None:
    k, p, q, (base, shared), args = world(profile)
    for name, regs in calls:
        # 1 stands for the argument area, 2 for the target's pid
        regs = [args + args_offset if r == 1 else q.pid if r == 2 else r for r in regs]
        ret, err = p.syscall(name, *regs)
        assert isinstance(ret, int) and isinstance(err, int)
        assert (ret == -1) == (err != 0), (name, ret, err)
        assert err == 0 or err in errno.errorcode
        if name in ("move_pages", "migrate_pages"):
            # every answer explains itself, the errno by a clause that names it
            rec = p.last_call
            assert rec is not None and rec.answer is not None and rec.answer.clauses, rec
            assert not err or any(errno.errorcode[err] in c for c in rec.answer.clauses), rec
            assert all(d.clauses for d in rec.statuses().values()), rec.statuses()
        k.check_consistency()
    assert q.read_bytes(base, 8 * PAGE) == PATTERN * 8
    assert q.read_bytes(shared, 2 * PAGE) == PATTERN * 2


def test_unknown_syscall_is_enosys() -> None:
    p = SimKernel().spawn()
    assert p.syscall("fork_bomb", 1, 2) == (-1, errno.ENOSYS)


def test_registers_are_truncated_like_c() -> None:
    """pid is an int: 2**32 reads as pid 0 (the caller), flags high bits are cut too."""
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(PAGE)
    p.touch(a, PAGE)
    arrays = p.mmap(PAGE)
    p.write_bytes(arrays, pack_ulongs([a]) + pack_ints([1]))
    ret = p.syscall("move_pages", 2**32, 1, arrays, arrays + 8, arrays + 16, MPOL_MF_MOVE | 2**32)
    assert ret == (0, 0)
    assert p.move_pages(0, [a], None, 0).status == [1]


def test_long_fuzz_script_runs_clean() -> None:
    """benchmarks/fuzz_raw_abi.py (the million-call run, see README) at a few thousand
    calls: no exception, no broken invariant."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "benchmarks" / "fuzz_raw_abi.py"
    spec = importlib.util.spec_from_file_location("fuzz_raw_abi", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    stats = module.run(3000, seed=7)
    assert stats.calls == 3000
    assert (stats.exceptions, stats.broken) == (0, 0), "\n".join(stats.first)
