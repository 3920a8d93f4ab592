"""Argument checks of the Python API: TypeError/ValueError naming the argument."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NoReturn

from simnuma.abi.constants import CAPABILITIES, HUGE_PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE


def check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be int, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_ints(name: str, values: object) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of int, not {type(values).__name__}")
    out = list(values)
    if all(type(v) is int for v in out):
        return out
    for i, v in enumerate(out):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{name}[{i}] must be int, not {type(v).__name__}")
    return out


def check_nodes(name: str, values: object) -> list[int]:
    """A node list for a nodemask: ints >= 0."""
    out = check_ints(name, values)
    for i, v in enumerate(out):
        if v < 0:
            raise ValueError(f"{name}[{i}] must be a node id >= 0, got {v}")
    return out


def check_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


def check_caps(name: str, value: object) -> list[str]:
    """A list of capability names from CAPABILITIES."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(
            f"{name} must be a sequence of capability names, not {type(value).__name__}"
        )
    caps = list(value)
    for i, cap in enumerate(caps):
        if cap not in CAPABILITIES:
            raise ValueError(f"{name}[{i}]: {cap!r} is not one of {sorted(CAPABILITIES)}")
    return caps


def check_mmap(length: object, prot: object, offset: object, huge: object, page_size: int) -> int:
    """mmap()'s arguments; returns ``length`` rounded up to whole (huge) pages."""
    length = check_int("length", length, minimum=1)
    prot = check_int("prot", prot)
    offset = check_int("offset", offset, minimum=0)
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):
        raise ValueError(f"prot has unknown bits {prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):#x}")
    if offset % page_size:
        raise ValueError(f"offset {offset} is not a multiple of the page size")
    if huge not in (None, "thp", "hugetlb"):
        raise ValueError(f"huge must be None, 'thp' or 'hugetlb', not {huge!r}")
    unit = HUGE_PAGE_SIZE if huge else page_size
    return (length + unit - 1) // unit * unit


def check_range(addr: object, length: object, page_size: int) -> tuple[int, int]:
    """A page-aligned range for munmap/mprotect/mlock: (start, end rounded up)."""
    addr = check_int("addr", addr, minimum=0)
    length = check_int("length", length, minimum=1)
    if addr % page_size:
        raise ValueError(f"addr {addr:#x} is not page aligned")
    return addr, addr + (length + page_size - 1) // page_size * page_size


def raise_errno(err: int, what: str) -> NoReturn:
    """A set-up operation's answer to a failure: OSError(errno) with its message."""
    raise OSError(err, f"{what}: {os.strerror(err)}")


class SyscallError(OSError):
    """A NUMA syscall of the Python API (move_pages, migrate_pages, get_mempolicy,
    set_mempolicy, mbind) returned -1.  Still an OSError with ``.errno``; its own type
    tells the kernel's answer to the call apart from a set-up step that failed."""

    def __init__(self, syscall: str, err: int) -> None:
        super().__init__(err, f"{syscall}: {os.strerror(err)}")
        self.syscall = syscall

    def __reduce__(self) -> tuple[type[SyscallError], tuple[str, int]]:
        return SyscallError, (self.syscall, self.errno or 0)


def raise_syscall_error(err: int, syscall: str) -> NoReturn:
    """The Python API's answer to a NUMA syscall's -1 return: SyscallError(errno)."""
    raise SyscallError(syscall, err)
