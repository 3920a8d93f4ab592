"""A tiny initramfs: busybox, the 9p modules, and an init that mounts the host's root
read-only over virtio-9p, chroots into it and runs one command with the host's own
Python, then powers the guest off.  The host's /tmp stays visible (a checkout or a
virtualenv may live there); the guest's scratch space is a tmpfs on /run (TMPDIR)."""

from __future__ import annotations

import gzip
import io
import lzma
import shlex
import shutil
import subprocess
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
BUSYBOX = "/bin/busybox"
BEGIN, END = "==SIMNUMA-BEGIN==", "==SIMNUMA-END=="


class InitramfsError(RuntimeError):
    pass


def _module_bytes(kernel: Kernel, name: str) -> bytes | None:
    """The module's object code, decompressed; None if the kernel has no such file."""
    for pattern in (f"{name}.ko", f"{name}.ko.xz", f"{name}.ko.zst", f"{name}.ko.gz"):
        for path in kernel.modules.rglob(pattern.replace("_", "[_-]")):
            data = path.read_bytes()
            if path.suffix == ".xz":
                return lzma.decompress(data)
            if path.suffix == ".gz":
                return gzip.decompress(data)
            if path.suffix == ".zst":
                if shutil.which("zstd") is None:
                    raise InitramfsError("zstd is missing: apt-get install zstd")
                return subprocess.run(
                    ["zstd", "-dc"], input=data, capture_output=True, check=True
                ).stdout
            return data
    return None


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


def init_script(command: list[str], env: dict[str, str]) -> str:
    b = BUSYBOX
    loads = "\n".join(f"[ -f /modules/{m}.ko ] && {b} insmod /modules/{m}.ko" for m in MODULES)
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"""#!{b} sh
{b} mkdir -p /proc /sys /dev /mnt
{b} mount -t proc proc /proc
{b} mount -t sysfs sysfs /sys
{b} mount -t devtmpfs dev /dev
{loads}
if ! {b} mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /mnt; then
    echo "{BEGIN}"; echo '{{"error": "the host root could not be mounted over 9p"}}'; echo "{END}"
    {b} poweroff -f
fi
{b} mount -t proc proc /mnt/proc
{b} mount -t sysfs sysfs /mnt/sys
{b} mount -t devtmpfs dev /mnt/dev
{b} mount -t tmpfs run /mnt/run
{b} mkdir -p /mnt/run/tmp
{b} mkdir -p /mnt/dev/shm
{b} mount -t tmpfs shm /mnt/dev/shm
{b} mount -t cgroup2 cgroup2 /mnt/sys/fs/cgroup
cd /mnt
{b} chroot /mnt /usr/bin/env -i {exports} {" ".join(shlex.quote(c) for c in command)}
{b} poweroff -f
"""


def build(kernel: Kernel, command: list[str], env: dict[str, str], out: Path) -> Path:
    """Write the initramfs that runs ``command`` (in the host root, as root) to ``out``."""
    if not Path(BUSYBOX).exists():
        raise InitramfsError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    cpio = Cpio()
    for d in ("bin", "dev", "proc", "sys", "mnt", "modules"):
        cpio.dir(d)
    cpio.add("bin/busybox", Path(BUSYBOX).read_bytes(), 0o100755)
    for name in MODULES:
        data = _module_bytes(kernel, name)
        if data is not None:
            cpio.add(f"modules/{name}.ko", data)
    cpio.add("init", init_script(command, env).encode(), 0o100755)
    out.write_bytes(gzip.compress(cpio.finish(), compresslevel=1))
    return out
