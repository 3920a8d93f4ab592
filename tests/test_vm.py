"""The VM runner's parts: topology, initramfs, console protocol, time-outs, specs.

The real boots run in tox (`numa-conformance --backend vm:kernel=6.12`) and in
`tox -e kernels`; these tests need neither QEMU nor a kernel package.
"""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from conformance.backends import VmBackend, parse_backends
from realnuma.procfs import read_stat
from realnuma.vm import initramfs, qemu
from realnuma.vm.initramfs import BEGIN, END, Cpio, init_script
from realnuma.vm.kernels import Kernel
from realnuma.vm.qemu import GuestNode, VmError, VmTopology


def _read_cpio(data: bytes) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, data) from a newc archive."""
    files: dict[str, tuple[int, bytes]] = {}
    pos = 0
    while True:
        header = data[pos : pos + 110].decode()
        assert header.startswith("070701"), header[:6]
        fields = [int(header[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        pos += 110
        name = data[pos : pos + namesize - 1].decode()
        pos = (pos + namesize + 3) & ~3
        body = data[pos : pos + size]
        pos = (pos + size + 3) & ~3
        if name == "TRAILER!!!":
            return files
        files[name] = (mode, body)


def test_cpio_round_trip() -> None:
    cpio = Cpio()
    cpio.dir("bin")
    cpio.add("bin/tool", b"x" * 5, 0o100755)
    cpio.add("init", b"#!/bin/sh\n", 0o100755)
    files = _read_cpio(cpio.finish())
    assert files["bin/tool"] == (0o100755, b"xxxxx")
    assert stat.S_ISDIR(files["bin"][0])
    assert files["init"][1] == b"#!/bin/sh\n"


def test_default_topology_has_cpuless_and_memoryless_nodes() -> None:
    topology = VmTopology.default(3)
    assert topology.nodes == (GuestNode(512), GuestNode(512, cpu=False), GuestNode(0))
    assert topology.offline_cpus == [1]
    args = " ".join(topology.qemu_args())
    assert "-m 1024M -smp 3" in args
    assert "node,nodeid=0,cpus=0,memdev=m0" in args
    assert "node,nodeid=2,cpus=2 " in args + " "  # no memdev: memoryless
    assert "memory-backend-ram,id=m2" not in args


def test_topology_options() -> None:
    topology = VmTopology.build(4, memory_mib=256, memoryless=2, cpuless=1, distance=30)
    assert [n.memory_mib for n in topology.nodes] == [256, 256, 0, 0]
    assert [n.cpu for n in topology.nodes] == [True, False, True, True]
    assert "dist,src=0,dst=3,val=30" in topology.qemu_args()
    for bad in (
        {"count": 0},
        {"count": 2, "memoryless": 2},
        {"count": 3, "memoryless": 1, "cpuless": 2},
        {"count": 2, "memory_mib": 16},
        {"count": 2, "distance": 10},
    ):
        with pytest.raises(ValueError):
            VmTopology.build(**bad)  # type: ignore[arg-type]


def test_vm_specs() -> None:
    (backend,) = parse_backends("vm:kernel=6.12,nodes=4,mem=256,memoryless=1,cpuless=2")
    assert isinstance(backend, VmBackend) and backend.label == "vm:6.12"
    assert [n.cpu for n in backend.topology.nodes] == [True, False, False, True]
    for bad in ("vm:kernel=6.12,nodes=2,memoryless=2", "vm:kernel=6.12,colour=red", "vm:"):
        with pytest.raises(ValueError):
            parse_backends(bad)


def test_init_script_runs_the_command_in_the_host_root() -> None:
    guest = initramfs.Guest(
        ["/usr/bin/python3", "-m", "x y"], {"TMPDIR": "/run/tmp"}, modules=("virtio", "9p")
    )
    script = init_script(guest)
    assert "mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro hostroot /mnt" in script
    assert "chroot /mnt /usr/bin/env -i -C / TMPDIR=/run/tmp /usr/bin/python3 -m 'x y' " in script
    assert "( exec /bin/busybox chroot /mnt" in script
    assert "</dev/null >/dev/ttyS1 2>/dev/ttyS2 )" in script
    assert script.index("insmod /modules/virtio.ko") < script.index("insmod /modules/9p.ko")
    assert "poweroff -f" in script.splitlines()[-1]
    assert "hostcwd" not in script  # nothing shared read-write unless asked


def test_modules_come_after_what_they_depend_on(tmp_path: Path) -> None:
    def module(name: str, depends: str) -> None:
        modinfo = b"\x7fELF\0license=GPL\0depends=" + depends.encode() + b"\0x"
        (tmp_path / f"{name}.ko").write_bytes(modinfo)

    module("ext4", "jbd2,mbcache,crc16")
    module("jbd2", "")
    module("mbcache", "")
    module("zram", "zsmalloc")  # zsmalloc built in: not in the index
    index = {p.stem: p for p in tmp_path.glob("*.ko")}
    order = [name for name, _ in initramfs.with_dependencies(["zram", "ext4", "jbd2"], index)]
    assert order == ["zram", "jbd2", "mbcache", "ext4"]


def _kernel(tmp_path: Path) -> Kernel:
    modules = tmp_path / "modules"
    modules.mkdir()
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(b"")
    return Kernel("6.12", "6.12.0-test", vmlinuz, modules, None)


def test_console_payload(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path)
    text = f'noise\n{BEGIN}\n{{"results": [1]}}\r\n{END}\nreboot: Power down\n'
    assert qemu._payload(text, kernel) == {"results": [1]}
    with pytest.raises(VmError, match=r"inside the 6\.12\.0-test guest: no 9p"):
        qemu._payload(f'{BEGIN}\n{{"error": "no 9p"}}\n{END}', kernel)
    with pytest.raises(VmError, match=r"printed no result; its console ended:\nbooting\nKernel"):
        qemu._payload("booting\nKernel panic - not syncing", kernel)


@pytest.mark.skipif(not Path(initramfs.BUSYBOX).exists(), reason="needs busybox-static")
def test_a_hanging_guest_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guest that never finishes: VmError at the time-out, and no process survives."""
    fake = tmp_path / "qemu-system-x86_64"
    pidfile = tmp_path / "pid"
    fake.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nsleep 300 &\nwait\n")
    fake.chmod(0o755)
    monkeypatch.setattr(qemu.shutil, "which", lambda name: str(fake))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("SIMNUMA_ACCEL", "tcg")
    started = time.monotonic()
    with pytest.raises(VmError, match="did not finish in 2 s and was killed"):
        qemu.run_in_guest(_kernel(tmp_path), VmTopology.default(1), ["true"], timeout=2)
    assert time.monotonic() - started < 30
    group = int(pidfile.read_text())  # the fake QEMU leads its own process group
    assert not _group_members(group), "a process of the killed guest survived"


def _group_members(group: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        stat = read_stat(entry.name) if entry.name.isdigit() else None
        if stat is not None and stat.state != "Z" and stat.pgrp == group:
            members.append(stat.pid)
    return members


def test_missing_qemu_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qemu.shutil, "which", lambda name: None)
    with pytest.raises(VmError, match="apt-get install qemu-system-x86"):
        qemu.run_in_guest(_kernel(tmp_path), VmTopology.default(1), ["true"])


def test_the_guest_runs_this_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guest sees the host's root: PYTHONPATH makes it import the conformance,
    simnuma and realnuma the host side runs, not whatever is installed."""
    import conformance
    from realnuma.vm import kernels

    seen: dict[str, object] = {}

    def fake_run(kernel: Kernel, topology: VmTopology, command: list[str], **kw: object) -> object:
        seen.update(command=command, **kw)
        return {"facts": {"release": "6.12.0"}, "results": []}

    monkeypatch.setattr(kernels, "fetch", lambda release: _kernel(tmp_path))
    monkeypatch.setattr(qemu, "run_in_guest", fake_run)
    assert VmBackend("6.12").run_all([]) == []
    env = seen["env"]
    assert isinstance(env, dict)
    assert env["PYTHONPATH"] == str(Path(conformance.__file__).resolve().parent.parent)
    assert seen["command"][1:3] == ["-m", "conformance.guest"]  # type: ignore[index]


def test_the_guest_runs_only_the_clauses_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--clause reaches the guest: a short boot runs a few cases, not the whole suite."""
    from conformance.registry import all_cases
    from realnuma.vm import kernels

    commands: list[list[str]] = []

    def fake_run(kernel: Kernel, topology: VmTopology, command: list[str], **kw: object) -> object:
        commands.append(command)
        return {"facts": {"release": "6.12.0"}, "results": []}

    kernel = _kernel(tmp_path)
    monkeypatch.setattr(kernels, "fetch", lambda release: kernel)
    monkeypatch.setattr(qemu, "run_in_guest", fake_run)
    cpuset = [c for c in all_cases() if c.clause.id.startswith("cpuset")]
    VmBackend("6.12").run_all(cpuset)
    VmBackend("6.12").run_all(all_cases())
    asked = sorted({c.clause.id for c in cpuset})
    assert commands[0][-2 * len(asked) :] == [x for c in asked for x in ("--clause", c)]
    assert "--clause" not in commands[1]
