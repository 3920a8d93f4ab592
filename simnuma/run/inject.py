"""Fault injection for supervised programs: world state the simulated kernel then
answers from (a busy page, a pin, writeback, swap, a full node), never a forced
return value.

A rule is ``KIND[:WHERE]``, one per ``--inject`` or per line of a rule file (``#``
starts a comment):

- ``busy:page=N`` / ``busy:addr=0x7f..`` — the page is off the LRU while each NUMA
  call runs (another migration or compaction holds it): isolate_lru_page() fails.
- ``pinned:…`` — a long-term pin (vmsplice(), O_DIRECT, RDMA) from the first call on.
- ``writeback:…`` — a page-cache page under writeback from the first call on.
- ``swapped:…`` — a private anonymous page reclaimed to swap before the call.
- ``full:node=N`` — node N has no free page from the start.

``page=N`` names the N-th entry of a move_pages() pages array (``page=all``: every
entry); ``addr=A`` a page by its address, before any of the NUMA calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from simnuma.frames import ISOLATED, PAGE_SIZE, SWAPPED, WRITEBACK
from simnuma.kernel import SimKernel
from simnuma.process import SimProcess
from simnuma.uaccess import get_ulongs

PAGE_KINDS = ("busy", "pinned", "writeback", "swapped")
KINDS = (*PAGE_KINDS, "full")


@dataclass(frozen=True)
class Injection:
    """One rule: ``kind`` and where (``page`` index, -1 for all; ``addr``; ``node``)."""

    kind: str
    page: int | None = None
    addr: int | None = None
    node: int | None = None

    @classmethod
    def parse(cls, text: str) -> Injection:
        if not isinstance(text, str):
            raise TypeError(f"rule must be str, not {type(text).__name__}")
        kind, _, where = text.strip().partition(":")
        if kind not in KINDS:
            raise ValueError(
                f"unknown injection rule {text!r}: the kind must be one of {', '.join(KINDS)}"
            )
        key, _, value = where.partition("=")
        try:
            if kind == "full":
                if key != "node":
                    raise ValueError
                return cls(kind, node=int(value, 0))
            if key == "page":
                return cls(kind, page=-1 if value == "all" else int(value, 0))
            if key == "addr":
                addr = int(value, 0)
                if addr % PAGE_SIZE:
                    raise ValueError
                return cls(kind, addr=addr)
        except ValueError:
            pass
        want = "node=N" if kind == "full" else "page=N, page=all or addr=0xADDR (page-aligned)"
        raise ValueError(f"injection rule {text!r}: {kind} needs {want}")


def load_rules(lines: Iterable[str]) -> list[Injection]:
    """Rules of a rule file (one per line, # comments)."""
    rules = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            rules.append(Injection.parse(text))
    return rules


class Injector:
    """Applies the rules around each call the simulator answers."""

    def __init__(self, kernel: SimKernel, rules: Sequence[Injection]) -> None:
        self.kernel = kernel
        self.rules = list(rules)
        self._busy: list[tuple[SimProcess, int]] = []
        for rule in self.rules:
            if rule.kind == "full":
                assert rule.node is not None
                if rule.node not in kernel.nodes or not kernel.nodes[rule.node].has_memory:
                    raise ValueError(f"injection rule full:node={rule.node}: no such memory node")
                kernel.fill_node(rule.node)

    def _pages(
        self, rule: Injection, name: str, args: Sequence[int], caller: SimProcess
    ) -> list[int]:
        if rule.addr is not None:
            return [rule.addr]
        if rule.page is None or name != "move_pages":
            return []
        count = args[1] & 0xFFFF_FFFF_FFFF_FFFF
        if count > 1 << 20:
            return []
        assert caller.mm is not None
        pages = get_ulongs(caller.mm, args[2], count) or []
        chosen = pages if rule.page == -1 else pages[rule.page : rule.page + 1]
        return [p & ~(PAGE_SIZE - 1) for p in chosen]

    def before(
        self, name: str, args: Sequence[int], caller: SimProcess, target: SimProcess
    ) -> None:
        """World state for this call: on ``target``'s pages the rules name."""
        assert target.mm is not None
        for rule in self.rules:
            if rule.kind == "full":
                continue
            for addr in self._pages(rule, name, args, caller):
                frame = target.mm.pt.get(addr // PAGE_SIZE)
                if frame is None or frame.flags & SWAPPED:
                    continue  # not there: nothing to hold busy, pin or write back
                if rule.kind == "busy" and not frame.flags & ISOLATED:
                    self.kernel.isolate(target, addr)
                    self._busy.append((target, addr))
                elif rule.kind == "pinned" and not frame.pins:
                    self.kernel.pin(target, addr)
                elif rule.kind == "writeback" and frame.mapping is not None:
                    if not frame.flags & WRITEBACK:
                        self.kernel.start_writeback(target, addr)
                elif rule.kind == "swapped" and frame.mapping is None and not frame.pins:
                    self.kernel.swap_out(target, addr)

    def after(self) -> None:
        """The busy pages go back to the LRU once the call is done."""
        for proc, addr in self._busy:
            if proc.alive and proc.mm is not None and addr // PAGE_SIZE in proc.mm.pt:
                self.kernel.putback(proc, addr)
        self._busy.clear()
