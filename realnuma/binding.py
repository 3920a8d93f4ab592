"""The thin binding: each call returns what the kernel answered, ``(ret, errno)``.

No logic lives here beyond turning ``ffi.errno`` into a value right after the call.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from realnuma.extension import require

require()  # without the C extension: an ImportError saying what to install
from realnuma._syscalls import ffi, lib  # noqa: E402
from simnuma.abi.constants import SYSCALL_NAMES  # noqa: E402

U64 = (1 << 64) - 1
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# the contract's syscalls, numbered by <sys/syscall.h> when realnuma was built
SYSCALL_NUMBERS = {name: getattr(lib, f"SYS_{name}") for name in SYSCALL_NAMES}


def raw_syscall(name: str, args: tuple[int, ...]) -> tuple[int, int]:
    """syscall(2) with six registers; unknown names answer ENOSYS like the kernel."""
    number = SYSCALL_NUMBERS.get(name)
    if number is None:
        return -1, errno.ENOSYS
    regs = [a & U64 for a in args[:6]] + [0] * (6 - min(6, len(args)))
    ffi.errno = 0
    ret = int(lib.numa_syscall6(number, *regs))
    return (ret, 0) if ret != -1 else (-1, ffi.errno)


def _s32(value: int) -> int:
    return ((value & 0xFFFF_FFFF) ^ 0x8000_0000) - 0x8000_0000


def libnuma_available() -> bool:
    """Whether realnuma was built with libnuma's headers (the host:libnuma backend)."""
    try:
        load_libnuma()
    except ImportError:
        return False
    return True


_LIBNUMA: list[Any] = []


def load_libnuma() -> tuple[Any, Any]:
    """realnuma._libnuma's (ffi, lib), imported once."""
    if not _LIBNUMA:
        from realnuma import _libnuma

        _LIBNUMA.extend((_libnuma.ffi, _libnuma.lib))
    return _LIBNUMA[0], _LIBNUMA[1]


def libnuma_call(name: str, args: tuple[int, ...]) -> tuple[int, int]:
    """The same call through libnuma's wrapper (numaif.h), registers cast to its C types."""
    nffi, numa = load_libnuma()

    r = [a & U64 for a in args[:6]] + [0] * (6 - min(6, len(args)))

    def ptr(kind: str, value: int) -> object:
        return nffi.cast(kind, value)

    nffi.errno = 0
    if name == "move_pages":
        ret = numa.move_pages(
            _s32(r[0]),
            r[1],
            ptr("void **", r[2]),
            ptr("int *", r[3]),
            ptr("int *", r[4]),
            _s32(r[5]),
        )
    elif name == "migrate_pages":
        ret = numa.migrate_pages(
            _s32(r[0]), r[1], ptr("unsigned long *", r[2]), ptr("unsigned long *", r[3])
        )
    elif name == "get_mempolicy":
        ret = numa.get_mempolicy(
            ptr("int *", r[0]),
            ptr("unsigned long *", r[1]),
            r[2],
            ptr("void *", r[3]),
            r[4] & 0xFFFF_FFFF,
        )
    elif name == "set_mempolicy":
        ret = numa.set_mempolicy(_s32(r[0]), ptr("unsigned long *", r[1]), r[2])
    elif name == "mbind":
        ret = numa.mbind(
            ptr("void *", r[0]),
            r[1],
            _s32(r[2]),
            ptr("unsigned long *", r[3]),
            r[4],
            r[5] & 0xFFFF_FFFF,
        )
    else:
        return -1, errno.ENOSYS
    ret = int(ret)
    return (ret, 0) if ret != -1 else (-1, nffi.errno)


def mmap(
    length: int, prot: int, flags: int, fd: int = -1, offset: int = 0, addr: int = 0
) -> tuple[int, int]:
    """mmap(2); ``addr`` is a hint, or the place itself with MAP_FIXED in ``flags``."""
    ffi.errno = 0
    addr = int(lib.numa_mmap(addr, length, prot, flags, fd, offset))
    return (addr, 0) if addr != U64 else (-1, ffi.errno)


def _check(ret: int) -> tuple[int, int]:
    return (ret, 0) if ret != -1 else (-1, ffi.errno)


def munmap(addr: int, length: int) -> tuple[int, int]:
    return _check(lib.munmap(ffi.cast("void *", addr), length))


def mprotect(addr: int, length: int, prot: int) -> tuple[int, int]:
    return _check(lib.mprotect(ffi.cast("void *", addr), length, prot))


def mlock(addr: int, length: int) -> tuple[int, int]:
    return _check(lib.mlock(ffi.cast("void *", addr), length))


def madvise(addr: int, length: int, advice: int) -> tuple[int, int]:
    return _check(lib.madvise(ffi.cast("void *", addr), length, advice))


def mincore(addr: int) -> bool:
    """mincore(2) of one page: resident (in the page cache) or not."""
    vec = ffi.new("unsigned char[1]")
    ret = lib.mincore(ffi.cast("void *", addr), PAGE_SIZE, vec)
    return ret == 0 and bool(vec[0] & 1)


def prctl(option: int, arg2: int) -> tuple[int, int]:
    return _check(lib.prctl(option, arg2, 0, 0, 0))


def set_caps(effective: int, permitted: int) -> tuple[int, int]:
    """capset(2) of the calling thread: 64-bit capability masks."""
    mask = 0xFFFF_FFFF
    return _check(
        lib.numa_set_caps(effective & mask, effective >> 32, permitted & mask, permitted >> 32)
    )


def _iovecs(spans: list[tuple[int, int]]) -> object:
    iov = ffi.new("struct iovec[]", len(spans))
    for i, (addr, length) in enumerate(spans):
        iov[i].iov_base = ffi.cast("void *", addr)
        iov[i].iov_len = length
    return iov


def vm_read(pid: int, spans: list[tuple[int, int]]) -> tuple[bytes, int]:
    """process_vm_readv(): the bytes read before a fault, and the errno if it stopped early."""
    total = sum(length for _, length in spans)
    buf = ffi.new("char[]", max(total, 1))
    local = _iovecs([(int(ffi.cast("unsigned long", buf)), total)])
    ffi.errno = 0
    got = int(lib.process_vm_readv(pid, local, 1, _iovecs(spans), len(spans), 0))
    if got < 0:
        return b"", ffi.errno
    return bytes(ffi.buffer(buf, got)), 0 if got == total else errno.EFAULT


def vm_write(pid: int, spans: list[tuple[int, int]], data: bytes) -> tuple[int, int]:
    """process_vm_writev(): bytes written before a fault, and the errno if it stopped early."""
    buf = ffi.from_buffer(data) if data else ffi.new("char[]", 1)
    local = _iovecs([(int(ffi.cast("unsigned long", buf)), len(data))])
    ffi.errno = 0
    done = int(lib.process_vm_writev(pid, local, 1, _iovecs(spans), len(spans), 0))
    if done < 0:
        return 0, ffi.errno
    return done, 0 if done == len(data) else errno.EFAULT


def vmsplice_pin(pipe_fd: int, addr: int, length: int) -> tuple[int, int]:
    """vmsplice(2) the range into a pipe: the pipe holds page references until drained."""
    ffi.errno = 0
    ret = int(lib.vmsplice(pipe_fd, _iovecs([(addr, length)]), 1, 0))
    return (ret, 0) if ret >= 0 else (-1, ffi.errno)


POLICY_BITS = 1024  # nodes in a policy mask passed to the kernel: more than MAX_NUMNODES


def get_task_policy() -> tuple[int, int]:
    """get_mempolicy(2) of the calling thread: its mode (with mode flags) and node mask."""
    mode = ffi.new("int[1]")
    mask = ffi.new(f"unsigned long[{POLICY_BITS // 64}]")
    ptr = int(ffi.cast("unsigned long", mode)), int(ffi.cast("unsigned long", mask))
    ret, err = raw_syscall("get_mempolicy", (*ptr, POLICY_BITS, 0, 0))
    if ret == -1:
        raise OSError(err, f"get_mempolicy: {os.strerror(err)}")
    return int(mode[0]), sum(int(w) << (64 * i) for i, w in enumerate(mask))


def set_task_policy(mode: int, nodes: int) -> tuple[int, int]:
    """set_mempolicy(2) of the calling thread: ``mode`` over the node bit mask ``nodes``."""
    words = [(nodes >> (64 * i)) & U64 for i in range(POLICY_BITS // 64)]
    mask = ffi.new(f"unsigned long[{POLICY_BITS // 64}]", words)
    # the kernel reads maxnode - 1 bits (set_mempolicy(2) BUGS)
    return raw_syscall(
        "set_mempolicy", (mode, int(ffi.cast("unsigned long", mask)), POLICY_BITS + 1)
    )
