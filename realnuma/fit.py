"""Whether this host can stand in for what a test asks of a kernel, and if not, why.

One place for the reasons a real-kernel run skips (the conformance suite's host
backend and the pytest plugin's ``--numa-backend host`` both read it), so the same
shortfall always reads the same way: ``needs 2 memory nodes, host has 1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from realnuma.probe import HostFacts, format_nodelist
from simnuma.abi.quirks import Quirk, format_release

__all__ = ["HOST_LACKS", "NodeWant", "layout_shortfall", "missing_features", "shortfall"]

_V2_MIGRATES = format_release(Quirk.CGROUP_V2_CPUSET_MIGRATES.info.since)

# Why the host backend cannot do a piece of world-building.
HOST_LACKS = {
    "isolate": "map a page that no LRU list holds (a packet socket's ring: root, CONFIG_PACKET)",
    "putback": "put a packet socket's ring page on an LRU list",
    "fill_node_partial": (
        "leave a node an exact number of free pages (the watermarks, per-CPU lists and "
        "reclaim decide how many a real node still gives)"
    ),
    "fs:nomigrate-ioerror": (
        "mount a filesystem without a migrate function whose writeback fails (minix on "
        "a full disk, before 6.8 gave it one; realnuma does not build it)"
    ),
    "hugetlb": "reserve huge pages (vm.nr_hugepages is 0)",
    "thp": "use transparent huge pages (disabled, or no MADV_POPULATE_WRITE to fault one)",
    "cpuset": "write a cpuset hierarchy",
    "cpuset_keep_pages": f"keep pages on a cpuset move (v2 migrates them since {_V2_MIGRATES})",
    "cpuset_migrate_pages": f"migrate pages on a cpuset move (v2 before {_V2_MIGRATES} does not)",
    "capabilities": "change capabilities (not root)",
}

# What the host backend builds with real mechanisms that a simulated kernel answering
# its calls under numa-sim-run cannot see (its mirror reads mappings, present pages
# and credentials, nothing else); numa-sim-run --inject builds these as its state.
_INVISIBLE = "under numa-sim-run, the simulator answering cannot see it: use --inject"
SIM_RUN_LACKS = {
    "pin": f"take an extra page reference ({_INVISIBLE} pinned:...)",
    "isolate": f"take a page off the LRU ({_INVISIBLE} busy:...)",
    "writeback": f"put a page under writeback ({_INVISIBLE} writeback:...)",
    "swap": f"swap a page out on this host's swap device ({_INVISIBLE} swapped:...)",
    "fill_node": f"fill a real node ({_INVISIBLE} full:node=N)",
    "cpuset": "write a cpuset hierarchy (under numa-sim-run the real cgroup has the real nodes)",
    "cpuset_keep_pages": "move a task between real cpusets (under numa-sim-run)",
    "cpuset_migrate_pages": "move a task between real cpusets (under numa-sim-run)",
    "thp": "fault a THP (numa-sim-run runs the program with PR_SET_THP_DISABLE)",
    "hugetlb": "reserve huge pages on simulated nodes (under numa-sim-run)",
    "fs:nomigrate": "mount a filesystem on the host's real block devices (under numa-sim-run)",
    "fs:nomigrate-nowriteback": "mount ramfs for the simulator (under numa-sim-run)",
}

NOT_ROOT = "needs root: helpers change uid, cpusets and capabilities"

# node id -> (has memory, has CPUs); a node asked to have CPUs may also lack them on
# the host (only CPU-less nodes are asked for explicitly)
NodeWant = tuple[bool, bool]


def shortfall(
    facts: HostFacts, *, memory_nodes: int = 1, memoryless_node: bool = False
) -> str | None:
    """Why the host cannot give ``memory_nodes`` nodes with memory (and one without),
    or cannot run helpers at all; None when it can."""
    if memory_nodes > len(facts.memory_nodes):
        return f"needs {memory_nodes} memory nodes, host has {len(facts.memory_nodes)}"
    if memoryless_node and set(facts.online_nodes) <= set(facts.memory_nodes):
        return "needs a node without memory, host has none"
    if not facts.is_root:
        return NOT_ROOT
    return None


def layout_shortfall(facts: HostFacts, layout: Mapping[int, NodeWant]) -> str | None:
    """Why the host's nodes are not ``layout`` (node id -> (memory, CPUs)): every node
    online, those asked without memory memoryless, the others with memory, those
    asked without CPUs CPU-less; more nodes on the host are fine.  Root is needed too."""
    online, memory, cpus = set(facts.online_nodes), set(facts.memory_nodes), set(facts.cpu_nodes)
    fits = all(
        n in online and (n in memory) == mem and (has_cpus or n not in cpus)
        for n, (mem, has_cpus) in layout.items()
    )
    if not fits:
        ids = sorted(layout)
        memoryless = [n for n in ids if not layout[n][0]]
        cpuless = [n for n in ids if not layout[n][1]]
        want = f"{len(ids)} nodes" if ids == list(range(len(ids))) else f"nodes {_nodes(ids)}"
        extras = []
        if memoryless:
            extras.append(f"{_which(memoryless)} memoryless")
        if cpuless:
            extras.append(f"{_which(cpuless)} CPU-less")
        if extras:
            want += " with " + " and ".join(extras)
        have = f"host has nodes {_nodes(online)} with memory on {_nodes(memory)}"
        if cpuless:
            have += f" and CPUs on {_nodes(cpus)}"
        return f"needs {want}; {have}"
    if not facts.is_root:
        return NOT_ROOT
    return None


def missing_features(
    have: Iterable[str], wanted: Iterable[str], why: Mapping[str, str] = HOST_LACKS
) -> str | None:
    """``host cannot isolate: take a page off the LRU from user space; ...`` for the
    world-building features ``wanted`` that ``have`` lacks; None when none is missing."""
    missing = set(wanted) - set(have)
    if not missing:
        return None
    reasons = "; ".join(f"{m}: {why.get(m, 'not available')}" for m in sorted(missing))
    return f"host cannot {reasons}"


def _nodes(nodes: Iterable[int]) -> str:
    return "[" + ", ".join(str(n) for n in sorted(nodes)) + "]"


def _which(nodes: list[int]) -> str:
    return f"node {nodes[0]}" if len(nodes) == 1 else f"nodes {format_nodelist(nodes)}"
