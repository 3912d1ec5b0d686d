"""The words every room shares, named once: a worker's states, and an escalation's states,
tiers and sources. The supervisor, the app and the command line all ask "is it still
going?" or "did it fail?" and must agree (a state missing from one copy was a bug once).

They are `StrEnum`s: each member is its own string, so JSON, TOML and comparisons with
plain strings read from the wire all work unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class WorkerState(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    LOST = "lost"
    BLOCKED = "blocked"
    NEEDS_REVIEW = "needs-review"


ACTIVE = frozenset({WorkerState.STARTING, WorkerState.RUNNING, WorkerState.PAUSED, WorkerState.WAITING})
ENDED = frozenset(
    {
        WorkerState.DONE,
        WorkerState.FAILED,
        WorkerState.INTERRUPTED,
        WorkerState.LOST,
        WorkerState.BLOCKED,
        WorkerState.NEEDS_REVIEW,
    }
)
# How the status bar and the summary lines group the states (each state in one group, so
# the counts add up and name the same thing the worker list shows).
GROUPS: dict[str, tuple[WorkerState, ...]] = {
    "running": (WorkerState.QUEUED, WorkerState.STARTING, WorkerState.RUNNING),
    "waiting": (WorkerState.WAITING, WorkerState.PAUSED),
    "done": (WorkerState.DONE,),
    "to review": (WorkerState.BLOCKED, WorkerState.NEEDS_REVIEW),
    "interrupted": (WorkerState.INTERRUPTED,),
    "failed": (WorkerState.FAILED, WorkerState.LOST),
}


class Tier(StrEnum):
    """What an escalation asks of the person: nothing (logged), a look, or an answer."""

    AUTONOMOUS = "autonomous"
    NOTIFY = "notify"
    GATE = "gate"


class Source(StrEnum):
    """Where an escalation came from."""

    SCREEN = "screen"  # a prompt recognised on a worker's rendered screen
    CARD = "card"  # a decision card in decisions/pending/
    PODIUM = "podium"  # podium's own triggers, scripts, an orchestrator
    HOOK = "hook"  # an agent's own PermissionRequest hook, answered as the hook's decision


class EscalationState(StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"  # the answer was sent; waiting to see the prompt leave
    RESOLVED = "resolved"
    EXPIRED = "expired"
    MALFORMED = "malformed"  # a card that cannot be read; never answered


OPEN_ESCALATIONS = frozenset({EscalationState.PENDING, EscalationState.ANSWERED})


class TaskState(StrEnum):
    """A plan task's state (its worker has its own; a task also waits, verifies, follows up)."""

    PENDING = "pending"  # an `after` task has not ended yet
    QUEUED = "queued"  # ready; waits for a slot, for overlapping touches, or for the plan to run
    STARTING = "starting"
    RUNNING = "running"
    VERIFYING = "verifying"  # its worker is done; the verify command runs
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed-out"
    NEEDS_REVIEW = "needs-review"  # the signals or the report do not say done
    BLOCKED = "blocked"  # its report says blocked, or a task it comes after did not succeed
    SKIPPED = "skipped"  # the person skipped it (counts as satisfied for what comes after)
    STOPPED = "stopped"  # the plan was stopped before or while it ran
    SUPERSEDED = "superseded"  # a follow-up round took over


TASK_OPEN = frozenset({TaskState.PENDING, TaskState.QUEUED, TaskState.STARTING, TaskState.RUNNING, TaskState.VERIFYING})
TASK_WORKING = frozenset({TaskState.STARTING, TaskState.RUNNING, TaskState.VERIFYING})  # takes a slot
TASK_SATISFIED = frozenset({TaskState.DONE, TaskState.SKIPPED})  # what comes after may start


class PlanState(StrEnum):
    NONE = "none"  # no plan has run in this workspace
    RUNNING = "running"
    PAUSED = "paused"  # running tasks go on; nothing new starts
    STOPPED = "stopped"
    COMPLETE = "complete"  # every task ended
