"""A helper process: a real process that sets itself up and makes the NUMA syscalls
as itself, on request from the controller (realnuma.host).

    python -m realnuma.helper FD UID CAPS VIA OWNER

FD is its end of a Unix socket; UID the user it becomes (root: unchanged); CAPS the
capability mask it keeps (-1: unchanged); VIA "syscall" or "libnuma", how it makes
the NUMA calls; OWNER the controller's pid (for realnuma.leftovers).  It exits, quietly,
when the socket closes or breaks, so it can never outlive the controller.  Memory is
touched with process_vm_readv/writev on itself, so a bad address is an error reply,
never a crash.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import os
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from realnuma import binding, wire
from realnuma._syscalls import lib
from simnuma.abi.constants import HUGE_PAGE_SIZE, MPOL_BIND

# <linux/if_packet.h>, <asm-generic/mman-common.h>
SOL_PACKET, PACKET_RX_RING = 263, 5
MADV_PAGEOUT = 21

PAGE = binding.PAGE_SIZE
IOV_MAX = 1024
TASK_SIZE = 0x7FFF_FFFF_F000  # x86-64: mmap without an address hint stays below 47 bits
CHUNK = 1 << 20  # read_bytes reads this much at a time: a huge length costs no huge buffer


def _ok(result: tuple[int, int], what: str) -> int:
    ret, err = result
    if ret == -1:
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


class Helper:
    def __init__(self, sock: socket.socket, libnuma: bool) -> None:
        self.sock = sock
        self.libnuma = libnuma  # make the NUMA calls through libnuma's wrappers
        self.pins: dict[int, tuple[int, int]] = {}  # page address -> pipe holding it

    # --- memory -----------------------------------------------------------------
    def mmap(
        self,
        length: int,
        shared: bool,
        path: str | None,
        huge: str | None,
        prot: int,
        offset: int,
        addr: int = 0,
    ) -> int:
        if length > TASK_SIZE:  # the simulator's words for a length no mapping can have
            raise ValueError(f"length {length:#x} does not fit in the address space")
        flags = lib.MAP_SHARED if shared else lib.MAP_PRIVATE
        fd = -1
        if path is None:
            flags |= lib.MAP_ANONYMOUS
        else:
            fd = os.open(path, os.O_RDWR)
        if huge == "hugetlb":
            flags |= lib.MAP_HUGETLB
        try:
            if huge != "thp":
                return _ok(binding.mmap(length, prot, flags, fd, offset, addr), "mmap")
            if addr and not addr % HUGE_PAGE_SIZE:
                # a 2 MiB-aligned hint, taken if that range is free
                got = _ok(binding.mmap(length, prot, flags, fd, offset, addr), "mmap")
                if got == addr:
                    _ok(binding.madvise(got, length, lib.MADV_HUGEPAGE), "madvise(MADV_HUGEPAGE)")
                    return got
                _ok(binding.munmap(got, length), "munmap")
            # a 2 MiB-aligned range inside a larger mapping, the rest given back
            raw = _ok(binding.mmap(length + HUGE_PAGE_SIZE, prot, flags, fd, offset), "mmap")
            start = (raw + HUGE_PAGE_SIZE - 1) & ~(HUGE_PAGE_SIZE - 1)
            if start > raw:
                _ok(binding.munmap(raw, start - raw), "munmap")
            tail = raw + HUGE_PAGE_SIZE - start
            if tail:
                _ok(binding.munmap(start + length, tail), "munmap")
            _ok(binding.madvise(start, length, lib.MADV_HUGEPAGE), "madvise(MADV_HUGEPAGE)")
            return start
        finally:
            if fd >= 0:
                os.close(fd)

    def munmap(self, addr: int, length: int) -> None:
        _ok(binding.munmap(addr, length), "munmap")

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        _ok(binding.mprotect(addr, length, prot), "mprotect")

    def mlock(self, addr: int, length: int) -> None:
        _ok(binding.mlock(addr, length), "mlock")

    def _pages(self, addr: int, length: int) -> list[tuple[int, int]]:
        return [(p, 1) for p in range(addr & ~(PAGE - 1), addr + length, PAGE)]

    def fault(self, addr: int, length: int, write: bool) -> None:
        """Fault every page in as a read (or write) of the process itself would."""
        start = addr & ~(PAGE - 1)
        end = (addr + length + PAGE - 1) & ~(PAGE - 1)
        if end > TASK_SIZE:  # past every mapping: the access would fault
            raise OSError(errno.EFAULT, f"fault in [{addr:#x}, +{length:#x}): SIGSEGV")
        advice = lib.MADV_POPULATE_WRITE if write else lib.MADV_POPULATE_READ
        ret, err = binding.madvise(start, end - start, advice)
        if ret == 0:
            return
        if err not in (errno.EINVAL, errno.ENOSYS):  # ENOMEM: not mapped; EFAULT: SIGSEGV
            raise OSError(errno.EFAULT, f"fault in [{addr:#x}, +{length:#x}): SIGSEGV")
        # before 5.14 (no MADV_POPULATE_*), or a kernel without madvise()
        # (CONFIG_ADVISE_SYSCALLS=n): a read, then the same bytes written back.
        # Unlike a plain store, this maps the (huge) zero page first.
        spans = self._pages(addr, length)
        for i in range(0, len(spans), IOV_MAX):
            chunk = spans[i : i + IOV_MAX]
            data, err = binding.vm_read(os.getpid(), chunk)
            if err:
                raise OSError(errno.EFAULT, f"read fault in [{addr:#x}, +{length:#x}): SIGSEGV")
            if write:
                _, err = binding.vm_write(os.getpid(), chunk, data)
                if err:
                    raise OSError(
                        errno.EFAULT, f"write fault in [{addr:#x}, +{length:#x}): SIGSEGV"
                    )

    def write_bytes(self, addr: int, data: bytes) -> None:
        done, err = binding.vm_write(os.getpid(), [(addr, len(data))], data)
        if err:
            raise OSError(
                errno.EFAULT, f"address {addr + done:#x}: write outside a writable mapping"
            )

    def read_bytes(self, addr: int, length: int) -> bytes:
        chunks: list[bytes] = []
        for at in range(addr, addr + length, CHUNK):
            want = min(CHUNK, addr + length - at)
            data = b""
            err = errno.EFAULT
            if at + want <= TASK_SIZE:
                data, err = binding.vm_read(os.getpid(), [(at, want)])
            if err:
                raise OSError(errno.EFAULT, f"address {at + len(data):#x}: read outside a mapping")
            chunks.append(data)
        return b"".join(chunks)

    def pin(self, addr: int) -> None:
        """An extra page reference that migration cannot drop: vmsplice() into a pipe."""
        page = addr & ~(PAGE - 1)
        read_fd, write_fd = os.pipe()
        try:
            _ok(binding.vmsplice_pin(write_fd, page, PAGE), "vmsplice")
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            raise
        self.pins[page] = (read_fd, write_fd)

    def unpin(self, addr: int) -> None:
        fds = self.pins.pop(addr & ~(PAGE - 1), None)
        if fds is None:
            raise ValueError(f"addr {addr:#x}: the page is not pinned")
        for fd in fds:
            os.close(fd)

    def isolate(self, addr: int, node: int) -> None:
        """Put at ``addr`` a page that migration cannot take off an LRU list, because it
        was never on one: a packet socket's receive ring (PACKET_RX_RING), allocated by
        the kernel on ``node`` (the old page's) and mapped over the old page, whose
        bytes it takes.  It is a normal page mapped once, so move_pages() reaches
        the LRU isolation and finds nothing to isolate (-EBUSY), as for a page that
        compaction holds; an anonymous page off the LRU cannot be made to order."""
        page = addr & ~(PAGE - 1)
        data = self.read_bytes(page, PAGE)
        mode, nodes = binding.get_task_policy()
        ring = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: no traffic
        try:
            _ok(binding.set_task_policy(MPOL_BIND, 1 << node), "set_mempolicy")
            try:  # one block of one page, one frame: tp_block_size, _nr, tp_frame_size, _nr
                ring.setsockopt(SOL_PACKET, PACKET_RX_RING, struct.pack("4I", PAGE, 1, PAGE, 1))
            finally:
                _ok(binding.set_task_policy(mode, nodes), "set_mempolicy")
            flags = lib.MAP_SHARED | lib.MAP_FIXED
            prot = lib.PROT_READ | lib.PROT_WRITE
            _ok(binding.mmap(PAGE, prot, flags, ring.fileno(), 0, page), "mmap(PACKET_RX_RING)")
        finally:
            ring.close()  # the mapping holds the ring
        self.write_bytes(page, data)

    def swap_out(self, addr: int) -> None:
        """Reclaim the page at ``addr`` to swap: madvise(MADV_PAGEOUT), then check in
        /proc/self/pagemap that a swap entry took its place."""
        page = addr & ~(PAGE - 1)
        _ok(binding.madvise(page, PAGE, MADV_PAGEOUT), "madvise(MADV_PAGEOUT)")
        if not pagemap_entry(page) & PM_SWAP:
            raise OSError(errno.EAGAIN, f"MADV_PAGEOUT left the page at {page:#x} resident")

    def start_writeback(self, addr: int) -> None:
        """Start writing the dirty file page at ``addr`` back without waiting for it
        (posix_fadvise(POSIX_FADV_DONTNEED) on its file starts the I/O and keeps a
        mapped page), then check in /proc/kpageflags that it is under writeback."""
        page = addr & ~(PAGE - 1)
        path, offset = _mapped_file(page)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, offset, PAGE, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        if not page_flags(page) & KPF_WRITEBACK:
            raise OSError(errno.EAGAIN, f"the page at {page:#x} is not under writeback")

    # --- the process ------------------------------------------------------------
    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        os.setresuid(ruid, euid, suid)

    def set_dumpable(self, value: int) -> None:
        _ok(binding.prctl(lib.PR_SET_DUMPABLE, value), "prctl(PR_SET_DUMPABLE)")

    def run_on(self, cpus: list[int]) -> None:
        os.sched_setaffinity(0, cpus)

    def syscall(self, name: str, args: tuple[int, ...]) -> tuple[int, int]:
        if self.libnuma:
            return binding.libnuma_call(name, args)
        return binding.raw_syscall(name, args)

    def mincore(self, addr: int) -> bool:
        """Whether the (file) page at ``addr`` is in the page cache, without faulting it."""
        return binding.mincore(addr & ~(PAGE - 1))

    # --- the loop -----------------------------------------------------------------
    def serve(self) -> NoReturn:
        # ECONNRESET, EPIPE, a torn frame: the controller is gone
        with contextlib.suppress(OSError, EOFError, pickle.UnpicklingError):
            self._serve()
        os._exit(0)  # so are we, without a word: nothing here is the user's to read

    def _serve(self) -> None:
        while True:
            message = wire.recv(self.sock)
            if message is None:
                return  # the controller is gone
            (op, args), fds = message
            if op == "exit":
                wire.send(self.sock, ("ok", None))
                return
            if op == "fork":
                self._fork(fds[0])
                continue
            if op == "spawn":  # the zygote: a fresh helper for another uid, without exec
                self._spawn(fds[0], *args)
                continue
            handler: Callable[..., Any] = getattr(self, op)
            try:
                reply: tuple[Any, ...] = ("ok", handler(*args))
            except OSError as exc:
                reply = ("oserror", exc.errno or errno.EIO, exc.strerror or str(exc))
            except OverflowError as exc:  # the controller sent an int no C type holds
                reply = ("error", "ValueError", _overflow(handler, args, exc))
            except (ValueError, TypeError) as exc:
                reply = ("error", type(exc).__name__, str(exc))
            except Exception as exc:  # a bug of ours: say so, and keep serving
                reply = ("failed", f"{op}: {type(exc).__name__}: {exc}")
            wire.send(self.sock, reply)

    def _spawn(self, fd: int, uid: int, caps: int) -> None:
        pid = os.fork()
        if pid == 0:
            self.sock.close()
            sock = socket.socket(fileno=fd)
            helper = Helper(sock, self.libnuma)
            try:
                setup(uid, caps)
            except (OSError, OverflowError) as exc:
                with contextlib.suppress(OSError):
                    wire.send(sock, _setup_failed(exc))
                os._exit(1)
            with contextlib.suppress(OSError):
                wire.send(sock, ("ok", os.getpid()))
            helper.serve()
        os.close(fd)
        wire.send(self.sock, ("ok", pid))

    def _fork(self, fd: int) -> None:
        pid = os.fork()
        if pid == 0:
            self.sock.close()
            self.sock = socket.socket(fileno=fd)
            self.pins = {}  # pipes are the parent's: vmsplice pins are not inherited
            self.serve()
        os.close(fd)
        wire.send(self.sock, ("ok", pid))


# Documentation/admin-guide/mm/pagemap.rst
PM_SWAP, PM_PRESENT, PM_PFN = 1 << 62, 1 << 63, (1 << 55) - 1
KPF_WRITEBACK = 1 << 8


def pagemap_entry(page: int) -> int:
    """The 64-bit /proc/self/pagemap entry of the page at ``page``."""
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(page // PAGE * 8)
        (entry,) = struct.unpack("<Q", f.read(8))
    return int(entry)


def page_flags(page: int) -> int:
    """The /proc/kpageflags word of the page mapped at ``page`` (root: PFNs are shown)."""
    entry = pagemap_entry(page)
    if not entry & PM_PRESENT or not entry & PM_PFN:
        raise OSError(errno.EFAULT, f"no page frame is mapped at {page:#x}")
    with open("/proc/kpageflags", "rb") as f:
        f.seek((entry & PM_PFN) * 8)
        (flags,) = struct.unpack("<Q", f.read(8))
    return int(flags)


def _mapped_file(page: int) -> tuple[str, int]:
    """The file mapped at ``page`` (/proc/self/maps) and the page's offset in it."""
    with open("/proc/self/maps") as f:
        for line in f:
            span, _, offset, _, inode, *path = line.split(maxsplit=5)
            start, end = (int(x, 16) for x in span.split("-"))
            if start <= page < end:
                if inode == "0" or not path:
                    raise ValueError(f"addr {page:#x}: not a file mapping")
                return path[0].rstrip("\n"), int(offset, 16) + page - start
    raise OSError(errno.EFAULT, f"addr {page:#x}: no mapping")


def _overflow(handler: Callable[..., Any], args: tuple[Any, ...], exc: OverflowError) -> str:
    """The argument that did not fit, by name (as the controller's checks name them)."""
    for name, value in zip(inspect.signature(handler).parameters, args, strict=False):
        if isinstance(value, int) and not -(1 << 63) <= value < 1 << 64:
            return f"{name} {value:#x} does not fit in 64 bits"
    for name, value in zip(inspect.signature(handler).parameters, args, strict=False):
        if isinstance(value, int) and not -(1 << 31) <= value < 1 << 32:
            return f"{name} {value:#x} is out of range ({exc})"
    return str(exc)


def setup(uid: int, caps: int) -> None:
    """Become ``uid`` (gid alike) holding exactly the ``caps`` mask, and stay dumpable."""
    if uid != 0:
        _ok(binding.prctl(lib.PR_SET_KEEPCAPS, 1), "prctl(PR_SET_KEEPCAPS)")
        os.setresgid(uid, uid, uid)
        os.setgroups([])
        os.setresuid(uid, uid, uid)
        _ok(binding.prctl(lib.PR_SET_KEEPCAPS, 0), "prctl(PR_SET_KEEPCAPS)")
        # a process that logged in as uid is dumpable; setresuid() above cleared it
        _ok(binding.prctl(lib.PR_SET_DUMPABLE, 1), "prctl(PR_SET_DUMPABLE)")
    if caps >= 0:
        _ok(binding.set_caps(caps, caps), "capset")


def _setup_failed(exc: Exception) -> tuple[Any, ...]:
    err = exc.errno if isinstance(exc, OSError) and exc.errno else errno.EINVAL
    what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return ("oserror", err, f"helper set-up: {what}")


def main(argv: list[str]) -> NoReturn:
    fd, uid, caps = (int(a) for a in argv[1:4])
    libnuma = argv[4] == "libnuma"
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked helpers are reaped at once
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C goes to the controller, which cleans up
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # the controller may have started us with SIGINT/SIGTERM blocked (it defers them
    # while it registers what it makes); a helper is killed by them as any process is
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    sock = socket.socket(fileno=fd)
    helper = Helper(sock, libnuma)
    try:
        if libnuma:
            binding.load_libnuma()  # before dropping root: the module may be root-only
        setup(uid, caps)
    except (OSError, OverflowError) as exc:
        with contextlib.suppress(OSError):
            wire.send(sock, _setup_failed(exc))
        os._exit(1)
    with contextlib.suppress(OSError):
        wire.send(sock, ("ok", os.getpid()))
    helper.serve()


if __name__ == "__main__":
    main(sys.argv)
