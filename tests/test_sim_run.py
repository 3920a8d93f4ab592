"""numa-sim-run: unmodified programs (numactl's tools, and C programs of ours, dynamic
and static, raw syscalls) on the simulated machine, through seccomp user
notification; fault injection as world state; clear errors; nothing left behind."""

from __future__ import annotations

import errno
import itertools
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from subprocs import pythonpath, run_capture

from simnuma import SimKernel
from simnuma.abi import UNWRITTEN
from simnuma.run import seccomp
from simnuma.run.cli import main
from simnuma.run.inject import Injection, load_rules
from simnuma.run.supervisor import ProgramError, Supervisor, run
from simnuma.topology import GIB, NodeSpec, Topology

PROGRAMS = Path(__file__).parent / "programs"
EBUSY, ENOMEM, ENODEV = -16, -12, 19

try:
    seccomp.check_supported()
    UNSUPPORTED = ""
except seccomp.Unsupported as exc:
    UNSUPPORTED = str(exc)
pytestmark = pytest.mark.skipif(bool(UNSUPPORTED), reason=UNSUPPORTED)
needs_numactl = pytest.mark.skipif(
    shutil.which("numactl") is None, reason="numactl is not installed (apt-get install numactl)"
)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """tests/programs/pages.c built twice: dynamic and static (gcc, libc.a)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    out = tmp_path_factory.mktemp("programs")
    built = {}
    for kind, flags in (("dynamic", []), ("static", ["-static"])):
        exe = out / f"pages-{kind}"
        subprocess.run(
            ["gcc", "-O2", *flags, "-o", str(exe), str(PROGRAMS / "pages.c")], check=True
        )
        built[kind] = str(exe)
    return built


def sim_run(
    args: list[str], cwd: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """numa-sim-run in a child interpreter, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "simnuma.run.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": pythonpath()},
    )


def statuses(out: str, label: str) -> list[int]:
    """The statuses pages.c printed on its ``label`` line."""
    line = next(ln for ln in out.splitlines() if ln.startswith(label + " "))
    return [int(x) for x in line.split()[2:]]


# --- numactl's own tools ------------------------------------------------------------------
@needs_numactl
def test_numactl_hardware_shows_the_simulated_nodes_sizes_and_distances() -> None:
    r = sim_run(
        [
            "--nodes",
            "4",
            "--memoryless",
            "3",
            "--mem",
            "512",
            "--distance",
            "17",
            "--",
            "numactl",
            "-H",
        ]
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "available: 4 nodes (0-3)" in out
    for nid in range(3):
        assert f"node {nid} size: 512 MB" in out
    assert "node 3 size: 0 MB" in out
    assert re.search(r"^  0:  10  17  17  17\s*$", out, re.M), out
    assert re.search(r"^  3:  17  17  17  10\s*$", out, re.M), out


@needs_numactl
@pytest.mark.parametrize("kind", ["dynamic", "static"])
def test_numactl_membind_places_the_programs_pages_on_that_node(
    pages: dict[str, str], kind: str
) -> None:
    r = sim_run(["--nodes", "2", "--", "numactl", "--membind=1", "--", pages[kind], "4"])
    assert r.returncode == 0, r.stderr
    assert statuses(r.stdout, "where") == [1, 1, 1, 1]


@needs_numactl
def test_numactl_interleave_alternates_by_page_offset(pages: dict[str, str]) -> None:
    r = sim_run(["--nodes", "3", "--", "numactl", "--interleave=0,2", "--", pages["dynamic"], "6"])
    assert r.returncode == 0, r.stderr
    where = statuses(r.stdout, "where")
    assert set(where) == {0, 2}
    assert all(a != b for a, b in itertools.pairwise(where)), where


def _beside(tmp_path: Path, exe: str, pages: int, then: str, after: str = "") -> str:
    """A shell script: ``exe pages wait`` in the background until it is ready, then
    the command ``then`` ($p: its pid), then it ends; its output at the end."""
    fifo, out = tmp_path / "fifo", tmp_path / "out"
    os.mkfifo(fifo)
    script = tmp_path / "beside.sh"
    script.write_text(
        f"{exe} {pages} wait < {fifo} > {out} &\n"
        f"p=$!\nexec 3>{fifo}\n"
        f"while ! grep -q ready {out}; do sleep 0.05; done\n"
        f"{then}\nexec 3>&-\nwait $p\n{after}\n"
    )
    return str(script)


@needs_numactl
def test_migratepages_moves_a_running_programs_pages(pages: dict[str, str], tmp_path: Path) -> None:
    script = _beside(
        tmp_path, pages["dynamic"], 4, "migratepages $p 0 1 || exit 9", f"cat {tmp_path / 'out'}"
    )
    r = sim_run(["--nodes", "2", "--", "sh", script])
    assert r.returncode == 0, r.stderr
    assert statuses(r.stdout, "where") == [0, 0, 0, 0]
    assert statuses(r.stdout, "then") == [1, 1, 1, 1]


@needs_numactl
def test_numastat_p_reads_the_simulated_numa_maps(pages: dict[str, str], tmp_path: Path) -> None:
    script = _beside(tmp_path, pages["dynamic"], 1024, "numastat -p $p")
    r = sim_run(["--nodes", "2", "--", "numactl", "--membind=1", "--", "sh", script])
    assert r.returncode == 0, r.stderr
    private = next(ln for ln in r.stdout.splitlines() if ln.startswith("Private"))
    node0, node1 = (float(x) for x in private.split()[1:3])
    assert node1 >= 4.0  # the 1024 touched pages (4 MiB) are on node 1
    assert node0 < node1


def test_numa_maps_and_mems_allowed_show_the_simulated_task() -> None:
    r = sim_run(
        [
            "--nodes",
            "4",
            "--memoryless",
            "3",
            "--",
            "sh",
            "-c",
            "grep Mems_allowed_list /proc/self/status; cat /proc/self/numa_maps",
        ]
    )
    assert r.returncode == 0, r.stderr
    assert "Mems_allowed_list:\t0-2" in r.stdout
    heap = [ln for ln in r.stdout.splitlines() if " heap " in ln or " stack " in ln]
    assert heap and all(re.search(r" N0=\d+ kernelpagesize_kB=4$", ln) for ln in heap), heap


# --- raw syscalls, static binaries, injection ----------------------------------------------
def test_a_static_binarys_move_pages_gets_simulated_statuses(pages: dict[str, str]) -> None:
    k = SimKernel(3)
    sup = Supervisor(k)
    out = run_capture(sup, [pages["static"], "4", "2"])
    assert statuses(out, "where") == [0, 0, 0, 0]
    assert statuses(out, "move") == [2, 2, 2, 2]
    assert statuses(out, "after") == [2, 2, 2, 2]
    assert [c[1] for c in sup.calls] == ["move_pages"] * 3


@pytest.mark.parametrize(
    ("rule", "moved"),
    [
        ("busy:page=1", [1, EBUSY, 1]),
        ("busy:page=all", [EBUSY, EBUSY, EBUSY]),
    ],
)
def test_injected_world_state_reaches_the_programs_error_paths(
    pages: dict[str, str], rule: str, moved: list[int]
) -> None:
    sup = Supervisor(SimKernel(2), [Injection.parse(rule)])
    out = run_capture(sup, [pages["static"], "3", "1"])
    assert statuses(out, "move") == moved


def test_a_full_node_fails_the_move(pages: dict[str, str]) -> None:
    sup = Supervisor(SimKernel(2), [Injection.parse("full:node=1")])
    out = run_capture(sup, [pages["static"], "3", "1"])
    assert f"move rc=-1 errno={-ENOMEM}" in out


@pytest.mark.parametrize("profile", ["5.10", "6.12"])
def test_a_pinned_page_answers_as_in_process(pages: dict[str, str], profile: str) -> None:
    """The pin is state: the program sees what the simulated kernel gives a pinned
    page in a move in-process (SimKernel.pin), release by release."""
    sup = Supervisor(SimKernel(2, profile=profile), [Injection.parse("pinned:page=0")])
    out = run_capture(sup, [pages["static"], "2", "1"])
    ref = SimKernel(2, profile=profile)
    p = ref.spawn()
    addr = p.mmap(2 * 4096)
    p.touch(addr, 2 * 4096)
    ref.pin(p, addr)
    r = p.move_pages(0, [addr, addr + 4096], [1, 1], 0)
    shown = " ".join(str(-12345 if s == UNWRITTEN else s) for s in r.status)
    assert f"move rc={r.ret} {shown}" in out


def test_a_memoryless_target_node_fails_the_call(pages: dict[str, str]) -> None:
    topo = Topology({0: NodeSpec(GIB), 1: NodeSpec(0)})
    out = run_capture(Supervisor(SimKernel(topology=topo)), [pages["static"], "2", "1"])
    assert f"move rc=-1 errno={ENODEV}" in out


@needs_numactl
@pytest.mark.parametrize(("profile", "answer"), [("5.10", errno.EINVAL), ("6.12", 0)])
def test_the_profile_decides_the_answer(profile: str, answer: int) -> None:
    """The same program on two profiles: libnuma probes MPOL_PREFERRED_MANY (5.15+)
    with a set_mempolicy() at start-up."""
    sup = Supervisor(SimKernel(2, profile=profile))
    run_capture(sup, ["numactl", "-H"])
    probe = next(c for c in sup.calls if c[1] == "set_mempolicy")
    assert probe[3] == answer


# --- rules, errors, clean-up -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "unknown injection rule 'foo'"),
        ("busy", "busy needs page=N"),
        ("busy:addr=0x1001", "page-aligned"),
        ("full:page=1", "full needs node=N"),
    ],
)
def test_bad_rules_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Injection.parse(text)


def test_a_rule_file_takes_one_rule_a_line() -> None:
    rules = load_rules(["# busy pages", "busy:page=0", "", "full:node=1  # no room"])
    assert rules == [Injection("busy", page=0), Injection("full", node=1)]


def test_cli_errors_and_exit_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--", str(tmp_path / "missing")]) == 127
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "data").write_text("not a program")
    assert main(["--", str(tmp_path / "data")]) == 126
    assert "not executable" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--inject", "nonsense", "--", "true"])
    assert exc.value.code == 2
    assert "unknown injection rule" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--nodes", "2", "--memoryless", "5", "--", "true"])
    assert "--memoryless: node 5" in capsys.readouterr().err
    assert main(["--", "sh", "-c", "exit 7"]) == 7
    assert main(["--", "sh", "-c", "kill -TERM $$"]) == 128 + signal.SIGTERM


def test_no_seccomp_user_notification_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "release", lambda: "5.4.0-generic")
    with pytest.raises(seccomp.Unsupported, match=r"needs Linux 5\.14"):
        Supervisor(SimKernel(2))


def test_what_the_program_left_running_is_ended() -> None:
    r = sim_run(["--", "sh", "-c", "sleep 300 & echo $!"])
    assert r.returncode == 0, r.stderr
    left = int(r.stdout.split()[0])
    assert not Path(f"/proc/{left}").exists()


def test_the_program_and_its_children_die_with_the_supervisor(tmp_path: Path) -> None:
    """SIGKILL to numa-sim-run: its warden (the subreaper between it and the
    program) sees the supervisor gone and ends the program and its children."""
    pids = tmp_path / "pids"
    script = f"sleep 300 & echo $! > {pids}.tmp; echo $$ >> {pids}.tmp; mv {pids}.tmp {pids}; wait"
    trees = set(Path(tempfile.gettempdir()).glob("numa-sim-run-*"))
    sup = subprocess.Popen(
        [sys.executable, "-m", "simnuma.run.cli", "--", "sh", "-c", script],
        env={**os.environ, "PYTHONPATH": pythonpath()},
    )
    deadline = time.monotonic() + 60
    while not pids.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [int(x) for x in pids.read_text().split()]
    assert all(Path(f"/proc/{p}").exists() for p in left)
    sup.send_signal(signal.SIGKILL)
    sup.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{p}").exists() for p in left) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in left if Path(f"/proc/{p}").exists()]
    # and its node directory: the warden removes it
    while set(Path(tempfile.gettempdir()).glob("numa-sim-run-*")) - trees:
        assert time.monotonic() < deadline, "the node directory was left behind"
        time.sleep(0.05)


def test_the_python_api_runs_a_program_on_a_kernel_it_is_given(pages: dict[str, str]) -> None:
    k = SimKernel(2)
    assert run([pages["static"], "1", "1"], kernel=k) == 0
    assert all(t.mm is None for t in k.tasks.values())  # its task exited with it
    with pytest.raises(ProgramError, match="command not found"):
        run(["no-such-program-here"], kernel=k)


# --- the project's own suite and fuzzer through this path ---------------------------------
def test_the_conformance_suite_through_numa_sim_run_matches_the_simulator_call_for_call() -> None:
    """The host backend under numa-sim-run (its calls answered by the simulator via
    seccomp) against the simulator backend mirroring it (--compare): every case that
    needs no host world-building runs, and every raw call is identical."""
    r = sim_run(
        [
            "--nodes",
            "4",
            "--memoryless",
            "3",
            "-q",
            "--",
            sys.executable,
            "-m",
            "conformance.cli",
            "--backend",
            "host",
            "--compare",
        ],
        cwd="/",
        timeout=900,
    )
    assert "differential: 0 case(s) where the simulator disagrees" in r.stdout, r.stdout[-3000:]
    summary = r.stdout.strip().splitlines()[-1]
    passed, failed = (int(x) for x in re.findall(r"(\d+) passed, (\d+) failed", summary)[0])
    assert failed == 0 and passed >= 150, summary
    skips = [ln for ln in r.stdout.splitlines() if ": skip: " in ln]
    assert all("numa-sim-run" in ln or "host cannot" in ln for ln in skips), skips


def test_random_programs_through_numa_sim_run_agree_with_the_simulator(tmp_path: Path) -> None:
    r = sim_run(
        [
            "--nodes",
            "3",
            "-q",
            "--",
            sys.executable,
            "-m",
            "conformance.fuzz_cli",
            "--backend",
            "host",
            "--programs",
            "15",
            "--seed",
            "3",
        ],
        cwd=str(tmp_path),
        timeout=900,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "0 disagreement(s)" in r.stdout, r.stdout


def test_the_python_api_names_a_bad_argument() -> None:
    with pytest.raises(TypeError, match="kernel must be SimKernel"):
        Supervisor("4 nodes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="inject: each rule must be an Injection"):
        Supervisor(SimKernel(2), ["busy:page=0"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="argv must be a sequence of str"):
        run("true")
    with pytest.raises(ValueError, match="argv: no program given"):
        run([])


def test_a_pid_outside_the_program_is_the_simulators_to_answer(pages: dict[str, str]) -> None:
    """move_pages(2) of kthreadd (pid 2, a kernel thread on both machines) and of this
    test's own pid (not on the simulated machine): EINVAL and ESRCH, as the simulator
    says; neither becomes a task."""
    k = SimKernel(2)
    libc_prog = (
        "import ctypes, errno, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"for pid in (2, {os.getpid()}):\n"
        "    r = libc.syscall(279, pid, 0, None, None, None, 0)\n"
        "    print(pid, r, errno.errorcode.get(ctypes.get_errno(), 0) if r else 0)\n"
    )
    sup = Supervisor(k)
    out = run_capture(sup, [sys.executable, "-c", libc_prog])
    assert out.split("\n")[:2] == ["2 -1 EINVAL", f"{os.getpid()} -1 ESRCH"], out
    assert all(p == 2 or t.mm is None for p, t in k.tasks.items())


@pytest.mark.parametrize(
    ("line", "special", "anonymous"),
    [
        ("7f00-7f01 rw-p 00000000 00:00 0  [anon:arena]", False, True),
        ("7f00-7f01 rw-s 00000000 00:01 4242  [anon_shmem:ring]", False, False),
        ("7f00-7f01 r--p 00000000 00:00 0  [vvar]", True, True),
        ("5555-5556 rw-p 00000000 00:00 0  [heap]", False, True),
        ("7f00-7f01 r-xp 00001000 fe:00 26723  /usr/lib/libc.so.6", False, False),
    ],
)
def test_maps_lines_are_classified(line: str, special: bool, anonymous: bool) -> None:
    """Named anonymous memory (PR_SET_VMA_ANON_NAME) is memory like any other; only
    the kernel's own special mappings are left out of the mirror."""
    from simnuma.run.remote import parse_maps

    (m,) = parse_maps(line)
    assert (m.special, m.anonymous) == (special, anonymous)


def test_ctrl_c_ends_the_run_with_130(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    sup = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simnuma.run.cli",
            "--",
            "sh",
            "-c",
            f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 300",
        ],
        env={**os.environ, "PYTHONPATH": pythonpath()},
    )
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    sup.send_signal(signal.SIGINT)
    assert sup.wait(timeout=30) == 130
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists()


def test_explain_prints_why_each_call_was_answered_so(pages: dict[str, str]) -> None:
    r = sim_run(["--nodes", "2", "--profile", "6.1", "--explain", "--", pages["dynamic"], "2", "1"])
    assert r.returncode == 0, r.stderr
    assert statuses(r.stdout, "move") == [1, 1]
    err = r.stderr
    # the program's query, then its move: each call with its return value's clause and
    # each status's, the check that decided it and the kernel function it mirrors
    assert re.search(r"\] move_pages\(0, 2, 0x[0-9a-f]+, 0, 0x[0-9a-f]+, 0\) on simulated", err)
    assert re.search(r"\] move_pages\(0, 2, 0x[0-9a-f]+, 0x[0-9a-f]+, 0x[0-9a-f]+, 0\) on", err)
    assert re.search(r"\]   status\[0\.\.1\] \(page 0x[0-9a-f]+\) = 1$", err, re.M), err
    assert "move_pages.status.node: status holds the node" in err
    assert "move_pages.contents: migration keeps every page's contents" in err
    assert "decided in move_pages_and_store_status() at simnuma/syscalls/" in err
    assert "move_pages.result.zero" in err
