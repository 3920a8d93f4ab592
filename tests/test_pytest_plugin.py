"""The pytest plugin (numa_kernel, the numa marker, --numa-backend), the strategies
of simnuma.strategies, and the conformance suite run through pytest."""

from __future__ import annotations

import errno
import importlib.metadata
import os
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from subprocs import python_output

from simnuma.abi import SyscallError, move_pages_raw
from simnuma.abi.arrays import default_maxnode, migrate_pages_raw
from simnuma.abi.quirks import Quirk
from simnuma.frames import ISOLATED, THP
from simnuma.profiles import named_profiles
from simnuma.pytest_plugin import (
    NumaRequest,
    parse_backend,
    parse_marker,
    profile_id,
)
from simnuma.strategies import (
    MIGRATE_PAGES_DEFECTS,
    MOVE_PAGES_DEFECTS,
    PAGE_KINDS,
    NumaWorld,
    migrate_pages_args,
    move_pages_args,
    topologies,
    worlds,
)
from simnuma.topology import Topology

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


def _plugin_args() -> list[str]:
    """``-p simnuma.pytest_plugin`` unless the installed entry point loads it already."""
    installed = any(
        ep.value == "simnuma.pytest_plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )
    if installed:
        return []
    # (this file imported the module already: it cannot be assertion-rewritten, fine)
    return ["-p", "simnuma.pytest_plugin", "-W", "ignore::pytest.PytestAssertRewriteWarning"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", *_plugin_args(), *args)


# --------------------------------------------------------------------------- the marker
def test_marker_arguments() -> None:
    r = parse_marker((), {"nodes": 4, "memoryless": [3], "profile": "5.10"})
    assert r == NumaRequest(nodes=(0, 1, 2, 3), memoryless=frozenset({3}), profiles=("5.10",))
    assert r.layout([]) == {0: (True, True), 1: (True, True), 2: (True, True), 3: (False, True)}
    sparse = parse_marker((), {"nodes": [0, 5, 2], "cpuless": [5]})
    assert sparse.nodes == (0, 2, 5) and sparse.layout([])[5] == (True, False)
    every = parse_marker((), {"profiles": "all"})
    assert every.parametrized and every.profiles == tuple(p.name for p in named_profiles())
    assert parse_marker((), {}).layout([(0, True, True)]) == {0: (True, True)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"node": 2}, r"unknown argument 'node' \(known: nodes, memoryless"),
        ({"nodes": 0}, r"nodes must be >= 1, got 0"),
        ({"nodes": "4"}, r"nodes must be a count or a list of node ids, not str"),
        ({"nodes": [0, 0]}, r"nodes: \[0, 0\] names a node twice"),
        ({"nodes": [-1, 0]}, r"nodes: node id -1 must be >= 0"),
        ({"nodes": 4, "memoryless": [4]}, r"memoryless: node 4 is not among nodes \[0, 1, 2, 3\]"),
        ({"memoryless": [3]}, r"memoryless: node 3 is not among nodes \[0, 1\] \(the default; set"),
        ({"nodes": 2, "memoryless": 1}, r"memoryless must be a list of node ids, not int"),
        ({"nodes": 2, "memoryless": [0, 1]}, r"memoryless: \[0, 1\] leaves no node with memory"),
        ({"nodes": 2, "cpuless": [0, 1]}, r"cpuless: \[0, 1\] leaves no node with CPUs"),
        ({"nodes": 2, "memoryless": [1], "cpuless": [1]}, r"node 1 would have neither"),
        ({"profile": "1.0"}, r"profile: .*first appeared in 2\.6\.18"),
        ({"profile": 5.10}, r"profile must be str, not float"),
        ({"profiles": []}, r"profiles: empty"),
        ({"profiles": "6.1"}, r'profiles must be a list of releases or "all", not str'),
        ({"profiles": ["6.1", "6.1"]}, r"profiles: \['6\.1', '6\.1'\] names a release twice"),
        ({"profile": "6.1", "profiles": ["6.1"]}, r"give profile or profiles, not both"),
        ({"memory": 100}, r"memory must be at least a page"),
        ({"nodes": 4, "max_numnodes": 3}, r"max_numnodes=3: node 3 is beyond it"),
        ({"features": ["pins"]}, r"features: unknown 'pins'"),
        ({"features": "pin"}, r"features must be a list of names, not str"),
    ],
)
def test_bad_marker_arguments_name_the_argument(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        parse_marker((), kwargs)


def test_marker_takes_keywords_only() -> None:
    with pytest.raises(TypeError, match=r"keyword arguments only .* got positional \[4\]"):
        parse_marker((4,), {})


def test_a_bad_marker_is_a_collection_error_naming_test_and_argument(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.numa(nodes=4, memoryles=[3])
        def test_typo(numa_kernel):
            pass
        """
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*test_typo: @pytest.mark.numa: unknown argument 'memoryles'*"])


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.numa(nodes=1)
        def test_one(numa_kernel):
            assert numa_kernel.node_ids() == [0]
        """
    )
    result = run(pytester, "--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=1)
    assert "numa(nodes=2" in "\n".join(run(pytester, "--markers").outlines)


# --------------------------------------------------------------------------- the simulator
def test_the_fixture_is_the_kernel_the_marker_asks_for(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.numa(nodes=[0, 2, 5], memoryless=[5], cpuless=[2], profile="4.9",
                          memory=64 << 20, max_numnodes=8)
        def test_topology(numa_kernel, numa_profile):
            k = numa_kernel
            assert numa_profile == "4.9" and k.release == "4.9"
            assert k.node_ids() == [0, 2, 5] and k.memory_node_ids() == [0, 2]
            assert k.cpu_node_ids() == [0, 5] and k.max_numnodes == 8
            assert k.nodes[0].capacity == (64 << 20) // 4096

        def test_default(numa_kernel, numa_profile):
            assert numa_profile is None and numa_kernel.node_ids() == [0, 1]
            assert numa_kernel.memory_node_ids() == [0, 1]

        KERNELS = []

        @pytest.mark.parametrize("i", [1, 2])
        def test_fresh_per_test(numa_kernel, i):
            KERNELS.append(numa_kernel)
            assert numa_kernel.spawn().pid == 1000  # nothing left from the other test
            if i == 2:
                assert KERNELS[0] is not KERNELS[1] and not KERNELS[0].tasks.get(1000)
        """
    )
    run(pytester).assert_outcomes(passed=4)


def test_profiles_parametrize_with_release_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.numa(profiles=["5.10", "6.1", "6.16+"])
        def test_x(numa_kernel, numa_profile):
            assert numa_kernel.release == numa_profile.rstrip("+")

        @pytest.mark.numa(profiles="all")
        def test_all(numa_kernel):
            pass
        """
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=3 + len(named_profiles()))
    result.stdout.fnmatch_lines(
        [
            "*test_x?5.10? PASSED*",
            "*test_x?6.1? PASSED*",
            "*test_x?6.16+? PASSED*",
            "*test_all?2.6.18-2.6.27? PASSED*",
            "*test_all?4.5-4.12? PASSED*",
        ]
    )
    # -k selects by release
    run(pytester, "-k", "test_x and 5.10").assert_outcomes(passed=1)
    assert profile_id("4.5–4.12") == "4.5-4.12"


def test_features_missing_on_a_release_skip(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.numa(profiles=["2.6.37", "2.6.38"], features=["thp"])
        def test_thp(numa_kernel):
            assert "thp" in numa_kernel.features
        """
    )
    result = run(pytester, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*thp not available on 2.6.37*"])


def test_backend_sim_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_unmarked(numa_kernel):
            print("KERNEL", numa_kernel.release, numa_kernel.node_ids(),
                  numa_kernel.memory_node_ids())

        @pytest.mark.numa(nodes=1, profile="6.1")
        def test_marked(numa_kernel):
            assert numa_kernel.release == "6.1" and numa_kernel.node_ids() == [0]
        """
    )
    result = run(pytester, "-s", "--numa-backend", "sim:profile=5.4,nodes=4,memoryless=1")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*KERNEL 5.4 [[]0, 1, 2, 3] [[]0, 1, 2]*"])
    every = run(pytester, "--numa-backend", "sim:profile=all")
    every.assert_outcomes(passed=len(named_profiles()) + 1)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("simulator", "unknown kind 'simulator' (known: sim, host, vm)"),
        ("sim:profile=1.0", "first appeared in 2.6.18"),
        ("sim:nodes=x", "nodes must be an integer in 1..1024, not 'x'"),
        ("sim:nodes=2,memoryless=2", "at least one node needs memory"),
        ("sim:color=red", "unknown options ['color'] (known: profile, nodes, memoryless)"),
        ("host:numactl", "host takes no options but 'libnuma'"),
        ("vm:nodes=3", "vm needs kernel=RELEASE"),
        ("vm:kernel=6.12,memory=256", "unknown options ['memory']"),
        ("vm:kernel=6.12,mem=lots", "mem must be an integer in 0..1048576, not 'lots'"),
    ],
)
def test_a_bad_backend_is_a_usage_error(pytester: pytest.Pytester, spec: str, message: str) -> None:
    with pytest.raises(ValueError, match="--numa-backend"):
        parse_backend(spec)
    pytester.makepyfile("def test_nothing(): pass")
    result = run(pytester, "--numa-backend", spec)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


# --------------------------------------------------------------------------- the host
def _facts(**changes: Any) -> Any:
    from realnuma.probe import HostFacts

    base: dict[str, Any] = dict(
        release="6.1.0-18-amd64",
        possible_nodes=[0, 1],
        online_nodes=[0, 1],
        memory_nodes=[0],
        cpu_nodes=[0, 1],
        cap_sys_nice=True,
        cap_sys_ptrace=True,
        is_root=True,
        cpusets=None,
        cpuset_reason="no cpuset controller mounted",
        numa_balancing=0,
        thp="madvise",
        hugepages=0,
        max_numnodes=64,
    )
    return HostFacts(**{**base, **changes})


def test_shortfall_reads_as_the_suite_always_said() -> None:
    """The conformance host backend's reasons (realnuma.fit.shortfall)."""
    from realnuma.fit import missing_features, shortfall

    two = _facts()  # nodes 0 and 1, memory on 0 only
    assert shortfall(two, memory_nodes=2) == "needs 2 memory nodes, host has 1"
    assert shortfall(two, memory_nodes=1, memoryless_node=True) is None
    full = _facts(memory_nodes=[0, 1])
    assert shortfall(full, memoryless_node=True) == "needs a node without memory, host has none"
    assert shortfall(_facts(is_root=False)) == (
        "needs root: helpers change uid, cpusets and capabilities"
    )
    assert missing_features({"pin"}, {"pin", "isolate", "hugetlb"}) == (
        "host cannot hugetlb: reserve huge pages (vm.nr_hugepages is 0); "
        "isolate: map a page that no LRU list holds (a packet socket's ring: root, CONFIG_PACKET)"
    )
    why = {"swap": "swap to zram (no /dev/zram0)"}  # a kernel's own reasons (HostKernel.lacks)
    assert (
        missing_features({"pin"}, {"swap"}, why) == "host cannot swap: swap to zram (no /dev/zram0)"
    )
    assert missing_features({"pin"}, {"pin"}) is None


def test_layout_shortfall_reads_precisely() -> None:
    from realnuma.fit import layout_shortfall

    one = _facts(online_nodes=[0], memory_nodes=[0], cpu_nodes=[0])
    four = {0: (True, True), 1: (True, True), 2: (True, True), 3: (False, True)}
    assert layout_shortfall(one, four) == (
        "needs 4 nodes with node 3 memoryless; host has nodes [0] with memory on [0]"
    )
    sparse = {0: (True, True), 4: (False, True), 6: (True, False)}
    assert layout_shortfall(_facts(), sparse) == (
        "needs nodes [0, 4, 6] with node 4 memoryless and node 6 CPU-less; "
        "host has nodes [0, 1] with memory on [0] and CPUs on [0, 1]"
    )
    two = _facts()  # node 1 is memoryless there
    assert layout_shortfall(two, {0: (True, True), 1: (False, True)}) is None
    assert layout_shortfall(two, {0: (True, True), 1: (True, True)}) == (
        "needs 2 nodes; host has nodes [0, 1] with memory on [0]"
    )
    assert layout_shortfall(_facts(is_root=False), {0: (True, True)}) == (
        "needs root: helpers change uid, cpusets and capabilities"
    )
    assert layout_shortfall(two, {}) is None  # unmarked: any machine


def test_host_skips_with_the_precise_reason(pytester: pytest.Pytester) -> None:
    """On a (fake) host with nodes [0, 1], memory on 0 only, at 6.1."""
    pytester.makeconftest(
        f"""
        from realnuma.probe import HostFacts
        from simnuma.pytest_plugin import HOST_FACTS

        def pytest_configure(config):
            config.stash[HOST_FACTS] = HostFacts(**{_facts().__dict__!r})
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.numa(nodes=4, memoryless=[3])
        def test_four(numa_kernel):
            pass

        @pytest.mark.numa(nodes=2)
        def test_two_with_memory(numa_kernel):
            pass

        @pytest.mark.numa(nodes=2, memoryless=[1], profiles=["5.10", "6.1", "6.12"])
        def test_releases(numa_kernel):
            pass
        """
    )
    result = run(pytester, "-rs", "--numa-backend", "host", "-k", "not 6.1]")
    result.assert_outcomes(skipped=4)
    result.stdout.fnmatch_lines_random(
        [
            "*needs 4 nodes with node 3 memoryless; host has nodes [[]0, 1] with memory on [[]0]",
            "*needs 2 nodes; host has nodes [[]0, 1] with memory on [[]0]",
            "*profile 5.10 (5.6–5.11): the host runs 6.1.0-18-amd64 (profile 6.1–6.2)",
            "*profile 6.12 (6.12–6.14): the host runs 6.1.0-18-amd64 (profile 6.1–6.2)",
        ]
    )
    result.stdout.fnmatch_lines(["numa backend: host kernel 6.1.0-18-amd64, nodes [[]0, 1]*"])


@pytest.mark.skipif(os.geteuid() != 0, reason="the host backend needs root")
def test_host_runs_what_fits_on_the_real_kernel(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest
        from realnuma import HostKernel

        @pytest.mark.numa(nodes=1, profiles=["2.6.32", "7.2"])
        def test_real(numa_kernel):
            assert isinstance(numa_kernel, HostKernel)
            p = numa_kernel.spawn()
            a = p.mmap(4096)
            p.touch(a, 4096)
            assert p.move_pages(0, [a], None, 0).status == [0]
            assert os.path.exists(f"/proc/{p.pid}")
            open("helper.pid", "w").write(str(p.pid))
        """
    )
    result = run(pytester, "-rs", "--numa-backend", "host")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*profile 2.6.32 (2.6.29–2.6.32): the host runs *"])
    from realnuma.procfs import is_live

    helper = int((pytester.path / "helper.pid").read_text())
    assert not is_live(helper), "the fixture closes its kernel: no helper survives the test"


# --------------------------------------------------------------------------- vm
def test_vm_reruns_the_same_pytest_in_the_guest(pytester: pytest.Pytester) -> None:
    """The outer pytest hands its own command line to numa-run, on the host backend,
    and exits with its status (a fake numa-run records what it was asked)."""
    record = pytester.path / "argv.txt"
    fake = pytester.path / "bin" / "numa-run"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"open({str(record)!r}, 'w').write('\\n'.join(sys.argv[1:]))\n"
        "sys.exit(3)\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    pytester.makepyfile("def test_nothing(): pass")
    os.environ["PATH"] = f"{fake.parent}:{os.environ['PATH']}"
    try:
        result = pytester.runpytest_subprocess(
            *_plugin_args(), "-k", "nothing", "--numa-backend=vm:kernel=6.12,nodes=3,memoryless=1"
        )
    finally:
        os.environ["PATH"] = os.environ["PATH"].split(":", 1)[1]
    assert result.ret == 3
    argv = record.read_text().split("\n")
    cut = argv.index("--")
    assert argv[:cut] == ["--kernel", "6.12", "--nodes", "3", "--memoryless", "1"]
    inner = argv[cut + 1 :]
    assert inner[:4] == [sys.executable, "-P", "-m", "pytest"]  # -P: cwd never shadows
    assert "-k" in inner and "nothing" in inner
    assert not any(a.startswith("--numa-backend=vm") for a in inner)
    assert inner[-4:] == ["--numa-backend", "host", "-p", "no:cacheprovider"]


def test_vm_command_drops_every_spelling_of_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from simnuma import pytest_plugin

    monkeypatch.setattr(pytest_plugin.shutil, "which", lambda name: f"/opt/bin/{name}")
    spec = parse_backend("vm:kernel=/boot/vmlinuz-6.12,cpuless=1")
    args = ["-x", "--numa-backend", "vm:kernel=6.12", "tests", "--numa-backend=vm:kernel=6.1"]
    assert pytest_plugin.numa_run_command(spec, args) == [
        "/opt/bin/numa-run",
        "--kernel",
        "/boot/vmlinuz-6.12",
        "--cpuless",
        "1",
        "--",
        sys.executable,
        "-P",
        "-m",
        "pytest",
        "-x",
        "tests",
        "--numa-backend",
        "host",
        "-p",
        "no:cacheprovider",
    ]


# --------------------------------------------------------------------------- import cost
def test_the_plugin_loads_neither_the_simulator_nor_realnuma() -> None:
    script = "import sys, simnuma.pytest_plugin\nprint(' '.join(sys.modules))"
    out = python_output(script).split()
    ours = {m for m in out if m.split(".")[0] in ("simnuma", "realnuma", "hypothesis")}
    assert ours == {"simnuma", "simnuma.pytest_plugin", "simnuma.specs"}, ours


def test_simnuma_works_without_hypothesis() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["hypothesis"] = None  # as if it were not installed
        from simnuma import SimKernel
        SimKernel(nodes=2).spawn()
        try:
            import simnuma.strategies
        except ImportError as exc:
            print("REFUSED", exc)
        """
    )
    out = python_output(script)
    assert "REFUSED simnuma.strategies needs hypothesis" in out, out


# --------------------------------------------------------------------------- strategies
@settings(max_examples=60, deadline=None)
@given(topology=topologies())
def test_topologies_are_valid_and_varied(topology: Topology) -> None:
    ids = sorted(topology.nodes)
    assert 1 <= len(ids) <= 4 and set(ids) <= {0, 1, 2, 3, 5, 9}
    assert any(n.memory for n in topology.nodes.values())
    assert any(n.cpus for n in topology.nodes.values())


@settings(max_examples=150, deadline=None)
@given(world=worlds(fork=st.booleans()))
def test_worlds_are_consistent_and_hold_their_kinds(world: NumaWorld) -> None:
    world.check()
    assert len(world.pages) == len(world.kinds) and set(world.kinds) <= set(PAGE_KINDS)
    where = world.process.move_pages(0, world.pages, None, 0).status
    for addr, kind, status in zip(world.pages, world.kinds, where, strict=True):
        if kind in ("touched", "pinned", "shared", "file", "isolated", "thp", "hugetlb"):
            assert status in world.kernel.memory_node_ids(), (kind, status)
        elif kind == "unmapped":
            assert status in (-errno.EFAULT, -errno.ENOENT), (kind, status)
            assert world.process.mm is not None and world.process.mm.vma_lookup(addr) is None
        elif kind == "swapped":
            assert status == -errno.ENOENT
        else:  # zero page, untouched: no page of its own
            assert status in (-errno.EFAULT, -errno.ENOENT), (kind, status)
        mm = world.process.mm
        assert mm is not None
        frame = mm.pt.get(addr // 4096)
        if kind == "pinned":
            assert frame is not None and frame.pins == 1
        if kind == "isolated":
            assert frame is not None and frame.flags & ISOLATED
        if kind == "thp":
            assert frame is not None and frame.flags & THP
    if world.child is not None:  # forked after set-up: the child maps the shared pages
        shared = [a for a, kind in zip(world.pages, world.kinds, strict=True) if kind == "shared"]
        child = world.child.move_pages(0, shared, None, 0).status
        assert all(n >= 0 for n in child), child


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_move_pages_args_valid_and_invalid(data: st.DataObject) -> None:
    world = data.draw(worlds(cpuset_mems=st.none()), "world")
    args = data.draw(move_pages_args(world), "args")
    p = world.process
    ret, err, _ = move_pages_raw(p, args.pid, args.pages, args.nodes, args.flags)
    world.check()
    assert set(args.defects) <= set(MOVE_PAGES_DEFECTS)
    whole_array = world.kernel.profile.has(Quirk.MOVE_PAGES_WHOLE_ARRAY)
    if "bad_flags" in args.defects:
        assert (ret, err) == (-1, errno.EINVAL)
    elif {"node_out_of_range", "offline_node", "memoryless_node"} & set(args.defects):
        # a batch flushed before the bad entry that left pages behind ends the call first
        ended_early = ret > 0 and world.kernel.profile.has(Quirk.MOVE_PAGES_NODE_BATCHES)
        assert (ret, err) == (-1, errno.ENODEV) or ended_early, (ret, err)
    elif ret == -1:  # valid, or page defects only: no error of the call but 2.6.18's
        assert err == errno.ENOENT and whole_array, (err, args)
    if not args.defects:
        assert len(set(args.pages)) == len(args.pages)
        assert all(a % 4096 == 0 for a in args.pages)
        assert args.nodes is None or set(args.nodes) <= set(world.allowed_nodes)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_migrate_pages_args_valid_and_invalid(data: st.DataObject) -> None:
    world = data.draw(worlds(), "world")
    args = data.draw(migrate_pages_args(world), "args")
    p = world.process
    maxnode = default_maxnode(args.old_nodes, args.new_nodes)
    if args.defects:
        ret, err, _ = migrate_pages_raw(p, args.pid, args.old_nodes, args.new_nodes, maxnode)
        assert set(args.defects) <= set(MIGRATE_PAGES_DEFECTS)
        checked = world.kernel.profile.has(Quirk.MIGRATE_PAGES_NEW_SUBSET_OF_MEMORY)
        if "node_out_of_range" in args.defects or checked:
            assert (ret, err) == (-1, errno.EINVAL)
    else:
        try:
            assert p.migrate_pages(args.pid, args.old_nodes, args.new_nodes) >= 0
        except SyscallError as exc:  # valid arguments: no error of the call
            pytest.fail(f"valid {args} failed: {exc}")
    world.check()


# --------------------------------------------------------------------------- conformance
def test_the_suite_through_pytest_matches_numa_conformance(pytester: pytest.Pytester) -> None:
    from conformance.backends import parse_backends
    from conformance.registry import all_cases
    from conformance.runner import Outcome, run

    results = run(all_cases(), parse_backends("sim:profile=5.10"))
    passed = sum(1 for r in results if r.outcome is Outcome.PASS)
    skipped = sum(1 for r in results if r.outcome in (Outcome.SKIP, Outcome.NA))
    result = _run_suite(pytester, "sim:profile=5.10")
    result.assert_outcomes(passed=passed, skipped=skipped)
    xml = pytester.path / "suite.xml"
    enodev = _run_suite(pytester, "sim:profile=5.10", "-k", "ENODEV", f"--junit-xml={xml}")
    chosen = [c for c in all_cases() if "ENODEV" in c.id]
    enodev.assert_outcomes(passed=len(chosen))
    text = xml.read_text()
    for c in chosen:
        assert f'name="test_case[{c.id.replace("::", ":")}]"' in text


def _run_suite(pytester: pytest.Pytester, spec: str, *args: str) -> pytest.RunResult:
    return run(pytester, "--pyargs", "conformance", "--numa-backend", spec, *args)


def test_the_suite_runs_under_xdist(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        *_plugin_args(),
        "--pyargs",
        "conformance",
        "--numa-backend",
        "sim:profile=6.1",
        "-n",
        "2",
        "-k",
        "move_pages",
    )
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes["passed"] > 20, outcomes
    result.stdout.fnmatch_lines(["*2 workers*"])


def test_suite_outcomes_map_to_pytest_outcomes() -> None:
    """pass passes; skip and n/a skip with the reason; FAIL and ERROR fail with the line."""
    from conformance.backends import SimBackend
    from conformance.env import CaseFailed, Env, Needs, Skip
    from conformance.registry import Case
    from conformance.test_suite import test_case

    clause = next(c for c in all_clauses() if c.holds_in((6, 1)))

    def case(body: Any) -> Case:
        return Case(clause, body.__name__, "", Needs(), body)

    def passes(env: Env) -> None:
        pass

    def fails(env: Env) -> None:
        raise CaseFailed("status: expected [1], got [0]")

    def breaks(env: Env) -> None:
        raise RuntimeError("mmap broke")

    def skips(env: Env) -> None:
        raise Skip("host cannot isolate")

    backend = SimBackend("6.1")

    def outcome(c: Case) -> tuple[str, str]:
        """How test_case ended: ("passed", "") or pytest's outcome and its message
        (caught here, so that a skip cannot pass for this test's own skip)."""
        try:
            test_case(backend, c)
        except (pytest.fail.Exception, pytest.skip.Exception) as exc:
            return type(exc).__name__, str(exc)
        return "passed", ""

    assert outcome(case(passes)) == ("passed", "")
    kind, message = outcome(case(fails))
    assert kind == "Failed" and message.startswith("FAIL: status: expected [1], got [0] ("), message
    kind, message = outcome(case(breaks))
    assert kind == "Failed" and message.startswith("ERROR: RuntimeError: mmap broke ("), message
    assert outcome(case(skips)) == ("Skipped", "host cannot isolate")
    never = next(c for c in all_clauses() if not c.holds_in((6, 1)))
    kind, message = outcome(Case(never, "x", "", Needs(), passes))
    assert kind == "Skipped" and message.startswith("n/a on sim:6.1–6.2: holds in"), message


def all_clauses() -> list[Any]:
    from conformance.clauses import CLAUSES

    return list(CLAUSES.values())


def test_a_failing_test_is_told_why_its_last_calls_were_answered_so(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from simnuma.abi import MPOL_MF_MOVE

        @pytest.mark.numa(nodes=2, profiles=["6.1"])
        def test_untouched(numa_kernel):
            p = numa_kernel.spawn()
            a = p.mmap(4096)
            r = p.move_pages(0, [a], None, 0)
            assert r.status == [-2]  # wrong on 6.1: an untouched page is -EFAULT there

        @pytest.mark.numa(nodes=2)
        def test_passes(numa_kernel):
            p = numa_kernel.spawn()
            assert p.move_pages(0, [0], None, 0).status == [-14]
        """
    )
    result = run(pytester, "-rA")
    result.assert_outcomes(passed=1, failed=1)
    out = "\n".join(result.outlines)
    assert "simnuma: why the last NUMA calls were answered so" in out
    assert "move_pages.status.EFAULT.unpopulated: a never-touched private anonymous page" in out
    assert "holds in 4.3 – before 6.12" in out
    assert out.count("simnuma: why the last NUMA calls") == 1  # the passing test says nothing
