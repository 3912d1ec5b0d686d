"""PodiumApp: the dashboard. A client of the supervisor that renders what it is sent and
holds no state of its own (closing it loses nothing). Every request to the supervisor is
fired from a task, so no key ever waits on the supervisor."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Container
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer

from podium.sessions.blackboard import Blackboard
from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient, connect_or_start
from podium.sessions.launch import build_command
from podium.sessions.states import ACTIVE
from podium.themes import THEMES, resolve_theme
from podium.widgets.agent_view import AgentView
from podium.widgets.escalation_banner import EscalationBanner
from podium.widgets.status_bar import StatusBar
from podium.widgets.terminal_pane import TerminalPane
from podium.widgets.worker_list import WorkerList

from podium.sessions.config import Config, load_config
from .screens import ConfirmScreen, HelpScreen, NewWorkerScreen, PromptScreen, QuitScreen

PAGE = 9


class WorkerCommands(Provider):
    """Per-worker commands for the palette: focus, zoom, interrupt, pause, kill, scroll back."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, PodiumApp)
        matcher = self.matcher(query)
        screen = app.dashboard
        for name, w in app.roster.items():
            options: list[tuple[str, Callable[[], Any], str]] = [
                (f"Focus {name}", lambda n=name: screen.focus_worker(n), "show this worker's pane"),
                (f"Zoom {name}", lambda n=name: screen.zoom_worker(n), "full-screen pane"),
                (f"Scroll back {name}", lambda n=name: screen.scroll_worker(n), "its whole transcript"),
            ]
            if w.get("state") in ACTIVE and w.get("state") != "starting":
                options += [
                    (f"Interrupt {name}", lambda n=name: app.request("interrupt", worker=n), "Ctrl+C to the worker"),
                    (f"Pause/continue {name}", lambda n=name: screen.toggle_pause(n), "SIGSTOP / SIGCONT"),
                    (f"Kill {name}", lambda n=name: screen.confirm_kill(n), "SIGTERM, then SIGKILL"),
                ]
            for text, callback, help_text in options:
                score = matcher.match(text)
                if score > 0:
                    yield Hit(score, matcher.highlight(text), callback, help=help_text)
        for text, callback, help_text in (
            ("New worker", screen.action_new_worker, "start a shell, codex or claude worker"),
            ("Detach", app.action_detach, "leave; every worker keeps running"),
            ("Help: keys", app.action_help, "every binding"),
        ):
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)


class DashboardScreen(Screen[None]):
    BINDINGS = [
        Binding("tab", "focus_pane_offset(1)", "Next", id="podium.next", tooltip="Focus the next pane", show=False),
        Binding("shift+tab", "focus_pane_offset(-1)", "Previous", id="podium.previous", tooltip="Focus the previous pane", show=False),
        *[Binding(str(n), f"focus_pane({n})", f"Pane {n}", id=f"podium.pane-{n}", tooltip=f"Focus worker {n}", show=False) for n in range(1, 10)],
        Binding("enter", "interactive", "Type", id="podium.interactive", tooltip="Interactive mode: every key goes to the worker (ctrl+] leaves)"),
        Binding("ctrl+c", "interrupt", "Interrupt", id="podium.interrupt", tooltip="Send Ctrl+C to the focused worker (never quits podium)"),
        Binding("y", "answer_focused('approve')", "Approve", id="podium.approve", tooltip="Approve what the focused worker is waiting on"),
        Binding("n", "answer_focused('deny')", "Deny", id="podium.deny", tooltip="Deny what the focused worker is waiting on"),
        Binding("z", "zoom", "Zoom", id="podium.zoom", tooltip="Zoom the focused pane to full screen (again to unzoom)"),
        Binding("n", "new_worker", "New", id="podium.new", tooltip="Start a new worker"),
        Binding("s", "pause", "Pause", id="podium.pause", tooltip="Pause (SIGSTOP) or continue (SIGCONT) the focused worker", show=False),
        Binding("k", "kill", "Kill", id="podium.kill", tooltip="Terminate the focused worker (asks first)", show=False),
        Binding("r", "resume", "Resume", id="podium.resume", tooltip="Continue the agent's conversation with a follow-up prompt"),
        Binding("p", "promote", "Promote", id="podium.promote", tooltip="Promote the worker's last message into the curated result"),
        Binding("v", "view", "View", id="podium.view", tooltip="Raw terminal / structured agent view (messages, commands, files)"),
        Binding("pageup", "scroll(-1)", "Scroll", id="podium.page-up", tooltip="Scroll back through the whole transcript", show=False),
        Binding("pagedown", "scroll(1)", "Down", id="podium.page-down", tooltip="Scroll forward (past the end: live)", show=False),
        Binding("slash", "search", "Search", id="podium.search", tooltip="Search the focused worker's whole transcript"),
        Binding("escape", "live", "Live", id="podium.live", tooltip="Back to the live screen (or unzoom)", show=False),
        Binding("right_square_bracket", "page(1)", "Next page", id="podium.page-next", tooltip="Next page of panes (more than 9 workers)", show=False),
        Binding("left_square_bracket", "page(-1)", "Prev page", id="podium.page-prev", tooltip="Previous page of panes", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.panes: dict[str, TerminalPane] = {}
        self.page = 0
        self.zoomed = False
        self.interactive: TerminalPane | None = None
        self.views: dict[str, AgentView] = {}  # workers shown as structured views

    @property
    def podium(self) -> PodiumApp:
        app = self.app
        assert isinstance(app, PodiumApp)
        return app

    def compose(self) -> ComposeResult:
        yield EscalationBanner(id="banner")
        yield WorkerList(clock=self.podium.clock, id="workers")
        yield Container(id="panes")
        yield StatusBar(id="status")
        yield Footer()

    # -- which pane ---------------------------------------------------------------------
    def focused_pane(self) -> TerminalPane | None:
        focused = self.focused
        if isinstance(focused, TerminalPane):
            return focused
        if isinstance(focused, AgentView):
            return self.panes.get(focused.worker_name)
        table = self.query_one(WorkerList)
        if table.row_count and focused is table:
            try:
                name = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
            except Exception:
                return None
            return self.panes.get(name)
        return None

    def focused_worker(self) -> dict[str, Any] | None:
        pane = self.focused_pane()
        return self.podium.roster.get(pane.worker_name) if pane else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.interactive is not None:
            return False  # every key belongs to the worker
        worker = self.focused_worker()
        state = worker.get("state") if worker else None
        if action in ("interrupt", "kill", "pause", "interactive"):
            return True if state in ACTIVE and state != "starting" else None
        if action in ("zoom", "scroll", "search"):
            return True if worker else None
        if action == "answer_focused":
            return bool(worker) and self.podium.pending_screen_escalation(worker["name"]) is not None
        if action == "promote":
            return True if worker and worker.get("state") not in ("starting",) else None
        if action == "view":
            return True if worker and worker.get("mode") in ("codex-exec", "claude-p") else None
        if action == "resume":
            return True if worker and worker.get("mode") != "shell" and state not in ACTIVE else None
        if action == "live":
            pane = self.focused_pane()
            return True if (pane and pane.scrollback is not None) or self.zoomed else None
        if action == "page":
            pages = max(1, math.ceil(len(self.podium.roster) / PAGE))
            return True if pages > 1 else None
        return True

    # -- layout ---------------------------------------------------------------------------
    def visible_names(self) -> list[str]:
        names = list(self.podium.roster)
        pages = max(1, math.ceil(len(names) / PAGE))
        self.page = min(self.page, pages - 1)
        return names[self.page * PAGE : self.page * PAGE + PAGE]

    async def relayout(self, focus: str | None = None) -> None:
        want = self.visible_names()
        container = self.query_one("#panes", Container)
        focused = self.focused_pane()
        focus_name = focus or (focused.worker_name if focused else None)
        if list(self.panes) != want:
            gone = [n for n in self.panes if n not in want]
            for name in gone:
                await self.panes.pop(name).remove()
            names = list(self.podium.roster)
            fresh = []
            for name in want:
                if name not in self.panes:
                    pane = TerminalPane(name, self.podium.bb.worker_dir(name), names.index(name) + 1)
                    self.panes[name] = pane
                    fresh.append(pane)
            # Keep the grid in worker order.
            self.panes = {n: self.panes[n] for n in want}
            if fresh:
                await container.remove_children()
                self.views = {n: AgentView(n, self.podium.bb.worker_dir(n) / "events.jsonl") for n in self.views if n in self.panes}
                widgets: list[Any] = []
                for n, pane in self.panes.items():
                    widgets.append(pane)
                    if n in self.views:
                        widgets.append(self.views[n])
                await container.mount_all(widgets)
            if gone:
                self.podium.request("unsubscribe", screens=gone)
            if want:
                self.podium.request("subscribe", screens=want, events=True)
        for name, pane in self.panes.items():
            w = self.podium.roster.get(name, {})
            pane.number = list(self.podium.roster).index(name) + 1
            pane.set_status(w.get("state", ""), w.get("reason", ""), w.get("kind", ""))
        n = len(self.panes)
        cols = max(1, math.ceil(math.sqrt(n)))
        rows = max(1, math.ceil(n / cols))
        if self.zoomed:
            cols = rows = 1
        container.styles.grid_size_columns = cols
        container.styles.grid_size_rows = rows
        for name, pane in self.panes.items():
            shown = not self.zoomed or name == focus_name
            pane.display = shown and name not in self.views
            if name in self.views:
                self.views[name].display = shown
        if focus_name in self.views:
            if self.focused is not self.views[focus_name]:
                self.views[focus_name].focus()
        elif focus_name in self.panes and self.focused is not self.panes[focus_name]:
            self.panes[focus_name].focus()
        elif self.panes and not isinstance(self.focused, (TerminalPane, WorkerList)):
            next(iter(self.panes.values())).focus()
        self.refresh_bindings()

    def focus_worker(self, name: str) -> None:
        names = list(self.podium.roster)
        if name not in names:
            return
        page = names.index(name) // PAGE
        if page != self.page:
            self.page = page
            self.run_worker(self._then_focus(name))
        elif name in self.views:
            self.views[name].focus()
        elif name in self.panes:
            self.panes[name].focus()

    async def _then_focus(self, name: str) -> None:
        await self.relayout()
        if name in self.panes:
            self.panes[name].focus()

    def on_descendant_focus(self) -> None:
        pane = self.focused_pane()
        if pane is not None:
            self.query_one(WorkerList).select_worker(pane.worker_name)
        self.refresh_bindings()

    # -- actions ------------------------------------------------------------------------------
    def action_focus_pane_offset(self, step: int) -> None:
        panes = [self.views.get(n, p) for n, p in self.panes.items() if p.display or n in self.views]
        if not panes:
            return
        current = self.focused_pane()
        index = panes.index(current) if current in panes else -1
        panes[(index + step) % len(panes)].focus()

    def action_focus_pane(self, number: int) -> None:
        names = list(self.podium.roster)
        if 1 <= number <= len(names):
            self.focus_worker(names[self.page * PAGE + number - 1] if self.page * PAGE + number - 1 < len(names) else names[number - 1])

    def action_page(self, step: int) -> None:
        pages = max(1, math.ceil(len(self.podium.roster) / PAGE))
        self.page = (self.page + step) % pages
        self.run_worker(self.relayout())

    def action_zoom(self) -> None:
        if self.focused_pane() is None:
            return
        self.zoomed = not self.zoomed
        self.set_class(self.zoomed, "-zoomed")
        self.run_worker(self.relayout())

    def zoom_worker(self, name: str) -> None:
        """Zoom a named worker's pane (the palette's way: focus may not have moved yet)."""
        if name not in self.podium.roster:
            return
        names = list(self.podium.roster)
        self.page = names.index(name) // PAGE
        self.zoomed = True
        self.set_class(True, "-zoomed")
        self.run_worker(self.relayout(focus=name))

    def scroll_worker(self, name: str) -> None:
        self.focus_worker(name)
        pane = self.panes.get(name)
        if pane is not None:
            pane.scroll_by(-max(1, pane.size.height - 1))
        self.refresh_bindings()

    def action_live(self) -> None:
        pane = self.focused_pane()
        if pane is not None and pane.scrollback is not None:
            pane.leave_scrollback()
        elif self.zoomed:
            self.action_zoom()
        self.refresh_bindings()

    def action_interactive(self) -> None:
        pane = self.focused_pane()
        if pane is None:
            return
        pane.focus()
        if pane.scrollback is not None:
            pane.leave_scrollback()
        self.interactive = pane
        pane.set_interactive(True)
        self.query_one(StatusBar).mode = f"INTERACTIVE {pane.worker_name} · ctrl+] leaves"
        self.refresh_bindings()
        self.podium.refresh_bindings()

    def leave_interactive(self) -> None:
        if self.interactive is not None:
            self.interactive.set_interactive(False)
        self.interactive = None
        self.query_one(StatusBar).mode = ""
        self.refresh_bindings()
        self.podium.refresh_bindings()

    @on(TerminalPane.LeaveInteractive)
    def on_leave(self, event: TerminalPane.LeaveInteractive) -> None:
        self.leave_interactive()

    @on(TerminalPane.Typed)
    def on_typed(self, event: TerminalPane.Typed) -> None:
        self.podium.send_keys(event.pane.worker_name, event.data)

    @on(TerminalPane.SizeChanged)
    def on_pane_size(self, event: TerminalPane.SizeChanged) -> None:
        w = self.podium.roster.get(event.pane.worker_name, {})
        if w.get("state") in ACTIVE:
            self.podium.request("resize", worker=event.pane.worker_name, cols=event.cols, rows=event.rows)

    @on(WorkerList.Chosen)
    def on_chosen(self, event: WorkerList.Chosen) -> None:
        self.focus_worker(event.name)

    def action_interrupt(self) -> None:
        pane = self.focused_pane()
        if pane is not None:
            self.podium.request("interrupt", worker=pane.worker_name)
            self.notify(f"Ctrl+C sent to {pane.worker_name}", timeout=2)

    def toggle_pause(self, name: str) -> None:
        w = self.podium.roster.get(name, {})
        self.podium.request("continue" if w.get("state") == "paused" else "pause", worker=name)

    def action_pause(self) -> None:
        pane = self.focused_pane()
        if pane is not None:
            self.toggle_pause(pane.worker_name)

    def confirm_kill(self, name: str) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.podium.request("kill", worker=name)
                self.notify(f"Terminating {name}", timeout=2)

        self.app.push_screen(ConfirmScreen(f"Kill worker {name}? (SIGTERM, then SIGKILL after 3 s)"), answered)

    def action_kill(self) -> None:
        pane = self.focused_pane()
        if pane is not None:
            self.confirm_kill(pane.worker_name)

    def action_scroll(self, direction: int) -> None:
        pane = self.focused_pane()
        if pane is not None:
            pane.scroll_by(direction * max(1, pane.size.height - 1))
            self.refresh_bindings()

    def action_search(self) -> None:
        pane = self.focused_pane()
        if pane is None:
            return
        last = pane.scrollback.pattern if pane.scrollback else ""

        def submitted(pattern: str | None) -> None:
            if pattern:
                self.run_search(pane, pattern)

        self.app.push_screen(PromptScreen(f"Search {pane.worker_name}'s transcript (newest first; smart case):", last), submitted)

    @work(thread=True, exclusive=True, group="search")
    def run_search(self, pane: TerminalPane, pattern: str) -> None:
        sb = pane.scrollback
        index = sb.index if sb is not None else None
        from podium.sessions.transcript import LineIndex

        index = index or LineIndex(pane.transcript_dir)
        index.refresh()
        start = sb.match if sb is not None and sb.match is not None and sb.pattern == pattern else index.line_count
        line = index.search(pattern, from_line=start, backwards=True)
        self.app.call_from_thread(pane.show_match, pattern, line)
        if line is None:
            self.app.call_from_thread(self.notify, f"{pattern!r} not found above this point", severity="warning", timeout=3)

    def action_view(self) -> None:
        pane = self.focused_pane()
        if pane is None:
            return
        name = pane.worker_name
        if name in self.views:
            view = self.views.pop(name)
            view.remove()
            pane.display = True
            pane.focus()
        else:
            view = AgentView(name, self.podium.bb.worker_dir(name) / "events.jsonl")
            self.views[name] = view
            self.query_one("#panes", Container).mount(view, after=pane)
            pane.display = False
            view.set_summary(self.podium.roster.get(name, {}))
            self.call_after_refresh(view.focus)
        self.refresh_bindings()

    def action_answer_focused(self, choice: str) -> None:
        pane = self.focused_pane()
        esc = self.podium.pending_screen_escalation(pane.worker_name) if pane else None
        if esc is not None:
            self.podium.answer(esc["id"], choice)

    def action_promote(self) -> None:
        pane = self.focused_pane()
        if pane is None or self.podium.client is None:
            return
        client, name = self.podium.client, pane.worker_name

        async def send() -> None:
            try:
                r = await client.request("promote", worker=name)
            except Exception as exc:
                self.notify(str(exc), severity="error", timeout=6)
                return
            if r["duplicate"]:
                self.notify(f"this run of {name} is in the result already (section {r['section']}); `podium promote {name} --force` adds it again", severity="warning", timeout=6)
            else:
                self.notify(f"promoted {name} into the result (o shows it)", timeout=3)

        self.run_worker(send(), group="requests")

    def action_resume(self) -> None:
        pane = self.focused_pane()
        if pane is None:
            return
        name = pane.worker_name

        def submitted(prompt: str | None) -> None:
            if prompt is not None:
                self.podium.request("resume", worker=name, prompt=prompt or "continue")

        self.app.push_screen(PromptScreen(f"Resume {name}: the follow-up prompt", "continue"), submitted)

    def action_new_worker(self) -> None:
        def submitted(spec: dict[str, Any] | None) -> None:
            if not spec:
                return
            try:
                argv, kind = build_command(spec["kind"], spec["task"], spec["template"])
            except ValueError as exc:
                self.notify(str(exc), severity="error")
                return
            self.podium.request("spawn", name=spec["name"], argv=argv, kind=kind, cwd=spec["cwd"])

        self.app.push_screen(NewWorkerScreen(self.podium.bb.workspace, set(self.podium.roster)), submitted)


class PodiumApp(App[str]):
    CSS_PATH = "app.tcss"
    TITLE = "podium"
    COMMANDS = App.COMMANDS | {WorkerCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="podium.help", tooltip="Every key, and how to remap it"),
        Binding("e", "inbox", "Inbox", id="podium.inbox", tooltip="Every approval and decision waiting, across all workers"),
        Binding("o", "result", "Result", id="podium.result", tooltip="The curated result: reorder, edit, remove, copy"),
        Binding("J", "journal", "Journal", id="podium.journal", tooltip="Every input, signal, approval and state change", show=False),
        Binding("d", "detach", "Detach", id="podium.detach", tooltip="Leave podium; every worker keeps running"),
        Binding("ctrl+q", "quit_dialog", "Quit", id="podium.quit", tooltip="Detach, or stop every worker", priority=True, show=False),
        Binding(
            "ctrl+right_square_bracket",
            "leave_interactive",
            "Leave interactive",
            id="podium.leave",
            tooltip="Stop sending keys to the worker (this key is never sent)",
            priority=True,
        ),
    ]

    def __init__(
        self,
        workspace: Path,
        autostart: bool = True,
        config: Config | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        super().__init__()
        self.bb = Blackboard(workspace)
        self.autostart = autostart
        self.config = config if config is not None else load_config()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.client: SupervisorClient | None = None
        self.roster: dict[str, dict[str, Any]] = {}
        self.escalations: dict[str, dict[str, Any]] = {}
        self.dashboard = DashboardScreen()
        self.connected = asyncio.Event()
        self._leaving = False

    # -- start ---------------------------------------------------------------------------------
    def on_mount(self) -> None:
        for theme in THEMES.values():
            self.register_theme(theme)
        theme, problem = resolve_theme(self.config.theme, set(self.available_themes))
        self.theme = theme
        for message in self.config.problems + ([problem] if problem else []):
            self.notify(message, title="config", severity="warning", timeout=10)
        if self.config.keys:
            known = self.binding_ids()
            unknown = sorted(set(self.config.keys) - known)
            if unknown:
                self.notify(f"{self.config.path}: unknown binding ids {', '.join(unknown)}", title="config", severity="warning", timeout=10)
            self.set_keymap({k: v for k, v in self.config.keys.items() if k in known})
        self.push_screen(self.dashboard)
        self.set_interval(1.0, self._tick)
        self.run_worker(self._connect_loop(), exclusive=True, group="connection")

    def binding_ids(self) -> set[str]:
        from .inbox_screen import InboxScreen
        from .journal_screen import JournalScreen
        from .result_screen import ResultScreen

        ids = set()
        for cls in (DashboardScreen, PodiumApp, ResultScreen, JournalScreen, InboxScreen):
            for b in cls.BINDINGS:
                if isinstance(b, Binding) and b.id:
                    ids.add(b.id)
        return ids

    async def _connect_loop(self) -> None:
        try:
            await self._connect_forever()
        except NoMatches:
            pass  # the app is being torn down while (re)connecting

    async def _connect_forever(self) -> None:
        status = self.dashboard.query_one(StatusBar)
        first = True
        while not self._leaving:
            try:
                if self.autostart:
                    client, _ = await connect_or_start(self.bb.workspace, client="tui")
                else:
                    client = await SupervisorClient.connect(self.bb.workspace, client="tui")
            except (NotRunning, RequestFailed, OSError) as exc:
                if first and not self.autostart:
                    self.exit(f"podium: {exc}", return_code=1)
                    return
                status.connection = f"no supervisor: {exc}; retrying"
                await asyncio.sleep(1.0)
                continue
            first = False
            self.client = client
            client.on_event = self.on_supervisor_event
            status.connection = f"supervisor · {self.bb.workspace.name}"
            result = await client.request("subscribe", screens=[], events=True)
            self.roster = {w["name"]: w for w in result["workers"]}
            try:
                self.escalations = {e["id"]: e for e in await client.request("decisions")}
            except RequestFailed as exc:
                self.notify(f"escalations unavailable: {exc}", severity="error", timeout=8)
            self.update_escalations(announce=False)
            table = self.dashboard.query_one(WorkerList)
            for w in self.roster.values():
                table.upsert(w)
            status.set_counts(self.roster)
            self.dashboard.panes.clear()
            await self.dashboard.query_one("#panes", Container).remove_children()
            await self.dashboard.relayout()
            self.connected.set()
            await client.closed.wait()
            self.connected.clear()
            self.client = None
            if self._leaving:
                return
            status.connection = "supervisor lost; reconnecting"
            await asyncio.sleep(0.5)

    # -- the supervisor's events ----------------------------------------------------------
    def on_supervisor_event(self, event: dict[str, Any]) -> None:
        if not self.dashboard.is_mounted:
            return
        try:
            self._apply_event(event)
        except NoMatches:
            pass  # the app is being torn down: the widgets are already gone

    def _apply_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "screen":
            pane = self.dashboard.panes.get(event["worker"])
            if pane is not None:
                pane.apply_screen(event)
        elif kind == "worker":
            w = event["worker"]
            new = w["name"] not in self.roster
            self.roster[w["name"]] = w
            self.dashboard.query_one(WorkerList).upsert(w)
            self.dashboard.query_one(StatusBar).set_counts(self.roster)
            pane = self.dashboard.panes.get(w["name"])
            if pane is not None:
                pane.set_status(w.get("state", ""), w.get("reason", ""), w.get("kind", ""))
            view = self.dashboard.views.get(w["name"])
            if view is not None and view.is_mounted:
                view.refresh_events()
                view.set_summary(w)
            if new:
                self.dashboard.run_worker(self.dashboard.relayout())
            if self.dashboard.interactive is pane and pane is not None and w.get("state") not in ACTIVE:
                self.dashboard.leave_interactive()
            self.dashboard.refresh_bindings()
        elif kind == "escalation":
            esc = event["escalation"]
            new = esc["id"] not in self.escalations
            self.escalations[esc["id"]] = esc
            if new and esc["state"] == "pending":
                self.announce(esc)
            self.update_escalations()
        elif kind == "result":
            from .result_screen import ResultScreen

            if isinstance(self.screen, ResultScreen):
                self.screen.on_result_event()
        elif kind == "signal" and event.get("by") != "tui":
            self.notify(f"{event.get('signal')} sent to {event.get('worker')} by {event.get('by')}", timeout=3)
        elif kind == "bye" and not self._leaving:  # stopped from elsewhere
            self._leaving = True
            self.exit("podium: the supervisor stopped")

    # -- escalations --------------------------------------------------------------------------
    def pending_screen_escalation(self, worker: str) -> dict[str, Any] | None:
        for e in self.escalations.values():
            if e["worker"] == worker and e["source"] == "screen" and e["state"] == "pending":
                return e
        return None

    def update_escalations(self, announce: bool = True) -> None:
        pending = [e for e in self.escalations.values() if e["state"] in ("pending", "malformed")]
        self.dashboard.query_one(EscalationBanner).show_pending([e for e in pending if e["state"] == "pending"])
        status = self.dashboard.query_one(StatusBar)
        status.escalations = sum(1 for e in pending if e["tier"] == "gate" and e["state"] == "pending")
        status.refresh_text()
        from .inbox_screen import InboxScreen

        if isinstance(self.screen, InboxScreen):
            self.screen.refresh_items()
        self.dashboard.refresh_bindings()

    def announce(self, esc: dict[str, Any]) -> None:
        """A gate opened: a toast, and (configurable) a bell and a desktop notification."""
        what = esc.get("command") or esc.get("file") or esc["question"]
        who = esc.get("worker") or "podium"
        if esc["tier"] == "gate":
            self.notify(f"{who} waits: {what}", title="approval needed", severity="warning", timeout=6)
            if self.config.bell:
                self.bell()
            if self.config.desktop_notify and self._driver is not None:
                text = f"podium: {who} waits: {what}".replace("\x07", "").replace("\x1b", "")[:200]
                self._driver.write(f"\x1b]9;{text}\x07\x1b]777;notify;podium;{text}\x07")
        elif esc["tier"] == "notify":
            self.notify(f"{who}: {what} (approved by the notify rule)", title="escalation", timeout=5)

    def answer(self, esc_id: str, choice: str) -> None:
        client = self.client
        if client is None:
            self.notify("not connected to the supervisor", severity="error")
            return

        async def send() -> None:
            try:
                await client.request("answer", escalation=esc_id, choice=choice)
            except (RequestFailed, NotRunning) as exc:
                self.notify(str(exc), severity="error", timeout=6)

        self.run_worker(send(), group="requests")

    def action_inbox(self) -> None:
        from .inbox_screen import InboxScreen

        self.push_screen(InboxScreen())

    def _tick(self) -> None:
        if self.dashboard.is_mounted:
            self.dashboard.query_one(WorkerList).tick()

    # -- requests (never awaited by a key handler) --------------------------------------
    def request(self, op: str, **fields: Any) -> None:
        client = self.client
        if client is None:
            self.notify("not connected to the supervisor", severity="error", timeout=3)
            return

        async def send() -> None:
            try:
                await client.request(op, **fields)
            except (RequestFailed, NotRunning) as exc:
                self.notify(str(exc), severity="error", timeout=5)

        self.run_worker(send(), group="requests")

    def send_keys(self, worker: str, data: bytes) -> None:
        if self.client is not None:
            self.client.send_nowait("input", worker=worker, data=data.decode("utf-8", "surrogateescape"))

    # -- app-wide actions ----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        interactive = self.dashboard.interactive is not None and self.screen is self.dashboard
        if action == "leave_interactive":
            return interactive
        return not interactive

    def action_leave_interactive(self) -> None:
        self.dashboard.leave_interactive()

    def action_help(self) -> None:
        groups = []
        from .inbox_screen import InboxScreen
        from .journal_screen import JournalScreen
        from .result_screen import ResultScreen

        for title, cls in (
            ("Dashboard and the focused worker", DashboardScreen),
            ("Anywhere", PodiumApp),
            ("Escalation inbox (e)", InboxScreen),
            ("Result screen (o)", ResultScreen),
            ("Journal screen (J)", JournalScreen),
        ):
            rows = []
            for b in cls.BINDINGS:
                if isinstance(b, Binding):
                    key = self._keymap_key(b)
                    rows.append((key, b.description, b.tooltip))
            groups.append((title, rows))
        groups.append(("Interactive mode", [("ctrl+]", "Leave interactive mode", "never sent to the worker"), ("any other key", "Goes to the worker", "ctrl+c, arrows, function keys, pastes")]))
        groups.append(("Palette", [("ctrl+p", "Command palette", "per-worker commands, themes")]))
        self.push_screen(HelpScreen(groups))

    def _keymap_key(self, binding: Binding) -> str:
        key = self.config.keys.get(binding.id or "", binding.key) if binding.id else binding.key
        return key.replace("question_mark", "?").replace("slash", "/").replace("right_square_bracket", "]").replace("left_square_bracket", "[")

    def action_result(self) -> None:
        from .result_screen import ResultScreen

        self.push_screen(ResultScreen(self.bb.root / "result.md"))

    def action_journal(self) -> None:
        from .journal_screen import JournalScreen

        self.push_screen(JournalScreen(self.bb.journal))

    def action_detach(self) -> None:
        self._leaving = True
        self.exit(f"podium: detached from {self.bb.workspace} (workers keep running; `podium` attaches again)")

    def action_quit_dialog(self) -> None:
        running = sum(1 for w in self.roster.values() if w.get("state") in ACTIVE)

        def chosen(choice: str | None) -> None:
            if choice == "detach":
                self.action_detach()
            elif choice == "stop":
                self.run_worker(self._stop_everything())

        self.push_screen(QuitScreen(running), chosen)

    async def _stop_everything(self) -> None:
        self._leaving = True
        if self.client is not None:
            try:
                await self.client.request("stop")
            except (RequestFailed, NotRunning):
                pass
        self.exit("podium: stopped every worker and the supervisor")


def run_app(workspace: Path, autostart: bool) -> int:
    app = PodiumApp(workspace, autostart=autostart)
    message = app.run()
    if message:
        print(message)
    return app.return_code or 0
