"""SIGINT, SIGTERM and SIGHUP as an exception, for the command-line tools (numa-run,
numa-conformance): a run unwinds like KeyboardInterrupt, so that every ``finally`` and
``with`` on the way kills what it started (helpers, QEMU) and removes what it made."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Stopped(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived (``signum``); exit with 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Turn the first SIGINT/SIGTERM/SIGHUP into Stopped; later ones are ignored while
    the run cleans up (SIGKILL still works: QEMU and helpers die with us, and what is
    left is found by realnuma.leftovers).  A signal ignored when we started (nohup,
    ``&`` in a script) stays ignored.  Only the main thread can have handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = [
        s
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        if signal.getsignal(s) is not signal.SIG_IGN
    ]

    def stop(signum: int, frame: FrameType | None) -> None:
        for s in signums:
            signal.signal(s, signal.SIG_IGN)
        raise Stopped(signum)

    previous = {s: signal.signal(s, stop) for s in signums}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
