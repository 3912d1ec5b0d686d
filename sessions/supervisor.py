"""The supervisor: one per workspace, the room every client talks to.

Owns the table of workers (their state, the signal each state came from, their live
screens), the links to their holders, the clients and what each is subscribed to, and the
blackboard's global files (`session.toml`, every `meta.toml`, `journal.jsonl`). It holds no
PTY: holders do, so its death (kill -9 included) kills no worker; a new supervisor finds
the holders again, rebuilds each screen from its transcript, and carries on.

Run as `python -m podium.sessions.supervisor --workspace DIR` (detached by `podium start`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import codecs
import fcntl
import json
import os
import shlex
import signal
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from . import daemon, wire
from .blackboard import (
    WORKER_NAME_RE,
    BackgroundWriter,
    Blackboard,
    BlackboardError,
    Journal,
    now_iso,
    read_json,
    write_toml,
)
from .agents import Adapter, make_adapter, prepare_codex_exec
from .pty_session import shell_argv, worker_env
from .escalations import (
    Escalation,
    RecogniserError,
    load_recognisers,
    parse_card,
    resolve_card,
    rules_from,
    screen_options,
    tier_for,
)
from .config import load_config
from .result import CuratedResult, ResultConflict, ResultUnreadable
from .states import ACTIVE, ENDED
from .screen import MAX_REPLAY, LiveScreen
from .transcript import TranscriptReader
from .unified_exec import (
    DEFAULT_EXEC_YIELD_MS,
    DEFAULT_WRITE_YIELD_MS,
    UnreadOutput,
    exec_answer,
)

VERSION = "0.1.0"
FRAME_INTERVAL = 1 / 30  # at most ~30 frames a second per screen
BACKGROUND_PUMP_INTERVAL = 0.25  # screens nobody watches are kept current at 4 Hz
CLIENT_QUEUE_LIMIT = 10_000  # messages queued for a client that reads nothing: drop it
KINDS = ("shell", "codex", "claude")
TAIL_FOR_REPORT = 16 * 1024  # what a shell worker's adapter needs to find its report
PROMPT_QUIET = 0.1  # seconds without output before the screen is read for prompts


class RequestError(Exception):
    """A request that cannot be done; the message goes back to the client as is."""


def detect_kind(argv: list[str]) -> str:
    prog = os.path.basename(argv[0]) if argv else ""
    if prog in ("codex", "claude"):
        return prog
    return "shell"


# ---------------------------------------------------------------------------- workers
class Worker:
    def __init__(self, sup: Supervisor, name: str, meta: dict[str, Any]):
        self.sup = sup
        self.name = name
        self.kind: str = meta.get("kind", "shell")
        self.argv: list[str] = list(meta.get("command", []))
        self.cwd: str = meta.get("cwd", str(sup.bb.workspace))
        self.state: str = meta.get("state", "starting")
        self.reason: str = meta.get("reason", "")
        self.exit_code: int | None = meta.get("exit_code")
        self.exit_signal: int | None = meta.get("exit_signal")
        self.pid: int | None = meta.get("pid")
        self.holder_pid: int | None = meta.get("holder_pid")
        self.created: str = meta.get("created", now_iso())
        self.started: str | None = meta.get("started")
        self.ended: str | None = meta.get("ended")
        self.last_output: float | None = _parse_ts(meta.get("last_output"))
        self.exec_id: int | None = meta.get("exec_id")
        self.runs: list[dict[str, Any]] = list(meta.get("runs", []))
        cols, rows = meta.get("size", [120, 40])
        self.screen = LiveScreen(cols, rows, reply=self._reply)
        self.link: HolderLink | None = None
        self.unread: UnreadOutput | None = None
        self.ended_event = asyncio.Event()
        if self.state in ENDED:
            self.ended_event.set()
        self.offset = 0  # transcript bytes this supervisor has seen
        self.kill_requested = False
        self.interrupt_requested = False
        self.last_pump = 0.0
        self.watchers: set[ClientConn] = set()  # clients subscribed to the screen
        self.followers: dict[ClientConn, codecs.IncrementalDecoder] = {}
        self.dir = sup.bb.worker_dir(name)
        self.adapter: Adapter = make_adapter(self.kind, self.argv, self.dir)
        agent = meta.get("agent", {})
        self.adapter.session_id = agent.get("session_id") or None
        self.agent_dirty = False
        self._events_fd = -1
        self.escalation_count = 0
        self.prompt_due = False  # the screen changed since prompts were last looked for
        self.prompt_checked = 0.0  # monotonic time of the last look

    # -- what the outside sees --------------------------------------------------
    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "reason": self.reason,
            "pid": self.pid,
            "holder_pid": self.holder_pid,
            "exit_code": self.exit_code,
            "exit_signal": self.exit_signal,
            "command": self.argv,
            "cwd": self.cwd,
            "created": self.created,
            "started": self.started,
            "ended": self.ended,
            "last_output": now_iso(self.last_output) if self.last_output else None,
            "exec_id": self.exec_id,
            "size": [self.screen.columns, self.screen.lines],
            "runs": len(self.runs) or 1,
            "mode": self.adapter.mode,
            "session_id": self.adapter.session_id,
            "tokens": self.adapter.tokens_in + self.adapter.tokens_out,
            "cost_usd": round(self.adapter.cost_usd, 6),
            "signals": self.adapter.signals(self.exit_code) if self.state in ENDED else None,
            "agent": self.adapter.public(self.exit_code),
            "promoted": self.sup.promoted_runs().get(self.name, []),
            "escalations": self.escalation_count,
            "escalation_rate": round(self.escalation_count / self.adapter.actions, 3) if getattr(self.adapter, "actions", 0) else None,
        }

    def meta(self) -> dict[str, Any]:
        m = self.public()
        m["runs"] = self.runs
        m.pop("signals", None)
        m["agent"] = {k: v for k, v in self.adapter.public(self.exit_code).items() if not isinstance(v, (dict, list))}
        if self.state in ENDED:
            m["agent"]["signals"] = self.adapter.signals(self.exit_code)
        return m

    def rebuild_agent(self, end: int) -> None:
        """After a restart: feed the current run's bytes again to know what the agent did."""
        start = int(self.runs[-1].get("offset", 0)) if self.runs else 0
        start = max(start, end - (64 * 1024 * 1024 if self.adapter.structured else TAIL_FOR_REPORT))
        reader = TranscriptReader(self.dir)
        pos = start
        while pos < end:
            chunk = reader.read(pos, min(end, pos + (1 << 20)))
            if not chunk:
                break
            self.adapter.feed(chunk)  # events.jsonl has them already
            pos += len(chunk)

    def save(self) -> None:
        self.sup.writer.write_toml(self.dir / "meta.toml", self.meta())

    def set_state(self, state: str, reason: str) -> None:
        if (state, reason) == (self.state, self.reason):
            return
        self.state, self.reason = state, reason
        self.save()
        self.sup.journal.write("state", self.name, state=state, reason=reason)
        self.sup.broadcast({"event": "worker", "worker": self.public()})
        if state in ENDED:
            self.ended_event.set()

    # -- bytes from the holder ----------------------------------------------------
    def feed_agent(self, data: bytes) -> None:
        events = self.adapter.feed(data)
        if events:
            self.append_events(events)
            self.agent_dirty = True
            self.sup.schedule_frame()

    def append_events(self, events: list[dict[str, Any]]) -> None:
        if self._events_fd < 0:
            self._events_fd = os.open(self.dir / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.write(self._events_fd, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode())

    def on_output(self, data: bytes) -> None:
        self.offset += len(data)
        self.last_output = time.time()
        self.feed_agent(data)
        self.screen.write(data)
        if self.unread is not None:
            self.unread(data)
        for client, decoder in self.followers.items():
            client.send({"event": "output", "worker": self.name, "data": decoder.decode(data)})
        self.sup.schedule_frame()

    def catch_up(self, start: int, end: int) -> None:
        """Take bytes [start, end) from the transcript (missed while away, or a gap)."""
        if end <= start:
            return
        self.last_output = time.time()
        reader = TranscriptReader(self.dir)
        if not self.adapter.structured:
            # A shell's report is at the end: the adapter needs only the tail.
            self.adapter.feed(reader.read(max(start, end - TAIL_FOR_REPORT), end))
        if self.unread is not None or self.followers or self.adapter.structured:
            pos = start
            while pos < end:
                chunk = reader.read(pos, min(end, pos + (1 << 20)))
                if not chunk:
                    break
                if self.adapter.structured:
                    self.feed_agent(chunk)
                if self.unread is not None:
                    self.unread(chunk)
                for client, decoder in self.followers.items():
                    client.send({"event": "output", "worker": self.name, "data": decoder.decode(chunk)})
                pos += len(chunk)
        if end - start > 4 * MAX_REPLAY:
            tail_start = end - 4 * MAX_REPLAY
            self.screen.rebuild(reader.read(tail_start, end), tail_start)
        else:
            self.screen.write(reader.read(start, end))
        self.offset = end
        self.sup.mark_all_dirty(self)
        self.sup.schedule_frame()

    def _reply(self, text: str) -> None:
        if self.link is not None and self.state in ACTIVE:
            self.link.send_input(text.encode())

    # -- the end --------------------------------------------------------------------
    def finish(self, info: dict[str, Any]) -> None:
        """The worker exited (from the holder's exit frame or its exit.json)."""
        if self.state in ENDED and self.ended_event.is_set() and self.ended:
            return
        code = info.get("exit_code")
        sig = info.get("signal")
        self.exit_code, self.exit_signal = code, sig
        self.ended = info.get("ended") or now_iso()
        offset = info.get("offset")
        if isinstance(offset, int) and offset > self.offset:
            self.catch_up(self.offset, offset)
        if self.runs:
            self.runs[-1].update({"ended": self.ended, "exit_code": code})
        if info.get("error"):
            state, reason = "failed", str(info["error"])
        elif self.kill_requested:
            state, reason = "interrupted", f"killed by podium kill ({_signame(sig) or f'exit code {code}'})"
        elif sig == signal.SIGINT or (self.interrupt_requested and code == 130):
            state, reason = "interrupted", "interrupted (SIGINT)"
        elif sig is not None:
            state, reason = "failed", f"killed by {_signame(sig)}"
        else:
            verdict = self.adapter.verdict(code, sig)
            if verdict is not None:
                state, reason = verdict
            elif code == 0:
                state, reason = "done", "exit code 0"
            else:
                state, reason = "failed", f"exit code {code}"
        self.link = None
        open_esc = self.sup.pending_for(self)
        if open_esc is not None:
            if open_esc.state == "answered":  # it took the answer and went on to the end
                self.sup.close_escalation(open_esc, "resolved")
            else:
                open_esc.note = f"the worker ended ({state}) before the prompt was answered"
                self.sup.close_escalation(open_esc, "expired")
        # Watchers get the last screen before they hear how the worker ended.
        self.screen.pump()
        rows = self.screen.take_dirty()
        if rows:
            for client in self.watchers:
                client.mark_dirty(self.name, rows)
        self.set_state(state, reason)


def _signame(sig: int | None) -> str | None:
    if sig is None:
        return None
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _parse_ts(value: Any) -> float | None:
    if not value:
        return None
    try:
        from datetime import datetime

        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


class HolderLink:
    """The supervisor's end of one holder's socket."""

    def __init__(self, worker: Worker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.worker = worker
        self.reader = reader
        self.writer = writer
        self.task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, worker: Worker) -> tuple[HolderLink, dict[str, Any]]:
        path = worker.sup.bb.holder_socket(worker.name)
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path), limit=wire.MAX_FRAME), 5)
        writer.write(wire.frame(wire.F_HELLO, {"version": wire.HOLDER_PROTOCOL_VERSION}))
        kind, payload = await asyncio.wait_for(wire.read_frame(reader), 5)
        hello = json.loads(payload)
        if kind != wire.F_HELLO or "error" in hello:
            writer.close()
            raise ConnectionError(hello.get("error", "holder said no hello"))
        return cls(worker, reader, writer), hello

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        worker = self.worker
        exited = False
        try:
            while True:
                kind, payload = await wire.read_frame(self.reader)
                if kind == wire.F_DATA:
                    worker.on_output(payload)
                elif kind == wire.F_GAP:
                    gap = json.loads(payload)
                    worker.catch_up(worker.offset, int(gap["to"]))
                elif kind == wire.F_EXIT:
                    exited = True
                    worker.finish(json.loads(payload))
                    break
                elif kind == wire.F_EVENT:
                    event = json.loads(payload)
                    if event.get("op") in ("pause", "resume"):
                        worker.set_state("paused" if event.get("paused") else "running", "SIGSTOP (podium pause)" if event.get("paused") else "SIGCONT (podium continue)")
        except (asyncio.IncompleteReadError, ConnectionError, wire.ProtocolError, ValueError):
            pass
        finally:
            self.writer.close()
            if worker.link is self:
                worker.link = None
            if not exited and not worker.sup.stopping.is_set():
                worker.sup.holder_gone(worker)

    def send_input(self, data: bytes) -> None:
        self.writer.write(wire.frame(wire.F_INPUT, data))

    def control(self, op: str, **fields: Any) -> None:
        self.writer.write(wire.frame(wire.F_CONTROL, {"op": op, **fields}))


# ---------------------------------------------------------------------------- clients
class ClientConn:
    """One attached client. Its own sender task is the only thing that ever waits on it,
    so a slow or stuck client never slows the supervisor or a worker: its screens merge
    into 'dirty' sets while it is behind, and it gets the current rows when it catches up."""

    def __init__(self, sup: Supervisor, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.sup = sup
        self.reader = reader
        self.writer = writer
        self.queue: deque[bytes] = deque()
        self.dirty: dict[str, set[int] | None] = {}  # None: send the whole screen
        self.wake = asyncio.Event()
        self.kind = "unknown"
        self.events = False
        self.closed = False

    def send(self, obj: dict[str, Any]) -> None:
        if self.closed:
            return
        self.queue.append(wire.encode_line(obj))
        if len(self.queue) > CLIENT_QUEUE_LIMIT:
            self.close()
            return
        self.wake.set()

    def mark_dirty(self, name: str, rows: set[int] | None) -> None:
        if name in self.dirty:
            known = self.dirty[name]
            self.dirty[name] = None if known is None or rows is None else known | rows
        else:
            self.dirty[name] = None if rows is None else set(rows)
        self.wake.set()

    async def sender(self) -> None:
        try:
            while not self.closed:
                await self.wake.wait()
                self.wake.clear()
                # Screens first: an event (a worker ended) never overtakes the screen
                # that led to it.
                for name in list(self.dirty):
                    rows = self.dirty.pop(name)
                    worker = self.sup.workers.get(name)
                    if worker is None or self not in worker.watchers:
                        continue
                    if rows is not None and len(rows) > worker.screen.lines // 2:
                        rows = None
                    snap = worker.screen.snapshot(rows)
                    self.writer.write(wire.encode_line({"event": "screen", "worker": name, **snap}))
                while self.queue:
                    self.writer.write(self.queue.popleft())
                await self.writer.drain()
        except (ConnectionError, RuntimeError):
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.wake.set()
        self.writer.close()
        self.sup.forget_client(self)


# ---------------------------------------------------------------------------- supervisor
class Supervisor:
    def __init__(self, workspace: Path | str):
        self.bb = Blackboard(workspace)
        self.workers: dict[str, Worker] = {}
        self.clients: set[ClientConn] = set()
        self.stopping = asyncio.Event()
        self.started = now_iso()
        self._frame_timer: asyncio.TimerHandle | None = None
        self._lock_fd = -1
        self._server: asyncio.base_events.Server | None = None
        self._next_exec = 1
        self.writer = BackgroundWriter()  # meta.toml writes: fsync off the event loop
        self.result = CuratedResult(self.bb.root / "result.md")
        self._promoted: tuple[tuple[int, int], dict[str, list[str]]] = ((0, 0), {})
        self._typing: dict[tuple[str, str], list[int]] = {}  # (worker, via) -> [bytes, writes]
        self.escalations: dict[str, Escalation] = {}
        self._cards: dict[str, str] = {}  # card path -> escalation id
        self._card_stamps: dict[str, tuple[int, int]] = {}  # card path -> (mtime, size) read
        self._card_timers: dict[str, asyncio.TimerHandle] = {}
        config = load_config()
        self.config_problems = config.problems
        self.recognisers, self.rules = config.recognisers, config.rules
        self.journal: Journal

    # -- start and stop -------------------------------------------------------------
    def acquire_lock(self) -> int | None:
        """Take the workspace lock; if another supervisor has it, return that one's pid."""
        self.bb.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.bb.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # The winner writes its pid just after it takes the lock: give it a moment.
            pid = 0
            deadline = time.monotonic() + 2.0
            while not pid and time.monotonic() < deadline:
                try:
                    pid = int(os.pread(fd, 32, 0).decode().strip() or 0)
                except ValueError:
                    pid = 0
                if not pid:
                    time.sleep(0.01)
            os.close(fd)
            return pid
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        return None

    async def run(self, ready_fd: int = -1) -> int:
        try:
            self.bb.prepare()
        except BlackboardError as exc:
            _report(ready_fd, {"error": str(exc)})
            return 1
        other = self.acquire_lock()
        if other is not None:
            _report(ready_fd, {"already_running": True, "pid": other, "socket": str(self.bb.socket_path)})
            return 0
        self.journal = Journal(self.bb.journal)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        sock = self.bb.socket_path
        try:
            sock.unlink()  # a crashed supervisor's socket: we hold the lock, so it is stale
        except FileNotFoundError:
            pass
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._on_client, path=str(sock), limit=wire.MAX_LINE)
        finally:
            os.umask(old_umask)
        os.chmod(sock, 0o600)
        write_toml(
            self.bb.session_toml,
            {
                "name": self.bb.workspace.name,
                "workspace": str(self.bb.workspace),
                "created": self._session_created(),
                "socket": str(sock),
                "supervisor_pid": os.getpid(),
                "supervisor_started": self.started,
                "version": VERSION,
                "protocol": wire.PROTOCOL_VERSION,
            },
        )
        self.journal.write("supervisor", None, state="started", pid=os.getpid())
        await self.load_workers()
        self._card_scanner = loop.call_soon(self._scan_cards_every_second)
        _report(ready_fd, {"ok": True, "pid": os.getpid(), "socket": str(sock)})
        await self.stopping.wait()
        await self.shutdown()
        return 0

    def _session_created(self) -> str:
        try:
            from .blackboard import read_toml

            return str(read_toml(self.bb.session_toml).get("created") or now_iso())
        except BlackboardError:
            return now_iso()

    async def shutdown(self) -> None:
        self.journal.write("supervisor", None, state="stopped", pid=os.getpid())
        for client in list(self.clients):
            client.send({"event": "bye", "reason": "supervisor stopped"})
        await asyncio.sleep(0.05)
        for client in list(self.clients):
            client.close()
        if self._server is not None:
            self._server.close()
        for worker in self.workers.values():
            if worker.link is not None:
                worker.link.writer.close()
        try:
            self.bb.socket_path.unlink()
        except FileNotFoundError:
            pass
        await asyncio.get_running_loop().run_in_executor(None, self.writer.flush)
        self.journal.close()

    # -- workers found on disk ------------------------------------------------------
    async def load_workers(self) -> None:
        for name in self.bb.worker_names():
            try:
                meta = self.bb.read_meta(name)
            except BlackboardError as exc:
                meta = {"state": "lost", "reason": str(exc)}
            worker = Worker(self, name, meta)
            self.workers[name] = worker
            if worker.exec_id is not None:
                self._next_exec = max(self._next_exec, worker.exec_id + 1)
            reader = TranscriptReader(worker.dir)
            size = reader.size
            if worker.state in ENDED:
                worker.offset = size
                tail_start = max(0, size - 4 * MAX_REPLAY)
                worker.screen.rebuild(reader.read(tail_start, size), tail_start)
                worker.rebuild_agent(size)
                continue
            await self.reconnect(worker, size)

    async def reconnect(self, worker: Worker, size: int) -> None:
        tail_start = max(0, size - 4 * MAX_REPLAY)
        try:
            link, hello = await HolderLink.connect(worker)
        except (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            worker.offset = size
            worker.rebuild_agent(size)
            worker.screen.rebuild(reader_tail(worker.dir, tail_start, size), tail_start)
            exit_info = read_json(worker.dir / "exit.json")
            if exit_info is not None:
                worker.finish(exit_info)
            else:
                worker.set_state("lost", "holder not found (machine rebooted or holder killed); transcript kept")
            return
        offset = int(hello.get("offset", size))
        worker.rebuild_agent(offset)
        tail_start = max(0, offset - 4 * MAX_REPLAY)
        worker.screen.resize(int(hello.get("cols", worker.screen.columns)), int(hello.get("rows", worker.screen.lines)))
        worker.screen.rebuild(reader_tail(worker.dir, tail_start, offset), tail_start)
        worker.offset = offset
        worker.link = link
        worker.pid = hello.get("worker_pid", worker.pid)
        worker.holder_pid = hello.get("pid", worker.holder_pid)
        if hello.get("last_output"):
            worker.last_output = _parse_ts(hello["last_output"])
        link.start()
        worker.set_state("paused" if hello.get("paused") else "running", "reattached to its holder")
        self.check_prompts(worker)  # a worker may have been waiting at a prompt all along

    def holder_gone(self, worker: Worker) -> None:
        """The holder's socket closed without an exit frame."""
        exit_info = read_json(worker.dir / "exit.json")
        if exit_info is not None:
            worker.finish(exit_info)
            return
        worker.set_state("lost", f"holder (pid {worker.holder_pid}) died; the worker lost its terminal (SIGHUP)")
        open_esc = self.pending_for(worker)
        if open_esc is not None:
            open_esc.note = "the worker was lost before the prompt was answered"
            self.close_escalation(open_esc, "expired")

    # -- spawning -----------------------------------------------------------------------
    async def spawn(
        self,
        name: str,
        argv: list[str],
        kind: str | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        cols: int = 120,
        rows: int = 40,
        exec_id: int | None = None,
        unread: bool = False,
    ) -> Worker:
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
        wdir = self.bb.worker_dir(name)
        wdir.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": kind,
            "command": argv,
            "cwd": cwd,
            "state": "starting",
            "reason": "spawned",
            "created": now_iso(),
            "exec_id": exec_id,
            "size": [cols, rows],
        }
        worker = Worker(self, name, meta)
        if worker.adapter.mode == "codex-exec":
            worker.argv = prepare_codex_exec(argv, wdir)
        if unread:
            worker.unread = UnreadOutput()
        self.workers[name] = worker
        self.journal.write("spawn", name, kind=kind, command=worker.argv, cwd=cwd)
        await self._launch(worker, worker.argv, env, divider=None)
        return worker

    async def _launch(self, worker: Worker, argv: list[str], env: dict[str, str] | None, divider: str | None) -> None:
        """Start a run of `worker` (its first, or a resumed one) under a new holder."""
        wdir = worker.dir
        for stale in ("exit.json", "holder.json"):
            try:
                (wdir / stale).unlink()
            except FileNotFoundError:
                pass
        size = TranscriptReader(wdir).size
        worker.offset = size
        worker.runs.append({"run": len(worker.runs) + 1, "started": now_iso(), "command": argv, "offset": size})
        worker.state, worker.reason = "starting", "spawned" if divider is None else "resumed"
        worker.exit_code = worker.exit_signal = None
        worker.ended = None
        worker.kill_requested = worker.interrupt_requested = False
        worker.ended_event.clear()
        worker.save()
        self.broadcast({"event": "worker", "worker": worker.public()})
        sock = self.bb.holder_socket(worker.name)
        cols, rows = worker.screen.columns, worker.screen.lines
        args = ["--worker-dir", str(wdir), "--socket", str(sock), "--cwd", worker.cwd, "--cols", str(cols), "--rows", str(rows)]
        if divider:
            args += ["--divider", divider]
        try:
            info = await daemon.launch(
                "podium.sessions.holder",
                [*args, "--", *argv],
                log_path=wdir / "holder.log",
                env=worker_env(env) if env is not None else None,
            )
        except daemon.LaunchError as exc:
            info = {"error": f"podium: could not start the holder: {exc}", "exit_code": 126}
        if "error" in info:
            message = f"{info['error']}\n".encode()
            worker.screen.write(message)
            if worker.unread is not None:
                worker.unread(message)
            worker.finish({"exit_code": info.get("exit_code", 127), "error": str(info["error"])})
            return
        worker.pid = info.get("worker_pid")  # type: ignore[assignment]
        worker.holder_pid = info.get("pid")  # type: ignore[assignment]
        worker.started = str(info.get("started") or now_iso())
        try:
            link, hello = await HolderLink.connect(worker)
        except (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            # It may have exited before we connected; exit.json says how.
            exit_info = read_json(wdir / "exit.json")
            if exit_info is not None:
                worker.finish(exit_info)
            else:
                worker.set_state("lost", "holder started but could not be reached")
            return
        worker.link = link
        worker.catch_up(worker.offset, int(hello.get("offset", worker.offset)))
        link.start()
        worker.set_state("running", "spawned" if divider is None else f"resumed (run {len(worker.runs)})")

    async def resume(self, worker: Worker, prompt: str, env: dict[str, str] | None) -> Worker:
        if worker.state in ACTIVE:
            raise RequestError(f"worker {worker.name} is still {worker.state}; resume continues a worker that has ended")
        try:
            argv = worker.adapter.resume_command(prompt, worker.argv)
        except ValueError as exc:
            raise RequestError(f"cannot resume {worker.name}: {exc}") from None
        if worker.adapter.mode == "codex-exec":
            argv = prepare_codex_exec(argv, worker.dir)
        worker.adapter.new_run()
        run = len(worker.runs) + 1
        divider = f"── podium: run {run} of {worker.name} · resume · {now_iso()} · {shlex.join(argv)} ──"
        self.journal.write("resume", worker.name, run=run, command=argv)
        await self._launch(worker, argv, env, divider=divider)
        return worker

    # -- escalations ------------------------------------------------------------------------
    def _scan_cards_every_second(self) -> None:
        """Workers drop cards into decisions/pending/ at any time: look once a second
        (a stat of one directory; nothing is read unless a file appeared or left)."""
        try:
            self.scan_cards()
        finally:
            self._card_scanner = asyncio.get_running_loop().call_later(1.0, self._scan_cards_every_second)

    def pending_for(self, worker: Worker) -> Escalation | None:
        for esc in self.escalations.values():
            if esc.worker == worker.name and esc.source == "screen" and esc.state in ("pending", "answered"):
                return esc
        return None

    def check_prompts(self, worker: Worker) -> None:
        """After the screen changed: is an approval prompt on it now, or gone?"""
        lines = worker.screen.text_lines()
        cursor_y = worker.screen.cursor[1]
        open_esc = self.pending_for(worker)
        if open_esc is not None:
            rec = next((r for r in self.recognisers if r.name == open_esc.recogniser), None)
            there = rec is not None and rec.still_there(open_esc, lines, cursor_y)
            if open_esc.state == "answered":
                # A dialog that left the screen took the answer; a cursor-line prompt is
                # judged by the check after the answer (the terminal echoes what was typed).
                if there or (rec is not None and rec.where == "cursor_line"):
                    return
                self.close_escalation(open_esc, "resolved")
            elif there:
                found = rec.find(lines, cursor_y) if rec else None
                if found:
                    open_esc.lines = found["lines"]
                return
            else:  # it left the screen without podium: answered in the terminal
                open_esc.answer = {"choice": "?", "by": "the person", "how": "answered in the terminal", "at": now_iso()}
                self.close_escalation(open_esc, "resolved")
            if worker.state == "waiting":
                worker.set_state("running", "approval answered")
            # fall through: a next prompt may already be on the screen
        for rec in self.recognisers:
            if not rec.applies(worker.adapter.mode):
                continue
            found = rec.find(lines, cursor_y)
            if found is None:
                continue
            esc = Escalation(
                source="screen",
                worker=worker.name,
                question=found["question"],
                options=screen_options(rec),
                recogniser=rec.name,
                command=found.get("command"),
                reason=found.get("reason"),
                file=found.get("file"),
                lines=found["lines"],
                anchor=found["anchor"],
            )
            esc.tier = tier_for(esc, self.rules)
            self.open_escalation(esc)
            if esc.tier == "gate":
                worker.set_state("waiting", f"approval: {esc.command or esc.file or esc.question}"[:120])
            else:  # autonomous and notify: podium answers yes itself, and says so
                self.deliver(esc, "approve", by="podium", how=f"{esc.tier} tier rule")
            return

    def open_escalation(self, esc: Escalation) -> None:
        self.escalations[esc.id] = esc
        self.journal.write("escalation", esc.worker, id=esc.id, tier=esc.tier, source=esc.source, question=esc.question, command=esc.command, file=esc.file, recogniser=esc.recogniser)
        self.broadcast({"event": "escalation", "escalation": esc.public()})
        if esc.worker in self.workers:
            self.workers[esc.worker].escalation_count += 1
            self.workers[esc.worker].agent_dirty = True
        self.schedule_frame()

    def close_escalation(self, esc: Escalation, state: str) -> None:
        esc.state = state
        self.journal.write("escalation", esc.worker, id=esc.id, state=state, answer=esc.answer, note=esc.note or None)
        self.broadcast({"event": "escalation", "escalation": esc.public()})

    def deliver(self, esc: Escalation, choice: str, by: str, how: str) -> None:
        """Send the answer the way its source expects it. Raises RequestError if it cannot."""
        if esc.state not in ("pending",):
            who = (esc.answer or {}).get("by", "someone")
            raise RequestError(f"escalation {esc.id} is {esc.state} already (answered by {who}); nothing sent")
        if esc.source == "screen":
            worker = self.workers.get(esc.worker or "")
            rec = next((r for r in self.recognisers if r.name == esc.recogniser), None)
            if worker is None or worker.link is None or rec is None:
                raise RequestError(f"escalation {esc.id}: its worker is gone; nothing sent")
            if worker.state == "paused":
                raise RequestError(f"{worker.name} is paused (SIGSTOP): continue it first (s), then answer")
            keys = {"approve": rec.approve, "approve_session": rec.approve_session, "deny": rec.deny}.get(choice)
            if not keys:
                raise RequestError(f"escalation {esc.id} takes approve{', approve_session' if rec.approve_session else ''} or deny, not {choice!r}")
            esc.answer = {"choice": choice, "by": by, "how": how, "at": now_iso(), "keys": keys.encode().hex()}
            esc.state = "answered"
            worker.link.send_input(keys.encode())
            esc.offset_at_answer = worker.offset
            esc.checks = 0
            self.journal.write("answer", worker.name, id=esc.id, choice=choice, by=by, how=how)
            self.broadcast({"event": "escalation", "escalation": esc.public()})
            asyncio.get_running_loop().call_later(1.5, self._verify_answer, esc.id)
        elif esc.source == "card":
            self._answer_card(esc, choice, by, how)
        else:
            esc.answer = {"choice": choice, "by": by, "how": how, "at": now_iso()}
            self.journal.write("answer", esc.worker, id=esc.id, choice=choice, by=by, how=how)
            self.close_escalation(esc, "resolved")

    def _verify_answer(self, esc_id: str) -> None:
        """The prompt must have left the screen; if not, the escalation comes back."""
        esc = self.escalations.get(esc_id)
        worker = self.workers.get(esc.worker or "") if esc else None
        if esc is None or esc.state != "answered" or worker is None:
            return
        worker.screen.pump()
        rec = next((r for r in self.recognisers if r.name == esc.recogniser), None)
        still = rec is not None and rec.still_there(esc, worker.screen.text_lines(), worker.screen.cursor[1])
        if still and worker.state in ACTIVE and worker.offset == getattr(esc, "offset_at_answer", -1) and esc.checks < 4:
            # Nothing printed since the answer (a slow program): look again before judging.
            esc.checks += 1
            asyncio.get_running_loop().call_later(1.5, self._verify_answer, esc_id)
            return
        if still and worker.state in ACTIVE:
            esc.state = "pending"
            esc.note = f"the prompt was still on the screen 1.5 s after the answer ({(esc.answer or {}).get('choice')}); answer again or look at the pane"
            self.journal.write("escalation", worker.name, id=esc.id, state="pending", note=esc.note)
            self.broadcast({"event": "escalation", "escalation": esc.public()})
        else:
            self.close_escalation(esc, "resolved")
            if worker.state == "waiting":
                worker.set_state("running", "approval answered")
            if worker.state in ACTIVE:
                self.check_prompts(worker)  # a next prompt may be waiting already

    # decision cards
    def scan_cards(self) -> None:
        pending = self.bb.root / "decisions" / "pending"
        seen = set()
        now = time.time()
        if pending.is_dir():
            for path in sorted(pending.glob("*.md")):
                key = str(path)
                if path.name.startswith("."):  # editor lock and swap files
                    continue
                try:
                    st = path.stat()
                except OSError:
                    continue  # a dangling link, or gone since the listing
                seen.add(key)
                stamp = (st.st_mtime_ns, st.st_size)
                known = self._cards.get(key)
                if known is not None and self._card_stamps.get(key) == stamp:
                    continue
                if now - st.st_mtime < 0.5:
                    continue  # still being written: read it on the next look
                if known is not None:  # the card changed: it is asked again
                    old = self.escalations.get(known)
                    timer = self._card_timers.pop(known, None)
                    if timer is not None:
                        timer.cancel()
                    if old is not None and old.state in ("pending", "malformed"):
                        old.note = "the card was rewritten; see its new version"
                        self.close_escalation(old, "resolved")
                self._card_stamps[key] = stamp
                try:
                    text = path.read_text(encoding="utf-8")
                    card = parse_card(text, key)
                except (ValueError, UnicodeDecodeError, OSError) as exc:
                    esc = Escalation(source="card", worker=None, question=f"malformed decision card {path.name}", options=[], card={"path": key})
                    esc.state, esc.note = "malformed", str(exc)
                    self._cards[key] = esc.id
                    self.escalations[esc.id] = esc
                    self.journal.write("escalation", None, id=esc.id, source="card", state="malformed", note=esc.note)
                    self.broadcast({"event": "escalation", "escalation": esc.public()})
                    continue
                card["path"] = key
                esc = Escalation(source="card", worker=card.get("worker"), question=card["title"] or path.stem, options=card["options"], card=card)
                esc.tier = tier_for(esc, self.rules)
                self._cards[key] = esc.id
                self.open_escalation(esc)
                if card.get("timeout") is not None and card.get("default"):
                    self._card_timers[esc.id] = asyncio.get_running_loop().call_later(card["timeout"], self._card_default, esc.id)
        for key in [k for k in self._cards if k not in seen]:
            self._card_stamps.pop(key, None)
            esc = self.escalations.get(self._cards.pop(key))
            if esc is not None and esc.state in ("pending", "malformed"):
                esc.note = "the card left decisions/pending/ (moved or deleted outside podium)"
                self.close_escalation(esc, "resolved")

    def _card_default(self, esc_id: str) -> None:
        esc = self.escalations.get(esc_id)
        if esc is None or esc.state != "pending" or not esc.card:
            return
        self._answer_card(esc, esc.card["default"], by="podium", how=f"default after {esc.card['timeout']:.0f} s")
        self.journal.write("default", esc.worker, id=esc.id, option=esc.card["default"], note="the card's default was applied when its timeout passed")

    def _answer_card(self, esc: Escalation, choice: str, by: str, how: str) -> None:
        assert esc.card is not None
        options = {o["key"]: o["label"] for o in esc.card.get("options", [])}
        if choice == "approve":
            choice = esc.card.get("recommended") or (list(options)[0] if options else "")
        if choice not in options:
            raise RequestError(f"escalation {esc.id} has options {', '.join(options)}, not {choice!r}")
        src = Path(esc.card["path"])
        try:
            text = src.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RequestError(f"the card {src} is gone from decisions/pending/") from None
        dst = self.bb.root / "decisions" / "resolved" / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        n = 2
        while dst.exists():  # a card name used again: keep the earlier record
            dst = dst.with_name(f"{src.stem}.{n}{src.suffix}")
            n += 1
        from .fsutil import atomic_write

        atomic_write(dst, resolve_card(text, choice, options[choice], by, how), mode=0o644)
        src.unlink()
        self._cards.pop(str(src), None)
        self._card_stamps.pop(str(src), None)
        timer = self._card_timers.pop(esc.id, None)
        if timer is not None:
            timer.cancel()
        esc.answer = {"choice": choice, "label": options[choice], "by": by, "how": how, "at": now_iso()}
        self.journal.write("answer", esc.worker, id=esc.id, choice=choice, by=by, how=how, card=str(dst))
        self.close_escalation(esc, "resolved")

    # -- the curated result ---------------------------------------------------------------
    def promoted_runs(self) -> dict[str, list[str]]:
        """worker -> runs promoted, from result.md (re-read only when the file changed)."""
        try:
            st = self.result.path.stat()
            key = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            key = (0, 0)
        if key != self._promoted[0]:
            try:
                _, doc = self.result.read()
            except ResultUnreadable:
                return self._promoted[1]
            runs: dict[str, list[str]] = {}
            for sec in doc.sections:
                runs.setdefault(sec.worker, []).append(sec.run)
            self._promoted = (key, runs)
        return self._promoted[1]

    def result_changed(self, version: str, by: str, what: str) -> None:
        self.broadcast({"event": "result", "version": version, "by": by, "what": what})
        for worker in self.workers.values():
            worker.agent_dirty = True  # their 'promoted' marks may have changed
        self.schedule_frame()

    # -- frames -----------------------------------------------------------------------
    def schedule_frame(self) -> None:
        if self._frame_timer is None:
            self._frame_timer = asyncio.get_running_loop().call_later(FRAME_INTERVAL, self._frame)

    def _frame(self) -> None:
        self._frame_timer = None
        now = time.monotonic()
        more = False
        quiet_since = time.time() - PROMPT_QUIET
        for worker in self.workers.values():
            if worker.agent_dirty:
                worker.agent_dirty = False
                self.broadcast({"event": "worker", "worker": worker.public()})
            if worker.prompt_due and not worker.screen.backlog:
                # Once output pauses, or at least twice a second on a screen that never
                # stops moving (spinners): a bound on both latency and cost.
                if (worker.last_output or 0) <= quiet_since or now - worker.prompt_checked > 0.5:
                    worker.prompt_due = False
                    worker.prompt_checked = now
                    if worker.state in ACTIVE:
                        self.check_prompts(worker)
                else:
                    more = True
            if not worker.screen.backlog and not worker.screen.dirty:
                continue
            if not worker.watchers and now - worker.last_pump < BACKGROUND_PUMP_INTERVAL:
                more = True
                continue
            worker.last_pump = now
            worker.screen.pump()
            rows = worker.screen.take_dirty()
            if rows:
                for client in worker.watchers:
                    client.mark_dirty(worker.name, rows)
                # A prompt is what stays on the screen once output stops: check then,
                # not on every frame of a busy worker.
                worker.prompt_due = True
                more = True
        if more:
            self.schedule_frame()

    def mark_all_dirty(self, worker: Worker) -> None:
        for client in worker.watchers:
            client.mark_dirty(worker.name, None)

    # -- clients ----------------------------------------------------------------------
    def broadcast(self, event: dict[str, Any]) -> None:
        for client in self.clients:
            if client.events:
                client.send(event)

    def forget_client(self, client: ClientConn) -> None:
        self.clients.discard(client)
        for worker in self.workers.values():
            worker.watchers.discard(client)
            worker.followers.pop(client, None)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not wire.same_user(writer):
            writer.write(wire.encode_line({"ok": False, "error": "permission denied: not the supervisor's user"}))
            writer.close()
            return
        client = ClientConn(self, reader, writer)
        try:
            hello = await asyncio.wait_for(wire.read_line(reader), 10)
        except (asyncio.TimeoutError, wire.ProtocolError, ConnectionError):
            writer.close()
            return
        if not hello or hello.get("op") != "hello":
            writer.write(wire.encode_line({"ok": False, "error": "expected a hello"}))
            writer.close()
            return
        if hello.get("version") != wire.PROTOCOL_VERSION:
            writer.write(
                wire.encode_line(
                    {
                        "id": hello.get("id"),
                        "ok": False,
                        "error": f"protocol mismatch: client speaks {hello.get('version')}, supervisor {wire.PROTOCOL_VERSION} "
                        f"(podium {VERSION}); restart the supervisor with `podium stop` after upgrading",
                    }
                )
            )
            await writer.drain()
            writer.close()
            return
        client.kind = str(hello.get("client", "unknown"))
        self.clients.add(client)
        sender = asyncio.get_running_loop().create_task(client.sender())
        client.send({"id": hello.get("id"), "ok": True, "result": self.hello_info()})
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not client.closed:
                try:
                    req = await wire.read_line(reader)
                except wire.ProtocolError as exc:
                    client.send({"ok": False, "error": f"bad request: {exc}"})
                    continue
                if req is None:
                    break
                task = asyncio.get_running_loop().create_task(self._handle(client, req))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except ConnectionError:
            pass
        finally:
            client.close()
            sender.cancel()

    def hello_info(self) -> dict[str, Any]:
        return {
            "version": wire.PROTOCOL_VERSION,
            "podium": VERSION,
            "pid": os.getpid(),
            "workspace": str(self.bb.workspace),
            "socket": str(self.bb.socket_path),
        }

    async def _handle(self, client: ClientConn, req: dict[str, Any]) -> None:
        rid = req.get("id")
        op = req.get("op")
        handler = getattr(self, f"op_{op}", None) if isinstance(op, str) else None
        try:
            if handler is None:
                raise RequestError(f"unknown request {op!r}")
            result = await handler(client, req)
            client.send({"id": rid, "ok": True, "result": result})
        except RequestError as exc:
            client.send({"id": rid, "ok": False, "error": str(exc)})
        except (KeyError, TypeError, ValueError) as exc:
            client.send({"id": rid, "ok": False, "error": f"bad {op} request: {exc!r}"})
        except Exception as exc:  # never leave a client waiting for an answer
            import traceback

            print(f"{now_iso()} {op} request failed:\n{traceback.format_exc()}", flush=True)
            client.send({"id": rid, "ok": False, "error": f"podium: internal error in {op}: {exc!r} (see .podium/supervisor.log)"})

    def worker(self, req: dict[str, Any], key: str = "worker") -> Worker:
        name = req.get(key)
        worker = self.workers.get(str(name))
        if worker is None:
            known = ", ".join(sorted(self.workers)) or "none"
            raise RequestError(f"unknown worker {name!r} (workers: {known})")
        return worker

    def live(self, worker: Worker) -> HolderLink:
        if worker.link is None or worker.state not in ACTIVE:
            raise RequestError(f"worker {worker.name} is not running ({worker.state}: {worker.reason})")
        return worker.link

    # -- requests ---------------------------------------------------------------------
    async def op_ls(self, client: ClientConn, req: dict[str, Any]) -> list[dict[str, Any]]:
        return [w.public() for w in self.workers.values()]

    async def op_status(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for w in self.workers.values():
            counts[w.state] = counts.get(w.state, 0) + 1
        return {
            **self.hello_info(),
            "started": self.started,
            "workers": len(self.workers),
            "counts": counts,
            "clients": len(self.clients),
        }

    async def op_subscribe(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("events", True):
            client.events = True
        names = req.get("screens", [])
        if names == "*" or names == ["*"]:
            names = list(self.workers)
        for name in names:
            worker = self.workers.get(name)
            if worker is None:
                continue
            worker.watchers.add(client)
            worker.screen.pump()
            if worker.screen.take_dirty() and worker.state in ACTIVE:
                self.check_prompts(worker)
            client.mark_dirty(name, None)
        return {"workers": [w.public() for w in self.workers.values()]}

    async def op_unsubscribe(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        for name in req.get("screens", []):
            worker = self.workers.get(name)
            if worker is not None:
                worker.watchers.discard(client)
        return {}

    async def op_screen(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req)
        worker.screen.pump()
        return worker.screen.snapshot()

    async def op_follow(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req)
        client.events = True  # a follower hears when the worker ends
        worker.followers[client] = codecs.getincrementaldecoder("utf-8")("replace")
        return {"offset": worker.offset, "state": worker.state}

    async def op_spawn(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        argv = [str(a) for a in req["argv"]]
        worker = await self.spawn(
            str(req["name"]),
            argv,
            kind=req.get("kind"),
            cwd=req.get("cwd"),
            env=req.get("env"),
            cols=int(req.get("cols", 120)),
            rows=int(req.get("rows", 40)),
        )
        return worker.public()

    async def op_exec(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req["cmd"]
        argv = shell_argv(cmd) if isinstance(cmd, str) else [str(a) for a in cmd]
        exec_id = self._next_exec
        while f"exec-{exec_id}" in self.workers or self.bb.worker_dir(f"exec-{exec_id}").exists():
            exec_id += 1
        self._next_exec = exec_id + 1
        worker = await self.spawn(
            f"exec-{exec_id}", argv, kind=req.get("kind"), cwd=req.get("workdir"), env=req.get("env"), exec_id=exec_id, unread=True
        )
        await _wait(worker.ended_event, req.get("yield_time_ms", DEFAULT_EXEC_YIELD_MS))
        return self._exec_answer(worker, req)

    async def op_write(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        target = req["session_id"]
        name = f"exec-{target}" if isinstance(target, int) or str(target).isdigit() else str(target)
        worker = self.workers.get(name)
        if worker is None:
            raise RequestError(f"no exec session {target} (podium ls lists the workers)")
        if worker.unread is None:
            if worker.state in ENDED:
                raise RequestError(f"session {target} has exited ({worker.reason}) and its output was read")
            worker.unread = UnreadOutput()  # output from now on
        data = _chars(req)
        if data and worker.state in ACTIVE and worker.link is not None:
            worker.link.send_input(data)
            self.journal.write("input", worker.name, bytes=len(data), via="write")
        await _wait(worker.ended_event, req.get("yield_time_ms", DEFAULT_WRITE_YIELD_MS))
        return self._exec_answer(worker, req)

    def _exec_answer(self, worker: Worker, req: dict[str, Any]) -> dict[str, Any]:
        assert worker.unread is not None
        exited = worker.state in ENDED
        sid: int | str = worker.exec_id if worker.exec_id is not None else worker.name
        answer = exec_answer(worker.unread, exited, worker.exit_code, sid, req.get("max_output_tokens"), worker.dir / "transcript.log")
        if exited:
            worker.unread = None  # read to the end: a further write is an error, as in codex
        return answer

    async def op_last(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req)
        text = worker.adapter.last_message()
        if text is None:
            raise RequestError(f"{worker.name} has no last message yet ({worker.state}: {worker.reason})")
        return {"worker": worker.name, "text": text, "mode": worker.adapter.mode, "run": len(worker.runs) or 1}

    async def op_resume(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req)
        prompt = str(req.get("prompt") or "continue")
        await self.resume(worker, prompt, req.get("env"))
        return worker.public()

    async def op_promote(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req)
        text = worker.adapter.last_message()
        if text is None:
            raise RequestError(f"{worker.name} has no last message to promote ({worker.state}: {worker.reason})")
        signals = worker.adapter.signals(worker.exit_code) if worker.state in ENDED else {}
        files = getattr(worker.adapter, "files_changed", [])
        provenance = {
            "worker": worker.name,
            "kind": worker.adapter.mode,
            "session_id": worker.adapter.session_id,
            "run": len(worker.runs) or 1,
            "state": worker.state,
            "signals": " ".join(f"{k} {'✓' if v else '✗'}" for k, v in signals.items()),
            "files": ", ".join(files),
        }
        try:
            outcome = self.result.promote(provenance, text, force=bool(req.get("force")))
        except ResultUnreadable as exc:
            raise RequestError(str(exc)) from None
        if not outcome["duplicate"]:
            self.journal.write("promote", worker.name, run=provenance["run"], section=outcome["section"], via=client.kind)
            self.result_changed(outcome["version"], client.kind, f"promoted {worker.name} run {provenance['run']}")
        return outcome

    async def op_result(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.result.as_json()
        except ResultUnreadable as exc:
            raise RequestError(str(exc)) from None

    async def op_result_change(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        op = str(req["change"])
        fields = {k: v for k, v in req.items() if k in ("by", "body", "text")}
        try:
            version = self.result.change(req.get("base"), op, req.get("section"), **fields)
        except ResultConflict as exc:
            raise RequestError(f"conflict: {exc}") from None
        except ResultUnreadable as exc:
            raise RequestError(str(exc)) from None
        except KeyError as exc:
            raise RequestError(str(exc.args[0])) from None
        self.journal.write("result", None, change=op, section=req.get("section"), via=client.kind)
        self.result_changed(version, client.kind, op)
        return {"version": version}

    async def op_decisions(self, client: ClientConn, req: dict[str, Any]) -> list[dict[str, Any]]:
        self.scan_cards()
        states = req.get("states") or ["pending", "answered", "malformed"]
        found = [e for e in self.escalations.values() if e.state in states or states == "all"]
        return [e.public() for e in sorted(found, key=lambda e: e.created_at)]

    async def op_answer(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        esc = self.escalations.get(str(req["escalation"]))
        if esc is None:
            raise RequestError(f"no escalation {req['escalation']!r} (podium decisions lists them)")
        if esc.state == "malformed":
            raise RequestError(f"escalation {esc.id} is a malformed card: {esc.note}")
        self.deliver(esc, str(req["choice"]), by=str(req.get("by") or client.kind), how=f"via {client.kind}")
        target = self.workers.get(esc.worker or "")
        if target is not None and esc.source != "screen" and target.state == "waiting" and self.pending_for(target) is None:
            target.set_state("running", "decision answered")
        return esc.public()

    async def op_escalate(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        """podium's own triggers (and scripts) raise escalations through the same inbox."""
        options = req.get("options") or [{"key": "y", "label": "approve"}, {"key": "n", "label": "deny"}]
        if not isinstance(options, list) or not all(isinstance(o, dict) and isinstance(o.get("key"), str) and isinstance(o.get("label"), str) for o in options):
            raise RequestError("options must be a list of {key, label} objects")
        worker = req.get("worker")
        if worker is not None and worker not in self.workers:
            raise RequestError(f"unknown worker {worker!r}")
        tier = req.get("tier")
        if tier is not None and tier not in ("autonomous", "notify", "gate"):
            raise RequestError(f"tier must be autonomous, notify or gate, not {tier!r}")
        esc = Escalation(source="podium", worker=worker, question=str(req["question"]), options=options)
        esc.tier = str(tier or tier_for(esc, self.rules))
        self.open_escalation(esc)
        return esc.public()

    async def op_input(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req)
        link = self.live(worker)
        data = _chars(req)
        link.send_input(data)
        self.journal_typing(worker.name, client.kind, len(data))
        return {}

    def journal_typing(self, worker: str, via: str, nbytes: int) -> None:
        """Keys typed in interactive mode go into the journal as one entry per burst."""
        key = (worker, via)
        if key not in self._typing:
            self._typing[key] = [0, 0]
            asyncio.get_running_loop().call_later(1.0, self._flush_typing, key)
        self._typing[key][0] += nbytes
        self._typing[key][1] += 1

    def _flush_typing(self, key: tuple[str, str]) -> None:
        nbytes, writes = self._typing.pop(key, (0, 0))
        if writes:
            self.journal.write("input", key[0], bytes=nbytes, writes=writes, via=key[1])

    async def op_interrupt(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req)
        link = self.live(worker)
        worker.interrupt_requested = True
        link.control("interrupt")
        self.journal.write("signal", worker.name, signal="SIGINT", via=client.kind)
        self.broadcast({"event": "signal", "worker": worker.name, "signal": "interrupt", "by": client.kind})
        return {}

    async def op_kill(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req)
        link = self.live(worker)
        worker.kill_requested = True
        link.control("terminate", grace=float(req.get("grace", 3.0)))
        self.journal.write("signal", worker.name, signal="SIGTERM", via=client.kind)
        if req.get("wait"):
            await _wait(worker.ended_event, int(float(req.get("grace", 3.0)) * 1000) + 5000)
        return worker.public()

    async def op_pause(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req)
        self.live(worker).control("pause")
        self.journal.write("signal", worker.name, signal="SIGSTOP", via=client.kind)
        return {}

    async def op_continue(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req)
        self.live(worker).control("resume")
        self.journal.write("signal", worker.name, signal="SIGCONT", via=client.kind)
        return {}

    async def op_resize(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req)
        cols, rows = max(2, int(req["cols"])), max(2, int(req["rows"]))
        if (cols, rows) == (worker.screen.columns, worker.screen.lines):
            return {}
        worker.screen.resize(cols, rows)
        if worker.link is not None and worker.state in ACTIVE:
            worker.link.control("resize", cols=cols, rows=rows)
        worker.save()
        self.mark_all_dirty(worker)
        return {}

    async def op_stop(self, client: ClientConn, req: dict[str, Any]) -> dict[str, Any]:
        grace = float(req.get("grace", 3.0))
        running = [w for w in self.workers.values() if w.state in ACTIVE and w.link is not None]
        for w in running:
            w.kill_requested = True
            w.link.control("terminate", grace=grace)  # type: ignore[union-attr]
        self.journal.write("stop", None, workers=[w.name for w in running], via=client.kind)
        await asyncio.gather(*(_wait(w.ended_event, int(grace * 1000) + 5000) for w in running))
        asyncio.get_running_loop().call_later(0.1, self.stopping.set)
        return {"stopped": [w.name for w in running]}


def reader_tail(directory: Path, start: int, end: int) -> bytes:
    return TranscriptReader(directory).read(start, end)


def _chars(req: dict[str, Any]) -> bytes:
    if "data_b64" in req:
        return base64.b64decode(req["data_b64"])
    chars = req.get("chars", req.get("data", ""))
    return str(chars).encode("utf-8", "surrogateescape")


async def _wait(event: asyncio.Event, ms: Any) -> None:
    try:
        await asyncio.wait_for(event.wait(), max(0, float(ms)) / 1000)
    except asyncio.TimeoutError:
        pass


def _report(fd: int, info: dict[str, Any]) -> None:
    if fd < 0:
        return
    try:
        os.write(fd, (json.dumps(info) + "\n").encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="podium-supervisor")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--ready-fd", type=int, default=-1)
    ap.add_argument("--detach-log", default=None)
    args = ap.parse_args(argv)
    if args.detach_log:
        daemon.detach(args.detach_log)
    print(f"{now_iso()} supervisor pid {os.getpid()} for {args.workspace}", flush=True)
    try:
        return asyncio.run(Supervisor(args.workspace).run(args.ready_fd))
    finally:
        print(f"{now_iso()} supervisor pid {os.getpid()} exits", flush=True)


if __name__ == "__main__":
    sys.exit(main())
