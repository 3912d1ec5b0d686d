"""The holder <-> supervisor wire: binary frames (1-byte type, 4-byte big-endian length,
payload), because worker output is bytes and must not be re-encoded; the small JSON
payloads of the control frames; the peer's uid (SO_PEERCRED), checked on every socket;
the timestamps both sides write (exit.json's `ended` is the holder's).

Only C modules and no relative import: the holder (a bare interpreter: no site, no
package, a few MB) imports this file by itself. The supervisor's JSON lines to clients
are `protocol.py`'s.
"""

from __future__ import annotations

import _json
import _socket
import _struct
import time

TYPE_CHECKING = False  # (the typing module costs a holder 1.8 MB)
if TYPE_CHECKING:
    from typing import Any

HOLDER_PROTOCOL_VERSION = 2  # 2: the SIGCONT control is "continue"
_HEADER = _struct.Struct("!cI")
_CREDS = _struct.Struct("3i")
MAX_FRAME = 64 * 1024 * 1024
TERMINAL_MAX = 4096  # columns or rows

# Holder -> supervisor
F_HELLO = b"H"  # JSON: pid, worker_pid, offset (stream bytes before the first D frame), ...
F_DATA = b"D"  # raw bytes, contiguous from the hello's offset
F_GAP = b"G"  # JSON {from, to}: bytes the supervisor was too slow for (read them from disk)
F_EXIT = b"X"  # JSON {exit_code, signal, ended, offset, ...}
F_EVENT = b"E"  # JSON {op, ...}: a control acknowledged (paused, size), a transcript warning
# Supervisor -> holder
F_INPUT = b"W"  # raw bytes for the program's terminal
F_CONTROL = b"C"  # JSON {op: interrupt|terminate|pause|continue|resize|signal, ...}


class ProtocolError(Exception):
    pass


# -- JSON for small payloads, on the interpreter's C codec (the json package pulls in re) ---
class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict[str, str] = {}


_scan = _json.make_scanner(_Context())


def now_iso(ts: float | None = None) -> str:
    """UTC, to the second, ISO 8601: "2026-11-30T17:12:00+00:00"."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() if ts is None else ts))


def terminal_size(cols: int, rows: int) -> tuple[int, int]:
    """A size a terminal can take: at least 2x2, at most what TIOCSWINSZ's 16 bits and a
    sane screen buffer allow."""
    return max(2, min(TERMINAL_MAX, int(cols))), max(2, min(TERMINAL_MAX, int(rows)))


def loads(text: str | bytes) -> Any:
    """Standard JSON (what json.loads reads); ValueError if it is not."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    text = text.strip()
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text):
        raise ValueError(f"extra data after JSON at {end}")
    return value


def dumps(value: Any) -> str:
    """Standard JSON for str, int, float, bool, None, lists and dicts (what a frame holds)."""
    if isinstance(value, str):
        return _json.encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value) if value == value and value not in (float("inf"), float("-inf")) else "null"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json.encode_basestring(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"{type(value).__name__} is not JSON")


# -- frames ------------------------------------------------------------------------------
def frame(kind: bytes, payload: bytes | dict[str, Any]) -> bytes:
    if isinstance(payload, dict):
        payload = dumps(payload).encode()
    return _HEADER.pack(kind, len(payload)) + payload


async def read_frame(reader: Any) -> tuple[bytes, bytes]:
    """One frame from an asyncio.StreamReader (the supervisor's side)."""
    header = await reader.readexactly(_HEADER.size)
    kind, length = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes is over the limit")
    return kind, await reader.readexactly(length)


class FrameDecoder:
    """Frames out of a byte stream read in pieces (the holder's side, no asyncio)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self._buf += data
        frames = []
        while len(self._buf) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(self._buf)
            if length > MAX_FRAME:
                raise ProtocolError(f"frame of {length} bytes is over the limit")
            end = _HEADER.size + length
            if len(self._buf) < end:
                break
            frames.append((bytes(kind), bytes(self._buf[_HEADER.size : end])))
            del self._buf[:end]
        return frames


def peer_uid(sock: Any) -> int:
    """The uid of the process at the other end of a Unix socket."""
    _pid, uid, _gid = _CREDS.unpack(sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _CREDS.size))
    return uid
