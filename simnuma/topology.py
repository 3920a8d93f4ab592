"""NUMA topology: node ids (may be sparse), memory per node, CPUs, distances."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

GIB = 1 << 30
PAGE_SIZE = 4096
LOCAL_DISTANCE = 10
REMOTE_DISTANCE = 20


@dataclass(frozen=True)
class NodeSpec:
    """One node: bytes of memory (0 = memoryless) and whether it has CPUs."""

    memory: int = 16 * GIB
    cpus: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.memory, int) or isinstance(self.memory, bool):
            raise TypeError(f"memory must be int, not {type(self.memory).__name__}")
        if self.memory < 0:
            raise ValueError(f"memory must be >= 0, got {self.memory}")
        if 0 < self.memory < PAGE_SIZE:
            raise ValueError(
                f"memory must be 0 or at least a page ({PAGE_SIZE}), got {self.memory}"
            )
        if not isinstance(self.cpus, bool):
            raise TypeError(f"cpus must be bool, not {type(self.cpus).__name__}")
        if not self.memory and not self.cpus:
            raise ValueError("a node needs memory or CPUs to be online")


@dataclass(frozen=True)
class Topology:
    """Nodes by id and the SLIT distance table (defaults: 10 local, 20 remote)."""

    nodes: Mapping[int, NodeSpec] = field(default_factory=lambda: {0: NodeSpec()})
    distances: Mapping[tuple[int, int], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.nodes, Mapping):
            raise TypeError(
                f"nodes must be a mapping of node id to NodeSpec, not {type(self.nodes).__name__}"
            )
        if not isinstance(self.distances, Mapping):
            raise TypeError(
                "distances must be a mapping of (node, node) to int, "
                f"not {type(self.distances).__name__}"
            )
        if not self.nodes:
            raise ValueError("nodes: a topology needs at least one node")
        for nid, spec in self.nodes.items():
            if not isinstance(nid, int) or isinstance(nid, bool):
                raise TypeError(f"nodes: node id {nid!r} must be int, not {type(nid).__name__}")
            if nid < 0:
                raise ValueError(f"nodes: node id {nid!r} must be >= 0")
            if not isinstance(spec, NodeSpec):
                raise TypeError(f"nodes[{nid}] must be NodeSpec, not {type(spec).__name__}")
        if not any(spec.memory for spec in self.nodes.values()):
            raise ValueError("nodes: at least one node must have memory")
        if not any(spec.cpus for spec in self.nodes.values()):
            raise ValueError("nodes: at least one node must have CPUs")
        for key, d in self.distances.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise TypeError(f"distances: key {key!r} must be a (node, node) pair")
            a, b = key
            if not isinstance(d, int) or isinstance(d, bool):
                raise TypeError(f"distances: ({a}, {b}) must be int, not {type(d).__name__}")
            if a not in self.nodes or b not in self.nodes:
                raise ValueError(f"distances: ({a}, {b}) names a node not in the topology")
            if not 10 <= d <= 254:
                raise ValueError(f"distances: ({a}, {b}) = {d} is outside 10..254")

    @classmethod
    def uniform(cls, count: int, memory: int = 16 * GIB) -> Topology:
        """``count`` nodes 0..count-1, each with CPUs and ``memory`` bytes."""
        if not isinstance(count, int) or isinstance(count, bool):
            raise TypeError(f"nodes must be int, not {type(count).__name__}")
        if count < 1:
            raise ValueError(f"nodes must be >= 1, got {count}")
        return cls({nid: NodeSpec(memory) for nid in range(count)})

    def distance(self, a: int, b: int) -> int:
        if (a, b) in self.distances:
            return self.distances[(a, b)]
        if (b, a) in self.distances:
            return self.distances[(b, a)]
        return LOCAL_DISTANCE if a == b else REMOTE_DISTANCE
