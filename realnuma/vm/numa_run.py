"""numa-run: any command on a real kernel with NUMA nodes.

    numa-run [--kernel 6.12|PATH] [--modules DIR] [--nodes 3 --memoryless 1 ...] -- CMD...

boots the kernel under QEMU with the NUMA topology asked for, runs CMD in it, in the
current directory of the host, and exits with CMD's exit status.  The guest sees the
host's files (the root read-only, the current directory read-write: what CMD writes
there stays), CMD's stdout and stderr come out live on numa-run's own, and the kernel's
console is kept apart (its path is printed).  CMD gets a fixed environment: PATH, HOME,
LANG, LANGUAGE, LC_*, TERM, TZ, USER, LOGNAME, PYTHONPATH, PYTHONHOME, VIRTUAL_ENV as
on the host, TMPDIR=/run/tmp (a tmpfs of the guest; the host's /tmp is read-only there),
and what ``-e NAME[=VALUE]`` adds; its stdin is /dev/null; it runs as root.

Exit status: CMD's (128+N when a signal N killed it; 126 not executable, 127 not found,
as a shell says); 125 when the VM itself failed (the message says why), 124 when
``--timeout`` ran out, 128+N when numa-run was stopped by signal N, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from realnuma.machine import DISPOSABLE
from realnuma.stopping import Stopped, stopped_by_signals

VM_FAILED = 125  # as docker run: the tool failed, not the command
TIMED_OUT = 124  # as timeout(1)
NOT_EXECUTABLE, NOT_FOUND = 126, 127  # as a shell
PASSED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TERM",
    "TZ",
    "USER",
    "LOGNAME",
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
)
GUEST_TMPDIR = "/run/tmp"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def guest_env(host: dict[str, str], extra: Sequence[str]) -> dict[str, str]:
    """CMD's environment: the host's PASSED_ENV and LC_*, TMPDIR, then ``-e`` items
    (``NAME=VALUE``, or ``NAME``: the host's value, left out when the host has none)."""
    env = {k: v for k, v in host.items() if k in PASSED_ENV or k.startswith("LC_")}
    env.setdefault("PATH", DEFAULT_PATH)
    env["TMPDIR"] = GUEST_TMPDIR
    env[DISPOSABLE] = "1"  # the guest is ours to change whole (realnuma.machine)
    for item in extra:
        name, sep, value = item.partition("=")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"-e {item!r}: not NAME or NAME=VALUE")
        if sep:
            env[name] = value
        elif name in host:
            env[name] = host[name]
    return env


def find_command(name: str, path: str, cwd: str) -> tuple[int, str] | None:
    """None if the guest can run ``name`` (it sees the host's files), else the exit
    status a shell would give (127 not found, 126 not executable) and why."""
    if "/" in name:
        candidates = [Path(cwd, name)]
    else:
        candidates = [Path(d or ".", name) for d in path.split(":")]
        candidates = [c if c.is_absolute() else Path(cwd, c) for c in candidates]
    found = [c for c in candidates if c.exists() and not c.is_dir()]
    for c in found:
        if os.access(c, os.X_OK):
            return None
    if found:
        return NOT_EXECUTABLE, f"{name}: not executable ({found[0]})"
    if "/" in name:
        what = "a directory" if candidates[0].is_dir() else "no such file"
        return NOT_FOUND if what == "no such file" else NOT_EXECUTABLE, f"{name}: {what}"
    return NOT_FOUND, f"{name}: not found in the guest's PATH ({path})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="numa-run",
        usage="numa-run [options] -- CMD [ARG...]",
        description="Run CMD on a real Linux kernel with emulated NUMA nodes (QEMU), in the "
        "current directory of this host; exit with CMD's status.",
        epilog="Exit status: CMD's; 125 when the VM failed, 124 at --timeout, 2 bad usage. "
        "Node numbering: the last M nodes are memoryless (they keep a CPU), the C nodes "
        "after node 0 are CPU-less; 3 or more nodes default to one of each.",
    )
    parser.add_argument(
        "--kernel",
        default="6.12",
        metavar="K",
        help="a Debian release to fetch (5.10, 6.1, 6.12, 7.2), a bzImage/vmlinuz, or a "
        "built kernel tree (default 6.12)",
    )
    parser.add_argument(
        "--modules",
        metavar="DIR",
        help="the kernel's lib/modules/<version> directory (or the INSTALL_MOD_PATH it was "
        "installed under); default: beside the image, in the tree, or none (built in)",
    )
    parser.add_argument("--nodes", type=int, default=3, metavar="N", help="NUMA nodes (3)")
    parser.add_argument("--memoryless", type=int, metavar="M", help="nodes without memory")
    parser.add_argument("--cpuless", type=int, metavar="C", help="nodes without a CPU")
    parser.add_argument("--mem", type=int, default=512, metavar="MIB", help="per node (512)")
    parser.add_argument("--distance", type=int, metavar="D", help="between any two nodes")
    parser.add_argument(
        "--accel",
        choices=["auto", "kvm", "tcg"],
        default=None,
        help="KVM or software emulation (default auto: KVM when a probe shows it works)",
    )
    parser.add_argument("--timeout", type=float, metavar="S", help="kill the VM after S s")
    parser.add_argument(
        "-e",
        "--env",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="also set NAME in CMD's environment (from this host without =VALUE)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no [vm] progress lines")
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if "--" in args_list:
        cut = args_list.index("--")
        args = parser.parse_args(args_list[:cut])
        if args.command:
            parser.error(f"unrecognized arguments before --: {' '.join(args.command)}")
        command = args_list[cut + 1 :]
    else:
        args = parser.parse_args(args_list)
        command = args.command
    if not command:
        parser.error("no command: numa-run [options] -- CMD [ARG...]")
    try:
        with stopped_by_signals():
            return _run(parser, args, command)
    except Stopped as exc:
        print(f"numa-run: stopped by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, command: list[str]) -> int:
    from realnuma.vm import qemu
    from realnuma.vm.kernels import KernelFetchError, resolve

    many = args.nodes >= 3
    try:
        topology = qemu.VmTopology.build(
            args.nodes,
            memory_mib=args.mem,
            memoryless=(1 if many else 0) if args.memoryless is None else args.memoryless,
            cpuless=(1 if many else 0) if args.cpuless is None else args.cpuless,
            distance=args.distance,
        )
    except ValueError as exc:
        parser.error(str(exc).replace("mem must", "--mem must"))
    if args.timeout is not None and args.timeout <= 0:
        parser.error(f"--timeout must be positive, not {args.timeout}")
    try:
        env = guest_env(dict(os.environ), args.env)
    except ValueError as exc:
        parser.error(str(exc))
    cwd = os.getcwd()
    missing = find_command(command[0], env["PATH"], cwd)
    if missing is not None:
        print(f"numa-run: {missing[1]}", file=sys.stderr)
        return missing[0]
    progress = (lambda message: None) if args.quiet else qemu._progress
    try:
        kernel = resolve(args.kernel, args.modules)
    except ValueError as exc:
        parser.error(f"--{exc}" if str(exc).startswith(("kernel", "modules")) else str(exc))
    except (KernelFetchError, OSError) as exc:
        print(f"numa-run: {exc}", file=sys.stderr)
        return VM_FAILED
    if cwd == "/":
        progress("the current directory is /: the guest gets it read-only")
    try:
        result = qemu.boot(
            kernel,
            topology,
            command,
            env=env,
            stdout=_writer(sys.stdout),
            stderr=_writer(sys.stderr),
            cwd=cwd,
            timeout=args.timeout,
            accel=args.accel,
            progress=progress,
        )
    except qemu.VmTimeout as exc:
        print(f"numa-run: {exc}", file=sys.stderr)
        return TIMED_OUT
    except (qemu.VmError, OSError) as exc:
        print(f"numa-run: {exc}", file=sys.stderr)
        return VM_FAILED
    return result.status


def _writer(stream: TextIO) -> Callable[[bytes], None]:
    """Bytes to ``stream`` (its binary buffer), flushed at once: output comes out live."""
    buffer: BinaryIO | None = getattr(stream, "buffer", None)

    def write(data: bytes) -> None:
        try:
            if buffer is not None:
                buffer.write(data)
                buffer.flush()
            else:  # a text stream without one (pytest's capture)
                stream.write(data.decode(errors="replace"))
                stream.flush()
        except (OSError, ValueError):
            pass  # our side of the pipe is closed: the command runs on, unread

    return write


if __name__ == "__main__":
    sys.exit(main())
