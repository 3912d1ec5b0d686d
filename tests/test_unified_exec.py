"""The exec_command / write_stdin model (codex's unified exec), against real processes in
real PTYs, through a real supervisor (its `exec` and `write` requests)."""

from __future__ import annotations

import re
import time

import pytest
from conftest import eventually, wait_state

from podium.sessions.client import RequestFailed
from podium.sessions.exec_model import UnreadOutput


async def read_to_exit(execs, sid, r: dict) -> dict:
    """Poll the session (empty writes) from reply `r` on until a reply has its exit code;
    returns that reply with the output of every reply since `r` (`r`'s own included)."""
    out = [r["output"]]
    last = r

    async def exited() -> bool:
        nonlocal last
        if "exit_code" not in last:
            last = await execs.write_stdin(sid, "", yield_time_ms=500)
            out.append(last["output"])
        return "exit_code" in last

    await eventually(exited, what=f"exec session {sid} to exit", show=lambda: "".join(out))
    return {**last, "output": "".join(out)}


async def test_echo_and_exit_code(execs):
    r = await execs.exec_command("echo hello from podium; exit 3")
    assert r == {"output": "hello from podium\r\n", "exit_code": 3}


async def test_exit_zero_argv_form(execs):
    r = await execs.exec_command(["printf", "a\\nb\\n"])
    assert r["exit_code"] == 0
    assert r["output"] == "a\r\nb\r\n"


async def test_exec_returns_early_when_the_process_exits(execs):
    started = time.monotonic()
    r = await execs.exec_command("true", yield_time_ms=30_000)
    assert r["exit_code"] == 0
    # A 30 s yield must not be waited out by a process that is already gone.
    assert time.monotonic() - started < 10


async def test_running_process_gets_a_session_id_and_polls(execs):
    r = await execs.exec_command("echo start; sleep 2; echo end", yield_time_ms=200)
    assert "session_id" in r and "exit_code" not in r
    sid = r["session_id"]
    assert await execs.read_until(sid, "start\r\n", r["output"]) == "start\r\n"  # empty writes = polls
    r = await execs.write_stdin(sid, "", yield_time_ms=3000)  # empty write = poll
    assert await read_to_exit(execs, sid, r) == {"output": "end\r\n", "exit_code": 0}
    # Exited and read to the end: a further write is an error that says so (as in codex).
    with pytest.raises(RequestFailed, match=re.escape(f"session {sid} has exited (exit code 0) and its output was read")):
        await execs.write_stdin(sid, "", yield_time_ms=10)


async def test_poll_returns_only_new_output(execs):
    r = await execs.exec_command(["cat"], yield_time_ms=100)
    sid = r["session_id"]
    # The PTY echoes the line, cat writes it back (read until both are in).
    r1 = await execs.write_stdin(sid, "one\n", yield_time_ms=300)
    out1 = await execs.read_until(sid, "one\r\none\r\n", r1["output"])
    r2 = await execs.write_stdin(sid, "two\n", yield_time_ms=300)
    out2 = await execs.read_until(sid, "two\r\ntwo\r\n", r2["output"])
    r3 = await execs.write_stdin(sid, "", yield_time_ms=100)
    assert out1 == "one\r\none\r\n"
    assert out2 == "two\r\ntwo\r\n"
    assert r3 == {"output": "", "session_id": sid}
    r4 = await execs.write_stdin(sid, "\x04", yield_time_ms=3000)  # EOF at line start
    assert (await read_to_exit(execs, sid, r4))["exit_code"] == 0


async def test_interactive_python_driven_by_write_stdin(execs):
    r = await execs.exec_command(["python3", "-i", "-q"], yield_time_ms=1500)
    sid = r["session_id"]
    assert (await execs.read_until(sid, ">>> ", r["output"])).endswith(">>> ")
    r = await execs.write_stdin(sid, "x = 6 * 7\n", yield_time_ms=300)
    await execs.read_until(sid, ">>> ", r["output"])  # the assignment is done: the next prompt
    r = await execs.write_stdin(sid, "print(x, 'answer')\n", yield_time_ms=500)
    assert "42 answer" in await execs.read_until(sid, "42 answer", r["output"])
    r = await execs.write_stdin(sid, "import sys; sys.exit(4)\n", yield_time_ms=5000)
    assert (await read_to_exit(execs, sid, r))["exit_code"] == 4


async def test_truncation_cuts_the_middle_with_a_marker(execs, workspace):
    r = await execs.exec_command("seq 1 20000", max_output_tokens=100)
    out = r["output"]
    assert r["exit_code"] == 0
    assert out.startswith("1\r\n2\r\n3\r\n")
    assert out.endswith("19999\r\n20000\r\n")
    assert "bytes (~" in out and "of output omitted" in out
    total = sum(len(str(i)) + 2 for i in range(1, 20001))
    omitted = int(out.split("…[podium: ")[1].split(" bytes")[0])
    kept = len(out.split("\n…[podium:")[0]) + len(out.rsplit("]…\n", 1)[1])
    assert kept + omitted == total
    assert kept <= 100 * 4
    # The marker says where every byte is, and the transcript keeps every byte anyway.
    transcript = workspace / ".podium/workers/exec-1/transcript.log"
    assert f"every byte is in {transcript}" in out
    assert transcript.read_bytes() == b"".join(f"{i}\r\n".encode() for i in range(1, 20001))


async def test_no_truncation_under_the_limit(execs):
    r = await execs.exec_command("seq 1 50", max_output_tokens=1000)
    assert "omitted" not in r["output"]
    assert r["output"] == "".join(f"{i}\r\n" for i in range(1, 51))


async def test_unknown_session_is_a_clear_error(execs):
    with pytest.raises(RequestFailed) as exc:
        await execs.write_stdin(999, "x")
    assert str(exc.value) == "no exec session 999 (podium ls lists the workers)"


async def test_write_after_exit_reports_exit_code(execs):
    r = await execs.exec_command("sleep 2; echo bye", yield_time_ms=50)  # still running after the 50 ms yield
    sid = r["session_id"]
    # The process exits with nobody reading: its output waits for the next write.
    await wait_state(execs.client, execs.worker(sid), ("done",))
    r = await execs.write_stdin(sid, "ignored\n", yield_time_ms=50)
    assert r == {"output": "bye\r\n", "exit_code": 0}


def test_unread_output_never_splits_a_character():
    buf = UnreadOutput()
    snowman = "☃".encode()
    buf(b"ab" + snowman[:2])
    assert buf.take(1000, final=False) == "ab"
    buf(snowman[2:] + b"cd")
    assert buf.take(1000, final=False) == "☃cd"


def test_unread_output_keeps_head_and_tail_past_its_cap():
    buf = UnreadOutput(cap=100)
    for i in range(100):
        buf(f"{i:04d}\n".encode())
    out = buf.take(40, final=True)
    assert out.startswith("0000\n0001\n")
    assert out.endswith("0098\n0099\n")
    omitted = int(out.split("…[podium: ")[1].split(" bytes")[0])
    assert omitted == 500 - 40
