"""The orchestration loop's rooms, wired together for the supervisor: the scheduler (runs
a plan), the heartbeat (looks at it on a beat, finds stale workers), the watchdog (what
is done about a stale one), the budgets (ceilings on what agents spend) and the dead
letters (tasks that failed past their retries). The supervisor hands over its request
table, its workers (read-only), the person's budget settings and a way to tell every
client; it tells this room when a worker's state changed or its agent reported, and
nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .blackboard import DiskThread, Journal
from .budgets import Budgets
from .dead_letters import DeadLetters
from .heartbeat import Heartbeat
from .requests import RequestTable
from .scheduler import Scheduler, Seen
from .states import ENDED
from .task_places import TaskPlaces, WorktreeMaker
from .watchdog import Watchdog


class PlanRooms:
    def __init__(
        self,
        root: Path,
        workspace: Path,
        journal: Journal,
        disk: DiskThread,
        table: RequestTable,
        workers: Mapping[str, Seen],
        publish: Callable[[dict[str, Any]], None],
        budget: dict[str, float] | None = None,  # the person's [budget]: each workspace's ceilings
        worktrees: WorktreeMaker | None = None,  # where writers get worktrees of their own
    ):
        self.letters = DeadLetters(root, journal, disk, table.call)
        self.scheduler = Scheduler(root, workspace, journal, disk, table.call, workers, publish, self.letters.add)
        s = self.scheduler
        s.letter_retried = self.letters.retried
        s.places = TaskPlaces(worktrees, s.save, lambda: s.runs)
        if worktrees is not None:
            worktrees.plan_users = s.places.users_of
        self.budgets = Budgets(root / "budget.toml", journal, disk, table.call, workers, budget or {}, s.changed)
        self.budgets.side = s
        s.views.append(self.budgets.public)
        self.watchdog = Watchdog(journal, workers, table.call, s)
        self.heartbeat = Heartbeat(root / "heartbeat.log", journal, disk, s.snapshot, workers, s.mark_stale, s.heard, s.call, publish, self.watchdog.walk)
        s.register(table)
        self.heartbeat.register(table)
        self.letters.register(table)

    async def start(self) -> None:
        """Once the supervisor has its workers back: carry on a plan that was running."""
        await self.scheduler.restore()
        await self.budgets.restore()
        self.heartbeat.start()

    def worker_changed(self, name: str, state: str) -> None:
        if state in ENDED:
            self.budgets.check_now()
        self.scheduler.worker_changed(name, state)

    def agent_reported(self, name: str) -> None:
        """A worker's agent reported events (its usage may have grown)."""
        self.budgets.check_soon()

    def stop(self) -> None:
        self.budgets.stop()
        self.heartbeat.stop()
        self.scheduler.stop()
