"""What the scheduler knows of each task while a plan runs, and how it keeps it: a
`TaskRun` per task (its state and why, its worker, its attempts, its verification, the
follow-up that took over), written to `.podium/tasks/<id>/` (the task as it will run in
`task.toml`, its state in `state.toml`, the prompt in `envelope.md`), read back after a
restart. The scheduler is the only writer of these files.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .plan import Context, Task
from .states import TASK_OPEN, TaskState
from .units import compact


@dataclass
class TaskRun:
    task: Task
    state: TaskState = TaskState.PENDING
    reason: str = "waiting for the plan to start"
    worker: str | None = None  # the worker of the current attempt
    verify_worker: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)  # {worker, started, ended, state, reason}
    started: str | None = None
    ended: str | None = None
    superseded_by: str | None = None
    stale: bool = False
    cap_hit: bool = False  # its time cap interrupted it
    envelope_edited: bool = False
    verified: dict[str, Any] | None = None  # {command, worker, exit_code, ok}
    error: dict[str, Any] | None = None  # the last failure: {class, evidence, worker, attempt, at}
    retry_at: float | None = None  # a retry waits until then (seconds since 1970): the backoff
    dead_letter: str | None = None  # its letter in .podium/dead-letters/, once it failed past its retries
    hold: str | None = None  # why podium holds it back until the person answers (its budget ran out)
    resume_from: str | None = None  # the next attempt continues this worker's conversation
    digest: str | None = None  # the next attempt starts fresh, told this of the attempts before
    watch_step: int = 0  # the watchdog's steps taken (over every attempt of the task)
    watch_at: float | None = None  # when the watchdog last acted (seconds since 1970)
    checkpoints: int = 0  # fresh sessions it was given at a checkpoint
    checkpointing: str | None = None  # its worker is being stopped for checkpoint N's digest (the worker that writes it, once started)
    cwd: str | None = None  # where its runs and its verify command run (task_places.py decides, once)
    worktree: str | None = None  # the git worktree it writes in (a writer's own, shared by its follow-up rounds)

    @property
    def id(self) -> str:
        return self.task.id

    @property
    def open(self) -> bool:
        return self.state in TASK_OPEN

    def set(self, state: TaskState, reason: str) -> None:
        self.state, self.reason = state, reason

    def state_record(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "reason": self.reason,
            "worker": self.worker,
            "verify_worker": self.verify_worker,
            "attempts": self.attempts,
            "started": self.started,
            "ended": self.ended,
            "superseded_by": self.superseded_by,
            "stale": self.stale,
            "cap_hit": self.cap_hit,
            "envelope_edited": self.envelope_edited,
            "verified": self.verified,
            "error": self.error,
            "retry_at": self.retry_at,
            "dead_letter": self.dead_letter,
            **{k: getattr(self, k) for k, _ in LATER_FIELDS},
        }

    def public(self) -> dict[str, Any]:
        return {**self.task.public(), **self.state_record(), "state": str(self.state)}


# Fields read back only when the file has them with the right type.
LATER_FIELDS: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("hold", str),
    ("resume_from", str),
    ("digest", str),
    ("watch_step", int),
    ("watch_at", (int, float)),
    ("checkpoints", int),
    ("checkpointing", str),
    ("cwd", str),
    ("worktree", str),
)


def task_record(task: Task) -> dict[str, Any]:
    """The task as it runs (a plan's task after defaults, or a follow-up podium made)."""
    out = task.public()
    out["line"] = task.line
    out["findings"] = task.findings
    out["context"] = {"non_goals": task.context.non_goals, "constraints": task.context.constraints, "pointers": task.context.pointers, "success": task.context.success}
    return out


def task_from(record: dict[str, Any]) -> Task:
    ctx = record.get("context") or {}
    return Task(
        id=str(record["id"]),
        goal=str(record.get("goal", "")),
        role=str(record.get("role", "implementer")),
        agent=str(record.get("agent", "codex-exec")),
        command=record.get("command"),
        after=list(record.get("after", [])),
        done=str(record.get("done", "")),
        verify=record.get("verify"),
        touches=list(record.get("touches", [])),
        time_cap=float(record.get("time_cap", 1800.0)),
        retries=int(record.get("retries", 0)),
        flags=list(record.get("flags", [])),
        fixes=record.get("fixes"),
        budget_tokens=record.get("budget_tokens"),
        budget_usd=record.get("budget_usd"),
        context=Context(ctx.get("non_goals", ""), ctx.get("constraints", ""), list(ctx.get("pointers", [])), ctx.get("success", "")),
        line=int(record.get("line", 0)),
        follow_up_of=record.get("follow_up_of"),
        round=int(record.get("round", 1)),
        findings=str(record.get("findings", "")),
    )


def load_runs(directory: Path, order: list[str]) -> tuple[dict[str, TaskRun], list[str]]:
    """The task runs a supervisor left, in plan order, and a problem for each unreadable one."""
    runs: dict[str, TaskRun] = {}
    problems = []
    for tid in order:
        try:
            task = task_from(tomllib.loads((directory / tid / "task.toml").read_text("utf-8")))
            state = tomllib.loads((directory / tid / "state.toml").read_text("utf-8"))
        except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{directory / tid}: {exc}")
            continue
        run = TaskRun(task)
        run.state = TaskState(state.get("state", "pending"))
        run.reason = str(state.get("reason", ""))
        run.worker = state.get("worker")
        run.verify_worker = state.get("verify_worker")
        run.attempts = list(state.get("attempts", []))
        run.started, run.ended = state.get("started"), state.get("ended")
        run.superseded_by = state.get("superseded_by")
        run.stale = bool(state.get("stale", False))
        run.cap_hit = bool(state.get("cap_hit", False))
        run.envelope_edited = bool(state.get("envelope_edited", False))
        run.error = state.get("error") if isinstance(state.get("error"), dict) else None
        run.retry_at = float(state["retry_at"]) if isinstance(state.get("retry_at"), (int, float)) else None
        run.dead_letter = state.get("dead_letter") if isinstance(state.get("dead_letter"), str) else None
        run.verified = state.get("verified")
        for key, kinds in LATER_FIELDS:  # (a file from before a field existed has the default)
            if isinstance(state.get(key), kinds) and not isinstance(state.get(key), bool):
                setattr(run, key, state[key])
        runs[tid] = run
    return runs, problems


# -- a task as people read it (the plan screen, `podium plan show`, the heartbeat log) ----------------
ERROR_SHOWN = ("failed", "timed-out", "needs-review", "blocked", "queued")  # states shown with their last error's class (queued: a retry)
def verify_text(task: dict[str, Any]) -> str:
    """'-' (no verify command), 'not yet', 'running', '✓' or '✗ exit 2'."""
    if not task.get("verify"):
        return "-"
    if task["state"] == TaskState.VERIFYING:
        return "running"
    verified = task.get("verified")
    if not verified:
        return "not yet"
    return "✓" if verified.get("ok") else f"✗ exit {verified.get('exit_code')}"


def signals(task: dict[str, Any], now: float | None = None) -> str:
    """What podium sees of a task beyond its state and verification: its worker's state,
    staleness, the time cap (and, given `now`, how long until it falls), attempts, rounds
    and an edited envelope, as one short line."""
    out = []
    ws = task.get("worker_state")
    if ws and task["state"] in (TaskState.STARTING, TaskState.RUNNING, TaskState.VERIFYING) and ws != "running":
        out.append(f"worker {ws}")
    if task.get("stale"):
        out.append("stale")
    if task.get("cap_hit"):
        out.append("time cap hit")
    elif task.get("cap_at") and now is not None:
        out.append(f"cap in {compact(task['cap_at'] - now)}")
    if task.get("retry_at") and now is not None and task["retry_at"] > now:
        out.append(f"retry in {compact(task['retry_at'] - now)}")
    attempts = len(task.get("attempts") or [])
    if attempts > 1:
        out.append(f"attempt {attempts}")
    if task.get("round", 1) > 1:
        out.append(f"round {task['round']}")
    if task.get("envelope_edited"):
        out.append("envelope edited")
    if task.get("hold"):
        out.append(f"held: {task['hold']}")
    if task.get("watch_step"):
        out.append(f"watchdog step {task['watch_step']}")
    if task.get("checkpoints") or task.get("checkpointing"):
        out.append(f"checkpoint {task['checkpoints'] + (1 if task.get('checkpointing') else 0)}{' (digest)' if task.get('checkpointing') else ''}")
    if task.get("dead_letter"):
        out.append("☠ dead letter")
    return " · ".join(out)
