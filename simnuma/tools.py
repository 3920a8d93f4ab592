"""What numactl's programs print about a simulated machine: ``numactl --hardware``
(numactl.c hardware(), with libnuma's readers of sysfs), ``numastat`` and
``numastat -p PID`` (numastat.c), in the layout of numactl 2.0.16 (Debian 12's).
Written from reading those sources (github.com/numactl/numactl); no code is copied.

Each program is rendered the way it builds its output: from the texts of the files it
reads.  The ``*_from_files`` functions take those texts (a node directory as
``{"node0/meminfo": ..., ...}``, a numa_maps text), so they can be checked against
the real tool reading real files; the others take a SimKernel or SimProcess and
render its files with simnuma.views first."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simnuma import views
from simnuma.abi import check_int
from simnuma.frames import HPAGE_SIZE, PAGE_SIZE

if TYPE_CHECKING:
    from simnuma.kernel import SimKernel
    from simnuma.process import SimProcess

MEGABYTE = 1 << 20
NODE_DIR = re.compile(r"node(\d+)$")

# --- numactl --hardware -------------------------------------------------------------


def _version(version: str) -> tuple[int, ...]:
    if not isinstance(version, str):
        raise TypeError(f"version must be str, not {type(version).__name__}")
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        raise ValueError(f"version must be numactl's release, like '2.0.16', not {version!r}")
    return tuple(int(part) for part in version.split("."))


def _check_files(files: Mapping[str, str]) -> dict[int, dict[str, str]]:
    """The node directories of ``files`` by node id: each one's files by name."""
    if not isinstance(files, Mapping):
        raise TypeError(f"files must be a mapping of path to text, not {type(files).__name__}")
    nodes: dict[int, dict[str, str]] = {}
    for path, text in files.items():
        if not isinstance(path, str) or not isinstance(text, str):
            raise TypeError(f"files: {path!r} must map a str path to str text")
        top, _, rest = path.partition("/")
        found = NODE_DIR.match(top)
        if found:
            nodes.setdefault(int(found.group(1)), {})[rest] = text
    if not nodes:
        raise ValueError("files: no node<N>/ directory (a NUMA system has node0 at least)")
    return dict(sorted(nodes.items()))


def _cpumap_cpus(text: str) -> list[int]:
    """The CPUs of a cpumap (%*pb: 32-bit hex words, highest first), as
    numa_node_to_cpus() parses it."""
    value = 0
    for word in text.strip().split(","):
        value = (value << 32) | int(word or "0", 16)
    return [bit for bit in range(value.bit_length()) if value >> bit & 1]


def _meminfo_bytes(text: str | None, field_name: str) -> int | None:
    """numa_node_size64(): the kB figure of the first line that names ``field_name``,
    in bytes; None when the file or the line is missing (numactl: "<not available>")."""
    if text is None:
        return None
    for line in text.splitlines():
        number = re.search(r"(\d+)\s*kB", line, re.IGNORECASE)
        if number and field_name in line:
            return int(number.group(1)) << 10
    return None


def _distance_table(nodes: dict[int, dict[str, str]]) -> dict[tuple[int, int], int]:
    """libnuma's read_distance_table(): each nodeN/distance lists one number per
    online node, in id order (0 where a file or a number is missing)."""
    table: dict[tuple[int, int], int] = {}
    for nid, entries in nodes.items():
        numbers = entries.get("distance", "").split()
        for other, number in zip(nodes, numbers, strict=False):
            table[(nid, other)] = int(number, 0)
    return table


def numactl_hardware_from_files(files: Mapping[str, str], *, version: str = "2.0.16") -> str:
    """``numactl --hardware`` reading ``files``, the node directory's texts by path
    ("node0/cpumap", "node0/meminfo", "node0/distance", ...).  Nodes are the nodeN
    directories (sparse ids stay sparse); a memoryless node shows 0 MB, a CPU-less
    node an empty "cpus:" line; numactl 2.0.19 widened the distance columns."""
    wide = _version(version) >= (2, 0, 19)
    nodes = _check_files(files)
    out = [f"available: {len(nodes)} nodes ({views.node_list(nodes)})"]
    for nid, entries in nodes.items():
        cpus = _cpumap_cpus(entries["cpumap"]) if "cpumap" in entries else []
        meminfo = entries.get("meminfo")
        size, free = _meminfo_bytes(meminfo, "MemTotal"), _meminfo_bytes(meminfo, "MemFree")
        out.append(f"node {nid} cpus:" + "".join(f" {cpu}" for cpu in cpus))
        for label, value in (("size", size), ("free", free)):
            shown = "<not available>" if value is None else f"{value >> 20} MB"
            out.append(f"node {nid} {label}: {shown}")
    table = _distance_table(nodes)
    if not table.get((max(nodes), min(nodes))):
        out.append("No distance information available.")
        return "\n".join(out) + "\n"
    cell = "{: 4d} " if wide else "{: 3d} "
    out.append("node distances:")
    out.append(("node  " if wide else "node ") + "".join(cell.format(n) for n in nodes))
    for nid in nodes:
        row = "".join(cell.format(table.get((nid, other), 0)) for other in nodes)
        out.append(cell.format(nid)[:-1] + ": " + row)
    return "\n".join(out) + "\n"


def _check_kernel(kernel: object) -> SimKernel:
    from simnuma.kernel import SimKernel

    if not isinstance(kernel, SimKernel):
        raise TypeError(f"kernel must be a SimKernel, not {type(kernel).__name__}")
    return kernel


def numactl_hardware(
    kernel: SimKernel,
    *,
    cpus: Mapping[int, Sequence[int]] | None = None,
    version: str = "2.0.16",
) -> str:
    """``numactl -H`` on a simulated machine: its nodes, each node's CPUs (``cpus``,
    by default views.numbered_cpus(): CPU n on node n), size and free memory in MB
    (MemTotal, MemFree of its meminfo), and the distance table."""
    files = views.node_directory(_check_kernel(kernel), cpus)
    return numactl_hardware_from_files(files, version=version)


# --- numastat's tables ----------------------------------------------------------------


class _Rule:
    """A cell of repeated "-" (CELL_TYPE_REPCHAR), one narrower than its column."""


RULE = _Rule()
Cell = str | float | _Rule | None  # None: an empty cell (CELL_TYPE_NULL)


@dataclass
class _Column:
    width: int = 0
    right: bool = False  # else left-justified (a width-0 column prints nothing)
    decimals: int = 0


@dataclass
class _Table:
    """numastat.c's vtab: header rows and columns around the data, displayed as
    display_table() does (columns folded at the screen width, zero rows hidden)."""

    header_rows: int
    header_cols: int
    cells: list[list[Cell]]
    columns: list[_Column]
    always_show_rows: set[int] = field(default_factory=set)

    @classmethod
    def empty(cls, header_rows: int, header_cols: int, rows: int, cols: int) -> _Table:
        return cls(
            header_rows,
            header_cols,
            [[None] * (header_cols + cols) for _ in range(header_rows + rows)],
            [_Column() for _ in range(header_cols + cols)],
        )

    def add(self, row: int, col: int, value: float) -> None:
        cell = self.cells[row][col]
        self.cells[row][col] = (cell if isinstance(cell, float) else 0.0) + value

    def _text(self, cell: Cell, col: _Column) -> str:
        """fmt_cell_data(): the cell's text, cut to the column's width."""
        if cell is None:
            text = ""
        elif isinstance(cell, _Rule):
            text = "-" * (col.width - 1)
        elif isinstance(cell, float):
            text = f"{cell:.{col.decimals}f}"
        else:
            text = cell
        return text[: col.width]

    def fit_width(self, col: int, least: int, most: int) -> None:
        """auto_set_col_width(): the widest cell (rules aside) plus a gutter of one."""
        wide = _Column(most, decimals=self.columns[col].decimals)
        texts = [self._text(r[col], wide) for r in self.cells if not isinstance(r[col], _Rule)]
        self.columns[col].width = min(max([least, *map(len, texts)]) + 1, most)

    def _cell(self, cell: Cell, col: _Column) -> str:
        text = self._text(cell, col)
        if not col.width:
            return ""
        return text.rjust(col.width) if col.right else text.ljust(col.width)

    def display(self, screen_width: int, show_zeros: bool) -> str:
        data = range(self.header_rows, len(self.cells))
        data_cols = range(self.header_cols, len(self.columns))
        seen_rows: set[int] = set()
        seen_cols: set[int] = set()
        nonzero_rows: set[int] = set()
        nonzero_cols: set[int] = set()
        for r in data:
            for c in data_cols:
                cell = self.cells[r][c]
                if cell is None or isinstance(cell, _Rule):
                    continue
                seen_rows.add(r)
                seen_cols.add(c)
                if cell != 0.0:  # a string counts as non-zero data, even ""
                    nonzero_rows.add(r)
                    nonzero_cols.add(c)
        if not seen_rows:
            return "Table has no data.\n"
        if not nonzero_rows and not show_zeros:
            return "Table has no non-zero data.\n"

        def shown_col(c: int) -> bool:
            return c in seen_cols and (show_zeros or c in nonzero_cols)

        def shown_row(r: int) -> bool:
            if r < self.header_rows or r in self.always_show_rows:
                return True
            return r in seen_rows and (show_zeros or r in nonzero_rows)

        out: list[str] = []
        start, col = self.header_cols, -1
        while start < len(self.columns):
            if not shown_col(start):
                start += 1
                continue
            if col > 0:
                out.append("")  # a blank line between the folded sections
            for r in filter(shown_row, range(len(self.cells))):
                line = "".join(
                    self._cell(self.cells[r][c], self.columns[c]) for c in range(self.header_cols)
                )
                used = sum(self.columns[c].width for c in range(self.header_cols))
                col = start
                while True:
                    if shown_col(col):
                        line += self._cell(self.cells[r][col], self.columns[col])
                        used += self.columns[col].width
                    col += 1
                    if col >= len(self.columns) or used + self.columns[col].width > screen_width:
                        break
                out.append(line)
            start = col
        return "\n".join(out) + "\n"


NUMASTAT_ROWS = (
    ("numa_hit", "Numa_Hit"),
    ("numa_miss", "Numa_Miss"),
    ("numa_foreign", "Numa_Foreign"),
    ("interleave_hit", "Interleave_Hit"),
    ("local_node", "Local_Node"),
    ("other_node", "Other_Node"),
)
NOT_MODELLED = ("numa_miss", "numa_foreign", "interleave_hit", "other_node")
UNFOLDED = 10_000_000  # numastat's width when its stdout is no terminal


def _check_layout(width: int | None) -> int:
    if width is None:
        return UNFOLDED
    check_int("width", width, minimum=1)
    return max(80 if width > UNFOLDED else width, 32)  # get_screen_width()'s limits


def numastat_from_files(
    files: Mapping[str, str],
    *,
    mb: bool = False,
    width: int | None = None,
    hide_zeros: bool = False,
    compress: bool = False,
    page_size: int = PAGE_SIZE,
) -> str:
    """numastat's table of the nodeN/numastat counters in ``files`` (the node
    directory's texts by path): plain ``numastat`` (its compatibility mode, the old
    perl script's columns), or with ``mb`` ``numastat -n`` (pages as MB, a Total
    column; ``hide_zeros`` is -z, ``compress`` -c).  ``width`` folds the columns at
    a terminal's width (NUMASTAT_WIDTH); None is numastat writing to a pipe."""
    screen = _check_layout(width)
    nodes = _check_files(files)
    compat = not (mb or hide_zeros or compress)  # numastat run without an option
    header_rows = 1 if compat else 2
    table = _Table.empty(header_rows, 1, len(NUMASTAT_ROWS), len(nodes) + 1)
    index = {token: i for i, (token, _) in enumerate(NUMASTAT_ROWS)}
    for i, (token, label) in enumerate(NUMASTAT_ROWS):
        table.cells[header_rows + i][0] = token if compat else label
    table.columns[0] = _Column(16)
    total = 1 + len(nodes)
    for i, nid in enumerate(nodes):
        table.cells[0][1 + i] = f"node{nid}" if compat else f"Node {nid}"
    if not compat:
        table.cells[0][total] = "Total"
    for c in range(1, total + (0 if compat else 1)):
        if not compat:
            table.cells[1][c] = RULE
        table.columns[c] = _Column(16, right=True, decimals=0 if compat or compress else 2)
    out = "" if compat else "\nPer-node numastat info (in MBs):\n"
    for i, (nid, entries) in enumerate(nodes.items()):
        if "numastat" not in entries:
            raise ValueError(f"files: node{nid}/numastat is missing")
        for line in entries["numastat"].splitlines():
            tokens = line.split()
            if not tokens:
                continue
            if tokens[0] not in index:
                out += f"Token {tokens[0]} not in hash table.\n"
                continue
            value = float(int(tokens[1]) if len(tokens) > 1 else 0)
            if not compat:
                value = value * page_size / MEGABYTE
            table.add(header_rows + index[tokens[0]], 1 + i, value)
            table.add(header_rows + index[tokens[0]], total, value)
    if compress:
        for c in range(len(table.columns)):
            table.fit_width(c, 4, 16)
    return out + table.display(screen, show_zeros=not hide_zeros)


def numastat(
    kernel: SimKernel,
    *,
    mb: bool = False,
    width: int | None = None,
    hide_zeros: bool = False,
    compress: bool = False,
    strict: bool = False,
) -> str:
    """``numastat`` (or with ``mb`` ``numastat -n``) on a simulated machine.

    The simulator keeps no allocation counters: numa_hit and local_node are the pages
    on the node now (views.node_numastat), numa_miss, numa_foreign, interleave_hit
    and other_node are 0.  With ``strict`` those four raise NotImplementedError."""
    _check_kernel(kernel)
    if strict:
        raise NotImplementedError(
            f"numastat: {', '.join(NOT_MODELLED)} are not modelled (the simulator keeps "
            "no allocation counters; numa_hit and local_node are the pages on each node)"
        )
    files = views.node_directory(kernel)
    return numastat_from_files(files, mb=mb, width=width, hide_zeros=hide_zeros, compress=compress)


PROCESS_ROWS = (("huge", "Huge"), ("heap", "Heap"), ("stack", "Stack"))
PRIVATE = len(PROCESS_ROWS)  # the catch-all row


def _numa_maps_pages(text: str) -> list[tuple[int, int, int]]:
    """(category, node, pages) of each N<node>=<pages> of a numa_maps text, the
    category being the first of huge/heap/stack a token of its line starts with."""
    found = []
    for line in text.splitlines():
        category = PRIVATE
        for token in line.split():
            if category == PRIVATE:
                category = next(
                    (i for i, (word, _) in enumerate(PROCESS_ROWS) if token.startswith(word)),
                    PRIVATE,
                )
            if token.startswith("N"):
                node, eq, pages = token[1:].partition("=")
                if not (node.isdigit() and eq and pages.isdigit()):
                    raise ValueError(f"numa_maps: {token!r} is no N<node>=<pages>")
                found.append((category, int(node), int(pages)))
    return found


def numastat_p_from_files(
    node_ids: Sequence[int],
    processes: Sequence[tuple[int, str, str]],
    *,
    width: int | None = None,
    hide_zeros: bool = False,
    compress: bool = False,
    verbose: bool = False,
    page_size: int = PAGE_SIZE,
    huge_page_size: int = HPAGE_SIZE,
) -> str:
    """``numastat -p PID...`` from the texts it reads: ``processes`` is (pid, its
    command name, its /proc/PID/numa_maps), ``node_ids`` the nodeN directories.  One
    process (or ``verbose``): its Huge, Heap, Stack and Private MB per node; several:
    one row per process, by pid.  Options as numastat_from_files()."""
    screen = _check_layout(width)
    columns = sorted({check_int("node_ids[]", n, minimum=0) for n in node_ids})
    if not columns:
        raise ValueError("node_ids: no node (a NUMA system has node0 at least)")
    for entry in processes:
        if not (
            isinstance(entry, tuple)
            and len(entry) == 3
            and isinstance(entry[0], int)
            and isinstance(entry[1], str)
            and isinstance(entry[2], str)
        ):
            raise TypeError(f"processes: {entry!r} is not a (pid, command name, numa_maps) tuple")
    unique = sorted({pid: (pid, comm, text) for pid, comm, text in processes}.values())
    if not unique:
        raise ValueError("processes: no process to show")
    options = _Options(screen, hide_zeros, compress, page_size, huge_page_size)
    if verbose or len(unique) == 1:
        return "".join(_process_table(columns, [p], options) for p in unique)
    return "\nPer-node process memory usage (in MBs)\n" + _process_table(columns, unique, options)


@dataclass(frozen=True)
class _Options:
    screen: int
    hide_zeros: bool
    compress: bool
    page_size: int
    huge_page_size: int


def _process_table(
    columns: list[int],
    processes: list[tuple[int, str, str]],
    options: _Options,
) -> str:
    """show_process_info() for one process (its categories) or several (a row each)."""
    categories = len(processes) == 1
    rows = PRIVATE + 1 if categories else len(processes)
    table = _Table.empty(2, 1, rows + 2, len(columns) + 1)
    total_col, total_row = 1 + len(columns), 2 + rows + 1
    table.cells[total_row][0] = "Total"
    header = ""
    if categories:
        for i, (_, label) in enumerate([*PROCESS_ROWS, ("", "Private")]):
            table.cells[2 + i][0] = label
        pid, comm, _ = processes[0]
        header = f"\nPer-node process memory usage (in MBs) for PID {pid} ({comm})\n"
    else:
        table.cells[0][0], table.cells[1][0] = "PID", RULE
        for i, (pid, comm, _) in enumerate(processes):
            table.cells[2 + i][0] = f"{pid} ({comm})"
    table.columns[0] = _Column(16)
    for c, nid in enumerate(columns, start=1):
        table.cells[0][c] = f"Node {nid}"
    table.cells[0][total_col] = "Total"
    for c in range(1, total_col + 1):
        table.cells[1][c] = RULE
        table.columns[c] = _Column(16, right=True, decimals=0 if options.compress else 2)
    for r in range(2, len(table.cells)):
        for c in range(1, total_col + 1):
            table.cells[r][c] = 0.0  # zero_table_data()
    place = {nid: c for c, nid in enumerate(columns, start=1)}
    for i, (pid, _, text) in enumerate(processes):
        for category, nid, pages in _numa_maps_pages(text):
            if nid not in place:
                raise ValueError(f"numa_maps of pid {pid}: N{nid} is not one of node_ids")
            size = options.huge_page_size if category == 0 else options.page_size
            value = pages * size / MEGABYTE
            row = 2 + (category if categories else i)
            for r, c in ((row, place[nid]), (row, total_col)):
                table.add(r, c, value)
            for c in (place[nid], total_col):
                table.add(total_row, c, value)
    if options.compress:
        for c in range(len(table.columns)):
            table.fit_width(c, 4, 16)
    else:
        table.fit_width(0, 16, 24)
    table.always_show_rows.add(total_row - 1)
    table.cells[total_row - 1] = [RULE] * len(table.columns)
    return header + table.display(options.screen, show_zeros=not options.hide_zeros)


def numastat_p(
    procs: SimProcess | Sequence[SimProcess],
    *,
    comm: str | Mapping[int, str] = "a.out",
    names: Mapping[int, Sequence[tuple[int, str]]] | Sequence[tuple[int, str]] = (),
    width: int | None = None,
    hide_zeros: bool = False,
    compress: bool = False,
    verbose: bool = False,
) -> str:
    """``numastat -p PID`` of one simulated process (or several: ``numastat -p A -p B``)
    from its /proc/PID/numa_maps (views.numa_maps).  ``comm`` is the command name
    numastat reads from /proc/PID/status (one for all, or by pid); ``names`` are the
    names /proc/PID/maps gives VMAs (views.numa_maps: "[heap]", "[stack]" make
    those rows), for one process or by pid."""
    from simnuma.process import SimProcess

    many = [procs] if isinstance(procs, SimProcess) else list(procs)
    if not many or not all(isinstance(p, SimProcess) for p in many):
        raise TypeError("procs must be a SimProcess or a non-empty sequence of them")
    kernel = many[0].kernel
    if any(p.kernel is not kernel for p in many):
        raise ValueError("procs: every process must belong to one SimKernel")
    if not isinstance(comm, str | Mapping):
        raise TypeError(f"comm must be str or a mapping of pid to str, not {type(comm).__name__}")
    shown = []
    for p in many:
        p._mm()  # RuntimeError for an exited process or a kernel thread
        vma_names = names.get(p.pid, ()) if isinstance(names, Mapping) else names
        command = comm if isinstance(comm, str) else comm.get(p.pid, "a.out")
        shown.append((p.pid, command, views.numa_maps(p, vma_names)))
    return numastat_p_from_files(
        sorted(kernel.nodes),
        shown,
        width=width,
        hide_zeros=hide_zeros,
        compress=compress,
        verbose=verbose,
    )
