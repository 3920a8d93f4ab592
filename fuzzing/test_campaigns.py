"""The long differential campaigns (issue 10) as a pytest matrix: one test per kernel
and seed shard, spread over cores (and machines) by pytest-xdist, one kernel per
worker (``--dist loadgroup``).  ``tox -e fuzz`` runs it::

    pytest -n 2 --dist loadgroup -rA fuzzing/
    SIMNUMA_FUZZ_KERNELS="host;vm:kernel=5.10,nodes=4,mem=256" SIMNUMA_FUZZ_PROGRAMS=2000 \\
        SIMNUMA_FUZZ_SHARDS=2 SIMNUMA_FUZZ_SEED=7 pytest -n 2 --dist loadgroup fuzzing/

Each test is one ``numa-fuzz`` campaign: it fails if the campaign found a
disagreement (saved under ``numa-fuzz-failures/`` with its replay command) or could
not boot its guest.  The seed of shard i is the base seed plus i; the base is random
unless ``SIMNUMA_FUZZ_SEED`` sets it, and every test prints its own.
"""

from __future__ import annotations

import os
import random

import pytest

from conformance.fuzz_cli import main

DEFAULT_KERNELS = ";".join(
    ["host"] + [f"vm:kernel={k},nodes=4,mem=256" for k in ("5.10", "6.1", "6.12", "7.2")]
)


def _number(name: str, default: int) -> int:
    text = os.environ.get(name) or str(default)
    try:
        return int(text)
    except ValueError:
        raise pytest.UsageError(f"{name}={text!r} is not a whole number") from None


KERNELS = [k for k in os.environ.get("SIMNUMA_FUZZ_KERNELS", DEFAULT_KERNELS).split(";") if k]
PROGRAMS = _number("SIMNUMA_FUZZ_PROGRAMS", 10000)
SHARDS = _number("SIMNUMA_FUZZ_SHARDS", 1)
SEED = _number("SIMNUMA_FUZZ_SEED", random.SystemRandom().randrange(1 << 31))


def _params() -> list[object]:
    if PROGRAMS < SHARDS or SHARDS < 1:
        raise pytest.UsageError(
            f"SIMNUMA_FUZZ_SHARDS={SHARDS} must be between 1 and SIMNUMA_FUZZ_PROGRAMS={PROGRAMS}"
        )
    return [
        pytest.param(
            kernel, shard, id=f"{kernel}-shard{shard}", marks=pytest.mark.xdist_group(kernel)
        )
        for kernel in KERNELS
        for shard in range(SHARDS)
    ]


@pytest.mark.parametrize(("kernel", "shard"), _params())
def test_campaign(kernel: str, shard: int, capsys: pytest.CaptureFixture[str]) -> None:
    programs = PROGRAMS // SHARDS + (shard < PROGRAMS % SHARDS)
    argv = ["--backend", kernel, "--programs", str(programs), "--seed", str(SEED + shard)]
    code = main(argv)
    out = capsys.readouterr().out
    print(out)  # the summary and each replay command, in the report (-rA)
    assert code == 0, f"numa-fuzz {' '.join(argv)} exited {code}:\n{out}"
