"""The warden: a child subreaper between numa-sim-run's supervisor and the program.

It forks the program (which installs the seccomp filter and hands the listener to
the supervisor), reports its pid and wait status, reaps every orphan of its tree,
and when the supervisor is done, or dies, kills and reaps what is left, so that no
process outlives a run (prctl(2) PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
from collections.abc import Sequence

from simnuma.run import seccomp


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def read_int(fd: int) -> int | None:
    data = b""
    while len(data) < 4:
        chunk = os.read(fd, 4 - len(data))
        if not chunk:
            return None
        data += chunk
    return int.from_bytes(data, "little", signed=True)


def warden(
    path: str,
    argv: Sequence[str],
    env: dict[str, str],
    theirs: socket.socket,
    status_w: int,
    ctl_r: int,
    tree: str,
    calls: Sequence[str],
) -> None:
    """Between the supervisor and the program: the subreaper its orphans come to.
    It reports the program's pid and wait status, and when the supervisor is done,
    or dies (EOF either way), kills and reaps whatever is left of the program's tree,
    so that nothing outlives the run, not even the node directory ``tree``.  ``calls``
    are the system calls the filter sends to the supervisor.  Never returns."""
    try:
        seccomp.prctl(seccomp.PR_SET_CHILD_SUBREAPER, 1)
        me = os.getpid()
        pid = os.fork()
        if pid == 0:  # the program: filter, hand the listener over, exec
            try:
                os.close(ctl_r)
                os.close(status_w)
                seccomp.prctl(seccomp.PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() != me:
                    os._exit(137)
                seccomp.prctl(seccomp.PR_SET_THP_DISABLE, 1)  # small pages, as modelled
                fd = seccomp.install_filter(list(calls))
                socket.send_fds(theirs, [b"L"], [fd])
                os.close(fd)
                theirs.close()
                os.execve(path, list(argv), env)
            except OSError as exc:
                os.write(2, f"numa-sim-run: {argv[0]}: {exc.strerror}\n".encode())
            finally:
                os._exit(127)
        theirs.close()
        os.write(status_w, pid.to_bytes(4, "little", signed=True))
        reported = False
        while True:
            ready, _, _ = select.select([ctl_r], [], [], 0.05)
            while True:
                try:
                    child, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if child == 0:
                    break
                if child == pid and not reported:
                    os.write(status_w, status.to_bytes(4, "little", signed=True))
                    reported = True
            if ready and not os.read(ctl_r, 1):
                break
        for _ in range(100):
            left = descendants(me)
            if not left:
                break
            for p in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
            for p in left:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(p, 0)
        shutil.rmtree(tree, ignore_errors=True)
    finally:
        os._exit(0)


def descendants(root: int) -> list[int]:
    """Every process below ``root``, by a scan of /proc."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parent[int(entry)] = int(fields[1])
    out = []
    frontier = [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        frontier += kids
    return out
