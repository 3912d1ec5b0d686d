"""Checkpoints: a long run of an agent is ended before its time cap, on podium's terms, not
the model's. `checkpoint_before` the cap (by default 5 minutes before a 30-minute cap),
podium interrupts the worker, asks its conversation for a digest in a follow-up run (the
question is in resumption.py), keeps the digest as `.podium/tasks/<id>/checkpoint-N.md`,
and starts a fresh session with the envelope and the digest. The guides' reason: long
sessions die in compaction, and their resume returns a dead session.

Only for agents whose runs end and continue (codex exec, claude -p), at most `checkpoints`
times a task. When no digest can be had (no session id, the digest run failed), the last
lines the worker printed stand in for it, and the checkpoint file says so.

The scheduler arms it when a task's run starts and hands it the runs that end while a
checkpoint is under way; it starts and stops workers through the request table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .blackboard import DiskThread, Journal
from .fsutil import atomic_write
from .requests import RequestError
from .resumption import RESUMED_AGENTS, checkpoint_digest, digest_argv, with_flags
from .states import ENDED, TaskState, WorkerState
from .task_runs import TaskRun
from .units import compact, epoch

ASKING = "asking"  # tr.checkpointing while the worker is being stopped (then: the digest worker's name)
DIGEST_CAP = 5 * 60.0  # the digest run's own cap
TAIL_LINES = 80  # of the worker's output, when no digest could be had


class Checkpoints:
    def __init__(
        self,
        tasks_dir: Path,
        journal: Journal,
        disk: DiskThread,
        call: Callable[..., Awaitable[Any]],
        workers: Any,
        own: Callable[[str, str], None],  # (worker, task id): the scheduler hears of this worker's end
        save: Callable[[TaskRun], None],
        changed: Callable[[], None],
        tail: Callable[[str, int], Awaitable[str]],  # (worker, lines): what it printed last
        run_of: Callable[[TaskRun], dict[str, Any]],  # {argv, cwd, env}: how the task's runs begin
    ):
        self.dir = tasks_dir
        self.journal = journal
        self.disk = disk
        self._call = call
        self.workers = workers
        self.own = own
        self.save = save
        self.changed = changed
        self.tail = tail
        self.run_of = run_of
        self._timers: dict[str, asyncio.TimerHandle] = {}

    async def call(self, op: str, **fields: Any) -> Any:
        return await self._call("plan", op, **fields)

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()

    # -- when -------------------------------------------------------------------------------------
    def arm(self, tr: TaskRun, before: float, most: int) -> None:
        """A run of tr started (or was found running after a restart): its checkpoint, if any."""
        self.disarm(tr.id)
        task = tr.task
        if task.agent not in RESUMED_AGENTS or before <= 0 or task.time_cap <= before or tr.checkpoints >= most or not tr.attempts:
            return
        started = epoch(tr.attempts[-1].get("started"))
        if started is None:
            return
        delay = max(0.0, started + task.time_cap - before - time.time())
        self._timers[tr.id] = asyncio.get_running_loop().call_later(delay, lambda: asyncio.ensure_future(self.due(tr, tr.worker)))

    def disarm(self, tid: str) -> None:
        timer = self._timers.pop(tid, None)
        if timer is not None:
            timer.cancel()

    def at(self, tr: TaskRun, before: float) -> float | None:
        """When tr's checkpoint falls (seconds since 1970), while one is armed."""
        if tr.id not in self._timers or not tr.attempts:
            return None
        return (epoch(tr.attempts[-1].get("started")) or time.time()) + tr.task.time_cap - before

    async def due(self, tr: TaskRun, worker: str | None) -> None:
        self._timers.pop(tr.id, None)
        seen = self.workers.get(worker) if worker else None
        if tr.worker != worker or tr.state != TaskState.RUNNING or seen is None or seen.state in ENDED or tr.cap_hit:
            return
        n = tr.checkpoints + 1
        tr.checkpointing = ASKING
        tr.reason = f"checkpoint {n}: stopping {worker} to ask it for a digest (its cap of {compact(tr.task.time_cap)} is near)"
        self.journal.write("checkpoint", worker, task=tr.id, n=n, step="interrupt")
        self.save(tr)
        self.changed()
        try:
            await self.call("interrupt", worker=worker)
        except RequestError as exc:
            self.journal.write("checkpoint", worker, task=tr.id, note=f"interrupt: {exc}")

    # -- the runs that end meanwhile ------------------------------------------------------------------
    async def ended(self, tr: TaskRun, name: str, info: dict[str, Any]) -> bool:
        """A run of tr ended while its checkpoint was under way: True when this room took
        it (the task goes on from the checkpoint), False when the scheduler should judge it
        (it finished its work before the interrupt landed)."""
        if tr.checkpointing == ASKING:
            if info.get("state") == WorkerState.DONE:
                tr.checkpointing = None
                self.journal.write("checkpoint", name, task=tr.id, note="it finished before the checkpoint: no digest needed")
                return False
            await self._ask_digest(tr, name, info)
            return True
        if tr.checkpointing == name:
            text = await self._digest_of(name, info)
            await self._resume_fresh(tr, text, from_worker=name)
            return True
        return False

    async def _ask_digest(self, tr: TaskRun, name: str, info: dict[str, Any]) -> None:
        run = self.run_of(tr)
        argv = digest_argv(tr.task.agent, run["argv"], info)
        argv = with_flags(tr.task.agent, argv, tr.task.flags) if argv else None
        if argv is None:
            await self._resume_fresh(tr, None, from_worker=name)
            return
        digest_worker, k = f"{name}.digest", 1
        while digest_worker in self.workers:
            k += 1
            digest_worker = f"{name}.digest{k}"
        tr.checkpointing = digest_worker
        tr.worker = digest_worker
        tr.reason = f"checkpoint {tr.checkpoints + 1}: {digest_worker} asks {name}'s conversation for a digest"
        self.own(digest_worker, tr.id)
        self.save(tr)
        self.journal.write("checkpoint", name, task=tr.id, n=tr.checkpoints + 1, step="digest", worker=digest_worker)
        try:
            await self.call("spawn", name=digest_worker, argv=argv, kind=_kind(tr.task.agent), cwd=run["cwd"], env=run["env"])
        except RequestError as exc:
            self.journal.write("checkpoint", name, task=tr.id, note=f"the digest run did not start: {exc}")
            await self._resume_fresh(tr, None, from_worker=name)
            return
        self.cap_digest(digest_worker)
        self.changed()

    def cap_digest(self, name: str) -> None:
        """The digest run gets DIGEST_CAP (from now: again after a restart), then a kill."""
        asyncio.get_running_loop().call_later(DIGEST_CAP, lambda: asyncio.ensure_future(self._cap_digest(name)))

    async def _cap_digest(self, name: str) -> None:
        seen = self.workers.get(name)
        if seen is not None and seen.state not in ENDED:
            try:
                await self.call("kill", worker=name, grace=3.0)
            except RequestError:
                pass

    async def _digest_of(self, name: str, info: dict[str, Any]) -> str | None:
        if info.get("state") != WorkerState.DONE:
            return None
        try:
            text = str((await self.call("last", worker=name)).get("text") or "")
        except RequestError:
            return None
        return text if text.strip() else None

    async def _resume_fresh(self, tr: TaskRun, digest: str | None, from_worker: str) -> None:
        """The checkpoint is written; the task waits for a slot to start a fresh session."""
        n = tr.checkpoints + 1
        source = "the agent's own digest"
        if digest is None:
            interrupted = tr.attempts[-1]["worker"] if tr.attempts else from_worker
            digest = f"(no digest could be had; the last {TAIL_LINES} lines {interrupted} printed)\n\n" + await self.tail(interrupted, TAIL_LINES)
            source = "the worker's last lines"
        path = self.dir / tr.id / f"checkpoint-{n}.md"
        await self.disk.run(atomic_write, path, f"# Checkpoint {n} of task {tr.id}\n\nFrom {source} ({from_worker}).\n\n{digest.strip()}\n")
        tr.checkpoints = n
        tr.checkpointing = None
        tr.digest = checkpoint_digest(n, digest)
        tr.resume_from = None
        tr.set(TaskState.QUEUED, f"checkpoint {n} written ({path.name}, {source}): a fresh session continues from it")
        self.journal.write("checkpoint", from_worker, task=tr.id, n=n, step="written", path=str(path), source=source)
        self.save(tr)
        self.changed()


def _kind(agent: str) -> str:
    return "claude" if agent.startswith("claude") else "codex"
