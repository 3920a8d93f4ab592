"""Sections 2-4 and 8 of docs/tutorial.md on the kernel this runs on (the tutorial runs
it in a QEMU guest with ``numa-run``): the same calls through realnuma's host backend."""

from realnuma import HostKernel
from simnuma.abi import MPOL_BIND, MPOL_DEFAULT, MPOL_INTERLEAVE, MPOL_MF_MOVE, format_statuses

with HostKernel() as k:
    page = k.page_size
    p = k.spawn()
    k.run_on(p, 0)  # node 0's CPU, as the simulated process: "local" is node 0
    a = p.mmap(4 * page)
    p.touch(a, 2 * page)
    pages = [a + i * page for i in range(4)]
    print("first touch:", format_statuses(p.move_pages(0, pages, None, 0).status))
    p.set_mempolicy(MPOL_INTERLEAVE, [0, 1])
    b = p.mmap(4 * page)
    p.touch(b, 4 * page)
    interleaved = p.move_pages(0, [b + i * page for i in range(4)], None, 0).status
    alternates = sorted(interleaved) == [0, 0, 1, 1] and interleaved[0] != interleaved[1]
    print("interleave alternates:", alternates)
    p.set_mempolicy(MPOL_DEFAULT, [])
    c = p.mmap(2 * page)
    p.mbind(c, 2 * page, MPOL_BIND, [1])
    p.touch(c, 2 * page)
    print("mbind:", format_statuses(p.move_pages(0, [c, c + page], None, 0).status))
    r = p.move_pages(0, [a, a + page, a + 2 * page, 0], [1, 1, 1, 1], MPOL_MF_MOVE)
    print("move:", r.ret, format_statuses(r.status))
    fresh = p.mmap(page)
    print("untouched:", format_statuses(p.move_pages(0, [fresh], None, 0).status))
