"""simnuma: an in-memory Linux kernel for the NUMA page-migration ABI."""

from simnuma.abi import MovePagesResult, format_status, format_statuses
from simnuma.files import FILESYSTEMS, Filesystem, SimFile
from simnuma.kernel import SimKernel
from simnuma.process import SimProcess
from simnuma.profiles import Profile, Quirk, named_profiles, resolve_profile
from simnuma.topology import NodeSpec, Topology

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
