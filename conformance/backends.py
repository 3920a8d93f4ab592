"""Backend specs (``sim``, ``sim:profile=6.1,nodes=4``) and the kernels they open."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from conformance.env import Needs, Skip
from conformance.registry import Case, all_cases
from conformance.runner import Outcome, Result

if TYPE_CHECKING:
    from realnuma.vm.qemu import VmTopology
from simnuma.abi import Kernel
from simnuma.abi.quirks import Release
from simnuma.kernel import SimKernel
from simnuma.profiles import named_profiles, resolve_profile
from simnuma.specs import node_counts, parse_options, pop_count
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
    """The simulator at one profile; ``memory_nodes`` with memory, then memoryless ones
    (the spec's ``nodes=`` is their sum, ``memoryless=`` the second), or exactly the
    ``layout`` of a real machine: (node id, has memory, has CPUs)."""

    profile: str | None = None
    memory_nodes: int = 3
    memoryless_nodes: int = 1
    label_text: str = ""
    layout: tuple[tuple[int, bool, bool], ...] = ()
    max_numnodes: int = 1024

    def __post_init__(self) -> None:
        if self.layout:
            object.__setattr__(self, "memory_nodes", sum(1 for _, m, _ in self.layout if m))
            object.__setattr__(self, "memoryless_nodes", sum(1 for _, m, _ in self.layout if not m))

    @property
    def label(self) -> str:
        return self.label_text or f"sim:{resolve_profile(self.profile).name}"

    @property
    def release(self) -> Release:
        return resolve_profile(self.profile).release

    def topology(self) -> Topology:
        if self.layout:
            return Topology(
                {nid: NodeSpec(memory=4 * GIB if m else 0, cpus=c) for nid, m, c in self.layout}
            )
        nodes = {n: NodeSpec(memory=4 * GIB) for n in range(self.memory_nodes)}
        for n in range(self.memory_nodes, self.memory_nodes + self.memoryless_nodes):
            nodes[n] = NodeSpec(memory=0, cpus=True)
        return Topology(nodes)

    def open(self, needs: Needs) -> Kernel:
        if needs.memory_nodes > self.memory_nodes:
            raise Skip(f"needs {needs.memory_nodes} memory nodes, backend has {self.memory_nodes}")
        if needs.memoryless_node and not self.memoryless_nodes:
            raise Skip("needs a node without memory, backend has none")
        kernel = SimKernel(
            topology=self.topology(), profile=self.profile, max_numnodes=self.max_numnodes
        )
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
        return mirror_of(self.label, dataclasses.asdict(self.facts))

    def open(self, needs: Needs) -> Kernel:
        from realnuma.binding import libnuma_available
        from realnuma.fit import missing_features, shortfall
        from realnuma.host import HostKernel

        if self.libnuma and not libnuma_available():
            raise Skip("realnuma was built without libnuma's headers (libnuma-dev)")
        reason = shortfall(
            self.facts, memory_nodes=needs.memory_nodes, memoryless_node=needs.memoryless_node
        )
        if reason is not None:
            raise Skip(reason)
        kernel = HostKernel(libnuma=self.libnuma)
        reason = missing_features(kernel.features, needs.features, kernel.lacks)
        if reason is not None:
            kernel.close()
            raise Skip(reason)
        return kernel


def mirror_of(label: str, facts: dict[str, Any]) -> SimBackend:
    """The simulator at a real kernel's release, node layout and MAX_NUMNODES."""
    layout = tuple(
        (n, n in facts["memory_nodes"], n in facts["cpu_nodes"]) for n in facts["online_nodes"]
    )
    return SimBackend(
        facts["release"],
        label_text=f"sim({label})",
        layout=layout,
        max_numnodes=facts.get("max_numnodes") or 1024,
    )


class VmBackend:
    """A kernel booted under QEMU with emulated NUMA nodes: a Debian release (fetched) or
    one the user built (a bzImage, with ``modules``, or a kernel tree); the whole suite
    runs inside the guest through the host backend, in one boot."""

    def __init__(
        self,
        kernel: str,
        topology: VmTopology | None = None,
        timeout: float = 900.0,
        modules: str | None = None,
    ) -> None:
        from realnuma.vm.kernels import is_release, resolve
        from realnuma.vm.qemu import VmTopology

        self.kernel = kernel
        self.modules = modules
        self.version: str | None = None  # a kernel given by path: its uname -r
        if modules is not None or not is_release(kernel):
            self.version = resolve(kernel, modules).version  # ValueError if it is none
        self.topology = topology or VmTopology.default(3)
        self.timeout = timeout
        self.facts: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"vm:{self.kernel if self.version is None else self.version}"

    @property
    def release(self) -> Release:
        return resolve_profile(self.kernel if self.version is None else self.version).release

    def open(self, needs: Needs) -> Kernel:
        raise NotImplementedError("a VM runs the whole suite in one boot: use run_all()")

    def run_in_guest(
        self,
        args: Sequence[str],
        *,
        timeout: float | None = None,
        stderr: Callable[[bytes], None] | None = None,
    ) -> Any:
        """Boot, run ``python -m ARGS`` of this checkout in the guest (it prints one JSON
        value between the markers, with ``facts``: the host backend's, there) and return
        that value; ``facts`` is kept, with MAX_NUMNODES from the kernel's config.
        KernelFetchError, VmError, OSError, ValueError when it cannot."""
        from realnuma.machine import DISPOSABLE
        from realnuma.probe import parse_nodes_shift
        from realnuma.vm.kernels import resolve
        from realnuma.vm.qemu import run_in_guest

        kernel = resolve(self.kernel, self.modules)
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/run/tmp",
            "TMPDIR": "/run/tmp",
            "LANG": "C.UTF-8",
            # the guest sees the host's root: run this checkout, not the installed one
            "PYTHONPATH": _source_root(),
            # a full node, a swap device, a slow disk harm nobody there (realnuma.machine)
            DISPOSABLE: "1",
        }
        payload = run_in_guest(
            kernel,
            self.topology,
            [sys.executable, "-m", *args],
            timeout=self.timeout if timeout is None else timeout,
            env=env,
            stderr=stderr,
        )
        facts = payload["facts"]
        if kernel.config is not None:
            facts["max_numnodes"] = parse_nodes_shift(kernel.config.read_text())
        self.facts = facts
        return payload

    def run_all(self, cases: Sequence[Case]) -> list[Result]:
        from realnuma.vm.kernels import KernelFetchError
        from realnuma.vm.qemu import VmError

        # the boot takes the CPUs of CPU-less nodes offline before the command runs
        args = ["conformance.guest"]
        if {c.id for c in cases} != {c.id for c in all_cases()}:  # --clause: a short boot
            for clause in sorted({c.clause.id for c in cases}):
                args += ["--clause", clause]
        try:
            payload = self.run_in_guest(args)
        except (KernelFetchError, VmError, OSError, ValueError) as exc:
            return [Result(c, self.label, Outcome.ERROR, f"vm: {exc}") for c in cases]
        by_id = {r["case"]: r for r in payload["results"]}
        results = []
        for case in cases:
            r = by_id.get(case.id)
            if r is None:
                results.append(Result(case, self.label, Outcome.ERROR, "no result from the guest"))
                continue
            calls = tuple(
                (c[0], c[1], c[2], None if c[3] is None else tuple(c[3])) for c in r["calls"]
            )
            seconds = float(r.get("seconds", 0.0))  # the time the case took in the guest
            outcome = Outcome(r["outcome"])
            results.append(Result(case, self.label, outcome, r["detail"], calls, seconds))
        return results

    def mirror(self) -> SimBackend:
        if self.facts is None:
            raise RuntimeError("mirror() comes after run_all(): the guest's facts are needed")
        return mirror_of(self.label, self.facts)


def _source_root() -> str:
    """The directory this conformance package (and its simnuma, realnuma) is imported from."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _unknown(options: dict[str, str], kind: str) -> None:
    if options:
        known = ", ".join(o.name for o in spec_of(kind).options)
        raise ValueError(f"unknown options {sorted(options)} (known: {known})")


def _declared(options: dict[str, str], kind: str) -> dict[str, str]:
    """``options`` as a dict that refuses to hand out an option ``BACKEND_SPECS`` does not
    list for ``kind``: the parser cannot accept what --help does not show."""
    return _Declared(options, {o.name for o in spec_of(kind).options}, kind)


class _Declared(dict[str, str]):
    def __init__(self, options: dict[str, str], names: set[str], kind: str) -> None:
        super().__init__(options)
        self._names, self._kind = names, kind

    def _check(self, key: str) -> None:
        if key not in self._names:
            raise AssertionError(f"{self._kind} parses {key!r}, which BACKEND_SPECS does not list")

    def pop(self, key: str, *default: Any) -> Any:
        self._check(key)
        return super().pop(key, *default)

    def __contains__(self, key: object) -> bool:
        self._check(str(key))
        return super().__contains__(key)


def parse_backends(spec: str) -> list[Backend]:
    """One spec -> backends (``sim:profile=all`` expands to every named profile); a bad
    spec is a ValueError saying ``backend '<spec>': <the problem>``."""
    if not isinstance(spec, str):
        raise TypeError(f"backend spec must be str, not {type(spec).__name__}")
    try:
        return _parse(spec)
    except ValueError as exc:
        raise ValueError(f"backend {spec!r}: {exc}") from None


def _parse(spec: str) -> list[Backend]:
    kind, _, rest = spec.partition(":")
    if kind == "sim":
        options = _declared(parse_options(rest), "sim")
        profile = options.pop("profile", None)
        # node ids run 0..MAX_NUMNODES-1 (SimKernel refuses a node beyond); nodes counts
        # every node, as for vm: the last `memoryless` of them have no memory
        limit = SimBackend.max_numnodes
        memory, memoryless = node_counts(options, 4, limit)
        _unknown(options, "sim")
        if profile == "all":
            return [SimBackend(p.name, memory, memoryless) for p in named_profiles()]
        resolve_profile(profile)  # a bad profile is reported now, not per case
        return [SimBackend(profile, memory, memoryless)]
    if kind == "host":
        if rest not in ("", "libnuma"):
            raise ValueError("host takes no options but 'libnuma'")
        _require_extension()
        return [HostBackend(libnuma=rest == "libnuma")]
    if kind == "vm":
        from realnuma.vm.kernels import SUITES
        from realnuma.vm.qemu import MAX_NODES, VmTopology, host_memory_mib

        options = _declared(parse_options(rest), "vm")
        release = options.pop("kernel", None)
        modules = options.pop("modules", None)
        known = "|".join(SUITES)
        if release is None:
            raise ValueError(f"vm needs kernel={known} or kernel=PATH (a bzImage or kernel tree)")
        if release not in SUITES and "/" not in release and not os.path.exists(release):
            raise ValueError(
                f"vm needs kernel={known}, not {release!r} (or kernel=PATH: a bzImage or a "
                "built kernel tree)"
            )
        nodes = pop_count(options, "nodes", 3, 1, MAX_NODES)
        many = nodes >= 3
        memory_mib = pop_count(options, "mem", 512, 64, host_memory_mib())
        memoryless = pop_count(options, "memoryless", 1 if many else 0, 0, nodes)
        cpuless = pop_count(options, "cpuless", 1 if many else 0, 0, nodes)
        distance = pop_count(options, "distance", 20, 0, 1000) if "distance" in options else None
        _unknown(options, "vm")
        _require_extension()  # the guest runs the host backend on this root's realnuma
        topology = VmTopology.build(
            nodes, memory_mib=memory_mib, memoryless=memoryless, cpuless=cpuless, distance=distance
        )
        return [VmBackend(release, topology, modules=modules)]
    raise ValueError(f"unknown kind {kind!r} (known: {', '.join(_KINDS)})")


def _require_extension() -> None:
    """The host and vm backends make real syscalls through realnuma's C extension."""
    from realnuma.extension import missing

    problem = missing()
    if problem:
        raise ValueError(problem)


@dataclass(frozen=True)
class SpecOption:
    name: str
    default: str
    meaning: str


@dataclass(frozen=True)
class BackendSpec:
    """One form of ``--backend``: what it runs and the ``key=value`` options it takes."""

    spec: str
    meaning: str
    options: tuple[SpecOption, ...] = ()


REQUIRED = "required"  # an option's default when it has none

# What --help shows for --backend, and the only options the parser may take.
BACKEND_SPECS = (
    BackendSpec(
        "sim",
        "the simulator (pure Python: no compiler, no root, nothing real touched)",
        (
            SpecOption(
                "profile",
                "the newest",
                "a release (4.9, 6.1.55) or profile name (see --list-profiles); "
                "'all': one backend per profile",
            ),
            SpecOption("nodes", "4", "NUMA nodes in all (ids 0..nodes-1), as for vm"),
            SpecOption(
                "memoryless",
                "1 if nodes >= 3, else 0",
                "how many of them (the last ones) have no memory; at least one keeps memory",
            ),
        ),
    ),
    BackendSpec(
        "host",
        "this machine's kernel: real helper processes calling syscall(2) (needs root "
        "and realnuma's C extension)",
    ),
    BackendSpec("host:libnuma", "the same through libnuma's wrappers (libnuma-dev at install)"),
    BackendSpec(
        "vm",
        "a Debian kernel or your own, booted under QEMU with emulated NUMA nodes; the suite "
        "runs in the guest through the host backend (needs root, qemu-system-x86, busybox-static)",
        (
            SpecOption(
                "kernel",
                REQUIRED,
                "a Debian release (5.10, 6.1, 6.12, 7.2), or PATH: a bzImage/vmlinuz or a "
                "built kernel tree",
            ),
            SpecOption(
                "modules",
                "the Debian package's, the tree's, or none",
                "a lib/modules/<version> directory for a kernel given by PATH",
            ),
            SpecOption("nodes", "3", "NUMA nodes in all (ids 0..nodes-1), as for sim"),
            SpecOption("mem", "512", "MiB of memory per node that has memory"),
            SpecOption(
                "memoryless",
                "1 if nodes >= 3, else 0",
                "how many of them (the last ones) have no memory; at least one keeps memory",
            ),
            SpecOption(
                "cpuless",
                "1 if nodes >= 3, else 0",
                "how many nodes with memory after node 0 have no CPU",
            ),
            SpecOption(
                "distance", "QEMU's: 10 local, 20 remote", "distance between two nodes, 11..254"
            ),
        ),
    ),
)

_KINDS = tuple(dict.fromkeys(s.spec.partition(":")[0] for s in BACKEND_SPECS))


def spec_of(kind: str) -> BackendSpec:
    """The BACKEND_SPECS entry of ``kind`` (``sim``, ``host``, ``vm``)."""
    for s in BACKEND_SPECS:
        if s.spec == kind:
            return s
    raise KeyError(kind)


def backend_help(width: int = 100) -> str:
    """The --help epilog: every backend spec, its options, their defaults and meaning."""
    import textwrap

    lines = ["backend specs (--backend SPEC; options as SPEC:key=value,key=value):"]
    for s in BACKEND_SPECS:
        lines += textwrap.wrap(
            s.meaning, width, initial_indent=f"  {s.spec:<14}", subsequent_indent=" " * 16
        )
        for o in s.options:
            text = (
                f"{o.meaning} ({'required' if o.default == REQUIRED else 'default: ' + o.default})"
            )
            lines += textwrap.wrap(
                text, width, initial_indent=f"    {o.name + '=':<12}", subsequent_indent=" " * 16
            )
    lines += [
        "",
        "examples: sim:profile=all  sim:profile=5.4,nodes=2  host  vm:kernel=6.12,nodes=4",
    ]
    return "\n".join(lines)
