"""Real programs in real PTYs: a curses UI, a flood with its own checksum, bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyte
import pytest
from conftest import eventually, wait_state

from podium.sessions.transcript import LineIndex


class Program:
    """A program run the way podium runs every worker (supervisor, holder, a real PTY),
    its screen read back as a client sees it."""

    def __init__(self, client, workspace: Path, name: str):
        self.client = client
        self.name = name
        self.transcript = workspace / ".podium/workers" / name / "transcript.log"

    async def rows(self) -> list[str]:
        snap = await self.client.request("screen", worker=self.name)
        return ["".join(run[0] for run in snap["lines"][str(y)]) for y in range(snap["rows"])]

    def send(self, data: bytes) -> None:
        self.client.send_keys(self.name, data)

    async def ended(self, timeout: float = 60) -> dict:
        return await wait_state(self.client, self.name, ("done", "failed", "interrupted", "lost"), timeout=timeout)


async def run_program(supervised, argv, name: str, columns: int = 80, lines: int = 24) -> Program:
    workspace, client = supervised
    await client.request("spawn", name=name, argv=argv, cols=columns, rows=lines)
    return Program(client, workspace, name)


def trimmed(rows: list[str]) -> list[str]:
    """Rows as text without trailing blanks (the supervisor sends no trailing blanks)."""
    return [row.rstrip() for row in rows]


def border_problems(rows: list[str]) -> list[str]:
    """What is missing or wrong in a border round the whole screen (box-drawing, ASCII or
    the DEC line-drawing letters a terminal without the charset shows). A row's right
    edge is its last character: a wide character takes two cells but one character."""
    empty = [f"row {y} is empty" for y, row in enumerate(rows) if not row]
    if empty:
        return empty
    top, bottom, middle = rows[0], rows[-1], rows[1:-1]
    cells = [("top-left", top[0], "┌+l"), ("top-right", top[-1], "┐+k"), ("bottom-left", bottom[0], "└+m"), ("bottom-right", bottom[-1], "┘+j")]
    cells += [(f"top {x}", top[x], "─-q") for x in range(1, len(top) - 1)]
    cells += [(f"bottom {x}", bottom[x], "─-q") for x in range(1, len(bottom) - 1)]
    cells += [(f"left {y}", row[0], "│|x") for y, row in enumerate(middle, start=1)]
    cells += [(f"right {y}", row[-1], "│|x") for y, row in enumerate(middle, start=1)]
    return [f"{where}: {char!r} not one of {ok!r}" for where, char, ok in cells if char not in ok]


async def test_curses_program_is_drawn_correctly(supervised, script):
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
    prog = await run_program(supervised, argv, "curses", 60, 15)
    seen: list[str] = []

    async def drawn() -> bool:
        seen[:] = await prog.rows()
        return border_problems(seen) == [] and any("status: waiting for q" in row for row in seen)

    # The whole screen, every corner and edge of the border included, is what is asserted:
    # wait for exactly that (curses may draw the last corner in a later write).
    await eventually(drawn, what="the curses screen with its complete border", show=lambda: "\n".join(seen))
    rows = seen
    assert border_problems(rows) == []
    assert len(rows) == 15 and len(rows[0]) == len(rows[14]) == 60
    assert (rows[0][0], rows[0][59], rows[14][0], rows[14][59]) in [("┌", "┐", "└", "┘"), ("+", "+", "+", "+"), ("l", "k", "m", "j")]
    assert rows[3][10:27] == "HELLO FROM CURSES"
    assert rows[5][10:18].startswith("wide: 漢字")
    assert rows[10][4:25] == "status: waiting for q"
    prog.send(b"q")
    ended = await prog.ended(10)
    assert (ended["state"], ended["exit_code"]) == ("done", 0)
    assert any("bye" in row for row in await prog.rows())


@pytest.mark.slow
async def test_flood_transcript_is_byte_identical_and_screen_equals_full_emulation(supervised, tmp_path, script):
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
    prog = await run_program(supervised, argv, "flood", 100, 30)
    assert (await prog.ended())["exit_code"] == 0
    transcript = prog.transcript.read_bytes()
    assert hashlib.sha256(transcript).hexdigest() == (tmp_path / "sum").read_text()
    full = pyte.Screen(100, 30)
    pyte.ByteStream(full).feed(transcript)
    assert trimmed(await prog.rows()) == trimmed(full.display)


async def test_invalid_utf8_and_a_10mb_line(supervised, script):
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
    prog = await run_program(supervised, argv, "bad", 80, 24)
    assert (await prog.ended())["exit_code"] == 0
    data = prog.transcript.read_bytes()
    assert len(data) == len(b"ok \xff\xfe \xe2\x98 broken\r\n") + 10 * 1024 * 1024 + len(b"\r\ndone\r\n")
    rows = await prog.rows()
    assert rows[-2].rstrip() == "done"
    assert rows[-3] == "Z" * 80
    assert rows[0] == "Z" * 80  # the long line fills every row above
    idx = LineIndex(prog.transcript.parent)
    assert idx.line_count == 3
    assert len(idx.line(1)) == 64 * 1024  # a huge line comes back cut, not whole
    assert idx.line(2) == b"done\r"


async def test_escape_flood_stays_contained(supervised, script):
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
    prog = await run_program(supervised, argv, "escapes", 80, 24)
    assert (await prog.ended())["exit_code"] == 0
    rows = await prog.rows()
    assert rows[0].rstrip() == "survived"
    assert all("\x1b" not in row and "\x07" not in row for row in rows)


async def test_program_that_closes_its_terminal_early(supervised, script):
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
    prog = await run_program(supervised, argv, "closer")
    assert (await prog.ended(10))["exit_code"] == 5
    assert prog.transcript.read_bytes() == b"last words\r\n"


async def test_background_grandchild_does_not_hold_the_exit(execs):
    # The shell exits while `sleep` still holds the terminal: the exit is reported anyway.
    r = await execs.exec_command("sleep 5 & echo parent done", yield_time_ms=3000)
    assert r["exit_code"] == 0
    assert "parent done" in r["output"]


async def test_missing_command_and_missing_cwd(execs, workspace, tmp_path):
    r = await execs.exec_command(["definitely-not-a-command-xyz", "--flag"])
    assert r == {"output": "podium: command not found: definitely-not-a-command-xyz\n", "exit_code": 127}
    r = await execs.exec_command("definitely-not-a-command-xyz")  # via the shell: its 127
    assert r["exit_code"] == 127 and "not found" in r["output"]
    r = await execs.exec_command(["ls"], workdir=tmp_path / "nowhere")
    assert r["exit_code"] == 126
    assert "working directory does not exist" in r["output"]
    (tmp_path / "notexec.sh").write_text("echo hi\n")
    r = await execs.exec_command([str(tmp_path / "notexec.sh")])
    assert r["exit_code"] == 126 and "not executable" in r["output"]
    # The failure is in the worker's transcript too, so a pane can show it.
    logs = sorted((workspace / ".podium/workers").glob("*/transcript.log"))
    assert b"command not found" in logs[0].read_bytes()
