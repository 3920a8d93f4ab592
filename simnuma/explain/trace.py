"""A step-through of a simulated call: every guarded check the call reached in the
simulator's code, in the order the kernel makes them, with what it saw and what it
decided; the way a teacher walks through mm/migrate.c.

``trace(lambda: p.move_pages(0, pages, nodes, MPOL_MF_MOVE))`` runs the call under
``sys.settrace`` and records the guards of the syscall modules: an ``if`` with the
comment naming its clause just above it.  The step-through is read off the code path
that answered, never a description of it; nothing is recorded when not tracing.  The
fast paths of move_pages() (which answer the common entry without the lookup rule) are
off while tracing, so every entry shows its checks; they answer the same
(tests/test_move_pages_fast_paths.py).
"""

from __future__ import annotations

import ast
import functools
import linecache
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any, TypeVar

from simnuma.explain.answers import Because, is_mirrored, kernel_function

T = TypeVar("T")

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TRACED = (
    os.path.join(_HERE, "syscalls") + os.sep,
    os.path.join(_HERE, "migrate.py"),
)
_ROOT = os.path.dirname(_HERE)


@dataclass(frozen=True)
class Guard:
    """An ``if`` whose comment names the check: its lines and what it reads."""

    line: int
    check: str
    condition: str
    body: range  # the lines of its body: reaching one of them means it was taken
    names: tuple[str, ...]  # the names and attribute paths its condition reads


@dataclass
class Step:
    depth: int
    text: str


@dataclass
class Trace:
    """The steps of one traced call; ``str()`` renders them, indented by call depth."""

    steps: list[Step] = field(default_factory=list)
    limit: int = 4000

    def __str__(self) -> str:
        lines = ["  " * s.depth + s.text for s in self.steps[: self.limit]]
        if len(self.steps) > self.limit:
            lines.append(f"... {len(self.steps) - self.limit} more steps")
        return "\n".join(lines)

    @property
    def checks(self) -> list[str]:
        """The checks reached, in order (their comments)."""
        return [s.text for s in self.steps if s.text.startswith(("[x]", "[ ]"))]


@functools.cache
def guards(filename: str) -> dict[int, Guard]:
    """Every guard of a module, by the line it starts on: an ``if`` with a comment just
    above, or one whose body decides an answer (``because``)."""
    source = "".join(linecache.getlines(filename))
    guards: dict[int, Guard] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.If):
            continue
        comment = comment_above(filename, node.lineno)
        if not comment and not _decides(node):
            continue
        first, last = node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno
        condition = ast.get_source_segment(source, node.test) or ""
        guards[node.lineno] = Guard(
            node.lineno,
            comment,
            " ".join(condition.split()),
            range(first, last + 1),
            _read_names(node.test),
        )
    return guards


def _decides(node: ast.If) -> bool:
    return any(
        isinstance(n, ast.Call) and getattr(n.func, "id", "") in ("because", "also")
        for stmt in node.body
        for n in ast.walk(stmt)
    )


def comment_above(filename: str, line: int) -> str:
    """The comment block above ``line``, across plain statements that set it up (an
    assignment), never across another check."""
    lines: list[str] = []
    for n in range(line - 1, max(0, line - 6), -1):
        text = linecache.getline(filename, n).strip()
        if text.startswith("#"):
            lines.insert(0, text.lstrip("# "))
        elif lines or not _sets_up(text):
            break
    return " ".join(lines)


def _sets_up(text: str) -> bool:
    """A plain statement between a check's comment and its ``if``: an assignment."""
    if not text or text.startswith(("if ", "elif ", "else", "return", "def ", "for ")):
        return False
    return "=" in text or not text.endswith((":", ")", "("))


def _read_names(test: ast.expr) -> tuple[str, ...]:
    names: list[str] = []
    for node in ast.walk(test):
        if isinstance(node, ast.Attribute | ast.Name):
            path = _path(node)
            if path and path not in names and not path.isupper():
                names.append(path)
    # a path and its prefix: keep the longest (frame.flags, not frame)
    return tuple(n for n in names if not any(o.startswith(n + ".") for o in names))


def _path(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _path(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _value(frame: FrameType, path: str) -> str:
    head, *rest = path.split(".")
    if head not in frame.f_locals:
        return ""
    value: Any = frame.f_locals[head]
    for attr in rest:
        if isinstance(value, type) or callable(value):
            return ""
        try:
            value = object.__getattribute__(value, attr)
        except AttributeError:
            return ""
    if callable(value):
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:#x}" if value > 0xFFFF or path.endswith("flags") else str(int(value))
    else:
        text = repr(value)
    if " object at 0x" in text:
        return ""  # an object without a face of its own (the kernel, an address space)
    return text if len(text) <= 60 else text[:57] + "..."


class _Tracer:
    def __init__(self, out: Trace) -> None:
        self.out = out
        self.depth: dict[FrameType, int] = {}
        self.pending: dict[FrameType, tuple[Guard, str]] = {}

    def global_trace(self, frame: FrameType, event: str, arg: object) -> Any:
        code = frame.f_code
        if event != "call" or not code.co_filename.startswith(_TRACED):
            return None
        parent = frame.f_back
        while parent is not None and parent not in self.depth:
            parent = parent.f_back
        depth = self.depth[parent] if parent is not None else -1
        if is_mirrored(code):  # a kernel function: a level of its own
            depth += 1
            self.out.steps.append(Step(depth, f"{kernel_function(code)}(){_args(frame, code)}"))
        self.depth[frame] = max(depth, 0)
        return self.local_trace

    def local_trace(self, frame: FrameType, event: str, arg: object) -> Any:
        depth = self.depth.get(frame, 0) + 1
        pending = self.pending.pop(frame, None)
        if pending is not None and event == "line":
            guard, seen = pending
            if frame.f_lineno in range(guard.line, guard.body.start) and frame.f_lineno not in (
                guard.body
            ):
                self.pending[frame] = pending  # still in a condition over several lines
                return self.local_trace
            taken = frame.f_lineno in guard.body
            mark = "[x]" if taken else "[ ]"
            verdict = "yes" if taken else "no"
            said = f"{guard.check} -- " if guard.check else ""
            self.out.steps.append(Step(depth, f"{mark} {said}`{guard.condition}`: {verdict}{seen}"))
        elif pending is not None:
            guard, seen = pending
            self.out.steps.append(Step(depth, f"[ ] {guard.check}: {seen}"))
        if event == "line":
            reached = guards(frame.f_code.co_filename).get(frame.f_lineno)
            if reached is not None:
                values = [f"{n}={v}" for n in reached.names if (v := _value(frame, n))]
                self.pending[frame] = (reached, f" ({', '.join(values)})" if values else "")
        elif event == "return":
            self.depth.pop(frame, None)
            if isinstance(arg, Because) and arg.code is frame.f_code:
                shown = ", ".join(arg.clauses) or "no clause names it"
                self.out.steps.append(Step(depth, f"=> {int(arg)}: {shown}"))
        return self.local_trace


def _args(frame: FrameType, code: CodeType) -> str:
    shown: list[str] = []
    for name in code.co_varnames[: code.co_argcount]:
        if name in ("kernel", "current", "call", "mm", "user", "self"):
            continue
        text = _value(frame, name)
        if text and len(shown) < 4:
            shown.append(f"{name}={text}")
    where = os.path.relpath(code.co_filename, _ROOT)
    return f"  [{', '.join(shown)}]  {where}:{code.co_firstlineno}" if shown else f"  {where}"


def trace(call: Callable[[], T], limit: int = 4000) -> tuple[T | None, Trace]:
    """Run ``call`` (a simulated syscall, through the Python API or the raw ABI) and
    return its result, or None if it raised (the error is re-raised after the trace
    is kept in ``error.trace``), and its step-through."""
    from simnuma.abi import check_int
    from simnuma.syscalls import move_pages

    if not callable(call):
        raise TypeError(f"call must be callable, not {type(call).__name__}")
    check_int("limit", limit, minimum=1)
    out = Trace(limit=limit)
    tracer = _Tracer(out)
    fast, move_pages.FAST_PATHS = move_pages.FAST_PATHS, False
    previous = sys.gettrace()
    sys.settrace(tracer.global_trace)
    try:
        return call(), out
    except Exception as exc:
        exc.add_note(f"traced:\n{out}")
        raise
    finally:
        sys.settrace(previous)
        move_pages.FAST_PATHS = fast
