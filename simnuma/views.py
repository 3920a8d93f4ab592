"""A simulated kernel as the files that tools read show it: the node directory
under /sys/devices/system/node (drivers/base/node.c), /proc/PID/numa_maps
(fs/proc/task_mmu.c show_numa_map), and the Mems_allowed lines of
/proc/PID/status (cpuset_task_status_allowed).  Each function renders one file's
text, in the kernel's format, from the simulator's state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from simnuma.abi import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_PREFERRED,
    MPOL_PREFERRED_MANY,
    MPOL_WEIGHTED_INTERLEAVE,
)
from simnuma.abi.arrays import format_nodelist
from simnuma.frames import ANON, DIRTY, HUGETLB, PAGE_SIZE, SWAPPED, WRITEBACK, ZERO, Frame
from simnuma.mempolicy import Mempolicy

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel
    from simnuma.mm import VMA
    from simnuma.process import SimProcess

HUGE_PAGE_KB = (2048, 1048576)  # the hugepages-<size>kB directories of x86-64


def node_list(nodes: Iterable[int]) -> str:
    """A bitmap list as %*pbl prints it: "0-2,5" (empty: "")."""
    return format_nodelist(nodes)


def node_mask(nodes: Iterable[int], bits: int) -> str:
    """A ``bits``-wide bitmap as %*pb prints it: 32-bit hex chunks, highest first,
    comma-separated, the highest only as wide as its bits need."""
    value = sum(1 << n for n in set(nodes))
    words = max(1, -(-bits // 32))
    top = -(-(bits - 32 * (words - 1)) // 4)
    chunks = [(value >> (32 * w)) & 0xFFFF_FFFF for w in reversed(range(words))]
    return ",".join(f"{c:0{top if i == 0 else 8}x}" for i, c in enumerate(chunks))


_MODE_NAMES = {
    MPOL_DEFAULT: "default",
    MPOL_PREFERRED: "prefer",
    MPOL_BIND: "bind",
    MPOL_INTERLEAVE: "interleave",
    MPOL_LOCAL: "local",
    MPOL_PREFERRED_MANY: "prefer (many)",
    MPOL_WEIGHTED_INTERLEAVE: "weighted interleave",
}


def policy_string(policy: Mempolicy | None) -> str:
    """mpol_to_str(): "default", "bind:0-1", "interleave=static:0,2", "prefer:1"."""
    if policy is None or policy.mode == MPOL_DEFAULT:
        return "default"
    text = _MODE_NAMES[policy.mode]
    if policy.flags & MPOL_F_STATIC_NODES:
        text += "=static"
    elif policy.flags & MPOL_F_RELATIVE_NODES:
        text += "=relative"
    given = policy.flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES)
    nodes = policy.user_nodes if given else policy.nodes
    if policy.mode != MPOL_LOCAL and nodes:
        text += ":" + node_list(nodes)
    return text


# --- /sys/devices/system/node --------------------------------------------------------


def node_states(kernel: SimKernel) -> dict[str, str]:
    """The node-state files of /sys/devices/system/node (node_state_attr)."""
    nodes = kernel.nodes
    return {
        "possible": node_list(range(max(nodes) + 1)),
        "online": node_list(nodes),
        "has_normal_memory": node_list(n for n, node in nodes.items() if node.has_memory),
        "has_memory": node_list(n for n, node in nodes.items() if node.has_memory),
        "has_cpu": node_list(n for n, node in nodes.items() if node.has_cpus),
    }


def node_distance(kernel: SimKernel, nid: int) -> str:
    """nodeN/distance: the SLIT row, one number per online node."""
    row = kernel.nodes[nid].distances
    return " ".join(str(row[other]) for other in sorted(kernel.nodes))


def _node_frames(kernel: SimKernel, nid: int) -> list[Frame]:
    return [f for f in kernel.frames().values() if f.nid == nid and not f.flags & ZERO]


def node_meminfo(kernel: SimKernel, nid: int) -> str:
    """nodeN/meminfo (node_read_meminfo), the counts the simulator keeps; the
    kernel's own use (slab, page tables, kernel stacks) is not modelled: 0."""
    node = kernel.nodes[nid]
    frames = _node_frames(kernel, nid)

    def pages(cond: int = 0, without: int = 0, file: bool | None = None) -> int:
        return sum(
            f.nr_pages
            for f in frames
            if (f.flags & cond) == cond
            and not f.flags & without
            and (file is None or (f.mapping is not None and not f.flags & ANON) == file)
        )

    huge = sum(f.nr_pages for f in frames if f.flags & HUGETLB)
    total, free = node.capacity, node.free
    anon = pages(ANON, HUGETLB)
    filep = pages(0, HUGETLB, file=True)
    shmem = sum(
        f.nr_pages
        for f in frames
        if f.mapping is not None and f.mapping.shmem and not f.flags & (ANON | HUGETLB)
    )
    rows = [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemUsed", total - free),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", anon + filep),
        ("Active(anon)", 0),
        ("Inactive(anon)", anon),
        ("Active(file)", 0),
        ("Inactive(file)", filep),
        ("Unevictable", 0),
        ("Mlocked", 0),
        ("Dirty", pages(DIRTY, ANON | HUGETLB)),
        ("Writeback", pages(WRITEBACK)),
        ("FilePages", filep),
        ("Mapped", sum(f.nr_pages for f in frames if f.mapping is not None and f.mapcount)),
        ("AnonPages", anon),
        ("Shmem", shmem),
        ("KernelStack", 0),
        ("PageTables", 0),
        ("SecPageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("KReclaimable", 0),
        ("Slab", 0),
        ("SReclaimable", 0),
        ("SUnreclaim", 0),
        ("AnonHugePages", 0),
        ("ShmemHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FileHugePages", 0),
        ("FilePmdMapped", 0),
    ]
    out = [f"Node {nid} {name + ':':<16}{count * PAGE_SIZE // 1024:>8} kB" for name, count in rows]
    out += [
        f"Node {nid} HugePages_Total: {huge // 512:5d}",
        f"Node {nid} HugePages_Free:  {0:5d}",
        f"Node {nid} HugePages_Surp:  {0:5d}",
    ]
    return "\n".join(out) + "\n"


def node_numastat(kernel: SimKernel, nid: int) -> str:
    """nodeN/numastat: the allocation counters, which the simulator does not keep
    beyond the pages now on the node (numa_hit = those; the misses are 0)."""
    here = sum(f.nr_pages for f in _node_frames(kernel, nid))
    rows = [
        ("numa_hit", here),
        ("numa_miss", 0),
        ("numa_foreign", 0),
        ("interleave_hit", 0),
        ("local_node", here),
        ("other_node", 0),
    ]
    return "".join(f"{name} {value}\n" for name, value in rows)


def numbered_cpus(kernel: SimKernel) -> dict[int, list[int]]:
    """CPUs for a kernel that has none by number: CPU n for each node n with CPUs, as
    numa-run's guests have them (QEMU's vCPU i on node i; a CPU-less node's offline)."""
    return {nid: [nid] if node.has_cpus else [] for nid, node in kernel.nodes.items()}


def node_directory(
    kernel: SimKernel, cpus: Mapping[int, Sequence[int]] | None = None
) -> dict[str, str]:
    """Every file of /sys/devices/system/node that the simulator renders, by its path
    under that directory ("online", "node0/meminfo", ...); ``cpus`` gives each node's
    CPUs (default numbered_cpus()).  numa-sim-run writes these, numactl reads them."""
    cpus = numbered_cpus(kernel) if cpus is None else cpus
    bits = max((c for cs in cpus.values() for c in cs), default=0) + 1
    files = {name: text + "\n" for name, text in node_states(kernel).items()}
    for nid in kernel.nodes:
        mine = cpus.get(nid, [])
        d = f"node{nid}"
        files[f"{d}/cpulist"] = node_list(mine) + "\n"
        files[f"{d}/cpumap"] = node_mask(mine, bits) + "\n"
        files[f"{d}/distance"] = node_distance(kernel, nid) + "\n"
        files[f"{d}/meminfo"] = node_meminfo(kernel, nid)
        files[f"{d}/numastat"] = node_numastat(kernel, nid)
        for kb in HUGE_PAGE_KB:
            h = f"{d}/hugepages/hugepages-{kb}kB"
            for name in ("nr_hugepages", "free_hugepages", "surplus_hugepages"):
                files[f"{h}/{name}"] = "0\n"
    return files


# --- /proc/PID --------------------------------------------------------------------------


def mems_allowed_lines(proc: SimProcess, max_numnodes: int) -> list[str]:
    """The two Mems_allowed lines of /proc/PID/status."""
    return [
        f"Mems_allowed:\t{node_mask(proc.cpuset, max_numnodes)}",
        f"Mems_allowed_list:\t{node_list(proc.cpuset)}",
    ]


ANON_SHARED_NAME = "/dev/zero (deleted)"  # shmem_zero_setup(): the object's file
ANON_HUGETLB_NAME = "/anon_hugepage (deleted)"  # hugetlb_file_setup() of MAP_HUGETLB


def seq_path_escape(path: str) -> str:
    """A path as seq_path(m, path, "\\n\\t= ") writes it in numa_maps: newline, tab,
    space and "=" as a backslash and three octal digits (mangle_path())."""
    return "".join(f"\\{ord(c):03o}" if c in "\n\t =" else c for c in path)


def numa_maps_line(proc: SimProcess, vma: VMA, name: str = "") -> str:
    """One line of /proc/PID/numa_maps (show_numa_map()): the start, the policy
    (the VMA's, else the task's), what maps it, and the pages on each node.
    ``name`` is the file's path, "[heap]" or "[stack]" as /proc/PID/maps has it.

    A shared anonymous mapping is the shmem file "/dev/zero (deleted)", an anonymous
    hugetlb one the hugetlbfs file "/anon_hugepage (deleted)": both show as file=.
    A hugetlb page counts once (gather_hugetlb_stats(): nr_pages 1), a THP as its
    512 pages.  The LRU is not modelled: every page counts as inactive, where a
    fault or a single write(2) leaves it (folio_add_lru(); since b518154e59aa, 5.9,
    for anonymous pages too); a real kernel shows pages it has seen accessed again
    (a file read twice) as active."""
    assert proc.mm is not None
    policy = vma.policy
    if policy is None and vma.shmem and vma.file is not None:
        policy = vma.file.policy_at(vma.pgoff)
    text = f"{vma.start:08x} {policy_string(policy or proc.policy)}"
    hugetlb = vma.huge == "hugetlb"
    path = ""
    if vma.anon_shared:
        path = ANON_SHARED_NAME
    elif vma.file is not None:
        path = name or vma.file.name
    elif hugetlb:
        path = ANON_HUGETLB_NAME
    if path:
        text += f" file={seq_path_escape(path)}"
    elif name == "[heap]":
        text += " heap"
    elif name == "[stack]":
        text += " stack"
    if hugetlb:
        text += " huge"
    counted: set[int] = set()
    n_pages = anon = dirty = writeback = mapmax = 0
    per_node: dict[int, int] = {}
    for vpn in proc.mm.mapped_vpns(vma.start, vma.end):
        frame = proc.mm.pt[vpn]
        if frame.flags & (ZERO | SWAPPED):
            continue  # vm_normal_page(): no zero page; a swap entry is no page
        if frame.order and id(frame) in counted:
            continue
        counted.add(id(frame))
        n = 1 if hugetlb else frame.nr_pages
        n_pages += n
        anon += n if frame.flags & ANON else 0
        dirty += n if frame.flags & DIRTY else 0
        writeback += n if frame.flags & WRITEBACK else 0
        mapmax = max(mapmax, frame.mapcount)
        per_node[frame.nid] = per_node.get(frame.nid, 0) + n
    if not n_pages:
        return text
    if anon:
        text += f" anon={anon}"
    if dirty:
        text += f" dirty={dirty}"
    if n_pages not in (anon, dirty):
        text += f" mapped={n_pages}"
    if mapmax > 1:
        text += f" mapmax={mapmax}"
    if not hugetlb:
        text += " active=0"  # every page inactive (above); hugetlb pages are on no LRU
    if writeback:
        text += f" writeback={writeback}"
    text += "".join(f" N{nid}={count}" for nid, count in sorted(per_node.items()))
    kb = 2048 if hugetlb else PAGE_SIZE // 1024
    return text + f" kernelpagesize_kB={kb}"


def numa_maps(proc: SimProcess, names: Sequence[tuple[int, str]] = ()) -> str:
    """/proc/PID/numa_maps of a simulated process; ``names`` maps a VMA start to the
    name /proc/PID/maps gives it (numa-sim-run passes the real process's)."""
    assert proc.mm is not None
    named = dict(names)
    lines = (numa_maps_line(proc, vma, named.get(vma.start, "")) for vma in proc.mm.vmas)
    return "".join(line + "\n" for line in lines)
