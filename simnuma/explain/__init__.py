"""Why the simulator answered as it did: every errno, status and count carries the
clause of the registry that decided it, from the very code path that decided it
(``answers``); a call's record (``record``); the text people read (``render``); and a
step-through of the guards a call passed (``trace``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simnuma.explain.answers import Because, also, because, kernel_function, mirrors, reasons_of
from simnuma.explain.record import IDLE, CallRecord, Decision, IdleRecord
from simnuma.explain.trace import Trace, trace

if TYPE_CHECKING:
    from simnuma.frames import Frame

__all__ = [
    "IDLE",
    "Because",
    "CallRecord",
    "Decision",
    "IdleRecord",
    "Trace",
    "also",
    "because",
    "frame_why",
    "kernel_function",
    "mirrors",
    "reasons_of",
    "trace",
]


def frame_why(frame: Frame) -> tuple[str, ...]:
    """How a page came to be where it is (its placement's clauses), if known."""
    return frame.why
