"""The journal screen (`J`): every input, signal, approval, promotion and state change of
every worker, newest first, filterable by worker and kind, searchable. How a person
answers "who did that, and when?" after the fact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label

from podium.sessions.blackboard import read_journal
from podium.sessions.text import safe_text

from .screens import PromptScreen

_SKIP = ("ts", "type", "worker")


def matches(entry: dict[str, Any], worker: str, kind: str, search: str) -> bool:
    if worker and entry.get("worker") != worker:
        return False
    if kind and entry.get("type") != kind:
        return False
    if search and search.lower() not in json.dumps(entry, ensure_ascii=False).lower():
        return False
    return True


class JournalScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,J", "app.pop_screen", "Back", id="journal.back", tooltip="Back to the dashboard"),
        Binding("w", "filter_worker", "Worker", id="journal.worker", tooltip="Show one worker's entries (empty: all)"),
        Binding("t", "filter_kind", "Kind", id="journal.kind", tooltip="Show one kind: input, signal, state, spawn, promote…"),
        Binding("slash", "search", "Search", id="journal.search", tooltip="Entries containing a text"),
        Binding("r", "reload", "Reload", id="journal.reload", tooltip="Read the journal again"),
    ]

    def __init__(self, path: Path, worker: str = ""):
        super().__init__()
        self.path = path
        self.worker = worker
        self.kind = ""
        self.search = ""
        self.entries: list[dict[str, Any]] = []
        self.problems: list[str] = []

    def compose(self) -> ComposeResult:
        yield Label("", id="filters")
        yield DataTable(id="journal", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in ("time", "kind", "worker", "what"):
            table.add_column(col, key=col)
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        self.entries, self.problems = read_journal(self.path)
        if self.problems:
            self.notify(f"{len(self.problems)} unreadable journal lines, first: {self.problems[0]}", severity="warning", timeout=8)
        self.show()

    def show(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        shown = [e for e in reversed(self.entries) if matches(e, self.worker, self.kind, self.search)]
        for e in shown:
            details = " ".join(f"{k}={safe_text(json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v)}" for k, v in e.items() if k not in _SKIP)
            table.add_row(str(e.get("ts", "")).replace("+00:00", "Z"), Text(str(e.get("type", "")), style="bold"), safe_text(str(e.get("worker", "-"))), details[:160])
        label = f"{len(shown)} of {len(self.entries)} entries, newest first"
        for name, value in (("worker", self.worker), ("kind", self.kind), ("containing", self.search)):
            if value:
                label += f" · {name}: {value}"
        self.query_one("#filters", Label).update(label)

    def _ask(self, label: str, attr: str) -> None:
        def done(value: str | None) -> None:
            if value is not None:
                setattr(self, attr, value.strip())
                self.show()

        self.app.push_screen(PromptScreen(label, getattr(self, attr)), done)

    def action_filter_worker(self) -> None:
        self._ask("Worker (empty: every worker):", "worker")

    def action_filter_kind(self) -> None:
        self._ask("Kind (input, signal, state, spawn, resume, promote, result, stop; empty: all):", "kind")

    def action_search(self) -> None:
        self._ask("Entries containing:", "search")
