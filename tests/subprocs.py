"""What a test's child Python process needs to run the code under test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
