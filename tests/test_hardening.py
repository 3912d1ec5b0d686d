"""What trying podium from outside found (issue 12), each with the test that found it:
a full disk, another login's $XDG_RUNTIME_DIR, malformed requests, the frame clock's
leading edge, keys as ordered notifications, a shell closed as a terminal closes it,
the command line's option order, the demo started afresh."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import PODIUM, eventually, eventually_sync, kill_everything_under, wait_state, workers_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium.sessions.blackboard import Blackboard
from podium.sessions.client import connect_or_start
from podium.sessions.frames import FrameClock
from podium.sessions.protocol import PROTOCOL_VERSION, encode_line
from podium.sessions.screen import LiveScreen
from podium.sessions.transcript import TranscriptReader

TICKER = """
import os, sys, time
stop = sys.argv[1]
i = 0
while not os.path.exists(stop):
    print(f"tick {i}", flush=True)
    i += 1
    time.sleep(0.02)
print("ticker done", flush=True)
"""


def ticker(tmp_path: Path) -> tuple[list[str], Path]:
    path = tmp_path / "ticker.py"
    path.write_text(TICKER)
    stop = tmp_path / "stop"
    return [sys.executable, "-u", str(path), str(stop)], stop


# -- a full disk --------------------------------------------------------------------------------
async def test_a_transcript_that_cannot_be_written_is_reported_and_loses_no_exit_status(supervised, tmp_path):
    """/dev/full: every write fails with ENOSPC, no root needed."""
    ws, client = supervised
    wdir = ws / ".podium/workers/full"
    wdir.mkdir(parents=True)
    (wdir / "transcript.log").symlink_to("/dev/full")
    argv, stop = ticker(tmp_path)
    await client.request("spawn", name="full", argv=argv)

    async def warned():
        w = (await workers_of(client))["full"]
        return w if any("No space left on device" in x for x in w["warnings"]) else None

    w = await eventually(warned, what="a warning naming the full disk")
    warning = next(x for x in w["warnings"] if x.startswith("transcript:"))
    assert "not written" in warning and "bytes" in warning, warning
    assert w["state"] == "running"
    # The screen stays live: the bytes still reach the supervisor.
    await eventually(lambda: client.request("screen", worker="full"), what="a screen")
    stop.touch()
    done = await wait_state(client, "full", ("done", "failed", "lost"))
    assert (done["state"], done["exit_code"]) == ("done", 0), done  # not "lost: holder died"
    assert any("No space left on device" in x for x in done["warnings"])
    log = (ws / ".podium/supervisor.log").read_text()
    assert "full: transcript: No space left on device" in log
    r = subprocess.run([*PODIUM, "-w", str(ws), "ls"], capture_output=True, text=True, timeout=30)
    assert "No space left on device" in r.stdout, r.stdout


async def test_writing_resumes_after_a_marker_that_counts_the_bytes_lost(supervised, tmp_path):
    ws, client = supervised
    fault = tmp_path / "disk-full"
    fault.touch()
    argv, stop = ticker(tmp_path)
    await client.request("spawn", name="t", argv=argv, env={"PODIUM_FAULT_DISK": str(fault)})

    async def warning():
        w = (await workers_of(client))["t"]
        return next((x for x in w["warnings"] if x.startswith("transcript:")), None)

    assert "not written" in await eventually(warning, what="the transcript warning")
    fault.unlink()  # space is back
    after = await eventually(lambda: _marker_seen(warning), what="the warning saying where the gap is")
    assert "a marker line in it says where" in after
    stop.touch()
    w = await wait_state(client, "t", ("done", "failed", "lost"))
    assert w["state"] == "done"
    text = TranscriptReader(ws / ".podium/workers/t").read(0, 1 << 30).decode()
    marker = next(line for line in text.splitlines() if line.startswith("[podium: "))
    assert "could not be written to the transcript here: No space left on device" in marker
    assert text.index(marker) < text.index("ticker done")


async def _marker_seen(warning) -> str | None:
    text = await warning()
    return text if text and "marker" in text else None


async def test_an_exit_status_nobody_could_write_waits_for_the_next_supervisor(workspace, tmp_path):
    """kill -9 the supervisor; the worker ends while no supervisor listens and exit.json
    cannot be written: the holder keeps the status until a new supervisor takes it."""
    fault = tmp_path / "disk-full"
    argv, stop = ticker(tmp_path)
    client, _ = await connect_or_start(workspace, client="test")
    try:
        w = await client.request("spawn", name="t", argv=argv, env={"PODIUM_FAULT_DISK": str(fault)})
        os.kill(client.info["pid"], signal.SIGKILL)
        await client.close()
        fault.touch()
        stop.touch()
        await eventually(lambda: _gone(w["pid"]), what="the worker to exit")
        assert not (workspace / ".podium/workers/t/exit.json").exists()
        assert not _gone(w["holder_pid"]), "the holder left with the exit status"
        fault.unlink()
        client, _ = await connect_or_start(workspace, client="test")
        ended = await wait_state(client, "t", ("done", "failed", "lost"))
        assert (ended["state"], ended["exit_code"]) == ("done", 0), ended
        assert any(x.startswith("exit.json:") for x in ended["warnings"]), ended["warnings"]
        await eventually(lambda: _gone(w["holder_pid"]), what="the holder to go once its status was taken")
    finally:
        await client.request("stop", grace=0.5)
        await client.close()
        kill_everything_under(workspace)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


# -- another login's $XDG_RUNTIME_DIR ------------------------------------------------------------
def cli_with_runtime(ws: Path, runtime: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    return subprocess.run([*PODIUM, "-w", str(ws), *args], capture_output=True, text=True, timeout=60, env=env)


def test_a_login_with_another_runtime_dir_finds_the_supervisor(workspace):
    ssh, desktop = Path(tempfile.mkdtemp(prefix="ssh")), Path(tempfile.mkdtemp(prefix="dsk"))  # short: sockets
    try:
        assert cli_with_runtime(workspace, desktop, "spawn", "w", "--", "sleep", "60").returncode == 0
        r = cli_with_runtime(workspace, ssh, "ls", "--json")
        assert r.returncode == 0, r.stderr
        assert [w["name"] for w in json.loads(r.stdout)] == ["w"]
        assert "already runs" in cli_with_runtime(workspace, ssh, "start").stdout
        assert json.loads(cli_with_runtime(workspace, ssh, "status", "--json").stdout)["socket"].startswith(str(desktop))
        # The socket gone (a runtime dir cleaned at logout): the message names pid and path.
        pid = json.loads(cli_with_runtime(workspace, ssh, "status", "--json").stdout)["pid"]
        sock = Blackboard(workspace).recorded_supervisor()[1]
        sock.unlink()
        r = cli_with_runtime(workspace, ssh, "ls")
        assert r.returncode == 1
        assert f"pid {pid}" in r.stderr and str(sock) in r.stderr, r.stderr
    finally:
        kill_everything_under(workspace)
        for d in (ssh, desktop):
            shutil.rmtree(d, ignore_errors=True)


# -- malformed requests ---------------------------------------------------------------------------
async def raw_connection(ws: Path):
    reader, writer = await asyncio.open_unix_connection(str(Blackboard(ws).socket_path), limit=1 << 26)
    writer.write(encode_line({"op": "hello", "id": 0, "version": PROTOCOL_VERSION, "client": "fuzz"}))
    hello = json.loads(await reader.readline())
    assert hello["ok"]
    return reader, writer


async def answer_then_close(ws: Path, line: bytes) -> list[dict]:
    reader, writer = await raw_connection(ws)
    writer.write(line)
    await writer.drain()
    replies = []
    while raw := await asyncio.wait_for(reader.readline(), 10):
        replies.append(json.loads(raw))
    writer.close()
    return replies


async def test_deep_nesting_and_garbage_get_one_error_line_and_the_supervisor_serves_on(supervised):
    ws, client = supervised
    for line, why in (
        (b"[" * 100_000 + b"\n", "nested too deeply"),
        (b"this is not json\n", "not JSON"),
        (b"[1, 2, 3]\n", "not a JSON object"),
        (b"\xff\xfe\n", "not JSON"),
    ):
        replies = await answer_then_close(ws, line)
        assert len(replies) == 1 and replies[0]["event"] == "error", replies
        assert why in replies[0]["error"] and "closing the connection" in replies[0]["error"]
    # An oversized line (over MAX_LINE) too.
    reader, writer = await raw_connection(ws)
    writer.write(b'{"op": "ls", "id": 1, "pad": "' + b"x" * (17 * 1024 * 1024) + b'"}\n')
    reply = json.loads(await asyncio.wait_for(reader.readline(), 30))
    assert reply["event"] == "error" and "limit" in reply["error"]
    writer.close()
    assert await client.request("status")  # still serving


async def test_a_request_with_a_wrong_field_names_it(supervised):
    ws, client = supervised
    with pytest.raises(Exception, match="bad spawn request: 'argv' must be a list"):
        await client.request("spawn", name="x", argv="ls -la")
    with pytest.raises(Exception, match="bad resize request: 'cols' must be an integer"):
        await client.request("resize", worker="x", cols="wide", rows=3)
    client.notify("input", worker="ghost", data_b64="eA==")  # a notification: no reply...
    await eventually(lambda: client.last_error, what="...but an error event")
    assert "unknown worker 'ghost'" in client.last_error


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(line=st.binary(min_size=1, max_size=300).filter(lambda b: b"\n" not in b))
async def test_protocol_fuzz_never_breaks_the_supervisor(supervised, line):
    """Any line at all gets an answer (a reply or an error event), and the supervisor
    serves the next client as before (one supervisor for every example)."""
    ws, client = supervised
    reader, writer = await raw_connection(ws)
    writer.write(line + b"\n")
    await writer.drain()
    replies = []
    try:
        while raw := await asyncio.wait_for(reader.readline(), 10):
            replies.append(json.loads(raw))
            if replies[-1].get("event") == "error" or "id" in replies[-1]:
                break
    finally:
        writer.close()
    assert replies, f"no answer at all to {line!r}"
    assert (await client.request("status"))["pid"] == client.info["pid"]


# -- the frame clock's leading edge ---------------------------------------------------------------
class _Framed:
    def __init__(self, name: str):
        self.name = name
        self.state = "running"
        self.screen = LiveScreen(20, 4)
        self.screen.take_dirty()  # drawn once already
        self.last_output: float | None = None


class _Screens:
    def __init__(self):
        self.sent: list[tuple[str, float]] = []

    def watching(self, name: str) -> bool:
        return True

    def screen_changed(self, name: str, rows) -> None:
        self.sent.append((name, time.monotonic()))


async def test_the_first_change_after_quiet_goes_out_at_once_and_typing_beats_a_flood():
    quiet, flood = _Framed("quiet"), _Framed("flood")
    screens = _Screens()
    clock = FrameClock(lambda: [quiet, flood], screens, lambda w: None, lambda w: None)
    quiet.screen.write(b"x")
    clock.output(quiet)
    # Leading edge: not a timer a frame away, the next turn of the loop.
    assert clock._timer is not None and not isinstance(clock._timer, asyncio.TimerHandle)
    await eventually(lambda: screens.sent, what="the first frame", every=0.001)
    # Output right after a frame waits for the next frame's slot (coalescing)...
    flood.screen.write(b"y" * 100)
    clock.output(flood)
    assert isinstance(clock._timer, asyncio.TimerHandle)
    # ...but a worker that was just typed into gets its frame at once.
    clock.typed("quiet")
    quiet.screen.write(b"z")
    clock.output(quiet)
    assert clock._urgent_timer is not None and not isinstance(clock._urgent_timer, asyncio.TimerHandle)
    await eventually(lambda: len(screens.sent) == 3, what="the typed worker's frame and the flood's")
    assert [n for n, _ in screens.sent] == ["quiet", "quiet", "flood"], "the flood went first"


async def test_a_prompt_is_read_even_when_the_bytes_after_it_change_no_row():
    """A prompt drawn, then bytes that move no row (cursor hidden) before the clock's next
    frame: the clock must keep going until the prompt is read (codex once sat at its
    approval dialog unseen, 1 run in 5)."""
    ask = _Framed("ask")
    screens = _Screens()
    seen: list[str] = []
    clock = FrameClock(lambda: [ask], screens, lambda w: None, lambda w: seen.append(w.screen.text()))

    def out(data: bytes) -> None:
        ask.last_output = time.time()
        ask.screen.write(data)
        clock.output(ask)

    out(b"working")
    await eventually(lambda: seen, what="the first look at the screen", every=0.001)
    sent = len(screens.sent)
    out(b"\r\nContinue? [y/N] ")
    await eventually(lambda: len(screens.sent) > sent, what="the prompt's frame", every=0.001)
    out(b"\x1b[?25l")  # before the next frame: a backlog that changes no row
    await eventually(lambda: any("Continue?" in text for text in seen), what="a look at the screen with the prompt", timeout=3)


# -- keys: notifications, in order -----------------------------------------------------------------
async def test_a_thousand_keystrokes_arrive_in_order_without_a_reply_each(supervised):
    ws, client = supervised
    await client.request("spawn", name="cat", argv=["cat"])
    await wait_state(client, "cat", ("running",))
    text = "".join(f"{i % 10}" for i in range(1000))
    for ch in text:
        client.send_keys("cat", ch.encode())
    client.send_keys("cat", b"\r")
    pending = len(client._pending)
    assert pending == 0, "a keystroke waited for an answer"
    transcript = ws / ".podium/workers/cat/transcript.log"
    await eventually(lambda: transcript.read_bytes().count(text.encode()) >= 2, what="the line echoed and cat's copy")


# -- a shell closed as a terminal closes it ------------------------------------------------------
async def test_kill_closes_an_interactive_shell_with_sighup_not_sigkill(supervised):
    ws, client = supervised
    await client.request("spawn", name="sh", argv=["bash", "--norc", "-i"])
    await eventually(lambda: _prompt(client), what="bash's prompt")
    w = await client.request("kill", worker="sh", grace=5.0, wait=True)
    assert w["state"] == "interrupted" and "SIGHUP" in w["reason"], w["reason"]
    started, ended = w["started"], w["ended"]
    assert started and ended


async def _prompt(client) -> bool:
    snap = await client.request("screen", worker="sh")
    return any(r for row in snap["lines"].values() for r in row)


# -- the command line: options before or after the text --------------------------------------------
def test_write_takes_its_options_before_or_after_the_text(workspace):
    def cli(*args):
        return subprocess.run([*PODIUM, "-w", str(workspace), *args], capture_output=True, text=True, timeout=60)

    def answer(r) -> str:
        """The output of write `r` and of the empty writes after it, polled until the answer
        and the prompt after it are in (so none of it is left for the next write)."""
        out = [json.loads(r.stdout)["output"]]

        def arrived() -> bool:
            text = "".join(out)
            if not ("42" in text and text.endswith(">>> ")):
                more = cli("write", str(sid), "", "--yield-ms", "200")
                assert more.returncode == 0, more.stderr
                out.append(json.loads(more.stdout)["output"])
            text = "".join(out)
            return "42" in text and text.endswith(">>> ")

        eventually_sync(arrived, what="42 and the next prompt from python", show=lambda: "".join(out))
        return "".join(out)

    try:
        sid = json.loads(cli("exec", "--yield-ms", "1500", "--", "python3", "-i", "-q").stdout)["session_id"]
        r = cli("write", str(sid), "--yield-ms", "1000", "print(6*7)\\n")
        assert r.returncode == 0, r.stderr
        assert "42" in answer(r)
        r = cli("write", "--max-output-tokens", "100", str(sid), "print(7*6)\\n", "--yield-ms", "1000")
        assert r.returncode == 0, r.stderr
        assert "42" in answer(r)
        r = cli("resume", "--workspace", str(workspace), "nobody", "continue please")
        assert "unknown worker 'nobody'" in r.stderr
    finally:
        cli("stop", "--yes")
        kill_everything_under(workspace)


# -- the demo, started afresh once it has ended ------------------------------------------------------
@pytest.mark.slow
def test_demo_again_after_it_ended_starts_afresh_and_sets_the_old_one_aside(workspace):
    def cli(*args):
        return subprocess.run([*PODIUM, *args], capture_output=True, text=True, timeout=90)

    try:
        r = cli("demo", "--no-attach", "-w", str(workspace))
        assert r.returncode == 0, r.stderr
        git = lambda *a: subprocess.run(["git", "-C", str(workspace), *a], capture_output=True, text=True, check=True).stdout  # noqa: E731
        assert git("log", "--format=%s") == "The importer, with its bug\n" and "split('\\n')[:-1]" in (workspace / "importer/rows.py").read_text()
        git("worktree", "add", "-q", "-b", "podium/fix-rows", str(workspace.parent / "old-tree"))  # as a demo plan's writer leaves it
        git("commit", "-q", "--allow-empty", "-m", "merged by the person")
        for name in ("agent", "approval", "build", "shell"):
            cli("-w", str(workspace), "kill", name, "--grace", "0.5")
        workers = json.loads(cli("-w", str(workspace), "ls", "--json").stdout)
        assert not any(w["state"] in ("running", "waiting", "starting") for w in workers), workers
        r = cli("demo", "--no-attach", "-w", str(workspace))
        assert r.returncode == 0, r.stderr
        assert "a new one starts" in r.stderr and "its repository back at demo-start" in r.stderr
        assert git("log", "--format=%s") == "The importer, with its bug\n" and "podium/" not in git("branch") and not (workspace.parent / "old-tree").exists()
        workers = {w["name"]: w for w in json.loads(cli("-w", str(workspace), "ls", "--json").stdout)}
        assert workers["build"]["state"] == "running" and workers["build"]["runs"] == 1
        assert (workspace / ".podium.previous/workers/build/transcript.log").exists()
        # While it runs, `podium demo` reattaches to the same workers.
        pid = workers["build"]["pid"]
        assert cli("demo", "--no-attach", "-w", str(workspace)).returncode == 0
        assert {w["name"]: w for w in json.loads(cli("-w", str(workspace), "ls", "--json").stdout)}["build"]["pid"] == pid
    finally:
        cli("-w", str(workspace), "stop", "--yes")
        kill_everything_under(workspace)


def test_the_demo_never_makes_or_resets_a_repository_in_a_persons_own_directory(tmp_path):
    """`podium demo -w ~/proj`: a directory with anything of its own is not made a repository
    (nothing of the person's is written), and a repository the demo did not make is never
    reset, its worktrees and podium/* branches kept."""
    from podium.sessions.demo.repo import make_demo_repository, reset_demo_repository

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "notes.txt").write_text("mine\n")
    assert make_demo_repository(proj) is False and not (proj / ".git").exists() and not (proj / ".gitignore").exists()
    git = lambda *a: subprocess.run(["git", "-C", str(proj), *a], capture_output=True, text=True, check=True).stdout  # noqa: E731
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("-c", "user.name=p", "-c", "user.email=p@example.com", "commit", "-q", "-m", "mine")
    git("worktree", "add", "-q", "-b", "podium/mine", str(tmp_path / "mine-tree"))
    reset_demo_repository(proj)
    assert (tmp_path / "mine-tree").exists() and "podium/mine" in git("branch") and make_demo_repository(proj) is False
