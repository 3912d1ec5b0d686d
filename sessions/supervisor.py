"""The supervisor: one per workspace, the process every client talks to.

Owns the workspace lock, start-up and shut-down, the table of workers, their links to
their holders (finding them again after a restart), spawning and resuming workers, and
the wiring of the rooms that do the rest:

    clients.py      the attached clients and what each watches   (ClientHub)
    requests.py     the one table of operations they reach        (RequestTable)
    worker_ops.py   the requests about workers                    (WorkerOps)
    frames.py       when screens are emulated and rows sent       (FrameClock)
    inbox.py        escalations: prompts, cards, answers          (EscalationInbox)
    result_desk.py  the curated result's requests                 (ResultDesk)
    worker.py       one worker: state, screen, adapter, ending    (Worker)

It holds no PTY: holders do, so its death (kill -9 included) kills no worker; a new
supervisor finds the holders again, rebuilds each screen from its transcript, carries on.
Every state change is in the journal before any client hears of it.

Run as `python -P -m podium.sessions.supervisor --workspace DIR` (`podium start` does).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import shlex
import signal
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from . import daemon, detached
from .agents import prepare_codex_exec
from .blackboard import WORKER_NAME_RE, Blackboard, BlackboardError, DiskThread, Journal, now_iso, read_json, read_toml, write_toml
from .clients import ClientConn, ClientHub
from .config import load_config
from .frames import FrameClock
from .holder_link import CONNECT_ERRORS, HolderLink, HolderRefused
from .hooks import HookDesk, evidence
from .inbox import EscalationInbox
from .orchestrators import OrchestratorDesk
from .plans import PlanRooms
from .merge_queue import MergeQueueRoom
from .review import Review
from .worktrees import Worktrees
from .exec_model import UnreadOutput
from .protocol import MAX_LINE, PROTOCOL_VERSION
from .launch import worker_env
from .requests import RequestError, RequestTable
from .result import CuratedResult
from .result_desk import ResultDesk
from .states import ACTIVE, ENDED, WorkerState
from .text import masked
from .transcript import TranscriptReader
from .worker import Worker, parse_ts
from .worker_ops import WorkerOps, find_worker

log = logging.getLogger("podium")

try:
    VERSION = version("podium")
except PackageNotFoundError:  # run from a checkout that was never installed
    VERSION = "unknown"
KINDS = ("shell", "codex", "claude")
LOCK_WAIT = 2.0  # how long a loser waits for the winner to write its pid


def detect_kind(argv: list[str]) -> str:
    prog = os.path.basename(argv[0]) if argv else ""
    return prog if prog in ("codex", "claude") else "shell"


class Supervisor:
    def __init__(self, workspace: Path | str):
        self.bb = Blackboard(workspace)
        self.workers: dict[str, Worker] = {}
        self.stopping = asyncio.Event()
        self.started = now_iso()
        self.loop: asyncio.AbstractEventLoop | None = None  # set by run(); the disk thread reports through it
        self.disk = DiskThread(on_error=self._disk_error)
        self.config = load_config()
        self.table = RequestTable()
        self.hub = ClientHub(self.table, self.hello_info, self._frame_of)
        self.frames = FrameClock(lambda: self.workers.values(), self.hub, self._announce, lambda w: self.inbox.check_prompts(w))
        self.journal: Journal
        self.inbox: EscalationInbox
        self.desk: ResultDesk
        self.plans: PlanRooms
        self._lock_fd = -1
        self._server: asyncio.base_events.Server | None = None
        self._next_exec = 1

    # -- the lock (before the event loop starts) ---------------------------------------------
    def acquire_lock(self) -> int | None:
        """Take the workspace lock and write our pid and socket beside it; if another
        supervisor has it, return that one's pid."""
        self.bb.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.bb.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # The winner writes its pid just after it takes the lock: give it a moment.
            pid = 0
            deadline = time.monotonic() + LOCK_WAIT
            while not pid and time.monotonic() < deadline:
                try:
                    pid = int(os.pread(fd, 32, 0).decode().split("\n", 1)[0].strip() or 0)
                except ValueError:
                    pid = 0
                if not pid:
                    time.sleep(0.01)
            os.close(fd)
            return pid
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n{self.bb.socket_path}\n".encode())
        self._lock_fd = fd  # held open: the lock lasts as long as this process
        return None

    # -- start and stop ---------------------------------------------------------------------------
    def _build_rooms(self) -> None:
        self.journal = Journal(self.bb.journal)
        publish = lambda esc: self.hub.broadcast({"event": "escalation", "escalation": esc})  # noqa: E731
        asked = lambda name: self.frames.info_changed(self.workers[name]) if name in self.workers else None  # noqa: E731
        self.inbox = EscalationInbox(self.bb.root / "decisions", self.journal, self.disk, self.workers.get, publish, asked, self.config.recognisers, self.config.rules)
        self.desk = ResultDesk(CuratedResult(self.bb.root / "result.md"), self.disk, self.journal, self._last_message, self._result_changed)
        self.worktrees = Worktrees(self.bb.root, self.bb.workspace, self.journal, self.disk, self.table.call, self.workers, lambda name: self._announce(self.workers[name]) if name in self.workers else None)
        self.plans = PlanRooms(self.bb.root, self.bb.workspace, self.journal, self.disk, self.table, self.workers, self.hub.broadcast, self.config.budget, self.worktrees)
        self.hooks = HookDesk(self.bb.root, self.bb.socket_path, self.journal, self.table.call, self.workers, lambda name: (self.save(self.workers[name]), self._announce(self.workers[name])) if name in self.workers else None)
        self.inbox.screen_asked = self.hooks.screen_asked
        orchestrators = OrchestratorDesk(self.bb.root / "orchestrator.toml", self.journal, self.disk, self.table.call, self.hub.broadcast)
        for room in (WorkerOps(self), self.inbox, self.desk, orchestrators, self.hooks, self.worktrees, MergeQueueRoom(self.table.call), Review(self.bb.root, self.journal, self.disk, self.table.call, self.worktrees.info)):
            room.register(self.table)

    async def run(self, ready_fd: int = -1) -> int:
        """Serve until stopped (the lock is already ours)."""
        self._build_rooms()
        loop = self.loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        sock = self.bb.socket_path
        sock.unlink(missing_ok=True)  # a crashed supervisor's socket: we hold the lock, so it is stale
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self.hub.serve, path=str(sock), limit=MAX_LINE)
        finally:
            os.umask(old_umask)
        os.chmod(sock, 0o600)
        await self.disk.run(write_toml, self.bb.session_toml, self._session_info())
        self.journal.write("supervisor", None, state="started", pid=os.getpid())
        for problem in self.config.problems:
            log.warning(f"config: {problem}")
            self.journal.write("config", None, problem=problem)
        await self.load_workers()
        self.inbox.start()
        await self.plans.start()
        await asyncio.gather(self.hooks.offer_resumes(), self.worktrees.start())
        detached.report(ready_fd, {"ok": True, "pid": os.getpid(), "socket": str(sock)})
        await self.stopping.wait()
        await self.shutdown()
        return 0

    def _session_info(self) -> dict[str, Any]:
        try:
            created = str(read_toml(self.bb.session_toml).get("created") or now_iso())
        except BlackboardError:
            created = now_iso()
        return {
            "name": self.bb.workspace.name,
            "workspace": str(self.bb.workspace),
            "created": created,
            "socket": str(self.bb.socket_path),
            "supervisor_pid": os.getpid(),
            "supervisor_started": self.started,
            "version": VERSION,
            "protocol": PROTOCOL_VERSION,
        }

    async def shutdown(self) -> None:
        self.journal.write("supervisor", None, state="stopped", pid=os.getpid())
        self.inbox.stop()
        self.plans.stop()
        await self.hub.close_all("supervisor stopped")
        if self._server is not None:
            self._server.close()
        for worker in self.workers.values():
            if worker.link is not None:
                worker.link.close()
            worker.close()
        self.bb.socket_path.unlink(missing_ok=True)
        await asyncio.get_running_loop().run_in_executor(None, self.disk.flush)
        self.disk.close()
        self.journal.close()

    def stop_soon(self) -> None:
        asyncio.get_running_loop().call_soon(self.stopping.set)

    def hello_info(self) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "podium": VERSION,
            "pid": os.getpid(),
            "workspace": str(self.bb.workspace),
            "socket": str(self.bb.socket_path),
            "started": self.started,
            "clients": len(self.hub.clients),
        }

    # -- workers found on disk ------------------------------------------------------------------------
    async def load_workers(self) -> None:
        for name in self.bb.worker_names():
            try:
                meta = self.bb.read_meta(name)
            except BlackboardError as exc:
                meta = {"state": WorkerState.LOST, "reason": str(exc)}
            worker = self._new_worker(name, meta)
            if worker.exec_id is not None:
                self._next_exec = max(self._next_exec, worker.exec_id + 1)
            size = TranscriptReader(worker.dir).size
            if worker.state in ENDED:
                worker.restore(size)
            else:
                await self.reconnect(worker, size)

    async def reconnect(self, worker: Worker, size: int) -> None:
        try:
            link, hello = await HolderLink.connect(self.holder_socket(worker))
        except CONNECT_ERRORS as exc:
            worker.restore(size)
            exit_info = read_json(worker.dir / "exit.json")
            if exit_info is not None:
                worker.on_exit(exit_info)
            elif isinstance(exc, HolderRefused):
                worker.set_state(WorkerState.LOST, f"its holder (pid {worker.holder_pid}) refused: {exc}; the worker may still run; transcript kept")
            else:
                worker.set_state(WorkerState.LOST, f"holder not found ({exc.__class__.__name__}: machine rebooted or holder killed); transcript kept")
            return
        worker.screen.resize(int(hello.get("cols", worker.screen.columns)), int(hello.get("rows", worker.screen.lines)))
        worker.restore(int(hello.get("offset", size)))
        worker.link = link
        worker.pid = hello.get("worker_pid", worker.pid)
        worker.holder_pid = hello.get("pid", worker.holder_pid)
        worker.last_output = parse_ts(hello.get("last_output")) or worker.last_output
        if hello.get("transcript_error"):
            worker.on_transcript(str(hello["transcript_error"]), int(hello.get("transcript_lost") or 0), worker.offset)
        link.start(worker)
        paused = bool(hello.get("paused"))
        worker.set_state(WorkerState.PAUSED if paused else WorkerState.RUNNING, "reattached to its holder")
        self.inbox.check_prompts(worker)  # a worker may have been waiting at a prompt all along

    def holder_socket(self, worker: Worker) -> Path:
        """Where the worker's holder listens: what it wrote in holder.json (a supervisor
        started with another $XDG_RUNTIME_DIR still finds it), else where we would put it."""
        recorded = read_json(worker.dir / "holder.json")
        return Path(recorded["socket"]) if recorded and isinstance(recorded.get("socket"), str) else self.bb.holder_socket(worker.name)

    def _new_worker(self, name: str, meta: dict[str, Any]) -> Worker:
        worker = Worker(name, meta, self.bb.worker_dir(name), self, str(self.bb.workspace))
        self.workers[name] = worker
        return worker

    # -- spawning ----------------------------------------------------------------------------------------
    def exec_name(self) -> tuple[int, str]:
        exec_id = self._next_exec
        while f"exec-{exec_id}" in self.workers or self.bb.worker_dir(f"exec-{exec_id}").exists():
            exec_id += 1
        self._next_exec = exec_id + 1
        return exec_id, f"exec-{exec_id}"

    async def spawn(
        self, name: str, argv: list[str], kind: str | None = None, cwd: str | None = None, env: dict[str, str] | None = None,
        cols: int = 120, rows: int = 40, exec_id: int | None = None, unread: bool = False,
        by: str | None = None,  # who asked (a client's kind: cli, app, plan, mcp…): the list and ls say so
    ) -> Worker:  # fmt: skip
        if not WORKER_NAME_RE.match(name):
            raise RequestError(f"bad worker name {name!r}: letters, digits, '.', '_' and '-', at most 64")
        existing = self.workers.get(name)
        if existing is not None:
            raise RequestError(f"worker {name} already exists ({existing.state})")
        if not argv:
            raise RequestError("no command given")
        kind = kind or detect_kind(argv)
        if kind not in KINDS:
            raise RequestError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
        cwd = cwd or str(self.bb.workspace)
        meta = {"kind": kind, "command": argv, "cwd": cwd, "state": WorkerState.STARTING, "reason": "spawned", "created": now_iso(), "exec_id": exec_id, "size": [cols, rows], "by": by}
        self.bb.worker_dir(name).mkdir(parents=True, exist_ok=True)
        worker = self._new_worker(name, meta)
        if worker.mode == "codex-exec":
            worker.argv = prepare_codex_exec(argv, worker.dir)
        worker.unread = UnreadOutput() if unread else None
        self.journal.write("spawn", name, kind=kind, command=[masked(a) for a in worker.argv], cwd=cwd, via=by)
        await self._launch(worker, worker.argv, env, divider=None)
        return worker

    async def resume(self, worker: Worker, prompt: str, env: dict[str, str] | None) -> Worker:
        if worker.state in ACTIVE:
            raise RequestError(f"worker {worker.name} is still {worker.state}; resume continues a worker that has ended")
        try:
            argv = worker.adapter.resume_command(prompt, worker.argv)
        except ValueError as exc:
            raise RequestError(f"cannot resume {worker.name}: {exc}") from None
        if worker.mode == "codex-exec":
            argv = prepare_codex_exec(argv, worker.dir)
        worker.adapter.new_run()
        run = len(worker.runs) + 1
        divider = f"── podium: run {run} of {worker.name} · resume · {now_iso()} · {shlex.join(argv)} ──"
        self.journal.write("resume", worker.name, run=run, command=[masked(a) for a in argv])
        await self._launch(worker, argv, env, divider=divider)
        return worker

    async def _launch(self, worker: Worker, argv: list[str], env: dict[str, str] | None, divider: str | None) -> None:
        """Start a run of `worker` (its first, or a resumed one) under a new holder."""
        for stale in ("exit.json", "holder.json"):
            try:
                (worker.dir / stale).unlink()
            except FileNotFoundError:
                pass
        worker.new_run(argv, TranscriptReader(worker.dir).size, resumed=divider is not None)
        argv, env = self.hooks.bridge(worker.name, worker.mode, argv, env, worker.cwd)  # (meta keeps the command as asked)
        self.save(worker)
        self._announce(worker)
        cols, rows = worker.screen.columns, worker.screen.lines
        args = ["--worker-dir", str(worker.dir), "--socket", str(self.bb.holder_socket(worker.name)), "--cwd", worker.cwd, "--cols", str(cols), "--rows", str(rows)]
        args += ["--divider", divider] if divider else []
        try:
            info = await daemon.launch(
                daemon.holder_program(), [*args, "--", *argv], log_path=worker.dir / "holder.log", what=f"the holder of {worker.name}", env=worker_env(env)
            )
        except daemon.LaunchError as exc:
            info = {"error": f"podium: could not start the holder: {exc}", "exit_code": 126}
        if "error" in info:
            message = f"{info['error']}\n".encode()
            worker.screen.write(message)
            if worker.unread is not None:
                worker.unread(message)
            worker.on_exit({"exit_code": info.get("exit_code", 127), "error": str(info["error"])})
            return
        worker.pid = info.get("worker_pid")  # type: ignore[assignment]
        worker.holder_pid = info.get("pid")  # type: ignore[assignment]
        worker.started = str(info.get("started") or now_iso())
        try:
            link, hello = await HolderLink.connect(self.bb.holder_socket(worker.name))
        except CONNECT_ERRORS as exc:
            exit_info = read_json(worker.dir / "exit.json")  # it may have exited already
            if exit_info is not None:
                worker.on_exit(exit_info)
            else:
                worker.set_state(WorkerState.LOST, f"holder started but could not be reached ({exc!r})")
            return
        worker.link = link
        worker.catch_up(worker.offset, int(hello.get("offset", worker.offset)))
        link.start(worker)
        worker.set_state(WorkerState.RUNNING, "spawned" if divider is None else f"resumed (run {len(worker.runs)})")

    # -- what workers tell (WorkerListener) ---------------------------------------------------------------
    def state_changed(self, worker: Worker) -> None:
        self.save(worker)
        self.journal.write("state", worker.name, state=worker.state, reason=worker.reason)
        if worker.state in ENDED:
            self.inbox.worker_ended(worker.name, worker.state)
            self.frames.flush(worker)  # watchers get the last screen before they hear the end
        self._announce(worker)
        self.plans.worker_changed(worker.name, worker.state)

    def output(self, worker: Worker, data: bytes) -> None:
        self.hub.output(worker.name, data)
        self.frames.output(worker)

    def screen_reset(self, worker: Worker) -> None:
        self.frames.reset(worker)

    def agent_changed(self, worker: Worker) -> None:
        self.frames.info_changed(worker)
        self.plans.agent_reported(worker.name)

    def following(self, worker: Worker) -> bool:
        return self.hub.following(worker.name)

    def warned(self, worker: Worker, warning: str) -> None:
        log.warning(f"{worker.name}: {warning}")
        self.journal.write("warning", worker.name, warning=warning)
        self.save(worker)
        self._announce(worker)

    def _disk_error(self, path: Path, error: str) -> None:
        """On the disk thread: hand the failure to the event loop (or the log, once it is gone)."""
        if self.loop is not None:
            with contextlib.suppress(RuntimeError):  # (the loop is closed: the supervisor is on its way out)
                self.loop.call_soon_threadsafe(self._disk_failed, path, error)
                return
        log.warning(f"could not write {path}: {error}")

    def _disk_failed(self, path: Path, error: str) -> None:
        """A blackboard write failed (a full disk): the worker it belongs to says so."""
        worker = self.workers.get(path.parent.name) if path.parent.parent == self.bb.workers_dir else None
        if worker is not None:
            worker.warn(path.name, f"{path.name}: {error}")
        else:
            log.warning(f"could not write {path}: {error}")

    # -- what the worker requests need (worker_ops.Room) -------------------------------------------------
    def describe(self, worker: Worker) -> dict[str, Any]:
        info = worker.public()
        asked = self.inbox.counts.get(worker.name, 0)
        info["promoted"] = self.desk.promoted_runs().get(worker.name, [])
        info["escalations"] = asked
        info["evidence"] = evidence(info, info.setdefault("hook", self.hooks.info(worker.name)), self.inbox.asking(worker.name))
        info["worktree"] = self.worktrees.info(worker.name)
        info["escalation_rate"] = round(asked / worker.adapter.actions, 3) if worker.adapter.actions else None
        return info

    def save(self, worker: Worker) -> None:
        self.disk.write_toml(worker.dir / "meta.toml", worker.meta())

    def _announce(self, worker: Any) -> None:
        self.hub.broadcast({"event": "worker", "worker": self.describe(worker)})

    def watch(self, client: ClientConn, names: list[str]) -> None:
        for name in names:
            worker = self.workers[name]
            client.screens.add(name)
            worker.screen.pump()
            if worker.screen.take_dirty() and worker.state in ACTIVE:
                self.inbox.check_prompts(worker)
            client.mark_dirty(name, None)

    def typed(self, name: str) -> None:
        self.frames.typed(name)

    def resized(self, worker: Worker) -> None:
        self.save(worker)
        self.frames.reset(worker)

    def signal_sent(self, worker: Worker, op: str, sig: str, by: str) -> None:
        self.journal.write("signal", worker.name, signal=sig, via=by)
        self.hub.broadcast({"event": "signal", "worker": worker.name, "signal": op, "by": by})

    def _frame_of(self, name: str, rows: set[int] | None) -> dict[str, Any] | None:
        worker = self.workers.get(name)
        if worker is None:
            return None
        if rows is not None and len(rows) > worker.screen.lines // 2:
            rows = None
        return worker.screen.snapshot(rows)

    def _last_message(self, name: str) -> tuple[str, dict[str, Any]]:
        worker = find_worker(self.workers, name)
        text = worker.adapter.last_message()
        if text is None:
            raise RequestError(f"{worker.name} has no last message to promote ({worker.state}: {worker.reason})")
        return text, worker.provenance()

    def _result_changed(self, event: dict[str, Any]) -> None:
        self.hub.broadcast(event)
        for worker in self.workers.values():
            self.frames.info_changed(worker)  # their 'promoted' marks may have changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="podium-supervisor")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--ready-fd", type=int, default=-1)
    ap.add_argument("--detach-log", default=None)
    args = ap.parse_args(argv)
    if args.detach_log:
        detached.detach(args.detach_log)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s")
    log.info(f"supervisor pid {os.getpid()} for {args.workspace}")
    supervisor = Supervisor(args.workspace)
    try:
        supervisor.bb.prepare()
    except BlackboardError as exc:
        detached.report(args.ready_fd, {"error": str(exc)})
        return 1
    other = supervisor.acquire_lock()
    if other is not None:
        recorded = supervisor.bb.recorded_supervisor()
        socket_path = recorded[1] if recorded else supervisor.bb.socket_path
        detached.report(args.ready_fd, {"already_running": True, "pid": other, "socket": str(socket_path)})
        return 0
    try:
        return asyncio.run(supervisor.run(args.ready_fd))
    finally:
        log.info(f"supervisor pid {os.getpid()} exits")


if __name__ == "__main__":
    sys.exit(main())
