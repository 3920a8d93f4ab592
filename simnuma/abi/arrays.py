"""Arrays in the calling process's memory.

The raw ABI takes addresses in the caller's own memory.  These helpers put the
arguments there with the Process protocol alone, so both backends share them and
a bad array faults inside the kernel, as it would in C.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from simnuma.abi.constants import BITS_PER_LONG, UNWRITTEN
from simnuma.abi.protocols import Process

# get_nodes(): a mask of more than PAGE_SIZE * BITS_PER_BYTE bits (maxnode - 1, as an
# unsigned long) is EINVAL before a word of it is read
MASK_BITS_LIMIT = 4096 * 8


def format_nodelist(nodes: Iterable[int]) -> str:
    """``[0, 1, 2, 3, 5]`` -> ``"0-3,5"``; ``[]`` -> ``""``: the kernel's list format
    (bitmap_print_to_pagebuf's %*pbl: cpuset.mems, /sys/devices/system/node/online)."""
    ordered = sorted(set(nodes))
    if any(n < 0 for n in ordered):
        raise ValueError(f"negative node in {ordered!r}")
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def nodemask_words(nodes: Sequence[int], maxnode: int, name: str = "nodes") -> list[int]:
    """The unsigned-long array a nodemask of ``maxnode`` bits occupies; ValueError
    naming ``name`` for a node that does not fit in it."""
    words = [0] * max(1, (maxnode + BITS_PER_LONG - 1) // BITS_PER_LONG)
    for n in nodes:
        w = n // BITS_PER_LONG
        if not 0 <= w < len(words):
            raise ValueError(f"{name}: node {n} does not fit in a mask of maxnode={maxnode} bits")
        words[w] |= 1 << (n % BITS_PER_LONG)
    return words


def call_mask_words(nodes: Sequence[int], maxnode: int, name: str) -> list[int]:
    """The mask a call passes: when the kernel refuses ``maxnode`` before reading
    (EINVAL), one word stands in, so a 2**40-bit mask is never built; the call
    still reaches the kernel and its EINVAL comes back."""
    if (maxnode - 1) % 2**64 > MASK_BITS_LIMIT:
        return [0]
    return nodemask_words(nodes, maxnode, name)


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
    return RawResult(ret, err, out)


def migrate_pages_raw(
    proc: Process, pid: int, old_nodes: Sequence[int], new_nodes: Sequence[int], maxnode: int
) -> RawResult:
    """migrate_pages(2) with both node masks in ``proc``'s memory."""
    old = pack_ulongs(call_mask_words(old_nodes, maxnode, "old_nodes"))
    new = pack_ulongs(call_mask_words(new_nodes, maxnode, "new_nodes"))
    with Scratch(proc, old, new) as s:
        ret, err = proc.syscall("migrate_pages", pid, maxnode, s.at(0), s.at(1))
    return RawResult(ret, err, [])


def get_mempolicy_raw(proc: Process, flags: int, addr: int, maxnode: int) -> RawResult:
    """get_mempolicy(2); ``out`` is [mode, *nodes in the returned mask]."""
    # copy_nodes_to_user() writes at most a page (more is EINVAL): no bigger buffer
    words = max(1, min((maxnode + BITS_PER_LONG - 1) % 2**64, MASK_BITS_LIMIT + 1) // BITS_PER_LONG)
    with Scratch(proc, bytes(8), bytes(8 * words)) as s:
        ret, err = proc.syscall("get_mempolicy", s.at(0), s.at(1), maxnode, addr, flags)
        mode = unpack_ints(proc.read_bytes(s.at(0), 4))[0]
        mask = unpack_ulongs(proc.read_bytes(s.at(1), 8 * words))
    return RawResult(ret, err, [mode, *nodemask_nodes(mask, maxnode - 1)])


def set_mempolicy_raw(proc: Process, mode: int, nodes: Sequence[int], maxnode: int) -> RawResult:
    with Scratch(proc, pack_ulongs(call_mask_words(nodes, maxnode, "nodes"))) as s:
        ret, err = proc.syscall("set_mempolicy", mode, s.at(0), maxnode)
    return RawResult(ret, err, [])


def mbind_raw(
    proc: Process, addr: int, length: int, mode: int, nodes: Sequence[int], maxnode: int, flags: int
) -> RawResult:
    with Scratch(proc, pack_ulongs(call_mask_words(nodes, maxnode, "nodes"))) as s:
        ret, err = proc.syscall("mbind", addr, length, mode, s.at(0), maxnode, flags)
    return RawResult(ret, err, [])
