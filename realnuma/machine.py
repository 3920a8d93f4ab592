"""World-building that changes the whole machine, done only where the machine is
disposable: a guest booted by the vm backend says so in its environment
(``REALNUMA_DISPOSABLE=1``).  On a machine someone uses, a full node, a swap device
or a stalled disk would be felt by everything else running there.

Each piece registers its undoing; :meth:`Machine.undo` (HostKernel.close, and its
finalizer) runs them newest first, so a guest's next case starts from the same
machine.  The kernel does the work every time; nothing here answers for it.
"""

from __future__ import annotations

import errno
import math
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from simnuma.abi.quirks import parse_release

__all__ = [
    "DISPOSABLE",
    "MACHINE_FEATURES",
    "Machine",
    "MachineError",
    "disposable",
    "machine_lacks",
]

DISPOSABLE = "REALNUMA_DISPOSABLE"
# what this module builds, as HostKernel.features names it
MACHINE_FEATURES = frozenset(
    {"fill_node", "swap", "writeback"}
    | {f"fs:{fs}" for fs in ("nomigrate", "nomigrate-nowriteback", "nomigrate-ioerror")}
)
# 1443a9fb4e72 ("minix: remove writepage implementation"): minix_aops got
# migrate_folio = buffer_migrate_folio in 6.8; before, migration fell back to writeout()
MINIX_MIGRATES = (6, 8)

_NODE = Path("/sys/devices/system/node")
_MIN_FREE = Path("/proc/sys/vm/min_free_kbytes")
_ZRAM = Path("/sys/block/zram0")
HUGE_KB = 2048
# kB kept under the full node's min watermark beyond what it had free: pages that
# reclaim gives back while the move allocates (page cache on the node, per-CPU lists)
FILL_MARGIN_KB = 8192
SWAP_SIZE = "64M"
WRITE_DELAY_MS = 2000  # dm-delay on writes: the writeback lasts this long
DISK_MIB = 16


class MachineError(OSError):
    pass


def disposable() -> bool:
    """Whether this machine may be changed as a whole (a vm backend guest)."""
    return os.environ.get(DISPOSABLE) == "1"


def _modules() -> set[str]:
    try:
        return {line.split()[0] for line in Path("/proc/modules").read_text().splitlines()}
    except OSError:
        return set()


def _filesystems() -> set[str]:
    try:
        return {line.split()[-1] for line in Path("/proc/filesystems").read_text().splitlines()}
    except OSError:
        return set()


def machine_lacks() -> dict[str, str]:
    """Feature -> why this machine cannot build it (every machine feature is listed,
    so an empty answer means all of them are there)."""
    if not disposable():
        why = f"change the whole machine (only where {DISPOSABLE}=1: a vm backend guest)"
        return dict.fromkeys(MACHINE_FEATURES, why)
    lacks = {}
    if not (_NODE / "node0" / "hugepages" / "hugepages-2048kB").exists():
        lacks["fill_node"] = "fill a node (no per-node hugetlb pool: CONFIG_HUGETLBFS)"
    if not _ZRAM.exists():
        lacks["swap"] = "swap to zram (no /dev/zram0: CONFIG_ZRAM, the zram module)"
    if "dm_delay" not in _modules() or "ext4" not in _filesystems() or not _tool("dmsetup"):
        lacks["writeback"] = "hold a page under writeback (needs dm-delay, ext4 and dmsetup)"
    if "ramfs" not in _filesystems():
        lacks["fs:nomigrate-nowriteback"] = "mount ramfs (no migrate function, no writeback)"
    if parse_release(os.uname().release) >= MINIX_MIGRATES:
        why = "mount a filesystem without a migrate function (minix has one since 6.8)"
        lacks["fs:nomigrate"] = lacks["fs:nomigrate-ioerror"] = why
    elif "minix" not in _filesystems() or not _tool("mkfs.minix") or not _tool("losetup"):
        why = "mount minix (a filesystem without a migrate function): needs it and mkfs.minix"
        lacks["fs:nomigrate"] = lacks["fs:nomigrate-ioerror"] = why
    return lacks


def _tool(name: str) -> bool:
    return any(Path(d, name).exists() for d in os.environ.get("PATH", "").split(":") if d)


def _run(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MachineError(errno.EIO, f"{argv[0]}: {exc}") from None
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise MachineError(errno.EIO, f"{' '.join(argv)}: {why[-1] if why else done.returncode}")
    return done.stdout


def _meminfo_kb(nid: int, field: str) -> int:
    text = (_NODE / f"node{nid}" / "meminfo").read_text()
    match = re.search(rf"^Node {nid} {field}:\s+(\d+) kB", text, re.M)
    if match is None:
        raise MachineError(errno.EIO, f"node{nid}/meminfo has no {field}")
    return int(match.group(1))


def _hugepages_knob(nid: int) -> Path:
    return _NODE / f"node{nid}" / "hugepages" / "hugepages-2048kB" / "nr_hugepages"


def managed_pages() -> dict[int, int]:
    """Pages the buddy allocator manages, by node (/proc/zoneinfo): min_free_kbytes is
    shared out between the zones in proportion to these."""
    managed: dict[int, int] = {}
    node = -1
    for line in Path("/proc/zoneinfo").read_text().splitlines():
        head = re.match(r"Node (\d+), zone", line)
        if head:
            node = int(head.group(1))
            continue
        field = line.split()
        if len(field) == 2 and field[0] == "managed":
            managed[node] = managed.get(node, 0) + int(field[1])
    return managed


class Machine:
    """What one HostKernel did to the machine, and how to undo it."""

    def __init__(self, scratch: str) -> None:
        self.scratch = scratch  # a directory of the HostKernel's (mount points, images)
        self._undo: list[tuple[str, Callable[[], object]]] = []
        self._swap = False
        self._mounts: dict[str, str] = {}
        self._fills: dict[int, int] = {}  # full node -> its hugetlb pool before
        self._min_free: int | None = None  # vm.min_free_kbytes before the first fill

    def _then(self, what: str, undo: Callable[[], object]) -> None:
        self._undo.append((what, undo))

    def undo(self) -> None:
        """Undo everything, newest first; the first failure is raised after the rest ran."""
        failed: Exception | None = None
        for nid in sorted(self._fills):
            try:
                self.drain_node(nid)
            except OSError as exc:
                failed = failed or MachineError(errno.EIO, f"draining node {nid}: {exc}")
        while self._undo:
            what, step = self._undo.pop()
            try:
                step()
            except (OSError, subprocess.SubprocessError) as exc:
                failed = failed or MachineError(errno.EIO, f"undoing {what}: {exc}")
        self._swap = False
        self._mounts.clear()
        if failed is not None:
            raise failed

    # --- a full node ----------------------------------------------------------------
    def fill_node(self, nid: int) -> None:
        """Leave node ``nid`` no page to give: hugetlb pages take every 2 MiB block it
        has (the pool's allocation gives up without reclaiming or killing anyone),
        and the min watermark is raised above the rest, so that only allocations
        allowed below it (atomic ones) still find a page there."""
        if nid in self._fills:
            return
        knob = _hugepages_knob(nid)
        self._fills[nid] = int(knob.read_text())
        Path("/proc/sys/vm/drop_caches").write_text("3")  # page cache off every node
        knob.write_text(str(self._fills[nid] + _meminfo_kb(nid, "MemTotal") // HUGE_KB))
        free_kb = _meminfo_kb(nid, "MemFree")
        managed = managed_pages()
        want = math.ceil((free_kb + FILL_MARGIN_KB) * sum(managed.values()) / managed[nid])
        if self._min_free is None:
            self._min_free = int(_MIN_FREE.read_text())
        if want > int(_MIN_FREE.read_text()):
            _MIN_FREE.write_text(str(want))

    def drain_node(self, nid: int) -> None:
        """Give node ``nid`` its memory back (the watermark too, once no node is full)."""
        before = self._fills.pop(nid, None)
        if before is not None:
            _hugepages_knob(nid).write_text(str(before))
        if not self._fills and self._min_free is not None:
            _MIN_FREE.write_text(str(self._min_free))
            self._min_free = None

    # --- swap ---------------------------------------------------------------------------
    def swap_on(self) -> None:
        """A swap device for MADV_PAGEOUT: zram0 (memory, compressed), once."""
        if self._swap:
            return
        if (_ZRAM / "disksize").read_text().strip() != "0":
            raise MachineError(errno.EBUSY, "/dev/zram0 is already in use")
        self._then("/dev/zram0", lambda: (_ZRAM / "reset").write_text("1"))
        (_ZRAM / "disksize").write_text(SWAP_SIZE)
        _run("mkswap", "/dev/zram0")
        self._then("swapon /dev/zram0", lambda: _run("swapoff", "/dev/zram0"))
        _run("swapon", "/dev/zram0")
        self._swap = True

    # --- filesystems --------------------------------------------------------------------
    def mount(self, fs: str) -> str:
        """The directory of a filesystem of kind ``fs`` (mounted once per Machine):
        ``nomigrate-nowriteback`` is ramfs (no migrate_folio, no writepage);
        ``ext4`` is an ext4 without a journal on a dm-delay device whose writes take
        WRITE_DELAY_MS; ``nomigrate`` is minix (before MINIX_MIGRATES: a writepage,
        no migrate function); ``nomigrate-ioerror`` another minix that
        :meth:`fill_disk` fills, so that writing back a page of a hole fails
        (-ENOSPC from get_block, which writeout() turns into -EIO).  The disks are
        loop devices over files in tmpfs."""
        if fs in self._mounts:
            return self._mounts[fs]
        where = os.path.join(self.scratch, f"mnt-{fs}")
        os.mkdir(where)
        self._then(f"{where}", lambda: os.rmdir(where))
        if fs == "nomigrate-nowriteback":
            _run("mount", "-t", "ramfs", "ramfs", where)
        elif fs == "ext4":
            _run("mount", "-t", "ext4", self._delayed_disk(), where)
        elif fs in ("nomigrate", "nomigrate-ioerror"):
            _run("mount", "-t", "minix", self._loop_disk(fs, "mkfs.minix", "-3"), where)
        else:
            raise ValueError(f"fs: this machine cannot mount {fs!r}")
        self._then(f"the mount on {where}", lambda: _run("umount", where))
        os.chmod(where, 0o777)
        self._mounts[fs] = where
        return where

    def fill_disk(self, fs: str) -> None:
        """Take every free block of the ``fs`` mount (a file written until -ENOSPC)."""
        with open(os.path.join(self._mounts[fs], "filler"), "ab") as f:
            try:
                while True:
                    f.write(b"\xff" * (64 << 10))
                    f.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise

    def _loop_disk(self, name: str, *mkfs: str) -> str:
        """A loop device over a DISK_MIB file in tmpfs, made by ``mkfs IMAGE``."""
        image = os.path.join(self.scratch, f"{name}.img")
        with open(image, "wb") as f:
            f.truncate(DISK_MIB << 20)
        self._then(image, lambda: os.unlink(image))
        _run(*mkfs, image)
        loop = _run("losetup", "--find", "--show", image).strip()
        self._then(loop, lambda: _run("losetup", "-d", loop))
        return loop

    def _delayed_disk(self) -> str:
        loop = self._loop_disk("ext4", "mkfs.ext4", "-q", "-F", "-O", "^has_journal")
        name = f"realnuma-{os.getpid()}-delay"
        sectors = (DISK_MIB << 20) // 512
        table = f"0 {sectors} delay {loop} 0 0 {loop} 0 {WRITE_DELAY_MS}"
        _run("dmsetup", "create", "--noudevsync", name, "--table", table)
        self._then(f"dm device {name}", lambda: _run("dmsetup", "remove", "--noudevsync", name))
        # devtmpfs made /dev/dm-N; /dev/mapper/NAME is udev's, and a guest runs no udev
        node = _run("dmsetup", "info", "--noheadings", "-c", "-o", "blkdevname", name)
        return f"/dev/{node.strip()}"
