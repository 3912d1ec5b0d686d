"""The dashboard's link to the supervisor: it connects (starting a supervisor if asked),
reconnects while the app runs, keeps the mirror of workers and escalations the screens
read, sends requests so that no key ever waits on an answer, and turns every supervisor
event into a typed Textual message posted to the app and its screens, which handle the
ones they show with `@on`.

Screen frames go to the screen that draws panes. A frame not yet drawn when a newer one
for the same worker arrives is folded into the newer one, and the older is dropped
(`can_replace`): a busy worker never queues frames the dashboard is too slow for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.message import Message
from textual.message_pump import MessagePump

from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient, connect_or_start

RETRY = 1.0  # seconds between attempts while no supervisor answers


class LinkMessage(Message, bubble=False):
    """Every message from the link: handled where it is posted, never bubbled (it is
    posted to the app and to each screen already)."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        kwargs.setdefault("bubble", False)  # Textual sets a subclass's bubble to True otherwise
        super().__init_subclass__(**kwargs)  # type: ignore[arg-type]


class Connected(LinkMessage):
    """(Re)connected: the roster and the escalations are fresh."""


class ConnectionChanged(LinkMessage):
    def __init__(self, ok: bool, text: str):
        super().__init__()
        self.ok = ok
        self.text = text


class ConnectFailed(LinkMessage):
    """The first connection failed and no supervisor is to be started."""

    def __init__(self, error: str):
        super().__init__()
        self.error = error


class WorkerChanged(LinkMessage):
    def __init__(self, worker: dict[str, Any], new: bool):
        super().__init__()
        self.worker = worker
        self.new = new


class ScreenFrame(LinkMessage):
    def __init__(self, worker: str, frame: dict[str, Any], folded: ScreenFrame | None = None):
        super().__init__()
        self.worker = worker
        self.frame = frame
        self.folded = folded  # the older frame this one carries the rows of
        self.drawn = False

    def can_replace(self, message: Message) -> bool:
        # Called on this (older) frame with the next one in the queue: drop this one when
        # the newer carries its rows.
        return isinstance(message, ScreenFrame) and message.folded is self


class EscalationsChanged(LinkMessage):
    def __init__(self, escalation: dict[str, Any] | None, new: bool):
        super().__init__()
        self.escalation = escalation
        self.new = new


class ResultChanged(LinkMessage):
    def __init__(self, version: str, by: str, what: str):
        super().__init__()
        self.version = version
        self.by = by
        self.what = what


class SignalSent(LinkMessage):
    def __init__(self, worker: str, signal: str, by: str):
        super().__init__()
        self.worker = worker
        self.signal = signal
        self.by = by


class PlanChanged(LinkMessage):
    """The plan's snapshot (tasks, states, next actions) after any change."""

    def __init__(self, plan: dict[str, Any]):
        super().__init__()
        self.plan = plan


class OrchestratorPolicy(LinkMessage):
    """What orchestrating agents (podium mcp) may do now: paused, cap, remaining."""

    def __init__(self, policy: dict[str, Any]):
        super().__init__()
        self.policy = policy


class PlanComplete(LinkMessage):
    """Every task of the plan ended (`state` complete), or ended after a stop (stopped)."""

    def __init__(self, title: str, state: str, summary: str, ok: bool):
        super().__init__()
        self.title = title
        self.state = state
        self.summary = summary
        self.ok = ok


class HeartbeatWritten(LinkMessage):
    def __init__(self, at: str, text: str):
        super().__init__()
        self.at = at
        self.text = text


class SupervisorGone(LinkMessage):
    """The supervisor stopped (from elsewhere): nothing to reconnect to."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


class SupervisorError(LinkMessage):
    def __init__(self, error: str):
        super().__init__()
        self.error = error


def fold(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    """A frame with the rows of both (the newer wins where both have a row)."""
    if newer.get("full") or (older["cols"], older["rows"]) != (newer["cols"], newer["rows"]):
        return newer
    return {**newer, "full": older.get("full", False), "lines": {**older["lines"], **newer["lines"]}}


class SupervisorLink:
    def __init__(self, app: App[Any], workspace: Path, autostart: bool, client_kind: str = "tui"):
        self.app = app
        self.workspace = workspace
        self.autostart = autostart
        self.client_kind = client_kind
        self.client: SupervisorClient | None = None
        self.roster: dict[str, dict[str, Any]] = {}
        self.escalations: dict[str, dict[str, Any]] = {}
        self.plan: dict[str, Any] = {"state": "none", "tasks": []}
        self.connected = asyncio.Event()
        self.leaving = False
        self.frames_to: MessagePump | None = None  # the screen that draws panes
        self._unfolded: dict[str, ScreenFrame] = {}

    # -- posting -------------------------------------------------------------------------
    def _post(self, make: Callable[[], Message]) -> None:
        for target in (self.app, *self.app.screen_stack):
            target.post_message(make())

    def _frame(self, worker: str, frame: dict[str, Any]) -> None:
        target = self.frames_to
        if target is None:
            return
        older = self._unfolded.get(worker)
        if older is not None and not older.drawn:
            frame = fold(older.frame, frame)
        else:
            older = None
        message = ScreenFrame(worker, frame, folded=older)
        self._unfolded[worker] = message
        target.post_message(message)

    # -- the connection -------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, and connect again whenever the connection is lost, until leaving."""
        first = True
        while not self.leaving:
            try:
                if self.autostart:
                    client, _ = await connect_or_start(self.workspace, client=self.client_kind)
                else:
                    client = await SupervisorClient.connect(self.workspace, client=self.client_kind)
            except (NotRunning, RequestFailed, OSError) as exc:
                why = str(exc)  # (named here: the lambdas below are called at once, but read clearer so)
                if first and not self.autostart:
                    self._post(lambda: ConnectFailed(f"podium: {why}"))
                    return
                self._post(lambda: ConnectionChanged(False, f"no supervisor: {why}; retrying"))
                await asyncio.sleep(RETRY)
                continue
            first = False
            await self._serve(client)
            if self.leaving:
                return
            self._post(lambda: ConnectionChanged(False, "supervisor lost; reconnecting"))

    async def _serve(self, client: SupervisorClient) -> None:
        self.client = client
        client.on_event = self.on_event
        try:
            result = await client.request("subscribe", screens=[], events=True)
            self.roster = {w["name"]: w for w in result["workers"]}
            self.escalations = {e["id"]: e for e in await client.request("decisions")}
            self.plan = await client.request("plan_show")
        except (RequestFailed, NotRunning) as exc:
            why = str(exc)
            self._post(lambda: SupervisorError(f"could not read the supervisor's state: {why}"))
        self._unfolded.clear()
        self._post(lambda: ConnectionChanged(True, f"supervisor · {self.workspace.name}"))
        self._post(Connected)
        self._post(lambda: PlanChanged(self.plan))
        self.connected.set()
        await client.closed.wait()
        self.connected.clear()
        self.client = None

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "screen":
            self._frame(event["worker"], event)
        elif kind == "worker":
            w = event["worker"]
            new = w["name"] not in self.roster
            self.roster[w["name"]] = w
            self._post(lambda: WorkerChanged(w, new))
        elif kind == "escalation":
            esc = event["escalation"]
            new = esc["id"] not in self.escalations
            self.escalations[esc["id"]] = esc
            self._post(lambda: EscalationsChanged(esc, new))
        elif kind == "result":
            self._post(lambda: ResultChanged(event["version"], event["by"], event["what"]))
        elif kind == "plan":
            self.plan = event["plan"]
            self._post(lambda: PlanChanged(self.plan))
        elif kind == "orchestrator":
            self._post(lambda: OrchestratorPolicy(event["policy"]))
        elif kind == "plan_complete":
            self._post(lambda: PlanComplete(event["title"], event.get("state", "complete"), event["summary"], event["ok"]))
        elif kind == "heartbeat":
            self._post(lambda: HeartbeatWritten(event["at"], event["text"]))
        elif kind == "signal":
            self._post(lambda: SignalSent(event["worker"], event["signal"], event["by"]))
        elif kind == "error":
            self._post(lambda: SupervisorError(str(event.get("error"))))
        elif kind == "bye" and not self.leaving:
            self.leaving = True
            self._post(lambda: SupervisorGone(str(event.get("reason", "the supervisor stopped"))))

    # -- what the screens ask for -------------------------------------------------------------
    def pending_prompt(self, worker: str) -> dict[str, Any] | None:
        """The screen prompt `worker` is stopped at, if any."""
        for e in self.escalations.values():
            if e["worker"] == worker and e["source"] == "screen" and e["state"] == "pending":
                return e
        return None

    async def ask(self, op: str, **fields: Any) -> Any:
        """A request whose answer the caller needs (raises NotRunning / RequestFailed)."""
        client = self.client
        if client is None:
            raise NotRunning("not connected to the supervisor")
        return await client.request(op, **fields)

    def request(self, op: str, on_done: Callable[[Any], None] | None = None, **fields: Any) -> None:
        """Send a request from a task of its own (no key waits); a refusal is a toast."""

        async def send() -> None:
            try:
                result = await self.ask(op, **fields)
            except (RequestFailed, NotRunning) as exc:
                self.app.notify(str(exc), severity="error", timeout=5)
                return
            if on_done is not None:
                on_done(result)

        self.app.run_worker(send(), group="requests", exit_on_error=False)

    def notify(self, op: str, **fields: Any) -> None:
        """A notification (resize): sent in order, never answered."""
        if self.client is not None:
            self.client.notify(op, **fields)

    def send_keys(self, worker: str, data: bytes) -> None:
        if self.client is not None:
            self.client.send_keys(worker, data)

    async def close(self) -> None:
        self.leaving = True
        if self.client is not None:
            await self.client.close()
