"""The raw-ABI fuzz, long form: random NUMA syscalls across every profile and many
topologies, with ``check_consistency()`` after every call.

    python3 benchmarks/fuzz_raw_abi.py [--calls 1000000] [--workers 2] [--seed 1]

Worlds reach the deep paths: THP and hugetlb pages, pinned small pages and a pinned
THP, isolated, swapped, mlocked and PROT_NONE pages, page cache of filesystems that
cannot migrate, a forked child sharing pages, nodes so small that moves fail for room
(a THP's 512 pages do not fit), memoryless and sparse nodes, a caller confined to a
cpuset.  Arguments are mostly plausible (arrays naming the target's pages, node lists
with good and bad nodes, masks) and sometimes random registers.  Any exception from
``p.syscall`` and any broken invariant is a failure; the first few are printed.
Exits non-zero on any.  ``tests/test_raw_abi_fuzz.py`` runs a few thousand calls.
"""

from __future__ import annotations

import argparse
import errno
import os
import random
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from simnuma import NodeSpec, SimKernel, Topology, named_profiles
from simnuma.abi import (
    MPOL_BIND,
    MPOL_F_ADDR,
    MPOL_F_MEMS_ALLOWED,
    MPOL_F_NODE,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
    PROT_NONE,
    pack_ints,
    pack_ulongs,
)
from simnuma.process import SimProcess
from simnuma.syscalls import SYSCALLS

PAGE = 4096
HPAGE = 2 << 20
PATTERN = bytes(range(256)) * 16
PROFILES = [p.name for p in named_profiles()]
NAMES = sorted(SYSCALLS)
CALLS_PER_WORLD = 150


def topology(rng: random.Random) -> Topology:
    """2-4 nodes, sometimes sparse ids, a memoryless node, nodes too small for a THP."""
    count = rng.randint(2, 4)
    ids = sorted(rng.sample(range(8), count)) if rng.random() < 0.3 else list(range(count))
    nodes = {}
    for i, nid in enumerate(ids):
        if i == 0:
            memory = 64 << 20
        else:
            memory = rng.choice([0, 8 * PAGE, 300 * PAGE, 600 * PAGE, 64 << 20])
        nodes[nid] = NodeSpec(memory, cpus=i == 0 or not memory or rng.random() < 0.5)
    return Topology(nodes)


@dataclass
class World:
    kernel: SimKernel
    caller: SimProcess
    target: SimProcess
    args: int  # the caller's argument area (4 pages)
    addrs: list[int]  # addresses in the target worth naming
    private: int  # the target's page-pattern run (contents must never change)
    nodes: list[int]
    junk: list[int] = field(default_factory=list)


def world(rng: random.Random) -> World:
    k = SimKernel(topology=topology(rng), profile=rng.choice(PROFILES))
    mem = k.memory_node_ids()
    q = k.spawn()
    private = q.mmap(8 * PAGE)
    q.write_bytes(private, PATTERN * 8)
    addrs = [private + i * PAGE for i in range(8)]
    shared = q.mmap(2 * PAGE, shared=True)
    q.touch(shared, 2 * PAGE)
    addrs += [shared, shared + PAGE]
    f = k.create_file(4 * PAGE, fs=rng.choice(["tmpfs", "nomigrate", "nomigrate-nowriteback"]))
    k.write_file(f, 0, b"x" * PAGE)
    fmap = q.mmap(4 * PAGE, file=f, shared=rng.random() < 0.5)
    q.read(fmap, 2 * PAGE)
    addrs += [fmap, fmap + PAGE, fmap + 3 * PAGE]
    if k.has_thp:
        thp = q.mmap(HPAGE, huge="thp")
        q.touch(thp, HPAGE)
        addrs += [thp, thp + 7 * PAGE, thp + HPAGE - PAGE]
        if rng.random() < 0.4:
            k.pin(q, thp + rng.randrange(512) * PAGE)
    huge = q.mmap(HPAGE, huge="hugetlb")
    if rng.random() < 0.5:
        q.touch(huge, PAGE)
    addrs += [huge, huge + PAGE]
    if rng.random() < 0.5:
        k.pin(q, addrs[1])
    k.isolate(q, addrs[2]) if rng.random() < 0.3 else None
    if rng.random() < 0.3:
        k.swap_out(q, addrs[3])
    if rng.random() < 0.3:
        guarded = q.mmap(2 * PAGE)
        q.touch(guarded, 2 * PAGE)
        q.mprotect(guarded, PAGE, PROT_NONE)
        addrs += [guarded, guarded + PAGE]
    if rng.random() < 0.3:
        q.mlock(addrs[5], PAGE)
    if rng.random() < 0.5:
        q.fork().touch(shared, PAGE)
    cpuset = None if rng.random() < 0.7 else rng.sample(mem, rng.randint(1, len(mem)))
    p = k.spawn(uid=rng.choice([0, 0, 1000]), cpuset_mems=cpuset)
    p.mmap(40 * PAGE)  # the same addresses exist in the caller too
    args = p.mmap(4 * PAGE)
    p.touch(args, 4 * PAGE)
    if rng.random() < 0.3:
        # last: a full node (the syscalls' own writes may then find no room)
        nid = rng.choice(mem)
        k.fill_node(nid, free_pages=min(k.nodes[nid].free, rng.choice([0, 3, 100])))
    return World(k, p, q, args, addrs, private, sorted(k.nodes))


def node_value(rng: random.Random, w: World) -> int:
    r = rng.random()
    if r < 0.8:
        return rng.choice(w.nodes)
    return rng.choice([-1, max(w.nodes) + 1, 1023, 1024, 5000, 2**31 - 1])


def mask(rng: random.Random, w: World) -> list[int]:
    return rng.sample(w.nodes, rng.randint(0, len(w.nodes)))


def fill_args(rng: random.Random, w: World) -> int:
    """Arrays in the caller's argument area; returns how many pages[] entries."""
    n = rng.choice([0, 1, 2, 3, 5, 8, 20, 170])
    pages = [rng.choice(w.addrs) + rng.choice([0, 0, 0, 1, 4095]) for _ in range(n)]
    if n and rng.random() < 0.1:
        pages[rng.randrange(n)] = rng.choice([0, 2**64 - 1, 1 << 47])
    nodes = [node_value(rng, w) for _ in range(n)]
    data = pack_ulongs(pages) + pack_ints(nodes)
    w.caller.write_bytes(w.args, data[: 3 * PAGE])
    m1, m2 = mask(rng, w), mask(rng, w)
    words = [sum(1 << b for b in m1 if b < 64), sum(1 << b for b in m2 if b < 64)]
    w.caller.write_bytes(w.args + 3 * PAGE, pack_ulongs(words + [0] * 6))
    return n


def plausible(rng: random.Random, w: World, name: str) -> list[int]:
    a = w.args
    mask1, mask2 = a + 3 * PAGE, a + 3 * PAGE + 8
    pid = rng.choice([0, w.target.pid, w.target.pid, w.caller.pid, 1, 99999])
    maxnode = rng.choice([0, 1, 2, 3, 9, 64, 65, 129, 1025, 4097, 32769, 32770])
    n = fill_args(rng, w)
    if name == "move_pages":
        flags = rng.choice([0, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, MPOL_MF_MOVE | 8])
        nodes = 0 if rng.random() < 0.3 else a + 8 * n
        count = n if rng.random() < 0.9 else rng.choice([n + 1, 2**32 + n, 2**63])
        return [pid, count, a, nodes, a + 2 * PAGE, flags]
    if name == "migrate_pages":
        return [pid, maxnode, mask1, mask2]
    if name == "set_mempolicy":
        mode = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, -1])
        mode |= rng.choice([0, 0, MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, 1 << 13])
        return [mode, mask1, maxnode]
    if name == "mbind":
        start = rng.choice(w.addrs) & ~(PAGE - 1)
        length = rng.choice([0, PAGE, 2 * PAGE, HPAGE, 3 * PAGE + 1])
        mode = rng.choice([0, MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, 4])
        flags = rng.choice([0, MPOL_MF_STRICT, MPOL_MF_MOVE, MPOL_MF_MOVE | MPOL_MF_STRICT])
        flags |= rng.choice([0, 0, MPOL_MF_MOVE_ALL])
        # mbind acts on the caller's own memory: name the target's layout there too
        return [start, length, mode, mask1, maxnode, flags]
    # get_mempolicy
    flags = rng.choice(
        [0, MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_NODE | MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED]
    )
    addr = rng.choice([0, rng.choice(w.addrs), a])
    return [a + 2 * PAGE, mask1, maxnode, addr, flags]


def random_regs(rng: random.Random, w: World) -> list[int]:
    pick = [
        lambda: rng.randrange(-(2**63), 2**64),
        lambda: rng.randrange(17),
        lambda: w.args + rng.randrange(4 * PAGE),
        lambda: rng.choice(w.addrs),
        lambda: w.target.pid,
    ]
    return [rng.choice(pick)() for _ in range(rng.randint(0, 7))]


@dataclass
class Stats:
    calls: int = 0
    exceptions: int = 0
    broken: int = 0
    worlds: int = 0
    errnos: dict[int, int] = field(default_factory=dict)
    first: list[str] = field(default_factory=list)

    def add(self, other: Stats) -> None:
        self.calls += other.calls
        self.exceptions += other.exceptions
        self.broken += other.broken
        self.worlds += other.worlds
        for e, c in other.errnos.items():
            self.errnos[e] = self.errnos.get(e, 0) + c
        self.first += other.first[: max(0, 5 - len(self.first))]


def run(calls: int, seed: int) -> Stats:
    rng = random.Random(seed)
    stats = Stats()
    while stats.calls < calls:
        w = world(rng)
        stats.worlds += 1
        checked = True
        for _ in range(min(CALLS_PER_WORLD, calls - stats.calls)):
            name = rng.choice(NAMES) if rng.random() < 0.98 else "fork_bomb"
            regs = plausible(rng, w, name) if rng.random() < 0.85 else random_regs(rng, w)
            caller = w.caller if rng.random() < 0.8 else w.target
            # the target writing its own memory may change the pattern: no check then
            checked = checked and caller is w.caller
            stats.calls += 1
            where = f"seed {seed} world {stats.worlds} {w.kernel.profile.name}: {name}{regs}"
            try:
                ret, err = caller.syscall(name, *regs)
                if (ret == -1) != (err != 0) or (err and err not in errno.errorcode):
                    raise AssertionError(f"bad answer ({ret}, {err})")
                stats.errnos[err] = stats.errnos.get(err, 0) + 1
            except Exception:
                stats.exceptions += 1
                if len(stats.first) < 5:
                    stats.first.insert(0, f"{where}\n{traceback.format_exc()}")
                break  # a new world: this one may be half-changed
            try:
                w.kernel.check_consistency()
            except AssertionError:
                stats.broken += 1
                if len(stats.first) < 5:
                    stats.first.append(f"{where}\n{traceback.format_exc()}")
                break
        try:
            if checked and w.target.read_bytes(w.private, 8 * PAGE) != PATTERN * 8:
                raise AssertionError("the target's contents changed")
            w.kernel.close()
            w.kernel.check_consistency()
        except Exception:
            stats.broken += 1
            if len(stats.first) < 5:
                stats.first.append(
                    f"seed {seed} world {stats.worlds} end\n{traceback.format_exc()}"
                )
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    share = [
        args.calls // args.workers + (i < args.calls % args.workers) for i in range(args.workers)
    ]
    total = Stats()
    with ProcessPoolExecutor(args.workers) as pool:
        for stats in pool.map(run, share, [args.seed * 1000 + i for i in range(args.workers)]):
            total.add(stats)
    elapsed = time.perf_counter() - start
    top = sorted(total.errnos.items(), key=lambda kv: -kv[1])[:8]
    print(
        f"{total.calls} calls in {total.worlds} worlds, {len(PROFILES)} profiles, "
        f"{args.workers} workers: {total.exceptions} exceptions, {total.broken} broken "
        f"invariants, {elapsed:.0f} s"
    )
    print(
        "answers:", ", ".join(f"{errno.errorcode.get(e, 'ok') if e else 'ok'} {c}" for e, c in top)
    )
    for text in total.first:
        print(text)
    return 1 if total.exceptions or total.broken else 0


if __name__ == "__main__":
    sys.exit(main())
