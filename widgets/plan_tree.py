"""PlanTree: a plan's tasks as a tree read top to bottom the way the plan runs. The plan is
the root; its children are the DAG's stages (a task stands one stage after the last task
it comes after), each task a node with its state, elapsed time, worker, signals and the
next thing podium will do about it; a follow-up round hangs under the task it took over,
so a task's history reads downwards. Updating relabels nodes in place (the cursor stays
where the person put it); a changed shape is rebuilt around the same selected task."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from podium.sessions import units
from podium.sessions.task_runs import ERROR_SHOWN, signals, verify_text
from podium.sessions.text import safe_text

TASK_STYLE = {
    "pending": ("○", "dim"),
    "queued": ("◌", ""),
    "starting": ("◐", "cyan"),
    "running": ("●", "bold green"),
    "verifying": ("◑", "bold cyan"),
    "done": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "timed-out": ("⌛", "bold red"),
    "needs-review": ("?", "bold magenta"),
    "blocked": ("⊘", "magenta"),
    "skipped": ("↷", "dim"),
    "stopped": ("■", "yellow"),
    "superseded": ("↳", "dim"),
}
PLAN_STYLE = {"running": "bold green", "paused": "yellow", "stopped": "yellow", "complete": "green", "none": "dim"}


def stages(tasks: list[dict[str, Any]]) -> dict[str, int]:
    """Each task's stage: 1 for a task that comes after none, else one more than the
    latest stage among the tasks it comes after (the plan is checked acyclic)."""
    after = {t["id"]: [a for a in t.get("after", [])] for t in tasks}
    stage: dict[str, int] = {}

    def of(tid: str, seen: frozenset[str] = frozenset()) -> int:
        if tid not in stage:
            deps = [d for d in after.get(tid, []) if d in after and d not in seen]
            stage[tid] = 1 + max((of(d, seen | {tid}) for d in deps), default=0)
        return stage[tid]

    for t in tasks:
        of(t["id"])
    return stage


def task_label(task: dict[str, Any], now: datetime) -> Text:
    glyph, style = TASK_STYLE.get(task["state"], ("·", ""))
    t = Text()
    t.append(f"{glyph} ", style=style)
    t.append(safe_text(task["id"]), style="bold")
    t.append(f"  {task['role']}", style="dim")
    t.append(f"  {task['state']}", style=style)
    if task.get("error") and task["state"] in ERROR_SHOWN:
        t.append(f" ({task['error']['class']})", style=style)
    if task.get("started"):
        t.append(f"  {units.elapsed(task, now)}", style="cyan")
    if task.get("worker"):
        t.append(f"  {safe_text(task['worker'])}", style="")
    verify = verify_text(task)
    if verify not in ("-", "not yet"):
        t.append(f"  verify {verify}", style="green" if verify == "✓" else "red" if verify.startswith("✗") else "cyan")
    seen = signals(task, now.timestamp())
    if seen:
        t.append(f"  {seen}", style="yellow")
    nxt = task.get("next") or "-"
    if nxt != "-":
        t.append(f"  → {safe_text(nxt)}", style="dim italic")
    return t


class PlanTree(Tree[str]):
    DEFAULT_CSS = """
    PlanTree {
        height: 1fr;
        border: round $panel-lighten-2;
        padding: 0 1;
    }
    PlanTree:focus {
        border: round $primary;
    }
    """

    def __init__(self, clock: Callable[[], datetime] | None = None, **kw: Any):
        super().__init__("plan", **kw)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.show_root = True
        self.guide_depth = 3
        self.plan: dict[str, Any] = {"state": "none", "tasks": []}
        self.tasks: dict[str, dict[str, Any]] = {}
        self._task_nodes: dict[str, TreeNode[str]] = {}
        self._shape: list[tuple[str, str]] = []

    def selected_task(self) -> dict[str, Any] | None:
        node = self.cursor_node
        return self.tasks.get(node.data) if node is not None and node.data else None

    def show(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        tasks = plan.get("tasks") or []
        self.tasks = {t["id"]: t for t in tasks}
        now = self.clock()
        self.root.set_label(self.root_label(plan))
        shape = self.shape_of(tasks)
        if shape == self._shape:
            for t in tasks:
                self._task_nodes[t["id"]].set_label(task_label(t, now))
            return
        chosen = self.cursor_node.data if self.cursor_node is not None else None
        self._shape = shape
        self.root.remove_children()
        self._task_nodes = {}
        stage_of = stages([t for t in tasks if not t.get("follow_up_of")])
        stage_nodes: dict[int, TreeNode[str]] = {}
        for t in tasks:
            parent = self._parent_of(t, stage_of, stage_nodes)
            self._task_nodes[t["id"]] = parent.add(task_label(t, now), data=t["id"], expand=True, allow_expand=False)
        self.root.expand_all()
        target = self._task_nodes.get(chosen or "") or next(iter(self._task_nodes.values()), None)
        if target is not None:
            self.call_after_refresh(self.move_cursor, target)  # once the new lines exist

    def _parent_of(self, t: dict[str, Any], stage_of: dict[str, int], stage_nodes: dict[int, TreeNode[str]]) -> TreeNode[str]:
        """A follow-up hangs under the task it took over; every other task under its stage."""
        source = self._took_over(t)
        if source is not None and source in self._task_nodes:
            return self._task_nodes[source]
        n = stage_of.get(t["id"], 1)
        if n not in stage_nodes:
            label = Text(f"stage {n}", style="bold") + Text("  after " + ", ".join(sorted({a for x in self.tasks.values() if stage_of.get(x["id"]) == n for a in x.get("after", [])})) if n > 1 else "  first", style="dim")
            stage_nodes[n] = self.root.add(label, data="", expand=True)
        return stage_nodes[n]

    def _took_over(self, t: dict[str, Any]) -> str | None:
        for other in self.tasks.values():
            if other.get("superseded_by") == t["id"]:
                return str(other["id"])
        return None

    def shape_of(self, tasks: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(t["id"], ",".join(t.get("after", [])) + "|" + str(t.get("superseded_by") or "")) for t in tasks]

    def root_label(self, plan: dict[str, Any]) -> Text:
        state = plan.get("state", "none")
        t = Text()
        t.append(safe_text(plan.get("title") or "no plan"), style="bold")
        t.append(f"  {state}", style=PLAN_STYLE.get(state, ""))
        counts = plan.get("counts") or {}
        if counts:
            t.append("  " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), style="dim")
        breaker = plan.get("circuit") or {}
        if breaker.get("state") in ("open", "half-open"):
            t.append(f"  ⚡ breaker {breaker['state']} ({breaker.get('count')} × {breaker.get('class')})", style="bold red")
        if plan.get("max_parallel"):
            t.append(f"  · at most {plan['max_parallel']} at once", style="dim")
        return t

    def tick(self) -> None:
        """Elapsed times and time caps move on their own."""
        now = self.clock()
        for tid, node in self._task_nodes.items():
            task = self.tasks.get(tid)
            if task is not None and task["state"] in ("starting", "running", "verifying"):
                node.set_label(task_label(task, now))
