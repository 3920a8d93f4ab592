"""What a test's child Python process needs to run the code under test."""

from __future__ import annotations

import os
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
