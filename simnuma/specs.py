"""The ``kind:key=value,key=value`` backend specs that ``numa-conformance --backend`` and
pytest's ``--numa-backend`` share: one reading of the options, one meaning of ``nodes=``
(every node, memoryless ones included)."""

from __future__ import annotations

from collections.abc import MutableMapping


def parse_options(text: str) -> dict[str, str]:
    """``"a=1,b=2"`` -> ``{"a": "1", "b": "2"}``; ValueError for a malformed or repeated key."""
    options: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(f"option {item!r} is not key=value")
        if key in options:
            raise ValueError(f"option {key!r} is given twice")
        options[key] = value
    return options


def pop_count(
    options: MutableMapping[str, str], key: str, default: int, minimum: int, maximum: int
) -> int:
    """Remove ``key``, an integer in ``minimum..maximum`` (``default`` if absent)."""
    value = options.pop(key, str(default))
    if not value.isascii() or not value.isdigit() or not minimum <= int(value) <= maximum:
        raise ValueError(f"{key} must be an integer in {minimum}..{maximum}, not {value!r}")
    return int(value)


def node_counts(
    options: MutableMapping[str, str], default_nodes: int, limit: int
) -> tuple[int, int]:
    """``nodes=N`` (every node) and ``memoryless=M`` (the last M of them; default 1 when
    N >= 3, else 0) -> (nodes with memory, nodes without); at least one keeps memory."""
    nodes = pop_count(options, "nodes", default_nodes, 1, limit)
    memoryless = pop_count(options, "memoryless", 1 if nodes >= 3 else 0, 0, limit)
    if memoryless >= nodes:
        raise ValueError(
            f"memoryless must be 0..{nodes - 1} with nodes={nodes} (at least one node "
            f"needs memory), not {memoryless}"
        )
    return nodes - memoryless, memoryless
