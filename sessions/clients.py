"""The attached clients: their connections, what each is subscribed to, and the
supervisor's side of the hello. Requests go to the request table; notifications are
handled at once, in the order they arrived; events go out through each client's own
sender task.

A slow or stuck client never slows the supervisor or a worker: its screens merge into
"dirty" sets while it is behind and it gets the current rows when it catches up, its
events queue, and a client that reads nothing for `QUEUE_LIMIT` messages is dropped.
Screens go out before queued events, so "worker ended" never overtakes its last screen.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from .protocol import PROTOCOL_VERSION, LineError, encode_line, pack_bytes, read_line, same_user
from .requests import RequestTable

QUEUE_LIMIT = 10_000
HELLO_TIMEOUT = 10.0

FrameSource = Callable[[str, "set[int] | None"], "dict[str, Any] | None"]


class ClientConn:
    def __init__(self, writer: asyncio.StreamWriter, frames: FrameSource, on_close: Callable[[ClientConn], None]):
        self.writer = writer
        self.frames = frames
        self.on_close = on_close
        self.kind = "unknown"
        self.events = False  # hears worker, escalation, result... events
        self.screens: set[str] = set()  # workers whose screen frames it gets
        self.follows: set[str] = set()  # workers whose output it gets (logs -f)
        self.queue: deque[bytes] = deque()
        self.dirty: dict[str, set[int] | None] = {}  # None: send the whole screen
        self.wake = asyncio.Event()
        self.closed = False
        self.finishing = False  # close once what is queued is written
        self.sender_task: asyncio.Task[None] | None = None

    def send(self, obj: dict[str, Any]) -> None:
        if self.closed:
            return
        self.queue.append(encode_line(obj))
        if len(self.queue) > QUEUE_LIMIT:
            self.close()
            return
        self.wake.set()

    def mark_dirty(self, name: str, rows: set[int] | None) -> None:
        if name in self.dirty:
            known = self.dirty[name]
            self.dirty[name] = None if known is None or rows is None else known | rows
        else:
            self.dirty[name] = None if rows is None else set(rows)
        self.wake.set()

    async def sender(self) -> None:
        try:
            while not self.closed:
                await self.wake.wait()
                self.wake.clear()
                for name in list(self.dirty):
                    rows = self.dirty.pop(name)
                    if name not in self.screens:
                        continue
                    frame = self.frames(name, rows)
                    if frame is not None:
                        self.writer.write(encode_line({"event": "screen", "worker": name, **frame}))
                while self.queue:
                    self.writer.write(self.queue.popleft())
                await self.writer.drain()
                if self.finishing:
                    self.close()
        except (ConnectionError, RuntimeError):
            self.close()

    def finish(self, last: dict[str, Any]) -> None:
        """Send `last`, then close (after what was queued before it)."""
        self.send(last)
        self.finishing = True
        self.wake.set()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.wake.set()
        self.writer.close()
        self.on_close(self)


class ClientHub:
    """Every attached client, and what goes out to which of them."""

    def __init__(self, table: RequestTable, hello_info: Callable[[], dict[str, Any]], frames: FrameSource):
        self.table = table
        self.hello_info = hello_info
        self.frames = frames
        self.clients: set[ClientConn] = set()

    # -- what goes out ------------------------------------------------------------------
    def broadcast(self, event: dict[str, Any]) -> None:
        for client in list(self.clients):
            if client.events:
                client.send(event)

    def watching(self, name: str) -> bool:
        return any(name in c.screens for c in self.clients)

    def screen_changed(self, name: str, rows: set[int] | None) -> None:
        """Rows of `name`'s screen changed (None: all of it) for those who watch it."""
        for client in list(self.clients):
            if name in client.screens:
                client.mark_dirty(name, rows)

    def following(self, name: str) -> bool:
        return any(name in c.follows for c in self.clients)

    def output(self, name: str, data: bytes) -> None:
        event = None
        for client in list(self.clients):
            if name in client.follows:
                event = event or {"event": "output", "worker": name, "data_b64": pack_bytes(data)}
                client.send(event)

    def forget(self, client: ClientConn) -> None:
        self.clients.discard(client)

    async def close_all(self, reason: str, timeout: float = 1.0) -> None:
        """Say bye to every client (after what is queued for it), then close."""
        senders = []
        for client in list(self.clients):
            client.finish({"event": "bye", "reason": reason})
            if client.sender_task is not None:
                senders.append(client.sender_task)
        if senders:
            await asyncio.wait(senders, timeout=timeout)
        for client in list(self.clients):
            client.close()

    # -- a connection ---------------------------------------------------------------------
    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not same_user(writer):
            writer.write(encode_line({"ok": False, "error": "permission denied: not the supervisor's user"}))
            writer.close()
            return
        try:
            hello = await asyncio.wait_for(read_line(reader), HELLO_TIMEOUT)
        except (asyncio.TimeoutError, LineError, ConnectionError) as exc:
            await _refuse(writer, {"event": "error", "error": f"no hello: {exc or 'timeout'}"})
            return
        if not hello or hello.get("op") != "hello":
            await _refuse(writer, {"ok": False, "error": "expected a hello"})
            return
        if hello.get("version") != PROTOCOL_VERSION:
            info = self.hello_info()
            error = (
                f"protocol mismatch: client speaks {hello.get('version')}, supervisor {PROTOCOL_VERSION} "
                f"(podium {info.get('podium')}); restart the supervisor with `podium stop` after upgrading"
            )
            await _refuse(writer, {"id": hello.get("id"), "ok": False, "error": error})
            return
        client = ClientConn(writer, self.frames, self.forget)
        client.kind = str(hello.get("client", "unknown"))
        self.clients.add(client)
        loop = asyncio.get_running_loop()
        sender = client.sender_task = loop.create_task(client.sender())
        client.send({"id": hello.get("id"), "ok": True, "result": self.hello_info()})
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not client.closed:
                try:
                    req = await read_line(reader)
                except LineError as exc:
                    # One line saying why, then the connection closes: a client that
                    # sends garbage learns it instead of waiting for an answer.
                    client.finish({"event": "error", "error": f"bad request: {exc}; closing the connection"})
                    break
                if req is None:
                    break
                if "id" not in req:
                    self.table.notify(client, req)
                    continue
                task = loop.create_task(self.table.handle(client, req))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except ConnectionError:
            pass
        finally:
            if client.finishing:
                await asyncio.wait([sender], timeout=5)
            client.close()
            sender.cancel()


async def _refuse(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
    try:
        writer.write(encode_line(reply))
        await asyncio.wait_for(writer.drain(), 2)
    except (ConnectionError, asyncio.TimeoutError):
        pass
    writer.close()
