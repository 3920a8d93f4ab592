"""simnuma.views: the simulated kernel as the files tools read, in the kernel's formats
(checked against this machine's own files where it has them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simnuma import SimKernel
from simnuma.abi import MPOL_BIND, MPOL_F_STATIC_NODES, MPOL_INTERLEAVE, MPOL_PREFERRED
from simnuma.mempolicy import Mempolicy
from simnuma.views import (
    node_distance,
    node_list,
    node_mask,
    node_meminfo,
    node_states,
    numa_maps,
    policy_string,
)

HOST_NODE0 = Path("/sys/devices/system/node/node0")


@pytest.mark.parametrize(
    ("nodes", "bits", "text"),
    [
        ([0, 1], 2, "3"),
        ([0], 1024, ",".join(["00000000"] * 31 + ["00000001"])),
        ([0, 33], 64, "00000002,00000001"),
        ([], 4, "0"),
    ],
)
def test_node_mask_is_the_kernels_pb_format(nodes: list[int], bits: int, text: str) -> None:
    assert node_mask(nodes, bits) == text


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        (None, "default"),
        (Mempolicy(MPOL_BIND, frozenset({0, 1})), "bind:0-1"),
        (Mempolicy(MPOL_PREFERRED, frozenset({2})), "prefer:2"),
        (Mempolicy(MPOL_INTERLEAVE, frozenset({0, 2, 3})), "interleave:0,2-3"),
        (
            Mempolicy(MPOL_BIND, frozenset({1}), MPOL_F_STATIC_NODES, frozenset({1, 5})),
            "bind=static:1,5",
        ),
    ],
)
def test_policy_strings_are_mpol_to_str(policy: Mempolicy | None, text: str) -> None:
    assert policy_string(policy) == text


def test_node_files() -> None:
    k = SimKernel(3)
    assert node_states(k) == {
        "possible": "0-2",
        "online": "0-2",
        "has_normal_memory": "0-2",
        "has_memory": "0-2",
        "has_cpu": "0-2",
    }
    assert node_distance(k, 1) == "20 10 20"
    assert node_list([3, 0, 1]) == "0-1,3"


@pytest.mark.skipif(not (HOST_NODE0 / "meminfo").exists(), reason="no node0 meminfo on this host")
def test_meminfo_fields_are_laid_out_as_this_kernels() -> None:
    """The fields both have come in the same order and columns (fields vary by release:
    the rendering has 6.x's set)."""
    real = {ln.split(":")[0]: ln for ln in (HOST_NODE0 / "meminfo").read_text().splitlines()}
    ours = {ln.split(":")[0]: ln for ln in node_meminfo(SimKernel(2), 0).splitlines()}
    common = [label for label in ours if label in real]
    assert len(common) >= 30, sorted(set(ours) ^ set(real))
    assert common == [label for label in real if label in ours]
    for label in common:  # the numbers right-aligned to one column (8 digits, then " kB")
        r, o = real[label], ours[label]
        assert r.endswith(" kB") == o.endswith(" kB"), (r, o)
        if len(r.split()[-2 if r.endswith(" kB") else -1]) <= 8:
            assert len(r) == len(o), (r, o)


def test_numa_maps_counts_pages_per_node_in_the_kernels_format() -> None:
    k = SimKernel(2)
    p = k.spawn()
    a = p.mmap(3 * 4096)
    p.touch(a, 3 * 4096)
    p.mbind(a + 4096, 4096, MPOL_BIND, [1], 2)  # MPOL_MF_MOVE: page 1 to node 1
    b = p.mmap(4096)
    lines = numa_maps(p).splitlines()
    assert lines[0] == f"{a:08x} default anon=1 dirty=1 active=0 N0=1 kernelpagesize_kB=4"
    assert lines[1] == f"{a + 4096:08x} bind:1 anon=1 dirty=1 active=0 N1=1 kernelpagesize_kB=4"
    assert lines[3] == f"{b:08x} default"  # nothing present: the policy alone
    pattern = r"[0-9a-f]{8,} \S+( \w+=\S+)*( N\d+=\d+)+ kernelpagesize_kB=4"
    assert all(re.fullmatch(pattern, line) for line in lines[:3]), lines
