"""Argument checks for the Python API: TypeError/ValueError naming the argument."""

from __future__ import annotations

from collections.abc import Sequence


def check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be int, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_ints(name: str, values: object) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of int, not {type(values).__name__}")
    out = list(values)
    if all(type(v) is int for v in out):
        return out
    for i, v in enumerate(out):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{name}[{i}] must be int, not {type(v).__name__}")
    return out


def check_nodes(name: str, values: object) -> list[int]:
    """A node list for a nodemask: ints >= 0."""
    out = check_ints(name, values)
    for i, v in enumerate(out):
        if v < 0:
            raise ValueError(f"{name}[{i}] must be a node id >= 0, got {v}")
    return out


def check_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)
