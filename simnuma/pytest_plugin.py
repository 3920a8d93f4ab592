"""pytest plugin (entry point ``pytest11: simnuma.pytest_plugin``): a NUMA kernel per test.

``numa_kernel`` is a fresh simulated kernel (``simnuma.SimKernel``) for each test, with
the topology and kernel release its ``numa`` marker asks for::

    @pytest.mark.numa(nodes=4, memoryless=[3], profile="5.10")
    def test_spread(numa_kernel):
        p = numa_kernel.spawn()
        ...

    @pytest.mark.numa(nodes=2, profiles=["5.10", "6.1", "6.12"])  # test_x[5.10] ...
    def test_x(numa_kernel): ...

Marker arguments (all keywords, all optional):

- ``nodes``: how many nodes (ids 0..n-1), or their ids (``[0, 2, 5]``); every node,
  memoryless ones included.  Default 2.
- ``memoryless``, ``cpuless``: ids among ``nodes`` without memory / without CPUs.
- ``memory``: bytes of memory of each node that has memory (default 4 GiB).
- ``profile``: one release (``"5.10"``, ``"6.16+"``); ``profiles``: a list of them, or
  ``"all"`` for every named profile: the test is parametrized, its ids the releases.
- ``max_numnodes``: the kernel's MAX_NUMNODES (default 1024).
- ``features``: world-building the test needs (``simnuma.abi.WORLD_FEATURES``:
  ``"thp"``, ``"pin"``, ``"isolate"``...); a backend without one skips the test.

``--numa-backend`` picks what ``numa_kernel`` is:

- ``sim`` (default), ``sim:profile=P`` (the release of tests whose marker names none;
  ``profile=all`` parametrizes them over every profile), ``sim:nodes=N,memoryless=M``
  (the topology of tests whose marker names none, as in ``numa-conformance``: N nodes
  in all, the last M of them without memory);
- ``host`` / ``host:libnuma``: a ``realnuma.HostKernel`` on the running kernel (root
  needed), when the host has what the marker asks (the node ids, memoryless and
  CPU-less as asked, the features; a test parametrized over profiles runs for the
  profile the host's release belongs to); otherwise the test is skipped with the
  precise reason (``needs 4 nodes with node 3 memoryless; host has nodes [0] with
  memory on [0]``);
- ``vm:kernel=K[,nodes=N,memoryless=M,cpuless=C,mem=MIB,distance=D]``: the whole
  pytest run again, inside a QEMU guest booting Debian's kernel K or the kernel at
  path K (``numa-run``, whose flags these are), with ``--numa-backend host``; its exit
  status is this run's.

On the simulator a failing test's report has a section saying why the kernel answered
its last three NUMA calls as it did (``CallRecord.explain()``: clause, releases, check).

Importing this module loads neither the simulator nor ``realnuma``: they are imported
when a test asks for a kernel, and ``realnuma`` only for the host and vm backends.
"""

from __future__ import annotations

import collections
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from simnuma.specs import node_counts, parse_options, pop_count

if TYPE_CHECKING:
    from realnuma.probe import HostFacts
    from simnuma.abi import Kernel

__all__ = [
    "HOST_FACTS",
    "BackendSpec",
    "NumaRequest",
    "parse_backend",
    "parse_marker",
    "profile_id",
]

MARKER = "numa"
MARKER_HELP = (
    "numa(nodes=2, memoryless=[], cpuless=[], memory=4 GiB, profile=None | profiles=[...] | "
    '"all", max_numnodes=1024, features=[]): the topology, kernel release(s) and '
    "world-building features of the numa_kernel fixture (simnuma)"
)
ARGUMENTS = (
    "nodes",
    "memoryless",
    "cpuless",
    "memory",
    "profile",
    "profiles",
    "max_numnodes",
    "features",
)
# vm:...'s options, numa-run's (and numa-conformance's vm spec's) flags
VM_OPTIONS = ("kernel", "nodes", "memoryless", "cpuless", "mem", "distance")
GIB = 1 << 30
PAGE_SIZE = 4096
DEFAULT_NODES = 2
MAX_NUMNODES = 1024  # SimKernel's default


# --------------------------------------------------------------------------- the marker
@dataclass(frozen=True)
class NumaRequest:
    """What a test's ``numa`` marker asks for (``nodes`` None: the backend's default)."""

    nodes: tuple[int, ...] | None = None
    memoryless: frozenset[int] = frozenset()
    cpuless: frozenset[int] = frozenset()
    memory: int = 4 * GIB
    profiles: tuple[str, ...] | None = None  # None: the backend's; one: fixed
    parametrized: bool = False  # profiles=: one test per profile
    max_numnodes: int = MAX_NUMNODES
    features: frozenset[str] = frozenset()

    def layout(self, default: Sequence[tuple[int, bool, bool]]) -> dict[int, tuple[bool, bool]]:
        """node id -> (has memory, has CPUs); ``default`` when the marker names no nodes."""
        if self.nodes is None:
            return {n: (memory, cpus) for n, memory, cpus in default}
        return {n: (n not in self.memoryless, n not in self.cpuless) for n in self.nodes}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ids(name: str, value: object) -> frozenset[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of node ids, not {type(value).__name__}")
    ids = list(value)
    for n in ids:
        if not _is_int(n):
            raise TypeError(f"{name}: node id {n!r} must be int, not {type(n).__name__}")
        if n < 0:
            raise ValueError(f"{name}: node id {n} must be >= 0")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{name}: {ids} names a node twice")
    return frozenset(ids)


def parse_marker(args: Sequence[object], kwargs: Mapping[str, object]) -> NumaRequest:
    """The ``numa`` marker's arguments -> NumaRequest; TypeError/ValueError naming the
    argument that is wrong."""
    from simnuma.abi import WORLD_FEATURES
    from simnuma.profiles import named_profiles, resolve_profile

    if args:
        raise TypeError(
            f"takes keyword arguments only ({', '.join(ARGUMENTS)}), got positional {list(args)}"
        )
    unknown = sorted(set(kwargs) - set(ARGUMENTS))
    if unknown:
        raise TypeError(f"unknown argument {unknown[0]!r} (known: {', '.join(ARGUMENTS)})")
    nodes: tuple[int, ...] | None = None
    if "nodes" in kwargs:
        value = kwargs["nodes"]
        if _is_int(value):
            assert isinstance(value, int)
            if value < 1:
                raise ValueError(f"nodes must be >= 1, got {value}")
            nodes = tuple(range(value))
        else:
            try:
                ids = _ids("nodes", value)
            except TypeError:
                raise TypeError(
                    f"nodes must be a count or a list of node ids, not {type(value).__name__}"
                ) from None
            if not ids:
                raise ValueError("nodes: a topology needs at least one node")
            nodes = tuple(sorted(ids))
    known = nodes if nodes is not None else tuple(range(DEFAULT_NODES))
    memoryless = _ids("memoryless", kwargs.get("memoryless", ()))
    cpuless = _ids("cpuless", kwargs.get("cpuless", ()))
    for name, ids in (("memoryless", memoryless), ("cpuless", cpuless)):
        stray = sorted(ids - set(known))
        if stray:
            hint = "" if nodes is not None else " (the default; set nodes=)"
            raise ValueError(f"{name}: node {stray[0]} is not among nodes {list(known)}{hint}")
        if ids and nodes is None:
            nodes = known
    both = sorted(memoryless & cpuless)
    if both:
        raise ValueError(f"memoryless, cpuless: node {both[0]} would have neither memory nor CPUs")
    if memoryless >= set(known):
        raise ValueError(f"memoryless: {sorted(memoryless)} leaves no node with memory")
    if cpuless >= set(known):
        raise ValueError(f"cpuless: {sorted(cpuless)} leaves no node with CPUs")
    memory = kwargs.get("memory", 4 * GIB)
    if not _is_int(memory):
        raise TypeError(f"memory must be int (bytes per node), not {type(memory).__name__}")
    assert isinstance(memory, int)
    if memory < PAGE_SIZE:
        raise ValueError(f"memory must be at least a page ({PAGE_SIZE} bytes), got {memory}")
    max_numnodes = kwargs.get("max_numnodes", MAX_NUMNODES)
    if not _is_int(max_numnodes):
        raise TypeError(f"max_numnodes must be int, not {type(max_numnodes).__name__}")
    assert isinstance(max_numnodes, int)
    if max_numnodes <= max(known):
        raise ValueError(f"max_numnodes={max_numnodes}: node {max(known)} is beyond it")
    features = kwargs.get("features", ())
    if isinstance(features, (str, bytes)) or not isinstance(features, Iterable):
        raise TypeError(f"features must be a list of names, not {type(features).__name__}")
    wanted = list(features)
    for f in wanted:
        if f not in WORLD_FEATURES:
            raise ValueError(
                f"features: unknown {f!r} (known: {', '.join(sorted(WORLD_FEATURES))})"
            )
    if "profile" in kwargs and "profiles" in kwargs:
        raise TypeError("give profile or profiles, not both")
    profiles: tuple[str, ...] | None = None
    parametrized = False
    if "profile" in kwargs:
        profile = kwargs["profile"]
        if not isinstance(profile, str):
            raise TypeError(f"profile must be str, not {type(profile).__name__}")
        profiles = (_checked_profile("profile", profile, resolve_profile),)
    elif "profiles" in kwargs:
        value = kwargs["profiles"]
        parametrized = True
        if value == "all":
            profiles = tuple(p.name for p in named_profiles())
        elif isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise TypeError(
                f'profiles must be a list of releases or "all", not {type(value).__name__}'
            )
        else:
            listed = list(value)
            if not listed:
                raise ValueError('profiles: empty (name releases, or "all")')
            for p in listed:
                if not isinstance(p, str):
                    raise TypeError(f"profiles: {p!r} must be str, not {type(p).__name__}")
            if len(set(listed)) != len(listed):
                raise ValueError(f"profiles: {listed} names a release twice")
            profiles = tuple(_checked_profile("profiles", p, resolve_profile) for p in listed)
    return NumaRequest(
        nodes,
        memoryless,
        cpuless,
        memory,
        profiles,
        parametrized,
        max_numnodes,
        frozenset(wanted),
    )


def _checked_profile(name: str, spec: str, resolve: Any) -> str:
    try:
        resolve(spec)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: {exc}") from None
    return spec


def profile_id(spec: str) -> str:
    """A test id for a profile: the release as written, ASCII (``4.5-4.12``, ``6.12+``)."""
    return spec.replace("–", "-")


def request_of(node: pytest.Item | pytest.Function) -> NumaRequest:
    """The parsed ``numa`` marker closest to ``node`` (an empty request if none)."""
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return NumaRequest()
    return parse_marker(marker.args, marker.kwargs)


# --------------------------------------------------------------------------- the backend
@dataclass(frozen=True)
class BackendSpec:
    """``--numa-backend``: ``sim[:profile=P,nodes=N,memoryless=M]``, ``host[:libnuma]``,
    ``vm:kernel=K[,nodes=N,memoryless=M,cpuless=C,mem=MIB,distance=D]``."""

    kind: str  # "sim", "host", "vm"
    profile: str | None = None  # sim: the default release ("all": every profile)
    nodes: int = DEFAULT_NODES  # sim: default topology: nodes with memory ...
    memoryless: int = 0  # ... then nodes without (the spec's nodes= counts both)
    libnuma: bool = False  # host
    vm: dict[str, str] = field(default_factory=dict)  # vm: numa-run's options

    def default_layout(self) -> list[tuple[int, bool, bool]]:
        """The simulator's topology for a test whose marker names no nodes."""
        return [(n, n < self.nodes, True) for n in range(self.nodes + self.memoryless)]


def parse_backend(spec: str) -> BackendSpec:
    """``--numa-backend``'s value -> BackendSpec; ValueError saying what is wrong."""
    if not isinstance(spec, str):
        raise TypeError(f"backend must be str, not {type(spec).__name__}")
    try:
        return _parse_backend(spec)
    except ValueError as exc:
        raise ValueError(f"--numa-backend {spec!r}: {exc}") from None


def _parse_backend(spec: str) -> BackendSpec:
    kind, _, rest = spec.partition(":")
    if kind == "host":
        if rest not in ("", "libnuma"):
            raise ValueError("host takes no options but 'libnuma'")
        return BackendSpec("host", libnuma=rest == "libnuma")
    options = parse_options(rest)
    if kind == "sim":
        profile = options.pop("profile", None)
        if profile is not None and profile != "all":
            from simnuma.profiles import resolve_profile

            resolve_profile(profile)
        memory, memoryless = node_counts(options, DEFAULT_NODES, MAX_NUMNODES)
        if options:
            raise ValueError(
                f"unknown options {sorted(options)} (known: profile, nodes, memoryless)"
            )
        return BackendSpec("sim", profile, memory, memoryless)
    if kind == "vm":
        if "kernel" not in options:
            raise ValueError("vm needs kernel=RELEASE (or a path to a kernel), e.g. vm:kernel=6.12")
        for key in VM_OPTIONS[1:]:
            if key in options:
                pop_count(dict(options), key, 0, 0, 1 << 20)
        unknown = sorted(set(options) - set(VM_OPTIONS))
        if unknown:
            raise ValueError(f"unknown options {unknown} (known: {', '.join(VM_OPTIONS)})")
        return BackendSpec("vm", vm=options)
    raise ValueError(f"unknown kind {kind!r} (known: sim, host, vm)")


_BACKEND = pytest.StashKey[BackendSpec]()
# the host's facts, probed once per session (a test may put fake ones here first)
HOST_FACTS = pytest.StashKey["HostFacts"]()


def backend_of(config: pytest.Config) -> BackendSpec:
    spec = config.stash.get(_BACKEND, None)
    if spec is None:
        spec = _from_option(config)
        config.stash[_BACKEND] = spec
    return spec


def _from_option(config: pytest.Config) -> BackendSpec:
    try:
        return parse_backend(config.getoption("numa_backend"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def host_facts(config: pytest.Config) -> HostFacts:
    """The running kernel's facts, probed once per session."""
    facts = config.stash.get(HOST_FACTS, None)
    if facts is None:
        from realnuma.probe import probe

        facts = probe()
        config.stash[HOST_FACTS] = facts
    return facts


# --------------------------------------------------------------------------- hooks
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("simnuma", "simnuma: the numa_kernel fixture")
    group.addoption(
        "--numa-backend",
        dest="numa_backend",
        default="sim",
        metavar="SPEC",
        help=(
            "what numa_kernel is: sim[:profile=P|all] (the simulator; default), host[:libnuma] "
            "(the running kernel, skipping what it cannot give), vm:kernel=K[,nodes=N,"
            "memoryless=M,cpuless=C,mem=MIB,distance=D] (this run again inside QEMU booting "
            "Debian's kernel K, through numa-run)"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    backend_of(config)  # a bad --numa-backend is a usage error before collection


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--numa-backend vm:...``: run this same pytest inside the guest, on its kernel."""
    spec = _from_option(config)
    if spec.kind != "vm":
        return None
    command = numa_run_command(spec, config.invocation_params.args)
    return subprocess.call(command, cwd=config.invocation_params.dir)


def numa_run_command(spec: BackendSpec, args: Sequence[str]) -> list[str]:
    """``numa-run --kernel K [--nodes N ...] -- python -m pytest ARGS --numa-backend host``."""
    runner = shutil.which("numa-run")
    if runner is not None:
        command = [runner]
    elif importlib.util.find_spec("realnuma.vm.numa_run") is not None:
        command = [sys.executable, "-m", "realnuma.vm.numa_run"]
    else:
        raise pytest.UsageError("--numa-backend vm: numa-run is not installed (realnuma.vm)")
    command += ["--kernel", spec.vm["kernel"]]
    for key in VM_OPTIONS[1:]:
        if key in spec.vm:
            command += [f"--{key}", spec.vm[key]]
    inner: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--numa-backend":
            if rest:
                rest.pop(0)
            continue
        if arg.startswith("--numa-backend="):
            continue
        inner.append(arg)
    inner += ["--numa-backend", "host"]
    if not any(a == "no:cacheprovider" for a in inner):
        inner += ["-p", "no:cacheprovider"]  # the guest sees the host's files read-only
    # -P: as the pytest command does, never the current directory first on sys.path (a
    # checkout there would shadow the installed package, built extension and all)
    return [*command, "--", sys.executable, "-P", "-m", "pytest", *inner]


def pytest_report_header(config: pytest.Config) -> str | None:
    spec = backend_of(config)
    if spec.kind == "sim":
        from simnuma.profiles import resolve_profile

        profile = "every profile" if spec.profile == "all" else resolve_profile(spec.profile).name
        return f"numa backend: simulator ({profile} unless a test's marker names releases)"
    if spec.kind == "host":
        facts = host_facts(config)
        return (
            f"numa backend: host kernel {facts.release}, nodes {facts.online_nodes}, "
            f"memory on {facts.memory_nodes}{' through libnuma' if spec.libnuma else ''}"
        )
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None and "numa_kernel" not in metafunc.fixturenames:
        return
    try:
        request = request_of(metafunc.definition)
    except (TypeError, ValueError) as exc:
        problem = f"{metafunc.definition.name}: @pytest.mark.{MARKER}: {exc}"
    else:
        problem = ""
    if problem:
        pytest.fail(problem, pytrace=False)
    if "numa_profile" not in metafunc.fixturenames:
        return
    profiles = request.profiles if request.parametrized else None
    spec = backend_of(metafunc.config)
    if request.profiles is None and spec.kind == "sim" and spec.profile == "all":
        from simnuma.profiles import named_profiles

        profiles = tuple(p.name for p in named_profiles())
    if profiles is not None:
        metafunc.parametrize("numa_profile", profiles, ids=[profile_id(p) for p in profiles])


# a failing test's report shows why the simulator answered its last calls so
EXPLAINED_CALLS = 3


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    kernel = getattr(item, "funcargs", {}).get("numa_kernel")
    log = getattr(kernel, "call_log", None)
    if report.when == "call" and report.failed and log:
        text = "\n\n".join(record.explain() for record in log)
        report.sections.append(("simnuma: why the last NUMA calls were answered so", text))


@pytest.fixture
def numa_profile(request: pytest.FixtureRequest) -> str | None:
    """The kernel release ``numa_kernel`` simulates (None: the newest); parametrized by
    ``profiles=`` in the marker or ``--numa-backend sim:profile=all``."""
    numa = request_of(request.node)
    if numa.profiles is not None:
        return numa.profiles[0]
    spec = backend_of(request.config)
    return spec.profile if spec.kind == "sim" else None


@pytest.fixture
def numa_kernel(request: pytest.FixtureRequest, numa_profile: str | None) -> Iterator[Kernel]:
    """A fresh kernel for this test (closed after it): the simulator, or with
    ``--numa-backend host`` the running kernel when it has what the marker asks."""
    numa = request_of(request.node)
    spec = backend_of(request.config)
    if spec.kind == "sim":
        kernel = _sim_kernel(numa, spec, numa_profile)
    else:
        kernel = _host_kernel(numa, spec, numa_profile, request.config)
    try:
        yield kernel
    finally:
        kernel.close()


def _sim_kernel(numa: NumaRequest, spec: BackendSpec, profile: str | None) -> Kernel:
    from simnuma.kernel import SimKernel
    from simnuma.topology import NodeSpec, Topology

    layout = numa.layout(spec.default_layout())
    topology = Topology(
        {
            n: NodeSpec(memory=numa.memory if memory else 0, cpus=cpus)
            for n, (memory, cpus) in layout.items()
        }
    )
    kernel = SimKernel(topology=topology, profile=profile, max_numnodes=numa.max_numnodes)
    kernel.call_log = collections.deque(maxlen=EXPLAINED_CALLS)  # said when a test fails
    missing = numa.features - kernel.features
    if missing:
        pytest.skip(f"{', '.join(sorted(missing))} not available on {kernel.release}")
    return kernel


def _host_kernel(
    numa: NumaRequest, spec: BackendSpec, profile: str | None, config: pytest.Config
) -> Kernel:
    from simnuma.profiles import resolve_profile

    facts = host_facts(config)
    if profile is not None:
        asked, host = resolve_profile(profile), resolve_profile(facts.release)
        if asked.name != host.name:
            named = "" if asked.name == profile else f" ({asked.name})"
            pytest.skip(
                f"profile {profile}{named}: the host runs {facts.release} (profile {host.name})"
            )
    from realnuma.binding import libnuma_available
    from realnuma.fit import layout_shortfall, missing_features
    from realnuma.host import HostKernel

    if spec.libnuma and not libnuma_available():
        pytest.skip("realnuma was built without libnuma's headers (libnuma-dev)")
    layout = numa.layout([]) if numa.nodes is not None else {}
    reason = layout_shortfall(facts, layout)
    if reason is not None:
        pytest.skip(reason)
    kernel = HostKernel(libnuma=spec.libnuma)
    reason = missing_features(kernel.features, numa.features, kernel.lacks)
    if reason is not None:
        kernel.close()
        pytest.skip(reason)
    return kernel
