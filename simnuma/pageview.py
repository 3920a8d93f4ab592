"""The pages of a range of a simulated process, one by one: on which node each is and
what kind of page it is, as text (a line per run of like pages), as a node × page
picture for a terminal (a character per page, ANSI colours if asked) and as a PNG
image (simnuma.png: the standard library alone).  Made for learning what first touch,
mbind(2) and move_pages(2) do: show the map, make the call, show it again.

Kinds, from the simulator's page tables and frames: a private anonymous page (``anon``,
also a private file mapping's copy-on-write copy), a page of a shared anonymous mapping
(``shared anon``, shmem underneath), a page-cache page of a file (``file``), the shared
zero page, a transparent huge page (``THP``), a hugetlb page, a page swapped out, a page
not present (mapped, never touched), an address no mapping covers (``unmapped``).
Flags: dirty, writeback (under writeback), pinned (extra references), isolated (off the
LRU), mlocked (its VMA), and ``mapcount N`` when N page tables map it (a fork's child,
another process)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from simnuma import png
from simnuma.abi import check_bool, check_int, check_span
from simnuma.frames import ANON, DIRTY, HUGETLB, ISOLATED, PAGE_SHIFT, SWAPPED, THP, WRITEBACK, ZERO

if TYPE_CHECKING:
    from simnuma.mm import VMA
    from simnuma.process import SimProcess

# kind: its character in pictures, its ANSI colour (SGR), its RGB in images
KINDS: dict[str, tuple[str, str, png.RGB]] = {
    "anon": ("a", "32", (46, 160, 67)),
    "shared anon": ("s", "36", (0, 170, 190)),
    "file": ("f", "34", (60, 100, 220)),
    "THP": ("T", "35", (170, 60, 200)),
    "hugetlb": ("H", "31", (210, 50, 50)),
    "zero page": ("z", "37", (170, 170, 170)),
    "swapped": ("~", "33", (220, 170, 0)),
    "not present": (".", "90", (225, 225, 225)),
    "unmapped": (" ", "0", (255, 255, 255)),
}
# flags a picture marks under the page (the first that applies)
MARKS = {"pinned": "p", "writeback": "w", "isolated": "i"}
NO_NODE = "--"
MAX_PICTURE_PAGES = 1 << 16


@dataclass(frozen=True)
class PageRun:
    """``pages`` pages from ``start`` alike: on ``node`` (None: on no node's memory:
    not present, swapped, the zero page, unmapped), of one kind, with one set of flags."""

    start: int
    pages: int
    node: int | None
    kind: str
    flags: tuple[str, ...] = ()

    @property
    def end(self) -> int:
        return self.start + (self.pages << PAGE_SHIFT)


def _check(proc: object, addr: object, length: object) -> tuple[SimProcess, int, int]:
    from simnuma.process import SimProcess

    if not isinstance(proc, SimProcess):
        raise TypeError(f"proc must be a SimProcess, not {type(proc).__name__}")
    proc._mm()  # RuntimeError for an exited process or a kernel thread
    addr, length = check_span(addr, length)
    start = addr >> PAGE_SHIFT << PAGE_SHIFT
    end = -(-(addr + length) >> PAGE_SHIFT) << PAGE_SHIFT
    return proc, start, end


def _describe(proc: SimProcess, vma: VMA, vpn: int) -> tuple[int | None, str, tuple[str, ...]]:
    mm = proc.mm
    assert mm is not None
    frame = mm.pt.get(vpn)
    flags: tuple[str, ...] = ("mlocked",) if vma.locked else ()
    if frame is None:
        return None, "not present", flags
    if frame.flags & ZERO:
        return None, "zero page", flags
    if frame.flags & SWAPPED:
        return None, "swapped", flags
    if frame.flags & HUGETLB:
        kind = "hugetlb"
    elif frame.flags & THP:
        kind = "THP"
    elif frame.flags & ANON:
        kind = "anon"
    elif vma.anon_shared:
        kind = "shared anon"
    else:
        kind = "file"
    bits = (
        (frame.flags & DIRTY, "dirty"),
        (frame.flags & WRITEBACK, "writeback"),
        (frame.pins, "pinned"),
        (frame.flags & ISOLATED, "isolated"),
    )
    flags = tuple(name for on, name in bits if on) + flags
    if frame.mapcount > 1:
        flags += (f"mapcount {frame.mapcount}",)
    return frame.nid, kind, flags


def _runs(proc: SimProcess, start: int, end: int) -> Iterator[PageRun]:
    """Runs of alike pages over [start, end), cheap for large unpopulated ranges:
    only the pages present cost a step."""
    mm = proc.mm
    assert mm is not None
    pos = start
    for vma in mm.vmas_in(start, end):
        first, last = max(vma.start, start), min(vma.end, end)
        if pos < first:
            yield PageRun(pos, (first - pos) >> PAGE_SHIFT, None, "unmapped")
        gap = first
        for vpn in mm.mapped_vpns(first, last):
            addr = vpn << PAGE_SHIFT
            if gap < addr:
                flags = ("mlocked",) if vma.locked else ()
                yield PageRun(gap, (addr - gap) >> PAGE_SHIFT, None, "not present", flags)
            yield PageRun(addr, 1, *_describe(proc, vma, vpn))
            gap = addr + (1 << PAGE_SHIFT)
        if gap < last:
            flags = ("mlocked",) if vma.locked else ()
            yield PageRun(gap, (last - gap) >> PAGE_SHIFT, None, "not present", flags)
        pos = last
    if pos < end:
        yield PageRun(pos, (end - pos) >> PAGE_SHIFT, None, "unmapped")


def page_runs(proc: SimProcess, addr: int, length: int) -> list[PageRun]:
    """The pages of [addr, addr + length) (whole pages) in runs of pages alike."""
    proc, start, end = _check(proc, addr, length)
    merged: list[PageRun] = []
    for run in _runs(proc, start, end):
        last = merged[-1] if merged else None
        if last and (last.end, last.node, last.kind, last.flags) == (
            run.start,
            run.node,
            run.kind,
            run.flags,
        ):
            merged[-1] = PageRun(last.start, last.pages + run.pages, run.node, run.kind, run.flags)
        else:
            merged.append(run)
    return merged


def page_map(proc: SimProcess, addr: int, length: int) -> list[PageRun]:
    """Every page of [addr, addr + length) on its own: a PageRun of one page each."""
    proc, start, end = _check(proc, addr, length)
    if (end - start) >> PAGE_SHIFT > MAX_PICTURE_PAGES:
        raise ValueError(
            f"length {length:#x}: more than {MAX_PICTURE_PAGES} pages to list one by one "
            "(page_runs() groups them)"
        )
    return [
        PageRun(run.start + (i << PAGE_SHIFT), 1, run.node, run.kind, run.flags)
        for run in _runs(proc, start, end)
        for i in range(run.pages)
    ]


def page_map_text(proc: SimProcess, addr: int, length: int) -> str:
    """One line per run of pages alike, as /proc/PID/maps writes ranges:
    ``600000000000-600000002000     2 N0  anon  dirty``."""
    runs = page_runs(proc, addr, length)
    lines = []
    for run in runs:
        node = NO_NODE if run.node is None else f"N{run.node}"
        line = f"{run.start:08x}-{run.end:08x} {run.pages:5d} {node:<3} {run.kind:<11}"
        lines.append((line + "  " + ", ".join(run.flags)).rstrip())
    return "\n".join(lines) + "\n"


def _rows(proc: SimProcess, pages: list[PageRun]) -> list[tuple[str, list[PageRun | None]]]:
    """The picture's rows: each node's (its pages there), then the pages on no node,
    then the marks (pinned, writeback, isolated), the last two only when needed."""
    nodes = sorted(proc.kernel.nodes)
    rows: list[tuple[str, list[PageRun | None]]] = [
        (f"N{nid}", [p if p.node == nid else None for p in pages]) for nid in nodes
    ]
    if any(p.node is None for p in pages):
        rows.append((NO_NODE, [p if p.node is None else None for p in pages]))
    return rows


def _mark(page: PageRun) -> str:
    return next((m for flag, m in MARKS.items() if flag in page.flags), " ")


def page_map_picture(
    proc: SimProcess, addr: int, length: int, *, columns: int = 64, color: bool = False
) -> str:
    """A node × page picture for a terminal: a row per node (memoryless ones too), a
    character per page in its node's row (``a`` anon, ``T`` THP... see the legend),
    ``columns`` pages to a block; ANSI colours with ``color``."""
    check_int("columns", columns, minimum=1)
    check_bool("color", color)
    pages = page_map(proc, addr, length)
    rows = _rows(proc, pages)
    marks = [_mark(p) for p in pages]
    kernel = proc.kernel
    wide = max(3, *(len(label) for label, _ in rows))  # "N0 ", "N127"

    def cell(page: PageRun | None) -> str:
        if page is None:
            return " "
        char, sgr, _ = KINDS[page.kind]
        return f"\x1b[{sgr}m{char}\x1b[0m" if color and page.kind != "unmapped" else char

    out = []
    for first in range(0, len(pages), columns):
        block = range(first, min(first + columns, len(pages)))
        start, end = pages[first].start, pages[block[-1]].end
        out.append(" " * (wide + 2) + f"{start:08x}-{end:08x} ({len(block)} pages)")
        for label, cells in rows:
            note = ""
            if label.startswith("N") and not kernel.nodes[int(label[1:])].has_memory:
                note = "  (no memory)"
            out.append(f"{label:<{wide}} |" + "".join(cell(cells[i]) for i in block) + "|" + note)
        if any(m != " " for m in marks[first : block[-1] + 1]):
            out.append(f"{'!':<{wide}} |" + "".join(marks[i] for i in block) + "|")
        out.append("")
    seen = {p.kind for p in pages}
    legend = [f"{KINDS[k][0]} {k}" for k in KINDS if k in seen and k != "unmapped"]
    if "unmapped" in seen:
        legend.append("a blank column: unmapped")
    out.append("legend: " + ", ".join(legend))
    flagged = [f"{m} {flag}" for flag, m in MARKS.items() if m in marks]
    if flagged:
        out.append("! marks: " + ", ".join(flagged))
    return "\n".join(out) + "\n"


def page_map_png(
    proc: SimProcess,
    addr: int,
    length: int,
    path: str | Path | None = None,
    *,
    cell: tuple[int, int] | None = None,
) -> bytes:
    """The node × page picture as a PNG: a row per node (labelled N0, N1...) and one for
    pages on no node, a column of ``cell`` (width, height) pixels per page coloured by
    its kind (KINDS), and a legend of the kinds shown (``cell`` by default: 16 pixels
    high, as wide as lets the pages fill about 640, 1 to 16).  Written to ``path`` if
    given; the PNG's bytes are returned either way."""
    if cell is not None and not (
        isinstance(cell, tuple)
        and len(cell) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in cell)
    ):
        raise ValueError(f"cell must be (width, height) in pixels, both >= 1, not {cell!r}")
    if path is not None and not isinstance(path, str | Path):
        raise TypeError(f"path must be str or Path, not {type(path).__name__}")
    pages = page_map(proc, addr, length)
    rows = _rows(proc, pages)
    cw, ch = cell or (max(1, min(16, 640 // len(pages))), 16)
    scale = 2
    label_w = png.text_width("N000", scale) + 4
    pad, gap = 4, 2
    kinds = [k for k in KINDS if k != "unmapped" and any(p.kind == k for p in pages)]
    legend_h = len(kinds) * (5 * scale + 6) + pad
    legend_w = 5 * scale + 8 + max((png.text_width(k, scale) for k in kinds), default=0)
    grid_w = len(pages) * cw
    width = max(label_w + grid_w + pad, legend_w + 2 * pad)
    height = pad + len(rows) * (ch + gap) + pad + legend_h
    white, ink, rule = (255, 255, 255), (40, 40, 40), (200, 200, 200)
    pixels = [[white] * width for _ in range(height)]
    for r, (label, cells) in enumerate(rows):
        top = pad + r * (ch + gap)
        png.draw_text(pixels, pad, top + (ch - 5 * scale) // 2, label, ink, scale)
        for x in range(label_w, label_w + grid_w):
            pixels[top + ch][x] = rule
        for i, page in enumerate(cells):
            if page is None:
                continue
            colour = KINDS[page.kind][2]
            for y in range(top, top + ch):
                row = pixels[y]
                for x in range(label_w + i * cw, label_w + (i + 1) * cw):
                    row[x] = colour
    y = pad + len(rows) * (ch + gap) + pad
    for kind in kinds:
        colour = KINDS[kind][2]
        for yy in range(y, y + 5 * scale):
            for xx in range(pad, pad + 5 * scale):
                pixels[yy][xx] = colour
        png.draw_text(pixels, pad + 5 * scale + 6, y, kind, ink, scale)
        y += 5 * scale + 6
    data = png.encode(pixels)
    if path is not None:
        Path(path).write_bytes(data)
    return data
