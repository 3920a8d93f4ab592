"""A call's record as people read it: for the return value and each status entry, the
clause that decided it (its text, releases and documents, from the registry) and the
check in the simulator's code that decided it (its comment, the kernel function it
mirrors, its place among that function's checks)."""

from __future__ import annotations

import ast
import errno
import functools
import linecache
import os
from collections.abc import Sequence
from types import CodeType

from simnuma.abi import format_status
from simnuma.explain.answers import kernel_function
from simnuma.explain.record import CallRecord, Decision
from simnuma.explain.trace import comment_above, guards

# the calls in the simulator's source that decide an answer, in the kernel's order
_SITES = frozenset({"because", "also", "note", "store"})
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@functools.cache
def _sites(filename: str, first_line: int) -> tuple[int, ...]:
    """Lines of the deciding calls in the function that starts at ``first_line``."""
    source = "".join(linecache.getlines(filename))
    if not source:
        return ()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            if start == first_line:
                return tuple(sorted(_calls_in(node)))
    return ()


def _calls_in(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[int]:
    lines: set[int] = set()
    todo: list[ast.AST] = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue  # a nested function is checks of its own
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
            if name in _SITES:
                lines.add(node.lineno)
        todo.extend(ast.iter_child_nodes(node))
    return lines


def check_text(code: CodeType, line: int) -> str:
    """The comment that names the check deciding at ``line``: on that line, above it,
    or above the innermost guard around it that has one."""
    text = linecache.getline(code.co_filename, line)
    if "#" in text and not text.strip().startswith("#"):
        return text.split("#", 1)[1].strip()
    above = comment_above(code.co_filename, line)
    if above:
        return above
    around = [g for g in guards(code.co_filename).values() if line in g.body and g.check]
    return max(around, key=lambda g: g.line).check if around else ""


def where(d: Decision) -> str:
    """``do_pages_move() at simnuma/syscalls/move_pages.py:512, check 3 of 7``."""
    path = os.path.relpath(d.code.co_filename, _ROOT)
    sites = _sites(d.code.co_filename, d.code.co_firstlineno)
    order = ""
    if sites:
        k = sum(1 for s in sites if s <= d.line)
        order = f", check {max(k, 1)} of {len(sites)}"
    return f"{kernel_function(d.code)}() at {path}:{d.line}{order}"


def clause_lines(clauses: Sequence[str], indent: str) -> list[str]:
    """Each clause: its id and text, then where it holds and who says so."""
    from conformance.clauses import CLAUSES  # the registry: read only when explaining

    out: list[str] = []
    for cid in clauses:
        clause = CLAUSES.get(cid)
        if clause is None:
            out.append(f"{indent}{cid}: not a clause of the registry")
            continue
        out.append(f"{indent}{cid}: {clause.text}")
        facts = f"holds in {clause.releases}; documents: {', '.join(clause.sources)}"
        out.append(f"{indent}    {facts}")
        if clause.why:
            out.append(f"{indent}    why: {clause.why}")
    return out


def decision_lines(head: str, d: Decision, indent: str = "  ") -> list[str]:
    out = [f"{indent}{head}"]
    if d.clauses:
        out += clause_lines(d.clauses, indent + "    ")
    else:
        out.append(f"{indent}    no clause of the registry names this check")
    check = check_text(d.code, d.line)
    if check:
        out.append(f"{indent}    check: {check}")
    out.append(f"{indent}    decided in {where(d)}")
    return out


def _answer_head(rec: CallRecord) -> str:
    if rec.errno:
        name = errno.errorcode.get(rec.errno, str(rec.errno))
        return f"-1, errno {name} ({os.strerror(rec.errno)})"
    return str(rec.ret)


def render(rec: CallRecord, pages: Sequence[int] | None = None) -> str:
    """The whole account of one call, runs of entries decided alike folded into one."""
    args = ", ".join(f"{a:#x}" if a > 9 else str(a) for a in rec.args)
    lines = [f"{rec.name}({args}) on simulated Linux {rec.release} returned {_answer_head(rec)}"]
    if rec.answer is not None:
        lines += decision_lines(f"return value {_answer_head(rec)}", rec.answer)
    statuses = rec.statuses()
    if rec.name == "move_pages":
        count = rec.args[1] if len(rec.args) > 1 else 0
        lines += _status_lines(statuses, count, pages)
    for d in rec.path:
        lines += decision_lines("on the way", d)
    return "\n".join(lines)


def _status_lines(
    statuses: dict[int, Decision], count: int, pages: Sequence[int] | None
) -> list[str]:
    out: list[str] = []
    i = 0
    shown = min(count, max(statuses, default=-1) + 1) if statuses else 0
    while i < shown:
        d = statuses.get(i)
        j = i + 1
        while j < shown and _same(statuses.get(j), d):
            j += 1
        span = f"status[{i}]" if j == i + 1 else f"status[{i}..{j - 1}]"
        page = f" (page {pages[i]:#x})" if pages is not None and i < len(pages) else ""
        if d is None:
            out.append(f"  {span}{page}: not written by the call")
        else:
            out += decision_lines(f"{span}{page} = {format_status(d.value)}", d)
        i = j
    if shown < count:
        span = f"[{shown}]" if shown == count - 1 else f"[{shown}..{count - 1}]"
        out.append(f"  status{span}: not written by the call")
    return out


def _same(a: Decision | None, b: Decision | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.value, a.clauses, a.code, a.line) == (b.value, b.clauses, b.code, b.line)


def reason(rec: CallRecord) -> str:
    """One line for an error: the clauses that decided the errno, and where."""
    from conformance.clauses import CLAUSES

    d = rec.answer
    if d is None:
        return ""
    known = [CLAUSES[c] for c in d.clauses if c in CLAUSES]
    text = known[0].text if known else check_text(d.code, d.line)
    ids = f" [{', '.join(d.clauses)}]" if d.clauses else ""
    return f"{text}{ids}, in {kernel_function(d.code)}()"
