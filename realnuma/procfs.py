"""The ``/proc/<pid>`` files realnuma reads, parsed in one place (proc(5)).

``stat`` is one line, ``pid (comm) state ppid pgrp ...``; ``comm`` may hold spaces and
parentheses, so the fields are counted after the *last* ``)``.  ``status`` is
``Key:<tab>value`` lines.  The parsers take the file's text; the readers answer None
(or ProcessLookupError) for a process that is gone, or goes while it is read.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Stat", "is_live", "parse_stat", "parse_status", "read_stat", "read_status"]


@dataclass(frozen=True)
class Stat:
    """The leading fields of ``/proc/<pid>/stat``."""

    pid: int
    comm: str
    state: str  # R, S, D, Z, T, ...
    ppid: int
    pgrp: int


def parse_stat(text: str) -> Stat:
    """``"42 (a) b) S 1 42 ..."`` -> ``Stat(42, "a) b", "S", 1, 42)``; ValueError if malformed."""
    head, paren, tail = text.rpartition(")")
    pid, open_paren, comm = head.partition(" (")
    fields = tail.split()
    try:
        if paren and open_paren and len(fields) >= 3:
            return Stat(int(pid), comm, fields[0], int(fields[1]), int(fields[2]))
    except ValueError:
        pass
    raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")


def parse_status(text: str) -> dict[str, str]:
    """``"Name:\\tbash\\nCapEff:\\t0000\\n"`` -> ``{"Name": "bash", "CapEff": "0000"}``."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            fields[key] = value.strip()
    return fields


def read_stat(pid: int | str, proc: Path = Path("/proc")) -> Stat | None:
    """``/proc/<pid>/stat``; None when there is no such process (any longer)."""
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (OSError, ValueError):  # ENOENT, or ESRCH / a short read as it vanishes
        return None


def is_live(pid: int | str) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    stat = read_stat(pid)
    return stat is not None and stat.state != "Z"


def read_status(pid: int | str, proc: Path = Path("/proc")) -> dict[str, str]:
    """``/proc/<pid>/status`` (``pid`` may be ``"self"``); ProcessLookupError if gone."""
    try:
        return parse_status((proc / str(pid) / "status").read_text())
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessLookupError(errno.ESRCH, f"no process {pid}") from None


def read_maps(pid: int | str, proc: Path = Path("/proc")) -> list[str]:
    """The lines of /proc/PID/maps (``start-end perms offset dev inode [path]``)."""
    return (proc / str(pid) / "maps").read_text().splitlines()
