"""What a test's child Python process needs to run the code under test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def pythonpath() -> str:
    """Where this process imported the packages from (a source tree under test, or the
    installed ones under tox): controllers in subprocesses run the same code."""
    import conformance
    import realnuma
    import simnuma

    roots = [
        str(Path(str(m.__file__)).resolve().parent.parent) for m in (realnuma, simnuma, conformance)
    ]
    return os.pathsep.join(dict.fromkeys(roots))


def python_output(script: str) -> str:
    """The stdout of ``script`` in a fresh interpreter that imports the code under test
    (never the current directory's: a checkout has no compiled binding)."""
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
        env={**os.environ, "PYTHONPATH": pythonpath()},
    ).stdout


def run_capture(sup: Any, argv: list[str]) -> str:
    """Run ``argv`` under a numa-sim-run ``Supervisor`` with stdout to a file (the child
    writes it, not pytest); its output, after asserting it exited 0."""
    import tempfile

    with tempfile.TemporaryFile(mode="w+") as f:
        saved = os.dup(1)
        os.dup2(f.fileno(), 1)
        try:
            rc = sup.run(argv)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        f.seek(0)
        out = f.read()
    assert rc == 0, out
    return out
