"""A supervised process's real memory, as the supervisor sees it from outside:
its mappings (/proc/PID/maps), which pages are present (/proc/PID/pagemap), and
bytes read and written with process_vm_readv/process_vm_writev (proc(5),
process_vm_readv(2))."""

from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass

PAGE_SIZE = 4096
PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
PM_FILE = 1 << 61  # a page-cache page or shared anonymous (not a private copy)
PM_EXCLUSIVE = 1 << 56  # mapped by this process alone (4.2+)
PM_PFN_MASK = (1 << 55) - 1


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


_libc = ctypes.CDLL(None, use_errno=True)
for _fn in (_libc.process_vm_readv, _libc.process_vm_writev):
    _fn.restype = ctypes.c_ssize_t
    _fn.argtypes = [
        ctypes.c_int,
        ctypes.POINTER(_IoVec),
        ctypes.c_ulong,
        ctypes.POINTER(_IoVec),
        ctypes.c_ulong,
        ctypes.c_ulong,
    ]


_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]


@dataclass(frozen=True)
class RealMapping:
    """One line of /proc/PID/maps."""

    start: int
    end: int
    prot: int  # PROT_READ 1 | PROT_WRITE 2 | PROT_EXEC 4
    shared: bool
    offset: int
    dev: str  # "major:minor"
    inode: int
    path: str

    @property
    def special(self) -> bool:
        """[vvar], [vsyscall]... : kernel pages with no struct page behind them to
        migrate ([vdso] is a normal page-cache-like mapping, [heap]/[stack] anon)."""
        named = self.path.startswith(("[anon:", "[anon_shmem:"))  # PR_SET_VMA_ANON_NAME
        return self.path.startswith("[") and not named and self.path not in ("[heap]", "[stack]")

    @property
    def anonymous(self) -> bool:
        return self.inode == 0 and not self.path.startswith("/")


def parse_maps(text: str) -> list[RealMapping]:
    out = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        lo, hi = parts[0].split("-")
        perms = parts[1]
        prot = (perms[0] == "r") | (perms[1] == "w") << 1 | (perms[2] == "x") << 2
        out.append(
            RealMapping(
                int(lo, 16),
                int(hi, 16),
                prot,
                perms[3] == "s",
                int(parts[2], 16),
                parts[3],
                int(parts[4]),
                parts[5].strip() if len(parts) > 5 else "",
            )
        )
    return out


def read_maps(pid: int) -> list[RealMapping]:
    with open(f"/proc/{pid}/maps") as f:
        return parse_maps(f.read())


def pagemap_bytes(pid: int, start: int, end: int) -> bytes:
    """The raw pagemap entries (8 bytes a page) of [start, end)."""
    n = (end - start) // PAGE_SIZE
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = []
        offset, left = start // PAGE_SIZE * 8, n * 8
        while left:
            data = os.pread(fd, min(left, 1 << 20), offset)
            if not data:
                break
            parts.append(data)
            offset += len(data)
            left -= len(data)
        return b"".join(parts)
    finally:
        os.close(fd)


def unpack_entries(data: bytes) -> list[int]:
    return list(struct.unpack(f"={len(data) // 8}Q", data[: len(data) // 8 * 8]))


def pagemap(pid: int, start: int, end: int) -> list[int]:
    """The pagemap entry of every page of [start, end)."""
    return unpack_entries(pagemap_bytes(pid, start, end))


def read_memory(pid: int, addr: int, length: int) -> bytes:
    """The readable prefix of [addr, addr+length) of ``pid`` (empty on a fault)."""
    if length <= 0:
        return b""
    buf = ctypes.create_string_buffer(length)
    local = _IoVec(ctypes.cast(buf, ctypes.c_void_p), length)
    remote = _IoVec(addr, length)
    done = _libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return buf.raw[: max(done, 0)]


def write_memory(pid: int, addr: int, data: bytes) -> int:
    """Write ``data`` at ``addr`` of ``pid``; how many bytes landed."""
    if not data:
        return 0
    buf = ctypes.create_string_buffer(data, len(data))
    local = _IoVec(ctypes.cast(buf, ctypes.c_void_p), len(data))
    remote = _IoVec(addr, len(data))
    done = _libc.process_vm_writev(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return max(int(done), 0)


def read_string(pid: int, addr: int, limit: int = 4096) -> str | None:
    """A NUL-terminated string of ``pid`` (a path argument), read page by page so
    that one near the end of a mapping is not cut; None on a fault or no NUL."""
    out = b""
    while len(out) < limit:
        chunk = PAGE_SIZE - (addr + len(out)) % PAGE_SIZE
        data = read_memory(pid, addr + len(out), chunk)
        if not data:
            return None
        nul = data.find(b"\0")
        if nul >= 0:
            return (out + data[:nul]).decode("utf-8", "surrogateescape")
        out += data
    return None


def status_field(pid: int, name: str) -> str | None:
    """A field of /proc/PID/status ("Tgid", "PPid"...), None if the task is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key == name:
                    return value.strip()
    except OSError:
        return None
    return None


def zero_pfn() -> int | None:
    """The PFN of the shared zero page (what a read of untouched private memory
    maps), seen through our own pagemap; None where PFNs are hidden (not root)."""
    import mmap

    addr = _libc.mmap(None, PAGE_SIZE, mmap.PROT_READ, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        return None
    try:
        _ = ctypes.c_char.from_address(addr).value  # a read fault: the zero page
        entry = pagemap(os.getpid(), addr, addr + PAGE_SIZE)[0]
    finally:
        _libc.munmap(ctypes.c_void_p(addr), ctypes.c_size_t(PAGE_SIZE))
    pfn = entry & PM_PFN_MASK
    return pfn if entry & PM_PRESENT and pfn else None


def cached_pages(path: str, size: int) -> list[int]:
    """The page indexes of ``path`` in the page cache now (mincore(2) of a mapping
    of it); empty when it cannot be opened or mapped."""
    import mmap

    if size <= 0:
        return []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return []
    try:
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            return []
        try:
            pages = -(-size // PAGE_SIZE)
            vec = ctypes.create_string_buffer(pages)
            if _libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(size), vec) != 0:
                return []
            return [i for i, b in enumerate(vec.raw) if b & 1]
        finally:
            _libc.munmap(ctypes.c_void_p(addr), ctypes.c_size_t(size))
    finally:
        os.close(fd)
