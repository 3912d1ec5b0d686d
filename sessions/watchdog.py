"""The stall watchdog: what podium does about a task whose worker went quiet. The heartbeat
marks it stale (nothing printed for `stale_after`) and says so; from then on, every
`watchdog_every` of further silence, the watchdog takes the plan's next step (`watchdog`,
by default: send Esc, then Ctrl+C, then restart the task in its own conversation, then
dead-letter it). Each step is journaled and shown with the task; the steps taken count
over every attempt of the task, so a restarted worker that hangs again goes on to the
step after the restart, never round in circles.

It reads the plan through its snapshot and the workers through a read-only mapping; it
types and interrupts through the request table; a restart and a dead letter are the
scheduler's to carry out (`Steps`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from .blackboard import Journal
from .protocol import pack_bytes
from .requests import RequestError
from .states import TASK_WORKING, TaskState, WorkerState

ENDING_STEPS = ("restart", "dead-letter")  # the steps that end the worker's run


class Steps(Protocol):
    """What the scheduler does for the watchdog."""

    def watchdog_stepped(self, tid: str, step: str, at: float) -> None: ...

    def watchdog_end(self, tid: str, worker: str, step: str) -> Awaitable[None]: ...


def after_end(steps: tuple[str, ...] | list[str], taken: int) -> str | None:
    """A walked worker ended (its Ctrl+C worked): the next step that ends a run, if any."""
    return next((s for s in steps[taken:] if s in ENDING_STEPS), None)


class Watchdog:
    def __init__(self, journal: Journal, workers: Mapping[str, Any], call: Callable[..., Awaitable[Any]], steps: Steps):
        self.journal = journal
        self.workers = workers
        self._call = call
        self.steps = steps

    async def call(self, op: str, **fields: Any) -> Any:
        return await self._call("watchdog", op, **fields)

    async def walk(self, plan: dict[str, Any]) -> None:
        """After the heartbeat looked for stale workers: the next step for each that is due."""
        ladder = list(plan.get("watchdog") or [])
        every = float(plan.get("watchdog_every") or 120)
        now = time.time()
        for task in plan.get("tasks") or []:
            if not task.get("stale") or task["state"] not in TASK_WORKING or task.get("checkpointing"):
                continue
            name = task["verify_worker"] if task["state"] == TaskState.VERIFYING else task["worker"]
            worker = self.workers.get(name) if name else None
            if worker is None or worker.state != WorkerState.RUNNING:
                continue
            taken = int(task.get("watch_step") or 0)
            if taken >= len(ladder) or now - float(task.get("watch_at") or now) < every:
                continue
            await self.take(task["id"], name, ladder[taken], taken + 1, now)

    async def take(self, tid: str, worker: str, step: str, n: int, now: float) -> None:
        self.journal.write("watchdog", worker, task=tid, step=step, n=n)
        self.steps.watchdog_stepped(tid, step, now)
        try:
            if step == "esc":
                await self.call("input", worker=worker, data_b64=pack_bytes(b"\x1b"))
            elif step == "ctrl-c":
                await self.call("interrupt", worker=worker)
            else:
                await self.steps.watchdog_end(tid, worker, step)
        except RequestError as exc:  # it ended meanwhile: the scheduler hears of that
            self.journal.write("watchdog", worker, task=tid, step=step, note=str(exc))
