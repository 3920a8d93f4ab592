"""numa-sim-run: unmodified programs on the simulated machine (docs/sim-run.md).

``run(argv, kernel, inject)`` runs a program with its NUMA system calls answered by
``kernel`` and returns its exit status; ``Injection.parse("busy:page=0")`` makes a
rule of fault injection.
"""

from simnuma.run.inject import Injection, load_rules
from simnuma.run.seccomp import Unsupported
from simnuma.run.supervisor import ProgramError, Supervisor, run

__all__ = ["Injection", "ProgramError", "Supervisor", "Unsupported", "load_rules", "run"]
