"""What this host offers the real-kernel backend: nodes, privileges, cpusets, tunables.

The conformance suite uses :func:`probe` to skip cases with a precise reason
("needs a second memory node", "needs CAP_SYS_NICE", ...).  Every file is read
below a ``root`` directory so that tests can build a fake ``/sys`` and ``/proc``;
the parsing itself is done by small pure functions that take the file's text.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from realnuma.procfs import parse_status
from simnuma.abi.arrays import format_nodelist
from simnuma.abi.constants import CAPABILITIES

__all__ = [
    "CpusetMount",
    "HostFacts",
    "check_writable",
    "describe",
    "find_cpuset_mounts",
    "format_nodelist",
    "parse_cap_eff",
    "parse_hugepages",
    "parse_meminfo_total_kb",
    "parse_mountinfo",
    "parse_nodelist",
    "parse_nodes_shift",
    "parse_numa_balancing",
    "parse_thp",
    "probe",
    "remove_cgroup_dir",
]

_NODE_DIR = Path("sys/devices/system/node")
_THP_ENABLED = Path("sys/kernel/mm/transparent_hugepage/enabled")
_FREE_HUGEPAGES = Path("sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
_NUMA_BALANCING = Path("proc/sys/kernel/numa_balancing")
_SELF_STATUS = Path("proc/self/status")
_SELF_MOUNTINFO = Path("proc/self/mountinfo")
_CONFIG_GZ = Path("proc/config.gz")

NO_CPUSET_MOUNTED = "no cpuset controller mounted"
NOT_WRITABLE = "cpuset hierarchy not writable"


@dataclass(frozen=True)
class HostFacts:
    release: str  # os.uname().release
    possible_nodes: list[int]
    online_nodes: list[int]
    memory_nodes: list[int]
    cpu_nodes: list[int]
    cap_sys_nice: bool  # effective capability of this process
    cap_sys_ptrace: bool
    is_root: bool  # euid 0
    cpusets: str | None  # "v1:<mount>" / "v2:<mount>" when a writable cpuset hierarchy exists
    cpuset_reason: str  # why not, when cpusets is None ("" otherwise)
    numa_balancing: int | None  # /proc/sys/kernel/numa_balancing
    thp: str | None  # selected word of transparent_hugepage/enabled
    hugepages: int  # free 2 MiB huge pages
    max_numnodes: int | None  # 1 << CONFIG_NODES_SHIFT, None if the config is unknown


# --------------------------------------------------------------------------- pure parsers

_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def parse_nodelist(text: str) -> list[int]:
    """``"0-3,5\\n"`` -> ``[0, 1, 2, 3, 5]``; ``""`` -> ``[]``; ValueError on anything else."""
    body = text.strip()
    if not body:
        return []
    nodes: set[int] = set()
    for part in body.split(","):
        m = _RANGE.fullmatch(part.strip())
        if m is None:
            raise ValueError(f"invalid node list {text!r}: bad element {part!r}")
        lo = int(m[1])
        hi = int(m[2]) if m[2] is not None else lo
        if hi < lo:
            raise ValueError(f"invalid node list {text!r}: descending range {part!r}")
        nodes.update(range(lo, hi + 1))
    return sorted(nodes)


def parse_cap_eff(status_text: str) -> int:
    """The ``CapEff:`` mask of a ``/proc/<pid>/status`` text (0 if the line is missing)."""
    value = parse_status(status_text).get("CapEff", "0")
    try:
        return int(value, 16)
    except ValueError:
        raise ValueError(f"invalid CapEff value {value!r}") from None


def parse_meminfo_total_kb(text: str) -> int:
    """``MemTotal`` (kB) of a node's ``meminfo`` (``Node 0 MemTotal: 123 kB``) or /proc/meminfo."""
    m = re.search(r"^(?:Node\s+\d+\s+)?MemTotal:\s+(\d+)", text, re.MULTILINE)
    return int(m[1]) if m else 0


def parse_thp(text: str) -> str | None:
    """``"always [madvise] never"`` -> ``"madvise"``; None if nothing is selected."""
    m = re.search(r"\[([^\]\s]+)\]", text)
    return m[1] if m else None


def parse_numa_balancing(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def parse_hugepages(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return 0


def parse_nodes_shift(config_text: str) -> int | None:
    """``1 << CONFIG_NODES_SHIFT`` from a kernel .config text.

    A config without ``CONFIG_NODES_SHIFT`` builds with a shift of 0 (one node).
    An empty text is "unknown" (None).
    """
    if not config_text.strip():
        return None
    m = re.search(r"^CONFIG_NODES_SHIFT=(\d+)\s*$", config_text, re.MULTILINE)
    return 1 << int(m[1]) if m else 1


@dataclass(frozen=True)
class CpusetMount:
    version: str  # "v1" or "v2"
    path: Path  # where the hierarchy is mounted (as seen by this process)


def _unescape_mount(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def parse_mountinfo(text: str) -> list[CpusetMount]:
    """The cgroup hierarchies of a ``/proc/<pid>/mountinfo`` text that can host cpusets.

    v1 mounts are listed when ``cpuset`` is among their super options; every cgroup2
    mount is listed (whether it offers cpuset is in its ``cgroup.controllers``).
    v1 mounts come first: a controller bound to v1 is absent from v2.
    """
    v1: list[CpusetMount] = []
    v2: list[CpusetMount] = []
    for line in text.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        sep = fields.index("-")
        if sep + 3 > len(fields):
            continue
        mount_point = Path(_unescape_mount(fields[4]))
        fstype = fields[sep + 1]
        options = fields[sep + 3].split(",") if sep + 3 < len(fields) else []
        if fstype == "cgroup" and "cpuset" in options:
            v1.append(CpusetMount("v1", mount_point))
        elif fstype == "cgroup2":
            v2.append(CpusetMount("v2", mount_point))
    return v1 + v2


# --------------------------------------------------------------------------- file access


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _under(root: Path, absolute: Path) -> Path:
    return root / absolute.relative_to(absolute.anchor) if absolute.is_absolute() else absolute


def _nodes(root: Path, name: str) -> list[int] | None:
    text = _read(root / _NODE_DIR / name)
    return None if text is None else parse_nodelist(text)


def _node_has_memory(root: Path, node: int) -> bool:
    text = _read(root / _NODE_DIR / f"node{node}" / "meminfo")
    return text is not None and parse_meminfo_total_kb(text) > 0


def _node_has_cpu(root: Path, node: int) -> bool:
    try:
        entries = os.listdir(root / _NODE_DIR / f"node{node}")
    except OSError:
        return False
    return any(re.fullmatch(r"cpu\d+", e) for e in entries)


def _kernel_config(root: Path, release: str) -> str | None:
    try:
        with gzip.open(root / _CONFIG_GZ, "rt") as f:
            return f.read()
    except (OSError, EOFError):
        pass
    return _read(root / "boot" / f"config-{release}")


def find_cpuset_mounts(root: Path = Path("/")) -> list[CpusetMount]:
    """Hierarchies (under ``root``) that offer the cpuset controller, v1 first.

    Uses ``proc/self/mountinfo`` when present, else the conventional places
    (``sys/fs/cgroup/cpuset`` for v1; ``sys/fs/cgroup`` and ``sys/fs/cgroup/unified`` for v2).
    """
    text = _read(root / _SELF_MOUNTINFO)
    if text is not None:
        candidates = [CpusetMount(m.version, _under(root, m.path)) for m in parse_mountinfo(text)]
    else:
        cg = root / "sys/fs/cgroup"
        candidates = [
            CpusetMount("v1", cg / "cpuset"),
            CpusetMount("v2", cg),
            CpusetMount("v2", cg / "unified"),
        ]
    found: list[CpusetMount] = []
    for mount in candidates:
        if mount.version == "v1":
            if (mount.path / "cpuset.mems").exists():
                found.append(mount)
        elif "cpuset" in (_read(mount.path / "cgroup.controllers") or "").split():
            found.append(mount)
    return found


def _cgroup_v2_mounts(root: Path) -> list[Path]:
    text = _read(root / _SELF_MOUNTINFO)
    if text is None:
        return []
    return [_under(root, m.path) for m in parse_mountinfo(text) if m.version == "v2"]


def check_writable(directory: Path) -> str | None:
    """Create and remove a child cgroup of ``directory``; None if that worked, else why not."""
    child = directory / f"simnuma-probe-{os.getpid()}"
    try:
        os.mkdir(child)
    except OSError as exc:
        return f"{directory}: cannot create a child cgroup: {exc.strerror or exc}"
    return remove_cgroup_dir(child)


def remove_cgroup_dir(path: Path, *, attempts: int = 100) -> str | None:
    """rmdir a cgroup, retrying while it is busy (dying tasks); None once gone, else why not."""
    for _ in range(attempts):
        try:
            os.rmdir(path)
            return None
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                return f"cannot remove {path}: {exc.strerror or exc}"
        time.sleep(0.02)
    return f"cannot remove {path}: still busy"


def _cpusets(root: Path) -> tuple[str | None, str]:
    mounts = find_cpuset_mounts(root)
    if not mounts:
        v2 = _cgroup_v2_mounts(root)
        if v2:
            where = ", ".join(str(p) for p in v2)
            return None, f"{NO_CPUSET_MOUNTED} (cgroup2 at {where} does not offer cpuset)"
        return None, NO_CPUSET_MOUNTED
    reasons: list[str] = []
    for mount in mounts:
        why = check_writable(mount.path)
        if why is None:
            return f"{mount.version}:{mount.path}", ""
        reasons.append(why)
    return None, f"{NOT_WRITABLE}: " + "; ".join(reasons)


def probe(root: Path = Path("/"), *, release: str | None = None) -> HostFacts:
    """Read the host's facts below ``root``; ``release`` defaults to ``os.uname().release``."""
    rel = os.uname().release if release is None else release
    online = _nodes(root, "online") or []
    memory = _nodes(root, "has_memory")
    if memory is None:
        memory = [n for n in online if _node_has_memory(root, n)]
    cpus = _nodes(root, "has_cpu")
    if cpus is None:
        cpus = [n for n in online if _node_has_cpu(root, n)]
    cap_eff = parse_cap_eff(_read(root / _SELF_STATUS) or "")
    balancing = _read(root / _NUMA_BALANCING)
    thp = _read(root / _THP_ENABLED)
    free_huge = _read(root / _FREE_HUGEPAGES)
    config = _kernel_config(root, rel)
    cpusets, reason = _cpusets(root)
    return HostFacts(
        release=rel,
        possible_nodes=_nodes(root, "possible") or [],
        online_nodes=online,
        memory_nodes=memory,
        cpu_nodes=cpus,
        cap_sys_nice=bool(cap_eff >> CAPABILITIES["CAP_SYS_NICE"] & 1),
        cap_sys_ptrace=bool(cap_eff >> CAPABILITIES["CAP_SYS_PTRACE"] & 1),
        is_root=os.geteuid() == 0,
        cpusets=cpusets,
        cpuset_reason=reason,
        numa_balancing=None if balancing is None else parse_numa_balancing(balancing),
        thp=None if thp is None else parse_thp(thp),
        hugepages=0 if free_huge is None else parse_hugepages(free_huge),
        max_numnodes=None if config is None else parse_nodes_shift(config),
    )


def _list(nodes: list[int]) -> str:
    return format_nodelist(nodes) or "none"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def describe(facts: HostFacts) -> str:
    """A few human lines (for ``numa-conformance --probe``)."""
    max_nodes = "unknown" if facts.max_numnodes is None else str(facts.max_numnodes)
    cpusets = facts.cpusets if facts.cpusets is not None else f"unavailable: {facts.cpuset_reason}"
    balancing = "unknown" if facts.numa_balancing is None else str(facts.numa_balancing)
    lines = [
        f"kernel {facts.release}",
        f"nodes: possible {_list(facts.possible_nodes)}, online {_list(facts.online_nodes)}, "
        f"with memory {_list(facts.memory_nodes)}, with cpus {_list(facts.cpu_nodes)}; "
        f"MAX_NUMNODES {max_nodes}",
        f"privileges: root {_yes(facts.is_root)}, CAP_SYS_NICE {_yes(facts.cap_sys_nice)}, "
        f"CAP_SYS_PTRACE {_yes(facts.cap_sys_ptrace)}",
        f"cpusets: {cpusets}",
        f"numa_balancing {balancing}, THP {facts.thp or 'absent'}, "
        f"free 2 MiB huge pages {facts.hugepages}",
    ]
    return "\n".join(lines)
