"""Boot a kernel under QEMU (KVM when it works, else software emulation) with emulated
NUMA nodes, run one command in it, and bring its output back over serial ports: ttyS1
(stdout) and ttyS2 (stderr) apart from the kernel's console (ttyS0), where the command's
exit status comes back."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realnuma import leftovers
from realnuma.vm import initramfs
from realnuma.vm.kernels import Kernel, cache_dir

MIB = 1 << 20
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# QEMU's MAX_NODES (include/sysemu/numa.h: 128 in 7.2); each node has one vCPU here,
# well under the pc machine's 255
MAX_NODES = 128


def host_memory_mib() -> int:
    """This machine's memory (MemTotal), in MiB; the guest's RAM must fit in it."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise VmError("no MemTotal in /proc/meminfo")


class VmError(RuntimeError):
    """The guest could not be booted or did not answer; the message says why."""


class VmTimeout(VmError):
    """The guest did not finish in time and was killed."""


@dataclass(frozen=True)
class GuestNode:
    """One QEMU NUMA node: memory in MiB (0: memoryless) and whether it keeps a CPU online."""

    memory_mib: int = 512
    cpu: bool = True


@dataclass(frozen=True)
class VmTopology:
    nodes: tuple[GuestNode, ...] = field(
        default_factory=lambda: (GuestNode(512), GuestNode(512, cpu=False), GuestNode(0))
    )
    distances: dict[tuple[int, int], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.nodes) > MAX_NODES:
            raise ValueError(f"nodes: QEMU emulates at most {MAX_NODES}, not {len(self.nodes)}")
        if not self.nodes or not any(n.memory_mib for n in self.nodes):
            raise ValueError("nodes: at least one node must have memory")
        if not any(n.cpu for n in self.nodes):
            raise ValueError("nodes: at least one node must keep a CPU")

    @classmethod
    def default(cls, count: int) -> VmTopology:
        """``count`` nodes; with 3 or more, the last has no memory and node 1 no CPU,
        so that memoryless (ENODEV) and CPU-less nodes are both there."""
        many = count >= 3
        return cls.build(count, memoryless=1 if many else 0, cpuless=1 if many else 0)

    @classmethod
    def build(
        cls,
        count: int,
        *,
        memory_mib: int = 512,
        memoryless: int = 0,
        cpuless: int = 0,
        distance: int | None = None,
    ) -> VmTopology:
        """``count`` nodes of ``memory_mib``; the last ``memoryless`` have no memory, the
        ``cpuless`` after node 0 no CPU; ``distance`` between every two nodes."""
        if not 1 <= count <= MAX_NODES:
            raise ValueError(f"nodes must be 1..{MAX_NODES} (QEMU's MAX_NODES), got {count}")
        if memory_mib < 64:
            raise ValueError(f"mem must be at least 64 (MiB per node), got {memory_mib}")
        if not 0 <= memoryless < count:
            raise ValueError(f"memoryless must be 0..{count - 1}, got {memoryless}")
        if not 0 <= cpuless < count - memoryless:
            raise ValueError(f"cpuless must be 0..{count - memoryless - 1}, got {cpuless}")
        if distance is not None and not 11 <= distance <= 254:
            raise ValueError(f"distance must be 11..254, got {distance}")
        total = memory_mib * (count - memoryless)
        if total > host_memory_mib():
            raise ValueError(
                f"mem × nodes with memory = {total} MiB, more than this host has "
                f"({host_memory_mib()} MiB)"
            )
        nodes = []
        for i in range(count):
            has_memory = i < count - memoryless
            has_cpu = not (has_memory and 1 <= i <= cpuless)
            nodes.append(GuestNode(memory_mib if has_memory else 0, cpu=has_cpu))
        distances = {}
        if distance is not None:
            distances = {(a, b): distance for a in range(count) for b in range(count) if a < b}
        return cls(tuple(nodes), distances)

    def qemu_args(self) -> list[str]:
        """Every node gets one vCPU (QEMU needs it to order nodes); the guest offlines
        the vCPU of a node without ``cpu``."""
        total = sum(n.memory_mib for n in self.nodes)
        args = ["-m", f"{total}M", "-smp", str(len(self.nodes))]
        for i, node in enumerate(self.nodes):
            numa = f"node,nodeid={i},cpus={i}"
            if node.memory_mib:
                args += ["-object", f"memory-backend-ram,id=m{i},size={node.memory_mib}M"]
                numa += f",memdev=m{i}"
            args += ["-numa", numa]
        for (a, b), d in sorted(self.distances.items()):
            args += ["-numa", f"dist,src={a},dst={b},val={d}"]
        return args

    @property
    def offline_cpus(self) -> list[int]:
        return [i for i, n in enumerate(self.nodes) if not n.cpu]


def _progress(message: str) -> None:
    print(f"[vm] {message}", file=sys.stderr, flush=True)


# --- the accelerator -------------------------------------------------------------------
KVM_DEVICE = "/dev/kvm"
KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00) in <linux/kvm.h>
KVM_API_VERSION = 12
DEBUG_EXIT_PORT = 0xF4  # the isa-debug-exit device: QEMU exits with (value << 1) | 1
# a boot sector (real mode): mov al, 0x31; out 0xf4, al; hlt; jmp $-1 -- QEMU exits 99
PROBE_SECTOR = bytes([0xB0, 0x31, 0xE6, DEBUG_EXIT_PORT, 0xF4, 0xEB, 0xFD])
PROBE_EXIT = (0x31 << 1) | 1
PROBE_TIMEOUT = 15.0


@dataclass(frozen=True)
class Accel:
    """How QEMU runs the guest: ``kvm`` (hardware) or ``tcg`` (software emulation)."""

    name: str
    why: str  # what the choice rests on, for the user

    def qemu_args(self) -> list[str]:
        if self.name == "kvm":
            return ["-accel", "kvm", "-cpu", "host"]
        # one thread: multi-threaded TCG corrupted the kernel's live code patching (6.12)
        return ["-accel", "tcg,thread=single", "-cpu", "max"]


def probe_kvm(qemu: str, *, device: str = KVM_DEVICE, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None if QEMU runs a guest under KVM here, else why not.  /dev/kvm existing is not
    enough (on some hosts QEMU's ``-accel kvm`` aborts or hangs): the device must open and
    answer KVM_GET_API_VERSION, then QEMU with ``-accel kvm -cpu host`` must boot a
    one-instruction boot sector through the firmware and exit through isa-debug-exit."""
    import fcntl

    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"{device}: {exc.strerror or exc}"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as exc:
        return f"{device}: KVM_GET_API_VERSION: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if version != KVM_API_VERSION:
        return f"{device}: KVM API version {version}, not {KVM_API_VERSION}"
    with tempfile.TemporaryDirectory(prefix=leftovers.dir_prefix(os.getpid())) as tmp:
        disk = Path(tmp) / "probe.img"
        disk.write_bytes(PROBE_SECTOR.ljust(510, b"\0") + b"\x55\xaa")
        argv = [
            qemu, *Accel("kvm", "").qemu_args(), "-m", "16", "-nodefaults", "-nographic",
            "-no-reboot", "-device", f"isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=1",
            "-drive", f"file={disk},format=raw,if=ide",
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return f"QEMU -accel kvm did not run a boot sector in {timeout:.0f} s"
        except BaseException:
            _kill(proc)
            raise
    if proc.returncode == PROBE_EXIT:
        return None
    lines = [x for x in output.decode(errors="replace").splitlines() if x.strip()]
    said = f": {lines[0].strip()}" if lines else ""
    how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"status {proc.returncode}"
    return f"QEMU -accel kvm -cpu host ended with {how}{said}"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _probe_cache() -> Path:
    return cache_dir() / "kvm-probe.json"


def _cached_probe(qemu: str) -> tuple[bool, str | None] | None:
    """(whether an answer is cached for this host boot and this QEMU, the answer)."""
    try:
        entry = json.loads(_probe_cache().read_text())
        key = [_boot_id(), qemu, os.stat(qemu).st_mtime]
        if entry["key"] == key:
            why = entry["why"]
            return True, why if isinstance(why, str) else None
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def remember_kvm(qemu: str, why: str | None) -> None:
    """Keep the answer for this host boot and this QEMU binary."""
    with contextlib.suppress(OSError):
        path = _probe_cache()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = [_boot_id(), qemu, os.stat(qemu).st_mtime]
        tmp = path.with_name(f"{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"key": key, "why": why}))
        tmp.replace(path)


def choose_accel(qemu: str, wanted: str | None = None) -> Accel:
    """``kvm`` or ``tcg`` as asked (``wanted``, else $SIMNUMA_ACCEL), or for ``auto`` (the
    default) KVM when the probe says it works; the probe's answer is kept per host boot."""
    wanted = wanted or os.environ.get("SIMNUMA_ACCEL") or "auto"
    if wanted not in ("auto", "kvm", "tcg"):
        raise ValueError(f"accel must be auto, kvm or tcg, not {wanted!r}")
    if wanted != "auto":
        return Accel(wanted, f"{wanted} as asked")
    cached = _cached_probe(qemu)
    if cached is not None:
        why = cached[1]
    else:
        why = probe_kvm(qemu)
        remember_kvm(qemu, why)
    if why is None:
        return Accel("kvm", "KVM works: using it")
    return Accel("tcg", f"KVM: {why}; using software emulation (tcg)")


# --- one boot --------------------------------------------------------------------------
KVM_FAILED = "KVM internal error"  # QEMU's words when KVM cannot run the guest's code


@dataclass
class Boot:
    """How a guest ended: the command's exit status (or the guest's failure as a VmError)."""

    status: int
    console: str
    seconds: float
    accel: Accel


class _Pump(threading.Thread):
    """Copies what QEMU writes on one pipe to ``sink`` as it comes."""

    def __init__(self, fd: int, sink: Callable[[bytes], None]) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.sink = sink

    def run(self) -> None:
        try:
            while data := os.read(self.fd, 65536):
                self.sink(data)
        except OSError:
            pass
        finally:
            os.close(self.fd)


def boot(
    kernel: Kernel,
    topology: VmTopology,
    command: list[str],
    *,
    env: dict[str, str],
    stdout: Callable[[bytes], None],
    stderr: Callable[[bytes], None],
    cwd: str | None = None,
    timeout: float | None = 600.0,
    accel: str | None = None,
    progress: Callable[[str], None] = _progress,
) -> Boot:
    """Boot ``kernel`` with ``topology``, run ``command`` in it with exactly ``env`` (in
    ``cwd``, shared read-write, when given), passing its stdout and stderr to the sinks as
    they come; returns its exit status.  The kernel's console is kept apart (console.log).
    VmError when the guest cannot run the command, or at ``timeout`` (VmTimeout)."""
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise VmError("qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
    if cwd is not None and not os.path.isabs(cwd):
        raise ValueError(f"cwd must be an absolute path, not {cwd!r}")
    for line in leftovers.clean_vm():  # what runs killed with SIGKILL left
        progress(f"removed {line}")
    share = cwd is not None and cwd != "/"
    guest = initramfs.Guest(
        command,
        env,
        cwd=cwd or "/",
        share_cwd=share,
        offline_cpus=tuple(topology.offline_cpus),
        nodes=len(topology.nodes),
    )
    with tempfile.TemporaryDirectory(prefix=leftovers.dir_prefix(os.getpid())) as tmp:
        image = initramfs.build(kernel, guest, Path(tmp) / "initrd.gz")
        _check_config(kernel)
        chosen = choose_accel(qemu, accel)
        progress(chosen.why)
        while True:
            argv = [
                qemu,
                *chosen.qemu_args(),
                *topology.qemu_args(),
                "-kernel", str(kernel.vmlinuz),
                "-initrd", str(image),
                "-append", "console=ttyS0 quiet panic=-1 numa_balancing=disable nokaslr "
                "8250.nr_uarts=4",
                "-virtfs",
                "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
                "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
            ]  # fmt: skip
            if share:
                argv += [
                    "-virtfs",
                    f"local,path={_qemu_option(str(cwd))},mount_tag=hostcwd,"
                    "security_model=none,multidevs=remap",
                ]
            progress(
                f"booting {kernel.version} with {len(topology.nodes)} NUMA nodes ({chosen.name})"
            )
            result = _run(kernel, argv, chosen, stdout, stderr, timeout)
            if chosen.name == "kvm" and _kvm_failed(result) and accel in (None, "auto"):
                why = "QEMU -accel kvm could not run the kernel (KVM internal error)"
                remember_kvm(qemu, why)
                chosen = Accel("tcg", f"KVM: {why}; using software emulation (tcg)")
                progress(chosen.why)
                continue
            break
    log = _console_log(kernel)
    log.write_text(result.console)
    progress(f"guest {kernel.version} done in {result.seconds:.1f} s ({log})")
    return _ended(result, kernel, log)


def _qemu_option(value: str) -> str:
    """A value inside a QEMU option list: a comma is written twice."""
    return value.replace(",", ",,")


def _kvm_failed(result: Boot) -> bool:
    """KVM failed before the command started (so the boot can be tried again)."""
    return initramfs.STARTED not in result.console and (
        KVM_FAILED in result.console or result.status != 0
    )


def _run(
    kernel: Kernel,
    argv: list[str],
    accel: Accel,
    stdout: Callable[[bytes], None],
    stderr: Callable[[bytes], None],
    timeout: float | None,
) -> Boot:
    """One QEMU run: ttyS1 and ttyS2 go through pipes to the sinks, the console (ttyS0,
    and QEMU's own messages) is collected.  ``status`` is QEMU's exit status here."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    console_r, console_w = os.pipe()
    argv = [
        *argv,
        "-serial", f"file:/proc/self/fd/{out_w}",
        "-serial", f"file:/proc/self/fd/{err_w}",
    ]  # fmt: skip
    console = bytearray()
    kvm_error = threading.Event()

    def to_console(data: bytes) -> None:
        console.extend(data)
        if accel.name == "kvm" and KVM_FAILED.encode() in console[-len(data) - 64 :]:
            kvm_error.set()

    pumps = [_Pump(out_r, stdout), _Pump(err_r, stderr), _Pump(console_r, to_console)]
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console_w,
            stderr=subprocess.STDOUT,
            pass_fds=(out_w, err_w),
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
    except BaseException:
        for fd in (out_r, err_r, console_r):
            os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w, console_w):
            os.close(fd)
    for pump in pumps:
        pump.start()
    try:
        deadline = None if timeout is None else started + timeout
        while proc.poll() is None:
            if kvm_error.is_set():
                _kill(proc)
                break
            if deadline is not None and time.monotonic() > deadline:
                _kill(proc)
                for pump in pumps:
                    pump.join(timeout=5)
                raise VmTimeout(
                    f"the {kernel.version} guest did not finish in {timeout:.0f} s and was killed"
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
    except BaseException:
        _kill(proc)
        raise
    for pump in pumps:
        pump.join()
    text = console.decode(errors="replace").replace("\r", "")
    return Boot(proc.returncode, text, time.monotonic() - started, accel)


def _ended(result: Boot, kernel: Kernel, log: Path) -> Boot:
    """The command's exit status from the console, or VmError saying why there is none."""
    text = result.console
    failed = re.findall(rf"^{re.escape(initramfs.FAIL)} (.*)$", text, re.M)
    if failed:
        raise VmError(f"the {kernel.version} guest could not run the command: {failed[-1]}")
    statuses = re.findall(rf"^{re.escape(initramfs.EXIT)} (\d+)$", text, re.M)
    if statuses:
        return Boot(int(statuses[-1]), text, result.seconds, result.accel)
    tail = "\n".join(text.strip().splitlines()[-25:])
    how = f"QEMU exited with status {result.status}"
    if result.accel.name == "kvm" and KVM_FAILED in text:
        how = f"QEMU -accel kvm failed ({KVM_FAILED}): try --accel tcg"
    raise VmError(
        f"the {kernel.version} guest ended before the command did ({how}); "
        f"the console ({log}) ended:\n{tail}"
    )


def _check_config(kernel: Kernel) -> None:
    """A kernel whose .config is known and lacks what booting here needs: VmError naming
    the options."""
    from realnuma.vm.kernels import config_problems

    if kernel.config is None:
        return
    index = initramfs.module_index(kernel)
    problems = config_problems(kernel.config.read_text(errors="replace"), index.__contains__)
    if problems:
        raise VmError(
            f"the kernel {kernel.version} ({kernel.vmlinuz}) cannot boot here: it needs "
            + "; ".join(problems)
        )


def run_in_guest(
    kernel: Kernel,
    topology: VmTopology,
    command: list[str],
    *,
    timeout: float = 600.0,
    env: dict[str, str] | None = None,
    accel: str | None = None,
    stderr: Callable[[bytes], None] | None = None,
) -> Any:
    """Boot, run ``command`` (which prints one JSON value between the markers), power
    off; returns the JSON value.  A guest that hangs is killed at ``timeout``.  The
    command's stderr is added to the console log (and passed to ``stderr`` as it
    comes)."""
    out = bytearray()
    err = bytearray()

    def on_stderr(data: bytes) -> None:
        err.extend(data)
        if stderr is not None:
            stderr(data)

    result = boot(
        kernel,
        topology,
        command,
        env=env or {},
        stdout=out.extend,
        stderr=on_stderr,
        timeout=timeout,
        accel=accel,
    )
    log = _console_log(kernel)
    errors = err.decode(errors="replace")
    with contextlib.suppress(OSError), log.open("a") as f:
        f.write(f"\n--- the command's stderr ---\n{errors}")
    text = out.decode(errors="replace")
    if initramfs.BEGIN not in text:
        tail = "\n".join(errors.strip().splitlines()[-25:])
        raise VmError(
            f"the command in the {kernel.version} guest exited {result.status} and printed "
            f"no result; its stderr ended:\n{tail}"
        )
    return _payload(text, kernel)


def _console_log(kernel: Kernel) -> Path:
    """Where the last boot's console is kept, for a look when something went wrong:
    beside a fetched Debian kernel, or under ``kernels/local/<version>`` for the others."""
    fetched = cache_dir() / "kernels" / kernel.release
    if kernel.vmlinuz.is_relative_to(fetched):
        path = fetched / "console.log"
    else:
        path = cache_dir() / "kernels" / "local" / kernel.version / "console.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec_fn making the child get SIGKILL when its parent dies, even by SIGKILL.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child ends: that is the
    thread in run_in_guest, which waits for QEMU, so it cannot end first unless the
    process dies.  A parent that died before the prctl took effect is caught by the
    getppid() check."""
    from realnuma._syscalls import lib  # imported here, not in the forked child

    def preexec() -> None:
        lib.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill QEMU (and anything it started) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _payload(text: str, kernel: Kernel) -> Any:
    start = text.rfind(initramfs.BEGIN)
    end = text.rfind(initramfs.END)
    if start < 0 or end < start:
        tail = "\n".join(text.strip().splitlines()[-25:])
        raise VmError(f"the {kernel.version} guest printed no result; its console ended:\n{tail}")
    body = text[start + len(initramfs.BEGIN) : end].replace("\r", "")
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise VmError(f"the {kernel.version} guest's result is not JSON: {exc}") from None
    if isinstance(value, dict) and "error" in value:
        raise VmError(f"inside the {kernel.version} guest: {value['error']}")
    return value
