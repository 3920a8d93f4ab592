"""numa-sim-run's supervisor: start an unmodified program under a seccomp filter
whose NUMA system calls (and the opens of the files that describe the machine)
come to us, and answer them from a SimKernel.

The program runs for real; only the calls below are ours.  The NUMA calls are
answered by the simulator after the mirror has synced the caller's address space
(simnuma/run/mirror.py); opens of /sys/devices/system/node/..., /proc/PID/status
and /proc/PID/numa_maps get a file descriptor of the simulated machine's view
(SECCOMP_IOCTL_NOTIF_ADDFD); clone/fork/execve are watched, then run for real;
anything else the filter sends runs for real (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import socket
import struct
import sys
from collections.abc import Sequence

from simnuma.kernel import SimKernel
from simnuma.process import SimProcess
from simnuma.run import remote, seccomp
from simnuma.run.inject import Injection, Injector
from simnuma.run.mirror import Mirror
from simnuma.run.nodefiles import NodeTree, assign_cpus, real_cpus, status_text
from simnuma.run.warden import exit_code, read_int, warden
from simnuma.uaccess import as_s32
from simnuma.views import numa_maps

NUMA_CALLS = ("move_pages", "migrate_pages", "mbind", "set_mempolicy", "get_mempolicy")
UNMODELLED = ("set_mempolicy_home_node",)
OPENS = ("open", "openat", "openat2")
CLONES = ("clone", "clone3", "fork", "vfork")
EXECS = ("execve", "execveat")
WATCHED = ("prctl", "sched_setaffinity", "munmap", "mmap")  # mmap: MAP_FIXED only
FILTERED = [*NUMA_CALLS, *UNMODELLED, *OPENS, *CLONES, *EXECS, *WATCHED]
ENV = "NUMA_SIM_RUN"  # set in the program's environment: the supervisor's pid
PR_SET_DUMPABLE = 4
_NARGS = {"move_pages": 6, "migrate_pages": 4, "mbind": 6, "set_mempolicy": 3, "get_mempolicy": 5}
AT_FDCWD = -100
_WRITE_ACCESS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# move_pages() calls longer than this are explained without their addresses
_EXPLAINED_PAGES = 4096


class ProgramError(Exception):
    """The program cannot be started (not found, not executable)."""


def resolve_program(name: str, env: dict[str, str]) -> str:
    """The file execvp() would run, or ProgramError saying why there is none."""
    if "/" in name:
        if not os.path.exists(name):
            raise ProgramError(f"{name}: no such file")
        if os.path.isdir(name) or not os.access(name, os.X_OK):
            raise ProgramError(f"{name}: not executable")
        return name
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is None:
        raise ProgramError(f"{name}: command not found")
    return found


class Supervisor:
    """One run of a program on ``kernel``: ``run(argv)`` returns its exit status
    (128 + N when a signal N ended it, as a shell reports it)."""

    tree: NodeTree  # the node directory of the run under way

    def __init__(
        self,
        kernel: SimKernel,
        inject: Sequence[Injection] = (),
        *,
        warn: bool = True,
        trace: bool = False,
        explain: bool = False,
    ) -> None:
        if not isinstance(kernel, SimKernel):
            raise TypeError(f"kernel must be SimKernel, not {type(kernel).__name__}")
        bad = next((r for r in inject if not isinstance(r, Injection)), None)
        if bad is not None:
            raise TypeError(
                "inject: each rule must be an Injection (Injection.parse), "
                f"not {type(bad).__name__}"
            )
        seccomp.check_supported()
        self.kernel = kernel
        self.injector = Injector(kernel, inject)
        self.mirror = Mirror(kernel, warn=warn)
        self.real_cpus = real_cpus()
        self.cpus = assign_cpus(kernel, self.real_cpus)
        self.listener: seccomp.Listener | None = None
        self.calls: list[tuple[int, str, int, int]] = []  # (pid, call, ret, errno)
        self.trace = trace
        self.explain = explain  # each answer's reasons on stderr

    # --- starting and ending -----------------------------------------------------------
    def run(self, argv: Sequence[str], env: dict[str, str] | None = None) -> int:
        if isinstance(argv, str) or not all(isinstance(a, str) for a in argv):
            raise TypeError("argv must be a sequence of str (the program and its arguments)")
        if not argv:
            raise ValueError("argv: no program given")
        env = dict(os.environ if env is None else env)
        env[ENV] = str(os.getpid())
        path = resolve_program(argv[0], env)
        # the node directory lives as long as the run: we or the warden remove it
        self.tree = NodeTree(self.kernel, self.cpus)
        try:
            return self._start(path, argv, env)
        finally:
            self.tree.close()

    def _start(self, path: str, argv: Sequence[str], env: dict[str, str]) -> int:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        status_r, status_w = os.pipe()  # the warden tells us the program's pid, then status
        ctl_r, ctl_w = os.pipe()  # EOF: we are done (or dead), the warden ends it all
        keeper = os.fork()
        if keeper == 0:
            ours.close()
            os.close(status_r)
            os.close(ctl_w)
            warden(path, argv, env, theirs, status_w, ctl_r, self.tree.root, FILTERED)
        theirs.close()
        os.close(status_w)
        os.close(ctl_r)
        try:
            pid = read_int(status_r)
            _, fds, _, _ = socket.recv_fds(ours, 1, 1)
            ours.close()
            if pid is None or not fds:
                status = read_int(status_r)  # it failed before the filter: it said why
                return 127 if status is None else exit_code(status)
            self.listener = seccomp.Listener(fds[0])
            self.mirror.start(pid)
            return self._loop(status_r)
        finally:
            os.close(ctl_w)
            os.waitpid(keeper, 0)
            os.close(status_r)
            self.mirror.close()
            if self.listener is not None:
                os.close(self.listener.fd)

    def _loop(self, status_r: int) -> int:
        assert self.listener is not None
        poller = select.poll()
        poller.register(self.listener.fd, select.POLLIN)
        poller.register(status_r, select.POLLIN | select.POLLHUP)
        while True:
            for fd, event in poller.poll():
                if fd == status_r:
                    status = read_int(status_r)
                    return 125 if status is None else exit_code(status)
                if event & select.POLLIN:
                    notif = self.listener.receive()
                    if notif is not None:
                        self.handle(notif)
                elif event & (select.POLLHUP | select.POLLERR):
                    poller.unregister(fd)  # every supervised process is gone

    # --- one notification --------------------------------------------------------------
    def handle(self, notif: seccomp.Notification) -> None:
        assert self.listener is not None
        name = notif.name
        self.mirror.reap()
        proc = self.mirror.task(notif.pid)
        if proc is None:  # not one of ours after all (it died meanwhile)
            self.listener.let_run(notif)
            return
        if name in NUMA_CALLS:
            try:
                self._numa(notif, proc)
            except NotImplementedError as exc:
                # loudly: the simulator answers nothing it does not model
                self.mirror.note(f"pid {proc.pid}: {name}(): not modelled: {exc}: answered ENOSYS")
                self.listener.answer(notif, -1, errno.ENOSYS)
        elif name in UNMODELLED:
            self.mirror.note(f"{name}() is not modelled by the simulator: answered ENOSYS")
            self.listener.answer(notif, -1, errno.ENOSYS)
        elif name in OPENS:
            self._open(notif, proc)
        elif name in CLONES:
            flags = notif.args[0] if name == "clone" else 0
            if name == "clone3":
                head = remote.read_memory(notif.pid, notif.args[0], 8)
                flags = struct.unpack("=Q", head)[0] if len(head) == 8 else 0
            self.mirror.forked(proc, flags)
            self.listener.let_run(notif)
        elif name in EXECS:
            self.mirror.execed(proc)
            self.listener.let_run(notif)
        elif name == "prctl":
            if notif.args[0] == PR_SET_DUMPABLE and notif.args[1] in (0, 1):
                self.kernel.set_dumpable(proc, notif.args[1])  # if it fails, so does ours
            self.listener.let_run(notif)
        elif name == "sched_setaffinity":
            self._affinity(notif, proc)
        elif name in ("munmap", "mmap"):
            # the range's VMAs go (a policy mbind() gave them too); whatever is mapped
            # there next is new to the mirror, however alike it looks
            addr, length = notif.args[0], notif.args[1]
            if not addr % 4096 and 0 < length < 1 << 47 and addr + length < 1 << 47:
                assert proc.mm is not None
                proc.mm.remove_range(addr, -(-(addr + length) // 4096) * 4096)
            self.listener.let_run(notif)
        else:
            self.listener.let_run(notif)

    def _numa(self, notif: seccomp.Notification, proc: SimProcess) -> None:
        assert self.listener is not None
        name = notif.name
        args = list(notif.args)
        self.mirror.refresh_creds(proc)
        self.mirror.sync_all()
        target = proc
        if name in ("move_pages", "migrate_pages") and as_s32(args[0]):
            other = self.mirror.lookup(as_s32(args[0])) if as_s32(args[0]) > 0 else None
            if other is not None:
                self.mirror.refresh_creds(other)
                args[0] = other.pid  # a thread's id names its process here
                target = other
        self.injector.before(name, args, proc, target)
        try:
            ret, err = proc.syscall(name, *args)
        finally:
            self.injector.after()
        self.calls.append((proc.pid, name, ret, err))
        if name == "get_mempolicy" and not err and args[4] & 3 == 3:
            # MPOL_F_NODE|MPOL_F_ADDR read-faulted the page in (lookup_node()): so
            # must the real kernel, or the next sync would drop it again
            remote.read_memory(notif.pid, args[3], 1)
        if self.trace:
            shown = ", ".join(hex(a) if a > 4096 else str(a) for a in args[: _NARGS[name]])
            result = f"-1 {errno.errorcode.get(err, err)}" if err else str(ret)
            print(f"numa-sim-run: [{proc.pid}] {name}({shown}) = {result}", file=sys.stderr)
        if self.explain and proc.last_call is not None:
            pages = None
            if name == "move_pages" and 0 < args[1] <= _EXPLAINED_PAGES:
                raw = remote.read_memory(notif.pid, args[2], 8 * args[1])
                pages = list(struct.unpack(f"={len(raw) // 8}Q", raw[: len(raw) // 8 * 8]))
            for line in proc.last_call.explain(pages).splitlines():
                print(f"numa-sim-run: [{proc.pid}] {line}", file=sys.stderr)
        if self.listener.valid(notif):
            self.listener.answer(notif, ret, err)

    def _affinity(self, notif: seccomp.Notification, proc: SimProcess) -> None:
        """sched_setaffinity(): a mask within one simulated node's CPUs runs the task
        there (run_on: its local node).  The real call runs unless every CPU named
        exists only in the simulation, which then answers it."""
        assert self.listener is not None
        pid, size, addr = as_s32(notif.args[0]), notif.args[1], notif.args[2]
        mask = int.from_bytes(remote.read_memory(notif.pid, addr, min(size, 1 << 12)), "little")
        cpus = {c for c in range(mask.bit_length()) if mask >> c & 1}
        target = proc if pid == 0 else self.mirror.lookup(pid)
        homes = {n for n, ids in self.tree.cpus.items() if cpus & set(ids)}
        if target is not None and len(homes) == 1:
            self.kernel.run_on(target, homes.pop())
        if cpus and not cpus & set(self.real_cpus):
            self.listener.answer(notif, 0)
        else:
            self.listener.let_run(notif)

    def _open(self, notif: seccomp.Notification, proc: SimProcess) -> None:
        assert self.listener is not None
        name, a = notif.name, notif.args
        if name == "open":
            dirfd, path_addr, flags = AT_FDCWD, a[0], a[1]
        else:
            dirfd, path_addr = as_s32(a[0]), a[1]
            flags = a[2]
            if name == "openat2":
                how = remote.read_memory(notif.pid, a[2], 8)
                flags = struct.unpack("=Q", how)[0] if len(how) == 8 else 0
        path = remote.read_string(notif.pid, path_addr)
        view = None if path is None or flags & _WRITE_ACCESS else self._view(notif, path, dirfd)
        if view is None or not self.listener.valid(notif):
            self.listener.let_run(notif)
            return
        if isinstance(view, int):
            self.listener.answer(notif, -1, view)
            return
        kind, content = view
        try:
            if kind == "text":
                fd = os.memfd_create("numa-sim-run", os.MFD_CLOEXEC)
                os.write(fd, content.encode())
                os.lseek(fd, 0, os.SEEK_SET)
            else:
                mode = os.O_RDONLY | (flags & (os.O_DIRECTORY | os.O_NONBLOCK))
                fd = os.open(content, mode | os.O_CLOEXEC)
        except OSError as exc:
            self.listener.answer(notif, -1, exc.errno or errno.EIO)
            return
        try:
            self.listener.give_fd(notif, fd, bool(flags & os.O_CLOEXEC))
        finally:
            os.close(fd)

    def _view(
        self, notif: seccomp.Notification, path: str, dirfd: int
    ) -> tuple[str, str] | int | None:
        """What an open of ``path`` gets: ("file", host path) in the node tree,
        ("text", content) for a rendered /proc file, an errno, or None (the real one)."""
        full = self._absolute(notif.pid, path, dirfd)
        if full is None:
            return None
        tgid = self.mirror.tgid(notif.pid) or notif.pid
        parts = full.split("/")
        if full.startswith("/proc/") and len(parts) >= 4:
            who = parts[2]
            if who == "self":
                pid = tgid
            elif who == "thread-self" or not who.isdigit():
                return None
            else:
                pid = int(who)
            leaf = parts[-1]
            if leaf not in ("status", "numa_maps") or len(parts) not in (4, 6):
                return None
            proc = self.mirror.tasks.get(self.mirror.tgid(pid) or -1)
            if proc is None:
                return None  # not on the simulated machine: the real file
            self.mirror.sync(proc)
            if leaf == "numa_maps":
                return "text", self._numa_maps(proc)
            try:
                with open(f"/proc/{pid}/status") as f:
                    real = f.read()
            except OSError as exc:
                return exc.errno or errno.ENOENT
            return "text", status_text(real, proc, self.kernel.max_numnodes)
        host = self.tree.host_path(full)
        if host is None and self.tree.inside(full):
            host = full  # relative to a directory fd we handed out
        if host is None:
            return None
        for p in list(self.mirror.tasks.values()):
            self.mirror.sync(p)
        self.tree.refresh()
        if not os.path.exists(host):
            return errno.ENOENT
        return "file", host

    def _absolute(self, pid: int, path: str, dirfd: int) -> str | None:
        if not path.startswith("/"):
            link = f"/proc/{pid}/cwd" if dirfd == AT_FDCWD else f"/proc/{pid}/fd/{dirfd}"
            try:
                base = os.readlink(link)
            except OSError:
                return None
            path = os.path.join(base, path)
        return os.path.normpath(path)

    def _numa_maps(self, proc: SimProcess) -> str:
        try:
            real = remote.read_maps(proc.pid)
        except OSError:
            real = []
        assert proc.mm is not None
        names = []
        for vma in proc.mm.vmas:
            m = next((m for m in real if m.start <= vma.start < m.end), None)
            if m is not None:
                names.append((vma.start, m.path))
        return numa_maps(proc, names)


def run(
    argv: Sequence[str],
    kernel: SimKernel | None = None,
    inject: Sequence[Injection] = (),
    env: dict[str, str] | None = None,
    *,
    explain: bool = False,
) -> int:
    """Run ``argv`` on ``kernel`` (a 2-node SimKernel by default); its exit status.
    ``explain``: print why each NUMA call was answered so, on stderr."""
    sup = Supervisor(kernel or SimKernel(2), inject, explain=explain)
    return sup.run(argv, env)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(sys.argv[1:]))
