"""A "real" backend made of the simulator, for tests of the differential and reports."""

from __future__ import annotations

from typing import Any

from conformance.backends import HostBackend, SimBackend
from conformance.env import Needs


class FakeHost(HostBackend):
    """A "real" backend that is the simulator at ``real``, mirrored at ``mirrored``."""

    def __init__(self, real: str, mirrored: str) -> None:
        self.real, self.mirrored = SimBackend(real), mirrored

    @property
    def label(self) -> str:
        return "host:fake"

    @property
    def release(self) -> tuple[int, ...]:
        return self.real.release

    def mirror(self) -> SimBackend:
        return SimBackend(self.mirrored, label_text="sim(host:fake)")

    def open(self, needs: Needs) -> Any:
        return self.real.open(needs)
