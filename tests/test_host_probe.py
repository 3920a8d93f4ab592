"""realnuma.probe: the pure parsers, probe() on fake /sys + /proc trees, and on this host."""

from __future__ import annotations

import gzip
import os
import subprocess
import time
from pathlib import Path

import pytest

from realnuma.probe import (
    HostFacts,
    describe,
    find_cpuset_mounts,
    format_nodelist,
    parse_cap_eff,
    parse_meminfo_total_kb,
    parse_mountinfo,
    parse_nodelist,
    parse_nodes_shift,
    parse_numa_balancing,
    parse_thp,
    probe,
)
from realnuma.procfs import Stat, is_live, parse_stat, parse_status, read_stat, read_status

# ----------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("text", "nodes"),
    [
        ("0-3,5\n", [0, 1, 2, 3, 5]),
        ("", []),
        ("\n", []),
        ("0\n", [0]),
        ("2", [2]),
        ("0-0", [0]),
        ("1,0", [0, 1]),
        ("0-2,1-3", [0, 1, 2, 3]),
        ("4-5, 7", [4, 5, 7]),
        ("1023", [1023]),
    ],
)
def test_parse_nodelist(text: str, nodes: list[int]) -> None:
    assert parse_nodelist(text) == nodes


@pytest.mark.parametrize("text", ["x", "0-", "-1", "3-1", "0,,1", "0-1-2", "1 2", "0x1", "0;1"])
def test_parse_nodelist_garbage_names_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid node list") as info:
        parse_nodelist(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("nodes", "text"),
    [([], ""), ([0], "0"), ([0, 1, 2, 3, 5], "0-3,5"), ([5, 1, 0], "0-1,5"), ([2, 4, 6], "2,4,6")],
)
def test_format_nodelist_round_trips(nodes: list[int], text: str) -> None:
    assert format_nodelist(nodes) == text
    assert parse_nodelist(text) == sorted(nodes)


STATUS = """\
Name:\tpython3
Uid:\t0\t0\t0\t0
CapInh:\t0000000000000000
CapPrm:\t000001ffffffffff
CapEff:\t{capeff}
Mems_allowed_list:\t0
"""


def test_parse_cap_eff() -> None:
    assert parse_cap_eff(STATUS.format(capeff="000001ffffffffff")) == 0x1FFFFFFFFFF
    assert parse_cap_eff(STATUS.format(capeff="0000000000800000")) == 1 << 23
    assert parse_cap_eff("Name:\tx\n") == 0
    with pytest.raises(ValueError, match="invalid CapEff value 'zz'"):
        parse_cap_eff("CapEff:\tzz\n")


def test_parse_status() -> None:
    fields = parse_status(STATUS.format(capeff="0000000000800000") + "no colon here\n")
    assert fields["Uid"] == "0\t0\t0\t0"
    assert fields["Mems_allowed_list"] == "0"
    assert "no colon here" not in fields


@pytest.mark.parametrize(
    ("text", "stat"),
    [
        ("42 (python3) S 1 42 42 0 -1", Stat(42, "python3", "S", 1, 42)),
        ("7 (a) b (c)) Z 3 5 5 0", Stat(7, "a) b (c)", "Z", 3, 5)),  # comm with parens
        ("9 (two words) R 1 9 9\n", Stat(9, "two words", "R", 1, 9)),
    ],
)
def test_parse_stat(text: str, stat: Stat) -> None:
    assert parse_stat(text) == stat


@pytest.mark.parametrize(
    "text", ["", "42 python3 S 1 42", "42 (python3) S 1", "x (python3) S 1 42", "4 (a) S one 4"]
)
def test_parse_stat_refuses_what_is_not_a_stat_line(text: str) -> None:
    with pytest.raises(ValueError, match="not a /proc/<pid>/stat line"):
        parse_stat(text)


def test_a_zombie_is_not_live() -> None:
    child = subprocess.Popen(["true"])  # exits at once; unreaped, it is a zombie
    try:
        deadline = time.monotonic() + 10
        while (stat := read_stat(child.pid)) is not None and stat.state != "Z":
            assert time.monotonic() < deadline, stat
            time.sleep(0.005)
        assert stat is not None
        assert not is_live(child.pid)
    finally:
        child.wait()


def test_read_this_process_and_a_missing_one(tmp_path: Path) -> None:
    me = read_stat(os.getpid())
    assert me is not None
    assert (me.pid, me.state, me.ppid) == (os.getpid(), "R", os.getppid())
    assert is_live(os.getpid())
    assert not is_live(1 << 23)  # beyond any pid_max
    assert read_status("self")["Pid"] == str(os.getpid())
    (tmp_path / "5").mkdir()
    (tmp_path / "5" / "stat").write_text("5 (zombie) Z 1 5 5")
    assert read_stat(5, tmp_path) == Stat(5, "zombie", "Z", 1, 5)
    assert read_stat(6, tmp_path) is None
    with pytest.raises(ProcessLookupError, match="no process 6"):
        read_status(6, tmp_path)


def test_parse_small_files() -> None:
    assert parse_thp("always [madvise] never\n") == "madvise"
    assert parse_thp("[always] madvise never\n") == "always"
    assert parse_thp("always madvise never\n") is None
    assert parse_numa_balancing("1\n") == 1
    assert parse_numa_balancing("junk") is None
    assert (
        parse_meminfo_total_kb("Node 1 MemTotal:       16384 kB\nNode 1 MemFree: 1 kB\n") == 16384
    )
    assert parse_meminfo_total_kb("Node 2 MemTotal:           0 kB\n") == 0
    assert parse_meminfo_total_kb("MemTotal:  42 kB\n") == 42


def test_parse_nodes_shift() -> None:
    assert parse_nodes_shift("CONFIG_NUMA=y\nCONFIG_NODES_SHIFT=10\n") == 1024
    assert parse_nodes_shift("CONFIG_NUMA=y\nCONFIG_NODES_SHIFT=6\n") == 64
    assert parse_nodes_shift("# CONFIG_NUMA is not set\n") == 1  # no shift: one node
    assert parse_nodes_shift("") is None


def test_parse_mountinfo_orders_v1_first_and_unescapes() -> None:
    text = (
        "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
        "40 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n"
        "34 31 0:31 / /sys/fs/cgroup/cpu\\040set rw,relatime - cgroup cgroup rw,cpuset\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    )
    mounts = parse_mountinfo(text)
    assert [(m.version, str(m.path)) for m in mounts] == [
        ("v1", "/sys/fs/cgroup/cpu set"),
        ("v2", "/sys/fs/cgroup/unified"),
    ]


# ----------------------------------------------------------------------------- fake trees


def _put(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _node_tree(root: Path, *, has_memory: bool = True, has_cpu: bool = True) -> None:
    node = "sys/devices/system/node"
    _put(root, f"{node}/possible", "0-3\n")
    _put(root, f"{node}/online", "0-2\n")
    if has_memory:
        _put(root, f"{node}/has_memory", "0,2\n")
    if has_cpu:
        _put(root, f"{node}/has_cpu", "0-1\n")
    for n, kb in ((0, 8192), (1, 0), (2, 4096)):
        _put(root, f"{node}/node{n}/meminfo", f"Node {n} MemTotal:       {kb} kB\n")
    (root / node / "node1" / "cpu3").mkdir()
    (root / node / "node2" / "cpu7").mkdir()


def _v1_tree(root: Path) -> Path:
    mount = root / "sys/fs/cgroup/cpuset"
    for name in ("cpuset.mems", "cpuset.cpus", "tasks", "cgroup.procs"):
        _put(root, f"sys/fs/cgroup/cpuset/{name}", "")
    _put(
        root,
        "proc/self/mountinfo",
        "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
        "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
        "40 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
    )
    _put(root, "sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n")
    return mount


def _v2_tree(root: Path, controllers: str = "cpuset cpu io memory pids\n") -> Path:
    _put(root, "sys/fs/cgroup/cgroup.controllers", controllers)
    _put(root, "sys/fs/cgroup/cgroup.subtree_control", "memory pids\n")
    _put(
        root, "proc/self/mountinfo", "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
    )
    return root / "sys/fs/cgroup"


def _tunables(root: Path) -> None:
    _put(root, "proc/self/status", STATUS.format(capeff="0000000000800000"))  # CAP_SYS_NICE only
    _put(root, "proc/sys/kernel/numa_balancing", "1\n")
    _put(root, "sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never\n")
    _put(root, "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "12\n")


def test_probe_fake_v1_tree(tmp_path: Path) -> None:
    _node_tree(tmp_path)
    _tunables(tmp_path)
    mount = _v1_tree(tmp_path)
    _put(tmp_path, "proc/config.gz", gzip.compress(b"CONFIG_NUMA=y\nCONFIG_NODES_SHIFT=6\n"))
    facts = probe(tmp_path, release="6.1.0-13-amd64")
    assert facts == HostFacts(
        release="6.1.0-13-amd64",
        possible_nodes=[0, 1, 2, 3],
        online_nodes=[0, 1, 2],
        memory_nodes=[0, 2],
        cpu_nodes=[0, 1],
        cap_sys_nice=True,
        cap_sys_ptrace=False,
        is_root=os.geteuid() == 0,
        cpusets=f"v1:{mount}",
        cpuset_reason="",
        numa_balancing=1,
        thp="always",
        hugepages=12,
        max_numnodes=64,
    )
    assert [p.name for p in mount.iterdir() if p.name.startswith("simnuma-")] == []
    text = describe(facts)
    assert "6.1.0-13-amd64" in text
    assert "possible 0-3" in text and "with memory 0,2" in text
    assert f"cpusets: v1:{mount}" in text


def test_probe_fake_v2_tree(tmp_path: Path) -> None:
    _node_tree(tmp_path)
    mount = _v2_tree(tmp_path)
    _put(tmp_path, "boot/config-6.12.1", "CONFIG_NODES_SHIFT=10\n")
    facts = probe(tmp_path, release="6.12.1")
    assert facts.cpusets == f"v2:{mount}"
    assert facts.cpuset_reason == ""
    assert facts.max_numnodes == 1024
    assert [p.name for p in mount.iterdir() if p.is_dir()] == []


def test_probe_v2_without_cpuset_controller(tmp_path: Path) -> None:
    _node_tree(tmp_path)
    _v2_tree(tmp_path, controllers="cpu io memory pids\n")
    facts = probe(tmp_path, release="6.12")
    assert facts.cpusets is None
    assert facts.cpuset_reason.startswith("no cpuset controller mounted")
    assert "does not offer cpuset" in facts.cpuset_reason
    assert "unavailable: no cpuset controller mounted" in describe(facts)


def test_probe_cpuset_not_writable(tmp_path: Path) -> None:
    mount = _v1_tree(tmp_path)
    # The probe's child name already exists as a file, so creating the child fails.
    blocker = _put(tmp_path, f"sys/fs/cgroup/cpuset/simnuma-probe-{os.getpid()}", "")
    facts = probe(tmp_path, release="6.1")
    assert facts.cpusets is None
    assert facts.cpuset_reason.startswith("cpuset hierarchy not writable: ")
    assert str(mount) in facts.cpuset_reason
    assert blocker.is_file()


def test_probe_absent_files(tmp_path: Path) -> None:
    facts = probe(tmp_path, release="5.4.0")
    assert facts.possible_nodes == facts.online_nodes == []
    assert facts.memory_nodes == facts.cpu_nodes == []
    assert (facts.cap_sys_nice, facts.cap_sys_ptrace) == (False, False)
    assert facts.cpusets is None
    assert facts.cpuset_reason == "no cpuset controller mounted"
    assert facts.numa_balancing is None
    assert facts.thp is None
    assert facts.hugepages == 0
    assert facts.max_numnodes is None
    assert "MAX_NUMNODES unknown" in describe(facts)


def test_probe_fallbacks_without_has_memory_or_has_cpu(tmp_path: Path) -> None:
    _node_tree(tmp_path, has_memory=False, has_cpu=False)
    facts = probe(tmp_path, release="4.19")
    assert facts.memory_nodes == [0, 2]  # online nodes whose MemTotal > 0
    assert facts.cpu_nodes == [1, 2]  # online nodes with cpuN entries


def test_find_cpuset_mounts_without_mountinfo(tmp_path: Path) -> None:
    _v2_tree(tmp_path)
    (tmp_path / "proc/self/mountinfo").unlink()
    assert [(m.version, m.path) for m in find_cpuset_mounts(tmp_path)] == [
        ("v2", tmp_path / "sys/fs/cgroup")
    ]


def test_unknown_release_does_not_crash(tmp_path: Path) -> None:
    facts = probe(tmp_path, release="weird")
    assert facts.release == "weird"


# ----------------------------------------------------------------------------- this host


def test_probe_real_host() -> None:
    facts = probe()
    print(describe(facts))
    assert facts.release == os.uname().release
    assert facts.memory_nodes, "a running kernel has at least one node with memory"
    assert set(facts.memory_nodes) <= set(facts.online_nodes) <= set(facts.possible_nodes)
    assert facts.is_root == (os.geteuid() == 0)
    assert (facts.cpusets is None) == bool(facts.cpuset_reason)
    if facts.cpusets is not None:
        version, _, mount = facts.cpusets.partition(":")
        assert version in ("v1", "v2")
        assert not (Path(mount) / f"simnuma-probe-{os.getpid()}").exists()  # ours removed
    if facts.max_numnodes is not None:
        assert max(facts.possible_nodes) < facts.max_numnodes
