"""Put real processes into real cpusets (cgroup v1 ``cpuset`` or cgroup v2 with ``+cpuset``).

:class:`Cpusets` makes a parent cgroup of its own below a hierarchy root
(``<root>/simnuma-<pid>-<n>``), creates children in it that each allow the
parent's effective cpus and the requested memory nodes, moves processes into
them, and on :meth:`Cpusets.close` moves every process back to the root and
removes everything it created.
"""

from __future__ import annotations

import errno as _errno
import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from realnuma.probe import find_cpuset_mounts, format_nodelist, parse_nodelist, remove_cgroup_dir
from realnuma.procfs import read_status

__all__ = ["V2_ALWAYS_MIGRATES", "CpusetError", "Cpusets"]

V2_ALWAYS_MIGRATES = (
    "cgroup v2 always migrates memory on a cpuset move (memory_migrate cannot be off)"
)

_instances = itertools.count()
_GONE = (_errno.ESRCH, _errno.ENOENT)


class CpusetError(RuntimeError):
    """A cpuset could not be made, written, joined or removed; ``errno`` when the kernel said."""

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise CpusetError(f"cannot read {path}: {exc.strerror or exc}", errno=exc.errno) from exc


def _write(path: Path, value: str) -> None:
    """One write(2) of ``value``, as the kernel's cgroup files expect."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError as exc:
        raise CpusetError(
            f"cannot open {path} to write {value!r}: {exc.strerror or exc}", errno=exc.errno
        ) from exc
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise CpusetError(
            f"writing {value!r} to {path} failed: {exc.strerror or exc}", errno=exc.errno
        ) from exc
    finally:
        os.close(fd)


def _ids(path: Path) -> list[int]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [int(word) for word in text.split()]


class Cpusets:
    """Creates child cpusets under a parent of its own (``<root>/simnuma-<pid>-<n>``), each with
    ``cpuset.cpus`` = the parent's effective cpus and ``cpuset.mems`` = the requested nodes;
    moves pids into them; removes everything on :meth:`close`."""

    root: Path  # the hierarchy directory our parent lives in; processes go back here
    version: str  # "v1" or "v2"
    parent: Path  # our own parent cgroup

    def __init__(self, root: Path | None = None) -> None:
        self._children: dict[str, Path] = {}
        self._serial = itertools.count()
        self._closed = False
        if root is not None:
            self._setup(Path(root))
            return
        mounts = find_cpuset_mounts(Path("/"))
        if not mounts:
            raise CpusetError(
                "no cpuset controller mounted: neither a cgroup v1 hierarchy with cpuset "
                "nor a cgroup2 hierarchy listing cpuset in cgroup.controllers"
            )
        reasons: list[str] = []
        for mount in mounts:
            try:
                self._setup(mount.path)
                return
            except CpusetError as exc:
                reasons.append(f"{mount.version}:{mount.path}: {exc}")
        raise CpusetError("no usable cpuset hierarchy: " + "; ".join(reasons))

    # ------------------------------------------------------------------ hooks (fakes override)

    def _make_dir(self, path: Path) -> None:
        os.mkdir(path)

    def _remove_dir(self, path: Path) -> str | None:
        return remove_cgroup_dir(path)

    # ------------------------------------------------------------------ set-up

    def _setup(self, root: Path) -> None:
        controllers = root / "cgroup.controllers"
        if controllers.exists():
            if "cpuset" not in _read(controllers).split():
                raise CpusetError(
                    f"{root}: this cgroup2 hierarchy does not offer the cpuset controller "
                    f"(cgroup.controllers: {_read(controllers).strip() or 'empty'})"
                )
            version = "v2"
        elif (root / "cpuset.mems").exists():
            version = "v1"
        else:
            raise CpusetError(
                f"{root} is not a cpuset hierarchy (no cgroup.controllers, no cpuset.mems)"
            )
        self.root, self.version = root, version
        if version == "v2":
            self._enable_cpuset(root)
        self.parent = self._new_dir(root, f"simnuma-{os.getpid()}-{next(_instances)}")
        try:
            if version == "v1":
                # A fresh v1 cpuset allows nothing; it needs cpus and mems before anything else.
                _write(self.parent / "cpuset.cpus", self._effective(root, "cpus"))
                _write(self.parent / "cpuset.mems", self._effective(root, "mems"))
            else:
                self._enable_cpuset(self.parent)
        except CpusetError:
            self._remove_dir(self.parent)
            raise

    def _new_dir(self, under: Path, name: str) -> Path:
        for n in itertools.count():
            path = under / (name if n == 0 else f"{name}.{n}")
            try:
                self._make_dir(path)
                return path
            except FileExistsError:
                continue
            except OSError as exc:
                raise CpusetError(
                    f"cannot create cgroup {path}: {exc.strerror or exc}", errno=exc.errno
                ) from exc
        raise AssertionError("unreachable")

    def _enable_cpuset(self, directory: Path) -> None:
        control = directory / "cgroup.subtree_control"
        if "cpuset" in _read(control).split():
            return
        try:
            _write(control, "+cpuset")
        except CpusetError as exc:
            hint = ""
            if exc.errno == _errno.EBUSY:
                hint = " (a non-root cgroup with processes cannot enable controllers for children)"
            raise CpusetError(
                f"cannot enable the cpuset controller: {exc}{hint}", errno=exc.errno
            ) from exc

    def _effective(self, directory: Path, what: str) -> str:
        names = (
            (f"cpuset.effective_{what}", f"cpuset.{what}")
            if self.version == "v1"
            else (f"cpuset.{what}.effective",)
        )
        for name in names:
            path = directory / name
            if path.exists():
                return _read(path).strip()
        raise CpusetError(f"{directory}: no {' or '.join(names)}")

    def _check_open(self) -> None:
        if self._closed:
            raise CpusetError("this Cpusets has been closed")

    # ------------------------------------------------------------------ public API

    @property
    def names(self) -> list[str]:
        """The children created so far (and not yet removed)."""
        return list(self._children)

    def path(self, name: str) -> Path:
        try:
            return self._children[name]
        except KeyError:
            raise CpusetError(f"no cpuset named {name!r} here (have {self.names})") from None

    def create(self, mems: Sequence[int], *, memory_migrate: bool = False) -> str:
        """A fresh child allowing ``mems``; returns its name.

        v1: ``cpuset.memory_migrate`` is set to ``memory_migrate``.  v2 always migrates
        a process's memory when it moves in, so ``memory_migrate=False`` is refused there.
        """
        self._check_open()
        nodes = list(mems)
        if not nodes:
            raise CpusetError("a cpuset needs at least one memory node")
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in nodes):
            raise CpusetError(f"memory nodes must be non-negative ints, not {nodes!r}")
        if self.version == "v2" and not memory_migrate:
            raise CpusetError(V2_ALWAYS_MIGRATES)
        path = self._new_dir(self.parent, f"c{next(self._serial)}")
        try:
            _write(path / "cpuset.cpus", self._effective(self.parent, "cpus"))
            _write(path / "cpuset.mems", format_nodelist(nodes))
            if self.version == "v1":
                _write(path / "cpuset.memory_migrate", "1" if memory_migrate else "0")
        except CpusetError:
            self._remove_dir(path)
            raise
        self._children[path.name] = path
        return path.name

    def attach(self, name: str, pid: int) -> None:
        """Move process ``pid`` (all its threads) into cpuset ``name``."""
        self._check_open()
        path = self.path(name)
        # cgroup.procs moves the whole thread group; v1's ``tasks`` would move one thread.
        target = path / "cgroup.procs"
        if self.version == "v1" and not target.exists():
            target = path / "tasks"
        _write(target, str(pid))

    def move(self, pid: int, mems: Sequence[int], *, memory_migrate: bool = False) -> None:
        """Create a fresh cpuset allowing ``mems`` and move ``pid`` into it."""
        name = self.create(mems, memory_migrate=memory_migrate)
        try:
            self.attach(name, pid)
        except CpusetError:
            if self._remove_dir(self._children[name]) is None:
                del self._children[name]
            raise

    @staticmethod
    def mems_of(pid: int) -> list[int]:
        """The nodes ``pid`` may allocate on (``Mems_allowed_list`` of /proc/<pid>/status)."""
        mems = read_status(pid).get("Mems_allowed_list")
        if mems is not None:
            return parse_nodelist(mems)
        raise CpusetError(f"/proc/{pid}/status has no Mems_allowed_list (kernel without cpusets?)")

    def _evacuate(self, directory: Path, problems: list[str]) -> None:
        files = ["cgroup.procs", "tasks"] if self.version == "v1" else ["cgroup.procs"]
        for _ in range(10):
            moved = False
            for name in files:
                for ident in _ids(directory / name):
                    moved = True
                    try:
                        _write(self.root / name, str(ident))
                    except CpusetError as exc:
                        if exc.errno not in _GONE:
                            problems.append(str(exc))
            if not moved:
                return

    def close(self) -> None:
        """Move every process in our cpusets back to the root, then remove them and our parent.

        Idempotent; processes that are already gone are ignored.  Raises CpusetError only
        if something could not be removed (a later close() tries again).
        """
        self._closed = True
        if not hasattr(self, "parent"):
            return
        problems: list[str] = []
        for path in [*self._children.values(), self.parent]:
            if path.exists():
                self._evacuate(path, problems)
        for name, path in list(self._children.items()):
            why = self._remove_dir(path)
            if why is None:
                del self._children[name]
            else:
                problems.append(why)
        if not self._children:
            why = self._remove_dir(self.parent)
            if why is not None:
                problems.append(why)
        if problems:
            raise CpusetError("cleaning up cpusets: " + "; ".join(problems))

    def __enter__(self) -> Cpusets:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = getattr(self, "parent", None)
        return f"<Cpusets {getattr(self, 'version', '?')} at {where} children={self.names}>"
