"""The Python API's syscall methods, shared by every backend."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NoReturn, cast

from simnuma.abi.arrays import (
    default_maxnode,
    get_mempolicy_raw,
    mbind_raw,
    migrate_pages_raw,
    move_pages_raw,
    set_mempolicy_raw,
)
from simnuma.abi.checks import check_int, check_ints, check_nodes, raise_syscall_error
from simnuma.abi.constants import GET_MEMPOLICY_MAXNODE
from simnuma.abi.protocols import Explained, ExplainedMovePages, MovePagesResult, Process


class SyscallMethods:
    """The Python API's syscall methods, built on ``syscall`` and the process's own
    memory alone, shared by every backend: a bad array is the kernel's EFAULT.  A call
    that returns -1 raises ``SyscallError``, an OSError carrying the errno."""

    def move_pages(
        self, pid: int, pages: Sequence[int], nodes: Sequence[int] | None, flags: int
    ) -> MovePagesResult:
        """move_pages(2); SyscallError (an OSError) when it returns -1."""
        check_int("pid", pid)
        page_list = check_ints("pages", pages)
        node_list = None if nodes is None else check_ints("nodes", nodes)
        check_int("flags", flags)
        if node_list is not None and len(node_list) != len(page_list):
            raise ValueError(f"nodes has {len(node_list)} entries, pages has {len(page_list)}")
        ret, err, status = move_pages_raw(self._proc(), pid, page_list, node_list, flags)
        why = self.last_explained()
        if ret == -1:
            raise_syscall_error(err, "move_pages", why.reason() if why else "")
        if why is None:
            return MovePagesResult(ret, status)
        result = ExplainedMovePages(ret, status)
        result.why, result.pages = why, page_list
        return result

    def migrate_pages(
        self,
        pid: int,
        old_nodes: Iterable[int],
        new_nodes: Iterable[int],
        maxnode: int | None = None,
    ) -> int:
        """migrate_pages(2): the number of pages not moved; SyscallError (an OSError) on -1."""
        check_int("pid", pid)
        old = check_nodes("old_nodes", old_nodes)
        new = check_nodes("new_nodes", new_nodes)
        if maxnode is None:
            maxnode = default_maxnode(old, new)
        check_int("maxnode", maxnode)
        ret, err, _ = migrate_pages_raw(self._proc(), pid, old, new, maxnode)
        if ret == -1:
            self._raise(err, "migrate_pages")
        return ret

    def get_mempolicy(self, flags: int, addr: int = 0) -> tuple[int, list[int]]:
        """get_mempolicy(2): (mode or node, nodes of the mask)."""
        check_int("flags", flags)
        check_int("addr", addr, minimum=0)
        ret, err, out = get_mempolicy_raw(self._proc(), flags, addr, GET_MEMPOLICY_MAXNODE)
        if ret == -1:
            self._raise(err, "get_mempolicy")
        return out[0], out[1:]

    def set_mempolicy(self, mode: int, nodes: Iterable[int]) -> None:
        check_int("mode", mode)
        node_list = check_nodes("nodes", nodes)
        ret, err, _ = set_mempolicy_raw(self._proc(), mode, node_list, default_maxnode(node_list))
        if ret == -1:
            self._raise(err, "set_mempolicy")

    def mbind(
        self, addr: int, length: int, mode: int, nodes: Iterable[int], flags: int = 0
    ) -> None:
        check_int("addr", addr, minimum=0)
        check_int("length", length, minimum=0)
        check_int("mode", mode)
        node_list = check_nodes("nodes", nodes)
        check_int("flags", flags)
        maxnode = default_maxnode(node_list)
        ret, err, _ = mbind_raw(self._proc(), addr, length, mode, node_list, maxnode, flags)
        if ret == -1:
            self._raise(err, "mbind")

    def last_explained(self) -> Explained | None:
        """Why the last NUMA syscall of this process answered as it did, where the
        backend records it (the simulator: a ``CallRecord``); None elsewhere."""
        return None

    def _raise(self, err: int, syscall: str) -> NoReturn:
        why = self.last_explained()
        raise_syscall_error(err, syscall, why.reason() if why else "")

    def _proc(self) -> Process:
        return cast(Process, self)
