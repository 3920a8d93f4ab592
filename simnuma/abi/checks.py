"""Argument checks of the Python API: TypeError/ValueError naming the argument."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, NoReturn, cast

from simnuma.abi.constants import CAPABILITIES, HUGE_PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE


def check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be int, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


# Text is iterable too, but never a list of numbers.
_TEXT = (str, bytes, bytearray, memoryview)


def _all_ints(name: str, values: list[object], indexed: bool) -> list[int]:
    """``values`` if every one is an int (bools are not); ``indexed``: name the position."""
    if not all(type(v) is int for v in values):
        for i, v in enumerate(values):
            if not isinstance(v, int) or isinstance(v, bool):
                if indexed:
                    raise TypeError(f"{name}[{i}] must be int, not {type(v).__name__}")
                raise TypeError(f"{name} must hold only int, not {type(v).__name__} ({v!r})")
    return cast(list[int], values)


def check_ints(name: str, values: object) -> list[int]:
    """An ordered list of ints, one per entry (move_pages' ``pages`` and ``nodes``)."""
    if isinstance(values, _TEXT) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of int, not {type(values).__name__}")
    return _all_ints(name, list(values), indexed=True)


def check_nodes(name: str, values: object) -> list[int]:
    """The nodes of a nodemask: ints >= 0 from any iterable (a list, set, range,
    generator), in any order, repeats allowed.  Text and mappings are refused."""
    if isinstance(values, (*_TEXT, Mapping)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be an iterable of int, not {type(values).__name__}")
    indexed = isinstance(values, Sequence)
    out = _all_ints(name, list(values), indexed)
    for i, v in enumerate(out):
        if v < 0:
            if indexed:
                raise ValueError(f"{name}[{i}] must be a node id >= 0, got {v}")
            raise ValueError(f"{name} must hold only node ids >= 0, got {v}")
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


def check_mems(name: str, mems: object, memory_nodes: Iterable[int]) -> frozenset[int]:
    """A cpuset's mems: a non-empty set of nodes that have memory (cpuset(7))."""
    nodes = frozenset(check_nodes(name, mems))
    if not nodes:
        raise ValueError(f"{name} must name at least one node")
    bad = sorted(nodes - frozenset(memory_nodes))
    if bad:
        raise ValueError(f"{name}: nodes {bad} have no memory (a cpuset may not hold them)")
    return nodes


class SpawnArgs(NamedTuple):
    """``Kernel.spawn``'s arguments, checked."""

    uid: int
    caps: frozenset[str] | None  # None: the uid's own (root every capability, others none)
    mems: frozenset[int] | None  # None: no cpuset of its own


MAX_UID = 0xFFFF_FFFE  # uid_t; 0xFFFFFFFF is (uid_t)-1, "no uid"


def check_uid(value: object) -> int:
    uid = check_int("uid", value, minimum=0)
    if uid > MAX_UID:
        raise ValueError(f"uid must be <= {MAX_UID} (uid_t; {MAX_UID + 1} is -1), got {uid}")
    return uid


def check_spawn(
    uid: object, cpuset_mems: object, caps: object, memory_nodes: Iterable[int]
) -> SpawnArgs:
    """What every backend's ``spawn`` checks before it makes a process."""
    return SpawnArgs(
        check_uid(uid),
        None if caps is None else frozenset(check_caps("caps", caps)),
        None if cpuset_mems is None else check_mems("cpuset_mems", cpuset_mems, memory_nodes),
    )


def check_prot(prot: object) -> int:
    """mmap/mprotect protection: PROT_READ|PROT_WRITE|PROT_EXEC bits only (the kernel
    gives EINVAL for others; the Python API names the argument)."""
    prot = check_int("prot", prot)
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):
        raise ValueError(f"prot has unknown bits {prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC):#x}")
    return prot


def check_mmap(
    length: object, prot: object, offset: object, huge: object, page_size: int, addr: object = 0
) -> int:
    """mmap()'s arguments; returns ``length`` rounded up to whole (huge) pages.  ``addr``
    is a hint (0: none): page-aligned, in the user address space."""
    length = check_int("length", length, minimum=1)
    hint = check_int("addr", addr, minimum=0)
    if hint % page_size or hint > USER_ADDRESS_LIMIT:
        raise ValueError(f"addr {hint:#x}: a hint is a page-aligned user address")
    check_prot(prot)
    offset = check_int("offset", offset, minimum=0)
    if length > USER_ADDRESS_LIMIT:
        raise ValueError(f"length {length:#x} is larger than the user address space")
    if offset + length >= 1 << 63:
        raise ValueError(f"offset {offset:#x} + length runs past the largest off_t")
    if offset % page_size:
        raise ValueError(f"offset {offset} is not a multiple of the page size")
    if huge not in (None, "thp", "hugetlb"):
        raise ValueError(f"huge must be None, 'thp' or 'hugetlb', not {huge!r}")
    unit = HUGE_PAGE_SIZE if huge else page_size
    return (length + unit - 1) // unit * unit


# TASK_SIZE on x86-64 (47-bit user addresses): no user range reaches beyond it
USER_ADDRESS_LIMIT = (1 << 47) - 4096


def check_span(addr: object, length: object, *, minimum: int = 1) -> tuple[int, int]:
    """``addr`` and ``length`` of a range of user memory (touch, read, read_bytes):
    ints, the range inside the user address space."""
    addr = check_int("addr", addr, minimum=0)
    length = check_int("length", length, minimum=minimum)
    if addr > USER_ADDRESS_LIMIT:
        raise ValueError(f"addr {addr:#x} is beyond the user address space")
    if addr + length > USER_ADDRESS_LIMIT:
        raise ValueError(f"length {length:#x} at {addr:#x} runs past the user address space")
    return addr, length


def check_range(addr: object, length: object, page_size: int) -> tuple[int, int]:
    """A page-aligned range for munmap/mprotect/mlock: (start, end rounded up)."""
    addr, length = check_span(addr, length)
    if addr % page_size:
        raise ValueError(f"addr {addr:#x} is not page aligned")
    return addr, addr + (length + page_size - 1) // page_size * page_size


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be bool, not {type(value).__name__}")
    return value


def check_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    return value


def check_file_name(name: str, value: object) -> str:
    """A file name for create_file(): one path component ('' lets the backend choose),
    so that the host backend's file never leaves its own directory."""
    text = check_str(name, value)
    if text and (
        not text.strip()
        or text in (".", "..")
        or "/" in text
        or "\0" in text
        or len(text.encode(errors="surrogatepass")) > 200
    ):
        raise ValueError(
            f"{name} must be one file name (no '/', NUL, '.' or '..', not blank, "
            f"at most 200 bytes), not {text!r}"
        )
    return text


def check_file_write(offset: object, data: object, size: int) -> bytes:
    """write_file()'s offset and data: inside the file (it never grows)."""
    offset = check_int("offset", offset, minimum=0)
    data = check_bytes("data", data)
    if offset + len(data) > size:
        raise ValueError(
            f"data: {len(data)} bytes at offset {offset} run past the file size {size}"
        )
    return data


def check_file_index(index: object, size: int, page_size: int) -> int:
    """A page index inside a file of ``size`` bytes."""
    index = check_int("index", index, minimum=0)
    if index * page_size >= size:
        raise ValueError(f"index {index} is beyond the file's {size} bytes")
    return index


def raise_errno(err: int, what: str) -> NoReturn:
    """A set-up operation's answer to a failure: OSError(errno) with its message."""
    raise OSError(err, f"{what}: {os.strerror(err)}")


class SyscallError(OSError):
    """A NUMA syscall of the Python API (move_pages, migrate_pages, get_mempolicy,
    set_mempolicy, mbind) returned -1.  Still an OSError with ``.errno``; its own type
    tells the kernel's answer to the call apart from a set-up step that failed."""

    def __init__(self, syscall: str, err: int, why: str = "") -> None:
        because = f" (because {why})" if why else ""
        super().__init__(err, f"{syscall}: {os.strerror(err)}{because}")
        self.syscall = syscall
        self.why = why  # the backend's reason, if it keeps them (the simulator)

    def __reduce__(self) -> tuple[type[SyscallError], tuple[str, int, str]]:
        return SyscallError, (self.syscall, self.errno or 0, self.why)


def raise_syscall_error(err: int, syscall: str, why: str = "") -> NoReturn:
    """The Python API's answer to a NUMA syscall's -1 return: SyscallError(errno)."""
    raise SyscallError(syscall, err, why)
