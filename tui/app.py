"""PodiumApp: the Textual app. A client of the supervisor that renders what it is sent and
holds no state of its own (closing it loses nothing). It owns the theme, the keymap, the
screens (the dashboard, the inbox, the result, the journal, help) and the app-wide keys;
the supervisor link (`link.py`) feeds the screens typed messages."""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from podium.sessions.blackboard import Blackboard
from podium.sessions.client import NotRunning, RequestFailed
from podium.sessions.config import Config, load_config
from podium.sessions.states import ACTIVE
from podium.themes import THEMES, resolve_theme
from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from .alerts import Alerts
from .dashboard import DashboardScreen
from .inbox_screen import InboxScreen
from .journal_screen import JournalScreen
from .key_groups import KEY_GROUPS, KEY_NAMES
from .link import (
    ConnectFailed,
    EscalationsChanged,
    PlanComplete,
    SignalSent,
    SupervisorError,
    SupervisorGone,
    SupervisorLink,
)
from .palette import WorkerCommands
from .plan_screen import PlanScreen
from .result_screen import ResultScreen
from .screens import HelpScreen, QuitScreen

GC_THRESHOLD = (50_000, 20, 100)  # Python's default, (700, 10, 10), collects every few keys


def tune_gc() -> None:
    """What start-up made lives as long as the app: out of every collection, so a full
    collection never walks it; and collections far less often (a page of scrollback made
    a few thousand objects, and collections made 1 page in 20 wait 20-50 ms;
    bench/scrollback.py measures it)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


class PodiumApp(App[str]):
    CSS_PATH = "app.tcss"
    TITLE = "podium"
    COMMANDS = App.COMMANDS | {WorkerCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="podium.help", tooltip="Every key, and how to remap it"),
        Binding("e", "inbox", "Inbox", id="podium.inbox", tooltip="Every approval and decision waiting, across all workers"),
        Binding("o", "result", "Result", id="podium.result", tooltip="The curated result: reorder, edit, remove, copy"),
        Binding("J", "journal", "Journal", id="podium.journal", tooltip="Every input, signal, approval and state change", show=False),
        Binding("P", "plan", "Plan", id="podium.plan", tooltip="The plan: its tasks, their states and next actions; start, pause, steer it"),
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
        self.config = config if config is not None else load_config()
        self.link = SupervisorLink(self, self.bb.workspace, autostart)
        self.alerts = Alerts(lambda *a, **kw: self.notify(*a, **kw), lambda: self.bell(), lambda: self._driver.write if self._driver is not None else None, self.config)
        self.dashboard = DashboardScreen(self.link, self.bb, clock or (lambda: datetime.now(timezone.utc)))

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
        self.run_worker(self.link.run(), exclusive=True, group="connection")
        tune_gc()

    @staticmethod
    def binding_ids() -> set[str]:
        return {b.id for _, cls in [("", PodiumApp), *KEY_GROUPS] for b in cls.BINDINGS if isinstance(b, Binding) and b.id}

    # -- what the link reports to the whole app -----------------------------------------------------
    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """The one error path of the app's workers (they run with exit_on_error=False):
        say what failed; the app goes on."""
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.name or event.worker.group} failed: {event.worker.error!r}", title="podium", severity="error", timeout=10)

    @on(ConnectFailed)
    def connect_failed(self, event: ConnectFailed) -> None:
        self.exit(event.error, return_code=1)

    @on(SupervisorGone)
    def supervisor_gone(self, event: SupervisorGone) -> None:
        self.exit(f"podium: {event.reason}")

    @on(SupervisorError)
    def supervisor_error(self, event: SupervisorError) -> None:
        self.notify(event.error, severity="error", timeout=6)

    @on(SignalSent)
    def signal_sent(self, event: SignalSent) -> None:
        if event.by != self.link.client_kind:
            self.notify(f"{event.signal} sent to {event.worker} by {event.by}", timeout=3)

    @on(EscalationsChanged)
    def announce(self, event: EscalationsChanged) -> None:
        self.alerts.escalation(event.escalation, event.new)

    @on(PlanComplete)
    def plan_complete(self, event: PlanComplete) -> None:
        self.alerts.plan_complete(event.title, event.state, event.summary, event.ok)

    async def on_event(self, event: events.Event) -> None:
        """In interactive mode every key goes straight to the worker's pane, in the order
        typed: Textual hands a key to the focused widget before the previous key's binding
        has acted, so keys typed right after enter would otherwise take two paths (the old
        focus and the pane) and arrive out of order."""
        if isinstance(event, events.Key) and not event.is_forwarded and self.screen is self.dashboard and self.dashboard.interactive is not None:
            self.dashboard.interactive.type_key(event)
            return
        await super().on_event(event)

    # -- app-wide actions ----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        interactive = self.dashboard.interactive is not None and self.screen is self.dashboard
        if action == "leave_interactive":
            return interactive
        return not interactive

    def action_leave_interactive(self) -> None:
        self.dashboard.leave_interactive()

    def action_inbox(self) -> None:
        self.push_screen(InboxScreen(self.link))

    def action_result(self) -> None:
        self.push_screen(ResultScreen(self.bb.root / "result.md", self.link))

    def action_journal(self) -> None:
        self.push_screen(JournalScreen(self.bb.journal))

    def action_plan(self) -> None:
        self.push_screen(PlanScreen(self.link, self.bb.root / "plan.toml", self.dashboard.focus_worker))

    def action_help(self) -> None:
        groups = []
        for title, cls in [*KEY_GROUPS[:2], ("Anywhere", PodiumApp), *KEY_GROUPS[2:]]:
            rows = [(self.key_of(b), b.description, b.tooltip) for b in cls.BINDINGS if isinstance(b, Binding)]
            groups.append((title, rows))
        groups.append(("Interactive mode", [("ctrl+]", "Leave interactive mode", "never sent to the worker"), ("any other key", "Goes to the worker", "ctrl+c, arrows, function keys, pastes")]))
        groups.append(("Palette", [("ctrl+p", "Command palette", "per-worker commands, themes")]))
        self.push_screen(HelpScreen(groups))

    def key_of(self, binding: Binding) -> str:
        """The key a binding is on, as remapped, as a person writes it."""
        key = self.config.keys.get(binding.id or "", binding.key) if binding.id else binding.key
        for name, char in KEY_NAMES.items():
            key = key.replace(name, char)
        return key

    def action_detach(self) -> None:
        self.link.leaving = True
        self.exit(f"podium: detached from {self.bb.workspace} (workers keep running; `podium` attaches again)")

    def action_quit_dialog(self) -> None:
        running = sum(1 for w in self.link.roster.values() if w.get("state") in ACTIVE)

        def chosen(choice: str | None) -> None:
            if choice == "detach":
                self.action_detach()
            elif choice == "stop":
                self.run_worker(self._stop_everything(), exit_on_error=False)

        self.push_screen(QuitScreen(running), chosen)

    async def _stop_everything(self) -> None:
        self.link.leaving = True
        try:
            await self.link.ask("stop")
        except (RequestFailed, NotRunning):
            pass  # gone already: stopped is what was asked
        self.exit("podium: stopped every worker and the supervisor")


def run_app(workspace: Path, autostart: bool) -> int:
    app = PodiumApp(workspace, autostart=autostart)
    message = app.run()
    if message:
        print(message)
    return app.return_code or 0
