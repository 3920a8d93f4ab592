"""Issue 8, the host backend: nothing crashes, nothing is left behind.  File names
cannot leave the backend's directory, a non-root controller is refused, errors read as
on the simulator, and helpers never print tracebacks for the controller's mistakes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from realnuma.host import HostKernel
from simnuma import SimKernel

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root: helpers change uid")


def _outcome(call: Any) -> tuple[str, str]:
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
