"""Memory policies and where a new page goes (mbind(2), set_mempolicy(2) DESCRIPTION).

The candidate list is the node order the page allocator walks: the policy's
nodes first (ordered by distance from the faulting CPU's node), then, for
policies that may fall back, every other allowed node by distance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from simnuma.abi import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_PREFERRED,
    MPOL_PREFERRED_MANY,
    MPOL_WEIGHTED_INTERLEAVE,
)
from simnuma.abi.quirks import Quirk
from simnuma.frames import PAGE_SHIFT

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel


@dataclass(frozen=True)
class Mempolicy:
    """A policy as stored by the kernel: mode, node mask (may be empty), mode flags."""

    mode: int
    nodes: frozenset[int] = frozenset()
    flags: int = 0
    user_nodes: frozenset[int] = frozenset()  # as given (MPOL_F_STATIC/RELATIVE_NODES)
    mems: frozenset[int] = frozenset()  # the cpuset's mems when the nodes were set
    # the clauses of how it came to be so (a cpuset change rebound it)
    why: tuple[str, ...] = field(default=(), compare=False)


DEFAULT_POLICY = Mempolicy(MPOL_DEFAULT)


def node_remap(node: int, old: list[int], new: list[int]) -> int:
    """bitmap_bitremap(): the n-th node of ``old`` goes to the (n mod |new|)-th of ``new``."""
    if node not in old or not new:
        return node
    return new[old.index(node) % len(new)]


def nodes_remap(nodes: frozenset[int], old: frozenset[int], new: frozenset[int]) -> frozenset[int]:
    """nodes_remap(): node_remap() of every node of ``nodes``."""
    old_list, new_list = sorted(old), sorted(new)
    return frozenset(node_remap(n, old_list, new_list) for n in nodes)


def relative_nodemask(nodes: frozenset[int], allowed: frozenset[int]) -> frozenset[int]:
    """mpol_relative_nodemask(): node n means the (n mod |allowed|)-th allowed node."""
    ordered = sorted(allowed)
    return frozenset(ordered[n % len(ordered)] for n in nodes) if ordered else frozenset()


def rebind(policy: Mempolicy, mems: frozenset[int]) -> Mempolicy:
    """mpol_rebind_policy() when the task's cpuset mems change to ``mems``.

    MPOL_PREFERRED keeps its node (mpol_rebind_preferred() only records the mems);
    the other node-set modes follow the new mems as the flags say.
    """
    if not policy.nodes or policy.mode in (MPOL_DEFAULT, MPOL_LOCAL, MPOL_PREFERRED):
        return replace(policy, mems=mems)
    if policy.flags & MPOL_F_STATIC_NODES:
        nodes = policy.user_nodes & mems
    elif policy.flags & MPOL_F_RELATIVE_NODES:
        nodes = relative_nodemask(policy.user_nodes, mems)
    else:
        nodes = nodes_remap(policy.nodes, policy.mems, mems)
    return replace(policy, nodes=nodes or mems, mems=mems, why=("cpuset.rebinds_policy",))


def by_distance(kernel: SimKernel, origin: int, nids: set[int] | frozenset[int]) -> list[int]:
    """``nids`` nearest first from ``origin`` (ties by node id), as the zonelist orders them."""
    node = kernel.nodes[origin]
    return sorted(nids, key=lambda n: (node.distances.get(n, 255), n))


def candidate_rule(
    kernel: SimKernel, policy: Mempolicy, local: int, allowed: frozenset[int]
) -> tuple[int, Callable[[int], list[int]]]:
    """candidate_nodes() with the interleave index left open: ``(period, nodes_for)``
    such that the nodes for index ``i`` are ``nodes_for(i % period)``.

    A fault path placing many pages works out each of the ``period`` lists once.
    """
    fallback = by_distance(kernel, local, allowed)
    mode = policy.mode
    if mode in (MPOL_DEFAULT, MPOL_LOCAL) or (mode == MPOL_PREFERRED and not policy.nodes):
        return 1, lambda _: fallback
    nodes = sorted(policy.nodes & allowed) or sorted(policy.nodes)
    if mode == MPOL_PREFERRED:
        first = nodes[0]
        preferred = [first, *(n for n in by_distance(kernel, first, allowed) if n != first)]
        return 1, lambda _: preferred
    if mode == MPOL_PREFERRED_MANY:
        many = by_distance(kernel, local, set(nodes))
        ordered = [*many, *(n for n in fallback if n not in many)]
        return 1, lambda _: ordered
    if mode == MPOL_BIND:
        # BIND never falls back outside its nodes: allocation fails instead.
        bound = by_distance(kernel, local, set(nodes))
        return 1, lambda _: bound
    if mode in (MPOL_INTERLEAVE, MPOL_WEIGHTED_INTERLEAVE):
        # Every node weighs 1 unless weights are set in sysfs (not modelled): the
        # weighted form then interleaves exactly like MPOL_INTERLEAVE.
        def interleaved(i: int) -> list[int]:
            target = nodes[i]
            return [target, *(n for n in by_distance(kernel, target, allowed) if n != target)]

        return len(nodes), interleaved
    raise NotImplementedError(f"memory policy mode {mode} is not modelled")


def candidate_nodes(
    kernel: SimKernel,
    policy: Mempolicy,
    local: int,
    allowed: frozenset[int],
    interleave_index: int,
) -> list[int]:
    """Nodes a new page may come from, in order.

    ``local`` is the node of the CPU the task runs on, ``allowed`` its cpuset's
    mems; ``interleave_index`` selects the interleave node (the page offset for
    a VMA policy, a running counter for a task policy).
    """
    period, nodes_for = candidate_rule(kernel, policy, local, allowed)
    return nodes_for(interleave_offset(kernel, interleave_index) % period)


def interleave_offset(kernel: SimKernel, index: int) -> int:
    """The offset offset_il_node() divides: the low 32 bits before 6.7
    (INTERLEAVE_OFFSET_32BIT), the whole of it since."""
    return index & 0xFFFF_FFFF if kernel.profile.has(Quirk.INTERLEAVE_OFFSET_32BIT) else index


def vma_interleave_index(vma_start: int, vma_pgoff: int, addr: int, order: int = 0) -> int:
    """interleave_nid(): the page's offset in its object selects the node, counted in
    pages of its size (``order``: 9 for a 2 MiB folio)."""
    return (vma_pgoff >> order) + ((addr - vma_start) >> (PAGE_SHIFT + order))
