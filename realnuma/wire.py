"""Framing between the controller and its helper processes: length-prefixed pickles
over a Unix socket, with file descriptors passed alongside (SCM_RIGHTS)."""

from __future__ import annotations

import pickle
import socket
import struct
from typing import Any

_HEADER = struct.Struct("<I")


def send(sock: socket.socket, message: Any, fds: list[int] | None = None) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    frame = _HEADER.pack(len(payload)) + payload
    if fds:
        socket.send_fds(sock, [frame[:1]], fds)
        sock.sendall(frame[1:])
    else:
        sock.sendall(frame)


def recv(sock: socket.socket) -> tuple[Any, list[int]] | None:
    """The next message and any descriptors that came with it; None at end of stream."""
    first, fds, _, _ = socket.recv_fds(sock, 1, 4)
    if not first:
        return None
    rest = _exactly(sock, _HEADER.size - 1)
    if rest is None:
        return None
    (length,) = _HEADER.unpack(first + rest)
    payload = _exactly(sock, length)
    if payload is None:
        return None
    return pickle.loads(payload), list(fds)


def _exactly(sock: socket.socket, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
