"""The exec_command / write_stdin model, against real processes in real PTYs."""

from __future__ import annotations

import asyncio
import time

import pytest

from podium.sessions import UnknownSession
from podium.sessions.unified_exec import UnreadOutput


async def test_echo_and_exit_code(ux):
    r = await ux.exec_command("echo hello from podium; exit 3")
    assert r == {"output": "hello from podium\r\n", "exit_code": 3}


async def test_exit_zero_argv_form(ux):
    r = await ux.exec_command(["printf", "a\\nb\\n"])
    assert r["exit_code"] == 0
    assert r["output"] == "a\r\nb\r\n"


async def test_exec_returns_early_when_the_process_exits(ux):
    started = time.monotonic()
    r = await ux.exec_command("true", yield_time_ms=30_000)
    assert r["exit_code"] == 0
    # A 30 s yield must not be waited out by a process that is already gone.
    assert time.monotonic() - started < 10


async def test_running_process_gets_a_session_id_and_polls(ux):
    r = await ux.exec_command("echo start; sleep 0.6; echo end", yield_time_ms=200)
    assert "session_id" in r and "exit_code" not in r
    assert r["output"] == "start\r\n"
    sid = r["session_id"]
    r = await ux.write_stdin(sid, "", yield_time_ms=3000)  # empty write = poll
    assert r == {"output": "end\r\n", "exit_code": 0}
    with pytest.raises(UnknownSession):
        await ux.write_stdin(sid, "", yield_time_ms=10)


async def test_poll_returns_only_new_output(ux):
    r = await ux.exec_command(["cat"], yield_time_ms=100)
    sid = r["session_id"]
    r1 = await ux.write_stdin(sid, "one\n", yield_time_ms=300)
    r2 = await ux.write_stdin(sid, "two\n", yield_time_ms=300)
    r3 = await ux.write_stdin(sid, "", yield_time_ms=100)
    # The PTY echoes the line, cat writes it back.
    assert r1["output"] == "one\r\none\r\n"
    assert r2["output"] == "two\r\ntwo\r\n"
    assert r3 == {"output": "", "session_id": sid}
    r4 = await ux.write_stdin(sid, "\x04", yield_time_ms=3000)  # EOF at line start
    assert r4["exit_code"] == 0


async def test_interactive_python_driven_by_write_stdin(ux):
    r = await ux.exec_command(["python3", "-i", "-q"], yield_time_ms=1500)
    sid = r["session_id"]
    assert r["output"].endswith(">>> ")
    r = await ux.write_stdin(sid, "x = 6 * 7\n", yield_time_ms=300)
    r = await ux.write_stdin(sid, "print(x, 'answer')\n", yield_time_ms=500)
    assert "42 answer" in r["output"]
    r = await ux.write_stdin(sid, "import sys; sys.exit(4)\n", yield_time_ms=5000)
    assert r["exit_code"] == 4


async def test_truncation_cuts_the_middle_with_a_marker(ux, workspace):
    r = await ux.exec_command("seq 1 20000", max_output_tokens=100)
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
    # The transcript keeps every byte anyway.
    transcript = (workspace / ".podium/workers/exec-1/transcript.log").read_bytes()
    assert transcript == b"".join(f"{i}\r\n".encode() for i in range(1, 20001))


async def test_no_truncation_under_the_limit(ux):
    r = await ux.exec_command("seq 1 50", max_output_tokens=1000)
    assert "omitted" not in r["output"]


async def test_unknown_session_is_a_clear_error(ux):
    with pytest.raises(UnknownSession) as exc:
        await ux.write_stdin(999, "x")
    assert "no running exec session 999" in str(exc.value)


async def test_write_after_exit_reports_exit_code(ux):
    r = await ux.exec_command("sleep 0.3; echo bye", yield_time_ms=50)
    sid = r["session_id"]
    await asyncio.sleep(1.0)
    r = await ux.write_stdin(sid, "ignored\n", yield_time_ms=50)
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
