#!/usr/bin/env python
"""Benchmark: opening a worker's scrollback and paging through it, on a 500 MB transcript.

    .venv/bin/python bench/scrollback.py            # 500 MB, 60 pages each way
    .venv/bin/python bench/scrollback.py --mb 100

The real widget (`podium.widgets.scrollback.Scrollback`) in a real Textual app in a real
terminal (a PTY this script reads, 120x45), over a transcript of coloured log lines as a
holder writes them. Times, from the key written to the PTY until the frame that shows its
effect has been read back:

- open: `o` mounts the widget, until its first frame (the tail is shown while the line
  index is built in a thread), and until the count is exact (the index is ready);
- page: `pageup` 60 times from the end, then `pagedown` 60 times (median, p99, max);
- for scale, the same machine counting the transcript's lines in one thread (what the
  index must do once) and `tail -n 45` of the file (a shell's way to see the end).

Targets: open under 100 ms, a page under 16 ms. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect
import pyte
from textual.app import App, ComposeResult
from textual.containers import Container

from podium.sessions.transcript import LineIndex
from podium.tui.app import tune_gc
from podium.tui.cli import FPS
from podium.widgets.scrollback import Scrollback

LINE = b"\x1b[32mINFO\x1b[0m %08d worker log line with \x1b[1msome\x1b[0m text to make it about eighty columns\r\n"


def make_transcript(directory: Path, mb: int) -> int:
    block = b"".join(LINE % i for i in range(100_000))
    target = mb * 1024 * 1024
    written = 0
    with open(directory / "transcript.log", "wb") as f:
        while written < target:
            f.write(block)
            written += len(block)
    return written


class Host(App[None]):
    """The child: a real Textual app in a real terminal; `o` opens the scrollback."""

    BINDINGS = [("o", "open", "Open")]

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory

    def compose(self) -> ComposeResult:
        yield Container(id="box")

    def on_mount(self) -> None:
        tune_gc()  # as PodiumApp does

    async def action_open(self) -> None:
        scrollback = Scrollback("bench", self.directory)
        await self.query_one("#box").mount(scrollback)
        scrollback.focus()


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


SYNC_END = b"\x1b[?2026l"
SUBTITLE = re.compile(r"SCROLLBACK ([0-9,]+)/(~?)([0-9,]+)")


class Terminal:
    """The parent's side: the child app in a PTY, its output emulated (pyte) as it comes,
    so what is judged is the screen a person would see, not bytes of a diff."""

    def __init__(self, directory: Path):
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "45", "TEXTUAL_FPS": FPS}
        self.child = pexpect.spawn(sys.executable, [__file__, "--child", str(directory)], env=env, dimensions=(45, 120))
        self.child.delaybeforesend = None  # pexpect sleeps 50 ms before every send otherwise
        self.screen = pyte.Screen(120, 45)
        self.stream = pyte.ByteStream(self.screen)

    def wait(self, predicate, timeout: float = 30.0) -> float:  # type: ignore[no-untyped-def]
        """Read frames until predicate(screen rows) holds; returns when the frame that
        made it hold had been read whole (perf_counter). Frames are delimited by
        synchronized-output marks (answered as supported when Textual asks), so the
        emulation here, done after a frame is in, never delays the reading of one."""
        deadline = time.monotonic() + timeout
        pending = b""
        while True:
            try:
                data = self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                data = b""
            read_at = time.perf_counter()
            pending += data
            end = pending.rfind(SYNC_END)
            if end >= 0:
                self.stream.feed(pending[: end + len(SYNC_END)])
                pending = pending[end + len(SYNC_END) :]
                if predicate(self.screen.display):
                    return read_at
            if time.monotonic() > deadline:
                raise TimeoutError("the child never drew what was awaited:\n" + "\n".join(self.screen.display))

    def start(self, settle: float = 1.0) -> None:
        """Wait for the app to ask whether the terminal has synchronized output, say yes
        (so each frame comes between marks), and let it settle."""
        seen = b""
        deadline = time.monotonic() + 30
        while b"\x1b[?2026$p" not in seen:
            if time.monotonic() > deadline:
                raise TimeoutError("the child app never started")
            try:
                seen += self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                pass
        self.child.send(b"\x1b[?2026;2$y")  # DECRPM: synchronized output, supported
        settle_until = time.monotonic() + settle
        while time.monotonic() < settle_until:
            try:
                seen += self.child.read_nonblocking(65536, timeout=0.1)
            except pexpect.TIMEOUT:
                pass
        self.stream.feed(seen)

    def key(self, data: bytes) -> float:
        start = time.perf_counter()
        self.child.send(data)
        return start

    def top(self, rows: list[str] | None = None) -> tuple[int, bool] | None:
        for row in reversed(rows if rows is not None else self.screen.display):
            m = SUBTITLE.search(row)
            if m:
                return int(m.group(1).replace(",", "")), m.group(2) == "~"
        return None


def measure(directory: Path, pages: int) -> dict[str, float]:
    term = Terminal(directory)
    out: dict[str, float] = {}
    try:
        term.start()  # start-up is not what is measured
        start = term.key(b"o")
        out["open_ms"] = (term.wait(lambda rows: term.top(rows) is not None) - start) * 1000
        out["index_ready_ms"] = (term.wait(lambda rows: (t := term.top(rows)) is not None and not t[1], timeout=60) - start) * 1000

        def page(key: bytes) -> float:
            before = term.top()
            began = term.key(key)
            done = term.wait(lambda rows: (t := term.top(rows)) is not None and t[0] != (before[0] if before else -1))
            return (done - began) * 1000

        ups = [page(b"\x1b[5~") for _ in range(pages)]
        downs = [page(b"\x1b[6~") for _ in range(pages)]
        for name, values in (("page_up", ups), ("page_down", downs)):
            out[f"{name}_p50_ms"] = statistics.median(values)
            out[f"{name}_p99_ms"] = pct(values, 99)
            out[f"{name}_max_ms"] = max(values)
    finally:
        term.child.terminate(force=True)
    return out


def child(directory: Path) -> int:
    Host(directory).run()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--pages", type=int, default=60)
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        return child(args.child)
    tmp = Path(tempfile.mkdtemp(prefix="podium-sb-"))
    try:
        size = make_transcript(tmp, args.mb)
        t = time.perf_counter()
        LineIndex(tmp)
        count_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        subprocess.run(["tail", "-n", "45", str(tmp / "transcript.log")], stdout=subprocess.DEVNULL, check=True)
        tail_ms = (time.perf_counter() - t) * 1000
        r = measure(tmp, args.pages)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    goals = {"open_ms <= 100": r["open_ms"] <= 100, "page p99 <= 16 ms": max(r["page_up_p99_ms"], r["page_down_p99_ms"]) <= 16}
    print(f"transcript {size / 1e6:.0f} MB")
    print(f"{'figure':44} {'podium':>10}")
    print(f"{'open: first rows drawn (ms)':44} {r['open_ms']:10.1f}")
    print(f"{'open: line index ready, in a thread (ms)':44} {r['index_ready_ms']:10.1f}")
    print(f"{'pageup, key to frame p50/p99/max (ms)':44} {r['page_up_p50_ms']:.2f}/{r['page_up_p99_ms']:.2f}/{r['page_up_max_ms']:.2f}")
    print(f"{'pagedown, key to frame p50/p99/max (ms)':44} {r['page_down_p50_ms']:.2f}/{r['page_down_p99_ms']:.2f}/{r['page_down_max_ms']:.2f}")
    print(f"{'for scale: counting every line (ms)':44} {count_ms:10.1f}")
    print(f"{'for scale: tail -n 45, a process (ms)':44} {tail_ms:10.1f}")
    print("goals: " + ", ".join(f"{k} {'MET' if v else 'NOT MET'}" for k, v in goals.items()))
    print(json.dumps({"mb": args.mb, **r, "count_ms": count_ms, "tail_ms": tail_ms, "goals": goals, "loadavg": os.getloadavg()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
