"""realnuma.cpusets: on fake cgroup trees, and with a real process in real cpusets."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from realnuma.cpusets import V2_ALWAYS_MIGRATES, CpusetError, Cpusets
from realnuma.leftovers import cpuset_dirs, cpuset_roots
from realnuma.probe import parse_nodelist, probe

# ----------------------------------------------------------------------------- fake trees


class FakeCpusets(Cpusets):
    """Plain directories stand in for cgroupfs: mkdir fills in the files the kernel would."""

    def _make_dir(self, path: Path) -> None:
        path.mkdir()
        up = path.parent
        if (up / "cgroup.controllers").exists():  # v2
            files = {
                "cgroup.controllers": "cpuset\n",
                "cgroup.subtree_control": "",
                "cgroup.procs": "",
                "cpuset.cpus": "",
                "cpuset.mems": "",
                "cpuset.cpus.effective": (up / "cpuset.cpus.effective").read_text(),
                "cpuset.mems.effective": (up / "cpuset.mems.effective").read_text(),
            }
        else:
            files = {
                "cgroup.procs": "",
                "tasks": "",
                "cpuset.cpus": "",
                "cpuset.mems": "",
                "cpuset.memory_migrate": "0",
                "cpuset.effective_cpus": (up / "cpuset.effective_cpus").read_text(),
                "cpuset.effective_mems": (up / "cpuset.effective_mems").read_text(),
            }
        for name, text in files.items():
            (path / name).write_text(text)

    def _remove_dir(self, path: Path) -> str | None:
        shutil.rmtree(path, ignore_errors=True)
        return None


def _files(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


@pytest.fixture
def fake_v1(tmp_path: Path) -> Path:
    return _files(
        tmp_path / "cpuset",
        {
            "cgroup.procs": "1\n",
            "tasks": "1\n",
            "cpuset.cpus": "0-3\n",
            "cpuset.mems": "0-1\n",
            "cpuset.effective_cpus": "0-3\n",
            "cpuset.effective_mems": "0-1\n",
            "cpuset.memory_migrate": "0\n",
        },
    )


@pytest.fixture
def fake_v2(tmp_path: Path) -> Path:
    return _files(
        tmp_path / "unified",
        {
            "cgroup.controllers": "cpuset memory\n",
            "cgroup.subtree_control": "memory\n",
            "cgroup.procs": "1\n",
            "cpuset.cpus.effective": "0-7\n",
            "cpuset.mems.effective": "0-1\n",
        },
    )


def _subdirs(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_dir())


def test_fake_v1_create_attach_close(fake_v1: Path) -> None:
    cs = FakeCpusets(fake_v1)
    assert cs.version == "v1"
    assert cs.parent.parent == fake_v1
    assert cs.parent.name.startswith(f"simnuma-{os.getpid()}")
    assert (cs.parent / "cpuset.cpus").read_text() == "0-3"
    assert (cs.parent / "cpuset.mems").read_text() == "0-1"
    plain = cs.create([1])
    migrating = cs.create([0, 1], memory_migrate=True)
    assert plain != migrating
    assert (cs.path(plain) / "cpuset.cpus").read_text() == "0-3"
    assert (cs.path(plain) / "cpuset.mems").read_text() == "1"
    assert (cs.path(plain) / "cpuset.memory_migrate").read_text() == "0"
    assert (cs.path(migrating) / "cpuset.mems").read_text() == "0-1"
    assert (cs.path(migrating) / "cpuset.memory_migrate").read_text() == "1"
    cs.attach(plain, 4242)
    assert (cs.path(plain) / "cgroup.procs").read_text() == "4242"
    cs.close()
    assert (fake_v1 / "cgroup.procs").read_text() == "4242"  # moved back to the root
    assert _subdirs(fake_v1) == []
    cs.close()  # idempotent
    with pytest.raises(CpusetError, match="closed"):
        cs.create([0])


def test_fake_v2_enables_cpuset_and_refuses_non_migrating(fake_v2: Path) -> None:
    with FakeCpusets(fake_v2) as cs:
        assert cs.version == "v2"
        assert (fake_v2 / "cgroup.subtree_control").read_text() == "+cpuset"
        assert (cs.parent / "cgroup.subtree_control").read_text() == "+cpuset"
        with pytest.raises(CpusetError) as info:
            cs.create([0])
        assert str(info.value) == V2_ALWAYS_MIGRATES
        assert _subdirs(cs.parent) == []
        name = cs.create([0, 1], memory_migrate=True)
        assert (cs.path(name) / "cpuset.cpus").read_text() == "0-7"
        assert (cs.path(name) / "cpuset.mems").read_text() == "0-1"
        assert not (cs.path(name) / "cpuset.memory_migrate").exists()
        cs.move(777, [1], memory_migrate=True)
        assert len(cs.names) == 2
        assert (cs.path(cs.names[-1]) / "cgroup.procs").read_text() == "777"
    assert (fake_v2 / "cgroup.procs").read_text() == "777"
    assert _subdirs(fake_v2) == []


def test_fake_v2_without_cpuset_controller(fake_v2: Path) -> None:
    (fake_v2 / "cgroup.controllers").write_text("memory pids\n")
    with pytest.raises(CpusetError, match="does not offer the cpuset controller"):
        FakeCpusets(fake_v2)
    assert _subdirs(fake_v2) == []


def test_leftovers_are_looked_for_in_every_hierarchy(tmp_path: Path) -> None:
    """realnuma.leftovers finds our cgroups in a cgroup2 mount (here at a place of its
    own, known from mountinfo) as in v1's cpuset; ``owner`` keeps other runs' out."""
    root = tmp_path / "root"
    _files(
        root / "proc/self",
        {
            "mountinfo": "31 23 0:28 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
            "40 31 0:38 / /srv/cg2 rw,relatime - cgroup2 cgroup2 rw\n"
        },
    )
    v2 = _files(
        root / "srv/cg2",
        {
            "cgroup.controllers": "cpuset\n",
            "cgroup.subtree_control": "",
            "cgroup.procs": "",
            "cpuset.cpus.effective": "0-1\n",
            "cpuset.mems.effective": "0\n",
        },
    )
    (root / "sys/fs/cgroup/cpuset/simnuma-1-1").mkdir(parents=True)  # another run's
    assert cpuset_roots(root) == [root / "sys/fs/cgroup/cpuset", v2, root / "sys/fs/cgroup"]
    assert cpuset_dirs(os.getpid(), root) == []
    with FakeCpusets(v2) as cs:
        assert cpuset_dirs(os.getpid(), root) == [str(cs.parent)]
        assert cpuset_dirs(None, root) == sorted(
            [str(cs.parent), str(root / "sys/fs/cgroup/cpuset/simnuma-1-1")]
        )
    assert cpuset_dirs(os.getpid(), root) == []


def test_not_a_hierarchy(tmp_path: Path) -> None:
    with pytest.raises(CpusetError, match="is not a cpuset hierarchy"):
        Cpusets(tmp_path)


def test_bad_arguments(fake_v1: Path) -> None:
    with FakeCpusets(fake_v1) as cs:
        with pytest.raises(CpusetError, match="at least one memory node"):
            cs.create([])
        with pytest.raises(CpusetError, match="non-negative"):
            cs.create([-1])
        with pytest.raises(CpusetError, match="no cpuset named"):
            cs.attach("nope", 1)
        assert cs.names == []


# ----------------------------------------------------------------------------- this host


@pytest.fixture(scope="module")
def host_root() -> Path:
    if os.geteuid() != 0:
        pytest.skip(f"needs root to create cpusets (euid is {os.geteuid()})")
    facts = probe()
    if facts.cpusets is None:
        pytest.skip(f"no writable cpuset hierarchy: {facts.cpuset_reason}")
    return Path(facts.cpusets.partition(":")[2])


@pytest.fixture
def node(host_root: Path) -> int:
    return probe().memory_nodes[0]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _leftovers(root: Path) -> list[str]:
    """This process's cgroups under ``root`` (other runs' come and go concurrently)."""
    return [str(d) for d in sorted(root.glob(f"simnuma-{os.getpid()}-*"))]


def _procs(directory: Path) -> list[int]:
    return [int(w) for w in (directory / "cgroup.procs").read_text().split()]


def test_real_move_and_close(host_root: Path, node: int, sleeper: subprocess.Popen[bytes]) -> None:
    before = _leftovers(host_root)
    pid = sleeper.pid
    cs = Cpusets(host_root)
    try:
        assert cs.root == host_root
        assert cs.parent.is_dir()
        migrate = cs.version == "v2"  # v2 cannot turn it off
        cs.move(pid, [node], memory_migrate=migrate)
        [name] = cs.names
        assert pid in _procs(cs.path(name))
        assert Cpusets.mems_of(pid) == [node]
        if cs.version == "v1":
            assert (cs.path(name) / "cpuset.memory_migrate").read_text().strip() == "0"
            other = cs.create([node], memory_migrate=True)
            assert (cs.path(other) / "cpuset.memory_migrate").read_text().strip() == "1"
        else:
            with pytest.raises(CpusetError, match="memory_migrate cannot be off"):
                cs.create([node])
        with pytest.raises(CpusetError, match=r"cpuset\.mems") as info:
            cs.create([4095], memory_migrate=migrate)
        assert "'4095'" in str(info.value)
        assert info.value.errno is not None
        children = [cs.path(n) for n in cs.names]
    finally:
        cs.close()
    assert not cs.parent.exists()
    assert not any(c.exists() for c in children)
    assert _leftovers(host_root) == before
    assert pid in _procs(host_root)  # back in the root cpuset
    root_mems = "cpuset.effective_mems" if cs.version == "v1" else "cpuset.mems.effective"
    assert Cpusets.mems_of(pid) == parse_nodelist((host_root / root_mems).read_text())


def test_real_close_is_idempotent_and_tolerates_dead_pids(
    host_root: Path, node: int, sleeper: subprocess.Popen[bytes]
) -> None:
    cs = Cpusets(host_root)
    cs.move(sleeper.pid, [node], memory_migrate=cs.version == "v2")
    sleeper.kill()
    sleeper.wait()
    cs.close()
    assert not cs.parent.exists()
    cs.close()
    cs.close()
    assert not cs.parent.exists()


def test_real_with_block_cleans_up_on_exception(
    host_root: Path, node: int, sleeper: subprocess.Popen[bytes]
) -> None:
    parent: Path | None = None
    with pytest.raises(RuntimeError, match="boom"), Cpusets(host_root) as cs:
        parent = cs.parent
        cs.move(sleeper.pid, [node], memory_migrate=cs.version == "v2")
        raise RuntimeError("boom")
    assert parent is not None and not parent.exists()
    assert sleeper.pid in _procs(host_root)


def test_real_autodetect(host_root: Path) -> None:
    with Cpusets() as cs:
        assert cs.parent.is_dir()
        parent = cs.parent
    assert not parent.exists()
