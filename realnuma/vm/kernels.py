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
    modules: Path  # the lib/modules/<version> directory
    config: Path | None  # the kernel's .config, where the package ships it


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
