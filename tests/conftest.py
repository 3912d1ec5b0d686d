"""Shared fixtures: a throwaway workspace and an exec engine bound to it."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

from podium.sessions import UnifiedExec  # noqa: E402

PY = sys.executable


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
async def ux(workspace: Path):
    engine = UnifiedExec(workspace, columns=80, lines=24)
    yield engine
    await engine.close(grace=0.5)


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


os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")


# -- supervised workspaces -------------------------------------------------------------
import asyncio  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

# Sockets live under XDG_RUNTIME_DIR; a short private one keeps paths under 108 bytes and
# keeps the tests' supervisors apart from a person's.
_RUNTIME = tempfile.mkdtemp(prefix="pdm")
os.environ["XDG_RUNTIME_DIR"] = _RUNTIME
# The console script, as a person runs it (its directory, not the cwd, leads sys.path).
PODIUM = [str(Path(sys.executable).with_name("podium"))]


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
        if text in cmd and ("podium.sessions.holder" in cmd or "podium.sessions.supervisor" in cmd):
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


async def wait_state(client, name: str, states: tuple[str, ...], timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        workers = {w["name"]: w for w in await client.request("ls")}
        w = workers.get(name)
        if w is not None and w["state"] in states:
            return w
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never reached {states}: {w}")
        await asyncio.sleep(0.05)


async def shut_down(client, workspace: Path) -> None:
    """Stop the supervisor the client talks to, then kill whatever it left running."""
    try:
        await asyncio.wait_for(client.request("stop", grace=0.5), 15)
    except Exception:
        pass
    await client.close()
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


async def poll(probe, tries: int = 300, every: float = 0.05):
    """Await `probe()` until it returns something truthy (returns it), or give up (None)."""
    for _ in range(tries):
        found = await probe()
        if found:
            return found
        await asyncio.sleep(every)
    return None
