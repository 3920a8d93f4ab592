"""Spread a process's pages evenly over NUMA nodes, moving as few as possible.

The kernel is reached through a small interface, ``Memory``: raw ``syscall(name,
*ints)`` with pointer arguments in the caller's own memory, and that memory
(``mmap``, ``munmap``, ``write_bytes``, ``read_bytes``).  ``Libc`` is this process,
through ctypes and libc's ``syscall()``; a simnuma process (``SimKernel.spawn()``, or
``realnuma.HostKernel.spawn()``) is another, so the same code runs on the simulator.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import platform
import struct
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Libc", "Memory", "Report", "allowed_nodes", "plan", "rebalance", "where"]

PAGE_SIZE = 4096
MPOL_MF_MOVE = 1 << 1
MPOL_F_MEMS_ALLOWED = 1 << 2
MAXNODE = 4096 + 1  # bits of the mask get_mempolicy() writes (at most a page of it)

# syscall numbers, from <asm/unistd.h>
_SYSCALLS = {
    "x86_64": {"get_mempolicy": 239, "migrate_pages": 256, "move_pages": 279},
    "aarch64": {"get_mempolicy": 236, "migrate_pages": 238, "move_pages": 239},
}


class Memory(Protocol):
    """A process the helper acts as: raw syscalls and the memory their arrays live in."""

    def syscall(self, name: str, *args: int) -> tuple[int, int]: ...

    def mmap(self, length: int) -> int: ...

    def munmap(self, addr: int, length: int) -> None: ...

    def write_bytes(self, addr: int, data: bytes) -> None: ...

    def read_bytes(self, addr: int, length: int) -> bytes: ...


class Libc:
    """This process: syscalls through libc's ``syscall()`` (ctypes), memory by mmap."""

    def __init__(self) -> None:
        machine = platform.machine()
        if machine not in _SYSCALLS:
            raise OSError(errno.ENOSYS, f"no syscall numbers for {machine}")
        self._numbers = _SYSCALLS[machine]
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.syscall.restype = ctypes.c_long
        self._maps: dict[int, mmap.mmap] = {}

    def syscall(self, name: str, *args: int) -> tuple[int, int]:
        if name not in self._numbers:
            raise ValueError(f"name: unknown syscall {name!r} (known: {sorted(self._numbers)})")
        ctypes.set_errno(0)
        ret = int(self._libc.syscall(ctypes.c_long(self._numbers[name]), *map(ctypes.c_long, args)))
        return ret, ctypes.get_errno() if ret == -1 else 0

    def mmap(self, length: int) -> int:
        m = mmap.mmap(-1, length)
        view = (ctypes.c_char * length).from_buffer(m)
        addr = ctypes.addressof(view)
        del view  # the export ends here, so munmap() can close the map
        self._maps[addr] = m
        return addr

    def munmap(self, addr: int, length: int) -> None:
        self._maps.pop(addr).close()

    def write_bytes(self, addr: int, data: bytes) -> None:
        ctypes.memmove(addr, data, len(data))

    def read_bytes(self, addr: int, length: int) -> bytes:
        return ctypes.string_at(addr, length)


class _Arrays:
    """The call's arrays in the caller's memory, unmapped afterwards."""

    def __init__(self, mem: Memory, *parts: bytes) -> None:
        self.mem = mem
        self.offsets = []
        size = 0
        for part in parts:
            self.offsets.append(size)
            size += (len(part) + 15) // 16 * 16
        self.length = max(PAGE_SIZE, (size + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE)
        self.addr = mem.mmap(self.length)
        for offset, part in zip(self.offsets, parts, strict=True):
            if part:
                mem.write_bytes(self.addr + offset, part)

    def at(self, index: int) -> int:
        return self.addr + self.offsets[index]

    def __enter__(self) -> _Arrays:
        return self

    def __exit__(self, *exc: object) -> None:
        self.mem.munmap(self.addr, self.length)


def _move_pages(
    mem: Memory, pid: int, pages: Sequence[int], nodes: Sequence[int] | None
) -> list[int]:
    """move_pages(2): the status array; OSError when the call fails."""
    count = len(pages)
    ints = f"{count}i"
    packed_nodes = struct.pack(ints, *nodes) if nodes is not None else b""
    status = struct.pack(ints, *([-(1 << 30)] * count))
    with _Arrays(mem, struct.pack(f"{count}Q", *pages), packed_nodes, status) as a:
        node_array = a.at(1) if nodes is not None else 0
        flags = MPOL_MF_MOVE if nodes is not None else 0
        ret, err = mem.syscall("move_pages", pid, count, a.at(0), node_array, a.at(2), flags)
        if ret == -1:
            raise OSError(err, f"move_pages: {os.strerror(err)}")
        return list(struct.unpack(ints, mem.read_bytes(a.at(2), 4 * count)))


def where(mem: Memory, pages: Sequence[int], *, pid: int = 0) -> list[int]:
    """The node of each page, or -errno where it has none (not present, unmapped)."""
    return _move_pages(mem, pid, _check_pages(pages), None) if pages else []


def allowed_nodes(mem: Memory) -> list[int]:
    """The nodes the process may allocate on: those with memory, in its cpuset
    (get_mempolicy(MPOL_F_MEMS_ALLOWED))."""
    words = (MAXNODE + 63) // 64
    with _Arrays(mem, bytes(8), bytes(8 * words)) as a:
        ret, err = mem.syscall("get_mempolicy", a.at(0), a.at(1), MAXNODE, 0, MPOL_F_MEMS_ALLOWED)
        if ret == -1:
            raise OSError(err, f"get_mempolicy: {os.strerror(err)}")
        mask = struct.unpack(f"{words}Q", mem.read_bytes(a.at(1), 8 * words))
    return [w * 64 + b for w, word in enumerate(mask) for b in range(64) if word >> b & 1]


def plan(placement: Mapping[int, int], nodes: Sequence[int]) -> dict[int, int]:
    """The fewest moves (page -> node) that leave the pages of ``placement`` (page ->
    node) spread evenly over ``nodes``: counts differ by at most one, and the nodes
    holding the most keep the extra pages."""
    if not nodes:
        raise ValueError("nodes: empty")
    targets = list(nodes)
    counts = Counter(node for node in placement.values() if node in targets)
    base, extra = divmod(len(placement), len(targets))
    ranked = sorted(targets, key=lambda n: (-counts[n], n))
    quota = {n: base + (1 if i < extra else 0) for i, n in enumerate(ranked)}
    moving: list[int] = []
    kept: Counter[int] = Counter()
    for page, node in placement.items():
        if node in quota and kept[node] < quota[node]:
            kept[node] += 1
        else:
            moving.append(page)
    moves: dict[int, int] = {}
    for node in targets:
        while kept[node] < quota[node]:
            moves[moving.pop()] = node
            kept[node] += 1
    return moves


@dataclass(frozen=True)
class Report:
    """What a rebalance did: pages per node before and after, pages moved, pages that
    did not move (page -> -errno), pages without a frame (not present, unmapped)."""

    before: dict[int, int]
    after: dict[int, int]
    moved: int
    failed: dict[int, int]
    absent: list[int]


def rebalance(
    mem: Memory, pages: Sequence[int], nodes: Sequence[int] | None = None, *, pid: int = 0
) -> Report:
    """Spread the present ``pages`` of process ``pid`` (0: ``mem`` itself) evenly over
    ``nodes`` (default: every node ``mem`` may allocate on), moving as few as possible."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid < 0:
        raise ValueError(f"pid must be an int >= 0, got {pid!r}")
    page_list = _check_pages(pages)
    allowed = allowed_nodes(mem)
    if nodes is None:
        targets = allowed
    else:
        targets = list(nodes)
        if not targets:
            raise ValueError("nodes: empty")
        for n in targets:
            if isinstance(n, bool) or not isinstance(n, int):
                raise TypeError(f"nodes: {n!r} is not a node id")
            if n not in allowed:
                raise ValueError(
                    f"nodes: node {n} has no memory or is outside the cpuset (allowed: {allowed})"
                )
        if len(set(targets)) != len(targets):
            raise ValueError(f"nodes: {targets} names a node twice")
    statuses = where(mem, page_list, pid=pid)
    placement = {p: s for p, s in zip(page_list, statuses, strict=True) if s >= 0}
    absent = [p for p, s in zip(page_list, statuses, strict=True) if s < 0]
    moves = plan(placement, targets)
    failed: dict[int, int] = {}
    if moves:
        order = list(moves)
        result = _move_pages(mem, pid, order, [moves[p] for p in order])
        failed = {p: s for p, s in zip(order, result, strict=True) if s != moves[p]}
    after_status = where(mem, list(placement), pid=pid)
    moved = sum(1 for p, s in zip(placement, after_status, strict=True) if s != placement[p])
    return Report(
        before=dict(Counter(placement.values())),
        after=dict(Counter(s for s in after_status if s >= 0)),
        moved=moved,
        failed=failed,
        absent=absent,
    )


def _check_pages(pages: Sequence[int]) -> list[int]:
    if isinstance(pages, (str, bytes)) or not isinstance(pages, Sequence):
        raise TypeError(f"pages must be a sequence of addresses, not {type(pages).__name__}")
    out = list(pages)
    seen: set[int] = set()
    for i, a in enumerate(out):
        if isinstance(a, bool) or not isinstance(a, int):
            raise TypeError(f"pages[{i}]: {a!r} is not an address")
        if a <= 0 or a % PAGE_SIZE:
            raise ValueError(f"pages[{i}]: {a:#x} is not the address of a page")
        if a in seen:
            raise ValueError(f"pages[{i}]: {a:#x} is listed twice")
        seen.add(a)
    return out
