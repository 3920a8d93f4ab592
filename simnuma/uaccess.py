"""get_user/put_user and copy_{from,to}_user on a simulated address space.

The kernel reads user arrays element by element as it goes; ``UserArray`` does
the same a block at a time, so an array that faults half-way answers every
element before the fault and ``None`` from the first element it cannot read.
"""

from __future__ import annotations

from array import array

from simnuma.abi import pack_ints
from simnuma.mm import AddressSpace

U64 = (1 << 64) - 1
_BLOCK_BYTES = 4096


def as_u64(value: int) -> int:
    return value & U64


def as_s32(value: int) -> int:
    return ((value & 0xFFFF_FFFF) ^ 0x8000_0000) - 0x8000_0000


def as_u32(value: int) -> int:
    return value & 0xFFFF_FFFF


class UserArray:
    """``count`` C elements (typecode 'Q' unsigned long, 'i' int) at ``addr``."""

    def __init__(self, mm: AddressSpace, addr: int, count: int, typecode: str) -> None:
        self.mm = mm
        self.addr = addr
        self.count = count
        self.typecode = typecode
        self.size = array(typecode).itemsize
        self.per_block = _BLOCK_BYTES // self.size
        self._block = -1
        self._values: list[int] = []

    def _load(self, block: int) -> None:
        start = block * self.per_block
        n = min(self.per_block, self.count - start)
        addr = self.addr + start * self.size
        data = b"" if addr + n * self.size > U64 else self.mm.copy_from_user(addr, n * self.size)
        whole = len(data) // self.size * self.size
        self._values = array(self.typecode, data[:whole]).tolist()
        self._block = block

    def get(self, i: int) -> int | None:
        """Element ``i``, or None if reading it faults."""
        block, offset = divmod(i, self.per_block)
        if block != self._block:
            self._load(block)
        return self._values[offset] if offset < len(self._values) else None

    def get_range(self, start: int, n: int) -> list[int] | None:
        """Elements [start, start+n) as one copy_from_user, or None if any faults."""
        addr = self.addr + start * self.size
        if addr + n * self.size > U64:
            return None
        data = self.mm.copy_from_user(addr, n * self.size)
        if len(data) != n * self.size:
            return None
        return array(self.typecode, data).tolist()


def readable(mm: AddressSpace, addr: int, length: int) -> bool:
    return _covered(mm, addr, length, 1)


def writable(mm: AddressSpace, addr: int, length: int) -> bool:
    return _covered(mm, addr, length, 2)


def _covered(mm: AddressSpace, addr: int, length: int, prot: int) -> bool:
    end = addr + length
    if addr < 0 or end > U64:
        return False
    while addr < end:
        vma = mm.vma_lookup(addr)
        if vma is None or not vma.prot & prot:
            return False
        addr = vma.end
    return True


def put_ints(mm: AddressSpace, addr: int, values: list[int]) -> bool:
    """copy_to_user of an int array; a fault leaves the bytes before it written."""
    data = pack_ints(values)
    if addr + len(data) > U64:
        return False
    return mm.copy_to_user(addr, data) == len(data)


def get_ulongs(mm: AddressSpace, addr: int, count: int) -> list[int] | None:
    """copy_from_user of an unsigned long array, or None on a fault."""
    return UserArray(mm, addr, count, "Q").get_range(0, count)
