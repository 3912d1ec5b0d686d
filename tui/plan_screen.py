"""The plan screen (`P`): the plan's tasks as a tree of stages with state, elapsed time,
signals and podium's next action, the selected task's details beside it, and the keys
that steer the plan: start / pause / resume it, stop it, run a task now, skip, retry,
edit a task's envelope before it starts, open a task's worker pane, a heartbeat now,
promote the done tasks' reports in plan order, merge the writers' worktree branches in
plan order once the plan has ended (a merge queue), a new plan from a preset.

While no plan runs it shows the plan file (`.podium/plan.toml`) as it would run, or the
file's problems, line by line; nothing starts until the person presses `s`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static, TextArea, Tree

from podium.sessions.client import NotRunning, RequestFailed
from podium.sessions.plan import AGENTS, PlanError, load_plan
from podium.sessions.presets import PATTERNS, preset
from podium.sessions.task_places import plan_writers
from podium.sessions.text import safe_text
from podium.widgets.plan_tree import PlanTree

from .editor import edit_text
from .link import HeartbeatWritten, PlanChanged, PlanComplete, SupervisorLink
from .merge_flow import merge_queue
from .screens import ConfirmScreen

LIVE = ("running", "paused")


def preview(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The plan file as a plan snapshot nothing has run yet, or its problems."""
    if not path.exists():
        return {"state": "none", "title": "no plan yet", "tasks": []}, [f"{path} does not exist: n writes one from a preset (or podium plan new)"]
    try:
        plan = load_plan(path)
    except PlanError as exc:
        return {"state": "none", "title": f"{path.name} has problems", "tasks": []}, list(exc.problems)
    tasks = []
    for t in plan.tasks.values():
        after = ", ".join(t.after)
        tasks.append({**t.public(), "state": "pending", "reason": "the plan has not started", "next": f"start when {after} done" if after else "start when the plan runs", "attempts": [], "worker": None, "started": None, "ended": None})
    return {**plan.public(), "state": "none", "tasks": tasks, "counts": {"pending": len(tasks)}}, []


class PlanScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="plan.back"),
        Binding("s", "start_pause", "Start/pause", id="plan.start", tooltip="Start the plan file; pause a running plan (nothing new starts); resume a paused one"),
        Binding("S", "stop", "Stop", id="plan.stop", tooltip="Stop the plan and its running workers (asks first)"),
        Binding("r", "run_now", "Run now", id="plan.run-now", tooltip="Start the selected task now, past the parallel cap (its `after` must be done)"),
        Binding("k", "skip", "Skip", id="plan.skip", tooltip="Skip the selected task (what comes after it may start)"),
        Binding("R", "retry", "Retry", id="plan.retry", tooltip="Run the selected ended task again"),
        Binding("e", "envelope", "Envelope", id="plan.envelope", tooltip="Edit the selected task's envelope (the prompt it will be sent) in $EDITOR, before it starts"),
        Binding("enter", "open_worker", "Worker", id="plan.open", tooltip="Open the selected task's worker pane on the dashboard"),
        Binding("h", "heartbeat", "Heartbeat", id="plan.heartbeat", tooltip="Look at every task now (an entry in .podium/heartbeat.log)"),
        Binding("p", "promote", "Promote", id="plan.promote", tooltip="Put every done task's final report into the result, in plan order"),
        Binding("m", "merge", "Merge", id="plan.merge", tooltip="Merge the writers' worktree branches in plan order (a merge queue: checked first, asked first)"),
        Binding("n", "new_plan", "New plan", id="plan.new", tooltip="Write .podium/plan.toml from a pattern preset (A–F); nothing starts"),
        Binding("E", "edit_plan", "Edit plan", id="plan.edit", tooltip="Edit the plan file in $EDITOR (a running plan takes changes to tasks not started)"),
    ]

    def __init__(self, link: SupervisorLink, plan_file: Path, open_worker: Callable[[str], None]):
        super().__init__()
        self.link = link
        self.plan_file = plan_file
        self.open_worker = open_worker
        self.problems: list[str] = []

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield PlanTree(id="plan-tree")
            with VerticalScroll(id="plan-detail-box"):
                yield Static(id="plan-detail")
        yield Static(id="plan-problems")
        yield Footer()

    @property
    def tree(self) -> PlanTree:
        return self.query_one(PlanTree)

    def on_mount(self) -> None:
        self.refresh_plan()
        self.tree.focus()
        self.set_interval(1.0, self.tree.tick)

    @property
    def live(self) -> bool:
        return self.link.plan.get("state") in LIVE

    def refresh_plan(self) -> None:
        """The running plan from the supervisor, else the plan file as it would run."""
        plan = self.link.plan
        if plan.get("state", "none") == "none":
            plan, self.problems = preview(self.plan_file)
        else:
            self.problems = list(plan.get("problems") or [])
        self.tree.show(plan)
        box = self.query_one("#plan-problems", Static)
        box.display = bool(self.problems)
        box.update(Text("\n".join(f"⚠ {safe_text(p)}" for p in self.problems), style="bold yellow"))
        self.show_detail()
        self.refresh_bindings()

    @on(PlanChanged)
    def plan_changed(self) -> None:
        self.refresh_plan()

    @on(PlanComplete)
    def plan_complete(self, event: PlanComplete) -> None:
        if not any(t["state"] == "done" for t in self.link.plan.get("tasks") or []):
            return  # nothing to promote
        def chosen(yes: bool | None) -> None:
            if yes:
                self.action_promote()

        self.app.push_screen(ConfirmScreen(f"Plan {event.title!r} {event.state}: {event.summary}. Promote the done tasks' reports into the result, in plan order?" + (" (Then m merges its writers' branches.)" if plan_writers(self.link.plan) else "")), chosen)

    @on(HeartbeatWritten)
    def heartbeat_written(self, event: HeartbeatWritten) -> None:
        self.notify(f"heartbeat {event.at[11:19]} written to .podium/heartbeat.log", timeout=3)

    @on(Tree.NodeHighlighted)
    def show_detail(self) -> None:
        self.query_one("#plan-detail", Static).update(detail(self.tree.selected_task(), self.tree.plan))

    # -- what a key may do now ------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        task = self.tree.selected_task()
        state = task["state"] if task else None
        if action == "stop":
            return True if self.live else None
        if action in ("run_now", "skip", "retry", "envelope", "heartbeat") and not self.live and self.link.plan.get("state") != "complete":
            return None  # nothing runs: these act on a running plan's tasks
        if action == "run_now":
            return True if state in ("pending", "queued") else None
        if action == "envelope":
            return True if state in ("pending", "queued") else None
        if action == "skip":
            return True if state and state not in ("starting", "running", "verifying", "done", "skipped", "superseded") else None
        if action == "retry":
            return True if state in ("failed", "timed-out", "needs-review", "blocked", "stopped", "skipped", "done") else None
        if action == "open_worker":
            return True if task and task.get("worker") else None
        if action == "promote":
            return True if any(t["state"] == "done" for t in self.link.plan.get("tasks") or []) else None
        if action == "merge":
            return True if plan_writers(self.link.plan) and not self.live else None
        return True

    # -- the plan ------------------------------------------------------------------------------------
    def action_start_pause(self) -> None:
        state = self.link.plan.get("state")
        if state == "running":
            self.link.request("plan_pause")
        elif state == "paused":
            self.link.request("plan_resume")
        elif self.problems:
            self.notify(f"{self.plan_file.name} has problems; nothing started (E edits it)", severity="error", timeout=6)
        else:
            self.link.request("plan_run", path=str(self.plan_file), env=dict(os.environ), on_done=lambda plan: self.notify(f"plan {plan['title']!r} started", timeout=3))

    def action_stop(self) -> None:
        running = [t["id"] for t in self.link.plan.get("tasks") or [] if t["state"] in ("starting", "running", "verifying")]

        def chosen(yes: bool | None) -> None:
            if yes:
                self.link.request("plan_stop")

        self.app.push_screen(ConfirmScreen(f"Stop the plan? {len(running)} running task(s) ({', '.join(running) or 'none'}) will be stopped."), chosen)

    def action_heartbeat(self) -> None:
        self.link.request("plan_heartbeat")

    def action_promote(self) -> None:
        def done(out: dict[str, Any]) -> None:
            said = f"promoted {', '.join(out['promoted']) or 'nothing'}"
            if out["skipped"]:
                said += f"; not: {'; '.join(out['skipped'])}"
            self.notify(said, title="result", timeout=6)

        self.link.request("plan_promote", on_done=done)

    def action_merge(self) -> None:
        self.run_worker(merge_queue(self, self.link, plan_writers(self.link.plan)), group="merge", exclusive=True)

    def action_new_plan(self) -> None:
        def chosen(text: str | None) -> None:
            if text is None:
                return
            if self.plan_file.exists():
                self.app.push_screen(ConfirmScreen(f"Overwrite {self.plan_file}?"), lambda yes: self._write_plan(text) if yes else None)
            else:
                self._write_plan(text)

        self.app.push_screen(NewPlanScreen(), chosen)

    def _write_plan(self, text: str) -> None:
        self.plan_file.parent.mkdir(parents=True, exist_ok=True)
        self.plan_file.write_text(text, "utf-8")
        self.notify(f"wrote {self.plan_file}: look it over (E edits it), then s starts it", timeout=6)
        self.refresh_plan()

    def action_edit_plan(self) -> None:
        path = Path(self.link.plan["path"]) if self.live and self.link.plan.get("path") else self.plan_file
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            text = ""
        new = edit_text(self.app, text, suffix=".toml", prefix="podium-plan-")
        if new is not None and new != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(new, "utf-8")
            self.notify(f"saved {path}" + (": the running plan takes what it can within a second" if self.live else ""), timeout=4)
        self.refresh_plan()

    # -- the selected task -------------------------------------------------------------------------------
    def _selected_id(self) -> str | None:
        task = self.tree.selected_task()
        return task["id"] if task else None

    def action_run_now(self) -> None:
        if tid := self._selected_id():
            self.link.request("task_run_now", task=tid)

    def action_skip(self) -> None:
        if tid := self._selected_id():
            self.link.request("task_skip", task=tid)

    def action_retry(self) -> None:
        if tid := self._selected_id():
            self.link.request("task_retry", task=tid)

    @on(Tree.NodeSelected)
    def node_chosen(self, event: Tree.NodeSelected[str]) -> None:
        """enter (or a click) on a task: the tree takes the key first."""
        if event.node.data and self.check_action("open_worker", ()):
            self.action_open_worker()

    def action_open_worker(self) -> None:
        task = self.tree.selected_task()
        if task and task.get("worker"):
            name = task["verify_worker"] if task["state"] == "verifying" and task.get("verify_worker") else task["worker"]
            self.app.pop_screen()
            self.open_worker(name)

    def action_envelope(self) -> None:
        tid = self._selected_id()
        if tid:
            self.run_worker(self._edit_envelope(tid), group="envelope", exit_on_error=False)

    async def _edit_envelope(self, tid: str) -> None:
        try:
            current = await self.link.ask("task_envelope", task=tid)
        except (RequestFailed, NotRunning) as exc:
            self.notify(str(exc), severity="error", timeout=6)
            return
        new = edit_text(self.app, current["text"], prefix=f"podium-envelope-{tid}-")
        if new is not None and new != current["text"]:
            self.link.request("task_envelope", task=tid, text=new, on_done=lambda _: self.notify(f"{tid}: envelope saved; it is sent as edited", timeout=4))


def detail(task: dict[str, Any] | None, plan: dict[str, Any]) -> RenderableType:
    """The selected task in full (or the plan's scope when the root is selected)."""
    if task is None:
        t = Text()
        t.append(safe_text(plan.get("title") or "no plan") + "\n", style="bold")
        t.append(safe_text(plan.get("scope") or "") + "\n", style="")
        if plan.get("path"):
            t.append(f"\n{plan['path']}", style="dim")
        return t
    t = Text()
    t.append(f"{task['id']}", style="bold")
    command = (task.get("command") or "").strip().splitlines()
    t.append(f"  {task['role']} · {task['agent']}" + (f": {command[0]}" + (" …" if len(command) > 1 else "") if command else "") + "\n", style="dim")
    t.append(f"{task['state']}: ", style="bold")
    t.append(safe_text(task.get("reason") or "") + "\n")
    if task.get("error"):
        t.append(f"last error ({task['error']['class']}): ", style="bold red")
        t.append(safe_text(str(task["error"].get("evidence", "")))[:400] + "\n")
    t.append("next: ", style="dim")
    t.append(safe_text(task.get("next") or "-") + "\n\n")
    t.append("Goal\n", style="bold underline")
    t.append(safe_text(task["goal"]) + "\n")
    for key, label in (("done", "Done when"), ("verify", "Verify"), ("after", "After"), ("touches", "Touches"), ("fixes", "Fixes")):
        value = task.get(key)
        if value:
            t.append(f"\n{label}: ", style="bold")
            t.append(safe_text(", ".join(value) if isinstance(value, list) else str(value)))
    t.append(f"\nTime cap: {int(task['time_cap'] // 60)} min · retries {task['retries']}", style="dim")
    if task.get("worktree"):
        t.append(f"\nWrites in worktree {task['worktree']} (branch podium/{task['worktree']}): {task.get('cwd') or ''}", style="dim")
    elif task.get("cwd"):
        t.append(f"\nRuns in {task['cwd']}", style="dim")
    attempts = task.get("attempts") or []
    parts: list[RenderableType] = [t]
    if attempts:
        a = Text()
        a.append("\n\nAttempts\n", style="bold underline")
        for i, at in enumerate(attempts, 1):
            a.append(f"  {i}. {at['worker']}  {at.get('state', 'running')}  {safe_text(at.get('reason', ''))}\n")
            if at.get("how") and i > 1:  # a later run: how it carried on from the one before
                a.append(f"     {safe_text(at['how'])}\n", style="dim")
        parts.append(a)
    if task.get("findings"):
        parts.append(Text("\nFindings given to it\n", style="bold underline") + Text(safe_text(task["findings"][:2000])))
    if task.get("worker"):
        parts.append(Text(f"\nenter opens {task['worker']} · the prompt it was sent: .podium/tasks/{task['id']}/envelope.md", style="dim"))
    return Group(*parts)


class NewPlanScreen(ModalScreen[str | None]):
    """n on the plan screen: a pattern, the agent, how many, and the work scope → plan text."""

    AUTO_FOCUS = "#scope"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="new-plan.cancel"), Binding("ctrl+s", "write", "Write", id="new-plan.write")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("New plan from a preset  (ctrl+s writes it, esc cancels; nothing starts)", style="bold"))
            yield Label("Pattern")
            yield Select([(f"{p.letter}  {p.title}: {p.about}", p.name) for p in PATTERNS.values()], value="review-fix", allow_blank=False, id="pattern")
            yield Label("Agent")
            yield Select([(a, a) for a in AGENTS if a != "shell"], value="codex-exec", allow_blank=False, id="agent")
            yield Label("Workers (2–4, for patterns with several)")
            yield Input(value="", placeholder="the pattern's default", id="n")
            yield Label("Work scope")
            yield TextArea(id="scope")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Write (ctrl+s)", id="write", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#write")
    def write_pressed(self) -> None:
        self.action_write()

    def action_write(self) -> None:
        scope = self.query_one("#scope", TextArea).text.strip()
        n_text = self.query_one("#n", Input).value.strip()
        error = self.query_one("#error", Static)
        if not scope:
            error.update("Work scope: say what to do and where (it goes into every task's envelope).")
            return
        if n_text and not n_text.isdigit():
            error.update("Workers: a number from 2 to 4, or empty for the pattern's default.")
            return
        try:
            text = preset(str(self.query_one("#pattern", Select).value), scope, agent=str(self.query_one("#agent", Select).value), n=int(n_text) if n_text else None)
        except ValueError as exc:
            error.update(str(exc))
            return
        self.dismiss(text)
