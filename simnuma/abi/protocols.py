"""The interface conformance cases are written against: Process, Kernel, World, and
move_pages()' result as the kernel writes it."""

from __future__ import annotations

import errno
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from simnuma.abi.constants import PROT_READ, PROT_WRITE, UNWRITTEN


class Explained(Protocol):
    """A backend's own account of one call (the simulator's ``CallRecord``)."""

    def explain(self, pages: Sequence[int] | None = None) -> str: ...

    def reason(self) -> str: ...


class MovePagesResult(NamedTuple):
    """move_pages(2) RETURN VALUE and the *status* array exactly as written.

    ``status`` holds node ids or negative errno values; entries the kernel left
    unwritten keep the caller's pre-initialised value (see ``UNWRITTEN``).
    """

    ret: int
    status: list[int]

    def explain(self) -> str:
        """Why the call answered so, value by value.  Only a backend that decides the
        answers itself knows (the simulator); a real kernel's result says so."""
        return (
            f"move_pages returned {self.ret}, status {format_statuses(self.status)}\n"
            "  not explained: the kernel that answered keeps no reasons; run the same "
            "call on simnuma.SimKernel at its release for them"
        )


class ExplainedMovePages(MovePagesResult):
    """A result whose backend recorded why (``why``): ``explain()`` tells it."""

    why: Explained
    pages: Sequence[int]

    def explain(self) -> str:
        return self.why.explain(self.pages)


def format_status(value: int) -> str:
    """Render one status entry for people: ``1``, ``-EFAULT``, ``unwritten``."""
    if value == UNWRITTEN:
        return "unwritten"
    if value >= 0:
        return str(value)
    name = errno.errorcode.get(-value)
    return f"-{name}" if name else str(value)


def format_statuses(status: Sequence[int]) -> str:
    """Render a whole status array: ``[0, -EFAULT, unwritten]``."""
    return "[" + ", ".join(format_status(v) for v in status) + "]"


def errno_name(err: int) -> str:
    """``errno.EPERM`` -> ``'EPERM'``; 0 -> ``'0'``."""
    return errno.errorcode.get(err, str(err)) if err else "0"


@runtime_checkable
class Process(Protocol):
    """A process of either backend: set-up operations plus the NUMA syscalls."""

    @property
    def pid(self) -> int: ...

    def mmap(
        self,
        length: int,
        *,
        shared: bool = False,
        file: object | None = None,
        huge: str | None = None,
        prot: int = PROT_READ | PROT_WRITE,
        offset: int = 0,
        addr: int = 0,
    ) -> int: ...

    def munmap(self, addr: int, length: int) -> None: ...

    def mprotect(self, addr: int, length: int, prot: int) -> None: ...

    def touch(self, addr: int, length: int) -> None: ...

    def read(self, addr: int, length: int) -> None: ...

    def write_bytes(self, addr: int, data: bytes) -> None: ...

    def read_bytes(self, addr: int, length: int) -> bytes: ...

    def mlock(self, addr: int, length: int) -> None: ...

    def fork(self) -> Process: ...

    def exit(self) -> None: ...

    def setresuid(self, ruid: int, euid: int, suid: int) -> None: ...

    def set_cpuset(self, mems: Iterable[int], *, memory_migrate: bool = False) -> None: ...

    def set_mempolicy(self, mode: int, nodes: Iterable[int]) -> None: ...

    def mbind(
        self, addr: int, length: int, mode: int, nodes: Iterable[int], flags: int = 0
    ) -> None: ...

    def move_pages(
        self, pid: int, pages: Sequence[int], nodes: Sequence[int] | None, flags: int
    ) -> MovePagesResult: ...

    def migrate_pages(
        self,
        pid: int,
        old_nodes: Iterable[int],
        new_nodes: Iterable[int],
        maxnode: int | None = None,
    ) -> int: ...

    def get_mempolicy(self, flags: int, addr: int = 0) -> tuple[int, list[int]]: ...

    def syscall(self, name: str, *args: int) -> tuple[int, int]: ...


@runtime_checkable
class Kernel(Protocol):
    """A kernel of either backend: topology facts and process creation."""

    @property
    def page_size(self) -> int: ...

    @property
    def release(self) -> str: ...

    def node_ids(self) -> list[int]: ...

    def memory_node_ids(self) -> list[int]: ...

    def cpu_node_ids(self) -> list[int]: ...

    @property
    def features(self) -> frozenset[str]:
        """The world-building operations (``WORLD_FEATURES``) this backend can perform."""
        ...

    def spawn(
        self,
        *,
        uid: int = 0,
        cpuset_mems: Iterable[int] | None = None,
        caps: Sequence[str] | None = None,
    ) -> Process:
        """A process of ``uid`` (root: every capability, others none, unless ``caps``
        names exactly the capabilities it holds) in a cpuset of ``cpuset_mems``, running on
        the first node with CPUs (its local node, until ``run_on``)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class World(Protocol):
    """World-building: sets state, never results.  Check ``Kernel.features`` first."""

    def pin(self, proc: Any, addr: int) -> None: ...

    def unpin(self, proc: Any, addr: int) -> None: ...

    def isolate(self, proc: Any, addr: int) -> None: ...

    def start_writeback(self, proc: Any, addr: int) -> None: ...

    def create_file(self, size: int, *, fs: Any = "tmpfs", name: str = "") -> Any: ...

    def write_file(self, f: Any, offset: int, data: bytes) -> None: ...

    def file_page_node(self, f: Any, index: int) -> int | None: ...

    def file_inode(self, f: Any) -> int: ...

    def mapping_inode(self, proc: Any, addr: int) -> int: ...

    def fill_node(self, nid: int, free_pages: int = 0) -> None: ...

    def spawn_kernel_thread(self) -> Process: ...

    def set_dumpable(self, proc: Any, value: int) -> None: ...

    def run_on(self, proc: Any, nid: int) -> None: ...

    def swap_out(self, proc: Any, addr: int) -> None: ...
