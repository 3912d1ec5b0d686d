"""Interrupt, terminate, pause/continue and resize reach real processes the way a terminal
would deliver them."""

from __future__ import annotations

import asyncio
import signal

from conftest import proc_state


async def test_ctrl_c_reaches_a_child_that_traps_sigint(ux, script):
    argv = script(
        "trap",
        """
        import signal, sys, time
        def on_int(sig, frame):
            print("caught SIGINT", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGINT, on_int)
        print("ready", flush=True)
        time.sleep(30)
        """,
    )
    r = await ux.exec_command(argv, yield_time_ms=1500)
    assert "ready" in r["output"]
    ux.get(r["session_id"]).pty.interrupt()
    r = await ux.write_stdin(r["session_id"], "", yield_time_ms=5000)
    assert "caught SIGINT" in r["output"]
    assert r["exit_code"] == 7


async def test_ctrl_c_kills_a_child_that_does_not_trap(ux):
    r = await ux.exec_command(["sleep", "30"], yield_time_ms=200)
    session = ux.get(r["session_id"])
    session.pty.interrupt()
    r = await ux.write_stdin(r["session_id"], "", yield_time_ms=5000)
    assert r["exit_code"] == 128 + signal.SIGINT
    assert session.pty.exit_signal == signal.SIGINT


async def test_ctrl_c_as_write_stdin_chars(ux):
    r = await ux.exec_command(["sleep", "30"], yield_time_ms=200)
    r = await ux.write_stdin(r["session_id"], "\x03", yield_time_ms=5000)
    assert r["exit_code"] == 130


async def test_terminate_escalates_to_sigkill_after_grace(ux, script):
    argv = script(
        "stubborn",
        """
        import signal, time
        signal.signal(signal.SIGTERM, lambda *a: print("ignoring TERM", flush=True))
        print("ready", flush=True)
        while True:
            time.sleep(1)
        """,
    )
    r = await ux.exec_command(argv, yield_time_ms=1500)
    session = ux.get(r["session_id"])
    session.pty.terminate(grace=0.5)
    code = await session.pty.wait(10)
    assert code == 128 + signal.SIGKILL
    assert "ignoring TERM" in session.unread.take(10_000, final=True)


async def test_terminate_a_polite_process(ux):
    r = await ux.exec_command(["sleep", "30"], yield_time_ms=100)
    session = ux.get(r["session_id"])
    session.pty.terminate(grace=5)
    assert await session.pty.wait(10) == 128 + signal.SIGTERM


async def test_pause_and_continue(ux, script):
    argv = script(
        "ticker",
        """
        import time
        i = 0
        while True:
            print(f"tick {i}", flush=True)
            i += 1
            time.sleep(0.02)
        """,
    )
    r = await ux.exec_command(argv, yield_time_ms=500)
    session = ux.get(r["session_id"])
    session.pty.pause()
    await asyncio.sleep(0.3)
    assert proc_state(session.pty.pid) == "T"
    await ux.write_stdin(r["session_id"], "", yield_time_ms=100)  # drain what was in flight
    r = await ux.write_stdin(r["session_id"], "", yield_time_ms=500)
    assert r["output"] == "", "a stopped process printed"
    session.pty.resume()
    r = await ux.write_stdin(r["session_id"], "", yield_time_ms=500)
    assert "tick" in r["output"]
    assert proc_state(session.pty.pid) in "RS"


async def test_resize_sends_sigwinch_and_the_new_size(ux, script):
    argv = script(
        "winch",
        """
        import os, signal, time
        def report(*_):
            cols, rows = os.get_terminal_size(0)
            print(f"size {cols}x{rows}", flush=True)
        signal.signal(signal.SIGWINCH, report)
        report()
        while True:
            time.sleep(1)
        """,
    )
    r = await ux.exec_command(argv, yield_time_ms=1500)
    assert "size 80x24" in r["output"]
    session = ux.get(r["session_id"])
    session.pty.resize(132, 50)
    r = await ux.write_stdin(r["session_id"], "", yield_time_ms=1000)
    assert "size 132x50" in r["output"]


async def test_workers_start_with_no_ignored_signals(ux):
    # Python (and podium's holder) ignore SIGPIPE and more; ignored signals survive exec,
    # so a worker would not die of Ctrl+C or of a closed pipe. It must start clean.
    r = await ux.exec_command(["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"])
    assert "SigIgn:\t0000000000000000" in r["output"]
    assert "SigBlk:\t0000000000000000" in r["output"]
