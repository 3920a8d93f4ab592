"""The suite's call log: every raw NUMA syscall a case makes, as the kernel answered it.

The runner hands a case a ``RecordedKernel``: its processes are wrappers whose
``syscall`` records (name, return value, errno, output array) after the call, where
the output array is what the call wrote to the caller's memory (move_pages' *status*,
get_mempolicy's mode and mask).  The Python API's methods are built on ``syscall``,
so every call a case makes is seen, on every backend alike; world-building performed
by a backend itself (a probe process of its own) is not.  The differential check
compares these logs between a real kernel and the simulator.
"""

from __future__ import annotations

from typing import Any

from simnuma.abi import (
    BITS_PER_LONG,
    Explained,
    Process,
    SyscallError,
    SyscallMethods,
    nodemask_nodes,
    unpack_ints,
    unpack_ulongs,
)

Call = tuple[object, ...]  # (name, ret, errno, output array as a tuple, or None)
Reasons = tuple[str, ...]  # the clauses a call's answers named (the simulator's)


def reasons(record: Explained | None) -> Reasons:
    """The clauses behind a call: its answer's first, then its statuses', each once."""
    answer = getattr(record, "answer", None)
    first = tuple(getattr(answer, "clauses", ()))
    statuses = getattr(record, "statuses", None)
    rest = [c for d in (statuses() if statuses else {}).values() for c in d.clauses]
    return tuple(dict.fromkeys([*first, *rest]))


# Output arrays longer than this are not read back (a case asking for E2BIG passes
# counts no memory could hold).
_MAX_OUT = 1 << 16


class RecordedProcess(SyscallMethods):
    """A process whose raw syscalls are logged; everything else is the process's own.
    ``why``, where given, gets each call's reasons beside it, where the backend keeps
    them (the simulator's clauses: the answer's, then the statuses')."""

    def __init__(self, inner: Process, log: list[Call], why: list[Reasons] | None = None) -> None:
        self._inner = inner
        self._log = log
        self._why = why

    @property
    def pid(self) -> int:
        return self._inner.pid

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"Recorded({self._inner!r})"

    def fork(self) -> RecordedProcess:
        return RecordedProcess(self._inner.fork(), self._log, self._why)

    def last_explained(self) -> Explained | None:
        last = getattr(self._inner, "last_explained", None)
        return last() if last is not None else None

    def syscall(self, name: str, *args: int) -> tuple[int, int]:
        ret, err = self._inner.syscall(name, *args)
        self._log.append((name, ret, err, self._output(name, args)))
        if self._why is not None:
            self._why.append(reasons(self.last_explained()))
        return ret, err

    def _output(self, name: str, args: tuple[int, ...]) -> tuple[int, ...] | None:
        """What the call left in the caller's arrays; None where they cannot be read."""
        try:
            if name == "move_pages" and len(args) >= 5:
                count, status = args[1], args[4]
                if not 0 <= count <= _MAX_OUT:
                    return None
                return tuple(unpack_ints(self._inner.read_bytes(status, 4 * count)))
            if name == "get_mempolicy" and len(args) >= 3:
                mode_ptr, mask_ptr, maxnode = args[0], args[1], args[2]
                mode = unpack_ints(self._inner.read_bytes(mode_ptr, 4)) if mode_ptr else []
                mask: list[int] = []
                if mask_ptr and 0 < maxnode <= _MAX_OUT:
                    words = (maxnode + BITS_PER_LONG - 1) // BITS_PER_LONG
                    raw = unpack_ulongs(self._inner.read_bytes(mask_ptr, 8 * words))
                    mask = nodemask_nodes(raw, maxnode - 1)
                return (*mode, *mask)
        except (OSError, ValueError, TypeError):
            return None
        return ()


def unwrap(value: Any) -> Any:
    """The backend's own process behind a recorded one (world-building takes those)."""
    return value._inner if isinstance(value, RecordedProcess) else value


class RecordedKernel:
    """A kernel whose processes record their syscalls into ``log`` (and their reasons
    into ``why``)."""

    def __init__(self, inner: Any, log: list[Call], why: list[Reasons] | None = None) -> None:
        self._inner = inner
        self.log = log
        self.why = why

    def spawn(self, **kwargs: Any) -> RecordedProcess:
        return RecordedProcess(self._inner.spawn(**kwargs), self.log, self.why)

    def spawn_kernel_thread(self) -> RecordedProcess:
        return RecordedProcess(self._inner.spawn_kernel_thread(), self.log, self.why)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*map(unwrap, args), **{k: unwrap(v) for k, v in kwargs.items()})
            except SyscallError as exc:  # a syscall of the backend's own: set-up, not a verdict
                raise SetUpError(f"{name}: {exc}") from exc

        return call


class SetUpError(RuntimeError):
    """World-building failed inside a NUMA syscall the backend made itself (its own
    helper process, say): set-up broke (ERROR), not the call under test (FAIL)."""
