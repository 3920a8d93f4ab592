"""Conformance cases, one module per surface; importing this registers them all."""

from conformance.cases import (
    fork,
    mempolicy,
    migrate_pages,
    move_pages_errors,
    move_pages_status,
    release_edges,
)

__all__ = [
    "fork",
    "mempolicy",
    "migrate_pages",
    "move_pages_errors",
    "move_pages_status",
    "release_edges",
]
