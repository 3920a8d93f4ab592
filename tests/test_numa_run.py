"""numa-run: its arguments, errors and exit statuses, the KVM probe, kernels given by
path, and a few real boots of Debian's 6.12 kernel (when it is cached: ~5 s each)."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from subprocs import pythonpath
from vmfakes import fake_vm_env, gone_within, kill_quietly, wait_for

from conformance.backends import VmBackend, parse_backends
from realnuma.vm import initramfs, kernels, numa_run, qemu
from realnuma.vm.kernels import Kernel, bzimage_version, config_problems, resolve
from realnuma.vm.qemu import Accel, Boot, VmError, VmTimeout

VERSION = "6.99.1-test"


def fake_bzimage(path: Path, version: str = VERSION) -> Path:
    """A file with a bzImage's setup header naming ``version`` (nothing bootable)."""
    data = bytearray(0x1000)
    data[0x202:0x206] = b"HdrS"
    data[0x20E:0x210] = (0x400 - 0x200).to_bytes(2, "little")
    text = f"{version} (someone@somewhere) #1 SMP".encode()
    data[0x400 : 0x400 + len(text)] = text
    path.write_bytes(bytes(data))
    return path


# --- arguments and errors -------------------------------------------------------------
@pytest.fixture
def booted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """qemu.boot replaced: records its arguments, "runs" the command with status 7."""
    calls: list[dict[str, Any]] = []

    def fake_boot(kernel: Kernel, topology: qemu.VmTopology, command: list[str], **kw: Any) -> Boot:
        calls.append({"kernel": kernel, "topology": topology, "command": command, **kw})
        kw["stdout"](b"out\n")
        return Boot(7, "", 0.0, Accel("tcg", ""))

    monkeypatch.setattr(qemu, "boot", fake_boot)
    monkeypatch.setattr(
        kernels, "fetch", lambda release: Kernel(release, VERSION, tmp_path, None, None)
    )
    return calls


def test_runs_the_command_with_the_topology_and_returns_its_status(
    booted: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    argv = ["--nodes", "4", "--memoryless", "2", "--cpuless", "1", "--mem", "256", "--"]
    assert numa_run.main([*argv, "sh", "-c", "exit 3", "--nodes"]) == 7
    (call,) = booted
    assert call["command"] == ["sh", "-c", "exit 3", "--nodes"]  # after --: the command's
    assert [(n.memory_mib, n.cpu) for n in call["topology"].nodes] == [
        (256, True), (256, False), (0, True), (0, True)
    ]  # fmt: skip
    assert call["cwd"] == str(tmp_path)
    assert call["kernel"].release == "6.12"  # the default kernel
    assert capsys.readouterr().out == "out\n"


def test_three_nodes_default_to_one_memoryless_and_one_cpuless(
    booted: list[dict[str, Any]],
) -> None:
    assert numa_run.main(["--nodes", "3", "--", "true"]) == 7
    assert booted[0]["topology"] == qemu.VmTopology.default(3)
    assert numa_run.main(["--nodes", "2", "true"]) == 7  # without --: options come first
    assert [n.cpu and n.memory_mib > 0 for n in booted[1]["topology"].nodes] == [True, True]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([], "no command"),
        (["--"], "no command"),
        (["--nodes", "2", "--memoryless", "2", "--", "true"], "memoryless must be 0..1"),
        (["--nodes", "3", "--memoryless", "1", "--cpuless", "2", "--", "true"], "cpuless"),
        (["--nodes", "0", "--", "true"], "nodes must be 1..128"),
        (["--mem", "16", "--", "true"], "--mem must be at least 64"),
        (["--distance", "5", "--", "true"], "distance must be 11..254"),
        (["--timeout", "0", "--", "true"], "--timeout must be positive"),
        (["--accel", "xen", "--", "true"], "invalid choice: 'xen'"),
        (["-e", "1BAD=x", "--", "true"], "not NAME or NAME=VALUE"),
        (["--kernel", "6.3", "--", "true"], "kernel must be one of 5.10, 6.1, 6.12, 7.2"),
        (["--kernel", "/no/such/bzImage", "--", "true"], "/no/such/bzImage: no such file"),
        (["--bogus", "--", "true"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_usage_is_an_argparse_error(
    booted: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        numa_run.main(argv)
    assert exc.value.code == 2
    assert words in capsys.readouterr().err
    assert booted == []


def test_a_file_that_is_no_bzimage_is_refused(
    booted: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junk = tmp_path / "vmlinux"
    junk.write_bytes(b"\x7fELF" + bytes(0x1000))
    with pytest.raises(SystemExit):
        numa_run.main(["--kernel", str(junk), "--", "true"])
    assert "is not a bzImage (no setup header)" in capsys.readouterr().err


def test_a_command_the_guest_cannot_run_fails_before_any_boot(
    booted: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    assert numa_run.main(["--", "./script.sh"]) == 126
    assert "./script.sh: not executable" in capsys.readouterr().err
    assert numa_run.main(["--", "./missing"]) == 127
    assert numa_run.main(["--", "no-such-command-anywhere"]) == 127
    assert "not found in the guest's PATH" in capsys.readouterr().err
    (tmp_path / "sub").mkdir()
    assert numa_run.main(["--", "./sub"]) == 126
    assert "./sub: a directory" in capsys.readouterr().err
    assert booted == []
    script.chmod(0o755)
    assert numa_run.main(["--", "./script.sh"]) == 7


def test_vm_failures_and_timeouts_have_their_own_statuses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(
        kernels, "fetch", lambda release: Kernel(release, VERSION, tmp_path, None, None)
    )

    def failing(*a: Any, **kw: Any) -> Boot:
        raise VmError("the guest could not run the command: no 9p")

    def slow(*a: Any, **kw: Any) -> Boot:
        raise VmTimeout("did not finish in 5 s and was killed")

    monkeypatch.setattr(qemu, "boot", failing)
    assert numa_run.main(["--", "true"]) == numa_run.VM_FAILED == 125
    assert "numa-run: the guest could not run the command: no 9p" in capsys.readouterr().err
    monkeypatch.setattr(qemu, "boot", slow)
    assert numa_run.main(["--timeout", "5", "--", "true"]) == numa_run.TIMED_OUT == 124


def test_the_guest_environment() -> None:
    host = {
        "PATH": "/x/bin:/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C",
        "VIRTUAL_ENV": "/v", "SECRET_TOKEN": "s", "DISPLAY": ":0", "FOO": "host-foo",
    }  # fmt: skip
    env = numa_run.guest_env(host, ["A=1", "FOO", "ABSENT", "B="])
    assert env == {
        "PATH": "/x/bin:/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C",
        "VIRTUAL_ENV": "/v", "TMPDIR": "/run/tmp", "REALNUMA_DISPOSABLE": "1",
        "A": "1", "FOO": "host-foo", "B": "",
    }  # fmt: skip
    assert numa_run.guest_env({}, [])["PATH"] == numa_run.DEFAULT_PATH


# --- kernels given by path ----------------------------------------------------------------
def test_the_version_comes_from_the_setup_header(tmp_path: Path) -> None:
    assert bzimage_version(fake_bzimage(tmp_path / "bzImage")) == VERSION
    (tmp_path / "short").write_bytes(b"HdrS")
    with pytest.raises(kernels.KernelFetchError, match="not a bzImage"):
        bzimage_version(tmp_path / "short")


def test_a_kernel_tree_and_an_installed_modules_dir(tmp_path: Path) -> None:
    tree = tmp_path / "linux"
    (tree / "arch/x86/boot").mkdir(parents=True)
    fake_bzimage(tree / "arch/x86/boot/bzImage")
    (tree / ".config").write_text("CONFIG_NUMA=y\n")
    kernel = resolve(tree)
    assert (kernel.version, kernel.release, kernel.modules) == (VERSION, "6.99", None)
    assert kernel.config == tree / ".config"
    (tree / "modules.order").write_text("fs/9p/9p.ko\n")
    (tree / "fs/9p").mkdir(parents=True)
    (tree / "fs/9p/9p.ko").write_bytes(b"\x7fELF")
    kernel = resolve(str(tree))
    assert kernel.modules == tree.resolve()
    assert initramfs.module_index(kernel) == {"9p": tree.resolve() / "fs/9p/9p.ko"}
    # make modules_install INSTALL_MOD_PATH=staging: given the staging dir, or the version dir
    staging = tmp_path / "staging"
    (staging / "lib/modules" / VERSION).mkdir(parents=True)
    image = tree / "arch/x86/boot/bzImage"
    assert resolve(image, staging).modules == (staging / "lib/modules" / VERSION).resolve()
    other = staging / "lib/modules/6.1.0-other"
    other.mkdir()
    (other / "modules.dep").write_text("")
    with pytest.raises(ValueError, match=f"are for 6.1.0-other, the kernel is {VERSION}"):
        resolve(image, other)
    with pytest.raises(ValueError, match="not a directory"):
        resolve(image, tmp_path / "nowhere")
    with pytest.raises(ValueError, match="without arch/x86/boot/bzImage"):
        resolve(tmp_path / "staging")


def test_a_kernel_config_without_9p_is_named() -> None:
    config = "CONFIG_NUMA=y\nCONFIG_BLK_DEV_INITRD=y\nCONFIG_DEVTMPFS=y\n"
    config += "CONFIG_SERIAL_8250_CONSOLE=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_NET_9P=m\n"
    problems = config_problems(config, lambda module: module == "9pnet")
    assert problems == [
        "CONFIG_NET_9P_VIRTIO=y or m (it is not set)",
        "CONFIG_9P_FS=y or m (it is not set)",
    ]
    assert "CONFIG_NET_9P=m but 9pnet.ko" in config_problems(config, lambda m: False)[0]
    assert "CONFIG_NUMA=y (it is not set)" in config_problems("", lambda m: True)


@pytest.mark.skipif(not Path(initramfs.BUSYBOX).exists(), reason="needs busybox-static")
def test_a_kernel_without_9p_fails_before_qemu_naming_the_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "linux"
    (tree / "arch/x86/boot").mkdir(parents=True)
    fake_bzimage(tree / "arch/x86/boot/bzImage")
    (tree / ".config").write_text("CONFIG_NUMA=y\nCONFIG_9P_FS=m\n")
    started: list[object] = []
    monkeypatch.setattr(qemu, "_run", lambda *a: started.append(a))
    monkeypatch.setattr(qemu.shutil, "which", lambda name: "/bin/false")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert numa_run.main(["--kernel", str(tree), "--accel", "tcg", "--", "true"]) == 125
    err = capsys.readouterr().err
    assert "CONFIG_9P_FS=m but 9p.ko is not among the modules" in err
    assert "CONFIG_NET_9P_VIRTIO=y or m (it is not set)" in err
    assert started == []


def test_vm_spec_with_a_kernel_path(tmp_path: Path) -> None:
    image = fake_bzimage(tmp_path / "bzImage")
    (backend,) = parse_backends(f"vm:kernel={image},nodes=2,memoryless=1")
    assert isinstance(backend, VmBackend)
    assert backend.label == f"vm:{VERSION}" and backend.release == (6, 99)
    modules = tmp_path / "lib/modules" / VERSION
    modules.mkdir(parents=True)
    (backend,) = parse_backends(f"vm:kernel={image},modules={tmp_path}")
    assert isinstance(backend, VmBackend) and backend.modules == str(tmp_path)
    for bad, words in [
        ("vm:kernel=6.3", "vm needs kernel=5.10|6.1|6.12|7.2, not .6.3."),
        ("vm:kernel=/no/such", "no such file"),
        (f"vm:kernel={image},modules=/no/such", "not a directory"),
        ("vm:nodes=2", "vm needs kernel="),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_backends(bad)


# --- the guest's end, and KVM ------------------------------------------------------------
def test_the_exit_status_and_failures_come_from_the_console(tmp_path: Path) -> None:
    kernel = Kernel("6.12", VERSION, tmp_path, None, None)
    tcg = Accel("tcg", "")
    log = tmp_path / "console.log"
    text = f"noise\n{initramfs.STARTED}\n[ 3.2] a kernel line\n\n{initramfs.EXIT} 130\n"
    assert qemu._ended(Boot(0, text, 1.0, tcg), kernel, log).status == 130
    with pytest.raises(VmError, match="could not run the command: the host root could not"):
        qemu._ended(Boot(0, f"x\n{initramfs.FAIL} {initramfs.NEEDS_9P}\n", 1.0, tcg), kernel, log)
    with pytest.raises(VmError, match=r"ended before the command did \(QEMU exited with status 1"):
        qemu._ended(Boot(1, "Kernel panic - not syncing\n", 1.0, tcg), kernel, log)


def test_kvm_that_fails_before_the_command_is_tried_again_on_tcg() -> None:
    kvm = Accel("kvm", "")
    assert qemu._kvm_failed(Boot(0, f"boot\n{qemu.KVM_FAILED}. Suberror: 1\n", 1, kvm))
    assert qemu._kvm_failed(Boot(134, "qemu: assertion failed\n", 1, kvm))
    assert not qemu._kvm_failed(Boot(0, f"{initramfs.STARTED}\n{qemu.KVM_FAILED}", 1, kvm))
    assert not qemu._kvm_failed(Boot(0, f"{initramfs.STARTED}\n{initramfs.EXIT} 0\n", 1, kvm))


def _fake_qemu(tmp_path: Path, body: str) -> str:
    fake = tmp_path / "qemu-system-x86_64"
    fake.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'probe.pid'}\n{body}\n")
    fake.chmod(0o755)
    return str(fake)


@pytest.fixture
def kvm_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A stand-in /dev/kvm: a file whose KVM_GET_API_VERSION answers 12."""
    import fcntl

    device = tmp_path / "kvm"
    device.write_bytes(b"")
    real_ioctl = fcntl.ioctl

    def ioctl(fd: int, request: int, *args: Any) -> Any:
        if request == qemu.KVM_GET_API_VERSION:
            return qemu.KVM_API_VERSION
        return real_ioctl(fd, request, *args)

    monkeypatch.setattr(fcntl, "ioctl", ioctl)
    return str(device)


def test_probe_without_a_usable_device(tmp_path: Path) -> None:
    qemu_bin = _fake_qemu(tmp_path, "exit 99")
    missing = str(tmp_path / "none")
    assert qemu.probe_kvm(qemu_bin, device=missing) == f"{missing}: No such file or directory"
    why = qemu.probe_kvm(qemu_bin, device="/dev/null")  # opens, but is no KVM
    assert why is not None and why.startswith("/dev/null: KVM_GET_API_VERSION:")


def test_probe_with_another_kvm_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl

    device = tmp_path / "kvm"
    device.write_bytes(b"")
    monkeypatch.setattr(fcntl, "ioctl", lambda fd, request, *a: 11)
    qemu_bin = _fake_qemu(tmp_path, "exit 99")
    assert qemu.probe_kvm(qemu_bin, device=str(device)) == f"{device}: KVM API version 11, not 12"
    assert not (tmp_path / "probe.pid").exists()  # QEMU was not even started


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("exit 99", None),  # the boot sector wrote 0x31 to isa-debug-exit
        ("echo 'error: failed to set MSR 0x10a' >&2; kill -ABRT $$",
         "QEMU -accel kvm -cpu host ended with signal 6: error: failed to set MSR 0x10a"),
        ("echo 'KVM internal error. Suberror: 1'; exit 1",
         "QEMU -accel kvm -cpu host ended with status 1: KVM internal error. Suberror: 1"),
        ("exec sleep 300", "QEMU -accel kvm did not run a boot sector in 2 s"),
    ],
)  # fmt: skip
def test_probe_runs_qemu_with_kvm(
    tmp_path: Path, kvm_device: str, body: str, expected: str | None
) -> None:
    qemu_bin = _fake_qemu(tmp_path, body)
    assert qemu.probe_kvm(qemu_bin, device=kvm_device, timeout=2) == expected
    assert gone_within(int((tmp_path / "probe.pid").read_text()), 5)


def test_the_probe_runs_once_per_host_boot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SIMNUMA_ACCEL", raising=False)
    qemu_bin = _fake_qemu(tmp_path, "exit 99")
    answers: list[str | None] = [None, "no"]
    probes: list[str] = []

    def probe(binary: str) -> str | None:
        probes.append(binary)
        return answers[len(probes) - 1]

    monkeypatch.setattr(qemu, "probe_kvm", probe)
    assert qemu.choose_accel(qemu_bin) == Accel("kvm", "KVM works: using it")
    assert qemu.choose_accel(qemu_bin).name == "kvm"
    assert probes == [qemu_bin]  # the second answer came from the cache
    os.utime(qemu_bin, (1, 1))  # another QEMU binary: asked again
    assert qemu.choose_accel(qemu_bin) == Accel("tcg", "KVM: no; using software emulation (tcg)")
    monkeypatch.setattr(qemu, "_boot_id", lambda: "another-boot")
    with pytest.raises(IndexError):  # a third probe was made: a new host boot asks again
        qemu.choose_accel(qemu_bin)
    assert qemu.choose_accel(qemu_bin, "kvm") == Accel("kvm", "kvm as asked")
    monkeypatch.setenv("SIMNUMA_ACCEL", "tcg")
    assert qemu.choose_accel(qemu_bin).name == "tcg"
    with pytest.raises(ValueError, match="accel must be auto, kvm or tcg"):
        qemu.choose_accel(qemu_bin, "hvf")


# --- signals ------------------------------------------------------------------------------
@pytest.mark.skipif(not Path(initramfs.BUSYBOX).exists(), reason="needs busybox-static")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_run_and_leaves_nothing(tmp_path: Path, signum: int) -> None:
    env = fake_vm_env(tmp_path)
    run = subprocess.Popen(
        [sys.executable, "-m", "realnuma.vm.numa_run", "--", "true"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    fake = wait_for(tmp_path / "qemu.pid", run)
    try:
        assert list((tmp_path / "t").glob(f"simnuma-vm-{run.pid}-*"))
        run.send_signal(signum)
        _, err = run.communicate(timeout=30)
        assert run.returncode == 128 + signum, err
        assert f"numa-run: stopped by {signal.Signals(signum).name}" in err
        assert "Traceback" not in err
        assert gone_within(fake, 5), "QEMU outlived the run"
        assert list((tmp_path / "t").iterdir()) == []
    finally:
        kill_quietly(fake, b"sleep")
        if run.poll() is None:
            run.kill()
            run.communicate()


# --- real boots -----------------------------------------------------------------------------
def _cached_612() -> Kernel | None:
    if shutil.which("qemu-system-x86_64") is None or not Path(initramfs.BUSYBOX).exists():
        return None
    if not (kernels.cache_dir() / "kernels" / "6.12" / "kernel.txt").exists():
        return None
    return kernels.fetch("6.12")


KERNEL = _cached_612()
real_boot = pytest.mark.skipif(
    KERNEL is None,
    reason="needs QEMU, busybox-static and Debian's 6.12 kernel in the cache "
    "(python -c \"from realnuma.vm.kernels import fetch; fetch('6.12')\")",
)


def numa_run_cli(args: list[str], cwd: Path, **kw: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": pythonpath(), "PYTHONSAFEPATH": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "realnuma.vm.numa_run", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
    )  # fmt: skip


@real_boot
def test_numactl_in_the_guest_sees_three_nodes_and_the_status_comes_back(tmp_path: Path) -> None:
    if shutil.which("numactl") is None:
        pytest.skip("needs numactl on the host (the guest runs the host's)")
    run = numa_run_cli(["--kernel", "6.12", "--nodes", "3", "--", "sh", "-c", "numactl -H; exit 3"],
                       tmp_path)  # fmt: skip
    out, err = run.communicate(timeout=300)
    assert run.returncode == 3, err.decode()
    text = out.decode()
    assert text.startswith("available: 3 nodes (0-2)\n"), text
    assert "node 1 cpus:\n" in text and "node 2 size: 0 MB" in text  # CPU-less, memoryless
    assert "[    " not in text and "[vm]" not in text  # no kernel console, no progress
    assert "[vm] booting 6.12" in err.decode()


@real_boot
def test_output_streams_live_writes_in_cwd_come_back_and_a_signal_is_128_plus(
    tmp_path: Path,
) -> None:
    script = "echo first; echo to-stderr >&2; echo data > written.txt; sleep 3; echo second"
    script += "; kill -TERM $$"
    cwd = tmp_path / "a dir, with a comma"  # QEMU's option lists need ",," for it
    cwd.mkdir()
    run = numa_run_cli(["-q", "--nodes", "1", "--", "sh", "-c", script], cwd)
    assert run.stdout is not None
    first = run.stdout.readline()
    seen_first = time.monotonic()
    second = run.stdout.readline()
    gap = time.monotonic() - seen_first
    rest, err = run.communicate(timeout=300)
    assert (first, second, rest) == (b"first\n", b"second\n", b"")
    assert gap > 2, f"the first line came only {gap:.1f} s before the second: not live"
    assert err == b"to-stderr\n"  # -q: only the command's stderr
    assert run.returncode == 128 + signal.SIGTERM
    assert (cwd / "written.txt").read_text() == "data\n"


@real_boot
def test_a_kernel_image_given_by_path_boots(tmp_path: Path) -> None:
    assert KERNEL is not None and KERNEL.modules is not None
    image = tmp_path / "bzImage"
    shutil.copy(KERNEL.vmlinuz, image)
    image.chmod(stat.S_IRUSR)
    script = "uname -r; cat /sys/devices/system/node/has_cpu /sys/devices/system/node/has_memory"
    args = ["-q", "--kernel", str(image), "--modules", str(KERNEL.modules), "--nodes", "2",
            "--cpuless", "1", "--", "sh", "-c", script]  # fmt: skip
    run = numa_run_cli(args, tmp_path)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err.decode()
    assert out.decode().split() == [KERNEL.version, "0", "0-1"]


@real_boot
def test_a_kernel_without_its_9p_modules_says_what_it_needs(tmp_path: Path) -> None:
    """Debian's image alone (9p is =m there, and no config beside it): the guest cannot
    mount the host root; the error names the options."""
    assert KERNEL is not None
    image = tmp_path / "vmlinuz"
    shutil.copy(KERNEL.vmlinuz, image)
    run = numa_run_cli(["-q", "--kernel", str(image), "--nodes", "1", "--", "true"], tmp_path)
    _, err = run.communicate(timeout=300)
    assert run.returncode == 125
    assert "the host root could not be mounted over 9p: the kernel needs CONFIG_VIRTIO_PCI, " \
        "CONFIG_NET_9P, CONFIG_NET_9P_VIRTIO and CONFIG_9P_FS" in err.decode()  # fmt: skip


@real_boot
def test_the_conformance_suite_runs_on_a_kernel_given_by_path(tmp_path: Path) -> None:
    assert KERNEL is not None and KERNEL.modules is not None
    image = tmp_path / "vmlinuz"
    shutil.copy(KERNEL.vmlinuz, image)
    env = {**os.environ, "PYTHONPATH": pythonpath(), "PYTHONSAFEPATH": "1"}
    spec = f"vm:kernel={image},modules={KERNEL.modules},nodes=3"
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "--backend", spec, "--clause", "fork", "--compare"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"vm:{KERNEL.version}" in done.stdout
    assert "0 failed" in done.stdout and " passed" in done.stdout


# --- a user's kernel without madvise() ----------------------------------------------------
@pytest.mark.parametrize("err", [errno.EINVAL, errno.ENOSYS])
def test_touch_falls_back_when_madvise_cannot_populate(
    monkeypatch: pytest.MonkeyPatch, err: int
) -> None:
    """Before 5.14 (EINVAL) or built without madvise() (CONFIG_ADVISE_SYSCALLS=n: ENOSYS,
    a tinyconfig kernel booted with --backend vm:kernel=TREE), a helper faults pages in
    through process_vm_readv/writev instead of calling it a SIGSEGV."""
    import ctypes
    import mmap

    from realnuma import helper

    region = mmap.mmap(-1, 2 * mmap.PAGESIZE)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(region))
    monkeypatch.setattr(helper.binding, "madvise", lambda *a: (-1, err))
    this = object.__new__(helper.Helper)
    this.fault(addr, 2 * mmap.PAGESIZE, True)  # no OSError
    monkeypatch.setattr(helper.binding, "madvise", lambda *a: (-1, errno.ENOMEM))
    with pytest.raises(OSError, match="SIGSEGV"):
        this.fault(addr, mmap.PAGESIZE, True)
