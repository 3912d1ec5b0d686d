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
    async def make(self, name: str, base: str | None, inside: Path, by: str, free: bool = False) -> dict[str, Any]: ...
    async def attach(self, worker: str, name: str) -> None: ...
    def record(self, name: str) -> dict[str, Any] | None: ...


class TaskPlaces:
    def __init__(self, worktrees: WorktreeMaker | None, save: Callable[[TaskRun], None]):
        self.worktrees = worktrees
        self.save = save

    async def place(self, plan: Plan, tr: TaskRun, worker: str, runs: Mapping[str, TaskRun], plan_dir: str, reads: TaskRun | None) -> tuple[str, str]:
        """The directory of tr's next run (also kept as tr.cwd) and, for a writer in a
        worktree, the words its envelope gets about it. `reads`: the writer a reader checks.
        RequestError when its worktree cannot be had (the task does not start)."""
        where = ""
        if tr.task.role in WRITERS:
            root = runs.get(tr.task.follow_up_of or "", tr)
            if root.worktree is None:
                root.worktree = await self._make(plan, root, runs, plan_dir) if plan.worktrees and self.worktrees else ""
                self.save(root)
            tr.worktree = root.worktree
            rec = self._live(root) if root.worktree else None
            if rec is not None:
                assert self.worktrees is not None
                await self.worktrees.attach(worker, root.worktree)
                where = _words(rec, self._others(root, runs))
        else:
            rec = self._live(runs.get(reads.task.follow_up_of or "", reads)) if reads is not None and reads.worktree else None
        tr.cwd = _inside(rec, plan_dir) if rec else plan_dir
        return tr.cwd, where

    def _live(self, root: TaskRun) -> dict[str, Any]:
        """root's worktree record; RequestError when the person removed it meanwhile."""
        assert self.worktrees is not None and root.worktree
        rec = self.worktrees.record(root.worktree)
        if rec is None or rec.get("removed") or not Path(rec["path"]).exists():
            gone = rec["path"] if rec else root.worktree
            raise RequestError(f"the worktree {gone} that {root.id} writes in was removed: its work is gone from there; skip this task, or run the plan again")
        return rec

    async def _make(self, plan: Plan, root: TaskRun, runs: Mapping[str, TaskRun], plan_dir: str) -> str:
        assert self.worktrees is not None
        before = self._writers_before(root, runs)
        base = self._live(before[0])["branch"] if before else plan.worktree_base
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

    def _others(self, root: TaskRun, runs: Mapping[str, TaskRun]) -> list[str]:
        """Branches of earlier writers that root's branch did not start from."""
        assert self.worktrees is not None
        branches = []
        for w in self._writers_before(root, runs)[1:]:
            rec = self.worktrees.record(w.worktree or "")
            if rec:
                branches.append(rec["branch"])
        return branches


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
        f"Commit your work on this branch before you report (git add, git commit): podium merges the branch, "
        f"and uncommitted changes are not merged. Do not switch branches."
    )
    if others:
        text += f" Earlier writers' branches not in yours: {', '.join(others)} (git merge them if you need their work)."
    return text


def plan_writers(snapshot: dict[str, Any]) -> list[str]:
    """The worktrees a plan's writers wrote in, in plan order (from `plan_show`): what
    `podium merge --plan` and the plan screen's merge queue take."""
    names: list[str] = []
    for task in snapshot.get("tasks", ()):
        if task.get("worktree") and task["worktree"] not in names:
            names.append(task["worktree"])
    return names
