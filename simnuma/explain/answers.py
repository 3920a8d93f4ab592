"""Answers that carry their reason: the clause that decided them and the line that did.

A simulated syscall returns ints (a node, -errno, a count).  ``because(value,
clause)`` returns the same int, an instance of ``Because``, which also holds the
clause ids of the registry (``conformance.clauses``) and the source line of the guard
that decided it, taken from the caller's frame.  The value flows through the same code
path as any int: what the syscall returns or stores, it explains, with no table beside
the code that could drift from it.  Arithmetic on it gives a plain int; a count that
is computed is wrapped again where it is decided.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import CodeType
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

# code object of a simulator function -> the kernel function it mirrors
_MIRRORS: dict[CodeType, str] = {}


def mirrors(kernel_function: str) -> Callable[[F], F]:
    """Name the kernel function a simulator function reproduces (``do_pages_move``);
    the function itself is returned unchanged, so a call costs nothing more."""

    def register(fn: F) -> F:
        _MIRRORS[fn.__code__] = kernel_function
        return fn

    return register


def is_mirrored(code: CodeType) -> bool:
    """Whether ``code`` is a simulator function named after a kernel function."""
    return code in _MIRRORS


def kernel_function(code: CodeType) -> str:
    """The kernel function ``code`` mirrors: its ``@mirrors`` name, else its own name."""
    return _MIRRORS.get(code, code.co_name)


class Because(int):
    """An int the simulator answered, with ``clauses`` and the ``code``/``line`` of the
    guard that decided it.  Equal to, and hashed as, the plain int."""

    clauses: tuple[str, ...]
    code: CodeType
    line: int

    def __repr__(self) -> str:
        return f"{int(self)} because {', '.join(self.clauses)}"


def because(value: int, *clauses: str, depth: int = 1) -> int:
    """``value``, decided by ``clauses`` at the caller's line (``depth`` frames up)."""
    answer = Because(value)
    answer.clauses = clauses
    frame = sys._getframe(depth)
    answer.code = frame.f_code
    answer.line = frame.f_lineno
    return answer


def also(value: int, *clauses: str) -> int:
    """``value`` with more clauses, still decided where it was."""
    if not isinstance(value, Because) or not clauses:
        return value
    answer = Because(value)
    answer.clauses = value.clauses + clauses
    answer.code, answer.line = value.code, value.line
    return answer


def reasons_of(value: int) -> tuple[str, ...]:
    """The clauses behind ``value``; () for a plain int."""
    return value.clauses if isinstance(value, Because) else ()
