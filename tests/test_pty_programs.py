"""Real programs in real PTYs: a curses UI, a flood with its own checksum, bad input."""

from __future__ import annotations

import asyncio
import hashlib

import pyte

from podium.sessions.pty_session import PtySession
from podium.sessions.screen import LiveScreen
from podium.sessions.transcript import LineIndex, TranscriptWriter


async def run_with_screen(argv, tmp_path, columns=80, lines=24, timeout=60, pump_every=1 / 30):
    tw = TranscriptWriter(tmp_path / "w")
    pty = PtySession(argv, cwd=tmp_path, columns=columns, lines=lines, transcript=tw)
    live = LiveScreen(columns, lines, reply=lambda s: pty.write(s.encode()) if pty.running else None)
    pty.listeners.append(live.write)
    pty.start()

    async def renderer():
        while not pty.exited.is_set():
            live.pump()
            await asyncio.sleep(pump_every)

    task = asyncio.create_task(renderer())
    return pty, live, tw, task


async def test_curses_program_is_drawn_correctly(tmp_path, script):
    argv = script(
        "cursesapp",
        """
        import curses
        def main(w):
            curses.curs_set(0)
            w.border()
            w.addstr(3, 10, "HELLO FROM CURSES")
            w.addstr(5, 10, "wide: 漢字")
            w.addstr(10, 4, "status: waiting for q")
            w.refresh()
            while w.getch() != ord("q"):
                pass
        curses.wrapper(main)
        print("bye")
        """,
    )
    pty, live, tw, task = await run_with_screen(argv, tmp_path, 60, 15)
    for _ in range(100):
        await asyncio.sleep(0.05)
        live.pump()
        if "status: waiting for q" in live.text():
            break
    rows = live.text_lines()
    assert rows[3][10:27] == "HELLO FROM CURSES"
    assert rows[5][10:18].startswith("wide: 漢字")
    assert rows[10][4:25] == "status: waiting for q"
    assert rows[0][0] in "┌+l" and rows[14][59] in "┘+j"
    pty.write(b"q")
    assert await pty.wait(10) == 0
    task.cancel()
    live.pump()
    assert "bye" in live.text()
    tw.close()


async def test_flood_transcript_is_byte_identical_and_screen_equals_full_emulation(tmp_path, script):
    # The child puts its terminal in raw mode so the PTY does not rewrite \n, writes ~4 MB of
    # mixed output (colours, long lines, invalid UTF-8), and reports its own sha256 beside.
    argv = script(
        "flood",
        f"""
        import hashlib, os, random, sys, tty
        tty.setraw(1)
        rng = random.Random(7)
        h = hashlib.sha256()
        out = []
        for i in range(40000):
            kind = i % 50
            if kind == 0:
                line = b"L" * rng.randint(2000, 9000)
            elif kind % 3 == 0:
                line = b"\\x1b[3%dm colour %d \\x1b[0m" % (i % 8, i)
            elif kind == 7:
                line = b"bad utf8 \\xff\\xfe\\xc3 end %d" % i
            else:
                line = b"build step %d: compiling module_%d.c" % (i, i)
            chunk = line + b"\\r\\n"
            h.update(chunk)
            os.write(1, chunk)
        open({str(tmp_path / 'sum')!r}, "w").write(h.hexdigest())
        """,
    )
    pty, live, tw, task = await run_with_screen(argv, tmp_path, 100, 30)
    assert await pty.wait(60) == 0
    task.cancel()
    live.pump()
    tw.close()
    transcript = (tmp_path / "w" / "transcript.log").read_bytes()
    assert hashlib.sha256(transcript).hexdigest() == (tmp_path / "sum").read_text()
    assert live.skips >= 1, "a 4 MB flood should have been skipped, not emulated byte by byte"
    full = pyte.Screen(100, 30)
    pyte.ByteStream(full).feed(transcript)
    assert live.text_lines() == list(full.display)


async def test_invalid_utf8_and_a_10mb_line(tmp_path, script):
    argv = script(
        "bad",
        """
        import os, tty
        tty.setraw(1)
        os.write(1, b"ok \\xff\\xfe \\xe2\\x98 broken\\r\\n")
        os.write(1, b"Z" * (10 * 1024 * 1024))
        os.write(1, b"\\r\\ndone\\r\\n")
        """,
    )
    pty, live, tw, task = await run_with_screen(argv, tmp_path, 80, 24)
    assert await pty.wait(60) == 0
    task.cancel()
    live.pump()
    tw.close()
    data = (tmp_path / "w" / "transcript.log").read_bytes()
    assert len(data) == len(b"ok \xff\xfe \xe2\x98 broken\r\n") + 10 * 1024 * 1024 + len(b"\r\ndone\r\n")
    assert live.text_lines()[-2].rstrip() == "done"
    assert live.text_lines()[-3] == "Z" * 80
    assert live.text_lines()[0] == "Z" * 80  # the long line fills every row above
    idx = LineIndex(tmp_path / "w")
    assert idx.line_count == 3
    assert len(idx.line(1)) == 64 * 1024  # a huge line comes back cut, not whole
    assert idx.line(2) == b"done\r"


async def test_escape_flood_stays_contained(tmp_path, script):
    argv = script(
        "escapes",
        """
        import os, tty
        tty.setraw(1)
        evil = (b"\\x1b]52;c;cm0gLXJmIH4=\\x07" b"\\x1b]0;pwned\\x07" b"\\x07" b"\\x1b[?1049h"
                b"\\x1b]8;;file:///etc/passwd\\x1b\\\\x\\x1b]8;;\\x1b\\\\" b"\\x1bP+q544e\\x1b\\\\" b"\\x1b[5n")
        for _ in range(20000):
            os.write(1, evil)
        os.write(1, b"\\x1b[?1049l\\x1b[2J\\x1b[Hsurvived\\r\\n")
        """,
    )
    pty, live, tw, task = await run_with_screen(argv, tmp_path, 80, 24)
    assert await pty.wait(60) == 0
    task.cancel()
    live.pump()
    tw.close()
    assert live.text_lines()[0].rstrip() == "survived"
    assert all("\x1b" not in row and "\x07" not in row for row in live.text_lines())


async def test_program_that_closes_its_terminal_early(tmp_path, script):
    argv = script(
        "closer",
        """
        import os, time
        os.write(1, b"last words\\n")
        for fd in (0, 1, 2):
            os.close(fd)
        time.sleep(0.5)
        os._exit(5)
        """,
    )
    pty, live, tw, task = await run_with_screen(argv, tmp_path)
    assert await pty.wait(10) == 5
    task.cancel()
    live.pump()
    tw.close()
    assert (tmp_path / "w" / "transcript.log").read_bytes() == b"last words\r\n"


async def test_background_grandchild_does_not_hold_the_exit(ux):
    # The shell exits while `sleep` still holds the terminal: the exit is reported anyway.
    r = await ux.exec_command("sleep 5 & echo parent done", yield_time_ms=3000)
    assert r["exit_code"] == 0
    assert "parent done" in r["output"]


async def test_missing_command_and_missing_cwd(ux, workspace, tmp_path):
    r = await ux.exec_command(["definitely-not-a-command-xyz", "--flag"])
    assert r == {"output": "podium: command not found: definitely-not-a-command-xyz\n", "exit_code": 127}
    r = await ux.exec_command("definitely-not-a-command-xyz")  # via the shell: its 127
    assert r["exit_code"] == 127 and "not found" in r["output"]
    r = await ux.exec_command(["ls"], workdir=tmp_path / "nowhere")
    assert r["exit_code"] == 126
    assert "working directory does not exist" in r["output"]
    (tmp_path / "notexec.sh").write_text("echo hi\n")
    r = await ux.exec_command([str(tmp_path / "notexec.sh")])
    assert r["exit_code"] == 126 and "not executable" in r["output"]
    # The failure is in the worker's transcript too, so a pane can show it.
    logs = sorted((workspace / ".podium/workers").glob("*/transcript.log"))
    assert b"command not found" in logs[0].read_bytes()
