"""get_mempolicy(2), set_mempolicy(2) and mbind(2), in the kernel's check order."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from simnuma.abi import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_ADDR,
    MPOL_F_MEMS_ALLOWED,
    MPOL_F_NODE,
    MPOL_F_NUMA_BALANCING,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
    MPOL_PREFERRED_MANY,
    MPOL_WEIGHTED_INTERLEAVE,
    nodemask_words,
    pack_ints,
    pack_ulongs,
)
from simnuma.abi.quirks import Quirk
from simnuma.creds import CAP_SYS_NICE
from simnuma.explain import because, mirrors
from simnuma.frames import ISOLATED, PAGE_SHIFT, PAGE_SIZE, ZERO, OutOfNodeMemory
from simnuma.mempolicy import (
    Mempolicy,
    candidate_nodes,
    relative_nodemask,
    vma_interleave_index,
)
from simnuma.migrate import migrate_frames, queue_pages
from simnuma.mm import AddressSpace
from simnuma.syscalls.common import get_nodes
from simnuma.uaccess import as_s32, as_u32, as_u64

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel
    from simnuma.process import SimProcess

MPOL_MODE_FLAGS = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING
MPOL_MF_VALID = MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL


def mpol_max(kernel: SimKernel) -> int:
    """MPOL_MAX of the release: the modes added later are named quirks."""
    profile = kernel.profile
    if profile.has(Quirk.MPOL_WEIGHTED_INTERLEAVE_MODE):
        return MPOL_WEIGHTED_INTERLEAVE + 1
    if profile.has(Quirk.MPOL_PREFERRED_MANY_MODE):
        return MPOL_PREFERRED_MANY + 1
    if profile.has(Quirk.MPOL_LOCAL_MODE):
        return MPOL_LOCAL + 1
    return MPOL_INTERLEAVE + 1


@mirrors("sanitize_mpol_flags")
def sanitize_mpol_flags(kernel: SimKernel, mode: int) -> tuple[int, int] | int:
    """Split mode flags off the mode: (mode, flags) or -EINVAL."""
    known_flags = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES
    if kernel.profile.has(Quirk.MPOL_F_NUMA_BALANCING_FLAG):
        known_flags |= MPOL_F_NUMA_BALANCING
    flags = mode & known_flags
    mode &= ~known_flags
    # EINVAL: mode is invalid (a mode of a later release is beyond this one's MPOL_MAX)
    if not 0 <= mode < mpol_max(kernel):
        later = _LATER_MODES.get(mode & ~MPOL_F_NUMA_BALANCING, "")
        if mode & MPOL_F_NUMA_BALANCING:
            later = "set_mempolicy.errno.EINVAL.mode.numa_balancing"
        return because(-errno.EINVAL, "set_mempolicy.errno.EINVAL.mode", *filter(None, [later]))
    # EINVAL: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES together
    if flags & MPOL_F_STATIC_NODES and flags & MPOL_F_RELATIVE_NODES:
        return because(-errno.EINVAL, "set_mempolicy.errno.EINVAL.static_and_relative")
    # EINVAL: MPOL_F_NUMA_BALANCING with a mode other than MPOL_BIND
    if flags & MPOL_F_NUMA_BALANCING and mode not in (MPOL_BIND, MPOL_PREFERRED_MANY):
        return because(-errno.EINVAL, "set_mempolicy.errno.EINVAL.mode")
    if flags & MPOL_F_NUMA_BALANCING:
        kernel.record.note("set_mempolicy.mode.numa_balancing")
    return mode, flags


_LATER_MODES = {
    MPOL_LOCAL: "set_mempolicy.errno.EINVAL.mode.local",
    MPOL_PREFERRED_MANY: "set_mempolicy.errno.EINVAL.mode.preferred_many",
    MPOL_WEIGHTED_INTERLEAVE: "set_mempolicy.errno.EINVAL.mode.weighted_interleave",
}
# the clause that a mode, accepted, is named by
_MODE_CLAUSES = {
    MPOL_LOCAL: "set_mempolicy.mode.local",
    MPOL_PREFERRED_MANY: "set_mempolicy.mode.preferred_many",
    MPOL_WEIGHTED_INTERLEAVE: "set_mempolicy.mode.weighted_interleave",
}


@mirrors("mpol_new")
def mpol_new(
    kernel: SimKernel, current: SimProcess, mode: int, flags: int, nodes: frozenset[int]
) -> Mempolicy | int | None:
    """mpol_new() + mpol_set_nodemask(): the policy to install (None = default) or -EINVAL."""
    if mode == MPOL_DEFAULT:
        # EINVAL: MPOL_DEFAULT with a non-empty nodemask
        return because(-errno.EINVAL, "set_mempolicy.errno.EINVAL.mode") if nodes else None
    if mode == MPOL_PREFERRED and not nodes:
        # EINVAL: local preference cannot be static or relative
        if flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES):
            return because(-errno.EINVAL, "set_mempolicy.errno.EINVAL.local_static")
        mode = MPOL_LOCAL if kernel.profile.has(Quirk.MPOL_LOCAL_MODE) else MPOL_PREFERRED
        return Mempolicy(mode, frozenset(), flags)
    if mode == MPOL_LOCAL:
        # EINVAL: MPOL_LOCAL takes no nodes
        if nodes or flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES):
            return because(-errno.EINVAL)
        kernel.record.note("set_mempolicy.mode.local")
        return Mempolicy(MPOL_LOCAL, frozenset(), flags)
    # EINVAL: the other modes need a non-empty nodemask
    if not nodes:
        return because(-errno.EINVAL, "set_mempolicy.errno.EINVAL.empty_nodes")
    allowed = current.cpuset & kernel.memory_nodes()
    if flags & MPOL_F_RELATIVE_NODES:
        effective = relative_nodemask(nodes, allowed)
    else:
        effective = nodes & allowed
    # EINVAL: none of the nodes is allowed by the cpuset (or has memory)
    if not effective:
        return because(-errno.EINVAL, "set_mempolicy.errno.EINVAL.no_memory_node")
    kernel.record.note(*filter(None, [_MODE_CLAUSES.get(mode)]))
    if mode == MPOL_PREFERRED:
        effective = frozenset({min(effective)})
    return Mempolicy(mode, effective, flags, user_nodes=nodes, mems=current.cpuset)


# --- get_mempolicy(2) ---------------------------------------------------------------------
@mirrors("kernel_get_mempolicy")
def sys_get_mempolicy(
    kernel: SimKernel,
    current: SimProcess,
    policy: int,
    nmask: int,
    maxnode: int,
    addr: int,
    flags: int,
) -> int:
    policy, nmask, maxnode, addr, flags = map(as_u64, (policy, nmask, maxnode, addr, flags))
    mm = current.mm
    assert mm is not None
    nr_node_ids = max(kernel.nodes) + 1
    # EINVAL: nmask given with maxnode smaller than the number of node ids
    if nmask and maxnode < nr_node_ids:
        return because(-errno.EINVAL, "get_mempolicy.errno.EINVAL.maxnode")
    # EINVAL: unknown flags
    if flags & ~(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED):
        return because(-errno.EINVAL, "get_mempolicy.errno.EINVAL.flags")
    if flags & MPOL_F_MEMS_ALLOWED:
        # EINVAL: MPOL_F_MEMS_ALLOWED with MPOL_F_NODE or MPOL_F_ADDR
        if flags & (MPOL_F_NODE | MPOL_F_ADDR):
            return because(-errno.EINVAL, "get_mempolicy.errno.EINVAL.mems_allowed_combined")
        # the *caller's* cpuset, whatever pid a later move_pages() names
        kernel.record.note("get_mempolicy.mems_allowed")
        return _copy_out(mm, policy, 0, nmask, maxnode, current.cpuset, nr_node_ids)
    pol: Mempolicy | None = current.policy
    if flags & MPOL_F_ADDR:
        vma = mm.vma_lookup(addr)
        # EFAULT: MPOL_F_ADDR and no mapping at addr (addr NULL included)
        if vma is None:
            return because(-errno.EFAULT, "get_mempolicy.errno.EFAULT.addr")
        pol = vma.policy  # no fallback to the task policy: MPOL_DEFAULT then
        if vma.file is not None and vma.shmem:
            # shmem_get_policy(): the object's shared policy at that page
            pol = vma.file.policy_at(vma.file_index(addr >> PAGE_SHIFT))
    elif addr:
        # EINVAL: addr given without MPOL_F_ADDR
        return because(-errno.EINVAL, "get_mempolicy.errno.EINVAL.addr_without_flag")
    if pol is None:
        pol = Mempolicy(MPOL_DEFAULT)
    kernel.record.note(*pol.why)
    if flags & MPOL_F_NODE:
        if flags & MPOL_F_ADDR:
            # lookup_node(): get_user_pages_fast() read-faults the page in
            node = _lookup_node(mm, addr)
            if node < 0:
                return node
            kernel.record.note("get_mempolicy.node_addr")
            value = node
        elif pol is current.policy and pol.mode in (MPOL_INTERLEAVE, MPOL_WEIGHTED_INTERLEAVE):
            if current.rotor_moved:
                kernel.approximated.add("INTERLEAVE_ROTOR_OWN_ALLOCATIONS")
            nodes = sorted(pol.nodes)
            value = nodes[current.il_next % len(nodes)]
        else:
            # EINVAL: MPOL_F_NODE alone needs an interleave task policy
            return because(-errno.EINVAL, "get_mempolicy.errno.EINVAL.node_without_interleave")
    else:
        mode = pol.mode
        # MODE: a local policy reads back as MPOL_PREFERRED until 5.14 (MPOL_F_LOCAL)
        if mode == MPOL_LOCAL and kernel.profile.has(Quirk.MPOL_LOCAL_READS_AS_PREFERRED):
            mode = MPOL_PREFERRED
            kernel.record.note("get_mempolicy.mode.local_as_preferred")
        elif mode == MPOL_LOCAL:
            kernel.record.note("get_mempolicy.mode.local")
        else:
            kernel.record.note(*filter(None, [_MODE_CLAUSES.get(mode)]))
        value = mode | (pol.flags & MPOL_MODE_FLAGS)
    # policies set with MPOL_F_STATIC_NODES/RELATIVE_NODES report the nodes as given
    user_mask = pol.flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES)
    reported = pol.user_nodes if user_mask else pol.nodes
    return _copy_out(mm, policy, value, nmask, maxnode, reported, nr_node_ids)


@mirrors("lookup_node")
def _lookup_node(mm: AddressSpace, addr: int) -> int:
    page = addr & ~(PAGE_SIZE - 1)
    vma = mm.vma_lookup(page)
    # EFAULT: get_user_pages_fast() finds no readable mapping
    if vma is None or not vma.prot & 1:
        return because(-errno.EFAULT, "get_mempolicy.errno.EFAULT.addr")
    try:
        frame = mm.fault(vma, page, write=False)
    except OutOfNodeMemory:
        # ENOMEM: get_user_pages(): VM_FAULT_OOM
        return because(-errno.ENOMEM)
    return 0 if frame.flags & ZERO else frame.nid


@mirrors("kernel_get_mempolicy")
def _copy_out(
    mm: AddressSpace,
    policy: int,
    value: int,
    nmask: int,
    maxnode: int,
    nodes: frozenset[int],
    nr_node_ids: int,
) -> int:
    # EFAULT: policy not writable
    if policy and mm.copy_to_user(policy, pack_ints([value])) != 4:
        return because(-errno.EFAULT, "get_mempolicy.errno.EFAULT.policy")
    if not nmask:
        return because(0)
    copy = ((maxnode - 1 + 63) // 64) * 8
    nbytes = ((nr_node_ids + 63) // 64) * 8
    if copy > nbytes:
        # EINVAL: a mask of more than a page
        if copy > PAGE_SIZE:
            return because(-errno.EINVAL, "get_mempolicy.errno.EINVAL.mask_over_page")
        # EFAULT: the mask's tail could not be cleared
        if mm.copy_to_user(nmask + nbytes, bytes(copy - nbytes)) != copy - nbytes:
            return because(-errno.EFAULT, "get_mempolicy.errno.EFAULT.nmask")
        copy = nbytes
    # only the first ``copy`` bytes of the nodemask go out: a user nodemask kept for
    # MPOL_F_STATIC/RELATIVE_NODES may name nodes beyond nr_node_ids (up to
    # MAX_NUMNODES), and those bits are simply not copied
    bits = copy * 8
    data = pack_ulongs(nodemask_words(sorted(n for n in nodes if n < bits), bits))[:copy]
    # EFAULT: nmask not writable
    if mm.copy_to_user(nmask, data) != len(data):
        return because(-errno.EFAULT, "get_mempolicy.errno.EFAULT.nmask")
    return because(0)


# --- set_mempolicy(2) -----------------------------------------------------------------------
@mirrors("kernel_set_mempolicy")
def sys_set_mempolicy(
    kernel: SimKernel, current: SimProcess, mode: int, nmask: int, maxnode: int
) -> int:
    mode, nmask, maxnode = as_s32(mode), as_u64(nmask), as_u64(maxnode)
    split = sanitize_mpol_flags(kernel, mode)
    if isinstance(split, int):
        return split
    lmode, mode_flags = split
    # EINVAL/EFAULT: the nodemask
    nodes = get_nodes(kernel, current, nmask, maxnode)
    if isinstance(nodes, int):
        return nodes
    new = mpol_new(kernel, current, lmode, mode_flags, nodes)
    if isinstance(new, int):
        return new
    current.policy = new or Mempolicy(MPOL_DEFAULT)
    current.il_next = 0
    current.rotor_moved = False
    # the task's new pages follow it from now on
    return because(0, "set_mempolicy.placement")


# --- mbind(2) --------------------------------------------------------------------------------
@mirrors("kernel_mbind")
def sys_mbind(
    kernel: SimKernel,
    current: SimProcess,
    start: int,
    length: int,
    mode: int,
    nmask: int,
    maxnode: int,
    flags: int,
) -> int:
    start, length, nmask, maxnode = as_u64(start), as_u64(length), as_u64(nmask), as_u64(maxnode)
    mode, flags = as_s32(as_u64(mode)), as_u32(flags)
    mm = current.mm
    assert mm is not None
    split = sanitize_mpol_flags(kernel, mode)
    if isinstance(split, int):
        return split
    lmode, mode_flags = split
    # EINVAL/EFAULT: the nodemask
    nodes = get_nodes(kernel, current, nmask, maxnode)
    if isinstance(nodes, int):
        return nodes
    # EINVAL: unknown flags
    if flags & ~MPOL_MF_VALID:
        return because(-errno.EINVAL, "mbind.errno.EINVAL.flags")
    # EPERM: MPOL_MF_MOVE_ALL without CAP_SYS_NICE
    if flags & MPOL_MF_MOVE_ALL and not current.creds.capable(CAP_SYS_NICE):
        return because(-errno.EPERM, "mbind.errno.EPERM.move_all")
    # EINVAL: start not page aligned
    if start & (PAGE_SIZE - 1):
        return because(-errno.EINVAL, "mbind.errno.EINVAL.unaligned")
    if lmode == MPOL_DEFAULT:
        flags &= ~MPOL_MF_STRICT
    # PAGE_ALIGN(len) and start + len in unsigned long: a len within a page of 2**64
    # rounds to 0, and a range reaching 2**64 ends at 0
    end = as_u64(start + as_u64((length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)))
    # EINVAL: the range wraps
    if end < start:
        return because(-errno.EINVAL, "mbind.errno.EINVAL.wraps")
    # an empty range: nothing to do
    if end == start:
        return because(0, "mbind.result.empty_range")
    new = mpol_new(kernel, current, lmode, mode_flags, nodes)
    if isinstance(new, int):
        return new
    # EFAULT: the range has unmapped holes (any hole for a non-default policy)
    covered = sum(min(v.end, end) - max(v.start, start) for v in mm.vmas_in(start, end))
    if covered == 0 or (new is not None and covered != end - start):
        return because(-errno.EFAULT, "mbind.errno.EFAULT.hole")
    # EINVAL: a hugetlb VMA split off a huge page boundary (hugetlb_vm_op_split())
    err = mm.split_errno(start, end)
    if err:
        return because(-err)
    # EIO: MPOL_MF_STRICT alone and a misplaced page: queue_pages_range() fails the
    # call before mbind_range(), so the policy is not set (numa-fuzz on 6.1; the 5.10,
    # 6.12 and 7.2 guests alike)
    if flags & MPOL_MF_STRICT and not flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        misplaced, unqueued = queue_pages(kernel, mm, start, end, set(nodes), True, True)
        for frame in misplaced:
            frame.flags &= ~ISOLATED
        if misplaced or unqueued:
            return because(
                -errno.EIO, "mbind.errno.EIO.strict", "mbind.errno.EIO.strict_keeps_policy"
            )
    mm.split(start)
    mm.split(end)
    for vma in mm.vmas_in(start, end):
        vma.policy = new
        if vma.file is not None and vma.shmem:
            kernel.record.note("mbind.shmem.shared_policy")
            # vma_replace_policy() -> shmem_set_policy(): the object's shared policy,
            # which every mapping of it then allocates by
            first = vma.file_index(vma.start >> PAGE_SHIFT)
            vma.file.set_policy(first, vma.file_index(vma.end >> PAGE_SHIFT), new)
    # the range's new pages follow the policy from now on
    kernel.record.note("mbind.placement")
    if not flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL | MPOL_MF_STRICT):
        return because(0)
    # queue_pages_range() is given the caller's nodemask, not the policy's nodes: an
    # empty one (MPOL_LOCAL, MPOL_PREFERRED without nodes) misplaces every page, so
    # MPOL_MF_STRICT alone is EIO for any present page (found by numa-fuzz on 6.18)
    wanted = set(nodes)
    # MPOL_MF_STRICT alone checks every page, a shared one too (only a move leaves
    # shared pages alone without MPOL_MF_MOVE_ALL; numa-fuzz, after a fork, on 6.18)
    moving = bool(flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL))
    misplaced, unqueued = queue_pages(
        kernel, mm, start, end, wanted, True, bool(flags & MPOL_MF_MOVE_ALL) or not moving
    )
    failed = unqueued
    if flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        # MPOL_DEFAULT queued every page (its nodemask is empty): they move as the task's
        # policy places them, the VMA's being gone (new_page() in 5.10, "Convert
        # MPOL_DEFAULT's NULL to task or default policy" from 6.7; numa-fuzz on 6.12)
        placing = new or current.policy
        if new is None and misplaced:
            kernel.record.note("mbind.move.default")
        targets = []
        for frame in misplaced:
            addr = _first_address(mm, frame, start, end)
            where = mm.vma_lookup(addr)
            assert where is not None
            index = vma_interleave_index(where.start, where.pgoff, addr)
            order = candidate_nodes(kernel, placing, current.cpu_node, current.cpuset, index)
            targets.append(next((n for n in order if kernel.nodes[n].has_memory), order[0]))
        migration = migrate_frames(kernel, misplaced, targets)
        if migration.rc < 0:
            return migration.rc
        failed += migration.rc
    else:
        failed += len(misplaced)
        for frame in misplaced:
            frame.flags &= ~ISOLATED  # put back: STRICT alone only checks placement
    # EIO: MPOL_MF_STRICT and some page in the range is (still) misplaced
    if failed and flags & MPOL_MF_STRICT:
        return because(-errno.EIO, "mbind.errno.EIO.strict")
    return because(0)


def _first_address(mm: AddressSpace, frame: object, start: int, end: int) -> int:
    for vpn in range(start >> PAGE_SHIFT, end >> PAGE_SHIFT):
        if mm.pt.get(vpn) is frame:
            return vpn << PAGE_SHIFT
    return start
