"""One worker as the supervisor knows it: its state and the signal the state came from,
its live screen, its agent adapter, the output an exec caller has not read, and how it
ended. It is the sink of its holder's link (bytes, gaps, exit, pause acknowledgements).

A worker knows nothing of clients, the journal or the supervisor: it tells a
`WorkerListener` what changed and lets the supervisor decide who hears of it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from .agents import Adapter, make_adapter
from .fsutil import now_iso, read_json
from .holder_link import HolderLink
from .segments import human_bytes
from .exec_model import UnreadOutput
from .screen import MAX_REPLAY, LiveScreen
from .states import ACTIVE, ENDED, WorkerState
from .transcript import TranscriptReader

TAIL_FOR_REPORT = 16 * 1024  # what a shell worker's adapter needs to find its report
REBUILD_TAIL = 4 * MAX_REPLAY  # what a rebuilt screen replays of the transcript
AGENT_REPLAY = 64 * 1024 * 1024  # what a structured agent's adapter re-reads after a restart


class WorkerListener(Protocol):
    """What the supervisor learns from a worker (and nothing else)."""

    def state_changed(self, worker: Worker) -> None: ...
    def output(self, worker: Worker, data: bytes) -> None: ...
    def screen_reset(self, worker: Worker) -> None: ...
    def agent_changed(self, worker: Worker) -> None: ...
    def following(self, worker: Worker) -> bool: ...  # does anyone read its output as it comes?
    def warned(self, worker: Worker, warning: str) -> None: ...  # something is wrong (a full disk)


def parse_ts(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def signal_name(sig: int | None) -> str | None:
    if sig is None:
        return None
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class Worker:
    def __init__(self, name: str, meta: dict[str, Any], directory: Path, listener: WorkerListener, default_cwd: str):
        self.name = name
        self.dir = directory
        self.listener = listener
        self.kind: str = meta.get("kind", "shell")
        self.argv: list[str] = list(meta.get("command", []))
        self.cwd: str = meta.get("cwd", default_cwd)
        self.state: str = meta.get("state", WorkerState.STARTING)
        self.reason: str = meta.get("reason", "")
        self.exit_code: int | None = meta.get("exit_code")
        self.exit_signal: int | None = meta.get("exit_signal")
        self.pid: int | None = meta.get("pid")
        self.holder_pid: int | None = meta.get("holder_pid")
        self.created: str = meta.get("created", now_iso())
        self.started: str | None = meta.get("started")
        self.ended: str | None = meta.get("ended")
        self.last_output: float | None = parse_ts(meta.get("last_output"))
        self.exec_id: int | None = meta.get("exec_id")
        self.by: str | None = meta.get("by")  # who asked for it (a client's kind)
        self.runs: list[dict[str, Any]] = list(meta.get("runs", []))
        self.warnings: list[str] = list(meta.get("warnings", []))
        self.transcript_error: str | None = None
        self.transcript_lost = 0
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
        self.adapter: Adapter = make_adapter(self.kind, self.argv, self.dir)
        self.adapter.session_id = meta.get("agent", {}).get("session_id") or None
        self._events_fd = -1

    # -- what the outside sees ------------------------------------------------------------
    def public(self) -> dict[str, Any]:
        ended = self.state in ENDED
        return {
            "name": self.name,
            "kind": self.kind,
            "mode": self.adapter.mode,
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
            "by": self.by,
            "size": [self.screen.columns, self.screen.lines],
            "runs": len(self.runs) or 1,
            "session_id": self.adapter.session_id,
            "tokens": self.adapter.spent_tokens,
            "cost_usd": round(self.adapter.cost_usd, 6),
            "signals": self.adapter.signals(self.exit_code) if ended else None,
            "agent": self.adapter.public(self.exit_code),
            "warnings": list(self.warnings),
        }

    def meta(self) -> dict[str, Any]:
        """What `meta.toml` keeps (the runs in full, the agent's scalars)."""
        m = self.public()
        m["runs"] = self.runs
        m.pop("signals", None)
        m["agent"] = {k: v for k, v in m["agent"].items() if not isinstance(v, (dict, list))}
        if self.state in ENDED:
            m["agent"]["signals"] = self.adapter.signals(self.exit_code)
        return m

    @property
    def mode(self) -> str:
        """codex-exec | codex | claude-p | claude | shell"""
        return self.adapter.mode

    def provenance(self) -> dict[str, Any]:
        """Where a promoted message came from: worker, agent, thread, run, signals, files."""
        signals = self.adapter.signals(self.exit_code) if self.state in ENDED else {}
        return {
            "worker": self.name,
            "kind": self.mode,
            "session_id": self.adapter.session_id,
            "run": len(self.runs) or 1,
            "state": self.state,
            "signals": " ".join(f"{k} {'✓' if v else '✗'}" for k, v in signals.items()),
            "files": ", ".join(getattr(self.adapter, "files_changed", [])),
        }

    def screen_now(self) -> tuple[list[str], int]:
        """The screen as it is now (emulated up to the last byte): rows and cursor row."""
        self.screen.pump()
        return self.screen.text_lines(), self.screen.cursor[1]

    @property
    def live(self) -> bool:
        return self.link is not None and self.state in ACTIVE

    def set_state(self, state: str, reason: str) -> None:
        if (state, reason) == (self.state, self.reason):
            return
        self.state, self.reason = state, reason
        if state in ENDED:
            self.ended_event.set()
        self.listener.state_changed(self)

    def send_keys(self, data: bytes) -> bool:
        if not self.live:
            return False
        self.link.send_input(data)  # type: ignore[union-attr]
        return True

    def _reply(self, text: str) -> None:
        """The emulated terminal answers a query (cursor position, device attributes)."""
        self.send_keys(text.encode())

    # -- the transcript, read back ----------------------------------------------------------
    def rebuild_screen(self, end: int) -> None:
        """Draw the screen afresh from the transcript's tail up to `end`."""
        start = max(0, end - REBUILD_TAIL)
        self.screen.rebuild(TranscriptReader(self.dir).read(start, end), start)
        self.listener.screen_reset(self)

    def rebuild_agent(self, end: int) -> None:
        """After a restart: feed the current run's bytes again to know what the agent did."""
        start = int(self.runs[-1].get("offset", 0)) if self.runs else 0
        start = max(start, end - (AGENT_REPLAY if self.adapter.structured else TAIL_FOR_REPORT))
        for chunk in _chunks(TranscriptReader(self.dir), start, end):
            self.adapter.feed(chunk)  # events.jsonl has them already

    def restore(self, end: int) -> None:
        """Take up a worker from disk at transcript offset `end` (a supervisor that came back)."""
        self.offset = end
        self.rebuild_agent(end)
        self.rebuild_screen(end)

    # -- bytes from the holder (the HolderLink's sink) ----------------------------------------
    def on_output(self, data: bytes) -> None:
        self.offset += len(data)
        self.last_output = time.time()
        self._feed_agent(data)
        self.screen.write(data)
        if self.unread is not None:
            self.unread(data)
        self.listener.output(self, data)

    def on_gap(self, end: int) -> None:
        self.catch_up(self.offset, end)

    def catch_up(self, start: int, end: int) -> None:
        """Take bytes [start, end) from the transcript (missed while away, or a gap)."""
        if end <= start:
            return
        self.last_output = time.time()
        reader = TranscriptReader(self.dir)
        if not self.adapter.structured:
            # A shell's report is at the end: the adapter needs only the tail.
            self.adapter.feed(reader.read(max(start, end - TAIL_FOR_REPORT), end))
        if self.adapter.structured or self.unread is not None or self.listener.following(self):
            for chunk in _chunks(reader, start, end):
                if self.adapter.structured:
                    self._feed_agent(chunk)
                if self.unread is not None:
                    self.unread(chunk)
                self.listener.output(self, chunk)
        self.offset = end
        if end - start > REBUILD_TAIL:
            self.rebuild_screen(end)
        else:
            self.screen.write(reader.read(start, end))
            self.listener.screen_reset(self)

    def _feed_agent(self, data: bytes) -> None:
        events = self.adapter.feed(data)
        if events:
            try:
                if self._events_fd < 0:
                    self._events_fd = os.open(self.dir / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                os.write(self._events_fd, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode())
            except OSError as exc:  # a full disk: the transcript has the events anyway
                self.warn("events.jsonl", f"events.jsonl: {exc.strerror}")
            self.listener.agent_changed(self)

    def on_paused(self, paused: bool) -> None:
        if paused:
            self.set_state(WorkerState.PAUSED, "SIGSTOP (podium pause)")
        elif self.state == WorkerState.PAUSED:
            self.set_state(WorkerState.RUNNING, "SIGCONT (podium continue)")

    def on_transcript(self, error: str | None, lost: int, offset: int) -> None:
        """The holder cannot write the transcript (or can again: the offset is the
        transcript's, which has a marker line where bytes are missing)."""
        if error:
            self.transcript_error = error
            self.warn("transcript", f"transcript: {error}, {human_bytes(lost)} not written")
        elif self.transcript_error:
            self.warn("transcript", f"transcript: {human_bytes(self.transcript_lost)} could not be written ({self.transcript_error}); a marker line in it says where")
            self.offset = offset
        self.transcript_lost = lost or self.transcript_lost

    def warn(self, topic: str, text: str) -> None:
        """A warning about `topic` (one at a time per topic), shown with the worker."""
        kept = [w for w in self.warnings if not w.startswith(topic + ":")]
        if kept + [text] != self.warnings:
            self.warnings = kept + [text]
            self.listener.warned(self, text)

    def on_holder_gone(self) -> None:
        """The holder's socket closed without an exit frame."""
        exit_info = read_json(self.dir / "exit.json")
        if exit_info is not None:
            self.on_exit(exit_info)
        else:
            self.link = None
            if self.holder_pid and _alive(self.holder_pid):
                why = f"holder (pid {self.holder_pid}) closed its socket (see holder.log); the worker may still run: restart the supervisor to reconnect"
            else:
                why = f"holder (pid {self.holder_pid}) died; the worker lost its terminal (SIGHUP)"
            self.set_state(WorkerState.LOST, why)

    # -- the end ------------------------------------------------------------------------------
    def on_exit(self, info: dict[str, Any]) -> None:
        """The worker exited (from the holder's exit frame or its exit.json)."""
        if self.state in ENDED and self.ended:
            return
        code, sig = info.get("exit_code"), info.get("signal")
        if info.get("transcript_error"):
            self.on_transcript(str(info["transcript_error"]), int(info.get("transcript_lost") or 0), int(info.get("offset") or 0))
        if info.get("exit_file_error"):
            self.warn("exit.json", f"exit.json: {info['exit_file_error']} (the exit status came over the socket)")
        self.exit_code, self.exit_signal = code, sig
        self.ended = info.get("ended") or now_iso()
        offset = info.get("offset")
        if isinstance(offset, int) and offset > self.offset:
            self.catch_up(self.offset, offset)
        if self.runs:
            self.runs[-1].update({"ended": self.ended, "exit_code": code})
        self.link = None
        self.set_state(*self.verdict(info))

    def verdict(self, info: dict[str, Any]) -> tuple[str, str]:
        code, sig = self.exit_code, self.exit_signal
        if info.get("error"):
            return WorkerState.FAILED, str(info["error"])
        if self.kill_requested:
            return WorkerState.INTERRUPTED, f"killed by podium kill ({signal_name(sig) or f'exit code {code}'})"
        if sig == signal.SIGINT or (self.interrupt_requested and code == 130):
            return WorkerState.INTERRUPTED, "interrupted (SIGINT)"
        if sig is not None:
            return WorkerState.FAILED, f"killed by {signal_name(sig)}"
        verdict = self.adapter.verdict(code, sig)
        if verdict is not None:
            return verdict
        if code == 0:
            return WorkerState.DONE, "exit code 0"
        return WorkerState.FAILED, f"exit code {code}"

    def new_run(self, argv: list[str], offset: int, resumed: bool) -> None:
        """A run starts (the first, or a resumed one) at transcript offset `offset`."""
        self.offset = offset
        self.runs.append({"run": len(self.runs) + 1, "started": now_iso(), "command": argv, "offset": offset})
        self.state, self.reason = WorkerState.STARTING, "resumed" if resumed else "spawned"
        self.exit_code = self.exit_signal = None
        self.ended = None
        self.kill_requested = self.interrupt_requested = False
        self.ended_event.clear()

    def close(self) -> None:
        if self._events_fd >= 0:
            os.close(self._events_fd)
            self._events_fd = -1


def _chunks(reader: TranscriptReader, start: int, end: int, size: int = 1 << 20):
    pos = start
    while pos < end:
        chunk = reader.read(pos, min(end, pos + size))
        if not chunk:
            return
        yield chunk
        pos += len(chunk)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
