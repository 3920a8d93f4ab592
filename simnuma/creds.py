"""Credentials, capabilities and the two permission rules for acting on another process.

``uid_may_move`` is the rule move_pages(2)/migrate_pages(2) DESCRIPTION states
(and kernels before 4.13/4.15 applied); ``ptrace_may_access_read_realcreds`` is
what later kernels apply instead (197e7e521384, 313674661925).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from simnuma.abi import CAPABILITIES

CAP_SETUID = "CAP_SETUID"
CAP_SYS_NICE = "CAP_SYS_NICE"
CAP_SYS_PTRACE = "CAP_SYS_PTRACE"
ALL_CAPS = frozenset(CAPABILITIES)

# /proc/sys/fs/suid_dumpable default: a process whose credentials changed is not dumpable.
SUID_DUMP_DISABLE = 0
SUID_DUMP_USER = 1


@dataclass
class Credentials:
    uid: int
    euid: int
    suid: int
    gid: int
    egid: int
    sgid: int
    permitted: frozenset[str] = field(default_factory=frozenset)
    effective: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def for_user(cls, uid: int) -> Credentials:
        """A login of ``uid``: root holds every capability, anyone else none."""
        caps = ALL_CAPS if uid == 0 else frozenset()
        return cls(uid, uid, uid, uid, uid, uid, caps, caps)

    def capable(self, cap: str) -> bool:
        return cap in self.effective

    def copy(self) -> Credentials:
        return Credentials(**self.__dict__)


def setresuid(creds: Credentials, ruid: int, euid: int, suid: int) -> int:
    """setresuid(2) on ``creds`` in place; returns 0 or an errno (EPERM).

    -1 keeps an id.  Capabilities follow the root-uid transitions of
    capabilities(7) "Effect of user ID changes on capabilities".
    """
    new = [
        creds.uid if ruid == -1 else ruid,
        creds.euid if euid == -1 else euid,
        creds.suid if suid == -1 else suid,
    ]
    current = {creds.uid, creds.euid, creds.suid}
    if not creds.capable(CAP_SETUID) and any(n not in current for n in new):
        return errno.EPERM
    old_any_root = 0 in current
    old_euid = creds.euid
    creds.uid, creds.euid, creds.suid = new
    if old_any_root and 0 not in new:
        creds.permitted = creds.effective = frozenset()
    elif old_euid == 0 and creds.euid != 0:
        creds.effective = frozenset()
    elif old_euid != 0 and creds.euid == 0:
        creds.effective = creds.permitted
    return 0


def uid_may_move(caller: Credentials, target: Credentials) -> bool:
    """The man page rule: caller uid or euid equals target uid or suid, or CAP_SYS_NICE."""
    ids = {caller.uid, caller.euid}
    return bool(ids & {target.uid, target.suid}) or caller.capable(CAP_SYS_NICE)


def ptrace_may_access_read_realcreds(
    caller: Credentials, target: Credentials, target_dumpable: int, same_thread_group: bool
) -> bool:
    """__ptrace_may_access(PTRACE_MODE_READ_REALCREDS) with the commoncap check."""
    if same_thread_group:
        return True
    # the caller's *real* ids must equal all three of the target's ids
    ids_match = (
        caller.uid == target.uid == target.euid == target.suid
        and caller.gid == target.gid == target.egid == target.sgid
    )
    has_ptrace = caller.capable(CAP_SYS_PTRACE)
    if not ids_match and not has_ptrace:
        return False
    if target_dumpable != SUID_DUMP_USER and not has_ptrace:
        return False
    # cap_ptrace_access_check(): the target's permitted set must be within the caller's
    return target.permitted <= caller.permitted or has_ptrace
