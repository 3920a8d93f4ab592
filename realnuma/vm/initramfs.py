"""A tiny initramfs: busybox, the 9p modules, and an init that mounts the host's root
read-only over virtio-9p (and the working directory read-write over a second share),
chroots into it and runs one command with the host's own programs, then powers the
guest off.  The host's /tmp stays visible (a checkout or a virtualenv may live there);
the guest's scratch space is a tmpfs on /run (TMPDIR)."""

from __future__ import annotations

import dataclasses
import gzip
import io
import lzma
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from realnuma.vm.kernels import Kernel

# loaded in this order; a kernel that has one built in (or lacks it) just skips it
MODULES = [
    "virtio",
    "virtio_ring",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "netfs",
    "fscache",
    "9pnet",
    "9pnet_virtio",
    "9p",
]
# the world-building of realnuma.machine (a swap device, block devices, filesystems),
# loaded after those with what they depend on; ext4 asks the crypto API for crc32c at
# mount time, and the guest has no modprobe to load it then (the name changed in 7.x)
WORLD_MODULES = ["zram", "loop", "dm_delay", "crc32c_generic", "crc32c_cryptoapi", "ext4", "minix"]
BUSYBOX = "/bin/busybox"
BEGIN, END = "==SIMNUMA-BEGIN==", "==SIMNUMA-END=="  # a JSON payload in a command's output
# on the console, each at the start of a line: the command starts, its exit status, or
# why the guest could not run it
STARTED, EXIT, FAIL = "==SIMNUMA-STARTED==", "==SIMNUMA-EXIT==", "==SIMNUMA-FAIL=="


class InitramfsError(RuntimeError):
    pass


def module_index(kernel: Kernel) -> dict[str, Path]:
    """The module files of ``kernel`` by module name (``9pnet_virtio``), found in one walk
    of its modules directory or kernel tree."""
    found: dict[str, Path] = {}
    if kernel.modules is None:
        return found
    for directory, _, files in os.walk(kernel.modules):
        for file in files:
            for suffix in (".ko", ".ko.xz", ".ko.zst", ".ko.gz"):
                if file.endswith(suffix):
                    found.setdefault(file[: -len(suffix)].replace("-", "_"), Path(directory, file))
    return found


def with_dependencies(names: list[str], index: dict[str, Path]) -> list[tuple[str, bytes]]:
    """``names`` and every module they depend on (the ``depends=`` of each module's
    .modinfo: a kernel package has no modules.dep before depmod runs), each after
    its dependencies; one not in ``index`` (built in, or absent) is left out."""
    ordered: dict[str, bytes] = {}

    def visit(name: str) -> None:
        if name in ordered or name not in index:
            return
        data = _module_bytes(index[name])
        for dep in _depends(data):
            visit(dep)
        ordered[name] = data

    for name in names:
        visit(name)
    return list(ordered.items())


def _depends(data: bytes) -> list[str]:
    start = data.find(b"\0depends=")
    if start < 0:
        return []
    value = data[start + len(b"\0depends=") : data.index(b"\0", start + 1)]
    return [d.replace("-", "_") for d in value.decode().split(",") if d]


def _module_bytes(path: Path) -> bytes:
    """A module's object code, decompressed."""
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".zst":
        if shutil.which("zstd") is None:
            raise InitramfsError("zstd is missing: apt-get install zstd")
        return subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
    return data


class Cpio:
    """The newc cpio format the kernel unpacks."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.ino = 1

    def add(self, name: str, data: bytes = b"", mode: int = 0o100644) -> None:
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        self.ino += 1
        header = "070701" + "".join(f"{f:08x}" for f in fields)
        self.out.write(header.encode() + name.encode() + b"\0")
        self._pad()
        self.out.write(data)
        self._pad()

    def dir(self, name: str) -> None:
        self.add(name, mode=0o040755)

    def _pad(self) -> None:
        self.out.write(b"\0" * (-self.out.tell() % 4))

    def finish(self) -> bytes:
        self.add("TRAILER!!!")
        return self.out.getvalue()


# what booting needs of the guest kernel, named when it is missing
NEEDS_9P = (
    "the host root could not be mounted over 9p: the kernel needs CONFIG_VIRTIO_PCI, "
    "CONFIG_NET_9P, CONFIG_NET_9P_VIRTIO and CONFIG_9P_FS (=y, or =m with its modules)"
)
NEEDS_SERIAL = "no /dev/ttyS1: the kernel needs CONFIG_SERIAL_8250 (=y) with 3 or more UARTs"


@dataclass(frozen=True)
class Guest:
    """What the init runs: ``command`` with exactly ``env``, in ``cwd`` (shared read-write
    from the host as mount tag ``hostcwd`` when ``share_cwd``), after taking
    ``offline_cpus`` offline and checking that ``nodes`` NUMA nodes are online."""

    command: list[str]
    env: dict[str, str]
    cwd: str = "/"
    share_cwd: bool = False
    offline_cpus: tuple[int, ...] = ()
    nodes: int = 1
    modules: tuple[str, ...] = ()  # loaded in this order (build() fills it in)


def init_script(guest: Guest) -> str:
    """The init: the command's stdout on ttyS1, its stderr on ttyS2 (raw), the kernel and
    this script on ttyS0 (the console), where the exit status ends the run: ``EXIT`` and
    the status, or ``FAIL`` and why the command could not be started.  The command runs
    in a subshell that execs it, so that the shell's own words on how it ended
    ("Terminated") go to the console, not to the command's stderr."""
    b = BUSYBOX
    q = shlex.quote
    loads = "\n".join(
        f"[ -f /modules/{m}.ko ] && {b} insmod /modules/{m}.ko" for m in guest.modules
    )
    exports = " ".join(q(f"{k}={v}") for k, v in guest.env.items())
    command = " ".join(q(c) for c in guest.command)
    redirect = "</dev/null >/dev/ttyS1 2>/dev/ttyS2"
    cwd = q(guest.cwd)
    offline = "\n".join(
        f"echo 0 > /sys/devices/system/cpu/cpu{c}/online || fail {q(f'cpu{c} cannot go offline')}"
        for c in guest.offline_cpus
    )
    share = ""
    if guest.share_cwd:  # last: a directory under /run or /dev/shm is not hidden by them
        share = (
            f"{b} mkdir -p /mnt{cwd} && "
            f"{b} mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 hostcwd /mnt{cwd} "
            f"|| fail {q(f'the working directory {guest.cwd} could not be mounted over 9p')}"
        )
    few_nodes = f"the kernel shows $n NUMA nodes, not {guest.nodes} (it needs CONFIG_NUMA)"
    return f"""#!{b} sh
fail() {{ echo; echo "{FAIL} $1"; {b} poweroff -f; }}
{b} mkdir -p /proc /sys /dev /mnt
{b} mount -t proc proc /proc
{b} mount -t sysfs sysfs /sys
{b} mount -t devtmpfs dev /dev
{loads}
{b} mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro hostroot /mnt || fail {q(NEEDS_9P)}
n=$({b} ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | {b} wc -l)
[ "$n" -ge {guest.nodes} ] || fail "{few_nodes}"
{offline}
[ -c /dev/ttyS1 ] && [ -c /dev/ttyS2 ] || fail {q(NEEDS_SERIAL)}
{b} stty -F /dev/ttyS1 raw -echo && {b} stty -F /dev/ttyS2 raw -echo || fail "stty on ttyS1/ttyS2"
{b} mount -t proc proc /mnt/proc
{b} mount -t sysfs sysfs /mnt/sys
{b} mount -t devtmpfs dev /mnt/dev
{b} mount -t tmpfs run /mnt/run
{b} mkdir -p /mnt/run/tmp
{b} mkdir -p /mnt/dev/shm
{b} mount -t tmpfs shm /mnt/dev/shm
{b} mount -t cgroup2 cgroup2 /mnt/sys/fs/cgroup
{share}
echo "{STARTED}"
( exec {b} chroot /mnt /usr/bin/env -i -C {cwd} {exports} {command} {redirect} )
status=$?
echo; echo "{EXIT} $status"
{b} poweroff -f
"""


def build(kernel: Kernel, guest: Guest, out: Path) -> Path:
    """Write the initramfs that runs ``guest`` (in the host root, as root) to ``out``."""
    if not Path(BUSYBOX).exists():
        raise InitramfsError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    cpio = Cpio()
    for d in ("bin", "dev", "proc", "sys", "mnt", "modules"):
        cpio.dir(d)
    cpio.add("bin/busybox", Path(BUSYBOX).read_bytes(), 0o100755)
    index = module_index(kernel)
    modules = [(m, _module_bytes(index[m])) for m in MODULES if m in index]
    modules += [m for m in with_dependencies(WORLD_MODULES, index) if m[0] not in MODULES]
    for name, data in modules:
        cpio.add(f"modules/{name}.ko", data)
    guest = dataclasses.replace(guest, modules=tuple(name for name, _ in modules))
    cpio.add("init", init_script(guest).encode(), 0o100755)
    out.write_bytes(gzip.compress(cpio.finish(), compresslevel=1))
    return out
