"""Where a plan's task runs. A task whose role writes (implementer) gets a git worktree of
its own (worktrees.py makes it) when the plan's directory is in a git repository and the
plan's `worktrees` is on; its retries and follow-up rounds go on in that worktree, and its
verify command runs there. A writer that comes after another writer starts from that
writer's branch, so it sees the work it builds on. A reader of a writer (a verifier or
reviewer that `fixes` it, or comes after it) runs in the writer's worktree; every other
task runs in the plan's directory.

The decision is made once per task and kept in the task's own record (`cwd`, and
`worktree` on the writer the rounds share), which the scheduler writes; this room writes
no file. It reaches worktrees through the small WorktreeMaker protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from .plan import Plan
from .requests import RequestError
from .task_runs import TaskRun
from .worktrees import NotARepository

WRITERS = ("implementer",)


class WorktreeMaker(Protocol):
    plan_users: Callable[[str], list[str]]  # the plan's open tasks that write in worktree NAME
    async def make(self, name: str, base: str | None, inside: Path, by: str, free: bool = False) -> dict[str, Any]: ...
    async def attach(self, worker: str, name: str) -> None: ...
    async def commit_pending(self, name: str, message: str, by: str) -> list[str]: ...
    def record(self, name: str) -> dict[str, Any] | None: ...


class TaskPlaces:
    def __init__(self, worktrees: WorktreeMaker | None, save: Callable[[TaskRun], None], runs: Callable[[], Mapping[str, TaskRun]]):
        self.worktrees = worktrees
        self.save = save
        self.runs = runs

    def users_of(self, name: str) -> list[str]:
        """The plan's tasks that write in worktree `name` and have not ended."""
        runs = self.runs()
        return [tr.id for tr in runs.values() if tr.open and runs.get(tr.task.follow_up_of or "", tr).worktree == name]

    def writes(self, plan: Plan, tr: TaskRun) -> bool:
        """Whether tr gets a worktree of its own: its role writes, and the plan's `worktrees`
        takes its agent ("agents": every agent but shell; "all"; "off")."""
        return tr.task.role in WRITERS and self.worktrees is not None and (plan.worktrees == "all" or plan.worktrees == "agents" and tr.task.agent != "shell")

    async def place(self, plan: Plan, tr: TaskRun, worker: str, plan_dir: str, reads: TaskRun | None) -> tuple[str, str]:
        """The directory of tr's next run (also kept as tr.cwd) and the words its envelope
        gets about it. `reads`: the writer a reader checks. RequestError when its worktree
        cannot be had (the task does not start)."""
        runs = self.runs()
        root = runs.get(tr.task.follow_up_of or "", tr)
        if tr.task.role in WRITERS:
            earlier = root.attempts[:-1] if root is tr else root.attempts
            if root.worktree is None and root.cwd is None and any(a.get("how") for a in earlier):
                root.worktree = ""  # a run of it began before tasks were placed: it goes on where it ran
            elif root.worktree and self._gone(root) == "merged":
                root.worktree = None  # merged and removed: a next round starts afresh from what it merged into
            if root.worktree is None:
                root.worktree = await self._make(plan, root, runs, plan_dir) if self.writes(plan, root) else ""
                self.save(root)
            tr.worktree = root.worktree
            rec = self._live(root) if root.worktree else None
            if rec is None:
                tr.cwd = plan_dir
                return tr.cwd, ""
            assert self.worktrees is not None
            await self.worktrees.attach(worker, root.worktree)
            tr.cwd = _inside(rec, plan_dir)
            before = self._writers_before(root, runs)
            return tr.cwd, _words(rec, self._others(before[1:]))
        writer = runs.get(reads.task.follow_up_of or "", reads) if reads is not None else None
        rec = self._live(writer) if writer is not None and writer.worktree and not self._gone(writer) else None
        tr.cwd = _inside(rec, plan_dir) if rec else plan_dir
        if rec is None:
            return tr.cwd, ""
        others = self._others([w for w in self._writers_before(tr, runs) if w is not writer])
        said = f"The worktree of {writer.id}, {rec['path']}, on branch {rec['branch']}: read its work there, and change nothing you were not asked to."
        return tr.cwd, said + (f" Other writers' branches before you, not in it: {', '.join(others)} (git diff HEAD...BRANCH shows one)." if others else "")

    async def settle(self, tr: TaskRun, report: dict[str, Any]) -> None:
        """A writer that finished: what it left uncommitted in its worktree is committed,
        with its report's first line (an agent's sandbox may keep it from committing)."""
        if tr.task.role in WRITERS and tr.worktree and self.worktrees is not None:
            head = str(report.get("headline") or "").strip() or f"{tr.id}: {tr.task.goal.splitlines()[0][:60]}"
            await self.worktrees.commit_pending(tr.worktree, f"{head[:72]}\n\nLeft uncommitted by {tr.worker} (plan task {tr.id}); committed by podium.", "plan")

    def _gone(self, root: TaskRun) -> str:
        """'' while root's worktree is there; 'merged' once it was merged and then removed."""
        assert self.worktrees is not None and root.worktree
        rec = self.worktrees.record(root.worktree)
        return "merged" if rec is not None and rec.get("removed") and rec.get("merged") else ""

    def _live(self, root: TaskRun) -> dict[str, Any]:
        """root's worktree record; RequestError when the person removed it meanwhile."""
        assert self.worktrees is not None and root.worktree
        rec = self.worktrees.record(root.worktree)
        if rec is None or rec.get("removed") or not Path(rec["path"]).exists():
            gone = rec["path"] if rec else root.worktree
            raise RequestError(f"the worktree {gone} that {root.id} writes in was removed before it was merged: its work is gone from there; skip this task, or run the plan again")
        return rec

    async def _make(self, plan: Plan, root: TaskRun, runs: Mapping[str, TaskRun], plan_dir: str) -> str:
        assert self.worktrees is not None
        before = self._writers_before(root, runs)
        base = plan.worktree_base
        if before:
            first = self.worktrees.record(before[0].worktree or "") or {}
            base = (first.get("merged") or {}).get("into") if self._gone(before[0]) else self._live(before[0])["branch"]
        try:
            rec = await self.worktrees.make(root.id, base, Path(plan_dir), "plan", free=True)
        except NotARepository:
            return ""  # (journaled by worktrees.py) it writes in the plan's directory
        return str(rec["name"])

    def _writers_before(self, tr: TaskRun, runs: Mapping[str, TaskRun]) -> list[TaskRun]:
        """The writers with worktrees tr comes after, nearest first (through readers between)."""
        found: list[TaskRun] = []
        seen: set[str] = set()
        todo = list(tr.task.after)
        while todo:
            tid = todo.pop(0)
            dep = runs.get(tid)
            if dep is None or tid in seen:
                continue
            seen.add(tid)
            root = runs.get(dep.task.follow_up_of or "", dep)
            if root.task.role in WRITERS and root.worktree:
                if root not in found:
                    found.append(root)
            else:
                todo.extend(dep.task.after)
        return found

    def _others(self, writers: list[TaskRun]) -> list[str]:
        """Their branches, but for those merged and removed (their work is in the target)."""
        assert self.worktrees is not None
        records = [self.worktrees.record(w.worktree or "") for w in writers]
        return [r["branch"] for r in records if r and not r.get("removed")]


def _inside(rec: dict[str, Any], plan_dir: str) -> str:
    """The plan's directory as it is in the worktree (a plan in a subdirectory of the
    repository runs in the same subdirectory of the writer's worktree)."""
    try:
        rel = Path(plan_dir).resolve().relative_to(Path(rec["repo"]).resolve())
    except ValueError:
        return str(rec["path"])
    return str(Path(rec["path"]) / rel)


def _words(rec: dict[str, Any], others: list[str]) -> str:
    text = (
        f"A git worktree of your own, {rec['path']}, on branch {rec['branch']} (from {rec['base']}). "
        f"Commit your work on this branch before you report (git add, git commit), if your sandbox lets you; "
        f"what you leave uncommitted podium commits when you finish. podium merges the branch. Do not switch branches."
    )
    if others:
        text += f" Earlier writers' branches not in yours: {', '.join(others)} (git merge them if you need their work)."
    return text


def plan_writers(snapshot: dict[str, Any]) -> list[str]:
    """The worktrees a plan's writers wrote in whose last round is done, in plan order (from
    `plan_show`): what `podium merge --plan` and the plan screen's merge queue take. A
    writer that failed, was skipped or still works is left out."""
    last: dict[str, str] = {}
    for task in snapshot.get("tasks", ()):
        if task.get("worktree"):
            last[task["worktree"]] = task["state"]  # (later rounds come after their source)
    return [name for name, state in last.items() if state == "done"]
