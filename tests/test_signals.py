"""Signals at random moments into a controller (tests/signal_controller.py: a HostKernel
with cpusets, files, pins and helpers running conformance cases): SIGTERM and SIGINT
are clean exits, SIGKILL leaves what ``python -m realnuma.leftovers --clean`` removes.
Afterwards nothing of that controller's pid is left (processes, cgroups in every
hierarchy, /dev/shm and temp directories), and nothing printed a traceback.

The moment is drawn from the time the controller's script starts (a ^C while the
interpreter itself starts up is Python's own to report).  SIMNUMA_FAULT_RUNS sets the
number of runs (shared out among the three signals; 10 by
default, ``tox -e faults`` runs 150)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from subprocs import pythonpath

from realnuma.leftovers import clean, cpuset_roots, find, helper_pids, temp_dirs

CONTROLLER = Path(__file__).with_name("signal_controller.py")
RUNS = int(os.environ.get("SIMNUMA_FAULT_RUNS", "10"))
ROUNDS = 4  # HostKernels the controller builds, one after the other
CLEAN_EXIT: dict[int, int] = {
    signal.SIGTERM: 128 + signal.SIGTERM,
    signal.SIGINT: 130,
    signal.SIGKILL: -9,
}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: helpers change uid")


def _start() -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CONTROLLER), str(ROUNDS)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
        env=dict(os.environ, PYTHONPATH=pythonpath()),
    )


def _traces_of(pid: int) -> list[str]:
    """Whatever of controller ``pid`` is still there, by any name."""
    left = [str(f) for f in find(pid)]
    left += [f"helper {p}" for p in helper_pids(pid)]
    for top in [*cpuset_roots(), *temp_dirs()]:
        left += [str(p) for p in top.glob(f"*-{pid}-*")]
        left += [str(p) for p in top.glob(f"*-{pid}")]
    for entry in Path("/proc").iterdir():  # any process that names it (a helper, QEMU)
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(pid).encode() in argv or any(f"-{pid}-".encode() in a for a in argv):
                left.append(f"process {entry.name}: {argv}")
    return sorted(set(left))


def _one_run(signum: int, delay: float) -> tuple[str, list[str], list[str]]:
    """Signal a controller ``delay`` s after its start: (what it was doing, what
    leftovers --clean found, what is left after)."""
    proc = _start()
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the interpreter is up: the controller's code runs
    time.sleep(delay)
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=120)  # until the helpers, too, closed stderr
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the controller or a helper hung after signal {signum}: {err}")
    lines = (first + out).split("\n")
    moment = next((line for line in reversed(lines) if line), "starting")
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err == "", err
    # before its first HostKernel, SIGTERM kills the controller as it kills any process
    assert proc.returncode in (0, CLEAN_EXIT[signum], -signum), (proc.returncode, moment)
    cleaned: list[str] = []
    if signum == signal.SIGKILL:  # the controller could not clean up: a later run does
        done = subprocess.run(
            [sys.executable, "-m", "realnuma.leftovers", "--clean", "--owner", str(proc.pid)],
            capture_output=True,
            text=True,
            cwd="/",
            env=dict(os.environ, PYTHONPATH=pythonpath()),
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        cleaned = [line for line in done.stdout.splitlines() if line.startswith("removed")]
    # helpers exit when their socket closes: give the last ones a moment
    deadline = time.monotonic() + 10
    while (left := _traces_of(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return moment.split(" ")[0], cleaned, left


def _duration() -> float:
    """How long an undisturbed controller takes from its script's start to 'done'."""
    proc = _start()
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    started = time.monotonic()
    for line in proc.stdout:
        if line == "done\n":
            break
    took = time.monotonic() - started
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and line == "done\n" and out == "" and err == "", err
    assert _traces_of(proc.pid) == []
    return took


def test_signals_at_random_moments_leave_nothing_behind() -> None:
    span = _duration() * 1.05  # a few land after 'done': that is a clean exit too
    rng = random.Random(os.environ.get("SIMNUMA_FAULT_SEED"))
    plan = [(signal.SIGTERM, signal.SIGINT, signal.SIGKILL)[i % 3] for i in range(RUNS)]
    moments: Counter[tuple[str, str]] = Counter()
    cleaned: Counter[str] = Counter()
    failures = []
    for signum in plan:
        delay = rng.uniform(0, span)
        moment, removed, left = _one_run(signum, delay)
        name = signal.Signals(signum).name
        moments[(name, moment)] += 1
        cleaned[name] += len(removed)
        if left:
            failures.append(f"{name} at {delay:.3f} s ({moment}): left {left}")
    summary = ", ".join(
        f"{name}: {sum(n for (s, _), n in moments.items() if s == name)} runs "
        f"({', '.join(f'{m} {n}' for (s, m), n in sorted(moments.items()) if s == name)})"
        f"{f', {cleaned[name]} leftovers removed by --clean' if cleaned[name] else ''}"
        for name in ("SIGTERM", "SIGINT", "SIGKILL")
    )
    print(f"\nsignal runs: {summary}; left behind: {len(failures)}")
    assert not failures, "\n".join(failures)


def test_sigint_stops_the_suite_without_a_traceback() -> None:
    """^C into ``python -m conformance --backend host`` printed a KeyboardInterrupt
    traceback; it says 'interrupted', exits 130 and leaves nothing."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance", "--backend", "host", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
        env=dict(os.environ, PYTHONPATH=pythonpath()),
    )
    time.sleep(0.4)  # the suite takes a few times as long: the cases are running
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()  # never left behind, even when it hangs: say where it hung instead
        proc.communicate()
        stuck = _traces_of(proc.pid)
        clean(find(proc.pid))  # the controller is dead: its helpers are orphans now
        pytest.fail(f"the controller still ran 120 s after SIGINT; what it had: {stuck}")
    assert (proc.returncode, err) == (130, "numa-conformance: stopped by SIGINT\n")
    assert _traces_of(proc.pid) == []
