"""WorkerList: every worker in one table: name, plan task, kind, state (coloured, with the
signal it came from), elapsed, last output, exit code, tokens. While a plan runs, its
workers are grouped by task in plan order (the # column keeps each pane's number).
Selecting a row focuses its pane."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from podium.sessions import units
from podium.sessions.failures import classify
from podium.sessions.text import safe_text

STATE_STYLE = {
    "starting": "dim",
    "running": "bold green",
    "paused": "yellow",
    "waiting": "bold magenta",
    "done": "green",
    "failed": "bold red",
    "interrupted": "yellow",
    "lost": "red",
    "blocked": "magenta",
    "needs-review": "magenta",
}
COLUMNS = ("#", "worker", "task", "kind", "state", "why", "elapsed", "output", "exit", "tokens", "asked")


def why(w: dict[str, Any]) -> Text:
    """Its reason; for a live agent whose hooks report, what it does and the event that said so."""
    hook = w.get("hook") or {}
    if hook.get("path") == "hooks" and w.get("state") in ("running", "waiting"):
        return Text(safe_text(f"{hook.get('activity')} · {hook.get('source', '').removeprefix('hook:')}")[:40], style="dim")
    return Text(safe_text(w.get("reason", ""))[:28], style="dim")


def escalation_rate(w: dict[str, Any]) -> Text:
    """How often the worker asks: count, and the share of its actions (10-15 % is the
    guides' sweet spot: fewer may mean it acts unchecked, more that it cannot work alone)."""
    count = int(w.get("escalations") or 0)
    rate = w.get("escalation_rate")
    if not count:
        return Text("-", style="dim")
    if rate is None:
        return Text(str(count))
    style = "green" if 0.10 <= rate <= 0.15 else "yellow"
    return Text(f"{count} ({rate:.0%})", style=style)


ORCHESTRATORS = ("mcp",)  # client kinds whose workers the list marks (an agent started them)


def worktree_mark(w: dict[str, Any]) -> str:
    """⎇ for a writer in a worktree of its own (✓ once its branch merged)."""
    tree = w.get("worktree") or {}
    if not tree or tree.get("removed"):
        return ""
    return " ⎇✓" if tree.get("merged") else " ⎇"


class WorkerList(DataTable):
    DEFAULT_CSS = """
    WorkerList {
        height: auto;
        max-height: 12;
        border: round $panel-lighten-2;
        border-title-color: $foreground-muted;
    }
    WorkerList:focus {
        border: round $primary;
    }
    """

    class Chosen(Message):
        def __init__(self, name: str):
            super().__init__()
            self.name = name

    def __init__(self, clock: Callable[[], datetime] | None = None, **kw: Any):
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.border_title = "workers"
        self.roster: dict[str, dict[str, Any]] = {}
        self.task_of: dict[str, str] = {}  # worker -> its plan task ("fix ✓" for a verify run)
        self.task_rank: dict[str, int] = {}  # worker -> where its task stands in the plan

    def on_mount(self) -> None:
        for col in COLUMNS:
            self.add_column(col, key=col)

    def row_cells(self, number: int, w: dict[str, Any]) -> list[Any]:
        now = self.clock()
        state = w.get("state", "?")
        exit_code = w.get("exit_code")
        tokens = w.get("tokens")
        return [
            str(number),
            Text(safe_text(w["name"]) + (" ★" if w.get("promoted") else "") + worktree_mark(w), style="bold"),
            self.task_text(w["name"]),
            w.get("kind", ""),
            Text(state + (f" · {failure[0]}" if (failure := classify(w)) else ""), style=STATE_STYLE.get(state, "")),
            Text("⚠ " + safe_text(w["warnings"][-1])[:40], style="bold yellow") if w.get("warnings") else why(w),
            units.elapsed(w, now),
            units.age(w.get("last_output"), now),
            "-" if exit_code is None else str(exit_code),
            units.tokens(tokens),
            escalation_rate(w),
        ]

    def task_text(self, name: str) -> Text:
        """Its plan task, else who started it when that was an orchestrating agent."""
        if name in self.task_of:
            return Text(safe_text(self.task_of[name]), style="cyan")
        by = (self.roster.get(name) or {}).get("by")
        return Text(f"via {safe_text(by)}", style="magenta") if by in ORCHESTRATORS else Text("")

    def upsert(self, w: dict[str, Any]) -> None:
        name = w["name"]
        self.roster[name] = w
        number = list(self.roster).index(name) + 1
        cells = self.row_cells(number, w)
        if name in self.rows:
            for col, value in zip(COLUMNS, cells):
                self.update_cell(name, col, value, update_width=True)
        else:
            self.add_row(*cells, key=name)
            if self.task_rank:
                self._group()

    def tick(self) -> None:
        """Ages move on their own: refresh the time columns."""
        for number, (name, w) in enumerate(self.roster.items(), start=1):
            cells = self.row_cells(number, w)
            self.update_cell(name, "elapsed", cells[COLUMNS.index("elapsed")])
            self.update_cell(name, "output", cells[COLUMNS.index("output")])

    def set_plan(self, plan: dict[str, Any]) -> None:
        """Which task each worker runs (or verifies), and rows grouped by task in plan order."""
        task_of, rank = {}, {}
        for i, task in enumerate(plan.get("tasks") or []):
            for attempt in task.get("attempts") or []:
                task_of[attempt["worker"]], rank[attempt["worker"]] = task["id"], i
            if task.get("verify_worker"):
                task_of[task["verify_worker"]], rank[task["verify_worker"]] = f"{task['id']} ✓", i
        if (task_of, rank) == (self.task_of, self.task_rank):
            return
        self.task_of, self.task_rank = task_of, rank
        for name, w in self.roster.items():
            if name in self.rows:
                self.update_cell(name, "task", self.task_text(name), update_width=True)
        self._group()

    def _group(self) -> None:
        names = list(self.roster)
        self.sort("#", key=lambda number: (self.task_rank.get(names[int(number) - 1], -1), int(number)))

    def select_worker(self, name: str) -> None:
        if name in self.rows:
            self.move_cursor(row=self.get_row_index(name))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Chosen(str(event.row_key.value)))
