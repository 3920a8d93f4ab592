"""Boot a kernel under QEMU (software emulation) with emulated NUMA nodes, run one
command in it, and bring its output back over the serial console."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realnuma import leftovers
from realnuma.vm import initramfs
from realnuma.vm.kernels import Kernel

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


def run_in_guest(
    kernel: Kernel,
    topology: VmTopology,
    command: list[str],
    *,
    timeout: float = 600.0,
    env: dict[str, str] | None = None,
) -> Any:
    """Boot, run ``command`` (which prints one JSON value between the markers), power
    off; returns the JSON value.  A guest that hangs is killed at ``timeout``."""
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise VmError("qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
    for line in leftovers.clean_vm():  # what runs killed with SIGKILL left
        _progress(f"removed {line}")
    with tempfile.TemporaryDirectory(prefix=leftovers.dir_prefix(os.getpid())) as tmp:
        image = initramfs.build(kernel, command, env or {}, Path(tmp) / "initrd.gz")
        argv = [
            qemu,
            "-accel", "tcg,thread=single",
            "-cpu", "max",
            *topology.qemu_args(),
            "-kernel", str(kernel.vmlinuz),
            "-initrd", str(image),
            "-append", "console=ttyS0 quiet panic=-1 numa_balancing=disable nokaslr",
            "-virtfs",
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
        ]  # fmt: skip
        _progress(f"booting {kernel.version} with {len(topology.nodes)} NUMA nodes")
        started = time.monotonic()
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
            raise VmError(
                f"the {kernel.version} guest did not finish in {timeout:.0f} s and was killed"
            ) from None
        except BaseException:
            _kill(proc)
            raise
        text = output.decode(errors="replace")
        log = _console_log(kernel)
        log.write_text(text)
        _progress(f"guest {kernel.version} done in {time.monotonic() - started:.1f} s ({log})")
    return _payload(text, kernel)


def _console_log(kernel: Kernel) -> Path:
    """Where the last boot's console is kept, for a look when something went wrong."""
    from realnuma.vm.kernels import cache_dir

    path = cache_dir() / "kernels" / kernel.release / "console.log"
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
