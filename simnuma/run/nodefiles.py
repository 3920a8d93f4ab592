"""The files a supervised program reads about the machine, as the simulated kernel
would show them: a real directory tree standing in for /sys/devices/system/node
(so that opendir(), readdir() and opens relative to it work as on sysfs), and the
per-process /proc files rendered on each open."""

from __future__ import annotations

import os
import shutil
import tempfile

from simnuma import views
from simnuma.kernel import SimKernel
from simnuma.process import SimProcess

NODE_DIR = "/sys/devices/system/node"


def real_cpus() -> list[int]:
    """The CPUs this machine has online (/sys/devices/system/cpu/online)."""
    try:
        with open("/sys/devices/system/cpu/online") as f:
            text = f.read().strip()
    except OSError:
        return sorted(os.sched_getaffinity(0))
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


def assign_cpus(kernel: SimKernel, cpus: list[int]) -> dict[int, list[int]]:
    """The CPUs of each node with CPUs: the machine's, dealt out in blocks; where
    there are more such nodes than CPUs, the rest get numbers past the last real
    CPU (they exist only in these files: an affinity to them alone is refused)."""
    cpu_nodes = kernel.cpu_node_ids()
    out: dict[int, list[int]] = {n: [] for n in kernel.nodes}
    if len(cpus) >= len(cpu_nodes):
        per, extra = divmod(len(cpus), len(cpu_nodes))
        i = 0
        for k, nid in enumerate(cpu_nodes):
            take = per + (k < extra)
            out[nid] = cpus[i : i + take]
            i += take
    else:
        spare = iter(range(max(cpus, default=-1) + 1, 1 << 16))
        for k, nid in enumerate(cpu_nodes):
            out[nid] = [cpus[k]] if k < len(cpus) else [next(spare)]
    return out


class NodeTree:
    """A temporary directory that is /sys/devices/system/node for the program."""

    def __init__(self, kernel: SimKernel, cpus: dict[int, list[int]]) -> None:
        self.kernel = kernel
        self.cpus = cpus
        self.root = tempfile.mkdtemp(prefix="numa-sim-run-")
        self.dir = os.path.join(self.root, "node")
        self.refresh()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def host_path(self, path: str) -> str | None:
        """Where ``path`` (absolute, normalised) lies in the tree, None if outside
        the node directory."""
        if path == NODE_DIR:
            return self.dir
        if path.startswith(NODE_DIR + "/"):
            return os.path.join(self.dir, path[len(NODE_DIR) + 1 :])
        return None

    def inside(self, host: str) -> bool:
        return host == self.dir or host.startswith(self.dir + "/")

    def _write(self, rel: str, text: str) -> None:
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # an fd handed out earlier keeps the text it had

    def refresh(self) -> None:
        """Write every file as the simulated kernel's state is now."""
        for rel, text in views.node_directory(self.kernel, self.cpus).items():
            self._write(rel, text)


def status_text(real: str, proc: SimProcess, max_numnodes: int) -> str:
    """/proc/PID/status with the simulated task's Mems_allowed lines."""
    mems = iter(views.mems_allowed_lines(proc, max_numnodes))
    out = []
    for line in real.splitlines():
        if line.startswith(("Mems_allowed:", "Mems_allowed_list:")):
            line = next(mems)
        out.append(line)
    return "\n".join(out) + "\n"
