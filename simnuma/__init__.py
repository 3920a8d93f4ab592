"""simnuma: an in-memory Linux kernel for the NUMA page-migration ABI.

The names below load the simulator on first use, so that ``import simnuma.abi`` (the
backend-neutral contract) loads nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simnuma.abi import MovePagesResult, format_status, format_statuses
    from simnuma.abi.quirks import Quirk
    from simnuma.files import FILESYSTEMS, Filesystem, SimFile
    from simnuma.kernel import SimKernel
    from simnuma.process import SimProcess
    from simnuma.profiles import Profile, named_profiles, resolve_profile
    from simnuma.topology import NodeSpec, Topology

_WHERE = {
    "FILESYSTEMS": "simnuma.files",
    "Filesystem": "simnuma.files",
    "MovePagesResult": "simnuma.abi",
    "NodeSpec": "simnuma.topology",
    "Profile": "simnuma.profiles",
    "Quirk": "simnuma.abi.quirks",
    "SimFile": "simnuma.files",
    "SimKernel": "simnuma.kernel",
    "SimProcess": "simnuma.process",
    "Topology": "simnuma.topology",
    "format_status": "simnuma.abi",
    "format_statuses": "simnuma.abi",
    "named_profiles": "simnuma.profiles",
    "resolve_profile": "simnuma.profiles",
}

__all__ = [
    "FILESYSTEMS",
    "Filesystem",
    "MovePagesResult",
    "NodeSpec",
    "Profile",
    "Quirk",
    "SimFile",
    "SimKernel",
    "SimProcess",
    "Topology",
    "format_status",
    "format_statuses",
    "named_profiles",
    "resolve_profile",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'simnuma' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
