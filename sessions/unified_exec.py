"""The exec_command / write_stdin model (codex's unified exec), as a Python API.

Owns the table of exec sessions (id -> PTY session, unread output, live screen) and
the rules of the model: wait up to `yield_time_ms` (return early on exit), answer with
the output produced since the last read, a `session_id` while the process runs and its
`exit_code` once it has exited, output over `max_output_tokens` cut in the middle with a
marker. The transcript on disk always keeps every byte.
"""

from __future__ import annotations

import asyncio
import codecs
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .pty_session import DEFAULT_COLUMNS, DEFAULT_LINES, PtySession, SpawnError, shell_argv
from .screen import LiveScreen
from .transcript import TranscriptWriter

DEFAULT_EXEC_YIELD_MS = 10_000
DEFAULT_WRITE_YIELD_MS = 250
DEFAULT_MAX_OUTPUT_TOKENS = 10_000
BYTES_PER_TOKEN = 4
# Unread output kept in memory per session beyond which only head and tail are kept
# (the middle is only ever shown as "omitted" anyway; the transcript has it).
UNREAD_CAP = 8 * 1024 * 1024


class UnknownSession(KeyError):
    def __str__(self) -> str:
        return f"podium: no running exec session {self.args[0]} (it may have exited and been read)"


def _char_start(data: bytes | bytearray, i: int) -> int:
    """Move i forward past UTF-8 continuation bytes so a cut never splits a character."""
    while i < len(data) and 0x80 <= data[i] < 0xC0:
        i += 1
    return i


def _char_end(data: bytes | bytearray, i: int) -> int:
    """Move i back so that data[:i] ends on a character boundary."""
    j = i
    while j > 0 and j > i - 4 and 0x80 <= data[j - 1] < 0xC0:
        j -= 1
    if j > 0 and data[j - 1] >= 0xC0:  # a lead byte whose sequence may not be complete
        lead = data[j - 1]
        need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if i - (j - 1) < need:
            return j - 1
    return i


class UnreadOutput:
    """Output not yet returned to the caller. A listener on the reading path: appends only."""

    def __init__(self, cap: int = UNREAD_CAP):
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def __call__(self, data: bytes) -> None:
        if len(self.head) < self.cap // 2:
            room = self.cap // 2 - len(self.head)
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            excess = len(self.tail) - self.cap // 2
            if excess > 0:
                del self.tail[:excess]
                self.dropped += excess

    def __len__(self) -> int:
        return len(self.head) + self.dropped + len(self.tail)

    def take(self, max_bytes: int, final: bool, note: str = "") -> str:
        """Everything unread as text, cut in the middle to `max_bytes`; a trailing
        incomplete UTF-8 character is held back for the next read unless `final`."""
        head, tail, dropped = self.head, self.tail, self.dropped
        if not dropped:
            head, tail = head + tail, bytearray()
        last = tail if dropped else head
        keep_back = bytearray()
        if not final:
            end = _char_end(last, len(last))
            keep_back = last[end:]
            del last[end:]
        self.head, self.tail, self.dropped = keep_back, bytearray(), 0
        total = len(head) + dropped + len(tail)
        if total <= max_bytes and not dropped:
            return head.decode("utf-8", "replace")
        half = max(0, max_bytes // 2)
        front = head[: _char_end(head, min(half, len(head)))]
        rest = tail if dropped else head
        back = rest[_char_start(rest, max(len(rest) - half, 0 if dropped else len(front))) :]
        omitted = total - len(front) - len(back)
        marker = (
            f"\n…[podium: {omitted} bytes (~{-(-omitted // BYTES_PER_TOKEN)} tokens) of output "
            f"omitted{note}]…\n"
        )
        return front.decode("utf-8", "replace") + marker + back.decode("utf-8", "replace")


def exec_answer(
    unread: UnreadOutput,
    exited: bool,
    exit_code: int | None,
    session_id: int | str,
    max_output_tokens: int | None,
    transcript_path: Path | str,
) -> dict[str, object]:
    """The model's answer: output since the last read, then exit_code or session_id."""
    tokens = DEFAULT_MAX_OUTPUT_TOKENS if max_output_tokens is None else max(0, max_output_tokens)
    output = unread.take(tokens * BYTES_PER_TOKEN, final=exited, note=f"; every byte is in {transcript_path}")
    if exited:
        return {"output": output, "exit_code": exit_code}
    return {"output": output, "session_id": session_id}


@dataclass
class ExecSession:
    id: int
    name: str
    pty: PtySession
    unread: UnreadOutput
    screen: LiveScreen
    transcript_path: Path
    command: list[str] = field(default_factory=list)

    @property
    def exited(self) -> bool:
        return self.pty.exited.is_set()


class UnifiedExec:
    """Sessions on the exec_command/write_stdin model, with transcripts under `workspace`."""

    def __init__(
        self,
        workspace: Path | str | None = None,
        columns: int = DEFAULT_COLUMNS,
        lines: int = DEFAULT_LINES,
    ):
        self.workspace = Path(workspace) if workspace is not None else Path.cwd()
        self.columns, self.lines = columns, lines
        self.sessions: dict[int, ExecSession] = {}
        self._next_id = 1

    def _worker_dir(self, name: str) -> Path:
        return self.workspace / ".podium" / "workers" / name

    def _allocate(self) -> tuple[int, str]:
        while True:
            sid = self._next_id
            self._next_id += 1
            name = f"exec-{sid}"
            if not self._worker_dir(name).exists():
                return sid, name

    async def exec_command(
        self,
        cmd: str | Sequence[str],
        workdir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        yield_time_ms: int = DEFAULT_EXEC_YIELD_MS,
        max_output_tokens: int | None = None,
    ) -> dict[str, object]:
        argv = shell_argv(cmd) if isinstance(cmd, str) else list(cmd)
        sid, name = self._allocate()
        directory = self._worker_dir(name)
        transcript = TranscriptWriter(directory)
        pty = PtySession(argv, cwd=workdir, env=env, columns=self.columns, lines=self.lines, transcript=transcript)
        try:
            pty.start()
        except SpawnError as exc:
            message = f"{exc}\n".encode()
            transcript.write(message)
            transcript.close()
            return {"output": message.decode(), "exit_code": exc.exit_code}
        unread = UnreadOutput()
        screen = LiveScreen(self.columns, self.lines, reply=lambda s: pty.write(s.encode()) if pty.running else None)
        pty.listeners += [unread, screen.write]
        session = ExecSession(sid, name, pty, unread, screen, directory / "transcript.log", argv)
        self.sessions[sid] = session
        await pty.wait(max(0, yield_time_ms) / 1000)
        return self._answer(session, max_output_tokens)

    async def write_stdin(
        self,
        session_id: int,
        chars: str | bytes = "",
        yield_time_ms: int = DEFAULT_WRITE_YIELD_MS,
        max_output_tokens: int | None = None,
    ) -> dict[str, object]:
        session = self.sessions.get(int(session_id))
        if session is None:
            raise UnknownSession(session_id)
        data = chars.encode("utf-8", "surrogateescape") if isinstance(chars, str) else bytes(chars)
        if data and not session.exited:
            try:
                session.pty.write(data)
            except ProcessLookupError:
                pass  # it exited between the check and the write: the answer says so
        await session.pty.wait(max(0, yield_time_ms) / 1000)
        return self._answer(session, max_output_tokens)

    def _answer(self, session: ExecSession, max_output_tokens: int | None) -> dict[str, object]:
        exited = session.exited
        answer = exec_answer(session.unread, exited, session.pty.exit_code, session.id, max_output_tokens, session.transcript_path)
        if exited:
            self.sessions.pop(session.id, None)
            if session.pty.transcript is not None:
                session.pty.transcript.close()
        return answer

    def get(self, session_id: int) -> ExecSession:
        try:
            return self.sessions[int(session_id)]
        except KeyError:
            raise UnknownSession(session_id) from None

    async def close(self, grace: float = 1.0) -> None:
        """Terminate every running session and wait for them (SIGKILL after `grace`)."""
        running = [s for s in self.sessions.values() if not s.exited]
        for s in running:
            s.pty.terminate(grace)
        await asyncio.gather(*(s.pty.wait(grace + 2) for s in running))
        for s in self.sessions.values():
            s.pty.close()
            if s.pty.transcript is not None:
                s.pty.transcript.close()
        self.sessions.clear()


def describe(argv: Sequence[str]) -> str:
    return shlex.join(argv)
