"""A client of the supervisor: connect (or start one), say hello, send requests and
notifications, receive pushed events. Used by the command line, the app, and tests.
The messages themselves are typed in `protocol.py`."""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import daemon
from .blackboard import Blackboard, BlackboardError
from .protocol import MAX_LINE, PROTOCOL_VERSION, LineError, encode_line, pack_bytes, read_line

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
        self.last_error: str | None = None  # the supervisor's last error event

    @classmethod
    async def connect(cls, workspace: Path | str, client: str = "cli", timeout: float = 5.0) -> SupervisorClient:
        bb = Blackboard(workspace)
        recorded = bb.recorded_supervisor()  # where it said it listens, beside its lock
        pid, path = recorded if recorded else (0, bb.socket_path)
        alive = pid > 0 and _alive(pid)
        if not path.exists():
            if alive:
                raise NotRunning(f"the supervisor for {bb.workspace} (pid {pid}) runs, but its socket {path} is gone")
            raise NotRunning(f"no supervisor running for {bb.workspace}")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path), limit=MAX_LINE), timeout)
        except ConnectionRefusedError:
            if alive:
                raise NotRunning(f"the supervisor for {bb.workspace} (pid {pid}) does not answer on {path}") from None
            raise NotRunning(
                f"no supervisor running for {bb.workspace} (stale socket {path} left by a supervisor that died)"
            ) from None
        except PermissionError:
            raise NotRunning(f"cannot reach the supervisor socket {path}{f' (pid {pid})' if alive else ''}: permission denied") from None
        except asyncio.TimeoutError:
            raise NotRunning(f"the supervisor for {bb.workspace} (pid {pid}) did not accept a connection on {path} in {timeout:.0f} s") from None
        except FileNotFoundError:
            raise NotRunning(f"no supervisor running for {bb.workspace}") from None
        self = cls(reader, writer, bb.workspace)
        writer.write(encode_line({"op": "hello", "id": 0, "version": PROTOCOL_VERSION, "client": client}))
        try:
            reply = await asyncio.wait_for(read_line(reader), timeout)
        except (asyncio.TimeoutError, ConnectionError, LineError) as exc:
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
                msg = await read_line(self.reader)
                if msg is None:
                    break
                rid = msg.get("id")
                if rid is not None and rid in self._pending:
                    fut = self._pending.pop(rid)
                    if not fut.done():
                        fut.set_result(msg)
                elif "event" in msg:
                    if msg["event"] == "error":
                        self.last_error = str(msg.get("error"))
                    if self.on_event is not None:
                        self.on_event(msg)
                    else:
                        self.events.put_nowait(msg)
        except (ConnectionError, LineError, asyncio.IncompleteReadError):
            pass
        finally:
            why = f"the supervisor closed the connection: {self.last_error}" if self.last_error else "the supervisor went away"
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(NotRunning(why))
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
        self.writer.write(encode_line({"op": op, "id": rid, **fields}))
        reply = await fut
        if not reply.get("ok"):
            raise RequestFailed(reply.get("error", f"{op} failed"))
        return reply.get("result")

    def notify(self, op: str, **fields: Any) -> None:
        """A notification: sent in order, never answered (a problem comes back as an
        error event)."""
        if "id" in fields or "op" in fields:
            raise ValueError("'id' and 'op' belong to the protocol; name the field something else")
        if not self.closed.is_set():
            self.writer.write(encode_line({"op": op, **fields}))

    def send_keys(self, worker: str, data: bytes) -> None:
        """Keys for a worker's terminal, as the bytes they are."""
        self.notify("input", worker=worker, data_b64=pack_bytes(data))

    async def close(self) -> None:
        self.writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            try:
                await self._reader_task
            except (asyncio.CancelledError, Exception):
                pass


async def launch_supervisor(workspace: Path | str, timeout: float = 15.0) -> dict[str, Any]:
    """Start a detached supervisor for `workspace` (or learn that one runs already)."""
    bb = Blackboard(workspace)
    bb.prepare()  # raises BlackboardError with a clear reason (not writable...)
    info = await daemon.launch(
        daemon.supervisor_program(), ["--workspace", str(bb.workspace)], log_path=bb.log_path, what="the supervisor", timeout=timeout
    )
    if "error" in info:
        raise BlackboardError(str(info["error"]))
    return info


def start_supervisor(workspace: Path | str, timeout: float = 15.0) -> dict[str, Any]:
    """The same, for a caller with no event loop running (a thread, a script)."""
    return asyncio.run(launch_supervisor(workspace, timeout))


async def connect_or_start(workspace: Path | str, client: str = "cli", timeout: float = 15.0) -> tuple[SupervisorClient, bool]:
    """Connect, starting a supervisor first if none runs. Returns (client, started)."""
    try:
        return await SupervisorClient.connect(workspace, client), False
    except NotRunning:
        pass
    info = await launch_supervisor(workspace, timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await SupervisorClient.connect(workspace, client), not info.get("already_running", False)
        except NotRunning:
            # Another supervisor won the lock and may still be binding its socket.
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def _alive(pid: int) -> bool:
    """Is `pid` a running podium supervisor (not a dead one's pid, reused)?"""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"podium.sessions.supervisor" in f.read()
    except OSError:
        return False


async def wait_gone(pid: int, timeout: float = 15.0) -> None:
    """Until process `pid` has exited (a pidfd becomes readable then; no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    gone = loop.create_future()
    loop.add_reader(fd, lambda: gone.done() or gone.set_result(None))
    try:
        await asyncio.wait_for(gone, timeout)
    finally:
        loop.remove_reader(fd)
        os.close(fd)


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
    "launch_supervisor",
    "start_supervisor",
    "socket_is_stale",
    "wait_gone",
]
