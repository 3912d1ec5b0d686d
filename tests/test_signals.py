"""Interrupt, terminate, pause/continue and resize reach real processes the way a terminal
would deliver them (exec sessions of a real supervisor, under their holders)."""

from __future__ import annotations

import signal

from conftest import eventually, proc_state


def bytes_written(pid: int) -> int:
    """What the process has written so far, in bytes (the kernel's count)."""
    with open(f"/proc/{pid}/io") as f:
        return int(next(line for line in f if line.startswith("wchar:")).split()[1])


async def test_ctrl_c_reaches_a_child_that_traps_sigint(execs, script):
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
    r = await execs.exec_command(argv, yield_time_ms=100)
    sid = r["session_id"]
    await execs.read_until(sid, "ready", r["output"])  # the SIGINT handler is in place
    await execs.interrupt(sid)
    r = await execs.write_stdin(sid, "", yield_time_ms=5000)
    assert "caught SIGINT" in r["output"]
    assert r["exit_code"] == 7


async def test_ctrl_c_kills_a_child_that_does_not_trap(execs):
    r = await execs.exec_command(["sleep", "30"], yield_time_ms=200)
    sid = r["session_id"]
    await execs.interrupt(sid)
    r = await execs.write_stdin(sid, "", yield_time_ms=5000)
    assert r["exit_code"] == 128 + signal.SIGINT
    assert (await execs.info(sid))["exit_signal"] == signal.SIGINT


async def test_ctrl_c_as_write_stdin_chars(execs):
    r = await execs.exec_command(["sleep", "30"], yield_time_ms=200)
    r = await execs.write_stdin(r["session_id"], "\x03", yield_time_ms=5000)
    assert r["exit_code"] == 130


async def test_terminate_escalates_to_sigkill_after_grace(execs, script):
    # Deaf to every polite signal a terminal sends on close: only SIGKILL ends it.
    argv = script(
        "stubborn",
        """
        import signal, time
        signal.signal(signal.SIGHUP, lambda *a: print("ignoring HUP", flush=True))
        signal.signal(signal.SIGTERM, lambda *a: print("ignoring TERM", flush=True))
        print("ready", flush=True)
        while True:
            time.sleep(1)
        """,
    )
    r = await execs.exec_command(argv, yield_time_ms=100)
    sid = r["session_id"]
    await execs.read_until(sid, "ready", r["output"])  # the handlers are in place
    ended = await execs.terminate(sid, grace=5.0)  # time for both handlers to run, even on a loaded machine
    assert ended["exit_code"] == 128 + signal.SIGKILL and ended["exit_signal"] == signal.SIGKILL
    r = await execs.write_stdin(sid, "", yield_time_ms=100)
    assert "ignoring HUP" in r["output"] and "ignoring TERM" in r["output"]  # both were sent first
    assert r["exit_code"] == 128 + signal.SIGKILL


async def test_terminate_closes_a_worker_as_a_closed_terminal_would(execs):
    # A plain program ends on the hang-up a closing terminal sends.
    r = await execs.exec_command(["sleep", "30"], yield_time_ms=100)
    ended = await execs.terminate(r["session_id"], grace=5)
    assert (ended["exit_code"], ended["exit_signal"]) == (128 + signal.SIGHUP, signal.SIGHUP)


async def test_terminate_reaches_a_worker_that_ignores_the_hang_up(execs, script):
    # A nohup'd job ignores SIGHUP: the SIGTERM that follows ends it, well before SIGKILL.
    argv = script(
        "nohup",
        """
        import signal, time
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(30)
        """,
    )
    r = await execs.exec_command(argv, yield_time_ms=100)
    sid = r["session_id"]
    await execs.read_until(sid, "ready", r["output"])
    ended = await execs.terminate(sid, grace=10)
    assert (ended["exit_code"], ended["exit_signal"]) == (128 + signal.SIGTERM, signal.SIGTERM)


async def test_pause_and_continue(execs, script):
    argv = script(
        "ticker",
        """
        import os, time, tty
        tty.setraw(1)  # no \\n -> \\r\\n: every byte it writes is one byte of output
        i = 0
        while True:
            os.write(1, b"tick %d\\r\\n" % i)
            i += 1
            time.sleep(0.02)
        """,
    )
    r = await execs.exec_command(argv, yield_time_ms=500)
    sid = r["session_id"]
    received = len(r["output"].encode())
    pid = (await execs.info(sid))["pid"]
    await execs.pause(sid)
    await eventually(lambda: proc_state(pid) == "T", what="the worker stopped (state T)", show=lambda: proc_state(pid))
    written = bytes_written(pid)  # all it will ever have written while it is stopped

    async def drained() -> bool:  # what was in flight when it stopped
        nonlocal received
        received += len((await execs.write_stdin(sid, "", yield_time_ms=100))["output"].encode())
        return received >= written

    await eventually(drained, what=f"the {written} bytes written before the stop", show=lambda: received)
    assert received == written
    r = await execs.write_stdin(sid, "", yield_time_ms=500)
    assert r["output"] == "", "a stopped process printed"
    assert bytes_written(pid) == written
    await execs.resume(sid)
    await execs.read_until(sid, "tick")  # it prints again (or this fails, naming what it saw)
    assert proc_state(pid) in "RS"


async def test_resize_sends_sigwinch_and_the_new_size(execs, script):
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
    r = await execs.exec_command(argv, yield_time_ms=100)
    sid = r["session_id"]
    # An exec session starts at the supervisor's default size.
    first = await execs.read_until(sid, "\n", r["output"])
    assert first == "size 120x40\r\n"
    execs.resize(sid, 132, 50)
    await execs.read_until(sid, "size 132x50\r\n")  # SIGWINCH, and the new size (or this fails)
