"""The supervisor's end of one holder's socket: binary frames in (bytes, gaps, exit,
acknowledgements), input and controls out. It hands what arrives to a `HolderSink` (the
worker) and knows nothing else about it.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Protocol

from . import wire

log = logging.getLogger("podium")

CONNECT_TIMEOUT = 5.0
# What a failed connection to a holder can raise: it is gone, refused, or not a holder.
CONNECT_ERRORS = (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError)


class HolderSink(Protocol):
    def on_output(self, data: bytes) -> None: ...
    def on_gap(self, end: int) -> None: ...
    def on_exit(self, info: dict[str, Any]) -> None: ...
    def on_paused(self, paused: bool) -> None: ...
    def on_transcript(self, error: str | None, lost: int, offset: int) -> None: ...
    def on_holder_gone(self) -> None: ...


class HolderRefused(ConnectionError):
    """The holder answered but would not talk: another holder protocol (podium was
    upgraded while it ran) or not a holder at all. Its worker may still be running."""


class HolderLink:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.task: asyncio.Task[None] | None = None
        self.closing = False

    @classmethod
    async def connect(cls, path: Path) -> tuple[HolderLink, dict[str, Any]]:
        """Connect and exchange hellos; raises one of CONNECT_ERRORS if that fails."""
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path), limit=wire.MAX_FRAME), CONNECT_TIMEOUT)
        writer.write(wire.frame(wire.F_HELLO, {"version": wire.HOLDER_PROTOCOL_VERSION}))
        kind, payload = await asyncio.wait_for(wire.read_frame(reader), CONNECT_TIMEOUT)
        hello = wire.loads(payload)
        if kind != wire.F_HELLO or not isinstance(hello, dict) or "error" in hello:
            writer.close()
            raise HolderRefused(hello.get("error", "holder said no hello") if isinstance(hello, dict) else "bad hello")
        return cls(reader, writer), hello

    def start(self, sink: HolderSink) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(sink))

    async def _run(self, sink: HolderSink) -> None:
        exited = False
        try:
            while not exited:
                kind, payload = await wire.read_frame(self.reader)
                try:
                    exited = self._deliver(sink, kind, payload)
                except Exception:  # noqa: BLE001 - a bug in a handler must not cut the worker off
                    log.exception("podium: handling a %r frame from a holder failed", kind)
                    if kind == wire.F_EXIT:
                        exited = True
        except (asyncio.IncompleteReadError, ConnectionError, wire.ProtocolError):
            pass
        finally:
            self.writer.close()
            if not exited and not self.closing:
                sink.on_holder_gone()

    @staticmethod
    def _deliver(sink: HolderSink, kind: bytes, payload: bytes) -> bool:
        """Hand one frame to the sink; True for the exit frame (the last one)."""
        if kind == wire.F_DATA:
            sink.on_output(payload)
        elif kind == wire.F_GAP:
            sink.on_gap(int(wire.loads(payload)["to"]))
        elif kind == wire.F_EXIT:
            sink.on_exit(wire.loads(payload))
            return True
        elif kind == wire.F_EVENT:
            event = wire.loads(payload)
            if event.get("op") in ("pause", "continue"):
                sink.on_paused(bool(event.get("paused")))
            elif event.get("op") == "transcript":
                sink.on_transcript(event.get("error"), int(event.get("lost") or 0), int(event["offset"]))
        return False

    def send_input(self, data: bytes) -> None:
        self.writer.write(wire.frame(wire.F_INPUT, data))

    def control(self, op: str, **fields: Any) -> None:
        """interrupt, terminate (grace), pause, continue, resize (cols, rows), signal."""
        self.writer.write(wire.frame(wire.F_CONTROL, {"op": op, **fields}))

    def close(self) -> None:
        """Leave the holder (the supervisor stops): the worker goes on, nobody is told."""
        self.closing = True
        self.writer.close()
