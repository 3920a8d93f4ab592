"""HostKernel: the Kernel/Process contract on the real kernel this machine runs.

Every process is a real helper process (realnuma.helper) that performs the set-up
and the syscalls as itself, so caller and target can differ in pid, credentials and
cpuset.  Helpers die with the kernel object: close(), a finalizer, and their own exit
when the controller's end of their socket closes.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import functools
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from types import FrameType
from typing import Any

from realnuma import binding, leftovers, procfs, wire
from realnuma.cpusets import CpusetError, Cpusets
from realnuma.fit import HOST_LACKS, SIM_RUN_LACKS
from realnuma.machine import MACHINE_FEATURES, Machine, MachineError, machine_lacks
from realnuma.probe import HostFacts, parse_nodelist, probe
from realnuma.procfs import is_live
from simnuma.abi import (
    CAPABILITIES,
    KTHREADD_PID,
    PROT_READ,
    PROT_WRITE,
    SyscallMethods,
    check_bool,
    check_bytes,
    check_file_index,
    check_file_name,
    check_file_write,
    check_int,
    check_mems,
    check_mmap,
    check_prot,
    check_range,
    check_span,
    check_spawn,
)
from simnuma.abi.quirks import Quirk, parse_release


class HelperDied(RuntimeError):
    """A helper process is gone (killed, crashed, or never started)."""


class HostFile:
    """A file on tmpfs (/dev/shm) whose page cache the helpers can map."""

    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self.size = size

    def __repr__(self) -> str:
        return f"HostFile({self.path!r}, size={self.size})"


class KernelThread:
    """kthreadd: a real kernel thread's pid; it has no user memory to set up."""

    pid = KTHREADD_PID


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _deferred_signals() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done: what it makes (a helper, a cgroup,
    a directory) is registered for clean-up before a signal can unwind the controller,
    and a clean-up runs to its end."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


_terminating = 0  # the signal that asked for an exit


def _past_the_program(frame: FrameType | None) -> bool:
    """Whether the interpreter has finished the program and runs its clean-ups (atexit
    callbacks, finalizers): no module's top-level code on the stack, no thread join."""
    while frame is not None:
        if frame.f_code.co_name == "<module>" or frame.f_code.co_filename.endswith("threading.py"):
            return False
        frame = frame.f_back
    return True


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM is a clean exit: ``with`` blocks, close(), finalizers and atexit run."""
    global _terminating
    if _past_the_program(frame):
        return  # exiting already: the clean-ups run to their end
    _terminating = signum
    raise SystemExit(128 + signum)


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """KeyboardInterrupt, as ever, except while the interpreter cleans up on its way out
    (a traceback from an atexit callback, and a clean-up cut short)."""
    if not _past_the_program(frame):
        raise KeyboardInterrupt


def _check_terminating() -> None:
    """A SIGTERM whose SystemExit landed in a finalizer or ``__del__`` (where Python
    ignores it) ends the controller at its next call to a helper."""
    if _terminating:
        raise SystemExit(128 + _terminating)


def _exiting() -> None:
    """The interpreter is exiting: the clean-ups that run after this one (finalizers of
    kernels never closed, the zygotes) are not cut short by another signal."""
    for signum in _SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signum, signal.SIG_IGN)


_signals_installed = False


def _install_signal_handling() -> None:
    """Once per controller, after the first finalizer exists (atexit runs last-registered
    first, so _exiting runs before weakref's finalizers): SIGTERM becomes a clean exit
    unless the program handles SIGTERM itself; SIGINT stays KeyboardInterrupt (unless
    the program handles it) but for the interpreter's clean-ups on its way out."""
    global _signals_installed
    if _signals_installed:
        return
    _signals_installed = True
    atexit.register(_exiting)
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def _release(pids: list[int], cpusets: list[Cpusets], machine: Machine) -> None:
    """The finalizer of a HostKernel dropped without close(): kill every helper, then
    remove its cpusets (their dying tasks go back to the root; rmdir waits for them)
    and undo what it did to the machine."""
    with _deferred_signals():
        _kill_all(pids)
        for cs in cpusets:
            with contextlib.suppress(CpusetError):  # what is left, realnuma.leftovers reports
                cs.close()
        with contextlib.suppress(MachineError):
            machine.undo()


class HostProcess(SyscallMethods):
    """A helper process seen through the Process protocol."""

    def __init__(
        self,
        kernel: HostKernel,
        pid: int,
        sock: socket.socket,
    ) -> None:
        self.kernel = kernel
        self._pid = pid
        self.sock = sock
        self.alive = True

    @property
    def pid(self) -> int:
        return self._pid

    def __repr__(self) -> str:
        return f"HostProcess(pid={self._pid}, alive={self.alive})"

    # --- talking to the helper ----------------------------------------------------
    def _call(self, op: str, *args: Any, fds: list[int] | None = None) -> Any:
        _check_terminating()
        if not self.alive:
            raise RuntimeError(f"process {self._pid} has exited")
        ready: list[socket.socket] = [self.sock]
        try:
            wire.send(self.sock, (op, args), fds)
            ready, _, _ = select.select([self.sock], [], [], self.kernel.timeout)
            message = wire.recv(self.sock) if ready else None
        except OSError:  # EPIPE/ECONNRESET: the helper is gone
            message = None
        if message is None and not ready:
            self.kernel.kill(self)
            raise HelperDied(f"helper {self._pid} did not answer {op} in {self.kernel.timeout} s")
        if message is None:
            self.alive = False
            raise HelperDied(f"helper {self._pid} died during {op}: {self.kernel.status_of(self)}")
        reply, _ = message
        if reply[0] == "ok":
            return reply[1]
        if reply[0] == "oserror":
            raise OSError(reply[1], reply[2])
        if reply[0] == "error":  # the helper refused an argument: as the simulator would
            raise (TypeError if reply[1] == "TypeError" else ValueError)(reply[2])
        raise RuntimeError(f"helper {self._pid} failed: {reply[1]}")

    # --- memory set-up ---------------------------------------------------------------
    def mmap(
        self,
        length: int,
        *,
        shared: bool = False,
        file: object | None = None,
        huge: str | None = None,
        prot: int = PROT_READ | PROT_WRITE,
        offset: int = 0,
        addr: int = 0,
    ) -> int:
        length = check_mmap(length, prot, offset, huge, self.kernel.page_size, addr)
        check_bool("shared", shared)
        if file is not None and not isinstance(file, HostFile):
            raise TypeError(
                f"file must be a HostFile from HostKernel.create_file, not {type(file).__name__}"
            )
        path = file.path if isinstance(file, HostFile) else None
        placed: int = self._call("mmap", length, shared, path, huge, prot, offset, addr)
        return placed

    def _range(self, addr: int, length: int) -> None:
        check_range(addr, length, self.kernel.page_size)

    def munmap(self, addr: int, length: int) -> None:
        self._range(addr, length)
        self._call("munmap", addr, length)

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        self._range(addr, length)
        check_prot(prot)
        self._call("mprotect", addr, length, prot)

    def touch(self, addr: int, length: int) -> None:
        check_span(addr, length)
        self._call("fault", addr, length, True)

    def read(self, addr: int, length: int) -> None:
        check_span(addr, length)
        self._call("fault", addr, length, False)

    def write_bytes(self, addr: int, data: bytes) -> None:
        data = check_bytes("data", data)
        check_span(addr, len(data), minimum=0)
        self._call("write_bytes", addr, data)

    def read_bytes(self, addr: int, length: int) -> bytes:
        check_span(addr, length, minimum=0)
        data: bytes = self._call("read_bytes", addr, length)
        return data

    def mlock(self, addr: int, length: int) -> None:
        self._range(addr, length)
        self._call("mlock", addr, length)

    def fork(self) -> HostProcess:
        ours, theirs = socket.socketpair()
        try:
            pid: int = self._call("fork", fds=[theirs.fileno()])
        finally:
            theirs.close()
        child = HostProcess(self.kernel, pid, ours)
        self.kernel.adopt(child)
        return child

    def exit(self) -> None:
        if not self.alive:
            return
        self._call("exit")
        self.alive = False
        self.sock.close()
        self.kernel.reap(self)

    # --- credentials and cpuset -------------------------------------------------------
    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        for name, v in (("ruid", ruid), ("euid", euid), ("suid", suid)):
            check_int(name, v, minimum=-1)
        self._call("setresuid", ruid, euid, suid)

    def set_cpuset(self, mems: Iterable[int], *, memory_migrate: bool = False) -> None:
        nodes = sorted(check_mems("mems", mems, self.kernel.facts.memory_nodes))
        check_bool("memory_migrate", memory_migrate)
        cpusets = self.kernel.cpusets()
        if cpusets.version == "v2":
            wanted = "cpuset_migrate_pages" if memory_migrate else "cpuset_keep_pages"
            if wanted not in self.kernel.features:
                raise NotImplementedError(
                    f"cgroup v2 on {self.kernel.release} cannot move a task "
                    f"{'with' if memory_migrate else 'without'} its pages"
                )
            memory_migrate = True  # v2 has no switch; the kernel does what it does
        with _deferred_signals():  # the new cgroup is registered before a signal
            cpusets.move(self._pid, nodes, memory_migrate=memory_migrate)

    # --- the raw ABI ---------------------------------------------------------------------
    def syscall(self, name: str, *args: int) -> tuple[int, int]:
        if not isinstance(name, str):
            raise TypeError(f"name must be str, not {type(name).__name__}")
        for i, a in enumerate(args):
            check_int(f"args[{i}]", a)
        ret, err = self._call("syscall", name, args)
        return int(ret), int(err)


class HostKernel:
    """The running kernel, as a backend: helper processes and world-building it can do."""

    def __init__(self, *, libnuma: bool = False, timeout: float = 120.0) -> None:
        """``libnuma``: helpers make the NUMA calls through libnuma's wrappers."""
        check_bool("libnuma", libnuma)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
            raise TypeError(f"timeout must be a number, not {type(timeout).__name__}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        if libnuma and not binding.libnuma_available():
            raise RuntimeError(
                "libnuma: realnuma was built without libnuma's headers "
                "(apt-get install libnuma-dev, then reinstall)"
            )
        self.libnuma = libnuma
        self.timeout = timeout
        self.processes: list[HostProcess] = []
        self._pids: list[int] = []  # every helper ever started, for the finalizer
        self._cpusets: Cpusets | None = None
        self._made_cpusets: list[Cpusets] = []  # for the finalizer
        # what a controller killed by SIGKILL left (it could not clean up): gone now
        leftovers.sweep()
        with _deferred_signals():  # made, then registered for clean-up, before a signal
            self.facts: HostFacts = probe()  # makes and removes a cgroup
            # named by our pid: once we are dead, anyone may remove it (realnuma.leftovers)
            self._tmpdir = tempfile.TemporaryDirectory(
                prefix=f"realnuma-{os.getpid()}-", dir=_shm_dir()
            )
            # its files are every process's, as the simulator's are (create_file makes
            # them 0666): helpers of another uid must reach them by path
            os.chmod(self._tmpdir.name, 0o711)
            self._machine = Machine(self._tmpdir.name)
            self._finalizer = weakref.finalize(
                self, _release, self._pids, self._made_cpusets, self._machine
            )
            # before a deferred SIGTERM is let in: it must find the handler, not kill us
            _install_signal_handling()

    # --- facts ----------------------------------------------------------------------
    @property
    def page_size(self) -> int:
        return binding.PAGE_SIZE

    @property
    def release(self) -> str:
        return self.facts.release

    def node_ids(self) -> list[int]:
        return list(self.facts.online_nodes)

    def memory_node_ids(self) -> list[int]:
        return list(self.facts.memory_nodes)

    def cpu_node_ids(self) -> list[int]:
        return list(self.facts.cpu_nodes)

    @property
    def features(self) -> frozenset[str]:
        features = {"pin", "dumpable", "kernel_thread", "files", "run_on"}
        if self.facts.is_root:
            features.add("capabilities")
        release = parse_release(self.facts.release)
        if self.facts.cpusets is not None:
            features.add("cpuset")
            # v1 does what cpuset.memory_migrate says; v2 never migrates a moved task's
            # pages before CGROUP_V2_CPUSET_MIGRATES and always does since
            v1 = self.facts.cpusets.startswith("v1")
            v2_migrates = Quirk.CGROUP_V2_CPUSET_MIGRATES.holds_in(release)
            if v1 or not v2_migrates:
                features.add("cpuset_keep_pages")
            if v1 or v2_migrates:
                features.add("cpuset_migrate_pages")
        if self.facts.thp in ("always", "madvise") and Quirk.MADV_POPULATE.holds_in(release):
            # a THP needs a first touch that writes: MADV_POPULATE_WRITE; the helper's
            # read-then-write fallback maps the huge zero page and then small pages.
            # The release decides, not a probe: probe() reads a tree (a fake root, a
            # guest's), and a backported MADV_POPULATE only costs a skipped THP case
            features.add("thp")
        if self.facts.hugepages >= 2:
            features.add("hugetlb")
        if self.facts.is_root and _packet_rings():
            features.add("isolate")
        features |= MACHINE_FEATURES - set(machine_lacks())
        if os.environ.get("NUMA_SIM_RUN"):
            features -= set(SIM_RUN_LACKS)
        return frozenset(features)

    @property
    def lacks(self) -> dict[str, str]:
        """Why each feature this kernel lacks is missing (as ``missing_features`` words it)."""
        if os.environ.get("NUMA_SIM_RUN"):
            return {**HOST_LACKS, **machine_lacks(), **SIM_RUN_LACKS}
        return {**HOST_LACKS, **machine_lacks()}

    def _require(self, feature: str) -> None:
        if feature not in self.features:
            raise NotImplementedError(f"{feature}: this host cannot {self.lacks[feature]}")

    # --- processes ---------------------------------------------------------------------
    def spawn(
        self,
        *,
        uid: int = 0,
        cpuset_mems: Iterable[int] | None = None,
        caps: Sequence[str] | None = None,
    ) -> HostProcess:
        args = check_spawn(uid, cpuset_mems, caps, self.facts.memory_nodes)
        if os.geteuid() != 0:
            raise PermissionError(
                "spawn: the host backend needs root (euid 0): its helpers start as root and "
                "become the uid, capabilities and cpuset asked for; run the controller as root"
            )
        if args.caps is not None:
            mask = sum(1 << CAPABILITIES[c] for c in args.caps)
        else:
            mask = -1 if args.uid == 0 else 0  # root keeps every capability it has
        with _deferred_signals():  # the helper and its cgroup are ours to clean up
            ours, theirs = socket.socketpair()
            try:
                pid = _zygote(self.libnuma, self.timeout).spawn(theirs, args.uid, mask)
            finally:
                theirs.close()
            proc = HostProcess(self, pid, ours)
            self.adopt(proc)
            ready, _, _ = select.select([ours], [], [], self.timeout)
            message = wire.recv(ours) if ready else None
            if message is None or message[0][0] != "ok":
                proc.alive = False
                detail = message[0][2] if message else self.status_of(proc)
                raise HelperDied(f"helper for uid {uid} did not start: {detail}")
            if args.mems is not None:
                # a new helper has no pages to keep: v2, which always migrates, is fine too
                migrate = self.cpusets().version == "v2"
                self.cpusets().move(proc.pid, sorted(args.mems), memory_migrate=migrate)
            if len(self.facts.cpu_nodes) > 1:
                # as the simulator's: a new process runs on the first node with CPUs, so
                # that first touch (MPOL_DEFAULT's local node) does not follow the scheduler
                # (after the cpuset move, which resets the CPUs allowed)
                self.run_on(proc, self.facts.cpu_nodes[0])
        return proc

    def spawn_kernel_thread(self) -> KernelThread:
        return KernelThread()

    def adopt(self, proc: HostProcess) -> None:
        self.processes.append(proc)
        self._pids.append(proc.pid)

    def kill(self, proc: HostProcess) -> None:
        """Kill one helper (it hung or misbehaved)."""
        proc.alive = False
        proc.sock.close()
        _kill_all([proc.pid])

    def status_of(self, proc: HostProcess) -> str:
        """How a helper ended (its socket closed: it is exiting, give it a moment)."""
        deadline = time.monotonic() + 5
        while is_live(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.005)
        # helpers are the zygote's children, reaped there: no exit status reaches us
        return "still running" if is_live(proc.pid) else "the process is gone"

    def reap(self, proc: HostProcess) -> None:
        """Wait until an exited helper's pid is gone (ESRCH from then on)."""
        deadline = time.monotonic() + self.timeout
        while os.path.exists(f"/proc/{proc.pid}") and time.monotonic() < deadline:
            time.sleep(0.005)

    def cpusets(self) -> Cpusets:
        if self._cpusets is None:
            with _deferred_signals():  # made, then registered for clean-up, before a signal
                self._cpusets = Cpusets()
                self._made_cpusets.append(self._cpusets)
        return self._cpusets

    def close(self) -> None:
        """Kill every helper, undo every cpuset, remove every file."""
        with _deferred_signals():  # a signal now would leave half of it
            self._close()

    def _close(self) -> None:
        pids = [p.pid for p in self.processes if p.alive]
        for proc in self.processes:
            proc.alive = False
            proc.sock.close()
        _kill_all(pids)
        for pid in pids:
            deadline = time.monotonic() + 10
            while is_live(pid) and time.monotonic() < deadline:
                time.sleep(0.005)
        if self._cpusets is not None:
            self._cpusets.close()
            self._cpusets = None
            self._made_cpusets.clear()
        self._machine.undo()  # the mounts are in the directory
        self._tmpdir.cleanup()
        self.processes.clear()
        # all done: no finalizer left to run later (where a signal would be swallowed)
        self._finalizer.detach()

    def __enter__(self) -> HostKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- world building ------------------------------------------------------------------
    def _process(self, proc: Any) -> HostProcess:
        if not isinstance(proc, HostProcess):
            raise TypeError(f"proc must be a HostProcess, not {type(proc).__name__}")
        return proc

    def pin(self, proc: Any, addr: int) -> None:
        self._process(proc)._call("pin", check_span(addr, 1)[0])

    def unpin(self, proc: Any, addr: int) -> None:
        self._process(proc)._call("unpin", check_span(addr, 1)[0])

    def _page_node(self, proc: HostProcess, addr: int) -> int:
        page = check_span(addr, 1)[0] & ~(self.page_size - 1)
        node = proc.move_pages(0, [page], None, 0).status[0]
        if node < 0:
            raise ValueError(f"addr {addr:#x}: no page is mapped there in pid {proc.pid}")
        return node

    def isolate(self, proc: Any, addr: int) -> None:
        """Make the page at ``addr`` one that migration cannot isolate (-EBUSY): a page
        of a packet socket's receive ring, on the old page's node, with its bytes
        (realnuma.helper.Helper.isolate says why not an anonymous page)."""
        proc = self._process(proc)
        node = self._page_node(proc, addr)
        self._require("isolate")
        proc._call("isolate", addr, node)

    def swap_out(self, proc: Any, addr: int) -> None:
        """Reclaim the private anonymous page at ``addr`` to swap (MADV_PAGEOUT), a
        zram swap device switched on first."""
        proc = self._process(proc)
        self._page_node(proc, addr)
        self._require("swap")
        self._machine.swap_on()
        proc._call("swap_out", addr)

    def start_writeback(self, proc: Any, addr: int) -> None:
        """Start writing back the dirty page at ``addr`` of a file on ``ext4`` (whose
        disk delays every write): it stays under writeback for WRITE_DELAY_MS."""
        proc = self._process(proc)
        self._page_node(proc, addr)
        self._require("writeback")
        proc._call("start_writeback", addr)

    def fill_node(self, nid: int, free_pages: int = 0) -> None:
        """Leave node ``nid`` no page to give (realnuma.machine.Machine.fill_node)."""
        check_int("nid", nid)
        if nid not in self.facts.memory_nodes:
            raise ValueError(f"nid {nid} is not a node with memory")
        if check_int("free_pages", free_pages, minimum=0):
            raise NotImplementedError(
                f"fill_node: free_pages={free_pages}: {HOST_LACKS['fill_node_partial']}"
            )
        self._require("fill_node")
        self._machine.fill_node(nid)

    def drain_node(self, nid: int) -> None:
        """Give back what fill_node() took."""
        check_int("nid", nid)
        if nid not in self.facts.online_nodes:
            raise ValueError(f"nid {nid} is not a node")
        self._machine.drain_node(nid)

    def set_dumpable(self, proc: Any, value: int) -> None:
        if check_int("value", value) not in (0, 1):
            raise ValueError(f"value must be 0 or 1, not {value}")
        self._process(proc)._call("set_dumpable", value)

    def run_on(self, proc: Any, nid: int) -> None:
        check_int("nid", nid)
        self._process(proc)._call("run_on", _node_cpus(nid))

    @contextlib.contextmanager
    def _on_first_cpu_node(self) -> Iterator[None]:
        """Run the calling thread on the first node with CPUs, as the simulator's own
        allocations (write(2) into the page cache) are placed, not where it was scheduled."""
        if len(self.facts.cpu_nodes) < 2:
            yield
            return
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, _node_cpus(self.facts.cpu_nodes[0]))
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)

    def create_file(self, size: int, *, fs: Any = "tmpfs", name: str = "") -> HostFile:
        check_int("size", size, minimum=1)
        check_file_name("name", name)
        if not isinstance(fs, str):
            raise TypeError(f"fs must be str, not {type(fs).__name__}")
        directory = self._tmpdir.name
        if fs != "tmpfs":
            need = FILESYSTEM_FEATURES.get(fs)
            if need is None:
                known = ", ".join(sorted({"tmpfs", *FILESYSTEM_FEATURES}))
                raise ValueError(f"fs: the host backend has {known}, not {fs!r}")
            if need not in self.features:
                raise ValueError(f"fs: {fs!r} needs {need}: this host cannot {self.lacks[need]}")
            directory = self._machine.mount(fs)
        fd, path = tempfile.mkstemp(prefix=name or "file", dir=directory)
        os.ftruncate(fd, size)  # a hole: no block is allocated until written back
        os.close(fd)
        if fs == "nomigrate-ioerror":
            self._machine.fill_disk(fs)
        os.chmod(path, 0o666)
        return HostFile(path, size)

    def write_file(self, f: Any, offset: int, data: bytes) -> None:
        if not isinstance(f, HostFile):
            raise TypeError(f"f must be HostFile, not {type(f).__name__}")
        data = check_file_write(offset, data, f.size)
        fd = os.open(f.path, os.O_WRONLY)
        try:
            with self._on_first_cpu_node():
                os.pwrite(fd, data, offset)
        finally:
            os.close(fd)

    def file_inode(self, f: Any) -> int:
        """The inode number of a file (``ls -i``)."""
        if not isinstance(f, HostFile):
            raise TypeError(f"f must be HostFile, not {type(f).__name__}")
        return os.stat(f.path).st_ino

    def mapping_inode(self, proc: Any, addr: int) -> int:
        """The inode number of the file or shmem object mapped at ``addr``, from
        /proc/PID/maps; ValueError for anonymous memory."""
        proc = self._process(proc)
        addr = check_span(addr, 1)[0]
        for line in procfs.read_maps(proc.pid):
            span, _, _, _, inode, *_ = line.split(maxsplit=5)
            start, end = (int(x, 16) for x in span.split("-"))
            if start <= addr < end:
                if inode == "0":
                    raise ValueError(f"addr {addr:#x}: anonymous memory has no inode")
                return int(inode)
        raise OSError(errno.EFAULT, f"addr {addr:#x}: {os.strerror(errno.EFAULT)}")

    def file_page_node(self, f: Any, index: int) -> int | None:
        """The node of a page-cache page, read by a short-lived helper that maps it."""
        if not isinstance(f, HostFile):
            raise TypeError(f"f must be HostFile, not {type(f).__name__}")
        check_file_index(index, f.size, self.page_size)
        probe_proc = self.spawn()
        try:
            addr = probe_proc.mmap(f.size, file=f, shared=True)
            page = addr + index * self.page_size
            cached = probe_proc._call("mincore", page)
            if not cached:
                return None
            probe_proc.read(page, 1)
            status = probe_proc.move_pages(0, [page], None, 0).status[0]
            return status if status >= 0 else None
        finally:
            probe_proc.exit()


# the filesystems realnuma.machine mounts, and the feature that says it can
FILESYSTEM_FEATURES = {
    "ext4": "writeback",
    **{fs: f"fs:{fs}" for fs in ("nomigrate", "nomigrate-nowriteback", "nomigrate-ioerror")},
}


@functools.cache
def _packet_rings() -> bool:
    """Whether this process can open a packet socket (CONFIG_PACKET, CAP_NET_RAW)."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except OSError:
        return False
    return True


def _helper_env() -> dict[str, str]:
    """The environment of the helper zygote: PYTHONPATH leads with the directory this
    controller imported realnuma from, so both ends of the wire run the same code
    (a source tree under test, not whatever realnuma is installed)."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    env["PYTHONPATH"] = os.pathsep.join([root, *rest])
    return env


class Zygote:
    """One root helper per controller process that forks the others: a fresh helper
    costs a fork, not an interpreter start (which takes seconds under emulation)."""

    def __init__(self, libnuma: bool, timeout: float) -> None:
        self.timeout = timeout
        self.sock, theirs = socket.socketpair()
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "realnuma.helper",
                str(theirs.fileno()),
                "0",
                "-1",
                "libnuma" if libnuma else "syscall",
                str(os.getpid()),  # the owner: realnuma.leftovers tells orphans by it
            ],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # ^C at a terminal is the controller's to handle
            cwd="/",  # never a source tree that happens to be the cwd ...
            env=_helper_env(),  # ... but the realnuma this controller runs
        )
        theirs.close()
        hello = self._reply()
        if hello is None or hello[0] != "ok":
            detail = hello[2] if hello else f"exit status {self.popen.poll()}"
            raise HelperDied(f"the helper zygote did not start: {detail}")

    def _reply(self) -> Any:
        ready, _, _ = select.select([self.sock], [], [], self.timeout)
        message = wire.recv(self.sock) if ready else None
        return None if message is None else message[0]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def spawn(self, theirs: socket.socket, uid: int, caps: int) -> int:
        """A new helper serving on ``theirs``: its pid."""
        try:
            wire.send(self.sock, ("spawn", (uid, caps)), [theirs.fileno()])
            reply = self._reply()
        except OSError:
            reply = None
        if reply is None or reply[0] != "ok":
            raise HelperDied(f"the helper zygote {self.popen.pid} is gone")
        pid: int = reply[1]
        return pid

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(Exception):
            self.popen.kill()
            self.popen.wait(timeout=10)


_ZYGOTES: dict[bool, Zygote] = {}


def _zygote(libnuma: bool, timeout: float) -> Zygote:
    zygote = _ZYGOTES.get(libnuma)
    if zygote is None or not zygote.alive():
        with _deferred_signals():
            zygote = _ZYGOTES[libnuma] = Zygote(libnuma, timeout)
    return zygote


@atexit.register
def _close_zygotes() -> None:
    with _deferred_signals():
        for zygote in _ZYGOTES.values():
            zygote.close()
        _ZYGOTES.clear()


def _shm_dir() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


def _node_cpus(nid: int) -> list[int]:
    """The online CPUs of node ``nid``; ValueError if it is no node or has none."""
    try:
        with open(f"/sys/devices/system/node/node{nid}/cpulist") as f:
            cpus = parse_nodelist(f.read())
    except FileNotFoundError:
        raise ValueError(f"nid {nid} is not a node") from None
    if not cpus:
        raise ValueError(f"nid {nid} has no CPUs")
    return cpus
