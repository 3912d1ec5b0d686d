"""Shared fixtures and helpers: a throwaway workspace, a supervisor for it, the
exec_command / write_stdin model through that supervisor, and `eventually`, the one way
a test waits for something that happens asynchronously."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from podium.sessions.daemon import HOLDER_MARK, SUPERVISOR_MODULE

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
# Sockets live under XDG_RUNTIME_DIR; a short private one keeps paths under 108 bytes and
# keeps the tests' supervisors apart from a person's.
_RUNTIME = tempfile.mkdtemp(prefix="pdm")
os.environ["XDG_RUNTIME_DIR"] = _RUNTIME
# The console script, as a person runs it (its directory, not the cwd, leads sys.path).
PODIUM = [str(Path(sys.executable).with_name("podium"))]


# -- waiting ---------------------------------------------------------------------------------
def _shown(value: Any, limit: int = 2000) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit // 2] + " … " + text[-limit // 2 :]


async def eventually(
    predicate: Callable[[], Any],
    *,
    what: str,
    timeout: float = 20.0,
    every: float = 0.05,
    pilot: Any = None,
    show: Callable[[], Any] | None = None,
) -> Any:
    """Wait until `predicate()` is truthy and return what it returned.

    `predicate` may be a plain function or return an awaitable (an `async def`, or a
    lambda around a client request): either way it is called afresh on every look, and an
    exception it raises fails the test at once (it is not a "not yet"). Between looks
    the wait is `pilot.pause(every)` when a Textual `pilot` is given (the app keeps
    processing messages and refreshing), `asyncio.sleep(every)` otherwise.

    On timeout it ALWAYS raises AssertionError naming `what`, with the last value the
    predicate returned when that says more than False/None, and `show()` (sync or async:
    the state worth seeing, e.g. a pane's text) when given.
    """
    deadline = time.monotonic() + timeout
    looks = 0
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        looks += 1
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        if pilot is not None:
            await pilot.pause(every)
        else:
            await asyncio.sleep(every)
    message = f"timed out after {timeout:g} s ({looks} looks) waiting for {what}"
    if value not in (None, False):
        message += f"\n  last seen: {_shown(value)}"
    if show is not None:
        extra = show()
        if inspect.isawaitable(extra):
            extra = await extra
        message += f"\n  state: {_shown(extra)}"
    raise AssertionError(message)


def eventually_sync(predicate: Callable[[], Any], *, what: str, timeout: float = 20.0, every: float = 0.1, show: Callable[[], Any] | None = None) -> Any:
    """`eventually` for code that is not async (the command-line tests, a snapshot
    fixture): the same loop, the same AssertionError, run to completion here."""
    return asyncio.run(eventually(predicate, what=what, timeout=timeout, every=every, show=show))


def type_in_one_breath(app, *keys: str) -> None:
    """Queue `keys` as a terminal delivers a fast typist's keys: all at once, none waiting
    for the app to settle (Pilot's `press` waits for idle after each key, which hides
    every race between a key and the focus change the key before it asked for)."""
    from textual import events

    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)


def record_notices(app) -> None:
    """Keep every notification `app` raises from now on (screens and widgets notify
    through the app), for `notices`. Textual forgets a notification when its toast times
    out (2 s for some): a record does not, so a slow look cannot miss one."""
    said: list[str] = []
    original = app.notify

    def notify(message, *args, **kwargs):
        said.append(str(message))
        return original(message, *args, **kwargs)

    app.notify = notify
    app._test_notices = said


def notices(app) -> list[str]:
    """Every notification `app` raised since `record_notices(app)`, oldest first."""
    assert hasattr(app, "_test_notices"), "call record_notices(app) before the app runs"
    return list(app._test_notices)


# -- workspaces and scripts ----------------------------------------------------------------------
@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def script(tmp_path: Path):
    """Write a Python script into tmp_path and return the argv that runs it."""

    def make(name: str, body: str) -> list[str]:
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(body))
        return [PY, "-u", str(path)]

    return make


def proc_state(pid: int) -> str:
    """The kernel's one-letter state of a process (R, S, T for stopped, Z...)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


# -- supervised workspaces -------------------------------------------------------------
def processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and (HOLDER_MARK in cmd or SUPERVISOR_MODULE in cmd):
            pids.append(int(entry))
    return pids


def kill_everything_under(path: Path) -> None:
    for pid in processes_mentioning(str(path)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def podium_cli(*args: str, cwd: Path | None = None, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PODIUM, *args], cwd=cwd or ROOT, capture_output=True, text=True, input=input, timeout=timeout,
    )


async def workers_of(client) -> dict[str, dict]:
    return {w["name"]: w for w in await client.request("ls")}


async def wait_state(client, name: str, states: tuple[str, ...], timeout: float = 20.0) -> dict:
    """The worker once it is in one of `states` (eventually, asking the supervisor)."""
    seen: dict[str, Any] = {}

    async def reached():
        seen["worker"] = (await workers_of(client)).get(name)
        w = seen["worker"]
        return w if w is not None and w["state"] in states else None

    return await eventually(reached, timeout=timeout, what=f"{name} to reach {states}", show=lambda: seen.get("worker"))


async def shut_down(client, workspace: Path) -> None:
    """Stop the supervisor the client talks to, then kill whatever it left running."""
    try:
        await asyncio.wait_for(client.request("stop", grace=0.5), 15)
    except Exception:
        pass
    await client.close()
    # Clean-up, not a check: a moment for the supervisor to exit by itself; anything
    # still there after it is killed.
    await asyncio.sleep(0.2)
    kill_everything_under(workspace)


@pytest.fixture
async def supervised(workspace: Path):
    """A workspace with a running supervisor and a connected client; everything it
    started (supervisor, holders, workers) is gone after the test."""
    from podium.sessions.client import connect_or_start

    client, started = await connect_or_start(workspace, client="test")
    assert started
    yield workspace, client
    await shut_down(client, workspace)


class ExecSessions:
    """codex's exec_command / write_stdin model as a coroutine API, done by a real
    supervisor (its `exec` and `write` requests): every session is a worker named
    `exec-<id>` under a holder, in a real PTY. The signals a terminal delivers go through
    the supervisor's requests too."""

    def __init__(self, client, workspace: Path):
        self.client = client
        self.workspace = workspace

    async def exec_command(
        self,
        cmd: str | list[str],
        workdir: str | Path | None = None,
        env: dict[str, str] | None = None,
        yield_time_ms: int | None = None,
        max_output_tokens: int | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"cmd": cmd if isinstance(cmd, str) else [str(c) for c in cmd]}
        if workdir is not None:
            fields["workdir"] = str(workdir)
        if env is not None:
            fields["env"] = env
        if yield_time_ms is not None:  # else the supervisor's default
            fields["yield_time_ms"] = yield_time_ms
        fields["max_output_tokens"] = max_output_tokens
        return await self.client.request("exec", **fields)

    async def write_stdin(
        self,
        session_id: int | str,
        chars: str = "",
        yield_time_ms: int | None = None,
        max_output_tokens: int | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"session_id": session_id, "chars": chars, "max_output_tokens": max_output_tokens}
        if yield_time_ms is not None:
            fields["yield_time_ms"] = yield_time_ms
        return await self.client.request("write", **fields)

    async def read_until(self, session_id: int | str, text: str, so_far: str = "", timeout: float = 20.0) -> str:
        """Poll the session (empty writes) until its output, after `so_far`, holds `text`;
        returns all of it. For output that comes 'soon' but not by a fixed time."""
        out = [so_far]

        async def arrived() -> bool:
            r = await self.write_stdin(session_id, "", yield_time_ms=100)
            out.append(r["output"])
            return text in "".join(out)

        await eventually(arrived, timeout=timeout, what=f"{text!r} from exec session {session_id}", show=lambda: "".join(out))
        return "".join(out)

    @staticmethod
    def worker(session_id: int | str) -> str:
        return f"exec-{session_id}"

    async def info(self, session_id: int | str) -> dict[str, Any]:
        return (await workers_of(self.client))[self.worker(session_id)]

    async def interrupt(self, session_id: int | str) -> None:
        await self.client.request("interrupt", worker=self.worker(session_id))

    async def terminate(self, session_id: int | str, grace: float) -> dict[str, Any]:
        """The supervisor's kill (what a closing terminal sends, SIGKILL after `grace`
        seconds); returns the worker once it has ended."""
        return await self.client.request("kill", worker=self.worker(session_id), grace=grace, wait=True)

    async def pause(self, session_id: int | str) -> None:
        await self.client.request("pause", worker=self.worker(session_id))

    async def resume(self, session_id: int | str) -> None:
        await self.client.request("continue", worker=self.worker(session_id))

    def resize(self, session_id: int | str, cols: int, rows: int) -> None:
        self.client.notify("resize", worker=self.worker(session_id), cols=cols, rows=rows)


@pytest.fixture
async def execs(supervised) -> ExecSessions:
    """The exec_command / write_stdin model, through a real supervisor for `workspace`."""
    workspace, client = supervised
    return ExecSessions(client, workspace)


# -- reading what podium shows ----------------------------------------------------------------------
def text_of(static) -> str:
    """What a Static shows, as text (a Group or Markdown renders through a console)."""
    import io

    from rich.console import Console

    console = Console(width=150, file=io.StringIO(), record=True)
    console.print(static.content)
    return console.export_text()


async def screen_text(client, worker: str) -> str:
    """A worker's screen as the supervisor has it, as text."""
    snap = await client.request("screen", worker=worker)
    return "\n".join("".join(r[0] for r in snap["lines"][str(y)]) for y in range(snap["rows"]))


async def shows(client, worker: str, text: str) -> bool:
    """Whether the supervisor's screen of `worker` holds `text` (a predicate for eventually)."""
    return text in await screen_text(client, worker)
