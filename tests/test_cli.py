"""The command line, as a script or a person runs it: real subprocesses, JSON out."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from conftest import eventually_sync, kill_everything_under, podium_cli

from podium.sessions.client import socket_is_stale


@pytest.fixture
def ws(workspace):
    yield workspace
    podium_cli("-w", str(workspace), "stop", "--yes")
    kill_everything_under(workspace)


def cli(ws, *args, **kw):
    return podium_cli("-w", str(ws), *args, **kw)


def wait_ls(ws, name, states, timeout=20):
    seen: dict = {}

    def reached():
        r = cli(ws, "ls", "--json")
        seen["w"] = w = ({w["name"]: w for w in json.loads(r.stdout)} if r.returncode == 0 else {}).get(name)
        return w if w is not None and w["state"] in states else None

    return eventually_sync(reached, timeout=timeout, what=f"{name} to reach {states}", show=lambda: seen.get("w"))


def read_session(ws, sid, reply: dict, done, what: str) -> dict:
    """Poll exec session `sid` (empty `podium write`s) from `reply` on until
    `done(output so far, last reply)`; returns the last reply with all the output since
    `reply` (its own included). For output that comes 'soon' but not by a fixed time."""
    out = [reply["output"]]
    seen = {"last": reply}

    def arrived():
        if not done("".join(out), seen["last"]):
            r = cli(ws, "write", str(sid), "", "--yield-ms", "200")
            assert r.returncode == 0, r.stderr
            seen["last"] = json.loads(r.stdout)
            out.append(seen["last"]["output"])
        return done("".join(out), seen["last"])

    eventually_sync(arrived, what=what, show=lambda: "".join(out))
    return {**seen["last"], "output": "".join(out)}


def test_no_supervisor_and_stale_socket_are_one_line_errors(ws):
    r = cli(ws, "ls")
    assert r.returncode == 1
    assert r.stderr.strip() == f"podium: no supervisor running for {ws}"
    assert cli(ws, "attach").returncode == 1
    assert cli(ws, "start").returncode == 0
    status = json.loads(cli(ws, "status", "--json").stdout)
    os.kill(status["pid"], signal.SIGKILL)
    # Stale once the dead supervisor's socket refuses connections.
    eventually_sync(lambda: socket_is_stale(Path(status["socket"])), what="the dead supervisor's socket to go stale")
    r = cli(ws, "ls")
    assert r.returncode == 1
    assert "stale socket" in r.stderr and "left by a supervisor that died" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    # A new supervisor takes over the stale socket.
    assert cli(ws, "start").returncode == 0
    assert cli(ws, "ls").returncode == 0


def test_unwritable_workspace():
    target = "/proc/sys" if os.getuid() == 0 else "/"
    r = podium_cli("-w", target, "start")
    assert r.returncode == 1
    assert "is not writable" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_exec_and_write_speak_json(ws):
    r = cli(ws, "exec", "--", "sh", "-c", "echo hi; exit 5")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"output": "hi\r\n", "exit_code": 5}
    r = cli(ws, "exec", "--yield-ms", "1500", "--", "python3", "-i", "-q")
    first = json.loads(r.stdout)
    sid = first["session_id"]
    assert "exit_code" not in first
    prompt = lambda text, last: text.endswith(">>> ")  # noqa: E731
    assert read_session(ws, sid, first, prompt, "the first prompt")["output"].endswith(">>> ")
    r = json.loads(cli(ws, "write", str(sid), "print(6*7)\\n", "--yield-ms", "800").stdout)
    assert r["session_id"] == sid
    r = read_session(ws, sid, r, lambda text, last: "42" in text and prompt(text, last), "42 and the next prompt")
    assert "42" in r["output"] and r["session_id"] == sid
    r = json.loads(cli(ws, "write", str(sid), "\\x03", "--yield-ms", "800").stdout)
    r = read_session(ws, sid, r, lambda text, last: "KeyboardInterrupt" in text and prompt(text, last), "KeyboardInterrupt and the next prompt")
    assert "KeyboardInterrupt" in r["output"]
    r = json.loads(cli(ws, "write", str(sid), "", "--yield-ms", "100").stdout)
    assert r == {"output": "", "session_id": sid}
    r = json.loads(cli(ws, "write", str(sid), "\\x04", "--yield-ms", "5000").stdout)
    assert read_session(ws, sid, r, lambda text, last: "exit_code" in last, "the session to exit")["exit_code"] == 0
    r = cli(ws, "exec", "--max-output-tokens", "20", "--", "seq", "1", "5000")
    out = json.loads(r.stdout)["output"]
    assert out.startswith("1\r\n") and out.endswith("5000\r\n") and "omitted" in out
    # Exec sessions are workers like any other.
    names = [w["name"] for w in json.loads(cli(ws, "ls", "--json").stdout)]
    assert {f"exec-{sid}", "exec-1"} <= set(names)


def test_spawn_ls_interrupt_kill_logs(ws):
    assert cli(ws, "spawn", "sleeper", "--", "sleep", "60").returncode == 0
    assert cli(ws, "spawn", "stubborn", "--", "sleep", "60").returncode == 0
    r = cli(ws, "spawn", "painter", "--", "printf", "\\033]0;stolen title\\007\\033[31mred text\\033[0m\\n")
    assert r.returncode == 0
    workers = {w["name"]: w for w in json.loads(cli(ws, "ls", "--json").stdout)}
    w = workers["sleeper"]
    assert {"name", "kind", "state", "pid", "exit_code", "started", "last_output"} <= set(w)
    assert w["state"] == "running" and w["kind"] == "shell"
    assert "T" in w["started"]  # ISO in JSON
    table = cli(ws, "ls").stdout
    assert table.splitlines()[0].split()[:5] == ["NAME", "KIND", "STATE", "PID", "EXIT"]
    # Humanized in the table ("now", "a second ago"), ISO only in JSON.
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", table), table
    assert all(("now" in line or "ago" in line) for line in table.splitlines()[1:]), table
    assert cli(ws, "interrupt", "sleeper").returncode == 0
    w = wait_ls(ws, "sleeper", ("interrupted", "failed"))
    assert w["state"] == "interrupted" and w["exit_code"] == 130
    r = cli(ws, "kill", "stubborn")  # closed as a terminal closes: SIGHUP first, and sleep dies of it
    assert r.returncode == 0 and r.stdout == "podium: stubborn is interrupted (killed by podium kill (SIGHUP))\n"
    wait_ls(ws, "painter", ("done",))
    r = cli(ws, "logs", "painter")
    assert r.stdout == "red text\n"
    r = cli(ws, "logs", "ghost")
    assert r.returncode == 1 and "unknown worker 'ghost'" in r.stderr
    r = cli(ws, "interrupt", "ghost")
    assert r.returncode == 1 and r.stderr.startswith("podium: unknown worker 'ghost'")
    r = cli(ws, "interrupt", "painter")
    assert r.returncode == 1 and "not running (done" in r.stderr


def test_logs_follow_until_the_worker_ends(ws):
    cli(ws, "spawn", "ticker", "--", "bash", "-c", "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.25; done")
    r = cli(ws, "logs", "-f", "ticker", timeout=30)
    assert r.returncode == 0
    assert r.stdout.splitlines() == [f"tick {i}" for i in range(1, 7)]


def test_status_and_stop(ws):
    cli(ws, "spawn", "a", "--", "sleep", "60")
    st = json.loads(cli(ws, "status", "--json").stdout)
    assert st["running"] and st["workspace"] == str(ws) and st["counts"] == {"running": 1}
    assert st["socket"].endswith("supervisor.sock")
    r = cli(ws, "stop", input="")
    assert r.returncode == 2 and "--yes" in r.stderr
    assert cli(ws, "ls").returncode == 0  # nothing was stopped
    r = cli(ws, "stop", "--yes")
    assert r.returncode == 0 and "stopped 1 worker" in r.stdout
    r = cli(ws, "status", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["running"] is False
    meta = (ws / ".podium/workers/a/meta.toml").read_text()
    assert 'state = "interrupted"' in meta


def test_spawn_errors(ws):
    r = cli(ws, "spawn", "x", "--", "no-such-command-xyz")
    assert r.returncode == 1 and "command not found: no-such-command-xyz" in r.stderr
    r = cli(ws, "spawn", "y", "--cwd", str(ws / "missing"), "--", "ls")
    assert r.returncode == 1 and "working directory does not exist" in r.stderr
    r = cli(ws, "spawn", "z")
    assert r.returncode == 2 and "no command" in r.stderr
