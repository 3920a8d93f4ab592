"""realnuma.machine: the world-building that changes a whole (disposable) machine, and
isolate() through a packet socket's ring, on this host.  The guests' own runs are the
conformance suite's (tox -e kernels)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from realnuma import machine
from realnuma.machine import DISPOSABLE, MACHINE_FEATURES, Machine, MachineError
from simnuma.abi import MPOL_MF_MOVE

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="the host backend needs root")
PAGE = os.sysconf("SC_PAGE_SIZE")


def test_a_machine_someone_uses_is_never_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DISPOSABLE, raising=False)
    lacks = machine.machine_lacks()
    assert set(lacks) == MACHINE_FEATURES
    assert all(DISPOSABLE in why for why in lacks.values())


def test_undo_runs_newest_first_and_reports_the_first_failure(tmp_path: Path) -> None:
    done: list[str] = []
    m = Machine(str(tmp_path))

    def fails() -> None:
        done.append("fails")
        raise OSError(errno.EBUSY, "busy")

    m._then("first", lambda: done.append("first"))
    m._then("second", fails)
    m._then("third", lambda: done.append("third"))
    with pytest.raises(MachineError, match="undoing second"):
        m.undo()
    assert done == ["third", "fails", "first"]  # the rest ran after the failure
    m.undo()  # nothing left: a second undo does nothing


def test_managed_pages_add_up_each_nodes_zones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zoneinfo = tmp_path / "zoneinfo"
    zoneinfo.write_text(
        "Node 0, zone      DMA\n  pages free 3\n        managed  3840\n"
        "Node 0, zone    DMA32\n        managed  60000\n"
        "Node 1, zone    DMA32\n        managed  65000\n"
    )
    real_path = Path

    def fake(path: str, *rest: str) -> Path:
        return zoneinfo if path == "/proc/zoneinfo" else real_path(path, *rest)

    monkeypatch.setattr(machine, "Path", fake)
    assert machine.managed_pages() == {0: 63840, 1: 65000}


@needs_root
def test_the_host_refuses_machine_world_building_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from realnuma.host import HostKernel

    monkeypatch.delenv(DISPOSABLE, raising=False)
    with HostKernel() as k:
        p = k.spawn()
        a = p.mmap(PAGE)
        p.touch(a, PAGE)
        calls: list[Callable[[], object]] = [
            lambda: k.fill_node(k.memory_node_ids()[0]),
            lambda: k.swap_out(p, a),
            lambda: k.start_writeback(p, a),
        ]
        for call in calls:
            with pytest.raises(NotImplementedError, match=DISPOSABLE):
                call()
        with pytest.raises(ValueError, match="fs: 'ext4' needs writeback"):
            k.create_file(PAGE, fs="ext4")


def _kpageflags(pid: int, addr: int) -> int:
    """The /proc/kpageflags word of the page mapped at ``addr`` in ``pid``."""
    import struct

    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(addr // PAGE * 8)
        (entry,) = struct.unpack("<Q", f.read(8))
    assert entry >> 63, f"no page at {addr:#x}"
    with open("/proc/kpageflags", "rb") as f:
        f.seek((entry & ((1 << 55) - 1)) * 8)
        (flags,) = struct.unpack("<Q", f.read(8))
    return int(flags)


@needs_root
def test_isolate_maps_a_page_no_lru_holds_with_the_same_bytes() -> None:
    """The packet ring's page replaces the page in place: same node, same contents, and
    /proc/kpageflags shows it on no LRU list (so move_pages cannot isolate it), where
    the page beside it, an ordinary one, is on one."""
    from realnuma.host import HostKernel

    kpf_lru = 1 << 5
    with HostKernel() as k:
        if "isolate" not in k.features:
            pytest.skip("no packet sockets here (CONFIG_PACKET, CAP_NET_RAW)")
        p = k.spawn()
        a = p.mmap(2 * PAGE)
        p.write_bytes(a, b"kept" * 1024)
        p.write_bytes(a + PAGE, b"next")
        node = p.move_pages(0, [a], None, 0).status
        # a move (to where they are) drains the per-CPU LRU batches first
        p.move_pages(0, [a, a + PAGE], node * 2, MPOL_MF_MOVE)
        assert _kpageflags(p.pid, a) & kpf_lru, "an anonymous page is on an LRU list"
        k.isolate(p, a)
        assert p.move_pages(0, [a], None, 0).status == node
        assert p.read_bytes(a, 4096) == b"kept" * 1024
        assert p.read_bytes(a + PAGE, 4) == b"next"
        assert not _kpageflags(p.pid, a) & kpf_lru
        assert _kpageflags(p.pid, a + PAGE) & kpf_lru
