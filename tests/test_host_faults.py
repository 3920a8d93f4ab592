"""Issue 8, the host backend: nothing crashes, nothing is left behind.  File names
cannot leave the backend's directory, a non-root controller is refused, errors read as
on the simulator, and helpers never print tracebacks for the controller's mistakes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from realnuma import leftovers
from realnuma.host import HostKernel
from simnuma import SimKernel

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root: helpers change uid")


def _pythonpath() -> str:
    """Where this process imported the packages from (a source tree under test, or the
    installed ones under tox): controllers in subprocesses run the same code."""
    import conformance
    import realnuma
    import simnuma

    roots = [
        str(Path(str(m.__file__)).resolve().parent.parent) for m in (realnuma, simnuma, conformance)
    ]
    return os.pathsep.join(dict.fromkeys(roots))


def _outcome(call: Any) -> tuple[str, str]:
    """What a call raised: its type's name and its message."""
    try:
        call()
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return "ok", ""


BAD_NAMES = ["../../x", "a/b", "/etc/x", "..", ".", "x\0y", " ", "\t\n", "é" * 101]
GOOD_NAMES = ["", "data", "..x", ".hidden", "a b", "é" * 100]


@needs_root
@pytest.mark.parametrize("name", BAD_NAMES + GOOD_NAMES + [b"x", 3])
def test_file_names_never_leave_the_directory(name: Any, tmp_path: Path) -> None:
    """``create_file(name='../../x')`` wrote a world-writable file two directories up,
    and close() left it there.  Sim and host accept and refuse the same names, with
    the same error naming ``name``; what the host makes lies in its own directory."""
    sim = _outcome(lambda: SimKernel().create_file(4096, name=name))
    before = set(Path("/dev/shm").parent.iterdir()) | set(Path("/dev/shm").iterdir())
    with HostKernel() as k:
        made: list[Any] = []
        host = _outcome(lambda: made.append(k.create_file(4096, name=name)))
        own = Path(k._tmpdir.name)
        for f in made:
            assert Path(f.path).resolve().parent == own.resolve()
    after = set(Path("/dev/shm").parent.iterdir()) | set(Path("/dev/shm").iterdir())
    assert host == sim
    if name in BAD_NAMES:
        assert host[0] == "ValueError" and host[1].startswith("name ")
    elif name in GOOD_NAMES:
        assert host == ("ok", "")
    else:
        assert host[0] == "TypeError" and host[1].startswith("name ")
    assert not {p for p in after - before if not p.name.startswith("realnuma-")}


def _run_controller(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=120,
        check=False,
    )


@needs_root
def test_spawn_as_a_non_root_user_is_refused() -> None:
    """A non-root controller got an unprivileged helper while the API promises root."""
    code = (  # this interpreter lives under /root: load first, then drop root
        "import os\n"
        "from realnuma.host import HostKernel\n"
        "os.setgroups([])\n"
        "os.setresgid(65534, 65534, 65534)\n"
        "os.setresuid(65534, 65534, 65534)\n"
        "k = HostKernel()\n"
        "try:\n"
        "    p = k.spawn()\n"
        "    print('spawned', p)\n"
        "except PermissionError as e:\n"
        "    print('refused', e)\n"
        "k.close()\n"
    )
    done = _run_controller(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused spawn: the host backend needs root"), done.stdout
    assert done.stderr == ""


@needs_root
@pytest.mark.parametrize(
    "call",
    [
        "p.mmap(2**64)",
        "p.mmap(2**48)",
        "k.spawn(uid=2**32)",
        "k.spawn(uid=2**32 - 1)",
        "p.read_bytes(4096, 2**64)",
        "p.touch(4096, 2**64)",
        "k.unpin(p, a)",
    ],
)
def test_errors_read_as_on_the_simulator(call: str) -> None:
    """mmap(2**64) was RuntimeError('helper ... failed: OverflowError'), spawn(uid=2**32)
    a traceback printed by the helper, a helper's ValueError came back prefixed
    'ValueError: '.  Now: the simulator's type and words, and no helper prints."""

    def outcome(k: Any) -> tuple[str, str]:
        p = k.spawn()
        a = p.mmap(4096)
        p.touch(a, 4096)
        kind, text = _outcome(lambda: eval(call, {}, {"k": k, "p": p, "a": a}))
        return kind, text.replace(f"{a:#x}", "<a>")

    sim = outcome(SimKernel())
    code = (
        "from realnuma import HostKernel\n"
        "def _outcome(call):\n"
        "    try:\n"
        "        call()\n"
        "    except Exception as exc:\n"
        "        return type(exc).__name__, str(exc)\n"
        "    return 'ok', ''\n"
        "with HostKernel() as k:\n"
        "    p = k.spawn()\n"
        "    a = p.mmap(4096)\n"
        "    p.touch(a, 4096)\n"
        f"    kind, text = _outcome(lambda: {call})\n"
        "    print(repr((kind, text.replace(f'{a:#x}', '<a>'))))\n"
    )
    done = _run_controller(code)
    assert done.stderr == "", "nothing printed by the controller or a helper"
    host = eval(done.stdout)
    if call.startswith("k.spawn"):  # the simulator has no uid_t: any int >= 0 is a uid
        assert host == (
            "ValueError",
            f"uid must be <= 4294967294 (uid_t; 4294967295 is -1), got {eval(call[12:-1])}",
        )
    elif sim[0] == "Segfault":  # a fault: EFAULT on both (their words differ, as for any fault)
        assert host[0] == "OSError" and host[1].startswith("[Errno 14] ")
    else:
        assert host == sim


@needs_root
def test_a_sigterm_python_swallowed_still_ends_the_controller() -> None:
    """SIGTERM is a SystemExit; one raised inside a finalizer (a closed kernel's, at
    garbage collection) was ignored by Python and the controller ran on.  Closed kernels
    have no finalizer left, and the next call to a helper ends the controller."""
    code = (
        "import os, signal, weakref\n"
        "from realnuma import HostKernel\n"
        "closed = HostKernel()\n"
        "closed.close()\n"
        "print('finalizer alive after close:', closed._finalizer.alive, flush=True)\n"
        "k = HostKernel()\n"
        "p = k.spawn()\n"
        "class Obj: pass\n"
        "o = Obj()\n"
        "weakref.finalize(o, os.kill, os.getpid(), signal.SIGTERM)\n"
        "del o  # the finalizer runs: SIGTERM's SystemExit is raised inside it\n"
        "p.touch(p.mmap(4096), 4096)\n"
        "print('survived SIGTERM', flush=True)\n"
    )
    done = _run_controller(code)
    assert done.stdout == "finalizer alive after close: False\n"
    assert done.returncode == 128 + 15, done.stderr


@needs_root
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_interpreter_cleans_up_is_quiet(signum: int) -> None:
    """A ^C as the controller exits landed in the atexit clean-ups: 'Exception ignored
    in atexit callback ... KeyboardInterrupt', and the clean-up was cut short."""
    code = (
        "import atexit, os, signal\n"
        "from realnuma import HostKernel\n"
        "k = HostKernel()  # never closed: its finalizer cleans up at exit\n"
        "mems = k.memory_node_ids()[:1]\n"
        "p = k.spawn(cpuset_mems=mems if 'cpuset' in k.features else None)\n"
        "k.create_file(4096)\n"
        "print(os.getpid(), flush=True)\n"
        f"atexit.register(os.kill, os.getpid(), {int(signum)})  # runs first\n"
    )
    done = _run_controller(code)
    assert done.stderr == ""
    assert done.returncode == 0
    assert leftovers.find(int(done.stdout)) == []


@needs_root
def test_a_sigterm_during_the_first_kernels_set_up_is_a_clean_exit() -> None:
    """A SIGTERM deferred while the first HostKernel made its directory came in before
    the handler was installed: the default action killed the controller, the
    realnuma-<pid>- directory stayed."""
    code = (
        "import os, signal\n"
        "import realnuma.host as host\n"
        "real_probe = host.probe\n"
        "def probe():\n"
        "    os.kill(os.getpid(), signal.SIGTERM)  # deferred until the set-up is done\n"
        "    return real_probe()\n"
        "host.probe = probe\n"
        "print(os.getpid(), flush=True)\n"
        "host.HostKernel()\n"
        "print('survived SIGTERM', flush=True)\n"
    )
    done = _run_controller(code)
    pid = int(done.stdout.split()[0])
    assert (done.returncode, done.stdout, done.stderr) == (143, f"{pid}\n", "")
    assert leftovers.find(pid) == []
