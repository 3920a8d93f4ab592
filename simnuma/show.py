"""python -m simnuma.show: what numactl's tools would print on a simulated machine, and
a short walk through first touch and move_pages(2) with the page maps.

    python -m simnuma.show --nodes 4 --memoryless 3 numactl-H
    python -m simnuma.show --nodes 2 numastat -n
    python -m simnuma.show --nodes 3 demo --pages 12 --png /tmp/demo

The machine options are numa-sim-run's (--nodes, --memoryless IDS, --cpuless IDS,
--mem MIB, --distance D, --profile RELEASE)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from simnuma import pageview, tools
from simnuma.abi import MPOL_MF_MOVE
from simnuma.kernel import SimKernel
from simnuma.run.cli import topology


def _ids(text: str) -> list[int]:
    try:
        return sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of node ids (1,3)") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m simnuma.show",
        description="Print what numactl -H, numastat and numastat -p show on a simulated "
        "NUMA machine, or walk through first touch and move_pages with page maps.",
    )
    p.add_argument("--nodes", type=int, default=2, metavar="N", help="NUMA nodes 0..N-1 (2)")
    p.add_argument("--memoryless", type=_ids, default=[], metavar="IDS", help="no memory")
    p.add_argument("--cpuless", type=_ids, default=[], metavar="IDS", help="no CPU")
    p.add_argument("--mem", type=int, default=16384, metavar="MIB", help="per node (16384)")
    p.add_argument("--distance", type=int, metavar="D", help="between any two nodes (20)")
    p.add_argument("--profile", metavar="RELEASE", help="kernel release (default: newest)")
    sub = p.add_subparsers(dest="what", required=True, metavar="numactl-H|numastat|demo")
    hw = sub.add_parser("numactl-H", help="numactl --hardware")
    hw.add_argument("--numactl", default="2.0.16", metavar="VERSION", help="layout (2.0.16)")
    st = sub.add_parser("numastat", help="numastat (-n: in MB)")
    st.add_argument("-n", action="store_true", help="numastat -n: MB and a Total column")
    st.add_argument("-c", action="store_true", help="numastat -c: compressed columns")
    st.add_argument("-z", action="store_true", help="numastat -z: no rows/columns of zeros")
    demo = sub.add_parser("demo", help="first touch, then move_pages, page maps between")
    demo.add_argument("--pages", type=int, default=8, metavar="N", help="pages to map (8)")
    demo.add_argument("--color", action="store_true", help="ANSI colours in the maps")
    demo.add_argument("--png", metavar="PREFIX", help="also write PREFIX-{touch,moved}.png")
    return p


def _demo(kernel: SimKernel, args: argparse.Namespace, out: list[str]) -> None:
    if args.pages < 1:
        raise ValueError(f"--pages must be at least 1, not {args.pages}")
    targets = kernel.memory_node_ids()
    proc = kernel.spawn()
    size = args.pages * kernel.page_size
    addr = proc.mmap(size)
    out.append(f"$ mmap({size}) = {addr:#x}; touch every page (first touch: the local node)")
    proc.touch(addr, size)
    out.append(pageview.page_map_picture(proc, addr, size, color=args.color))
    if args.png:
        pageview.page_map_png(proc, addr, size, f"{args.png}-touch.png")
    pages = [addr + i * kernel.page_size for i in range(args.pages)]
    nodes = [targets[i * len(targets) // args.pages] for i in range(args.pages)]
    r = proc.move_pages(0, pages, nodes, MPOL_MF_MOVE)
    out.append(f"$ move_pages(0, {args.pages} pages, nodes={nodes}, MPOL_MF_MOVE) = {r.ret}")
    out.append(pageview.page_map_text(proc, addr, size))
    out.append(pageview.page_map_picture(proc, addr, size, color=args.color))
    if args.png:
        pageview.page_map_png(proc, addr, size, f"{args.png}-moved.png")
    out.append(f"$ numastat -p {proc.pid}")
    out.append(tools.numastat_p(proc, comm="demo").lstrip("\n"))


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    out: list[str] = []
    try:
        kernel = SimKernel(topology=topology(args), profile=args.profile)
        if args.what == "numactl-H":
            out.append(tools.numactl_hardware(kernel, version=args.numactl))
        elif args.what == "numastat":
            out.append(tools.numastat(kernel, mb=args.n, compress=args.c, hide_zeros=args.z))
        else:
            _demo(kernel, args, out)
    except ValueError as exc:
        p.error(str(exc))
    sys.stdout.write("\n".join(text.rstrip("\n") for text in out) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
