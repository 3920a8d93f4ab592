"""Issue 8, "nothing crashes, nothing is left behind": corners where the simulator
raised, lost a pin or left its model half-changed.  Each test failed before its fix."""

from __future__ import annotations

import errno

import pytest

from simnuma import SimKernel
from simnuma.abi import MPOL_BIND, MPOL_F_RELATIVE_NODES, MPOL_F_STATIC_NODES
from simnuma.abi.arrays import get_mempolicy_raw


@pytest.mark.parametrize("flag", [MPOL_F_RELATIVE_NODES, MPOL_F_STATIC_NODES])
def test_get_mempolicy_copies_only_the_words_of_nr_node_ids(flag: int) -> None:
    """The user nodemask kept for MPOL_F_{RELATIVE,STATIC}_NODES may name nodes beyond
    nr_node_ids; copy_nodes_to_user() copies BITS_TO_LONGS(nr_node_ids) longs of it and
    clears the rest.  The host (1 node, 6.18) answers [0] for this very call."""
    k = SimKernel(nodes=2)
    p = k.spawn()
    p.set_mempolicy(MPOL_BIND | flag, [0, 100])
    assert p.get_mempolicy(0) == (MPOL_BIND | flag, [0])
    for maxnode in (2, 65, 129, 4097):
        assert get_mempolicy_raw(p, 0, 0, maxnode) == (0, 0, [MPOL_BIND | flag, 0])
    k.check_consistency()
