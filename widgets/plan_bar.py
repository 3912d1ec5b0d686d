"""PlanBar: the dashboard's one line about the plan: its title and state, how many tasks
stand where, when the heartbeat last looked, and the key that opens the plan screen.
Hidden while no plan has run in the workspace."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from rich.text import Text
from textual.widgets import Static

from podium.sessions import units
from podium.sessions.text import safe_text

from .plan_tree import PLAN_STYLE, TASK_STYLE

ORDER = ("running", "verifying", "starting", "queued", "pending", "done", "failed", "timed-out", "needs-review", "blocked", "stopped", "skipped")


class PlanBar(Static):
    DEFAULT_CSS = """
    PlanBar {
        height: 1;
        padding: 0 1;
        background: $boost;
        display: none;
    }
    PlanBar.-shown {
        display: block;
    }
    """

    def __init__(self, clock: Callable[[], datetime] | None = None, **kw: Any):
        super().__init__(**kw)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.plan: dict[str, Any] = {"state": "none"}

    def show(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.set_class(plan.get("state", "none") != "none", "-shown")
        self.refresh_text()

    def refresh_text(self) -> None:
        plan = self.plan
        state = plan.get("state", "none")
        if state == "none":
            return
        t = Text()
        t.append("plan ", style="dim")
        t.append(safe_text(plan.get("title") or ""), style="bold")
        t.append(f"  {state}", style=PLAN_STYLE.get(state, ""))
        counts = plan.get("counts") or {}
        for name in ORDER:
            if counts.get(name):
                glyph, style = TASK_STYLE[name]
                t.append(f"  {glyph} {counts[name]} {name}", style=style)
        breaker = plan.get("circuit") or {}
        if breaker.get("state") in ("open", "half-open"):
            t.append(f"  · ⚡ breaker {breaker['state']}: {breaker.get('count')} × {breaker.get('class')}" + (" (answer it: e)" if breaker["state"] == "open" else ""), style="bold red" if breaker["state"] == "open" else "yellow")
        now = self.clock().timestamp()
        for agent, hit in (plan.get("limited") or {}).items():
            if hit["until"] > now:
                t.append(f"  · ⏸ {agent} paused ({hit['class']}) {units.compact(hit['until'] - now)}", style="bold yellow")
        for key, budget in (plan.get("budgets") or {}).items():
            if key.startswith("plan#") or budget.get("asking"):  # (the workspace's is on the status line)
                style = "bold red" if budget.get("asking") else "yellow" if budget.get("share", 0) >= 0.8 else "dim"
                t.append(f"  · {'⛔ ' if budget.get('asking') else ''}budget {units.spend(budget)}" + (f" ({budget['label']}: answer it in the inbox)" if budget.get("asking") else ""), style=style)
        dead = sum(1 for task in plan.get("tasks") or [] if task.get("dead_letter"))
        if dead:
            t.append(f"  · ☠ {dead} dead letter{'s' if dead > 1 else ''} (podium dlq ls)", style="bold red")
        if plan.get("heartbeat_at"):
            t.append(f"  · heartbeat {units.age(plan['heartbeat_at'], self.clock())} ago", style="dim")
        if plan.get("problems"):
            t.append(f"  · ⚠ {len(plan['problems'])} edit(s) refused", style="bold yellow")
        t.append("  · P plan", style="dim")
        self.update(t)
