"""The backend-neutral contract shared by simnuma and realnuma.

Constants carry their C names (``<linux/mempolicy.h>``, ``<sys/mman.h>``); the
protocols are the interface that conformance cases are written against.  This is
the only module of simnuma that realnuma imports.
"""

from __future__ import annotations

import errno
import os
from array import array
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, NamedTuple, NoReturn, Protocol, cast, runtime_checkable

# move_pages(2) / mbind(2) flags (linux/mempolicy.h)
MPOL_MF_STRICT = 1 << 0
MPOL_MF_MOVE = 1 << 1
MPOL_MF_MOVE_ALL = 1 << 2

# get_mempolicy(2) flags
MPOL_F_NODE = 1 << 0
MPOL_F_ADDR = 1 << 1
MPOL_F_MEMS_ALLOWED = 1 << 2

# set_mempolicy(2) mode flags
MPOL_F_NUMA_BALANCING = 1 << 13
MPOL_F_RELATIVE_NODES = 1 << 14
MPOL_F_STATIC_NODES = 1 << 15

# memory policy modes
MPOL_DEFAULT = 0
MPOL_PREFERRED = 1
MPOL_BIND = 2
MPOL_INTERLEAVE = 3
MPOL_LOCAL = 4
MPOL_PREFERRED_MANY = 5
MPOL_WEIGHTED_INTERLEAVE = 6

MODE_NAMES = {
    MPOL_DEFAULT: "MPOL_DEFAULT",
    MPOL_PREFERRED: "MPOL_PREFERRED",
    MPOL_BIND: "MPOL_BIND",
    MPOL_INTERLEAVE: "MPOL_INTERLEAVE",
    MPOL_LOCAL: "MPOL_LOCAL",
    MPOL_PREFERRED_MANY: "MPOL_PREFERRED_MANY",
    MPOL_WEIGHTED_INTERLEAVE: "MPOL_WEIGHTED_INTERLEAVE",
}

# mmap/mprotect protections (sys/mman.h)
PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4

# The syscalls every backend answers through ``Process.syscall``.
SYSCALL_NAMES = ("move_pages", "migrate_pages", "get_mempolicy", "set_mempolicy", "mbind")


class MovePagesResult(NamedTuple):
    """move_pages(2) RETURN VALUE and the *status* array exactly as written.

    ``status`` holds node ids or negative errno values; entries the kernel left
    unwritten keep the caller's pre-initialised value (see ``UNWRITTEN``).
    """

    ret: int
    status: list[int]


# The value move_pages() wrappers pre-fill *status* with, so an entry the kernel
# never wrote (4.17+: a failing batch and everything after it) stays visible.
UNWRITTEN = -(1 << 30)


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

    def set_cpuset(self, mems: Sequence[int], *, memory_migrate: bool = False) -> None: ...

    def set_mempolicy(self, mode: int, nodes: Sequence[int]) -> None: ...

    def mbind(
        self, addr: int, length: int, mode: int, nodes: Sequence[int], flags: int = 0
    ) -> None: ...

    def move_pages(
        self, pid: int, pages: Sequence[int], nodes: Sequence[int] | None, flags: int
    ) -> MovePagesResult: ...

    def migrate_pages(
        self,
        pid: int,
        old_nodes: Sequence[int],
        new_nodes: Sequence[int],
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
        cpuset_mems: Sequence[int] | None = None,
        caps: Sequence[str] | None = None,
    ) -> Process:
        """A process of ``uid`` (root: every capability, others none, unless ``caps``
        names exactly the capabilities it holds) in a cpuset of ``cpuset_mems``."""
        ...

    def close(self) -> None: ...


# World-building a backend may or may not be able to do, by feature name.
WORLD_FEATURES = {
    "pin": "take an extra page reference (vmsplice/O_DIRECT)",
    "isolate": "take a page off the LRU as compaction would",
    "writeback": "put a file page under writeback",
    "files": "tmpfs files and their page cache (create_file, write_file, file_page_node)",
    "filesystems": "files on filesystems without a migrate function or writeback",
    "fill_node": "use up a node's free memory",
    "kernel_thread": "a kernel thread's pid",
    "dumpable": "prctl(PR_SET_DUMPABLE)",
    "capabilities": "spawn a process holding chosen capabilities",
    "cpuset": "put a process in a cpuset",
    "cpuset_keep_pages": "move a process to another cpuset leaving its pages (v1 memory_migrate=0)",
    "cpuset_migrate_pages": "move a process to another cpuset taking its pages along",
    "thp": "transparent huge pages on demand",
    "hugetlb": "hugetlb pages on demand",
    "run_on": "run a process on a CPU of a chosen node",
    "swap": "reclaim a private anonymous page to swap",
}


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

    def fill_node(self, nid: int, free_pages: int = 0) -> None: ...

    def spawn_kernel_thread(self) -> Process: ...

    def set_dumpable(self, proc: Any, value: int) -> None: ...

    def run_on(self, proc: Any, nid: int) -> None: ...

    def swap_out(self, proc: Any, addr: int) -> None: ...


# --- arrays in the calling process's memory ---------------------------------------
# The raw ABI takes addresses in the caller's own memory.  These helpers put the
# arguments there with the Process protocol alone, so both backends share them and
# a bad array faults inside the kernel, as it would in C.

BITS_PER_LONG = 64


def nodemask_words(nodes: Sequence[int], maxnode: int) -> list[int]:
    """The unsigned-long array a nodemask of ``maxnode`` bits occupies."""
    words = [0] * max(1, (maxnode + BITS_PER_LONG - 1) // BITS_PER_LONG)
    for n in nodes:
        words[n // BITS_PER_LONG] |= 1 << (n % BITS_PER_LONG)
    return words


def nodemask_nodes(words: Sequence[int], nbits: int | None = None) -> list[int]:
    """Node ids set in an unsigned-long array (the first ``nbits`` bits)."""
    nodes = []
    for w, word in enumerate(words):
        for b in range(BITS_PER_LONG):
            if word >> b & 1:
                n = w * BITS_PER_LONG + b
                if nbits is None or n < nbits:
                    nodes.append(n)
    return nodes


def default_maxnode(*masks: Sequence[int]) -> int:
    """Like libnuma: whole longs covering the highest node, plus the one the kernel drops."""
    highest = max((n for mask in masks for n in mask), default=0)
    return (highest // BITS_PER_LONG + 1) * BITS_PER_LONG + 1


def pack_ulongs(values: Sequence[int]) -> bytes:
    """C ``unsigned long[]`` (x86-64, little-endian); values wrap modulo 2**64."""
    try:
        return array("Q", values).tobytes()
    except OverflowError:
        return array("Q", [v & 0xFFFF_FFFF_FFFF_FFFF for v in values]).tobytes()


def pack_ints(values: Sequence[int]) -> bytes:
    """C ``int[]``; values wrap modulo 2**32 as a C cast would."""
    try:
        return array("i", values).tobytes()
    except OverflowError:
        wrapped = [((v + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000 for v in values]
        return array("i", wrapped).tobytes()


def unpack_ints(data: bytes) -> list[int]:
    return array("i", data[: len(data) // 4 * 4]).tolist()


def unpack_ulongs(data: bytes) -> list[int]:
    return array("Q", data[: len(data) // 8 * 8]).tolist()


# Every raw call's outcome, when a conformance run is recording (see conformance.runner):
# what the differential comparison of two backends compares.
CALL_LOG: ContextVar[list[tuple[object, ...]] | None] = ContextVar("CALL_LOG", default=None)


def _logged(name: str, result: RawResult) -> RawResult:
    log = CALL_LOG.get()
    if log is not None:
        log.append((name, result.ret, result.err, tuple(result.out)))
    return result


class RawResult(NamedTuple):
    """A raw call's outcome: return value, errno (0 unless ret == -1), output array."""

    ret: int
    err: int
    out: list[int]


class Scratch:
    """A private mapping in ``proc`` holding a call's arrays; unmapped on exit."""

    def __init__(self, proc: Process, *parts: bytes, page_size: int = 4096) -> None:
        self.proc = proc
        self.offsets: list[int] = []
        size = 0
        for part in parts:
            self.offsets.append(size)
            size += (len(part) + 15) // 16 * 16
        # at least two pages, so that it never lands in a one-page hole a caller made
        self.length = max(2 * page_size, (size + page_size - 1) // page_size * page_size)
        self.addr = proc.mmap(self.length)
        blob = bytearray(size)
        for offset, part in zip(self.offsets, parts, strict=True):
            blob[offset : offset + len(part)] = part
        if blob:
            proc.write_bytes(self.addr, bytes(blob))

    def at(self, index: int) -> int:
        return self.addr + self.offsets[index]

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            self.proc.munmap(self.addr, self.length)
        except Exception:
            if exc_type is None:
                raise  # an error while a call failed must not hide that failure


def move_pages_raw(
    proc: Process,
    pid: int,
    pages: Sequence[int],
    nodes: Sequence[int] | None,
    flags: int,
    *,
    status_init: int = UNWRITTEN,
) -> RawResult:
    """move_pages(2) with the arrays in ``proc``'s memory; ``out`` is *status*."""
    count = len(pages)
    status = pack_ints([status_init] * count)
    with Scratch(proc, pack_ulongs(pages), pack_ints(nodes or []), status) as s:
        nodes_addr = s.at(1) if nodes is not None else 0
        ret, err = proc.syscall("move_pages", pid, count, s.at(0), nodes_addr, s.at(2), flags)
        out = unpack_ints(proc.read_bytes(s.at(2), 4 * count)) if count else []
    return _logged("move_pages", RawResult(ret, err, out))


def migrate_pages_raw(
    proc: Process, pid: int, old_nodes: Sequence[int], new_nodes: Sequence[int], maxnode: int
) -> RawResult:
    """migrate_pages(2) with both node masks in ``proc``'s memory."""
    old = pack_ulongs(nodemask_words(old_nodes, maxnode))
    new = pack_ulongs(nodemask_words(new_nodes, maxnode))
    with Scratch(proc, old, new) as s:
        ret, err = proc.syscall("migrate_pages", pid, maxnode, s.at(0), s.at(1))
    return _logged("migrate_pages", RawResult(ret, err, []))


def get_mempolicy_raw(proc: Process, flags: int, addr: int, maxnode: int) -> RawResult:
    """get_mempolicy(2); ``out`` is [mode, *nodes in the returned mask]."""
    words = max(1, (maxnode + BITS_PER_LONG - 1) // BITS_PER_LONG)
    with Scratch(proc, bytes(8), bytes(8 * words)) as s:
        ret, err = proc.syscall("get_mempolicy", s.at(0), s.at(1), maxnode, addr, flags)
        mode = unpack_ints(proc.read_bytes(s.at(0), 4))[0]
        mask = unpack_ulongs(proc.read_bytes(s.at(1), 8 * words))
    return _logged("get_mempolicy", RawResult(ret, err, [mode, *nodemask_nodes(mask, maxnode - 1)]))


def set_mempolicy_raw(proc: Process, mode: int, nodes: Sequence[int], maxnode: int) -> RawResult:
    with Scratch(proc, pack_ulongs(nodemask_words(nodes, maxnode))) as s:
        ret, err = proc.syscall("set_mempolicy", mode, s.at(0), maxnode)
    return _logged("set_mempolicy", RawResult(ret, err, []))


def mbind_raw(
    proc: Process, addr: int, length: int, mode: int, nodes: Sequence[int], maxnode: int, flags: int
) -> RawResult:
    with Scratch(proc, pack_ulongs(nodemask_words(nodes, maxnode))) as s:
        ret, err = proc.syscall("mbind", addr, length, mode, s.at(0), maxnode, flags)
    return _logged("mbind", RawResult(ret, err, []))


# --- argument checks of the Python API: TypeError/ValueError naming the argument ----------
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


# Capability names and their bit numbers (linux/capability.h)
CAPABILITIES = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_IPC_LOCK": 14,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_NICE": 23,
}


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


HUGE_PAGE_SIZE = 2 << 20


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
    """The Python API's answer to a -1 return: OSError(errno) with its message."""
    raise OSError(err, f"{what}: {os.strerror(err)}")


# The nodemask size get_mempolicy() is called with: more bits than any kernel has nodes,
# within the page the kernel is willing to clear.
GET_MEMPOLICY_MAXNODE = 4096 + 1


class SyscallMethods:
    """The Python API's syscall methods, built on ``syscall`` and the process's own
    memory alone, shared by every backend: a bad array is the kernel's EFAULT."""

    def move_pages(
        self, pid: int, pages: Sequence[int], nodes: Sequence[int] | None, flags: int
    ) -> MovePagesResult:
        """move_pages(2); OSError(errno) when it returns -1."""
        check_int("pid", pid)
        page_list = check_ints("pages", pages)
        node_list = None if nodes is None else check_ints("nodes", nodes)
        check_int("flags", flags)
        if node_list is not None and len(node_list) != len(page_list):
            raise ValueError(f"nodes has {len(node_list)} entries, pages has {len(page_list)}")
        ret, err, status = move_pages_raw(self._proc(), pid, page_list, node_list, flags)
        if ret == -1:
            raise_errno(err, "move_pages")
        return MovePagesResult(ret, status)

    def migrate_pages(
        self,
        pid: int,
        old_nodes: Sequence[int],
        new_nodes: Sequence[int],
        maxnode: int | None = None,
    ) -> int:
        """migrate_pages(2): the number of pages not moved; OSError(errno) on -1."""
        check_int("pid", pid)
        old = check_nodes("old_nodes", old_nodes)
        new = check_nodes("new_nodes", new_nodes)
        if maxnode is None:
            maxnode = default_maxnode(old, new)
        check_int("maxnode", maxnode)
        ret, err, _ = migrate_pages_raw(self._proc(), pid, old, new, maxnode)
        if ret == -1:
            raise_errno(err, "migrate_pages")
        return ret

    def get_mempolicy(self, flags: int, addr: int = 0) -> tuple[int, list[int]]:
        """get_mempolicy(2): (mode or node, nodes of the mask)."""
        check_int("flags", flags)
        check_int("addr", addr, minimum=0)
        ret, err, out = get_mempolicy_raw(self._proc(), flags, addr, GET_MEMPOLICY_MAXNODE)
        if ret == -1:
            raise_errno(err, "get_mempolicy")
        return out[0], out[1:]

    def set_mempolicy(self, mode: int, nodes: Sequence[int]) -> None:
        check_int("mode", mode)
        node_list = check_nodes("nodes", nodes)
        ret, err, _ = set_mempolicy_raw(self._proc(), mode, node_list, default_maxnode(node_list))
        if ret == -1:
            raise_errno(err, "set_mempolicy")

    def mbind(
        self, addr: int, length: int, mode: int, nodes: Sequence[int], flags: int = 0
    ) -> None:
        check_int("addr", addr, minimum=0)
        check_int("length", length, minimum=0)
        check_int("mode", mode)
        node_list = check_nodes("nodes", nodes)
        check_int("flags", flags)
        maxnode = default_maxnode(node_list)
        ret, err, _ = mbind_raw(self._proc(), addr, length, mode, node_list, maxnode, flags)
        if ret == -1:
            raise_errno(err, "mbind")

    def _proc(self) -> Process:
        return cast(Process, self)
