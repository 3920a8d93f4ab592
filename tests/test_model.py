"""The simulator's model: sparseness, faults, fork, migration bookkeeping."""

from __future__ import annotations

import errno

import pytest

from simnuma import NodeSpec, SimKernel, Topology
from simnuma.abi import MPOL_BIND, MPOL_INTERLEAVE, MPOL_MF_MOVE, MPOL_PREFERRED
from simnuma.frames import PAGE_SIZE, OutOfNodeMemory

PAGE = 4096
TIB = 1 << 40


def test_mapping_a_terabyte_costs_nothing_until_touched() -> None:
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(TIB)
    assert sum(n.used for n in k.nodes.values()) == 0
    p.touch(a + TIB // 2, 3 * PAGE)
    assert sum(n.used for n in k.nodes.values()) == 3
    assert len(p.mm.pt) == 3
    k.check_consistency()


def test_fork_shares_then_copies_on_write() -> None:
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(PAGE)
    p.write_bytes(a, b"parent")
    c = p.fork()
    assert p.mm.pt[a >> 12] is c.mm.pt[a >> 12]
    assert p.mm.pt[a >> 12].mapcount == 2
    c.write_bytes(a, b"child!")
    assert p.read_bytes(a, 6) == b"parent" and c.read_bytes(a, 6) == b"child!"
    assert p.mm.pt[a >> 12].mapcount == 1
    k.check_consistency()


def test_exit_frees_every_frame() -> None:
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(16 * PAGE)
    p.touch(a, 16 * PAGE)
    c = p.fork()
    p.exit()
    assert sum(n.used for n in k.nodes.values()) == 16
    c.exit()
    assert sum(n.used for n in k.nodes.values()) == 0
    k.check_consistency()


def test_pinned_page_outlives_its_mapping() -> None:
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(PAGE)
    p.touch(a, PAGE)
    k.pin(p, a)
    p.munmap(a, PAGE)
    assert sum(n.used for n in k.nodes.values()) == 1
    k.check_consistency()


def test_policies_place_new_pages() -> None:
    k = SimKernel(nodes=3)
    p = k.spawn()
    p.set_mempolicy(MPOL_BIND, [2])
    a = p.mmap(2 * PAGE)
    p.touch(a, 2 * PAGE)
    assert p.move_pages(0, [a, a + PAGE], None, 0).status == [2, 2]
    p.set_mempolicy(MPOL_INTERLEAVE, [0, 1])
    b = p.mmap(4 * PAGE)
    p.touch(b, 4 * PAGE)
    assert sorted(p.move_pages(0, [b + i * PAGE for i in range(4)], None, 0).status) == [0, 0, 1, 1]
    p.set_mempolicy(MPOL_PREFERRED, [1])
    c = p.mmap(PAGE)
    p.touch(c, PAGE)
    assert p.move_pages(0, [c], None, 0).status == [1]


def test_bind_to_a_full_node_fails_the_fault() -> None:
    k = SimKernel(topology=Topology({0: NodeSpec(memory=PAGE * 4), 1: NodeSpec()}))
    p = k.spawn()
    p.mbind(a := p.mmap(8 * PAGE), 8 * PAGE, MPOL_BIND, [0])
    with pytest.raises(OutOfNodeMemory, match="no room"):  # the kernel would OOM-kill
        p.touch(a, 8 * PAGE)
    k.check_consistency()


def test_world_building_undoes_itself() -> None:
    """isolate/putback and fill_node/drain_node restore the state they changed."""
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(PAGE)
    p.touch(a, PAGE)
    k.isolate(p, a)
    assert p.move_pages(0, [a, a], [1, 1], MPOL_MF_MOVE).status[0] == -errno.EBUSY
    k.putback(p, a)
    assert p.move_pages(0, [a], [1], MPOL_MF_MOVE).status == [1]
    free = k.nodes[0].free
    k.fill_node(0)
    assert k.nodes[0].free == 0
    k.drain_node(0)
    assert k.nodes[0].free == free
    k.check_consistency()


def test_move_keeps_node_counts_and_contents() -> None:
    k = SimKernel(nodes=2)
    p = k.spawn()
    a = p.mmap(64 * PAGE)
    data = bytes(range(256)) * (64 * PAGE // 256)
    p.write_bytes(a, data)
    used = {n: node.used for n, node in k.nodes.items()}
    r = p.move_pages(0, [a + i * PAGE for i in range(64)], [1] * 64, MPOL_MF_MOVE)
    assert r.ret == 0 and r.status == [1] * 64
    assert k.nodes[1].used == used[1] + 64 and k.nodes[0].used == used[0] - 64
    assert p.read_bytes(a, len(data)) == data
    k.check_consistency()


def test_sparse_node_ids() -> None:
    k = SimKernel(topology=Topology({0: NodeSpec(), 4: NodeSpec(), 9: NodeSpec(memory=0)}))
    p = k.spawn()
    a = p.mmap(PAGE)
    p.touch(a, PAGE)
    assert p.move_pages(0, [a], [4], MPOL_MF_MOVE).status == [4]
    try:
        p.move_pages(0, [a], [9], MPOL_MF_MOVE)
    except OSError as exc:
        assert exc.errno == errno.ENODEV
    else:
        raise AssertionError("memoryless node 9 accepted")
    assert p.get_mempolicy(4)[1] == [0, 4]  # MPOL_F_MEMS_ALLOWED


def test_an_mmap_hint_is_taken_when_the_range_is_free() -> None:
    """mmap(2) without MAP_FIXED: a free hinted range is where the mapping goes; a taken
    one is not, and later mappings step around a hinted one."""
    k = SimKernel(nodes=2)
    p = k.spawn()
    hint = 0x7000_0000_0000
    assert p.mmap(PAGE_SIZE, addr=hint) == hint
    other = p.mmap(PAGE_SIZE, addr=hint)
    assert other != hint
    assert p.mmap(PAGE_SIZE, shared=True, addr=hint + 16 * PAGE_SIZE) == hint + 16 * PAGE_SIZE
    starts = sorted(v.start for v in p.mm.vmas)  # type: ignore[union-attr]
    ends = sorted(v.end for v in p.mm.vmas)  # type: ignore[union-attr]
    assert all(e < s for e, s in zip(ends, starts[1:], strict=False)), "mappings overlap"
