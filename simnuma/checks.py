"""Argument checks for the Python API (they are part of the contract: simnuma.abi)."""

from simnuma.abi import check_bytes, check_int, check_ints, check_nodes

__all__ = ["check_bytes", "check_int", "check_ints", "check_nodes"]
