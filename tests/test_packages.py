"""What the packages export, and what importing them costs."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _loaded_after(statement: str) -> set[str]:
    """The modules of this project loaded by ``statement`` in a fresh interpreter."""
    script = f"import sys\n{statement}\nprint(' '.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return {m for m in out.split() if m.split(".")[0] in ("simnuma", "realnuma")}


def test_realnuma_exports_the_host_backend() -> None:
    import realnuma
    from realnuma import HelperDied, HostKernel, HostProcess
    from realnuma.host import HelperDied as host_died
    from realnuma.host import HostKernel as host_kernel
    from realnuma.host import HostProcess as host_process

    assert (HostKernel, HostProcess, HelperDied) == (host_kernel, host_process, host_died)
    assert sorted(realnuma.__all__) == ["HelperDied", "HostKernel", "HostProcess"]
    with pytest.raises(AttributeError, match="no attribute 'SimKernel'"):
        realnuma.SimKernel  # noqa: B018


def _simulator(modules: set[str]) -> set[str]:
    """The modules of simnuma beyond the contract (simnuma.abi and its submodules)."""
    return {m for m in modules if m.startswith("simnuma.") and not m.startswith("simnuma.abi")}


def test_importing_realnuma_loads_the_host_backend_only_when_asked() -> None:
    """A helper imports the binding and the wire format: nothing of the controller."""
    helper = _loaded_after("import realnuma.binding, realnuma.wire, realnuma.helper")
    assert "realnuma.host" not in helper
    assert "realnuma.host" in _loaded_after("from realnuma import HostKernel")


def test_realnuma_loads_only_the_contract_of_simnuma() -> None:
    every = "import realnuma.host, realnuma.leftovers, realnuma.probe, realnuma.cpusets"
    loaded = _loaded_after(every)
    assert "simnuma.abi" in loaded
    assert not _simulator(loaded), sorted(_simulator(loaded))
    assert not _simulator(_loaded_after("import simnuma.abi"))
