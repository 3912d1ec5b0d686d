"""A client of the supervisor: connect (or start one), say hello, send requests, receive
pushed events. Used by the command line, the app, and tests."""

from __future__ import annotations

import asyncio
import errno
import itertools
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import daemon, wire
from .blackboard import Blackboard, BlackboardError

EventHandler = Callable[[dict[str, Any]], None]


class NotRunning(Exception):
    """No supervisor answers for this workspace (the message says why, in one line)."""


class RequestFailed(Exception):
    """The supervisor refused a request (the message is its reason)."""


class SupervisorClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, workspace: Path):
        self.reader = reader
        self.writer = writer
        self.workspace = workspace
        self.info: dict[str, Any] = {}
        self.on_event: EventHandler | None = None
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader_task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    @classmethod
    async def connect(cls, workspace: Path | str, client: str = "cli", timeout: float = 5.0) -> SupervisorClient:
        bb = Blackboard(workspace)
        path = bb.socket_path
        if not path.exists():
            raise NotRunning(f"no supervisor running for {bb.workspace}")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path), limit=wire.MAX_LINE), timeout)
        except ConnectionRefusedError:
            raise NotRunning(
                f"no supervisor running for {bb.workspace} (stale socket {path} left by a supervisor that died)"
            ) from None
        except PermissionError:
            raise NotRunning(f"cannot reach the supervisor socket {path}: permission denied") from None
        except (FileNotFoundError, asyncio.TimeoutError):
            raise NotRunning(f"no supervisor running for {bb.workspace}") from None
        self = cls(reader, writer, bb.workspace)
        writer.write(wire.encode_line({"op": "hello", "id": 0, "version": wire.PROTOCOL_VERSION, "client": client}))
        try:
            reply = await asyncio.wait_for(wire.read_line(reader), timeout)
        except (asyncio.TimeoutError, ConnectionError, wire.ProtocolError) as exc:
            writer.close()
            raise NotRunning(f"the supervisor for {bb.workspace} did not answer the hello ({exc or 'timeout'})") from None
        if reply is None:
            writer.close()
            raise NotRunning(f"the supervisor for {bb.workspace} closed the connection")
        if not reply.get("ok"):
            writer.close()
            raise RequestFailed(reply.get("error", "the supervisor refused the connection"))
        self.info = reply.get("result", {})
        self._reader_task = asyncio.get_running_loop().create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            while True:
                msg = await wire.read_line(self.reader)
                if msg is None:
                    break
                rid = msg.get("id")
                if rid is not None and rid in self._pending:
                    fut = self._pending.pop(rid)
                    if not fut.done():
                        fut.set_result(msg)
                elif "event" in msg:
                    if self.on_event is not None:
                        self.on_event(msg)
                    else:
                        self.events.put_nowait(msg)
        except (ConnectionError, wire.ProtocolError, asyncio.IncompleteReadError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(NotRunning("the supervisor went away"))
            self._pending.clear()
            self.closed.set()

    async def request(self, op: str, **fields: Any) -> Any:
        if "id" in fields or "op" in fields:
            raise ValueError("'id' and 'op' belong to the protocol; name the field something else")
        if self.closed.is_set():
            raise NotRunning("the supervisor went away")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self.writer.write(wire.encode_line({"op": op, "id": rid, **fields}))
        reply = await fut
        if not reply.get("ok"):
            raise RequestFailed(reply.get("error", f"{op} failed"))
        return reply.get("result")

    def send_nowait(self, op: str, **fields: Any) -> None:
        """Fire and forget (keys typed in interactive mode): the answer is not awaited."""
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
        self._pending[rid] = fut
        self.writer.write(wire.encode_line({"op": op, "id": rid, **fields}))

    async def close(self) -> None:
        self.writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            try:
                await self._reader_task
            except (asyncio.CancelledError, Exception):
                pass


def start_supervisor(workspace: Path | str, timeout: float = 15.0) -> dict[str, Any]:
    """Start a detached supervisor for `workspace` (or learn that one runs already)."""
    bb = Blackboard(workspace)
    bb.prepare()  # raises BlackboardError with a clear reason (not writable...)
    info = daemon.launch_blocking(
        "podium.sessions.supervisor",
        ["--workspace", str(bb.workspace)],
        log_path=bb.log_path,
        timeout=timeout,
    )
    if "error" in info:
        raise BlackboardError(str(info["error"]))
    return info


async def connect_or_start(workspace: Path | str, client: str = "cli", timeout: float = 15.0) -> tuple[SupervisorClient, bool]:
    """Connect, starting a supervisor first if none runs. Returns (client, started)."""
    try:
        return await SupervisorClient.connect(workspace, client), False
    except NotRunning:
        pass
    loop = asyncio.get_running_loop()
    info = await loop.run_in_executor(None, start_supervisor, workspace, timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await SupervisorClient.connect(workspace, client), not info.get("already_running", False)
        except NotRunning:
            # Another supervisor won the lock and may still be binding its socket.
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def socket_is_stale(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return False
    except OSError as exc:
        return exc.errno in (errno.ECONNREFUSED, errno.ENOENT)
    finally:
        s.close()


__all__ = [
    "NotRunning",
    "RequestFailed",
    "SupervisorClient",
    "connect_or_start",
    "start_supervisor",
    "socket_is_stale",
]
