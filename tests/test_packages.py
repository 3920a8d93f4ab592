"""What the packages export, and what importing them costs."""

from __future__ import annotations

import importlib
import inspect

import pytest
from subprocs import python_output

import realnuma


def _loaded_after(statement: str) -> set[str]:
    """The modules of this project loaded by ``statement`` in a fresh interpreter."""
    out = python_output(f"import sys\n{statement}\nprint(' '.join(sys.modules))")
    return {m for m in out.split() if m.split(".")[0] in ("simnuma", "realnuma")}


def test_realnuma_exports_the_host_backend() -> None:
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


def _parameters(function: object) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize(
    ("protocol", "implementations"),
    [
        ("Process", ["simnuma.process.SimProcess", "realnuma.host.HostProcess"]),
        ("Kernel", ["simnuma.kernel.SimKernel", "realnuma.host.HostKernel"]),
        ("World", ["simnuma.kernel.SimKernel", "realnuma.host.HostKernel"]),
    ],
)
def test_backends_take_the_protocols_parameters(protocol: str, implementations: list[str]) -> None:
    """Every method of the contract that a backend has takes the contract's parameters,
    by the same names, kinds and defaults (a backend may not have a World operation:
    Kernel.features says which it has)."""
    import simnuma.abi

    spec = getattr(simnuma.abi, protocol)
    methods = [n for n, v in vars(spec).items() if callable(v) and not n.startswith("_")]
    assert methods
    for path in implementations:
        module, _, name = path.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        for method in methods:
            if hasattr(cls, method):
                assert _parameters(getattr(cls, method)) == _parameters(getattr(spec, method)), (
                    f"{name}.{method}"
                )
