"""What a conformance case sees: the kernel, its needs, and the checks it makes.

Three outcomes, as in LTP: ``Skip`` (the backend cannot set the case up, with the
precise reason), an exception from set-up (ERROR), ``CaseFailed`` (the check failed).
A NUMA syscall of the Python API answering an errno the case did not catch raises
``SyscallError``: the call under test failed, so that is a FAIL too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, cast

from simnuma.abi import (
    WORLD_FEATURES,
    Kernel,
    MovePagesResult,
    Process,
    RawResult,
    SyscallError,
    World,
    errno_name,
    format_statuses,
)
from simnuma.abi.quirks import Release


class Skip(Exception):
    """The backend cannot set this case up; the message says why."""


class CaseFailed(AssertionError):
    """The behaviour differs from the clause."""


@dataclass(frozen=True)
class Needs:
    """What a case needs from a backend."""

    memory_nodes: int = 1
    memoryless_node: bool = False
    features: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = set(self.features) - set(WORLD_FEATURES)
        if unknown:
            raise ValueError(f"features: unknown {sorted(unknown)}")


class Env:
    """A case's handle on one backend's fresh kernel."""

    def __init__(self, kernel: Kernel, release: Release, needs: Needs) -> None:
        self.kernel = kernel
        self.release = release
        self.needs = needs
        self.page_size = kernel.page_size
        self.memory_nodes = kernel.memory_node_ids()
        self.memoryless_nodes = [n for n in kernel.node_ids() if n not in self.memory_nodes]
        self.cpu_nodes = kernel.cpu_node_ids()
        # an address no process ever maps: below vm.mmap_min_addr (64 KiB)
        self.unmapped = kernel.page_size

    @property
    def world(self) -> World:
        """World-building; only the features listed in the case's Needs may be used."""
        return cast(World, self.kernel)

    def spawn(
        self,
        uid: int = 0,
        cpuset_mems: Sequence[int] | None = None,
        caps: Sequence[str] | None = None,
    ) -> Process:
        """A new process; ``caps`` needs the "capabilities" feature."""
        if caps is not None and "capabilities" not in self.needs.features:
            raise ValueError("spawn(caps=...) needs the 'capabilities' feature in Needs")
        return self.kernel.spawn(uid=uid, cpuset_mems=cpuset_mems, caps=caps)

    def pages(self, proc: Process, count: int = 1, *, touch: bool = True, **mmap: Any) -> list[int]:
        """Map ``count`` pages (touched unless told otherwise); their addresses."""
        addr = proc.mmap(count * self.page_size, **mmap)
        if touch:
            proc.touch(addr, count * self.page_size)
        return [addr + i * self.page_size for i in range(count)]

    def hole(self, proc: Process) -> int:
        """A one-page hole between two mappings.  Create it last: a real kernel puts the
        next one-page mapping there (the API's own scratch mappings are larger)."""
        _, hole, _ = self.pages(proc, 3)
        proc.munmap(hole, self.page_size)
        return hole

    def status_of(
        self, proc: Process, addr: int, node: int, flags: int, *, owner: Process | None = None
    ) -> int:
        """The status move_pages() gives ``addr`` (in ``owner``'s memory, default ``proc``).

        A companion page that does move leads the call: until 2.6.28 a call that
        queued nothing failed with ENOENT and wrote no status at all.
        """
        owner = owner or proc
        companion, _ = self.pages(owner, 2)  # two pages: it never fills a one-page hole
        here = self.where(owner, [companion])[0]
        dest = next((n for n in self.memory_nodes if n != here), here)
        pid = 0 if owner is proc else owner.pid
        result = proc.move_pages(pid, [companion, addr], [dest, node], flags)
        expect(result.status[0], dest, "the companion page's status")
        return result.status[1]

    def where(self, proc: Process, addrs: Sequence[int], pid: int = 0) -> list[int]:
        """The query-mode status of each address."""
        result = proc.move_pages(pid, list(addrs), None, 0)
        expect(result.ret, 0, "query return value")
        return result.status


def fail(message: str) -> NoReturn:
    raise CaseFailed(message)


def expect(actual: object, expected: object, what: str) -> None:
    if actual != expected:
        fail(f"{what}: expected {expected!r}, got {actual!r}")


def expect_status(
    result: MovePagesResult | RawResult, status: Sequence[int], what: str = "status"
) -> None:
    actual = result.status if isinstance(result, MovePagesResult) else result.out
    if list(actual) != list(status):
        fail(f"{what}: expected {format_statuses(status)}, got {format_statuses(actual)}")


def expect_errno(call: Callable[[], object], err: int, what: str) -> None:
    """The call must fail with errno ``err`` (a SyscallError; any other exception is
    set-up breaking and propagates)."""
    try:
        value = call()
    except SyscallError as exc:
        if exc.errno != err:
            fail(f"{what}: expected {errno_name(err)}, got {errno_name(exc.errno or 0)} ({exc})")
        return
    fail(f"{what}: expected {errno_name(err)}, the call returned {value!r}")


def expect_raw(result: RawResult, ret: int, err: int, what: str) -> None:
    if (result.ret, result.err) != (ret, err):
        fail(
            f"{what}: expected ret={ret} errno={errno_name(err)}, "
            f"got ret={result.ret} errno={errno_name(result.err)}"
        )


__all__ = [
    "CaseFailed",
    "Env",
    "Needs",
    "Skip",
    "expect",
    "expect_errno",
    "expect_raw",
    "expect_status",
    "fail",
]
