"""Debian kernel packages, fetched by name with apt into a private cache.

apt is pointed at one extra suite through its own sources file and lists directory,
never the system's sources; the packages are unpacked with dpkg-deb.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# release -> (suite, the meta package whose dependency names the versioned image)
SUITES = {
    "5.10": "bullseye",
    "6.1": "bookworm",
    "6.12": "trixie",
    "7.2": "sid",
}
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class KernelFetchError(RuntimeError):
    """A kernel package could not be had; the message says what to do."""


@dataclass(frozen=True)
class Kernel:
    release: str  # as asked, "6.12"
    version: str  # uname -r, "6.12.38+deb13-amd64"
    vmlinuz: Path
    # where the modules are looked up by name: a lib/modules/<version> directory or a
    # built kernel tree; None: the kernel has what it needs built in
    modules: Path | None
    config: Path | None  # the kernel's .config, where the package or the tree has it


SETUP_HEADER_MAGIC = b"HdrS"  # at 0x202 of a bzImage (Documentation/arch/x86/boot.rst)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "simnuma"


def _mirror() -> str:
    """The Debian mirror the system already uses (deb822 or one-line sources)."""
    for path in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]:
        if path.exists():
            text = path.read_text()
            m = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.M) or re.search(
                r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+/debian)\s", text, re.M
            )
            if m:
                return m.group(1)
    raise KernelFetchError("no Debian mirror in /etc/apt/sources.list(.d): cannot fetch kernels")


def _progress(message: str) -> None:
    print(f"[vm] {message}", file=sys.stderr, flush=True)


class Apt:
    """apt-get/apt-cache on one suite only, state kept under ``root``."""

    def __init__(self, suite: str, root: Path) -> None:
        if shutil.which("apt-get") is None:
            raise KernelFetchError("apt-get is missing: the VM backend needs a Debian system")
        self.root = root
        (root / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (root / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        sources = root / "sources.list"
        sources.write_text(f"deb [signed-by={KEYRING}] {_mirror()} {suite} main\n")
        self.options = [
            "-o", f"Dir::Etc::sourcelist={sources}",
            "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={root / 'lists'}",
            "-o", f"Dir::Cache::archives={root / 'archives'}",
            "-o", f"Dir::Cache={root}",
            "-o", "APT::Get::List-Cleanup=0",
        ]  # fmt: skip

    def run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            [tool, *self.options, *args], capture_output=True, text=True, cwd=cwd, check=False
        )
        if done.returncode:
            raise KernelFetchError(f"{tool} {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def update(self) -> None:
        self.run("apt-get", "update")

    def depends(self, package: str) -> list[str]:
        out = self.run("apt-cache", "depends", package)
        return re.findall(r"^\s+Depends:\s*(\S+)", out, re.M)

    def download(self, package: str, into: Path) -> Path:
        self.run("apt-get", "download", package, cwd=into)
        found = sorted(into.glob(f"{package}_*.deb"))
        if not found:
            raise KernelFetchError(f"apt-get download {package} left no .deb in {into}")
        return found[-1]


def _image_packages(apt: Apt) -> list[str]:
    """The versioned packages holding vmlinuz and the modules for the suite's kernel."""
    deps = apt.depends("linux-image-amd64")
    images = [d for d in deps if d.startswith(("linux-image-", "linux-binary-"))]
    if not images:
        raise KernelFetchError(f"linux-image-amd64 names no image package (depends: {deps})")
    image = images[0]
    # newer suites split vmlinuz (linux-binary-*) and the modules (linux-modules-*) out
    # of linux-image-*, which then only depends on them
    parts = [d for d in apt.depends(image) if d.startswith(("linux-binary-", "linux-modules-"))]
    return [image, *parts]


def fetch(release: str) -> Kernel:
    """The Debian kernel for ``release`` ("5.10", "6.1", "6.12", "7.2"), cached."""
    if release not in SUITES:
        raise ValueError(f"kernel must be one of {sorted(SUITES)}, not {release!r}")
    root = cache_dir() / "kernels" / release
    ready = root / "kernel.txt"
    if ready.exists():
        version = ready.read_text().strip()
        return _located(release, root / "tree", version)
    _progress(f"fetching the Debian {SUITES[release]} kernel for {release}")
    apt = Apt(SUITES[release], root / "apt")
    apt.update()
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    tree = root / "tree"
    for package in _image_packages(apt):
        deb = apt.download(package, debs)
        _progress(f"unpacking {deb.name}")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    versions = sorted(
        p.name for base in ("lib/modules", "usr/lib/modules") for p in (tree / base).glob("*")
    )
    if not versions:
        raise KernelFetchError(f"no lib/modules/<version> in the packages for {release}")
    kernel = _located(release, tree, versions[-1])
    ready.write_text(kernel.version + "\n")
    return kernel


def _located(release: str, tree: Path, version: str) -> Kernel:
    for base in ("lib/modules", "usr/lib/modules"):
        modules = tree / base / version
        if modules.is_dir():
            break
    else:
        raise KernelFetchError(f"modules of {version} missing under {tree}")
    configs = [tree / "boot" / f"config-{version}", modules / "config"]
    config = next((c for c in configs if c.exists()), None)
    for vmlinuz in (tree / "boot" / f"vmlinuz-{version}", modules / "vmlinuz"):
        if vmlinuz.exists():
            return Kernel(release, version, vmlinuz, modules, config)
    raise KernelFetchError(f"no vmlinuz for {version} under {tree}")


# --- kernels the user built -----------------------------------------------------------
def bzimage_version(path: Path) -> str:
    """The ``uname -r`` of a bzImage: the setup header (magic ``HdrS`` at 0x202) has at
    0x20E the offset, less 0x200, of the kernel's version string."""
    with open(path, "rb") as f:
        head = f.read(0x8000)
        if len(head) < 0x210 or head[0x202:0x206] != SETUP_HEADER_MAGIC:
            raise KernelFetchError(
                f"{path} is not a bzImage (no setup header): give arch/x86/boot/bzImage "
                "or a vmlinuz, not vmlinux"
            )
        offset = int.from_bytes(head[0x20E:0x210], "little")
        if not offset:
            raise KernelFetchError(f"{path}: its setup header has no version string")
        f.seek(offset + 0x200)
        raw = f.read(256).split(b"\0")[0].decode(errors="replace").split()
    if not raw or not re.match(r"\d+\.\d+", raw[0]):
        raise KernelFetchError(f"{path}: no kernel version in its setup header ({raw[:1]})")
    return raw[0]


def release_of(version: str) -> str:
    """``6.12`` of ``6.12.38+deb13-amd64``."""
    m = re.match(r"(\d+\.\d+)", version)
    if m is None:
        raise ValueError(f"kernel version {version!r} does not start with MAJOR.MINOR")
    return m.group(1)


def is_release(spec: str) -> bool:
    """``spec`` names a Debian kernel to fetch (one of SUITES), not a path."""
    return spec in SUITES and not Path(spec).exists()


def resolve(spec: str | os.PathLike[str], modules: str | os.PathLike[str] | None = None) -> Kernel:
    """A Debian release (``6.12``: fetched) or a kernel the user built: a bzImage/vmlinuz
    (``modules``: its ``lib/modules/<version>`` directory, or the INSTALL_MOD_PATH it was
    installed under; none: looked for beside the image, else built in), or a built kernel
    tree (``arch/x86/boot/bzImage``, its ``.config``, the modules built in it)."""
    if not isinstance(spec, str | os.PathLike):
        raise TypeError(f"kernel must be a release or a path, not {type(spec).__name__}")
    text = os.fspath(spec)
    if modules is None and is_release(text):
        return fetch(text)
    path = Path(text)
    if not path.exists():
        if "/" not in text and not text.startswith("."):
            raise ValueError(
                f"kernel must be one of {', '.join(SUITES)} or the path of a bzImage or "
                f"of a built kernel tree, not {text!r}"
            )
        raise ValueError(f"kernel {text}: no such file or directory")
    tree: Path | None = None
    if path.is_dir():
        tree = path
        path = tree / "arch" / "x86" / "boot" / "bzImage"
        if not path.is_file():
            raise ValueError(
                f"kernel {tree}: a directory without arch/x86/boot/bzImage (make bzImage)"
            )
    try:
        version = bzimage_version(path)
    except OSError as exc:
        raise ValueError(f"kernel {path}: {exc.strerror or exc}") from None
    except KernelFetchError as exc:
        raise ValueError(f"kernel {exc}") from None
    mods = _modules_of(path, tree, version, None if modules is None else Path(modules))
    configs = [path.parent / f"config-{version}"]
    if tree is not None:
        configs.insert(0, tree / ".config")
    if mods is not None:
        configs.append(mods / "config")
    config = next((c for c in configs if c.is_file()), None)
    return Kernel(release_of(version), version, path.resolve(), mods, config)


def _modules_of(image: Path, tree: Path | None, version: str, given: Path | None) -> Path | None:
    if given is not None:
        if not given.is_dir():
            raise ValueError(f"modules {given}: not a directory")
        for base in ("lib/modules", "usr/lib/modules"):  # an INSTALL_MOD_PATH
            if (given / base / version).is_dir():
                return (given / base / version).resolve()
        name = given.resolve().name
        installed = (given / "modules.dep").exists() or (given / "modules.order").exists()
        if installed and re.match(r"\d+\.\d+", name) and name != version:
            raise ValueError(f"modules {given} are for {name}, the kernel is {version}")
        return given.resolve()
    if tree is not None:
        return tree.resolve() if (tree / "modules.order").exists() else None
    root = image.resolve().parent.parent  # .../boot/vmlinuz-<version>: .../lib/modules
    for place in (root / "lib/modules", root / "usr/lib/modules", Path("/lib/modules")):
        if (place / version).is_dir():
            return (place / version).resolve()
    return None


# what booting needs of a kernel, and the module that brings it when it is =m
NEEDED_CONFIG = {
    "CONFIG_NUMA": None,
    "CONFIG_BLK_DEV_INITRD": None,
    "CONFIG_DEVTMPFS": None,
    "CONFIG_SERIAL_8250_CONSOLE": None,
    "CONFIG_VIRTIO_PCI": "virtio_pci",
    "CONFIG_NET_9P": "9pnet",
    "CONFIG_NET_9P_VIRTIO": "9pnet_virtio",
    "CONFIG_9P_FS": "9p",
}


def config_problems(config_text: str, has_module: Callable[[str], bool]) -> list[str]:
    """What a kernel's .config lacks for booting here; ``has_module(name)`` says whether
    the module of an ``=m`` option can be had."""
    values = dict(re.findall(r"^(CONFIG_\w+)=(\S+)", config_text, re.M))
    problems = []
    for option, module in NEEDED_CONFIG.items():
        value = values.get(option)
        if value == "y":
            continue
        if value == "m" and module is not None:
            if not has_module(module):
                problems.append(f"{option}=m but {module}.ko is not among the modules")
            continue
        wanted = "y" if module is None else "y or m"
        problems.append(f"{option}={wanted} (it is {'not set' if value is None else value})")
    return problems
