"""The worker tools `podium mcp` offers an orchestrating agent: codex's own exec_command and
write_stdin, and spawn, list, status, wait, interrupt, kill, resume, last message and
transcript for podium's workers. Each is a method whose signature is its JSON schema
(arguments with their ranges and descriptions, a TypedDict result); each asks the
supervisor through the `SupervisorLine`, exactly as the dashboard and the CLI do, so what
the agent starts is on the person's dashboard at once. The person's tools (promote, ask,
plans) are in `mcp_person.py`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import NotRequired, TypedDict  # pydantic reads nested TypedDicts only from here on 3.11

from .blackboard import WORKER_NAME_RE, Blackboard
from .exec_model import DEFAULT_EXEC_YIELD_MS, DEFAULT_WRITE_YIELD_MS
from .launch import TEMPLATES, build_command
from .mcp_link import REQUEST_TIMEOUT, SupervisorLine, ToolFailure
from .states import ACTIVE, ENDED, WorkerState
from .text import plain_text
from .transcript import TranscriptReader

MAX_YIELD_MS = 300_000  # codex clamps to 30 s; podium lets a call wait up to 5 minutes
MAX_CHARS = 256 * 1024  # characters one write_stdin may type into a terminal
MAX_OUTPUT_TOKENS = 1_000_000
MAX_TRANSCRIPT_BYTES = 1024 * 1024
MAX_WAIT_S = 3600.0
DEFAULT_WAIT_S = 50.0  # under codex's default tool timeout (60 s)
GROUPS = {"ended": sorted(ENDED), "active": sorted(ACTIVE)}
AGENTS = Literal["shell", "codex-exec", "codex", "claude-p", "claude"]
ROLES = Literal[tuple(TEMPLATES)]  # type: ignore[valid-type]

Name = Annotated[str, Field(pattern=WORKER_NAME_RE.pattern, description="the worker's name, as list_workers shows it")]
YieldMs = Annotated[int, Field(ge=0, le=MAX_YIELD_MS, description="how long to wait for output before answering, in milliseconds (0 to 300000)")]
MaxTokens = Annotated[
    int | None,
    Field(ge=0, le=MAX_OUTPUT_TOKENS, description="output beyond this many tokens (~4 bytes each) is cut in the middle with a marker; default 10000"),
]


# -- results ----------------------------------------------------------------------------------------
class ExecResult(TypedDict):
    output: str
    session_id: NotRequired[int | str]  # while the process runs: pass it to write_stdin
    exit_code: NotRequired[int | None]  # once it has exited
    worker: NotRequired[str]  # the worker on the dashboard (known while it runs)


class WorkerBrief(TypedDict):
    name: str
    kind: str
    mode: str
    state: str
    reason: str
    exit_code: int | None
    started: str | None
    ended: str | None
    last_output: str | None
    tokens: int
    runs: int
    by_orchestrator: bool


class WorkerList(TypedDict):
    workers: list[WorkerBrief]
    paused: bool
    spawns_left: int


class WorkerStatus(TypedDict):
    name: str
    kind: str
    mode: str
    state: str
    reason: str
    evidence: dict[str, Any]
    command: list[str]
    cwd: str
    pid: int | None
    created: str
    started: str | None
    ended: str | None
    last_output: str | None
    runs: int
    session_id: str | None
    tokens: int
    cost_usd: float
    promoted: list[str]
    open_questions: list[dict[str, Any]]


class Reached(TypedDict):
    state: str
    reason: str
    exit_code: int | None


class WaitResult(TypedDict):
    reached: bool
    matched: list[str]
    workers: dict[str, Reached]
    waited_s: float


class LastMessage(TypedDict):
    worker: str
    text: str
    run: int
    mode: str


class Transcript(TypedDict):
    worker: str
    start: int
    end: int
    size: int
    text: str


def brief(w: dict[str, Any], started_by: set[str]) -> WorkerBrief:
    keys = ("name", "kind", "mode", "state", "reason", "exit_code", "started", "ended", "last_output", "tokens", "runs")
    return {**{k: w.get(k) for k in keys}, "by_orchestrator": w["name"] in started_by}  # type: ignore[typeddict-item]


def reached(w: dict[str, Any]) -> Reached:
    return {"state": w["state"], "reason": w["reason"], "exit_code": w.get("exit_code")}


def expand_states(states: list[str]) -> set[str]:
    out: set[str] = set()
    for s in states:
        if s in GROUPS:
            out.update(GROUPS[s])
        elif s in tuple(WorkerState):
            out.add(s)
        else:
            known = ", ".join([*GROUPS, *WorkerState])
            raise ToolFailure(f"until: {s!r} is not a worker state (one of {known})")
    return out


class WorkerTools:
    """The tools about workers. `line` reaches the supervisor; `workspace` is where
    relative paths start."""

    NAMES = (
        "exec_command", "write_stdin", "spawn_worker", "list_workers", "worker_status", "wait_for",
        "interrupt", "kill", "resume_worker", "last_message", "read_transcript",
    )

    def __init__(self, line: SupervisorLine, workspace: Path):
        self.line = line
        self.workspace = workspace

    def _path(self, given: str | None, field: str) -> str:
        path = Path(given).expanduser() if given else self.workspace
        path = path if path.is_absolute() else self.workspace / path
        if not path.is_dir():
            raise ToolFailure(f"{field}: {path} is not a directory")
        return str(path.resolve())

    async def _known(self, name: str) -> dict[str, Any]:
        await self.line.client()
        info = self.line.workers.get(name)
        if info is None:
            known = ", ".join(sorted(self.line.workers)) or "none"
            raise ToolFailure(f"unknown worker {name!r} (workers: {known})")
        return info

    # -- codex's unified exec ----------------------------------------------------------------------
    async def exec_command(
        self,
        cmd: Annotated[str, Field(min_length=1, description="the shell command to run (through the user's shell, as codex runs it)")],
        workdir: Annotated[str | None, Field(description="the directory it runs in; relative to the workspace; default the workspace")] = None,
        shell: Annotated[str | None, Field(description="the shell to run it with (default: the user's shell)")] = None,
        login: Annotated[bool, Field(description="with `shell`: run it as a login shell (-lc)")] = False,
        yield_time_ms: YieldMs = DEFAULT_EXEC_YIELD_MS,
        max_output_tokens: MaxTokens = None,
    ) -> ExecResult:
        """Run a command in a new PTY, as codex's exec_command does: wait up to yield_time_ms,
        then answer with the output so far and either exit_code (it has exited) or session_id
        (it still runs: poll or type into it with write_stdin). The session is a podium worker
        the person sees on the dashboard (named exec-<session_id>)."""
        command: str | list[str] = [shell, "-lc" if login else "-c", cmd] if shell else cmd
        answer = await self.line.request(
            "mcp_exec",
            deadline=yield_time_ms / 1000 + REQUEST_TIMEOUT,
            cmd=command,
            workdir=self._path(workdir, "workdir"),
            env=dict(os.environ),
            yield_time_ms=yield_time_ms,
            max_output_tokens=max_output_tokens,
            caller=self.line.caller(),
        )
        return self._exec_result(answer)

    async def write_stdin(
        self,
        session_id: Annotated[int | str, Field(description="the session_id exec_command gave (or any worker's name)")],
        chars: Annotated[str, Field(max_length=MAX_CHARS, description="what to type (may be empty: a poll); \\n is enter, \\u0003 is Ctrl+C")] = "",
        yield_time_ms: YieldMs = DEFAULT_WRITE_YIELD_MS,
        max_output_tokens: MaxTokens = None,
    ) -> ExecResult:
        """Type chars into a running session and answer with the output produced since the
        last read (exit_code once it has exited, else session_id), as codex's write_stdin.
        Only sessions and workers orchestrators started take it; while the person has
        paused orchestrators, only a poll (empty chars) is answered."""
        answer = await self.line.request(
            "mcp_write", deadline=yield_time_ms / 1000 + REQUEST_TIMEOUT, session_id=session_id, chars=chars, yield_time_ms=yield_time_ms, max_output_tokens=max_output_tokens
        )
        return self._exec_result(answer)

    @staticmethod
    def _exec_result(answer: dict[str, Any]) -> ExecResult:
        sid = answer.get("session_id")
        out: ExecResult = {"output": answer["output"]}
        if "exit_code" in answer:
            out["exit_code"] = answer["exit_code"]
        if sid is not None:
            out["session_id"] = sid
            out["worker"] = f"exec-{sid}" if isinstance(sid, int) else str(sid)
        return out

    # -- workers -------------------------------------------------------------------------------------
    async def spawn_worker(
        self,
        name: Annotated[str, Field(pattern=WORKER_NAME_RE.pattern, description="a new worker's name: letters, digits, '.', '_', '-' (at most 64)")],
        agent: Annotated[AGENTS, Field(description="what runs: codex-exec and claude-p end with a final message; codex and claude are interactive; shell runs `command`")] = "codex-exec",
        prompt: Annotated[str | None, Field(description="the task for an agent worker (required unless agent is shell)")] = None,
        command: Annotated[str | None, Field(description="the shell command (agent shell only)")] = None,
        role: Annotated[ROLES, Field(description="a role template put before the prompt (scout, reviewer, researcher, implementer, verifier), or none")] = "none",
        cwd: Annotated[str | None, Field(description="the directory it works in; relative to the workspace; default the workspace")] = None,
    ) -> WorkerStatus:
        """Start a worker the person watches on the dashboard. Its state, last message and
        transcript are then available through worker_status, wait_for, last_message and
        read_transcript. Refused while the person has paused orchestrators, or past the
        workspace's cap on the workers orchestrators may start."""
        if agent == "shell":
            if not command:
                raise ToolFailure("command: a shell worker needs the command to run")
            text = command
        else:
            if not prompt:
                raise ToolFailure(f"prompt: a {agent} worker needs a prompt (its task)")
            if command:
                raise ToolFailure(f"command: only a shell worker takes a command; give a {agent} worker a prompt")
            text = prompt
        argv, kind = build_command(agent, text, role)
        info = await self.line.request(
            "mcp_spawn", name=name, argv=argv, kind=kind, cwd=self._path(cwd, "cwd"), env=dict(os.environ), caller=self.line.caller()
        )
        if info["state"] == WorkerState.FAILED and not info.get("started"):
            raise ToolFailure(f"worker {name} failed to start: {info['reason']}")
        self.line.workers.setdefault(name, info)  # pushed events are newer than this reply: never over them
        return await self._status(info)

    async def list_workers(self) -> WorkerList:
        """Every worker in the workspace (the person's, the plan's and yours): state, why,
        exit code, tokens; by_orchestrator marks those an orchestrator started."""
        workers = await self.line.request("ls")
        policy = await self.line.request("mcp_policy")
        started = set(policy["started"])
        return {"workers": [brief(w, started) for w in workers], "paused": policy["paused"], "spawns_left": policy["remaining"]}

    async def worker_status(self, name: Name) -> WorkerStatus:
        """One worker in full: its state with the evidence it came from (exit code, signal,
        agent signals, warnings), its command, tokens, runs, what was promoted, and the
        questions it has open in the person's inbox."""
        workers = await self.line.request("ls")
        info = next((w for w in workers if w["name"] == name), None)
        if info is None:
            raise ToolFailure(f"unknown worker {name!r} (workers: {', '.join(sorted(w['name'] for w in workers)) or 'none'})")
        return await self._status(info)

    async def _status(self, w: dict[str, Any]) -> WorkerStatus:
        questions = [e for e in await self.line.request("decisions") if e.get("worker") == w["name"]]
        evidence = {
            "exit_code": w.get("exit_code"),
            "exit_signal": w.get("exit_signal"),
            "signals": w.get("signals"),
            "agent": w.get("agent") or {},
            "warnings": w.get("warnings") or [],
        }
        keys = ("name", "kind", "mode", "state", "reason", "command", "cwd", "pid", "created", "started", "ended", "last_output", "runs", "session_id", "tokens", "cost_usd")
        return {  # type: ignore[typeddict-item]
            **{k: w.get(k) for k in keys},
            "evidence": evidence,
            "promoted": w.get("promoted") or [],
            "open_questions": [{"id": e["id"], "question": e["question"], "options": e["options"], "state": e["state"]} for e in questions],
        }

    async def wait_for(
        self,
        workers: Annotated[list[str], Field(min_length=1, max_length=64, description="the workers to watch")],
        until: Annotated[list[str], Field(min_length=1, description="states to wait for: 'ended' (done, failed, interrupted, lost, blocked, needs-review), 'active', or states by name (waiting, done...)")] = ["ended"],  # noqa: B006
        mode: Annotated[Literal["any", "all"], Field(description="return when any of them gets there, or only when all have")] = "any",
        timeout_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S, description="give up after this many seconds (answer with reached=false); the call returns as soon as the states are reached")] = DEFAULT_WAIT_S,
    ) -> WaitResult:
        """Block until the workers reach a state (pushed by the supervisor: no polling), or
        the timeout. Answers which matched and where each one is now."""
        states = expand_states(until)
        for name in workers:
            await self._known(name)
        began = time.monotonic()

        def matched() -> list[str]:  # (a worker missing while the line reconnects is not there yet)
            return [n for n in workers if self.line.workers.get(n, {}).get("state") in states]

        def done() -> bool:
            hits = matched()
            return len(hits) == len(workers) if mode == "all" else bool(hits)

        ok = bool(await self.line.wait_until(done, timeout_s))
        return {
            "reached": ok,
            "matched": matched(),
            "workers": {n: reached(self.line.workers[n]) for n in workers},
            "waited_s": round(time.monotonic() - began, 3),
        }

    async def interrupt(self, name: Name) -> Reached:
        """Ctrl+C to a running worker (an agent stops its turn; a shell command stops)."""
        await self.line.request("interrupt", worker=name)
        return reached(await self._known(name))

    async def kill(
        self,
        name: Name,
        grace_s: Annotated[float, Field(ge=0, le=60, description="seconds between SIGTERM and SIGKILL")] = 3.0,
    ) -> Reached:
        """End a worker as closing its terminal would (SIGHUP, SIGTERM, SIGKILL after the
        grace); answers once it has ended. Its transcript and messages stay."""
        info = await self.line.request("kill", deadline=grace_s + REQUEST_TIMEOUT, worker=name, grace=grace_s, wait=True)
        return reached(info)

    async def resume_worker(
        self,
        name: Name,
        prompt: Annotated[str, Field(min_length=1, description="the follow-up: what the agent should do next")],
    ) -> Reached:
        """Continue an ended agent worker's conversation (same thread or session) with a
        follow-up prompt: run N+1 of the same worker. Refused while the person has paused
        orchestrators; each resume uses one of the cap's workers, as a spawn does."""
        info = await self.line.request("mcp_resume", worker=name, prompt=prompt, env=dict(os.environ), caller=self.line.caller())
        return reached(info)

    async def last_message(self, name: Name) -> LastMessage:
        """The worker's final message (codex -o file, last agent message, claude result, or
        its report), escape sequences removed."""
        r = await self.line.request("last", worker=name)
        return {"worker": r["worker"], "text": plain_text(r["text"].encode("utf-8", "surrogateescape")), "run": r["run"], "mode": r["mode"]}

    async def read_transcript(
        self,
        name: Name,
        tail_bytes: Annotated[int | None, Field(ge=1, le=MAX_TRANSCRIPT_BYTES, description="the last N bytes (default 16384 when no start is given)")] = None,
        start: Annotated[int | None, Field(ge=0, description="a byte range instead of the tail: its first byte")] = None,
        end: Annotated[int | None, Field(ge=0, description="the byte after the range (default start + 65536, at most 1 MiB after start)")] = None,
    ) -> Transcript:
        """Every byte the worker's terminal printed, as plain text (escape sequences
        removed): the tail, or a byte range. `size` is the transcript's length: read on from
        `end` later for what came next."""
        wdir = Blackboard(self.workspace).worker_dir(name)
        if not (wdir / "meta.toml").exists():
            known = ", ".join(Blackboard(self.workspace).worker_names()) or "none"
            raise ToolFailure(f"unknown worker {name!r} (workers: {known})")
        if tail_bytes is not None and start is not None:
            raise ToolFailure("tail_bytes: give either tail_bytes or start (a range), not both")
        reader = TranscriptReader(wdir)
        size = reader.refresh()
        if start is None:
            start = max(0, size - (tail_bytes or 16384))
            end = size
        else:
            end = start + 65536 if end is None else end
            if end < start:
                raise ToolFailure(f"end: {end} is before start {start}")
            if end - start > MAX_TRANSCRIPT_BYTES:
                raise ToolFailure(f"end: a range of {end - start} bytes is over the limit of {MAX_TRANSCRIPT_BYTES}")
            end = min(end, size)
            start = min(start, end)
        return {"worker": name, "start": start, "end": end, "size": size, "text": plain_text(reader.read(start, end))}
