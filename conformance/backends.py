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


class HostBackend:
    """The kernel this machine runs, through realnuma (real helper processes), making
    the calls with syscall(2) or, with ``libnuma``, through libnuma's wrappers."""

    def __init__(self, libnuma: bool = False) -> None:
        from realnuma.probe import probe

        self.facts = probe()
        self.libnuma = libnuma

    @property
    def label(self) -> str:
        kind = "host-libnuma" if self.libnuma else "host"
        return f"{kind}:{self.facts.release.split('-')[0]}"

    @property
    def release(self) -> Release:
        return resolve_profile(self.facts.release).release

    def mirror(self) -> SimBackend:
        """The simulator at this kernel's release and node counts (for the differential)."""
        facts = self.facts
        memoryless = len(set(facts.online_nodes) - set(facts.memory_nodes))
        return SimBackend(
            facts.release,
            len(facts.memory_nodes),
            memoryless,
            f"sim({self.label})",
        )

    def open(self, needs: Needs) -> Kernel:
        from realnuma.binding import libnuma_available
        from realnuma.host import HostKernel

        facts = self.facts
        if self.libnuma and not libnuma_available():
            raise Skip("realnuma was built without libnuma's headers (libnuma-dev)")
        if needs.memory_nodes > len(facts.memory_nodes):
            raise Skip(
                f"needs {needs.memory_nodes} memory nodes, host has {len(facts.memory_nodes)}"
            )
        if needs.memoryless_node and set(facts.online_nodes) <= set(facts.memory_nodes):
            raise Skip("needs a node without memory, host has none")
        if not facts.is_root:
            raise Skip("needs root: helpers change uid, cpusets and capabilities")
        kernel = HostKernel(libnuma=self.libnuma)
        missing = needs.features - kernel.features
        if missing:
            kernel.close()
            reasons = "; ".join(
                f"{m}: {HOST_LACKS.get(m, 'not available')}" for m in sorted(missing)
            )
            raise Skip(f"host cannot {reasons}")
        return kernel


# Why the host backend cannot do a piece of world-building.
HOST_LACKS = {
    "isolate": "take a page off the LRU from user space",
    "writeback": "hold a page under writeback on demand",
    "filesystems": "mount filesystems without a migrate function or writeback",
    "fill_node": "fill a node without risking the machine (memhog is not run)",
    "swap": "swap a chosen page out (no swap device is set up)",
    "hugetlb": "reserve huge pages (vm.nr_hugepages is 0)",
    "thp": "use transparent huge pages (disabled)",
    "cpuset": "write a cpuset hierarchy",
    "cpuset_keep_pages": "keep pages on a cpuset move (cgroup v2 always migrates them)",
    "capabilities": "change capabilities (not root)",
}


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
    options = _options(rest, spec) if kind != "host" else {}
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
    if kind == "host":
        if rest not in ("", "libnuma"):
            raise ValueError(f"backend {spec!r}: host takes no options but 'libnuma'")
        return [HostBackend(libnuma=rest == "libnuma")]
    raise ValueError(f"backend {spec!r}: unknown kind {kind!r} (known: sim, host)")
