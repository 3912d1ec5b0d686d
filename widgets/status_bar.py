"""StatusBar: the supervisor's state and the room at a glance: how many workers run, wait,
are done or failed, and the mode the person is in."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from podium.sessions import units
from podium.sessions.states import GROUPS

# The worker list's words: each state counts once, in the group the list would name.
GROUP_STYLE = {"running": "green", "waiting": "magenta", "done": "green", "to review": "magenta", "interrupted": "yellow", "failed": "red"}
ALWAYS = ("running", "waiting", "done", "failed")


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    connection: reactive[str] = reactive("connecting…")
    mode: reactive[str] = reactive("")

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self.counts: dict[str, int] = {}
        self.escalations = 0
        self.tokens = 0
        self.cost = 0.0
        self.budget: dict[str, Any] | None = None  # the workspace's ceiling and spend, when the person set one
        self.orchestrators_paused = False  # podium mcp may start nothing (M)

    def set_counts(self, workers: dict[str, dict[str, Any]]) -> None:
        counts: dict[str, int] = {}
        for w in workers.values():
            counts[w.get("state", "?")] = counts.get(w.get("state", "?"), 0) + 1
        self.counts = counts
        self.tokens = sum(int(w.get("tokens") or 0) for w in workers.values())
        self.cost = sum(float(w.get("cost_usd") or 0) for w in workers.values())
        self.refresh_text()

    def set_budget(self, budget: dict[str, Any] | None) -> None:
        self.budget = budget
        self.refresh_text()

    def set_orchestrators(self, policy: dict[str, Any]) -> None:
        self.orchestrators_paused = bool(policy.get("paused"))
        self.refresh_text()

    def watch_connection(self) -> None:
        self.refresh_text()

    def watch_mode(self) -> None:
        self.refresh_text()

    def refresh_text(self) -> None:
        t = Text()
        if self.mode:  # first: a mode must never be cut off by a narrow terminal or hidden under a toast
            t.append(f" {self.mode} ", style="bold reverse")
            t.append("  ")
        ok = self.connection.startswith("supervisor")
        t.append("● " if ok else "○ ", style="green" if ok else "red")
        t.append(self.connection, style="" if ok else "bold red")
        c = self.counts
        for label, states in GROUPS.items():
            n = sum(c.get(state, 0) for state in states)
            if n or label in ALWAYS:
                t.append("  ·  ")
                t.append(f"{n} {label}", style=GROUP_STYLE[label] if n else "dim")
        if self.orchestrators_paused:
            t.append("  ·  ")
            t.append("⏸ orchestrators", style="bold yellow")
        t.append("  ·  ")
        t.append(f"{self.escalations} escalations", style="bold magenta" if self.escalations else "dim")
        if self.budget:  # spend against the workspace's ceiling
            t.append("  ·  ")
            share = float(self.budget.get("share") or 0)
            t.append(f"budget {units.spend(self.budget)}", style="bold red" if share >= 1 else "yellow" if share >= 0.8 else "cyan")
        elif self.tokens:
            t.append("  ·  ")
            t.append(f"{units.tokens(self.tokens)} tokens" + (f" ${self.cost:.2f}" if self.cost else ""), style="cyan")
        self.update(t)
