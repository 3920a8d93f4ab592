"""Conformance cases, one module per surface; importing this registers them all."""

from conformance.cases import move_pages_errors, move_pages_status

__all__ = ["move_pages_errors", "move_pages_status"]
