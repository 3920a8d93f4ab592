"""Backend specs (``sim``, ``sim:profile=6.1,nodes=4``) and the kernels they open."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from conformance.env import Needs, Skip
from simnuma.abi import Kernel
from simnuma.kernel import SimKernel
from simnuma.profiles import Release, named_profiles, resolve_profile
from simnuma.topology import GIB, NodeSpec, Topology


class Backend(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def release(self) -> Release: ...

    def open(self, needs: Needs) -> Kernel:
        """A fresh kernel for one case, or Skip with the reason it cannot be set up."""
        ...


@dataclass(frozen=True)
class SimBackend:
    """The simulator at one profile; ``memory_nodes`` with memory, then memoryless ones."""

    profile: str | None = None
    memory_nodes: int = 3
    memoryless_nodes: int = 1
    label_text: str = ""

    @property
    def label(self) -> str:
        return self.label_text or f"sim:{resolve_profile(self.profile).name}"

    @property
    def release(self) -> Release:
        return resolve_profile(self.profile).release

    def topology(self) -> Topology:
        nodes = {n: NodeSpec(memory=4 * GIB) for n in range(self.memory_nodes)}
        for n in range(self.memory_nodes, self.memory_nodes + self.memoryless_nodes):
            nodes[n] = NodeSpec(memory=0, cpus=True)
        return Topology(nodes)

    def open(self, needs: Needs) -> Kernel:
        if needs.memory_nodes > self.memory_nodes:
            raise Skip(f"needs {needs.memory_nodes} memory nodes, backend has {self.memory_nodes}")
        if needs.memoryless_node and not self.memoryless_nodes:
            raise Skip("needs a node without memory, backend has none")
        kernel = SimKernel(topology=self.topology(), profile=self.profile)
        missing = needs.features - kernel.features
        if missing:
            raise Skip(f"{', '.join(sorted(missing))} not available on {kernel.release}")
        return kernel


def _options(text: str, spec: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"backend {spec!r}: option {item!r} is not key=value")
        options[key.strip()] = value.strip()
    return options


def _count(options: dict[str, str], key: str, default: int, spec: str, minimum: int) -> int:
    value = options.pop(key, str(default))
    if not value.isdigit() or int(value) < minimum:
        raise ValueError(f"backend {spec!r}: {key} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def parse_backends(spec: str) -> list[Backend]:
    """One spec -> backends (``sim:profile=all`` expands to every named profile)."""
    if not isinstance(spec, str):
        raise TypeError(f"backend spec must be str, not {type(spec).__name__}")
    kind, _, rest = spec.partition(":")
    options = _options(rest, spec)
    if kind == "sim":
        profile = options.pop("profile", None)
        memory = _count(options, "nodes", 3, spec, 1)
        memoryless = _count(options, "memoryless", 1, spec, 0)
        if options:
            raise ValueError(
                f"backend {spec!r}: unknown options {sorted(options)} (profile, nodes, memoryless)"
            )
        if profile == "all":
            return [SimBackend(p.name, memory, memoryless) for p in named_profiles()]
        resolve_profile(profile)  # a bad profile is reported now, not per case
        return [SimBackend(profile, memory, memoryless)]
    raise ValueError(f"backend {spec!r}: unknown kind {kind!r} (known: sim)")
