"""The scheduler: runs a plan the way the orchestration guides run one. Tasks start when
every task they come `after` succeeded, at most `max_parallel` at once (the guides' 3),
never two whose `touches` overlap; each run has a time cap, after which its worker is
interrupted. A task is done only when its worker's signals agree, its report says Done
and its `verify` command exits 0; a failed verification (or a verifier's failing report)
creates a follow-up round for the implementer with the findings in its envelope.

It starts and stops workers only through the request table (`call`), as a client would,
so every start, signal and answer is journaled the same way; it hears that a worker
changed through `worker_changed`. Its own decisions go into the journal too, and its
state lives in `.podium/tasks/` (task_runs.py), so a supervisor killed in the middle
carries on where it was without starting any task twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from .blackboard import DiskThread, Journal, write_toml
from .breaker import ANSWERS, CLOSED, HALF_OPEN, OPEN, OPTIONS, RESUME, SKIP, Breaker
from .budgets import Scope
from .checkpoints import Checkpoints
from .failures import FailureClass, classify, error_event, retry_after
from .fsutil import append_text, atomic_write, now_iso
from .launch import build_command, shell_argv
from .plan import Plan, PlanError, Task, envelope, load_plan, touches_overlap
from .protocol import PlanEnvelope, PlanRun, PlanStop, TaskRef
from .requests import InternalClient, RequestError, RequestTable
from .resumption import RESUMABLE, RESUMED_AGENTS, continue_argv, failure_digest, with_digest, with_flags
from .states import ENDED, TASK_SATISFIED, TASK_WORKING, PlanState, TaskState, WorkerState
from .task_places import WRITERS, TaskPlaces, plan_writers
from .task_runs import TaskRun, load_runs, task_record
from .text import plain_text
from .transcript import TranscriptReader
from .units import compact, epoch
from .watchdog import ENDING_STEPS, after_end
from .worktrees import BRANCH_PREFIX

log = logging.getLogger("podium")

BY = "plan"  # who the journal says did what the scheduler does
KILL_AFTER_INTERRUPT = 10.0  # seconds a capped worker gets to stop after Ctrl+C
WATCH_EVERY = 1.0  # how often the plan file is looked at for edits
VERIFY_TAIL = 60  # lines of a failed verify command's output a follow-up is given
CHANGEABLE = ("checkpoint_before", "checkpoints", "watchdog", "watchdog_every", "budget_tokens", "budget_usd", "usd_per_mtok")  # plan keys an edit changes at once
FAILED_ENDS = frozenset({TaskState.FAILED, TaskState.TIMED_OUT, TaskState.NEEDS_REVIEW, TaskState.BLOCKED, TaskState.STOPPED})

Caller = Callable[..., Awaitable[Any]]  # table.call(by, op, **fields)
Failure = tuple[FailureClass, str]  # a failure's class and its evidence


class Seen(Protocol):
    """What the scheduler reads of a worker (the supervisor's Worker has all of it)."""

    name: str
    state: str
    last_output: float | None

    def public(self) -> dict[str, Any]: ...


class Scheduler:
    def __init__(
        self,
        root: Path,
        workspace: Path,
        journal: Journal,
        disk: DiskThread,
        call: Caller,
        workers: Mapping[str, Seen],
        publish: Callable[[dict[str, Any]], None],
        dead_letter: Callable[[dict[str, Any]], Awaitable[Path]] | None = None,  # a task failed past its retries
    ):
        self.root = root
        self.workspace = workspace
        self.dir = root / "tasks"
        self.run_file = self.dir / "run.toml"
        self.default_plan = root / "plan.toml"
        self.summary_file = root / "plan-summary.md"
        self.journal = journal
        self.disk = disk
        self._call = call
        self.workers = workers
        self.publish_event = publish
        self.dead_letter = dead_letter
        self.breaker = Breaker()
        self.limited: dict[str, dict[str, Any]] = {}  # agent kind -> {until, class}: no new starts of it
        self.plan: Plan | None = None
        self.plan_path: Path = self.default_plan
        self.state = PlanState.NONE
        self.runs: dict[str, TaskRun] = {}  # in plan order, follow-ups after their source
        self.by_worker: dict[str, str] = {}  # worker -> task id
        self.started: str | None = None
        self.ended: str | None = None
        self.number = 0  # plan runs in this workspace
        self.env: dict[str, str] | None = None
        self.problems: list[str] = []  # the last edit of the plan file that was refused, and why
        self.last_heartbeat: str | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._pumping = False
        self._again = False
        self._publish_due = False
        self._plan_stamp: tuple[int, int] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._deciding = asyncio.Lock()
        self.letter_retried: Callable[[str, str], Awaitable[Any]] | None = None  # a dead letter's task runs again
        self.views: list[Callable[[], dict[str, Any]]] = []  # other rooms' parts of the snapshot (budgets)
        self.places = TaskPlaces(None, self.save, lambda: self.runs)  # plans.py gives it the worktrees
        self.checkpoints = Checkpoints(self.dir, journal, disk, call, workers, self._own, self.save, self.changed, self._last_lines, self._run_of)

    def register(self, table: RequestTable) -> None:
        table.add("plan_run", self.op_run, PlanRun)
        table.add("plan_show", self.op_show)
        table.add("plan_pause", self.op_pause)
        table.add("plan_resume", self.op_resume)
        table.add("plan_stop", self.op_stop, PlanStop)
        table.add("plan_promote", self.op_promote)
        table.add("task_run_now", self.op_run_now, TaskRef)
        table.add("task_skip", self.op_skip, TaskRef)
        table.add("task_retry", self.op_retry, TaskRef)
        table.add("task_envelope", self.op_envelope, PlanEnvelope)

    async def call(self, op: str, **fields: Any) -> Any:
        return await self._call(BY, op, **fields)

    def spawn_soon(self, coro: Awaitable[Any]) -> None:
        """Run `coro` on the loop, keep it until it ends, and log what it raises."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("plan: %r", t.exception(), exc_info=t.exception())

        task.add_done_callback(done)

    # -- start, restart and stop ---------------------------------------------------------------------
    async def restore(self) -> None:
        """After the supervisor (re)started and reconnected its workers: carry on the plan
        that was running, looking at each task's worker to see where it got to."""
        self._watcher = asyncio.get_running_loop().create_task(self._watch_plan())
        if not self.run_file.exists():
            return
        run = await self.disk.run(_read_toml_or_empty, self.run_file)
        self.state = PlanState(run.get("state", "none"))
        self.number = int(run.get("number", 0))
        self.started, self.ended = run.get("started"), run.get("ended")
        self.plan_path = Path(run.get("path") or self.default_plan)
        try:
            self.plan = await self.disk.run(load_plan, self.dir / "plan.toml")
        except PlanError as exc:
            self.state = PlanState.STOPPED
            self.journal.write("plan", None, state=self.state, reason=f"the accepted plan cannot be read back: {exc}")
            return
        self.plan.path = str(self.plan_path)
        self.breaker = Breaker.from_record(run.get("breaker"), self.plan.breaker)
        self.limited = {k: v for k, v in (run.get("limited") or {}).items() if isinstance(v, dict) and isinstance(v.get("until"), (int, float))}
        for agent in self.limited:
            self._arm_limit(agent)
        if self.breaker.state == OPEN and self.state in (PlanState.RUNNING, PlanState.PAUSED):
            self.spawn_soon(self._ask_breaker())  # the gate did not survive the restart: ask again
        self.runs, problems = await self.disk.run(load_runs, self.dir, list(run.get("order", [])))
        for problem in problems:
            self.journal.write("plan", None, problem=problem)
        self._plan_stamp = None  # the file is looked at once: an edit made while no supervisor ran applies
        for tr in self.runs.values():
            for attempt in tr.attempts:
                self.by_worker[attempt["worker"]] = tr.id
            if tr.verify_worker:
                self.by_worker[tr.verify_worker] = tr.id
            if tr.worker:  # (a checkpoint's digest run is the task's worker while it runs)
                self.by_worker[tr.worker] = tr.id
        for tr in self.runs.values():
            self._reconcile(tr)
        self.journal.write("plan", None, state=self.state, restored=True, tasks={t.id: str(t.state) for t in self.runs.values()})
        self.pump()

    def _reconcile(self, tr: TaskRun) -> None:
        """A task the last supervisor left starting, running or verifying."""
        if tr.state == TaskState.STARTING:
            if tr.worker and tr.worker in self.workers:
                tr.set(TaskState.RUNNING, "running (found after a restart)")
            else:
                tr.set(TaskState.QUEUED, "its start was recorded but its worker never started: starting it again")
                if tr.attempts and tr.attempts[-1].get("worker") == tr.worker:
                    tr.attempts.pop()
        watched = tr.verify_worker if tr.state == TaskState.VERIFYING else tr.worker if tr.state == TaskState.RUNNING else None
        if watched is None:
            return
        worker = self.workers.get(watched)
        if worker is None and tr.state == TaskState.VERIFYING:
            # Recorded, never spawned (a kill between the two): the work is done; check it again.
            self.journal.write("task", tr.id, action="verify-again", reason=f"its verify worker {watched} never started")
            self.spawn_soon(self._start_verify(tr))
        elif worker is None and tr.checkpointing:  # its digest run was recorded, never started
            self.spawn_soon(self.checkpoints._resume_fresh(tr, None, from_worker=watched))
        elif worker is None:
            tr.set(TaskState.FAILED, f"its worker {watched} is gone")
            self.save(tr)
        elif worker.state in ENDED:
            self.worker_changed(watched, worker.state)
        elif tr.state == TaskState.RUNNING and tr.checkpointing:
            self.checkpoints.cap_digest(watched)
        elif tr.state == TaskState.RUNNING:
            self._arm_cap(tr)

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        for timer in self._timers.values():
            timer.cancel()
        self.checkpoints.stop()

    # -- the requests ------------------------------------------------------------------------------------
    async def op_run(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        if client.kind == "mcp" and not isinstance(client, InternalClient):  # (orchestrators.py's gate calls as a room)
            raise RequestError("an orchestrator's plan starts through its plan_run tool, after the person's yes (the gate)")
        if self.state in (PlanState.RUNNING, PlanState.PAUSED):
            raise RequestError(f"plan {self.plan.title if self.plan else ''!r} is {self.state}: stop it first (podium plan stop)")
        path = Path(req.get("path") or self.default_plan)
        if not path.is_absolute():
            path = self.workspace / path
        try:
            plan = await self.disk.run(load_plan, path)
        except PlanError as exc:
            raise RequestError(f"the plan was not started:\n{exc}") from None
        text = await self.disk.run(path.read_text, "utf-8")
        self.number += 1
        await self.disk.run(_set_aside, self.dir, self.number - 1)
        self.plan, self.plan_path, self.env = plan, path, req.get("env")
        self.breaker = Breaker(plan.breaker)
        self.limited = {}
        self.runs = {tid: TaskRun(task) for tid, task in plan.tasks.items()}
        self.by_worker = {}
        self.state, self.started, self.ended, self.problems = PlanState.RUNNING, now_iso(), None, []
        self._plan_stamp = _stamp(path)
        await self.disk.run(atomic_write, self.dir / "plan.toml", text)
        for tr in self.runs.values():
            await self.disk.run(write_toml, self.dir / tr.id / "task.toml", task_record(tr.task))
            self.save(tr)
        self.save_run()
        self.journal.write("plan", None, state=self.state, title=plan.title, path=str(path), tasks=list(self.runs), max_parallel=plan.max_parallel, via=client.kind)
        await self.pump_now()
        return self.snapshot()

    async def op_show(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        return self.snapshot()

    async def op_pause(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        self._need(PlanState.RUNNING, "pause")
        self._set_plan(PlanState.PAUSED, f"paused by {client.kind}: running tasks go on, nothing new starts")
        return self.snapshot()

    async def op_resume(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        self._need(PlanState.PAUSED, "resume")
        self._set_plan(PlanState.RUNNING, f"resumed by {client.kind}")
        await self.pump_now()
        return self.snapshot()

    async def op_stop(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        if self.state not in (PlanState.RUNNING, PlanState.PAUSED):
            raise RequestError(f"no plan is running (it is {self.state})")
        self._set_plan(PlanState.STOPPED, f"stopped by {client.kind}")
        for tr in self.runs.values():
            if tr.state in (TaskState.PENDING, TaskState.QUEUED):
                self._end(tr, TaskState.STOPPED, "the plan was stopped before it started")
            elif tr.state == TaskState.STARTING and tr.worker not in self.workers:
                self._end(tr, TaskState.STOPPED, "the plan was stopped before its worker started")
            elif tr.state in TASK_WORKING:
                tr.reason = "the plan was stopped: its worker is being stopped"
                name = tr.verify_worker if tr.state == TaskState.VERIFYING else tr.worker
                if name and name in self.workers and self.workers[name].state not in ENDED:
                    await self._quietly("kill", worker=name, grace=float(req.get("grace", 3.0)))
        self.pump()  # nothing running: it is summed up at once
        return self.snapshot()

    async def op_run_now(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        tr = self._task(req["task"])
        if tr.state not in (TaskState.PENDING, TaskState.QUEUED):
            raise RequestError(f"task {tr.id} is {tr.state}: run-now starts a task that has not started (retry runs one again)")
        if self.state not in (PlanState.RUNNING, PlanState.PAUSED):
            raise RequestError(f"the plan is {self.state}")
        waiting = [d for d in tr.task.after if self.resolve(d).state not in TASK_SATISFIED]
        if waiting:
            raise RequestError(f"task {tr.id} comes after {', '.join(waiting)}, not done yet (skip them first to run it now)")
        clash = self._overlap(tr)
        if clash:
            raise RequestError(f"task {tr.id}: {clash}; it would change the same files at once")
        self.journal.write("task", tr.id, action="run-now", via=client.kind)
        await self._start(tr, f"started now by {client.kind} (the cap of {self.plan.max_parallel if self.plan else '?'} does not apply)")
        return tr.public()

    async def op_skip(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        tr = self._task(req["task"])
        if tr.state in TASK_WORKING:
            raise RequestError(f"task {tr.id} is {tr.state}: interrupt its worker (ctrl+c) or stop the plan; skip is for a task that has not started or has ended")
        if tr.state in (TaskState.DONE, TaskState.SKIPPED, TaskState.SUPERSEDED):
            raise RequestError(f"task {tr.id} is {tr.state} already")
        self.journal.write("task", tr.id, action="skip", via=client.kind)
        self._end(tr, TaskState.SKIPPED, f"skipped by {client.kind}; what comes after it may start")
        self._reopen_plan()
        await self.pump_now()
        return tr.public()

    async def op_retry(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        tr = self._task(req["task"])
        if tr.open:
            raise RequestError(f"task {tr.id} is {tr.state}: retry runs a task that has ended")
        if tr.state == TaskState.SUPERSEDED:
            raise RequestError(f"task {tr.id} was followed up by {tr.superseded_by}: retry that one")
        if self.state == PlanState.STOPPED:
            raise RequestError("the plan is stopped: run it again (podium plan run)")
        self.journal.write("task", tr.id, action="retry", via=client.kind)
        if self.letter_retried is not None:  # (its letter may be on disk before tr knows it)
            await self.letter_retried(tr.id, client.kind)
        tr.set(TaskState.QUEUED, f"retry asked by {client.kind}")
        tr.ended, tr.cap_hit, tr.stale, tr.verified, tr.verify_worker, tr.retry_at, tr.dead_letter = None, False, False, None, None, None, None
        tr.hold, tr.checkpointing, tr.watch_step, tr.watch_at = None, None, 0, None
        self._unblock()
        self.save(tr)
        self._reopen_plan()
        await self.pump_now()
        return tr.public()

    async def op_envelope(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        tr = self._task(req["task"])
        path = self.dir / tr.id / "envelope.md"
        if "text" not in req:  # what it was told, or would be told if it started now
            if tr.attempts or tr.envelope_edited:
                return {"task": tr.id, "text": await self.disk.run(path.read_text, "utf-8"), "sent": bool(tr.attempts), "path": str(path)}
            assert self.plan is not None
            return {"task": tr.id, "text": envelope(self.plan, tr.task, await self._upstream(tr.task)), "sent": False, "path": str(path)}
        if tr.state not in (TaskState.PENDING, TaskState.QUEUED):
            raise RequestError(f"task {tr.id} is {tr.state}: its envelope can be edited only before it starts")
        text = str(req["text"])
        if not text.strip():
            raise RequestError("an empty envelope: nothing would tell the worker what to do")
        await self.disk.run(atomic_write, path, text)
        tr.envelope_edited = True
        self.journal.write("task", tr.id, action="envelope-edited", bytes=len(text.encode()), via=client.kind)
        self.save(tr)
        self.changed()
        return tr.public()

    async def op_promote(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """Every done task's final report into the curated result, in plan order."""
        promoted, skipped = [], []
        for tr in self.runs.values():
            if tr.state != TaskState.DONE or not tr.worker:
                continue
            try:
                out = await self.call("promote", worker=tr.worker)
            except RequestError as exc:
                skipped.append(f"{tr.id}: {exc}")
                continue
            (skipped if out.get("duplicate") else promoted).append(tr.id if not out.get("duplicate") else f"{tr.id}: already in the result")
        self.journal.write("plan", None, action="promote", promoted=promoted, via=client.kind)
        return {"promoted": promoted, "skipped": skipped}

    def _need(self, state: PlanState, what: str) -> None:
        if self.state != state:
            raise RequestError(f"cannot {what}: the plan is {self.state}")

    def _task(self, tid: Any) -> TaskRun:
        tr = self.runs.get(str(tid))
        if tr is None:
            raise RequestError(f"no task {tid!r} in the plan (tasks: {', '.join(self.runs) or 'none'})")
        return tr

    def _reopen_plan(self) -> None:
        if self.state == PlanState.COMPLETE and any(t.open for t in self.runs.values()):
            self._set_plan(PlanState.RUNNING, "a task runs again")

    # -- the loop ----------------------------------------------------------------------------------
    def pump(self) -> None:
        """Start what may start now (soon, once: calls while it runs make it run again)."""
        if self._pumping:
            self._again = True
            return
        self._pumping = True
        self.spawn_soon(self._pump())

    async def pump_now(self) -> None:
        """Start what may start now, and return once it has (a request's answer shows it)."""
        if self._pumping:
            self._again = True
            return
        self._pumping = True
        await self._pump()

    async def _pump(self) -> None:
        try:
            while True:
                self._again = False
                await self._pump_once()
                if not self._again:
                    break
        finally:
            self._pumping = False
        self.changed()

    async def _pump_once(self) -> None:
        if self.plan is None:
            return
        working = [t for t in self.runs.values() if t.state in TASK_WORKING]
        starts: list[Awaitable[None]] = []
        for tr in list(self.runs.values()):
            if tr.state not in (TaskState.PENDING, TaskState.QUEUED):
                continue
            deps = [self.resolve(d) for d in tr.task.after]
            failed = [d for d in deps if d.state in FAILED_ENDS]
            if failed:
                d = failed[0]
                self._end(tr, TaskState.BLOCKED, f"after {d.id}, which is {d.state}: retry or skip {d.id}")
                continue
            waiting = [d.id for d in deps if d.state not in TASK_SATISFIED]
            if waiting:
                self._wait(tr, TaskState.PENDING, f"after {', '.join(waiting)}")
                continue
            if tr.hold:
                continue  # over a budget: the person decides (its reason says so)
            if self.state != PlanState.RUNNING:
                self._wait(tr, TaskState.QUEUED, f"ready; the plan is {self.state}")
                continue
            if self.breaker.state == OPEN:
                self._wait(tr, TaskState.QUEUED, f"ready; the circuit breaker is open ({self.breaker.count} × {self.breaker.cls}): answer it in the inbox")
                continue
            if tr.retry_at is not None and tr.retry_at > time.time():
                self._wake_at(tr)  # (its reason says when)
                continue
            limit_hit = self.limited.get(tr.task.agent)
            if limit_hit and limit_hit["until"] > time.time():
                self._wait(tr, TaskState.QUEUED, f"ready; {tr.task.agent} is paused by a {limit_hit['class']} for {compact(limit_hit['until'] - time.time())}")
                continue
            checking = self._still_checking(tr)
            if checking:
                self._wait(tr, TaskState.QUEUED, f"ready; waiting for {checking} to finish checking, so its findings join this round")
                continue
            limit = 1 if self.breaker.state == HALF_OPEN else self.plan.max_parallel
            if len(working) >= limit:
                half = " (the breaker is half-open: one at a time until one succeeds)" if limit == 1 and self.plan.max_parallel > 1 else ""
                self._wait(tr, TaskState.QUEUED, f"ready; waiting for a slot ({len(working)} of {limit} running){half}")
                continue
            clash = self._overlap(tr, working)
            if clash:
                self._wait(tr, TaskState.QUEUED, f"ready; {clash}")
                continue
            working.append(tr)
            starts.append(self._start(tr, "started"))
        # Slots freed together fill together: each start waits on the disk and a spawn.
        await asyncio.gather(*starts)
        settled = self.runs and not any(t.open for t in self.runs.values())
        if settled and (self.state in (PlanState.RUNNING, PlanState.PAUSED) or (self.state == PlanState.STOPPED and self.ended is None)):
            await self._complete()

    def _still_checking(self, tr: TaskRun) -> str | None:
        """A follow-up round waits for the other verifiers of the same work still running."""
        if not tr.task.follow_up_of:
            return None
        for other in self.runs.values():
            if other.task.role == "verifier" and other.state in TASK_WORKING and self._fix_target(other) is tr:
                return other.id
        return None

    def _wait(self, tr: TaskRun, state: TaskState, reason: str) -> None:
        if (tr.state, tr.reason) == (state, reason):
            return
        waiting = (TaskState.PENDING, TaskState.QUEUED)
        quiet = tr.state in waiting and state in waiting
        tr.set(state, reason)
        # Between pending and queued nothing needs the disk (a restart works it out again):
        # a hundred such saves queued on the disk thread made the next start wait 100 ms.
        if not quiet:
            self.save(tr)

    def _overlap(self, tr: TaskRun, busy: list[TaskRun] | None = None) -> str | None:
        """Whose touches clash with tr's among the working tasks (`busy`: those and the
        ones this pump is starting)."""
        if not tr.task.touches:
            return None
        for other in busy if busy is not None else [t for t in self.runs.values() if t.state in TASK_WORKING]:
            if other is not tr:
                pair = touches_overlap(tr.task.touches, other.task.touches)
                if pair:
                    return f"touches overlap with {other.id} ({pair[0]} and {pair[1]})"
        return None

    def resolve(self, tid: str) -> TaskRun:
        """The task, or the follow-up round that took it over (what comes after waits for)."""
        tr = self.runs[tid]
        seen = {tid}
        while tr.superseded_by and tr.superseded_by in self.runs and tr.superseded_by not in seen:
            seen.add(tr.superseded_by)
            tr = self.runs[tr.superseded_by]
        return tr

    # -- starting a task ----------------------------------------------------------------------------
    async def _start(self, tr: TaskRun, why: str) -> None:
        assert self.plan is not None
        task = tr.task
        # Claimed before the first await: a stop, skip or edit meanwhile sees it starting,
        # and a start beside it (slots fill together) picks another worker name.
        name = self._worker_name(tr)
        tr.retry_at = None
        tr.set(TaskState.STARTING, why)
        tr.worker, tr.started, tr.ended = name, tr.started or now_iso(), None
        tr.attempts.append({"worker": name, "started": now_iso()})
        self.by_worker[name] = tr.id
        try:
            cwd, where = await self.places.place(self.plan, tr, name, self._cwd(), None if task.role in WRITERS else self._fix_target(tr))
        except RequestError as exc:
            self.by_worker.pop(name, None)
            self._end(tr, TaskState.FAILED, f"could not start {name}: {exc}", error=(FailureClass.SPAWN_FAILED, str(exc)))
            return
        upstream = await self._upstream(task)
        if tr.envelope_edited:
            text = await self.disk.run((self.dir / task.id / "envelope.md").read_text, "utf-8")
        else:
            text = envelope(self.plan, task, upstream, where)
            await self.disk.run(atomic_write, self.dir / task.id / "envelope.md", text)
        argv, kind, how = await self._next_run(tr, text)
        tr.attempts[-1]["how"] = how
        tr.stale, tr.watch_at = False, None
        env = self._env(task)
        # The start is on disk before the worker exists: a supervisor killed in between
        # finds the name recorded and no such worker, and starts it (once).
        if tr.state == TaskState.STARTING:
            await self.disk.run(write_toml, self.dir / task.id / "state.toml", tr.state_record())
        if tr.state != TaskState.STARTING or tr.worker != name:
            return  # stopped while it was being prepared (op_stop ended it): no worker
        self.journal.write("task", task.id, state=tr.state, worker=name, attempt=len(tr.attempts), round=task.round, reason=why, run=how)
        try:
            await self.call("spawn", name=name, argv=argv, kind=kind, cwd=cwd, env=env)
        except RequestError as exc:
            if name not in self.workers:
                self.by_worker.pop(name, None)
            self._end(tr, TaskState.FAILED, f"could not start {name}: {exc}", error=(FailureClass.SPAWN_FAILED, str(exc)))
            return
        if self.state == PlanState.STOPPED:  # stopped while its worker was being spawned
            await self._quietly("kill", worker=name, grace=1.0)
        elif tr.state == TaskState.STARTING:  # (it may have ended already: worker_changed saw it)
            tr.set(TaskState.RUNNING, f"{why}: worker {name}")
            self.save(tr)
            self._arm_cap(tr)
        self.changed()

    async def _next_run(self, tr: TaskRun, text: str) -> tuple[list[str], str, str]:
        """The command of tr's next run, and how it carries on from the one before: in the
        same conversation, fresh with a digest, or fresh (the first run)."""
        argv, kind = self._command(tr.task, text)
        prior, tr.resume_from = tr.resume_from, None
        if prior:
            seen = self.workers.get(prior)
            why = f"{tr.error['class']}: {str(tr.error.get('evidence', ''))[:200]}" if tr.error else "interrupted"
            resumed = continue_argv(tr.task.agent, argv, seen.public() if seen is not None else None, why)
            if resumed is not None:
                return with_flags(tr.task.agent, resumed, tr.task.flags), kind, f"continues {prior}'s conversation"
        if tr.digest:
            text, tr.digest = with_digest(text, tr.digest), None
            await self.disk.run(atomic_write, self.dir / tr.id / f"attempt-{len(tr.attempts)}.md", text)
            argv, kind = self._command(tr.task, text)
            return argv, kind, f"a fresh session with a digest (attempt-{len(tr.attempts)}.md)"
        return argv, kind, "a fresh session"

    def _env(self, task: Task) -> dict[str, str]:
        assert self.plan is not None
        return {**(self.env or {}), "PODIUM_TASK": task.id, "PODIUM_TASK_ENVELOPE": str(self.dir / task.id / "envelope.md"), "PODIUM_PLAN": self.plan.title}

    def _run_of(self, tr: TaskRun) -> dict[str, Any]:
        """How tr's runs begin (a checkpoint's digest run continues the same way)."""
        return {"argv": self._command(tr.task, "-")[0], "cwd": tr.cwd or self._cwd(), "env": self._env(tr.task)}

    def _own(self, worker: str, tid: str) -> None:
        self.by_worker[worker] = tid

    async def _last_lines(self, worker: str, lines: int) -> str:
        return await self.disk.run(_tail, self.root / "workers" / worker, lines)

    def _worker_name(self, tr: TaskRun) -> str:
        base = tr.id if not tr.attempts else f"{tr.id}-a{len(tr.attempts) + 1}"
        name, n = base, 1
        while name in self.workers or self.by_worker.get(name, tr.id) != tr.id:
            n += 1
            name = f"{base}-{n}"
        return name

    def _command(self, task: Task, text: str) -> tuple[list[str], str]:
        if task.agent == "shell":
            return shell_argv(task.command or "true"), "shell"
        argv, kind = build_command(task.agent, text)
        if task.flags:  # before the prompt; claude -p's after it (its --allowedTools would swallow the prompt)
            at = len(argv) - 1 if task.agent in ("codex-exec", "codex", "claude") else len(argv)
            argv[at:at] = task.flags
        return argv, kind

    def _cwd(self) -> str:
        cwd = Path(self.plan.cwd) if self.plan and self.plan.cwd else self.workspace
        return str(cwd if cwd.is_absolute() else self.workspace / cwd)

    async def _upstream(self, task: Task) -> dict[str, str]:
        """What the tasks it comes after reported (their final messages)."""
        out: dict[str, str] = {}
        for dep in task.after:
            tr = self.resolve(dep)
            if tr.state == TaskState.DONE and tr.worker:
                try:
                    out[tr.id] = (await self.call("last", worker=tr.worker))["text"]
                except RequestError:
                    pass
        return out

    # -- the time cap -----------------------------------------------------------------------------------
    def _arm_cap(self, tr: TaskRun) -> None:
        old = self._timers.pop(tr.id, None)
        if old is not None:
            old.cancel()
        attempt = tr.attempts[-1] if tr.attempts else {}
        started = epoch(attempt.get("started")) or time.time()
        delay = max(0.0, started + tr.task.time_cap - time.time())
        self._timers[tr.id] = asyncio.get_running_loop().call_later(delay, self._cap_reached, tr.id, tr.worker)
        if self.plan is not None and not tr.checkpointing:
            self.checkpoints.arm(tr, self.plan.checkpoint_before, self.plan.checkpoints)

    def _cap_reached(self, tid: str, worker: str | None) -> None:
        self._timers.pop(tid, None)
        tr = self.runs.get(tid)
        working = (tr.worker == worker and tr.state in (TaskState.STARTING, TaskState.RUNNING)) or (tr.verify_worker == worker and tr.state == TaskState.VERIFYING) if tr else False
        if tr is None or worker is None or not working:
            return
        tr.cap_hit = True
        tr.reason = f"time cap {compact(tr.task.time_cap)} reached: interrupting {worker}"
        self.journal.write("task", tid, action="time-cap", worker=worker, cap=tr.task.time_cap)
        self.save(tr)
        self.changed()

        async def interrupt_then_kill() -> None:
            await self._quietly("interrupt", worker=worker)
            await asyncio.sleep(KILL_AFTER_INTERRUPT)
            seen = self.workers.get(worker)
            if seen is not None and seen.state not in ENDED:
                await self._quietly("kill", worker=worker, grace=3.0)

        self.spawn_soon(interrupt_then_kill())

    async def _quietly(self, op: str, **fields: Any) -> None:
        try:
            await self.call(op, **fields)
        except RequestError as exc:  # it ended meanwhile
            self.journal.write("plan", fields.get("worker"), note=f"{op}: {exc}")

    # -- a worker changed -------------------------------------------------------------------------------
    def worker_changed(self, name: str, state: str) -> None:
        """From the supervisor, for every worker's every state change."""
        tid = self.by_worker.get(name)
        tr = self.runs.get(tid) if tid else None
        if tr is None:
            return
        if name == tr.worker and tr.state in (TaskState.STARTING, TaskState.RUNNING):
            if state in ENDED:
                timer = self._timers.pop(tr.id, None)
                if timer is not None:
                    timer.cancel()
                self.checkpoints.disarm(tr.id)
                self.spawn_soon(self._one_at_a_time(self._worker_ended(tr, name)))
            else:
                self.changed()  # its worker's state shows in the task's line
        elif name == tr.verify_worker and tr.state == TaskState.VERIFYING and state in ENDED:
            self.spawn_soon(self._one_at_a_time(self._verify_ended(tr, name)))

    async def _one_at_a_time(self, decision: Awaitable[None]) -> None:
        """What an ended worker means is decided one worker at a time: two verifiers ending
        together must not both start a follow-up round of the same task."""
        async with self._deciding:
            await decision

    async def _worker_ended(self, tr: TaskRun, name: str) -> None:
        seen = self.workers[name]
        info = seen.public()
        if tr.attempts and tr.attempts[-1].get("worker") == name:  # (not a checkpoint's digest run)
            tr.attempts[-1].update({"ended": info.get("ended") or now_iso(), "state": info["state"], "reason": info.get("reason", "")})
        report = (info.get("agent") or {}).get("report") or {}
        wstate, wreason = info["state"], info.get("reason", "")
        if self.state != PlanState.STOPPED and tr.checkpointing and await self.checkpoints.ended(tr, name, info):
            pass  # a checkpoint: it goes on in a fresh session
        elif self.state == PlanState.STOPPED:
            self._end(tr, TaskState.STOPPED, f"the plan was stopped; {name} {wstate}")
        elif tr.hold and wstate != WorkerState.DONE:
            tr.resume_from = name
            tr.set(TaskState.QUEUED, f"{name} was interrupted: over its budget ({tr.hold}); the person decides in the inbox")
            self.save(tr)
        elif tr.stale and tr.watch_step and wstate != WorkerState.DONE and self.plan is not None:
            self._watchdog_ended(tr, name)
        elif tr.cap_hit:
            self._end(tr, TaskState.TIMED_OUT, f"time cap {compact(tr.task.time_cap)} reached; {name} was interrupted ({wstate})", error=(FailureClass.TIME_CAP, f"{name} ran past {compact(tr.task.time_cap)}"))
        elif tr.task.role == "verifier" and report.get("outcome") == "FAILED" and wstate in (WorkerState.DONE, WorkerState.NEEDS_REVIEW):
            # The check ran and found the work wanting ("Status: Needs review" included):
            # that is the implementer's next round, not the person's to sort out.
            await self._verifier_failed(tr, name, report)
        elif wstate == WorkerState.DONE:
            said_done = report.get("status") == "Done" or report.get("outcome") == "COMPLETED"
            if tr.task.agent != "shell" and not report:
                self._end(tr, TaskState.NEEDS_REVIEW, f"{name} ended without a report (COMPLETED: … Status: Done)", error=(FailureClass.NO_REPORT, f"{name}'s last message has no COMPLETED/FAILED/BLOCKED line"))
            elif report.get("outcome") == "FAILED":
                said = f"report: FAILED {report.get('headline', '')}".strip()
                self._end(tr, TaskState.FAILED, said, error=(FailureClass.REPORTED_FAILED, said))
            elif report and not said_done:
                self._end(tr, TaskState.NEEDS_REVIEW, f"report: Status: {report.get('status')}")
            elif tr.task.verify:
                await self.places.settle(tr, report)
                await self._start_verify(tr)
            else:
                await self.places.settle(tr, report)
                self._end(tr, TaskState.DONE, f"{name}: {wreason}")
        elif wstate == WorkerState.BLOCKED:
            self._end(tr, TaskState.BLOCKED, f"{name}: {wreason}", error=(FailureClass.BLOCKED, wreason))
        elif wstate == WorkerState.NEEDS_REVIEW:
            self._end(tr, TaskState.NEEDS_REVIEW, f"{name}: {wreason}")
        else:
            failure = classify(info) or (FailureClass.EXIT_CODE, wreason)
            if len(tr.attempts) <= tr.task.retries and failure[0] in self.plan.retry_on:
                await self._retry_later(tr, name, failure)
            else:
                why = "" if len(tr.attempts) > tr.task.retries else f"; not retried: {failure[0]} is not in retry_on"
                self._end(tr, TaskState.FAILED, f"{name} {wstate} ({failure[0]}): {wreason}{why}", error=failure)
        self.pump()

    async def _retry_later(self, tr: TaskRun, name: str, failure: Failure) -> None:
        """Another attempt after a backoff that doubles per attempt, with jitter (so a fleet
        that hit one rate limit does not come back all at once). It continues the same
        conversation when the session is intact, else starts fresh with a digest."""
        assert self.plan is not None
        self._error(tr, failure)
        if tr.task.agent in RESUMED_AGENTS and failure[0] in RESUMABLE:
            tr.resume_from = name
        elif tr.task.agent != "shell":
            try:
                said = (await self.call("last", worker=name))["text"]
            except RequestError:
                said = await self._last_lines(name, 40)
            tr.digest = failure_digest(failure[0], failure[1], said)
        n = len(tr.attempts)
        delay = min(self.plan.backoff_max, self.plan.backoff * 2 ** (n - 1)) * random.uniform(0.5, 1.0)
        delay = max(delay, (self.limited.get(tr.task.agent) or {}).get("until", 0.0) - time.time())  # not before the limit lifts
        tr.retry_at = time.time() + delay
        tr.set(TaskState.QUEUED, f"{name} {failure[0]}; retry {n} of {tr.task.retries} in {compact(delay)}")
        self.journal.write("task", tr.id, action="retry", worker=name, attempt=n, failure=str(failure[0]), delay=round(delay, 3))
        self.save(tr)
        self._wake_at(tr)

    def _pause_kind(self, agent: str, cls: FailureClass, evidence: str) -> None:
        """A limit one worker met holds back every new start of its agent kind until the
        reset it reported (else the plan's backoff; a usage limit, backoff_max)."""
        assert self.plan is not None
        wait = retry_after(evidence) or (self.plan.backoff if cls == FailureClass.RATE_LIMIT else self.plan.backoff_max)
        until = max(time.time() + wait, (self.limited.get(agent) or {}).get("until", 0.0))
        self.limited[agent] = {"until": until, "class": str(cls)}
        self.journal.write("limit", None, agent=agent, failure=str(cls), wait=round(wait, 3), evidence=evidence[:300])
        self.save_run()
        self._arm_limit(agent)

    def _arm_limit(self, agent: str) -> None:
        """A pump when the pause of `agent` ends."""
        self._pump_at(f"limit:{agent}", self.limited[agent]["until"])

    def _pump_at(self, key: str, when: float) -> None:
        """One pump at `when` (seconds since 1970), kept under `key`; a newer one replaces it."""
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()

        def wake() -> None:
            self._timers.pop(key, None)
            self.pump()

        self._timers[key] = asyncio.get_running_loop().call_later(max(0.0, when - time.time()), wake)

    def _wake_at(self, tr: TaskRun) -> None:
        """A pump when tr's backoff ends (once; again after a restart)."""
        if tr.retry_at is not None and f"retry:{tr.id}" not in self._timers:
            self._pump_at(f"retry:{tr.id}", tr.retry_at)

    # -- verification and follow-ups -------------------------------------------------------------------
    async def _start_verify(self, tr: TaskRun) -> None:
        assert tr.task.verify and tr.worker
        name = f"{tr.worker}.verify"
        n = 1
        while name in self.workers:
            n += 1
            name = f"{tr.worker}.verify{n}"
        tr.set(TaskState.VERIFYING, f"running {tr.task.verify!r}")
        tr.verify_worker = name
        self.by_worker[name] = tr.id
        await self.disk.run(write_toml, self.dir / tr.id / "state.toml", tr.state_record())
        self.journal.write("task", tr.id, state=tr.state, worker=name, verify=tr.task.verify)
        try:
            await self.call("spawn", name=name, argv=shell_argv(tr.task.verify), kind="shell", cwd=tr.cwd or self._cwd(), env={**(self.env or {}), "PODIUM_TASK": tr.id})
        except RequestError as exc:
            self._end(tr, TaskState.FAILED, f"could not start the verify command: {exc}")
        else:  # a verify command has the task's time cap too
            self._timers[tr.id] = asyncio.get_running_loop().call_later(tr.task.time_cap, self._cap_reached, tr.id, name)
        self.changed()

    async def _verify_ended(self, tr: TaskRun, name: str) -> None:
        info = self.workers[name].public()
        code = info.get("exit_code")
        if self.state == PlanState.STOPPED or tr.cap_hit:
            if tr.cap_hit:
                self._end(tr, TaskState.TIMED_OUT, f"time cap {compact(tr.task.time_cap)} reached while {name} verified it")
            else:
                self._end(tr, TaskState.STOPPED, f"the plan was stopped while {name} verified it")
            self.pump()
            return
        tr.verified = {"command": tr.task.verify, "worker": name, "exit_code": code, "ok": code == 0}
        if code == 0:
            self._end(tr, TaskState.DONE, "verified: the verify command exited 0")
        else:
            tail = await self.disk.run(_tail, self.root / "workers" / name, VERIFY_TAIL)
            findings = f"The verify command `{tr.task.verify}` exited {code}. Its last lines:\n\n{tail}"
            self._error(tr, (FailureClass.VERIFY_FAILED, f"`{tr.task.verify}` exited {code}: {tail[-500:]}"))
            await self._follow_up(tr, tr, findings, f"the verify command exited {code}")
        self.pump()

    async def _verifier_failed(self, tr: TaskRun, name: str, report: dict[str, Any]) -> None:
        target = self._fix_target(tr)
        try:
            findings = (await self.call("last", worker=name))["text"]
        except RequestError:
            findings = report.get("headline", "")
        why = f"{name} reported {report.get('outcome') or report.get('status')}: {report.get('headline', '')}".strip()
        self._error(tr, (FailureClass.VERIFY_FAILED, why))
        if target is None:
            self._end(tr, TaskState.FAILED, f"{why}; no implementer to follow up (set fixes = \"task-id\")")
            return
        await self._follow_up(target, tr, findings, why)

    def _fix_target(self, verifier: TaskRun) -> TaskRun | None:
        """Whose work a verifier checked: `fixes`, else the nearest implementer it comes after."""
        if verifier.task.fixes and verifier.task.fixes in self.runs:
            return self.resolve(verifier.task.fixes)
        for dep in verifier.task.after:
            tr = self.resolve(dep)
            if tr.task.role == "implementer":
                return tr
        return None

    async def _follow_up(self, target: TaskRun, source: TaskRun, findings: str, why: str) -> None:
        """A next round of `target` with the findings; a verifier (`source`) runs again after it."""
        assert self.plan is not None
        if source is not target and target.open:
            await self._join_round(target, source, findings, why)
            return
        if target.task.round > self.plan.follow_up_rounds:
            self._end(source, TaskState.FAILED, f"{why}; no follow-up rounds left ({self.plan.follow_up_rounds} used)", error=(FailureClass.VERIFY_FAILED, why))
            return
        root = target.task.follow_up_of or target.id
        fix = target.task.follow_up(self._new_id(f"{root}-fix{target.task.round}"), findings, after=list(target.task.after))
        added = [fix]
        if source is not target:
            vroot = source.task.follow_up_of or source.id
            added.append(source.task.follow_up(self._new_id(f"{vroot}-r{source.task.round + 1}"), "", after=[fix.id]))
        await self._add_rounds(source, added)
        # The new rounds are in run.toml before anything points at them (a kill in between
        # must not leave `superseded_by` naming a task the next supervisor cannot find).
        self._end(target, TaskState.SUPERSEDED, f"{why}: followed up by {fix.id}")
        target.superseded_by = fix.id
        self.save(target)
        if source is not target:
            self._end(source, TaskState.SUPERSEDED, f"{why}: checks again as {added[1].id} after {fix.id}")
            source.superseded_by = added[1].id
            self.save(source)
        self.journal.write("follow-up", target.id, source=source.id, new=[t.id for t in added], round=fix.round, reason=why)

    async def _join_round(self, target: TaskRun, source: TaskRun, findings: str, why: str) -> None:
        """A verifier failed a task that is not finished yet (another verifier's follow-up
        round is under way): it checks again after that round, and its findings join the
        round when it has not started."""
        if target.state in (TaskState.PENDING, TaskState.QUEUED) and not target.attempts and not target.envelope_edited and findings:
            target.task.findings = f"{target.task.findings}\n\n{findings}".strip()
            await self.disk.run(write_toml, self.dir / target.id / "task.toml", task_record(target.task))
        vroot = source.task.follow_up_of or source.id
        again = source.task.follow_up(self._new_id(f"{vroot}-r{source.task.round + 1}"), "", after=[target.id])
        await self._add_rounds(source, [again])
        self._end(source, TaskState.SUPERSEDED, f"{why}: {target.id} is {target.state}; checks again as {again.id} after it")
        source.superseded_by = again.id
        self.save(source)
        self.journal.write("follow-up", target.id, source=source.id, new=[again.id], joined=True, reason=why)

    async def _add_rounds(self, source: TaskRun, added: list[Task]) -> None:
        """New tasks right after their source (plan order reads as it ran), on disk first."""
        for task in added:
            await self.disk.run(write_toml, self.dir / task.id / "task.toml", task_record(task))
        order = [tid for tid in self.runs if tid not in {t.id for t in added}]  # as it is now, after the awaits
        at = order.index(source.id) + 1
        for task in added:
            order.insert(at, task.id)
            at += 1
            self.runs[task.id] = TaskRun(task)
            self.runs[task.id].set(TaskState.PENDING, "a follow-up round")
            self.save(self.runs[task.id])
        self.runs = {tid: self.runs[tid] for tid in order}
        self.save_run()

    def _new_id(self, base: str) -> str:
        tid, n = base, 1
        while tid in self.runs:
            n += 1
            tid = f"{base}-{n}"
        return tid

    # -- the stall watchdog (watchdog.py takes the steps; a restart or a dead letter is done here) ----------
    def watchdog_stepped(self, tid: str, step: str, at: float) -> None:
        tr = self.runs.get(tid)
        if tr is not None:
            tr.watch_step += 1
            tr.watch_at = at
            tr.reason = f"stale: watchdog step {tr.watch_step} ({step})"
            self.save(tr)
            self.changed()

    async def watchdog_end(self, tid: str, worker: str, step: str) -> None:
        await self._quietly("kill", worker=worker, grace=3.0)  # (its end is decided in _watchdog_ended)

    def _watchdog_ended(self, tr: TaskRun, name: str) -> None:
        """A stale worker the watchdog was walking ended: restart it in its conversation, or
        dead-letter it, as the next step says."""
        assert self.plan is not None
        ladder = self.plan.watchdog
        last = ladder[tr.watch_step - 1] if 0 < tr.watch_step <= len(ladder) else ""
        step = last if last in ENDING_STEPS else after_end(ladder, tr.watch_step)
        if step and step != last:  # (its Ctrl+C ended it: the next ending step, now)
            tr.watch_step = ladder.index(step, tr.watch_step) + 1
            self.journal.write("watchdog", name, task=tr.id, step=step, n=tr.watch_step)
        evidence = f"{name} printed nothing for longer than {compact(self.plan.stale_after)}; the watchdog took {tr.watch_step} step(s)"
        if step == "restart":
            tr.resume_from = name
            tr.set(TaskState.QUEUED, f"watchdog: {name} was stale; restarting in its own conversation")
            self.save(tr)
        else:
            self._end(tr, TaskState.FAILED, f"watchdog: {name} stayed stale ({', '.join(ladder[: tr.watch_step]) or 'no steps'})", error=(FailureClass.STALE, evidence), breaker=False)

    # -- budgets (budgets.py counts and asks; holding tasks back is done here) ------------------------------
    def budget_scopes(self) -> list[Scope]:
        if self.plan is None or self.state not in (PlanState.RUNNING, PlanState.PAUSED):
            return []
        out, every = [], []
        for tr in self.runs.values():
            names = list(dict.fromkeys([a["worker"] for a in tr.attempts] + [w for w in (tr.verify_worker, tr.worker) if w]))
            every += names
            if tr.task.budget_tokens or tr.task.budget_usd:
                out.append(Scope(f"task#{self.number}:{tr.id}", f"task {tr.id}", tr.task.budget_tokens, tr.task.budget_usd, names, [tr.id], self.plan.usd_per_mtok))
        if self.plan.budget_tokens or self.plan.budget_usd:
            out.insert(0, Scope(f"plan#{self.number}", f"plan {self.plan.title!r}", self.plan.budget_tokens, self.plan.budget_usd, every, [], self.plan.usd_per_mtok))
        return out

    def over_budget(self, key: str, tasks: list[str], evidence: str) -> list[str]:
        """A ceiling was reached: its tasks (none named: every open one) wait for the person."""
        held = [self.runs[t] for t in tasks if t in self.runs] if tasks else list(self.runs.values())
        for tr in held:
            if tr.open:
                tr.hold = key
                tr.reason = f"held: {evidence}; answer in the inbox"
                self.save(tr)
        holding = [t.id for t in held if t.hold == key]
        self.journal.write("budget", None, scope=key, held=holding)
        self.changed()
        return holding

    def budget_answered(self, key: str, tasks: list[str], more: bool, by: str) -> None:
        stop_plan = not more and not key.startswith("task#")
        for tr in self.runs.values():
            if tr.hold != key:
                continue
            tr.hold = None
            if more and tr.state in (TaskState.PENDING, TaskState.QUEUED):
                tr.set(TaskState.QUEUED, f"more budget allowed by {by}" + (f": continues {tr.resume_from}'s conversation" if tr.resume_from else ""))
            elif not more and not stop_plan and tr.state in (TaskState.PENDING, TaskState.QUEUED):
                self._end(tr, TaskState.FAILED, f"over its budget; stopped by {by}", error=(FailureClass.BUDGET, f"{key}: the person said stop"), breaker=False)
            self.save(tr)
        if stop_plan and self.state in (PlanState.RUNNING, PlanState.PAUSED):
            self.spawn_soon(self._quietly("plan_stop", grace=3.0))
        self.pump()

    # -- the circuit breaker -------------------------------------------------------------------------------
    def _breaker_opened(self) -> None:
        b = self.breaker
        self.journal.write("breaker", None, state=b.state, failure=b.cls, count=b.count, evidence=b.evidence)
        self.save_run()
        self.changed()
        self.spawn_soon(self._ask_breaker())

    async def _ask_breaker(self) -> None:
        """The gate: what the person says decides (resume half-open, skip, stop)."""
        assert self.plan is not None
        # On disk before the person can see it: a restart after the question asks it again.
        await self.disk.run(write_toml, self.run_file, self.run_record())
        esc = await self.call("escalate", question=self.breaker.question(self.plan.title), tier="gate", options=OPTIONS)
        self.breaker.escalation = esc["id"]
        self.save_run()
        self.changed()
        out = await self.call("decision_wait", escalation=esc["id"])
        choice = ANSWERS.get(str((out.get("answer") or {}).get("choice")), RESUME)
        by = (out.get("answer") or {}).get("by", "?")
        if self.breaker.escalation != esc["id"] or self.state not in (PlanState.RUNNING, PlanState.PAUSED):
            return  # a newer gate, or the plan ended meanwhile
        self.breaker.escalation = None
        self.journal.write("breaker", None, answer=choice, by=by, failure=self.breaker.cls)
        if choice == RESUME:
            self.breaker.state = HALF_OPEN
        elif choice == SKIP:
            failing = self.breaker.cls
            for tr in list(self.runs.values()):
                if tr.error and tr.error.get("class") == failing and tr.state in (TaskState.FAILED, TaskState.TIMED_OUT, TaskState.QUEUED):
                    self._end(tr, TaskState.SKIPPED, f"skipped at the circuit breaker by {by} ({failing})")
            self._unblock()
            self.breaker.state = CLOSED
            self.breaker.succeeded()  # (closed: the count starts over)
        else:
            await self._quietly("plan_stop", grace=3.0)
        self.save_run()
        self.pump()

    def _unblock(self) -> None:
        """What waited on a task that ended badly waits again (it was retried or skipped)."""
        for other in self.runs.values():
            if other.state == TaskState.BLOCKED and other.reason.startswith("after "):
                other.set(TaskState.PENDING, "waiting again")
                self.save(other)

    # -- endings -----------------------------------------------------------------------------------------
    def _error(self, tr: TaskRun, failure: Failure, breaker: bool = True) -> None:
        """A failure of the task, classified: into the journal and the task's errors.jsonl."""
        cls, evidence = failure
        event = error_event(cls, evidence, task=tr.id, worker=tr.worker, attempt=len(tr.attempts) or None, round=tr.task.round)
        self.journal.write("error", tr.worker, **{k: v for k, v in event.items() if k != "worker"})
        tr.error = {**event, "at": now_iso()}
        if cls in (FailureClass.RATE_LIMIT, FailureClass.USAGE_LIMIT) and tr.task.agent != "shell":
            self._pause_kind(tr.task.agent, cls, evidence)
        if breaker and self.breaker.failed(cls, tr.id, evidence):
            self._breaker_opened()
        self.spawn_soon(self.disk.run(append_text, self.dir / tr.id / "errors.jsonl", json.dumps(tr.error, ensure_ascii=False) + "\n"))

    def _end(self, tr: TaskRun, state: TaskState, reason: str, error: Failure | None = None, breaker: bool = True) -> None:
        if error is not None:
            self._error(tr, error, breaker)
        if state == TaskState.DONE and self.breaker.succeeded():
            self.journal.write("breaker", None, state=self.breaker.state, reason=f"{tr.id} succeeded while half-open")
        tr.set(state, reason)
        tr.ended = now_iso()
        tr.stale = False
        timer = self._timers.pop(tr.id, None)
        if timer is not None:
            timer.cancel()
        self.checkpoints.disarm(tr.id)
        self.journal.write("task", tr.id, state=state, reason=reason, worker=tr.worker)
        self.save(tr)
        if state in (TaskState.FAILED, TaskState.TIMED_OUT) and self.dead_letter is not None:
            self.spawn_soon(self._bury(tr))
        self.changed()

    async def _bury(self, tr: TaskRun) -> None:
        assert self.dead_letter is not None
        letter = str(await self.dead_letter(tr.public()))
        if tr.state in (TaskState.FAILED, TaskState.TIMED_OUT):  # (not retried meanwhile)
            tr.dead_letter = letter
        self.save(tr)
        self.changed()

    async def _complete(self) -> None:
        assert self.plan is not None
        counts: dict[str, int] = {}
        for tr in self.runs.values():
            if tr.state != TaskState.SUPERSEDED:
                counts[tr.state] = counts.get(tr.state, 0) + 1
        said = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        self.ended = now_iso()
        final = PlanState.STOPPED if self.state == PlanState.STOPPED else PlanState.COMPLETE
        # The summary is on disk before anyone hears the plan ended.
        await self.disk.run(atomic_write, self.summary_file, self.summary(said, final))
        if any(t.open for t in self.runs.values()):  # a retry came while the summary was written
            self.ended = None
            return
        if final == PlanState.STOPPED:  # stopped by the person: it stays stopped, and is summed up
            self.journal.write("plan", None, state=self.state, reason=f"every task ended after the stop: {said}")
            self.save_run()
        else:
            self._set_plan(PlanState.COMPLETE, f"every task ended: {said}")
        ok = final == PlanState.COMPLETE and set(counts) <= {TaskState.DONE, TaskState.SKIPPED}
        self.publish_event({"event": "plan_complete", "title": self.plan.title, "state": str(final), "summary": said, "ok": ok})

    def summary(self, said: str, state: PlanState) -> str:
        assert self.plan is not None
        lines = [f"# Plan: {self.plan.title}", "", f"{state}: {said}. Started {self.started}, ended {self.ended}.", ""]
        lines += ["| task | role | agent | round | state | worker | why |", "|---|---|---|---|---|---|---|"]
        for tr in self.runs.values():
            why = tr.reason.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {tr.id} | {tr.task.role} | {tr.task.agent} | {tr.task.round} | {tr.state} | {tr.worker or '-'} | {why} |")
        lines += ["", "`podium plan promote` (or `p` on the plan screen) puts the done tasks' reports into the result, in this order.", ""]
        if writers := plan_writers(self.snapshot()):
            lines += [f"Its writers' branches, {', '.join(BRANCH_PREFIX + w for w in writers)}: `podium merge --plan` (or `m` on the plan screen) merges them in this order.", ""]
        return "\n".join(lines)

    def _set_plan(self, state: PlanState, reason: str) -> None:
        self.state = state
        self.journal.write("plan", None, state=state, reason=reason)
        self.save_run()
        self.changed()

    # -- on disk and to the clients -----------------------------------------------------------------------
    def save(self, tr: TaskRun) -> None:
        self.disk.write_toml(self.dir / tr.id / "state.toml", tr.state_record())

    def save_run(self) -> None:
        self.disk.write_toml(self.run_file, self.run_record())

    def run_record(self) -> dict[str, Any]:
        return {"state": str(self.state), "number": self.number, "started": self.started, "ended": self.ended, "path": str(self.plan_path), "order": list(self.runs), "breaker": self.breaker.record(), "limited": self.limited}

    def heard(self, at: str) -> None:
        """The heartbeat looked at the plan (the dashboard's plan line says when)."""
        self.last_heartbeat = at
        self.changed()

    def mark_stale(self, tid: str, stale: bool, evidence: str = "") -> None:
        tr = self.runs.get(tid)
        if tr is not None and tr.stale != stale:
            again = tr.error is not None and tr.error.get("class") == FailureClass.STALE and tr.error.get("worker") == tr.worker
            if stale and not again:  # (the echo of the watchdog's own Esc can end a stale spell: not a new failure)
                self._error(tr, (FailureClass.STALE, evidence or "no output for longer than stale_after"))
            tr.stale = stale
            tr.watch_at = time.time() if stale else None
            self.save(tr)
            self.changed()

    def changed(self) -> None:
        """Tell the clients, once per loop turn however many things changed."""
        if self._publish_due:
            return
        self._publish_due = True

        def send() -> None:
            self._publish_due = False
            self.publish_event({"event": "plan", "plan": self.snapshot()})

        asyncio.get_running_loop().call_soon(send)

    def snapshot(self) -> dict[str, Any]:
        plan = self.plan.public() if self.plan else {}
        tasks = []
        for tr in self.runs.values():
            item = tr.public()
            seen = self.workers.get(tr.worker) if tr.worker else None
            item["worker_state"] = seen.state if seen is not None else None
            item["next"] = self.next_action(tr)
            item["cap_at"] = self.cap_at(tr)
            item["checkpoint_at"] = self.checkpoints.at(tr, self.plan.checkpoint_before) if self.plan else None
            tasks.append(item)
        counts: dict[str, int] = {}
        for tr in self.runs.values():
            counts[tr.state] = counts.get(tr.state, 0) + 1
        return {**plan, "state": str(self.state), "number": self.number, "started": self.started, "ended": self.ended, "tasks": tasks, "counts": counts, "problems": self.problems, "heartbeat_at": self.last_heartbeat, "circuit": self.breaker.record(), "limited": {k: v for k, v in self.limited.items() if v["until"] > time.time()}} | {k: v for view in self.views for k, v in view().items()}

    def cap_at(self, tr: TaskRun) -> float | None:
        """When a working task's time cap falls (seconds since 1970), else None."""
        if tr.state not in (TaskState.STARTING, TaskState.RUNNING) or not tr.attempts:
            return None
        return (epoch(tr.attempts[-1].get("started")) or time.time()) + tr.task.time_cap

    def next_action(self, tr: TaskRun) -> str:
        """What podium will do about this task next, in a few words."""
        s = tr.state
        if s == TaskState.PENDING:
            waiting = [d for d in tr.task.after if self.resolve(d).state not in TASK_SATISFIED]
            return f"start when {', '.join(waiting)} done" if waiting else "start now"
        if tr.hold:
            return "wait for the person: more budget, or stop (inbox)"
        if tr.checkpointing:
            return "write the checkpoint, then start a fresh session with it"
        if tr.resume_from and s == TaskState.QUEUED:
            return f"continue {tr.resume_from}'s conversation when a slot frees"
        if s == TaskState.QUEUED and tr.retry_at and tr.retry_at > time.time():
            return f"retry in {compact(tr.retry_at - time.time())} (backoff after {tr.error['class'] if tr.error else 'a failure'})"
        if s == TaskState.QUEUED:
            return "start when a slot frees" if self.state == PlanState.RUNNING else f"start when the plan runs ({self.state})"
        if s in (TaskState.STARTING, TaskState.RUNNING):
            if tr.cap_hit:
                return "mark it timed-out once its worker stops"
            if tr.stale and self.plan is not None and tr.watch_step < len(self.plan.watchdog):
                return f"watchdog: {self.plan.watchdog[tr.watch_step]} after {compact(self.plan.watchdog_every)} more of silence"
            return f"verify with {tr.task.verify!r} when it ends" if tr.task.verify else "read its report when it ends"
        if s == TaskState.VERIFYING:
            return "done if the verify command exits 0, else a follow-up round"
        if s == TaskState.SUPERSEDED:
            return f"see {tr.superseded_by}"
        if s in FAILED_ENDS:
            return "nothing: retry or skip it (the person decides)"
        return "-"

    # -- edits of the plan file while it runs ------------------------------------------------------------
    async def _watch_plan(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY)
            if self.state not in (PlanState.RUNNING, PlanState.PAUSED):
                continue
            stamp = _stamp(self.plan_path)
            if stamp is None or stamp == self._plan_stamp:
                continue
            self._plan_stamp = stamp
            try:
                await self.apply_edit(await self.disk.run(load_plan, self.plan_path))
            except PlanError as exc:
                self.problems = [f"the edit was not applied (the plan runs as it was): {p}" for p in exc.problems]
                self.journal.write("plan-edit", None, applied=[], refused=self.problems)
                self.changed()
            except Exception:  # noqa: BLE001 - one bad edit must not stop every later one
                log.exception("plan: applying an edit of %s failed", self.plan_path)
                self.problems = [f"the last edit of {self.plan_path} could not be applied: see .podium/supervisor.log"]
                self.changed()

    async def apply_edit(self, new: Plan) -> None:
        """Changes to tasks that have not started apply; to the others, refused with why."""
        assert self.plan is not None
        applied, refused = [], []
        for tid, task in new.tasks.items():
            tr = self.runs.get(tid)
            if tr is None:
                self.runs[tid] = TaskRun(task)
                await self.disk.run(write_toml, self.dir / tid / "task.toml", task_record(task))
                self.save(self.runs[tid])
                applied.append(f"{tid}: added")
            elif _differs(tr.task, task):
                if tr.state in (TaskState.PENDING, TaskState.QUEUED) and not tr.attempts:
                    tr.task = task
                    await self.disk.run(write_toml, self.dir / tid / "task.toml", task_record(task))
                    applied.append(f"{tid}: changed")
                else:
                    refused.append(f"{tid}: it is {tr.state}; a change applies only to a task that has not started")
        for tid, tr in list(self.runs.items()):
            if tid not in new.tasks and not tr.task.follow_up_of:
                if tr.state in (TaskState.PENDING, TaskState.QUEUED) and not tr.attempts:
                    self._end(tr, TaskState.SKIPPED, "removed from the plan file")
                    applied.append(f"{tid}: removed (skipped)")
                elif tr.state not in (TaskState.SKIPPED,):
                    refused.append(f"{tid}: removed from the file, but it is {tr.state}; skip it instead")
        for key in ("max_parallel", "follow_up_rounds", "heartbeat", "stale_after", "title", "scope", "cwd", "retry_on", "backoff", "backoff_max", *CHANGEABLE):
            if getattr(self.plan, key) != getattr(new, key):
                setattr(self.plan, key, getattr(new, key))
                applied.append(f"{key}: changed")
        self.problems = refused
        if applied or refused:
            self.journal.write("plan-edit", None, applied=applied, refused=refused)
            self.save_run()
        self.changed()
        self.pump()


def _differs(a: Task, b: Task) -> bool:
    return task_record(a) | {"line": 0} != task_record(b) | {"line": 0}


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _read_toml_or_empty(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def _set_aside(directory: Path, number: int) -> None:
    """The last plan run's task records move to tasks.<n>/ (nothing is deleted)."""
    if directory.exists() and any(directory.iterdir()):
        target = directory.with_name(f"tasks.{number or 'earlier'}")
        n = 1
        while target.exists():
            n += 1
            target = directory.with_name(f"tasks.{number or 'earlier'}-{n}")
        os.rename(directory, target)
    directory.mkdir(parents=True, exist_ok=True)


def _tail(worker_dir: Path, lines: int) -> str:
    reader = TranscriptReader(worker_dir)
    start = max(0, reader.size - 64 * 1024)
    text = plain_text(reader.read(start, reader.size)).replace("\r", "")
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])

