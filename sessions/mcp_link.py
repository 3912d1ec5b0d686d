"""`podium mcp`'s line to the supervisor: connect as the `mcp` client (starting a supervisor
if none runs, and again after one died), send each request with a deadline, mirror the
workers from the events the supervisor pushes (so waiting for a state needs no polling),
and turn every way a request can fail into one `ToolFailure` sentence for the agent.

It owns no state the supervisor does not have: its death loses nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from .blackboard import BlackboardError
from .client import NotRunning, RequestFailed, SupervisorClient, connect_or_start
from .orchestrators import MCP_KIND

REQUEST_TIMEOUT = 30.0  # seconds a quick request may take before the call fails
CONNECT_TIMEOUT = 20.0
RETRY_AFTER = 5.0  # a failed connect is the answer for this long: calls do not each wait for it again


class ToolFailure(ToolError):
    """A tool call that cannot be done; the message goes to the agent as the tool's error
    (the SDK answers a ToolError as a result with `isError`, its text as is)."""


class SupervisorLine:
    def __init__(self, workspace: Path, caller: Callable[[], str | None] = lambda: None):
        self.workspace = workspace
        self.caller = caller  # the MCP client's name, once it has said it
        self.workers: dict[str, dict[str, Any]] = {}  # name -> the latest worker info pushed
        self.escalations: dict[str, dict[str, Any]] = {}  # id -> the latest escalation pushed
        self._client: SupervisorClient | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()  # replaced on every change: a waiter holds the one it saw
        self._watcher: asyncio.Task[None] | None = None
        self._failed: tuple[float, str] | None = None  # (when, why) the last connect failed

    # -- the connection ---------------------------------------------------------------------------
    async def client(self) -> SupervisorClient:
        async with self._lock:
            if self._client is not None and not self._client.closed.is_set():
                return self._client
            if self._failed is not None and time.monotonic() - self._failed[0] < RETRY_AFTER:
                raise ToolFailure(f"{self._failed[1]} (podium tries again {RETRY_AFTER:.0f} s after a failed connect)")
            client = None
            try:
                client, _ = await asyncio.wait_for(connect_or_start(self.workspace, client=MCP_KIND), CONNECT_TIMEOUT)
                self.workers = {}  # filled from events and the listing: never stale from a connection before
                client.on_event = self._event  # before subscribing: no event can fall between
                listing = await asyncio.wait_for(client.request("subscribe", events=True), REQUEST_TIMEOUT)
            except (NotRunning, RequestFailed, BlackboardError, asyncio.TimeoutError, OSError) as exc:
                if client is not None:
                    await client.close()
                self._failed = (time.monotonic(), self._why(exc))
                raise ToolFailure(self._failed[1]) from None
            self._failed = None
            for w in listing["workers"]:
                self.workers.setdefault(w["name"], w)  # an event pushed while the listing came is newer
            self._client = client
            self._watcher = asyncio.get_running_loop().create_task(self._watch_close(client))
            self._changed()
            return client

    def _why(self, exc: BaseException) -> str:
        if isinstance(exc, asyncio.TimeoutError):
            return f"the supervisor for {self.workspace} did not answer within {CONNECT_TIMEOUT:.0f} s"
        if isinstance(exc, OSError):
            return f"cannot start a supervisor for {self.workspace}: {exc}"
        return f"cannot reach the supervisor for {self.workspace}: {exc}"

    async def _watch_close(self, client: SupervisorClient) -> None:
        await client.closed.wait()
        self._changed()  # a waiter learns at once that nothing more will come

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    @property
    def connected(self) -> bool:
        return self._client is not None and not self._client.closed.is_set()

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "worker":
            info = event["worker"]
            self.workers[info["name"]] = info
        elif kind == "escalation":
            esc = event["escalation"]
            self.escalations[esc["id"]] = esc
        else:
            return
        self._changed()

    def _changed(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    # -- requests -----------------------------------------------------------------------------------
    async def request(self, op: str, deadline: float = REQUEST_TIMEOUT, **fields: Any) -> Any:
        """`op` with `fields`, answered within `deadline` seconds or a ToolFailure."""
        client = await self.client()
        try:
            return await asyncio.wait_for(client.request(op, **fields), deadline)
        except RequestFailed as exc:
            raise ToolFailure(str(exc)) from None
        except NotRunning as exc:
            raise ToolFailure(f"the supervisor went away during {op} ({exc}); the next call finds or starts one again") from None
        except asyncio.TimeoutError:
            raise ToolFailure(f"the supervisor did not answer {op} within {deadline:.0f} s") from None

    async def note(self, tool: str, args: dict[str, Any]) -> None:
        """The call, into the journal (a notification: in order, before the call acts).
        `args` is the journal's record already (short). While a failed connect is recent,
        nothing is tried: the call itself says why."""
        if not self.connected and self._failed is not None and time.monotonic() - self._failed[0] < RETRY_AFTER:
            return
        client = await self.client()
        client.notify("mcp_call", tool=tool, caller=self.caller(), args=args)

    async def wait_until(self, ready: Callable[[], Any], timeout: float) -> Any:
        """Until `ready()` (looked at after every pushed change) is truthy, or `timeout`
        seconds: its last value. No polling: each look follows an event."""
        deadline = time.monotonic() + timeout
        while True:
            wake = self._wake
            value = ready()
            if value:
                return value
            if not self.connected:
                raise ToolFailure("the supervisor went away while waiting; the next call finds or starts one again")
            left = deadline - time.monotonic()
            if left <= 0:
                return value
            try:
                await asyncio.wait_for(wake.wait(), left)
            except asyncio.TimeoutError:
                pass
