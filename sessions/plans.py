"""The orchestration loop's rooms, wired together for the supervisor: the scheduler (runs
a plan), the heartbeat (looks at it on a beat, finds stale workers) and the dead letters
(tasks that failed past their retries). The supervisor
hands over its request table, its workers (read-only) and a way to tell every client;
it tells this room when a worker's state changed, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .blackboard import DiskThread, Journal
from .dead_letters import DeadLetters
from .heartbeat import Heartbeat
from .requests import RequestTable
from .scheduler import Scheduler, Seen


class PlanRooms:
    def __init__(self, root: Path, workspace: Path, journal: Journal, disk: DiskThread, table: RequestTable, workers: Mapping[str, Seen], publish: Callable[[dict[str, Any]], None]):
        self.letters = DeadLetters(root, journal, disk, table.call)
        self.scheduler = Scheduler(root, workspace, journal, disk, table.call, workers, publish, self.letters.add)
        s = self.scheduler
        self.heartbeat = Heartbeat(root / "heartbeat.log", journal, disk, s.snapshot, workers, s.mark_stale, s.heard, s.call, publish)
        s.register(table)
        self.heartbeat.register(table)
        self.letters.register(table)

    async def start(self) -> None:
        """Once the supervisor has its workers back: carry on a plan that was running."""
        await self.scheduler.restore()
        self.heartbeat.start()

    def worker_changed(self, name: str, state: str) -> None:
        self.scheduler.worker_changed(name, state)

    def stop(self) -> None:
        self.heartbeat.stop()
        self.scheduler.stop()
