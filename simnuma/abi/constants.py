"""The ABI's constants under their C names (``<linux/mempolicy.h>``, ``<sys/mman.h>``,
``<linux/capability.h>``)."""

from __future__ import annotations

# move_pages(2) / mbind(2) flags (linux/mempolicy.h)
MPOL_MF_STRICT = 1 << 0
MPOL_MF_MOVE = 1 << 1
MPOL_MF_MOVE_ALL = 1 << 2

# get_mempolicy(2) flags
MPOL_F_NODE = 1 << 0
MPOL_F_ADDR = 1 << 1
MPOL_F_MEMS_ALLOWED = 1 << 2

# set_mempolicy(2) mode flags
MPOL_F_NUMA_BALANCING = 1 << 13
MPOL_F_RELATIVE_NODES = 1 << 14
MPOL_F_STATIC_NODES = 1 << 15

# memory policy modes
MPOL_DEFAULT = 0
MPOL_PREFERRED = 1
MPOL_BIND = 2
MPOL_INTERLEAVE = 3
MPOL_LOCAL = 4
MPOL_PREFERRED_MANY = 5
MPOL_WEIGHTED_INTERLEAVE = 6

MODE_NAMES = {
    MPOL_DEFAULT: "MPOL_DEFAULT",
    MPOL_PREFERRED: "MPOL_PREFERRED",
    MPOL_BIND: "MPOL_BIND",
    MPOL_INTERLEAVE: "MPOL_INTERLEAVE",
    MPOL_LOCAL: "MPOL_LOCAL",
    MPOL_PREFERRED_MANY: "MPOL_PREFERRED_MANY",
    MPOL_WEIGHTED_INTERLEAVE: "MPOL_WEIGHTED_INTERLEAVE",
}

# mmap/mprotect protections (sys/mman.h)
PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4

# The syscalls every backend answers through ``Process.syscall``.
SYSCALL_NAMES = ("move_pages", "migrate_pages", "get_mempolicy", "set_mempolicy", "mbind")

# The value move_pages() wrappers pre-fill *status* with, so an entry the kernel
# never wrote (4.17+: a failing batch and everything after it) stays visible.
UNWRITTEN = -(1 << 30)

BITS_PER_LONG = 64
HUGE_PAGE_SIZE = 2 << 20  # a THP or hugetlb page on x86-64 (PMD size)

# The kernel thread every kernel has (a task without an mm): kthreadd.
KTHREADD_PID = 2

# The nodemask size get_mempolicy() is called with: more bits than any kernel has nodes,
# within the page the kernel is willing to clear.
GET_MEMPOLICY_MAXNODE = 4096 + 1

# Capability names and their bit numbers (linux/capability.h)
CAPABILITIES = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_IPC_LOCK": 14,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_NICE": 23,
}


# World-building a backend may or may not be able to do, by feature name.
WORLD_FEATURES = {
    "pin": "take an extra page reference (vmsplice/O_DIRECT)",
    "isolate": "take a page off the LRU as compaction would",
    "writeback": "put a file page under writeback",
    "files": "tmpfs files and their page cache (create_file, write_file, file_page_node)",
    "fs:nomigrate": "files on a filesystem without a migrate function (written out instead)",
    "fs:nomigrate-nowriteback": "files on a filesystem without a migrate function or writeback",
    "fs:nomigrate-ioerror": "files on a filesystem without a migrate function, writeback failing",
    "fill_node": "use up a node's free memory",
    "fill_node_partial": "use up a node's free memory but for a chosen number of pages",
    "kernel_thread": "a kernel thread's pid",
    "dumpable": "prctl(PR_SET_DUMPABLE)",
    "capabilities": "spawn a process holding chosen capabilities",
    "cpuset": "put a process in a cpuset",
    "cpuset_keep_pages": "move a process to another cpuset leaving its pages (v1 memory_migrate=0)",
    "cpuset_migrate_pages": "move a process to another cpuset taking its pages along",
    "thp": "transparent huge pages on demand",
    "hugetlb": "hugetlb pages on demand",
    "run_on": "run a process on a CPU of a chosen node",
    "swap": "reclaim a private anonymous page to swap",
}
