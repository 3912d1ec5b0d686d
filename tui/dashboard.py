"""The dashboard: the worker list, the grid of workers (live panes, structured views,
scrollback), the escalation banner and the status bar. It shows what the supervisor link
reports (typed messages, handled here with `@on`), and every key acts on the focused
worker through the link, so no key ever waits on the supervisor."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets.data_table import CellDoesNotExist

from podium.sessions.blackboard import Blackboard
from podium.sessions.states import ACTIVE
from podium.widgets.escalation_banner import EscalationBanner
from podium.widgets.pane_grid import STRUCTURED_MODES, PaneGrid
from podium.widgets.plan_bar import PlanBar
from podium.widgets.scrollback import Scrollback
from podium.widgets.status_bar import StatusBar
from podium.widgets.terminal_pane import TerminalPane
from podium.widgets.worker_list import WorkerList

from .link import Connected, ConnectionChanged, EscalationsChanged, OrchestratorPolicy, PlanChanged, ScreenFrame, SupervisorLink, WorkerChanged
from .screens import PromptScreen
from .worker_commands import WorkerCommandsScreen

PAGE = 9


class DashboardScreen(WorkerCommandsScreen):
    BINDINGS = [
        # Keys that move the focus or start typing are priority bindings: they act in the
        # order they were typed ("4", enter, then text at once), not after the keys behind
        # them have already gone to the widget that had the focus.
        Binding("tab", "focus_pane_offset(1)", "Next", id="podium.next", tooltip="Focus the next pane", show=False, priority=True),
        Binding("shift+tab", "focus_pane_offset(-1)", "Previous", id="podium.previous", tooltip="Focus the previous pane", show=False, priority=True),
        *[Binding(str(n), f"focus_pane({n})", f"Pane {n}", id=f"podium.pane-{n}", tooltip=f"Focus worker {n}", show=False, priority=True) for n in range(1, 10)],
        Binding("enter", "interactive", "Type", id="podium.interactive", tooltip="Interactive mode: every key goes to the worker (ctrl+] leaves)", priority=True),
        Binding("ctrl+c", "interrupt", "Interrupt", id="podium.interrupt", tooltip="Send Ctrl+C to the focused worker (never quits podium)"),
        Binding("y", "answer_focused('approve')", "Approve", id="podium.approve", tooltip="Approve what the focused worker is waiting on"),
        Binding("n", "answer_focused('deny')", "Deny", id="podium.deny", tooltip="Deny what the focused worker is waiting on"),
        Binding("z", "zoom", "Zoom", id="podium.zoom", tooltip="Zoom the focused pane to full screen (again to unzoom)"),
        Binding("n", "new_worker", "New", id="podium.new", tooltip="Start a new worker"),
        Binding("s", "pause", "Pause", id="podium.pause", tooltip="Pause (SIGSTOP) or continue (SIGCONT) the focused worker", show=False),
        Binding("k", "kill", "Kill", id="podium.kill", tooltip="Terminate the focused worker (asks first)", show=False),
        Binding("m", "merge", "Merge", id="podium.merge", tooltip="Merge the focused writer's branch into the main worktree's (checked first, asked first)", show=False),
        Binding("D", "diff", "Diff", id="podium.diff", tooltip="The focused writer's changes against its base: comment, send, merge", show=False),
        Binding("M", "orchestrators", "Orchestrators", id="podium.orchestrators", tooltip="Pause what orchestrating agents (podium mcp) may start, or let them go on", show=False),
        Binding("r", "resume", "Resume", id="podium.resume", tooltip="Continue the agent's conversation with a follow-up prompt"),
        Binding("p", "promote", "Promote", id="podium.promote", tooltip="Promote the worker's last message into the curated result"),
        Binding("v", "view", "View", id="podium.view", tooltip="Structured agent view (messages, commands, files) / raw terminal"),
        Binding("pageup", "scrollback", "Scroll", id="podium.page-up", tooltip="Scroll back through the whole transcript (the mouse wheel too)", show=False),
        Binding("slash", "search", "Search", id="podium.search", tooltip="Search the focused worker's whole transcript"),
        Binding("escape", "live", "Live", id="podium.live", tooltip="Back to the live screen (or unzoom)", show=False),
        Binding("right_square_bracket", "page(1)", "Next page", id="podium.page-next", tooltip="Next page of panes (more than 9 workers)", show=False),
        Binding("left_square_bracket", "page(-1)", "Prev page", id="podium.page-prev", tooltip="Previous page of panes", show=False),
    ]

    def __init__(self, link: SupervisorLink, blackboard: Blackboard, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(link, blackboard)
        self.clock = clock
        self.page = 0
        self.interactive: TerminalPane | None = None
        self._grid_lock = asyncio.Lock()
        self._focusing: str | None = None  # the worker a key just focused ("4", then enter)

    def compose(self) -> ComposeResult:
        yield EscalationBanner(id="banner")
        yield WorkerList(clock=self.clock, id="workers")
        yield PaneGrid(self.bb.worker_dir, id="panes")
        yield PlanBar(clock=self.clock, id="plan-bar")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.link.frames_to = self
        self.set_interval(1.0, self.tick)

    @property
    def grid(self) -> PaneGrid:
        return self.query_one(PaneGrid)

    @property
    def panes(self) -> dict[str, TerminalPane]:
        return self.grid.panes

    # -- which worker ---------------------------------------------------------------------------
    def focused_name(self) -> str | None:
        if self._focusing is not None and self._focusing in self.link.roster:
            return self._focusing  # asked for, not yet given (Textual moves focus a message later)
        name = self.grid.worker_at(self.focused)
        if name is not None:
            return name
        table = self.query_one(WorkerList)
        if table.row_count and self.focused is table:
            try:
                return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
            except CellDoesNotExist:
                return None
        return None

    def focused_worker(self) -> dict[str, Any] | None:
        name = self.focused_name()
        return self.link.roster.get(name) if name else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.interactive is not None:
            return False  # every key belongs to the worker
        worker = self.focused_worker()
        state = worker.get("state") if worker else None
        if action == "interactive" and isinstance(self.focused, WorkerList) and self._focusing is None:
            return False  # enter on the list chooses the row (focuses its pane)
        if action in ("interrupt", "kill", "pause", "interactive"):
            return True if state in ACTIVE and state != "starting" else None
        if action in ("zoom", "scrollback", "search"):
            return True if worker else None
        if action == "answer_focused":
            return bool(worker) and self.link.pending_prompt(worker["name"]) is not None
        if action == "promote":
            return True if worker and state != "starting" else None
        if action == "view":
            return True if worker and worker.get("mode") in STRUCTURED_MODES else None
        if action == "resume":
            return True if worker and worker.get("mode") != "shell" and state not in ACTIVE else None
        if action == "live":
            return True if isinstance(self.focused, Scrollback) or self.grid.zoomed else None
        if action == "page":
            return True if len(self.link.roster) > PAGE else None
        return True

    # -- layout -----------------------------------------------------------------------------------
    def reshape(self, change: Awaitable[Any]) -> None:
        """Every change to the grid (layout, scrollback, views) runs alone, in the order
        asked: two at once raced over the same panes (a worker's pane removed by one while
        the other mounted beside it). A failure is reported, never fatal (app.py)."""

        async def alone() -> None:
            async with self._grid_lock:
                await change

        self.run_worker(alone(), group="grid", exit_on_error=False)

    def visible_names(self) -> list[str]:
        names = list(self.link.roster)
        pages = max(1, math.ceil(len(names) / PAGE))
        self.page = min(self.page, pages - 1)
        return names[self.page * PAGE : self.page * PAGE + PAGE]

    async def relayout(self, focus: str | None = None, fresh: bool = False) -> None:
        """Show the page's workers. `fresh`: (re)connected, every pane starts over."""
        grid = self.grid
        focus = focus or self.focused_name()
        if fresh:
            await grid.show_workers([], {})
        want = self.visible_names()
        before = list(grid.panes)
        gone = await grid.show_workers(want, {n: self.link.roster[n].get("mode", "") for n in want})
        if gone:
            self.link.request("unsubscribe", screens=gone)
        if want != before and want:
            self.link.request("subscribe", screens=want, events=True)
        grid.describe(self.link.roster)
        grid.lay_out(focus if focus in grid.panes else None)
        if grid.panes and grid.worker_at(self.focused) is None and not isinstance(self.focused, WorkerList):
            first = grid.face(next(iter(grid.panes)))
            if first is not None:
                first.focus()
        self.refresh_bindings()

    def focus_worker(self, name: str) -> None:
        names = list(self.link.roster)
        if name not in names:
            return
        page = names.index(name) // PAGE
        if page != self.page or name not in self.panes:
            self.page = page
            self.reshape(self.relayout(focus=name))
        else:
            face = self.grid.face(name)
            if face is not None:
                self.give_focus(face, name)

    def give_focus(self, face: Widget, name: str) -> None:
        """Focus a worker's face; keys that come before Textual has moved the focus act on
        it already (a person types "4" and enter in one breath)."""
        self._focusing = name
        face.focus()

    def on_descendant_focus(self) -> None:
        self._focusing = None
        name = self.focused_name()
        if name is not None:
            self.query_one(WorkerList).select_worker(name)
        self.refresh_bindings()

    # -- moving around -------------------------------------------------------------------------------
    def action_focus_pane_offset(self, step: int) -> None:
        faces = self.grid.faces()
        if not faces:
            return
        current = self.grid.face(self.focused_name() or "")
        index = faces.index(current) if current in faces else -1
        face = faces[(index + step) % len(faces)]
        self.give_focus(face, self.grid.worker_at(face) or "")

    def action_focus_pane(self, number: int) -> None:
        names = list(self.link.roster)
        at = self.page * PAGE + number - 1
        if 1 <= number <= len(names):
            self.focus_worker(names[at] if at < len(names) else names[number - 1])

    def action_page(self, step: int) -> None:
        pages = max(1, math.ceil(len(self.link.roster) / PAGE))
        self.page = (self.page + step) % pages
        self.reshape(self.relayout())

    def action_zoom(self) -> None:
        if self.focused_name() is None:
            return
        self.grid.zoomed = not self.grid.zoomed
        self.set_class(self.grid.zoomed, "-zoomed")
        self.reshape(self.relayout())

    def zoom_worker(self, name: str) -> None:
        """Zoom a named worker's pane (the palette's way: focus may not have moved yet)."""
        if name not in self.link.roster:
            return
        self.page = list(self.link.roster).index(name) // PAGE
        self.grid.zoomed = True
        self.set_class(True, "-zoomed")
        self.reshape(self.relayout(focus=name))

    def action_live(self) -> None:
        if isinstance(self.focused, Scrollback):
            self.reshape(self.close_scrollback(self.focused.worker_name))
        elif self.grid.zoomed:
            self.action_zoom()

    # -- scrollback and search ---------------------------------------------------------------------------
    async def open_scrollback(self, name: str) -> Scrollback:
        scrollback = await self.grid.open_scrollback(name)
        self.grid.lay_out(self._focusing or name)  # a worker a later key chose keeps the focus
        self.refresh_bindings()
        return scrollback

    async def close_scrollback(self, name: str) -> None:
        await self.grid.close_scrollback(name)
        self.grid.lay_out(self._focusing or name)  # a worker a later key chose keeps the focus
        self.refresh_bindings()

    def action_scrollback(self) -> None:
        name = self.focused_name()
        if name is not None and not isinstance(self.focused, Scrollback):
            self.reshape(self.open_scrollback(name))

    def scroll_worker(self, name: str) -> None:
        self.focus_worker(name)
        self.reshape(self.open_scrollback(name))

    @on(TerminalPane.ScrollbackWanted)
    def on_wheel(self, event: TerminalPane.ScrollbackWanted) -> None:
        if self.interactive is None:
            self.reshape(self.open_scrollback(event.pane.worker_name))

    @on(Scrollback.Closed)
    def on_scrollback_closed(self, event: Scrollback.Closed) -> None:
        self.reshape(self.close_scrollback(event.scrollback.worker_name))

    def action_search(self) -> None:
        name = self.focused_name()
        if name is None:
            return
        previous = self.grid.scrollbacks.get(name)

        def submitted(pattern: str | None) -> None:
            if pattern:
                self.reshape(self._search(name, pattern))

        self.app.push_screen(PromptScreen(f"Search {name}'s transcript (newest first; smart case):", previous.pattern if previous else ""), submitted)

    async def _search(self, name: str, pattern: str) -> None:
        (await self.open_scrollback(name)).find(pattern)

    # -- the focused worker -------------------------------------------------------------------------------
    def action_interactive(self) -> None:
        """Every key to the worker from the next one on (a scrollback or a structured view
        in the way gives place to the live terminal at once, not after a round trip)."""
        name = self.focused_name()
        if name is None or name not in self.panes:
            return
        pane = self.grid.show_live(name)
        pane.focus()
        self.interactive = pane
        pane.set_interactive(True)
        self.query_one(StatusBar).mode = f"INTERACTIVE {name} · ctrl+] leaves"
        self.refresh_bindings()
        self.app.refresh_bindings()

    def on_key(self, event: events.Key) -> None:
        """A key that reached another widget before interactive mode began (while the
        focus was on its way to the pane) is the worker's too."""
        if self.interactive is not None:
            self.interactive.type_key(event)

    def leave_interactive(self) -> None:
        if self.interactive is not None:
            self.interactive.set_interactive(False)
        self.interactive = None
        self.query_one(StatusBar).mode = ""
        self.refresh_bindings()
        self.app.refresh_bindings()

    @on(TerminalPane.LeaveInteractive)
    def on_leave(self) -> None:
        self.leave_interactive()

    @on(TerminalPane.Typed)
    def on_typed(self, event: TerminalPane.Typed) -> None:
        self.link.send_keys(event.pane.worker_name, event.data)

    @on(TerminalPane.SizeChanged)
    def on_pane_size(self, event: TerminalPane.SizeChanged) -> None:
        w = self.link.roster.get(event.pane.worker_name, {})
        if w.get("state") in ACTIVE:
            self.link.notify("resize", worker=event.pane.worker_name, cols=event.cols, rows=event.rows)

    @on(WorkerList.Chosen)
    def on_chosen(self, event: WorkerList.Chosen) -> None:
        self.focus_worker(event.name)

    def action_view(self) -> None:
        name = self.focused_name()
        if name is not None:
            self.reshape(self._toggle_view(name))

    async def _toggle_view(self, name: str) -> None:
        await self.grid.close_scrollback(name)
        if await self.grid.toggle_view(name):
            self.grid.views[name].number = self.panes[name].number
            self.grid.views[name].set_summary(self.link.roster.get(name, {}))
        self.grid.lay_out(self._focusing or name)  # a worker a later key chose keeps the focus
        self.refresh_bindings()

    # -- what the supervisor link reports -------------------------------------------------------------------
    @on(Connected)
    def on_connected(self) -> None:
        table = self.query_one(WorkerList)
        for w in self.link.roster.values():
            table.upsert(w)
        self.query_one(StatusBar).set_counts(self.link.roster)
        self.link.request("mcp_policy", on_done=self.query_one(StatusBar).set_orchestrators)
        self.show_escalations()
        self.reshape(self.relayout(fresh=True))

    @on(ConnectionChanged)
    def on_connection(self, event: ConnectionChanged) -> None:
        self.query_one(StatusBar).connection = event.text

    @on(ScreenFrame)
    def on_frame(self, event: ScreenFrame) -> None:
        event.drawn = True
        pane = self.panes.get(event.worker)
        if pane is not None:
            pane.apply_screen(event.frame)

    @on(WorkerChanged)
    def on_worker(self, event: WorkerChanged) -> None:
        w = event.worker
        self.query_one(WorkerList).upsert(w)
        self.query_one(StatusBar).set_counts(self.link.roster)
        pane = self.panes.get(w["name"])
        if pane is not None:
            pane.set_status(w.get("state", ""), w.get("reason", ""), w.get("kind", ""))
        view = self.grid.views.get(w["name"])
        if view is not None and view.is_mounted:
            view.refresh_events()
            view.set_summary(w)
        if event.new:
            self.reshape(self.relayout())
        if self.interactive is not None and self.interactive is pane and w.get("state") not in ACTIVE:
            self.leave_interactive()
        self.refresh_bindings()

    @on(EscalationsChanged)
    def show_escalations(self) -> None:
        pending = [e for e in self.link.escalations.values() if e["state"] == "pending"]
        self.query_one(EscalationBanner).show_pending(pending)
        status = self.query_one(StatusBar)
        status.escalations = sum(1 for e in pending if e["tier"] == "gate")
        status.refresh_text()
        self.refresh_bindings()

    @on(OrchestratorPolicy)
    def on_orchestrators(self, event: OrchestratorPolicy) -> None:
        self.query_one(StatusBar).set_orchestrators(event.policy)

    @on(PlanChanged)
    def on_plan(self, event: PlanChanged) -> None:
        self.query_one(PlanBar).show(event.plan)
        self.query_one(WorkerList).set_plan(event.plan)
        self.query_one(StatusBar).set_budget((event.plan.get("budgets") or {}).get("workspace"))

    def tick(self) -> None:
        """Ages move on their own: the list's time columns and the plan line, once a second."""
        self.query_one(WorkerList).tick()
        self.query_one(PlanBar).refresh_text()
