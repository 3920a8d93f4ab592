"""Every public entry point x wrong type, wrong value, out of range, on the simulator
and on the host kernel: the same exception type, a message naming the argument (or,
where the kernel itself answers, the kernel's errno) on both backends.

A host row is skipped only where the host backend cannot do that world-building at
all (the operation does not exist there), or where the argument exists on one backend
only (``SimKernel(profile=...)``, ``Topology``); the reason says which."""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from simnuma import NodeSpec, SimKernel, Topology
from simnuma.abi import MPOL_BIND

PAGE = 4096


@dataclass
class Ctx:
    """What a row acts on: the kernel, a process, a touched page in it, a one-page file,
    and the backend's kernel class."""

    backend: str
    kernel: Any
    proc: Any
    page: int
    file: Any
    kernel_class: Any

    @property
    def hole(self) -> int:
        """An address with no mapping (the page's own mapping was one page)."""
        return self.page + (1 << 30)

    def exited(self) -> Any:
        q = self.kernel.spawn()
        q.exit()
        return q


Call = Callable[[Ctx], object]
# the expected answer: an exception type, or an errno (an OSError carrying it)
Expect = type[BaseException] | int


@dataclass(frozen=True)
class Row:
    call: Call
    expect: Expect
    names: str  # a regex the message must match: the argument it names
    only: str = ""  # "sim"/"host": the argument exists on that backend only


SIM_ONLY_KERNEL = "SimKernel's own argument: HostKernel's machine is the host's, not chosen"
HOST_ONLY_KERNEL = "HostKernel's own argument: SimKernel has no helpers to time out or libnuma"
TOPOLOGY = "Topology/NodeSpec describe a simulated machine: the host backend has none"

# world-building only the simulator can do: the feature is absent from HostKernel.features
HOST_CANNOT = {
    "isolate": "isolate",
    "putback": "putback",  # no feature: the host's isolate() maps a ring page for good
    "start_writeback": "writeback",
    "fill_node": "fill_node",
    "drain_node": "fill_node",
    "swap_out": "swap",
}

ROWS: dict[str, Row] = {
    # --- kernel construction ---------------------------------------------------------
    "SimKernel-nodes-type": Row(lambda c: c.kernel_class(nodes="2"), TypeError, "nodes", "sim"),
    "SimKernel-nodes-value": Row(lambda c: c.kernel_class(nodes=0), ValueError, "nodes", "sim"),
    "SimKernel-profile-type": Row(lambda c: c.kernel_class(profile=6), TypeError, "profile", "sim"),
    "SimKernel-profile-range": Row(
        lambda c: c.kernel_class(profile="2.4"), ValueError, "profile", "sim"
    ),
    "SimKernel-topology-type": Row(
        lambda c: c.kernel_class(topology={0: 1}), TypeError, "topology", "sim"
    ),
    "SimKernel-max_numnodes-type": Row(
        lambda c: c.kernel_class(max_numnodes="8"), TypeError, "max_numnodes", "sim"
    ),
    "SimKernel-max_numnodes-range": Row(
        lambda c: c.kernel_class(max_numnodes=1, nodes=2), ValueError, "max_numnodes", "sim"
    ),
    "HostKernel-libnuma-type": Row(
        lambda c: c.kernel_class(libnuma="yes"), TypeError, "libnuma", "host"
    ),
    "HostKernel-timeout-type": Row(
        lambda c: c.kernel_class(timeout="1"), TypeError, "timeout", "host"
    ),
    "HostKernel-timeout-value": Row(
        lambda c: c.kernel_class(timeout=0), ValueError, "timeout", "host"
    ),
    # --- Topology / NodeSpec ---------------------------------------------------------
    "Topology-nodes-list": Row(lambda c: Topology(nodes=[NodeSpec()]), TypeError, "nodes", "sim"),
    "Topology-nodes-empty": Row(lambda c: Topology(nodes={}), ValueError, "nodes", "sim"),
    "Topology-node-id-bool": Row(
        lambda c: Topology(nodes={True: NodeSpec()}), TypeError, "node id", "sim"
    ),
    "Topology-node-id-negative": Row(
        lambda c: Topology(nodes={-1: NodeSpec()}), ValueError, "node id", "sim"
    ),
    "Topology-node-spec-type": Row(lambda c: Topology(nodes={0: 16}), TypeError, "nodes", "sim"),
    "Topology-distances-none": Row(
        lambda c: Topology(distances=None),  # type: ignore[arg-type]
        TypeError,
        "distances",
        "sim",
    ),
    "Topology-distance-float": Row(
        lambda c: Topology({0: NodeSpec(), 1: NodeSpec()}, {(0, 1): 15.5}),  # type: ignore[dict-item]
        TypeError,
        "distances",
        "sim",
    ),
    "Topology-distance-range": Row(
        lambda c: Topology({0: NodeSpec(), 1: NodeSpec()}, {(0, 1): 300}),
        ValueError,
        "distances",
        "sim",
    ),
    "Topology-distance-unknown-node": Row(
        lambda c: Topology({0: NodeSpec()}, {(0, 5): 20}), ValueError, "distances", "sim"
    ),
    "NodeSpec-cpus-type": Row(lambda c: NodeSpec(cpus="no"), TypeError, "cpus", "sim"),  # type: ignore[arg-type]
    "NodeSpec-memory-type": Row(lambda c: NodeSpec(memory=1.5), TypeError, "memory", "sim"),  # type: ignore[arg-type]
    "NodeSpec-memory-negative": Row(lambda c: NodeSpec(memory=-1), ValueError, "memory", "sim"),
    "NodeSpec-memory-below-a-page": Row(
        lambda c: NodeSpec(memory=100), ValueError, "memory", "sim"
    ),
    # --- spawn -------------------------------------------------------------------------
    "spawn-uid-type": Row(lambda c: c.kernel.spawn(uid="0"), TypeError, "uid"),
    "spawn-uid-range": Row(lambda c: c.kernel.spawn(uid=-1), ValueError, "uid"),
    "spawn-uid-too-big": Row(lambda c: c.kernel.spawn(uid=2**32), ValueError, "uid"),
    "spawn-caps-type": Row(lambda c: c.kernel.spawn(caps="CAP_SYS_NICE"), TypeError, "caps"),
    "spawn-caps-value": Row(lambda c: c.kernel.spawn(caps=["CAP_NOPE"]), ValueError, "caps"),
    "spawn-cpuset_mems-type": Row(
        lambda c: c.kernel.spawn(cpuset_mems=5), TypeError, "cpuset_mems"
    ),
    "spawn-cpuset_mems-range": Row(
        lambda c: c.kernel.spawn(cpuset_mems=[4095]), ValueError, "cpuset_mems"
    ),
    # --- files -------------------------------------------------------------------------
    "create_file-size-type": Row(lambda c: c.kernel.create_file("1"), TypeError, "size"),
    "create_file-size-value": Row(lambda c: c.kernel.create_file(0), ValueError, "size"),
    "create_file-fs-type": Row(lambda c: c.kernel.create_file(PAGE, fs=3), TypeError, "fs"),
    "create_file-fs-value": Row(lambda c: c.kernel.create_file(PAGE, fs="ext9"), ValueError, "fs"),
    "create_file-name-type": Row(lambda c: c.kernel.create_file(PAGE, name=3), TypeError, "name"),
    "write_file-f-type": Row(lambda c: c.kernel.write_file("f", 0, b"x"), TypeError, r"\bf\b"),
    "write_file-offset-type": Row(
        lambda c: c.kernel.write_file(c.file, "0", b"x"), TypeError, "offset"
    ),
    "write_file-offset-value": Row(
        lambda c: c.kernel.write_file(c.file, -1, b"x"), ValueError, "offset"
    ),
    "write_file-data-type": Row(lambda c: c.kernel.write_file(c.file, 0, "x"), TypeError, "data"),
    "write_file-past-the-end": Row(
        lambda c: c.kernel.write_file(c.file, PAGE - 1, b"xy"), ValueError, "data"
    ),
    "file_page_node-f-type": Row(lambda c: c.kernel.file_page_node("f", 0), TypeError, r"\bf\b"),
    "file_inode-f-type": Row(lambda c: c.kernel.file_inode("f"), TypeError, r"\bf\b"),
    "mapping_inode-proc-type": Row(lambda c: c.kernel.mapping_inode("p", 0), TypeError, "proc"),
    "mapping_inode-addr-type": Row(
        lambda c: c.kernel.mapping_inode(c.proc, "0"), TypeError, "addr"
    ),
    "mapping_inode-addr-anonymous": Row(
        lambda c: c.kernel.mapping_inode(c.proc, c.page), ValueError, "addr"
    ),
    "file_page_node-index-type": Row(
        lambda c: c.kernel.file_page_node(c.file, "0"), TypeError, "index"
    ),
    "file_page_node-index-range": Row(
        lambda c: c.kernel.file_page_node(c.file, 1), ValueError, "index"
    ),
    # --- world building on pages ---------------------------------------------------------
    **{
        f"{op}-proc-type": Row(
            lambda c, op=op: getattr(c.kernel, op)("p", c.page), TypeError, "proc"
        )
        for op in ("pin", "unpin", "isolate", "putback", "start_writeback", "swap_out")
    },
    **{
        f"{op}-addr-type": Row(
            lambda c, op=op: getattr(c.kernel, op)(c.proc, "a"), TypeError, "addr"
        )
        for op in ("pin", "unpin", "isolate", "putback", "start_writeback", "swap_out")
    },
    **{
        f"{op}-addr-range": Row(
            lambda c, op=op: getattr(c.kernel, op)(c.proc, -PAGE), ValueError, "addr"
        )
        for op in ("pin", "unpin", "isolate", "putback", "start_writeback", "swap_out")
    },
    "pin-addr-beyond-user-space": Row(lambda c: c.kernel.pin(c.proc, 1 << 60), ValueError, "addr"),
    "pin-addr-unmapped": Row(lambda c: c.kernel.pin(c.proc, c.hole), errno.EFAULT, ""),
    "unpin-not-pinned": Row(lambda c: c.kernel.unpin(c.proc, c.page), ValueError, "addr"),
    "fill_node-nid-type": Row(lambda c: c.kernel.fill_node("0"), TypeError, "nid"),
    "fill_node-nid-range": Row(lambda c: c.kernel.fill_node(99), ValueError, "nid"),
    "fill_node-free_pages-value": Row(
        lambda c: c.kernel.fill_node(0, -1), ValueError, "free_pages"
    ),
    "drain_node-nid-type": Row(lambda c: c.kernel.drain_node("0"), TypeError, "nid"),
    "drain_node-nid-range": Row(lambda c: c.kernel.drain_node(99), ValueError, "nid"),
    "run_on-proc-type": Row(lambda c: c.kernel.run_on("p", 0), TypeError, "proc"),
    "run_on-nid-type": Row(lambda c: c.kernel.run_on(c.proc, "0"), TypeError, "nid"),
    "run_on-nid-range": Row(lambda c: c.kernel.run_on(c.proc, 99), ValueError, "nid"),
    "set_dumpable-proc-type": Row(lambda c: c.kernel.set_dumpable("p", 1), TypeError, "proc"),
    "set_dumpable-value-type": Row(
        lambda c: c.kernel.set_dumpable(c.proc, "1"), TypeError, "value"
    ),
    "set_dumpable-value-range": Row(
        lambda c: c.kernel.set_dumpable(c.proc, 2), ValueError, "value"
    ),
    # --- Process: memory set-up ------------------------------------------------------------
    "mmap-length-type": Row(lambda c: c.proc.mmap("1"), TypeError, "length"),
    "mmap-length-value": Row(lambda c: c.proc.mmap(0), ValueError, "length"),
    "mmap-length-range": Row(lambda c: c.proc.mmap(1 << 60), ValueError, "length"),
    "mmap-prot-type": Row(lambda c: c.proc.mmap(PAGE, prot="rw"), TypeError, "prot"),
    "mmap-prot-value": Row(lambda c: c.proc.mmap(PAGE, prot=0x100), ValueError, "prot"),
    "mmap-offset-value": Row(lambda c: c.proc.mmap(PAGE, offset=1), ValueError, "offset"),
    "mmap-offset-range": Row(lambda c: c.proc.mmap(PAGE, offset=1 << 64), ValueError, "offset"),
    "mmap-addr-type": Row(lambda c: c.proc.mmap(PAGE, addr="0"), TypeError, "addr"),
    "mmap-addr-unaligned": Row(lambda c: c.proc.mmap(PAGE, addr=PAGE + 1), ValueError, "addr"),
    "mmap-addr-range": Row(lambda c: c.proc.mmap(PAGE, addr=1 << 60), ValueError, "addr"),
    "mmap-huge-value": Row(lambda c: c.proc.mmap(PAGE, huge="giant"), ValueError, "huge"),
    "mmap-file-type": Row(lambda c: c.proc.mmap(PAGE, file="/etc/passwd"), TypeError, "file"),
    "mmap-shared-type": Row(lambda c: c.proc.mmap(PAGE, shared="yes"), TypeError, "shared"),
    "munmap-addr-type": Row(lambda c: c.proc.munmap("a", PAGE), TypeError, "addr"),
    "munmap-addr-value": Row(lambda c: c.proc.munmap(c.page + 1, PAGE), ValueError, "addr"),
    "munmap-length-value": Row(lambda c: c.proc.munmap(c.page, 0), ValueError, "length"),
    "munmap-length-range": Row(lambda c: c.proc.munmap(c.page, 1 << 60), ValueError, "length"),
    "mprotect-prot-type": Row(lambda c: c.proc.mprotect(c.page, PAGE, "r"), TypeError, "prot"),
    "mprotect-prot-value": Row(lambda c: c.proc.mprotect(c.page, PAGE, 0x100), ValueError, "prot"),
    "mprotect-addr-value": Row(lambda c: c.proc.mprotect(c.page + 1, PAGE, 1), ValueError, "addr"),
    "mprotect-unmapped": Row(lambda c: c.proc.mprotect(c.hole, PAGE, 1), errno.ENOMEM, "mprotect"),
    "touch-addr-type": Row(lambda c: c.proc.touch("a", PAGE), TypeError, "addr"),
    "touch-length-value": Row(lambda c: c.proc.touch(c.page, 0), ValueError, "length"),
    "touch-length-range": Row(lambda c: c.proc.touch(c.page, 1 << 64), ValueError, "length"),
    "touch-unmapped": Row(lambda c: c.proc.touch(c.hole, PAGE), errno.EFAULT, ""),
    "read-length-type": Row(lambda c: c.proc.read(c.page, "1"), TypeError, "length"),
    "read-addr-range": Row(lambda c: c.proc.read(-1, PAGE), ValueError, "addr"),
    "read-unmapped": Row(lambda c: c.proc.read(c.hole, PAGE), errno.EFAULT, ""),
    "write_bytes-data-type": Row(lambda c: c.proc.write_bytes(c.page, "text"), TypeError, "data"),
    "write_bytes-addr-range": Row(lambda c: c.proc.write_bytes(-1, b"x"), ValueError, "addr"),
    "write_bytes-unmapped": Row(lambda c: c.proc.write_bytes(c.hole, b"x"), errno.EFAULT, ""),
    "read_bytes-length-type": Row(lambda c: c.proc.read_bytes(c.page, 1.0), TypeError, "length"),
    "read_bytes-length-value": Row(lambda c: c.proc.read_bytes(c.page, -1), ValueError, "length"),
    "read_bytes-length-range": Row(
        lambda c: c.proc.read_bytes(c.page, 1 << 48), ValueError, "length"
    ),
    "read_bytes-unmapped": Row(lambda c: c.proc.read_bytes(c.hole, 1), errno.EFAULT, ""),
    "mlock-length-value": Row(lambda c: c.proc.mlock(c.page, 0), ValueError, "length"),
    "mlock-unmapped": Row(lambda c: c.proc.mlock(c.hole, PAGE), errno.ENOMEM, "mlock"),
    "mlock-prot-none": Row(lambda c: _mlock_prot_none(c), errno.ENOMEM, "mlock"),
    "fork-after-exit": Row(lambda c: c.exited().fork(), RuntimeError, "exited"),
    "exit-after-exit": Row(lambda c: c.exited().exit(), type(None), ""),
    "touch-after-exit": Row(lambda c: c.exited().touch(0, PAGE), RuntimeError, "exited"),
    # --- Process: credentials and cpuset ----------------------------------------------------
    "setresuid-ruid-type": Row(lambda c: c.proc.setresuid("0", 0, 0), TypeError, "ruid"),
    "setresuid-euid-range": Row(lambda c: c.proc.setresuid(0, -2, 0), ValueError, "euid"),
    "setresuid-suid-type": Row(lambda c: c.proc.setresuid(0, 0, None), TypeError, "suid"),
    "set_cpuset-mems-type": Row(lambda c: c.proc.set_cpuset(5), TypeError, "mems"),
    "set_cpuset-mems-empty": Row(lambda c: c.proc.set_cpuset([]), ValueError, "mems"),
    "set_cpuset-mems-range": Row(lambda c: c.proc.set_cpuset([4095]), ValueError, "mems"),
    "set_cpuset-memory_migrate-type": Row(
        lambda c: c.proc.set_cpuset([0], memory_migrate="yes"), TypeError, "memory_migrate"
    ),
    # --- Process: the NUMA syscalls ------------------------------------------------------------
    "set_mempolicy-mode-type": Row(lambda c: c.proc.set_mempolicy("bind", [0]), TypeError, "mode"),
    "set_mempolicy-nodes-type": Row(
        lambda c: c.proc.set_mempolicy(MPOL_BIND, {0: 1}), TypeError, "nodes"
    ),
    "set_mempolicy-nodes-value": Row(
        lambda c: c.proc.set_mempolicy(MPOL_BIND, [-1]), ValueError, "nodes"
    ),
    "set_mempolicy-nodes-range": Row(
        lambda c: c.proc.set_mempolicy(MPOL_BIND, [1 << 40]), errno.EINVAL, "set_mempolicy"
    ),
    "mbind-addr-range": Row(
        lambda c: c.proc.mbind(-PAGE, PAGE, MPOL_BIND, [0]), ValueError, "addr"
    ),
    "mbind-length-type": Row(
        lambda c: c.proc.mbind(c.page, "1", MPOL_BIND, [0]), TypeError, "length"
    ),
    "mbind-mode-type": Row(lambda c: c.proc.mbind(c.page, PAGE, None, [0]), TypeError, "mode"),
    "mbind-nodes-type": Row(
        lambda c: c.proc.mbind(c.page, PAGE, MPOL_BIND, "0"), TypeError, "nodes"
    ),
    "mbind-nodes-range": Row(
        lambda c: c.proc.mbind(c.page, PAGE, MPOL_BIND, [1 << 40]), errno.EINVAL, "mbind"
    ),
    "mbind-flags-type": Row(
        lambda c: c.proc.mbind(c.page, PAGE, MPOL_BIND, [0], "x"), TypeError, "flags"
    ),
    "move_pages-pid-type": Row(lambda c: c.proc.move_pages("0", [], None, 0), TypeError, "pid"),
    "move_pages-pages-type": Row(
        lambda c: c.proc.move_pages(0, "abc", None, 0), TypeError, "pages"
    ),
    "move_pages-pages-item": Row(
        lambda c: c.proc.move_pages(0, [1.5], None, 0), TypeError, r"pages\[0\]"
    ),
    "move_pages-nodes-item": Row(
        lambda c: c.proc.move_pages(0, [c.page], [None], 0), TypeError, r"nodes\[0\]"
    ),
    "move_pages-nodes-length": Row(
        lambda c: c.proc.move_pages(0, [c.page], [0, 0], 0), ValueError, "nodes"
    ),
    "move_pages-flags-type": Row(
        lambda c: c.proc.move_pages(0, [c.page], None, "MOVE"), TypeError, "flags"
    ),
    "migrate_pages-pid-type": Row(lambda c: c.proc.migrate_pages(None, [0], [0]), TypeError, "pid"),
    "migrate_pages-old_nodes-value": Row(
        lambda c: c.proc.migrate_pages(0, [-1], [0]), ValueError, "old_nodes"
    ),
    "migrate_pages-new_nodes-type": Row(
        lambda c: c.proc.migrate_pages(0, [0], "0"), TypeError, "new_nodes"
    ),
    "migrate_pages-maxnode-type": Row(
        lambda c: c.proc.migrate_pages(0, [0], [0], maxnode="8"), TypeError, "maxnode"
    ),
    "migrate_pages-node-outside-maxnode": Row(
        lambda c: c.proc.migrate_pages(0, [100], [0], maxnode=10), ValueError, "old_nodes"
    ),
    "migrate_pages-maxnode-range": Row(
        lambda c: c.proc.migrate_pages(0, [0], [0], maxnode=1 << 40), errno.EINVAL, "migrate_pages"
    ),
    "migrate_pages-new_nodes-range": Row(
        lambda c: c.proc.migrate_pages(0, [0], [1 << 40]), errno.EINVAL, "migrate_pages"
    ),
    "get_mempolicy-flags-type": Row(lambda c: c.proc.get_mempolicy(None), TypeError, "flags"),
    "get_mempolicy-addr-type": Row(lambda c: c.proc.get_mempolicy(0, "0"), TypeError, "addr"),
    "get_mempolicy-addr-range": Row(lambda c: c.proc.get_mempolicy(0, -1), ValueError, "addr"),
    "syscall-name-type": Row(lambda c: c.proc.syscall(3), TypeError, "name"),
    "syscall-args-type": Row(
        lambda c: c.proc.syscall("move_pages", 0, 1.0), TypeError, r"args\[1\]"
    ),
}


def _mlock_prot_none(c: Ctx) -> None:
    """mlock over a PROT_NONE page: populating it fails, ENOMEM (the simulator raised
    EFAULT, a Segfault)."""
    a = c.proc.mmap(3 * PAGE)
    c.proc.mprotect(a + PAGE, PAGE, 0)
    c.proc.mlock(a, 3 * PAGE)


_HOST: list[Any] = []


def _host() -> Ctx:
    from realnuma.host import HostKernel
    from realnuma.probe import probe

    if not _HOST:
        if not probe().is_root:
            pytest.skip("the host backend needs root: helpers change uid")
        kernel = HostKernel()
        proc = kernel.spawn()
        page = proc.mmap(PAGE)
        proc.touch(page, PAGE)
        _HOST.append(Ctx("host", kernel, proc, page, kernel.create_file(PAGE), HostKernel))
    return _HOST[0]


def teardown_module() -> None:
    for ctx in _HOST:
        ctx.kernel.close()


def _sim() -> Ctx:
    kernel = SimKernel(nodes=1)
    proc = kernel.spawn()
    page = proc.mmap(PAGE)
    proc.touch(page, PAGE)
    return Ctx("sim", kernel, proc, page, kernel.create_file(PAGE), SimKernel)


@pytest.mark.parametrize("backend", ["sim", "host"])
@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_bad_input(row: Row, backend: str) -> None:
    if row.only and row.only != backend:
        if _id(row).startswith(("Topology", "NodeSpec")):
            pytest.skip(TOPOLOGY)
        pytest.skip(SIM_ONLY_KERNEL if row.only == "sim" else HOST_ONLY_KERNEL)
    ctx = _sim() if backend == "sim" else _host()
    op = next((op for op in HOST_CANNOT if f"{op}-" in f"{_id(row)}-"), None)
    if backend == "host" and op is not None and not hasattr(ctx.kernel, op):
        feature = HOST_CANNOT[op]
        assert feature not in ctx.kernel.features
        pytest.skip(f"HostKernel has no {op}(): '{feature}' is not among its features")
    if row.expect is type(None):
        assert row.call(ctx) is None  # allowed, and harmless
        return
    if isinstance(row.expect, int):
        with pytest.raises(OSError) as info:
            row.call(ctx)
        assert info.value.errno == row.expect, info.value
    else:
        with pytest.raises(row.expect) as info:  # type: ignore[misc]
            row.call(ctx)
    assert re.search(row.names, str(info.value)), f"{info.value!r} does not name {row.names!r}"


def _id(row: Row) -> str:
    return next(name for name, r in ROWS.items() if r is row)


def test_rows_cover_every_public_entry_point() -> None:
    """Each entry point of the Process/Kernel/World protocols has a row."""
    from simnuma.abi import Kernel, Process, World

    names = {name.split("-")[0] for name in ROWS}
    wanted = set()
    for proto in (Process, Kernel, World):
        wanted |= {
            n for n in proto.__dict__ if not n.startswith("_") and callable(getattr(proto, n))
        }
    wanted -= {"node_ids", "memory_node_ids", "cpu_node_ids", "close", "spawn_kernel_thread"}
    wanted |= {"SimKernel", "HostKernel", "Topology", "NodeSpec", "putback", "drain_node"}
    assert wanted <= names, sorted(wanted - names)
