"""The heartbeat: while a plan runs, podium looks at every task on a fixed beat (default
every 10 minutes, and whenever asked) and writes what it saw into `.podium/heartbeat.log`,
one entry per beat: each task's state, how long since its worker printed, tokens, files
changed, the verification, what blocks it and what podium will do next. Between beats it
watches for stale workers (nothing printed for longer than the plan's `stale_after`):
such a task is marked stale and a notify-tier escalation says so; then the watchdog
(watchdog.py) is given each look to take its steps.

It reads the plan through `snapshot` and the workers through a read-only mapping, marks
staleness through a callback, and raises escalations through the request table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from .blackboard import DiskThread, Journal
from .fsutil import append_text, now_iso
from .protocol import NoFields
from .requests import RequestError, RequestTable
from .states import TASK_WORKING, PlanState, TaskState, WorkerState
from .task_runs import verify_text
from .units import compact, epoch, tokens

STALE_EVERY = 15.0  # seconds between looks for stale workers
COLUMNS = ("task", "state", "output", "tokens", "files", "verify", "blockers", "next")


class Heartbeat:
    def __init__(
        self,
        log_path: Path,
        journal: Journal,
        disk: DiskThread,
        snapshot: Callable[[], dict[str, Any]],
        workers: Mapping[str, Any],
        mark_stale: Callable[..., None],
        heard: Callable[[str], None],
        call: Callable[..., Awaitable[Any]],
        publish: Callable[[dict[str, Any]], None],
        walk: Callable[[dict[str, Any]], Awaitable[None]] | None = None,  # the watchdog, after each look
    ):
        self.walk = walk
        self.log_path = log_path
        self.journal = journal
        self.disk = disk
        self.snapshot = snapshot
        self.workers = workers
        self.mark_stale = mark_stale
        self.heard = heard
        self.call = call
        self.publish = publish
        self.last_beat = time.monotonic()
        self._loop: asyncio.Task[None] | None = None

    def register(self, table: RequestTable) -> None:
        table.add("plan_heartbeat", self.op_heartbeat, NoFields)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()

    async def op_heartbeat(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        plan = self.snapshot()
        if plan["state"] == PlanState.NONE:
            raise RequestError("no plan has run here: a heartbeat looks at a plan's tasks")
        return await self.beat(plan, f"asked by {client.kind}")

    async def _run(self) -> None:
        while True:
            plan = self.snapshot()
            # Often enough to catch a short stale threshold soon after it passes (and a plan
            # soon after it starts).
            running = plan["state"] in (PlanState.RUNNING, PlanState.PAUSED)
            await asyncio.sleep(min(STALE_EVERY, max(0.5, float(plan.get("stale_after") or 600) / 2)) if running else 1.0)
            plan = self.snapshot()
            if plan["state"] not in (PlanState.RUNNING, PlanState.PAUSED):
                self.last_beat = time.monotonic()
                continue
            await self.look_for_stale(plan)
            if self.walk is not None:
                await self.walk(self.snapshot())
            if time.monotonic() - self.last_beat >= float(plan.get("heartbeat") or 600):
                await self.beat(self.snapshot(), "on the beat")

    # -- stale workers --------------------------------------------------------------------------
    async def look_for_stale(self, plan: dict[str, Any]) -> None:
        limit = float(plan.get("stale_after") or 600)
        now = time.time()
        for task in plan["tasks"]:
            if task["state"] not in TASK_WORKING:
                continue
            name = task["verify_worker"] if task["state"] == TaskState.VERIFYING else task["worker"]
            worker = self.workers.get(name) if name else None
            if worker is None or worker.state != WorkerState.RUNNING:
                continue  # waiting for the person, paused or ended: not stale
            quiet = now - (worker.last_output or epoch(worker.public().get("started")) or now)
            if quiet > limit and not task["stale"]:
                question = f"{name} (task {task['id']}) has printed nothing for {compact(quiet)} (stale after {compact(limit)})"
                self.mark_stale(task["id"], True, question)
                self.journal.write("stale", name, task=task["id"], quiet=round(quiet))
                try:
                    await self.call("escalate", question=question, worker=name, tier="notify", options=[{"key": "y", "label": "seen"}])
                except RequestError:
                    pass  # it ended meanwhile
            elif quiet <= limit and task["stale"]:
                self.mark_stale(task["id"], False)
                self.journal.write("stale", name, task=task["id"], stale=False)

    # -- the beat -------------------------------------------------------------------------------------
    async def beat(self, plan: dict[str, Any], why: str) -> dict[str, Any]:
        self.last_beat = time.monotonic()
        at = now_iso()
        rows = [self.row(task) for task in plan["tasks"] if task["state"] != TaskState.SUPERSEDED]
        counts = ", ".join(f"{n} {s}" for s, n in sorted(plan["counts"].items()))
        head = f"── heartbeat {at} · plan {plan.get('title', '')!r} {plan['state']} · {counts} · {why} ──"
        text = "\n".join([head, *_table(rows), ""]) + "\n"
        await self.disk.run(append_text, self.log_path, text)
        self.journal.write("heartbeat", None, tasks=len(rows), state=plan["state"], why=why)
        self.heard(at)
        entry = {"at": at, "text": text, "rows": rows}
        self.publish({"event": "heartbeat", **entry})
        return entry

    def row(self, task: dict[str, Any]) -> dict[str, str]:
        worker = self.workers.get(task["worker"]) if task.get("worker") else None
        info = worker.public() if worker is not None else {}
        output = "-"
        if worker is not None and worker.last_output:
            output = f"{compact(time.time() - worker.last_output)} ago"
        files = (info.get("agent") or {}).get("files_changed")
        blockers = "-"
        if worker is not None and worker.state == WorkerState.WAITING:
            blockers = f"waiting for you: {info.get('reason', '')}"
        elif task.get("stale"):
            blockers = f"stale: no output for {output.removesuffix(' ago')}"
        elif task["state"] in (TaskState.QUEUED, TaskState.PENDING, TaskState.BLOCKED):
            blockers = task["reason"]
        return {
            "task": task["id"],
            "state": task["state"] + (f" ({worker.state})" if worker is not None and task["state"] == TaskState.RUNNING and worker.state != WorkerState.RUNNING else ""),
            "output": output,
            "tokens": tokens(info.get("tokens")),
            "files": str(len(files)) if isinstance(files, list) else "-",
            "verify": verify_text(task),
            "blockers": blockers,
            "next": task.get("next", "-"),
        }


def _table(rows: list[dict[str, str]]) -> list[str]:
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in COLUMNS}
    widths["blockers"] = min(widths["blockers"], 48)
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS).rstrip()]
    for r in rows:
        cells = [r[c] if len(r[c]) <= widths[c] else r[c][: widths[c] - 1] + "…" for c in COLUMNS]
        lines.append("  ".join(v.ljust(widths[c]) for v, c in zip(cells, COLUMNS)).rstrip())
    return lines
