"""A plain-terminal view of the demo session: four live panes drawn from the engine's
screens, with keys going to the focused worker. What `podium demo --plain` shows; it needs
nothing but the engine and a terminal."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import termios
import tty
from pathlib import Path

from sessions.demo import demo_workers
from sessions.pty_session import PtySession, SpawnError
from sessions.screen import LiveScreen, safe_text
from sessions.transcript import TranscriptWriter

HELP = "ctrl+n next pane · keys go to the focused pane · ctrl+] quit"


class PlainDemo:
    def __init__(self, workspace: Path):
        self.workspace = workspace
        self.panes: list[tuple[str, PtySession, LiveScreen]] = []
        self.focus = 0
        self.quit = asyncio.Event()

    def layout(self) -> tuple[int, int, int, int]:
        cols, rows = shutil.get_terminal_size((120, 40))
        pane_w = max(20, (cols - 1) // 2)
        pane_h = max(5, (rows - 3) // 2)
        return cols, rows, pane_w, pane_h

    async def start(self) -> None:
        _, _, pane_w, pane_h = self.layout()
        lm_dir = self.workspace / ".podium" / "workers"
        for worker in demo_workers(str(lm_dir / "agent")):
            tw = TranscriptWriter(self.workspace / ".podium" / "workers" / worker.name)
            pty = PtySession(worker.argv, cwd=self.workspace, columns=pane_w, lines=pane_h - 1, transcript=tw)
            live = LiveScreen(pane_w, pane_h - 1, reply=lambda s, p=pty: p.write(s.encode()) if p.running else None)
            pty.listeners.append(live.write)
            try:
                pty.start()
            except SpawnError as exc:
                live.write(str(exc).encode())
            self.panes.append((worker.name, pty, live))

    def draw(self) -> str:
        cols, rows, pane_w, pane_h = self.layout()
        out = ["\x1b[H"]
        for index, (name, pty, live) in enumerate(self.panes):
            live.pump()
            top = 1 + (index // 2) * pane_h
            left = 1 + (index % 2) * (pane_w + 1)
            state = "running" if pty.running else f"exited {pty.exit_code}"
            title = f" {index + 1} {name} · {state} "
            style = "\x1b[7m" if index == self.focus else "\x1b[1m"
            out.append(f"\x1b[{top};{left}H{style}{title[:pane_w].ljust(pane_w)}\x1b[0m")
            for y, line in enumerate(live.text_lines()[: pane_h - 1]):
                out.append(f"\x1b[{top + 1 + y};{left}H{safe_text(line)[:pane_w].ljust(pane_w)}")
        out.append(f"\x1b[{rows};1H\x1b[2m{HELP[:cols].ljust(cols)}\x1b[0m")
        return "".join(out)

    def on_key(self, data: bytes) -> None:
        if b"\x1d" in data:  # ctrl+]
            self.quit.set()
            return
        if data == b"\x0e":  # ctrl+n
            self.focus = (self.focus + 1) % len(self.panes)
            return
        _, pty, _ = self.panes[self.focus]
        if pty.running:
            pty.write(data)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        sys.stdout.write("\x1b[?1049h\x1b[?25l\x1b[2J")
        try:
            tty.setraw(fd)
            await self.start()
            loop.add_reader(fd, lambda: self.on_key(os.read(fd, 1024)))
            loop.add_signal_handler(signal.SIGWINCH, lambda: sys.stdout.write("\x1b[2J"))
            while not self.quit.is_set():
                sys.stdout.write(self.draw())
                sys.stdout.flush()
                try:
                    await asyncio.wait_for(self.quit.wait(), 0.1)
                except asyncio.TimeoutError:
                    pass
        finally:
            loop.remove_reader(fd)
            for _, pty, _ in self.panes:
                pty.terminate(grace=1.0)
            await asyncio.gather(*(pty.wait(3) for _, pty, _ in self.panes))
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            sys.stdout.write("\x1b[?25h\x1b[?1049l")
            sys.stdout.flush()
        print(f"podium demo: transcripts are in {self.workspace / '.podium' / 'workers'}")
        return 0


def run_plain_demo(workspace: Path) -> int:
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        print("podium demo: needs a terminal (stdin and stdout must be a TTY)", file=sys.stderr)
        return 2
    return asyncio.run(PlainDemo(workspace).run())
