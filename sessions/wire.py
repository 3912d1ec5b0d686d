"""What crosses podium's sockets.

Holder <-> supervisor: binary frames (1-byte type, 4-byte big-endian length, payload),
because worker output is bytes and must not be re-encoded. Client <-> supervisor: JSON
lines, versioned by a hello. Both sides check the peer's uid (SO_PEERCRED).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from typing import Any

PROTOCOL_VERSION = 1
HOLDER_PROTOCOL_VERSION = 1
_HEADER = struct.Struct("!cI")
MAX_FRAME = 64 * 1024 * 1024
MAX_LINE = 16 * 1024 * 1024

# Holder -> supervisor
F_HELLO = b"H"  # JSON: pid, worker_pid, offset (stream bytes before the first D frame), ...
F_DATA = b"D"  # raw bytes, contiguous from the hello's offset
F_GAP = b"G"  # JSON {from, to}: bytes the supervisor was too slow for (read them from disk)
F_EXIT = b"X"  # JSON {exit_code, signal}
F_EVENT = b"E"  # JSON: a state change the supervisor should know of (paused, resized)
# Supervisor -> holder
F_INPUT = b"W"  # raw bytes for the program's terminal
F_CONTROL = b"C"  # JSON {op: interrupt|terminate|pause|resume|resize|signal, ...}


class ProtocolError(Exception):
    pass


def frame(kind: bytes, payload: bytes | dict[str, Any]) -> bytes:
    if isinstance(payload, dict):
        payload = json.dumps(payload).encode()
    return _HEADER.pack(kind, len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    header = await reader.readexactly(_HEADER.size)
    kind, length = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes is over the limit")
    return kind, await reader.readexactly(length)


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def same_user(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    return sock is not None and peer_uid(sock) == os.getuid()


def encode_line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


async def read_line(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """One JSON object, or None at EOF."""
    try:
        line = await reader.readline()
    except ValueError as exc:  # over the stream's limit
        raise ProtocolError(f"line over the limit: {exc}") from None
    if not line:
        return None
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("not a JSON object")
    return obj
