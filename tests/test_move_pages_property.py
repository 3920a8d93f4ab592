"""Random move_pages() calls on a varied world: whatever the profile, what the call
reports agrees with where the pages really are, and nothing is lost or corrupted."""

from __future__ import annotations

import errno

from hypothesis import given, settings
from hypothesis import strategies as st

from simnuma import NodeSpec, Quirk, Topology
from simnuma.abi import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, UNWRITTEN, format_status, move_pages_raw
from simnuma.profiles import Profile
from simnuma.strategies import NumaWorld, worlds

PAGE = 4096
DOCUMENTED = {errno.E2BIG, errno.EACCES, errno.EFAULT, errno.EINVAL, errno.ENODEV}
DOCUMENTED |= {errno.ENOENT, errno.ENOMEM, errno.EPERM, errno.ESRCH}
KINDS = ["touched", "zero", "untouched", "shared", "pinned", "unmapped"]
TOPOLOGY = Topology({0: NodeSpec(), 1: NodeSpec(), 2: NodeSpec(), 3: NodeSpec(memory=0)})
WORLDS = worlds(
    topologies=st.just(TOPOLOGY),
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=12),
    fork=True,  # every page mapped before fork(): the child maps each present page too
    cpuset_mems=st.sampled_from([None, [0, 1], [1, 2]]),
)


def allowed_statuses(profile: Profile, kind: str, move_all: bool) -> set[int]:
    """The negative statuses a page of ``kind`` may get at ``profile`` (the world is
    forked after set-up, so the child maps each present page too)."""
    if kind == "zero":  # the zero page: PageReserved -ENOENT until 4.3
        return {-errno.ENOENT if profile.has(Quirk.ZERO_PAGE_ENOENT) else -errno.EFAULT}
    if kind == "untouched":  # never populated: 4.3-6.11's FOLL_DUMP side effect gives -EFAULT
        return {-errno.EFAULT if profile.has(Quirk.UNPOPULATED_ANON_EFAULT) else -errno.ENOENT}
    if kind == "unmapped":  # a hole: before 2.6.37 a VMA above it answers -ENOENT
        return (
            {-errno.EFAULT, -errno.ENOENT}
            if profile.has(Quirk.HOLE_BELOW_VMA_ENOENT)
            else {-errno.EFAULT}
        )
    allowed = set() if move_all else {-errno.EACCES}  # mapped by the child too
    per_page_outcome = profile.has(Quirk.MOVE_PAGES_WHOLE_ARRAY) or profile.has(
        Quirk.MOVE_PAGES_CHUNKED
    )
    if kind == "pinned" and move_all and per_page_outcome:  # until 4.17 migration's -EAGAIN
        allowed.add(-errno.EAGAIN)
    return allowed


@settings(max_examples=1000, deadline=None)
@given(
    world=WORLDS,
    targets=st.lists(st.sampled_from([0, 1, 2, 3, -1, 7]), min_size=12, max_size=12),
    move_all=st.booleans(),
)
def test_reports_match_reality(world: NumaWorld, targets: list[int], move_all: bool) -> None:
    k, p, addrs, kinds = world.kernel, world.process, world.pages, world.kinds
    nodes = targets[: len(addrs)]
    if k.profile.has(Quirk.NODE_RANGE_UNCHECKED):
        nodes = [7 if n < 0 else n for n in nodes]  # the CVE-2010-0415 read is not modelled
    flags = MPOL_MF_MOVE_ALL if move_all else MPOL_MF_MOVE

    ret, err, status = move_pages_raw(p, 0, addrs, nodes, flags)

    world.check()  # consistency, and every written page kept its contents
    where = p.move_pages(0, addrs, None, 0).status
    pinned = "pinned" in kinds
    if ret == -1:
        assert err in DOCUMENTED, errno.errorcode[err]
    else:
        assert err == 0
        assert 0 <= ret <= len(addrs)
        if ret and not k.profile.has(Quirk.MOVE_PAGES_WHOLE_ARRAY):
            assert pinned, "only pinned pages fail to migrate here"
        # unwritten entries come with a positive count, except where the kernel left
        # already-placed entries unwritten (4.17–5.4) or counted one short (5.6–6.0)
        unwritten_ok = (
            ret > 0
            or k.profile.has(Quirk.ALREADY_ON_TARGET_UNWRITTEN)
            or (pinned and k.profile.has(Quirk.UNATTEMPTED_OFF_BY_ONE))
        )
        for i, value in enumerate(status):
            if value >= 0:
                assert value == nodes[i] == where[i], (i, value, where[i])
            elif value == UNWRITTEN:
                assert unwritten_ok, (i, status)
    # every negative status, written before an error too, is one the page's kind allows
    for i, value in enumerate(status):
        if value < 0 and value != UNWRITTEN:
            allowed = allowed_statuses(k.profile, kinds[i], move_all)
            assert value in allowed, (i, kinds[i], format_status(value), allowed)
