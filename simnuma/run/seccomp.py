"""seccomp user notification (seccomp_unotify(2)): the filter a supervised program
runs under, and the listener's ioctls.

Only x86-64 is described here (syscall numbers, AUDIT_ARCH); the filter lets every
other architecture's calls (x32, i386 via int 0x80) through untouched, so a program
that uses them is not supervised there — ``check_supported`` refuses to start on a
machine of another architecture rather than supervise nothing.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

# x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl)
NR: dict[str, int] = {
    "open": 2,
    "mmap": 9,
    "munmap": 11,
    "stat": 4,
    "lstat": 6,
    "clone": 56,
    "prctl": 157,
    "sched_setaffinity": 203,
    "fork": 57,
    "vfork": 58,
    "execve": 59,
    "mbind": 237,
    "set_mempolicy": 238,
    "get_mempolicy": 239,
    "migrate_pages": 256,
    "openat": 257,
    "newfstatat": 262,
    "move_pages": 279,
    "execveat": 322,
    "statx": 332,
    "clone3": 435,
    "openat2": 437,
    "set_mempolicy_home_node": 450,
}
NAME = {nr: name for name, nr in NR.items()}

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x4000_0000

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_RET_ALLOW = 0x7FFF_0000
SECCOMP_RET_USER_NOTIF = 0x7FC0_0000
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
SECCOMP_ADDFD_FLAG_SEND = 1 << 1  # 5.14: install the fd and answer with its number
SYS_SECCOMP = 317
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
PR_SET_THP_DISABLE = 41
PR_SET_CHILD_SUBREAPER = 36


def _iowr(nr: int, size: int, read: bool, write: bool) -> int:
    direction = (2 if read else 0) | (1 if write else 0)
    return (direction << 30) | (size << 16) | (ord("!") << 8) | nr


# struct seccomp_notif: u64 id, u32 pid, u32 flags, struct seccomp_data
# (int nr, u32 arch, u64 instruction_pointer, u64 args[6])
NOTIF = struct.Struct("=QII iIQ6Q")
# struct seccomp_notif_resp: u64 id, s64 val, s32 error, u32 flags
RESP = struct.Struct("=QqiI")
# struct seccomp_notif_addfd: u64 id, u32 flags, u32 srcfd, u32 newfd, u32 newfd_flags
ADDFD = struct.Struct("=QIIII")
IOCTL_NOTIF_RECV = _iowr(0, NOTIF.size, True, True)
IOCTL_NOTIF_SEND = _iowr(1, RESP.size, True, True)
IOCTL_NOTIF_ID_VALID = _iowr(2, 8, False, True)
IOCTL_NOTIF_ADDFD = _iowr(3, ADDFD.size, False, True)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_libc.prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]


class Unsupported(RuntimeError):
    """This machine cannot supervise a program (architecture, kernel, seccomp)."""


def check_supported() -> None:
    """Refuse early, with the reason, where user notification cannot work."""
    if platform.machine() != "x86_64":
        raise Unsupported(
            f"numa-sim-run intercepts x86-64 system calls; this machine is {platform.machine()}"
        )
    release = tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])
    if release < (5, 14):
        raise Unsupported(
            f"kernel {platform.release()}: seccomp user notification with "
            "SECCOMP_ADDFD_FLAG_SEND needs Linux 5.14 or later"
        )
    actions = "/proc/sys/kernel/seccomp/actions_avail"
    try:
        with open(actions) as f:
            avail = f.read().split()
    except OSError as exc:
        raise Unsupported(f"{actions}: {exc.strerror}: the kernel has no seccomp") from None
    if "user_notif" not in avail:
        raise Unsupported(f"{actions} lacks user_notif: no seccomp user notification here")


MAP_FIXED = 0x10
MAP_FIXED_NOREPLACE = 0x100000


def _filter(numbers: list[int]) -> bytes:
    """A classic BPF program: x86-64 calls in ``numbers`` notify, the rest run; an
    mmap() among them notifies only with MAP_FIXED (the one that replaces mappings:
    every other mmap() runs untouched, at no cost)."""
    ld_w_abs, jeq_k, ret_k, jge_k, jset_k = 0x20, 0x15, 0x06, 0x35, 0x45
    plain = [nr for nr in numbers if nr != NR["mmap"]]
    insns = [
        (ld_w_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq_k, 1, 0, AUDIT_ARCH_X86_64),
        (ret_k, 0, 0, SECCOMP_RET_ALLOW),
        (ld_w_abs, 0, 0, 0),  # seccomp_data.nr
        (jge_k, 0, 1, X32_SYSCALL_BIT),
        (ret_k, 0, 0, SECCOMP_RET_ALLOW),
    ]
    for i, nr in enumerate(plain):
        # on a match jump over the remaining comparisons and the ALLOW to NOTIF
        insns.append((jeq_k, len(plain) - i, 0, nr))
    if NR["mmap"] in numbers:
        # before the final ALLOW: mmap with MAP_FIXED (flags: the low word of args[3])
        insns[-len(plain) :] = [(jeq_k, len(plain) - i + 3, 0, nr) for i, nr in enumerate(plain)]
        insns += [
            (jeq_k, 0, 2, NR["mmap"]),
            (ld_w_abs, 0, 0, 16 + 8 * 3),
            (jset_k, 1, 0, MAP_FIXED),
        ]
    insns += [(ret_k, 0, 0, SECCOMP_RET_ALLOW), (ret_k, 0, 0, SECCOMP_RET_USER_NOTIF)]
    return b"".join(struct.pack("=HBBI", *insn) for insn in insns)


def install_filter(names: list[str]) -> int:
    """In the child, before execve: no new privileges (unless privileged), then the
    filter; returns the listener fd.  Raises OSError with the kernel's errno."""
    if os.geteuid() != 0 and _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    code = _filter([NR[n] for n in names])
    buf = ctypes.create_string_buffer(code, len(code))
    prog = struct.pack("=HxxxxxxQ", len(code) // 8, ctypes.addressof(buf))
    progbuf = ctypes.create_string_buffer(prog, len(prog))
    fd = _libc.syscall(
        SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, progbuf
    )
    if fd < 0:
        raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER)")
    return int(fd)


def prctl(option: int, arg: int) -> None:
    if _libc.prctl(option, arg, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option})")


class Notification:
    """One intercepted call: who made it, which, and its six registers."""

    __slots__ = ("args", "id", "nr", "pid")

    def __init__(self, raw: bytes) -> None:
        fields = NOTIF.unpack(raw)
        self.id: int = fields[0]
        self.pid: int = fields[1]
        self.nr: int = fields[3]
        self.args: tuple[int, ...] = tuple(fields[6:12])

    @property
    def name(self) -> str:
        return NAME.get(self.nr, f"syscall {self.nr}")


class Listener:
    """The supervisor's end: receive a call, answer it, or let it run."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def _ioctl(self, request: int, buf: ctypes.Array[ctypes.c_char]) -> int:
        ret = _libc.ioctl(self.fd, request, buf)
        if ret < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return int(ret)

    def receive(self) -> Notification | None:
        """The next call, or None when it went away before it could be read."""
        buf = ctypes.create_string_buffer(NOTIF.size)
        try:
            self._ioctl(IOCTL_NOTIF_RECV, buf)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EINTR):
                return None
            raise
        return Notification(buf.raw)

    def valid(self, notif: Notification) -> bool:
        """Whether the caller still waits (it may have died, its pid been reused)."""
        buf = ctypes.create_string_buffer(struct.pack("=Q", notif.id), 8)
        try:
            self._ioctl(IOCTL_NOTIF_ID_VALID, buf)
        except OSError:
            return False
        return True

    def answer(self, notif: Notification, value: int, err: int = 0) -> None:
        """The call returns ``value`` (err == 0) or -1 with errno ``err``."""
        self._send(RESP.pack(notif.id, 0 if err else value, -err if err else 0, 0))

    def let_run(self, notif: Notification) -> None:
        """The real kernel runs the call (SECCOMP_USER_NOTIF_FLAG_CONTINUE)."""
        self._send(RESP.pack(notif.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE))

    def _send(self, resp: bytes) -> None:
        buf = ctypes.create_string_buffer(resp, len(resp))
        try:
            self._ioctl(IOCTL_NOTIF_SEND, buf)
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # the caller died meanwhile
                raise

    def give_fd(self, notif: Notification, fd: int, cloexec: bool) -> None:
        """The call returns a new fd of the caller's, a copy of our ``fd``."""
        flags = os.O_CLOEXEC if cloexec else 0
        req = ADDFD.pack(notif.id, SECCOMP_ADDFD_FLAG_SEND, fd, 0, flags)
        buf = ctypes.create_string_buffer(req, len(req))
        try:
            self._ioctl(IOCTL_NOTIF_ADDFD, buf)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return
            if exc.errno == errno.EMFILE:
                self.answer(notif, -1, errno.EMFILE)
                return
            raise
