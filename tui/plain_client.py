"""A plain-terminal client of the supervisor: a grid of live panes drawn with ANSI from
the screen rows the supervisor pushes, keys going to the focused worker. It holds no
state of its own: detaching (or being killed) loses nothing."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import termios
import tty
from pathlib import Path
from typing import Any

from podium.sessions.client import NotRunning, SupervisorClient, connect_or_start
from podium.sessions.text import safe_text
from podium.sessions.states import ACTIVE

HELP = "ctrl+n next worker · keys go to the focused worker · ctrl+] detach (workers keep running)"
PANES = 4
def _colour(value: int | str | None, base: int) -> str:
    """SGR parameters for a protocol colour (None, 0-15, "#rrggbb"); base 30 or 40."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(base + value) if value < 8 else str(base + 60 + value - 8)
    try:
        r, g, b = int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)
    except ValueError:
        return ""
    return f"{base + 8};2;{r};{g};{b}"


def sgr(fg: int | str | None, bg: int | str | None, flags: int) -> str:
    parts = ["0"]
    for bit, code in ((1, "1"), (2, "3"), (4, "4"), (8, "9"), (16, "7"), (32, "5")):
        if flags & bit:
            parts.append(code)
    for value, base in ((fg, 30), (bg, 40)):
        c = _colour(value, base)
        if c:
            parts.append(c)
    return "\x1b[" + ";".join(parts) + "m"


def render_runs(runs: list[list[Any]], width: int) -> str:
    out: list[str] = []
    used = 0
    for text, fg, bg, flags in runs:
        text = safe_text(str(text))
        if used + len(text) > width:
            text = text[: max(0, width - used)]
        out.append(sgr(fg, bg, int(flags)) + text)
        used += len(text)
        if used >= width:
            break
    return "".join(out) + "\x1b[0m" + " " * max(0, width - used)


class PlainClient:
    def __init__(self, client: SupervisorClient):
        self.client = client
        self.workers: dict[str, dict[str, Any]] = {}
        self.screens: dict[str, dict[str, Any]] = {}
        self.focus = 0
        self.subscribed: list[str] = []
        self.quit = asyncio.Event()
        self.changed = asyncio.Event()
        self.message = ""

    def names(self) -> list[str]:
        return list(self.workers)

    def layout(self) -> tuple[int, int, int, int]:
        cols, rows = shutil.get_terminal_size((120, 40))
        return cols, rows, max(20, (cols - 1) // 2), max(4, (rows - 2) // 2)

    def visible(self) -> list[str]:
        names = self.names()
        page = self.focus // PANES
        return names[page * PANES : page * PANES + PANES]

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "screen":
            name = event["worker"]
            screen = self.screens.setdefault(name, {"lines": {}})
            if event.get("full"):
                screen["lines"] = {}
            screen["lines"].update(event["lines"])
            screen.update({k: event[k] for k in ("cols", "rows", "cursor")})
        elif kind == "worker":
            w = event["worker"]
            new = w["name"] not in self.workers
            self.workers[w["name"]] = w
            if new:
                asyncio.get_running_loop().create_task(self.resubscribe())
        elif kind == "bye":
            self.message = "the supervisor stopped"
            self.quit.set()
        self.changed.set()

    async def resubscribe(self) -> None:
        want = self.visible()
        gone = [n for n in self.subscribed if n not in want]
        if gone:
            await self.client.request("unsubscribe", screens=gone)
        _, _, pane_w, pane_h = self.layout()
        for name in want:
            w = self.workers.get(name, {})
            if w.get("state") in ACTIVE and w.get("size") != [pane_w, pane_h - 1]:
                try:
                    await self.client.request("resize", worker=name, cols=pane_w, rows=pane_h - 1)
                except Exception:
                    pass
        await self.client.request("subscribe", screens=want)
        self.subscribed = want
        sys.stdout.write("\x1b[2J")
        self.changed.set()

    def draw(self) -> str:
        cols, rows, pane_w, pane_h = self.layout()
        out = ["\x1b[H"]
        names = self.names()
        for index, name in enumerate(self.visible()):
            w = self.workers.get(name, {})
            top = 1 + (index // 2) * pane_h
            left = 1 + (index % 2) * (pane_w + 1)
            number = names.index(name) + 1
            state = w.get("state", "?")
            if state not in ("running", "starting") and w.get("reason"):
                state = f"{state}: {w['reason']}"
            title = safe_text(f" {number} {name} · {w.get('kind', '')} · {state} ")
            style = "\x1b[7m" if names.index(name) == self.focus else "\x1b[1m"
            out.append(f"\x1b[{top};{left}H{style}{title[:pane_w].ljust(pane_w)}\x1b[0m")
            lines = self.screens.get(name, {}).get("lines", {})
            for y in range(pane_h - 1):
                out.append(f"\x1b[{top + 1 + y};{left}H" + render_runs(lines.get(str(y), []), pane_w))
        status = self.message or HELP
        out.append(f"\x1b[{rows};1H\x1b[2m{status[:cols].ljust(cols)}\x1b[0m")
        return "".join(out)

    def on_key(self, data: bytes) -> None:
        if b"\x1d" in data:  # ctrl+]: detach, never sent to a worker
            self.quit.set()
            return
        names = self.names()
        if data == b"\x0e" and names:  # ctrl+n
            self.focus = (self.focus + 1) % len(names)
            asyncio.get_running_loop().create_task(self.resubscribe())
            return
        if not names:
            return
        name = names[self.focus]
        if self.workers.get(name, {}).get("state") in ACTIVE:
            self.client.send_keys(name, data)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        self.client.on_event = self.on_event
        sys.stdout.write("\x1b[?1049h\x1b[?25l\x1b[2J")
        try:
            tty.setraw(fd)
            result = await self.client.request("subscribe", screens=[], events=True)
            for w in result["workers"]:
                self.workers[w["name"]] = w
            await self.resubscribe()
            loop.add_reader(fd, lambda: self.on_key(os.read(fd, 4096)))
            loop.add_signal_handler(signal.SIGWINCH, lambda: loop.create_task(self.resubscribe()))
            closed = loop.create_task(self.client.closed.wait())
            closed.add_done_callback(lambda _: (setattr(self, "message", "the supervisor went away"), self.quit.set()))
            while not self.quit.is_set():
                sys.stdout.write(self.draw())
                sys.stdout.flush()
                self.changed.clear()
                waiter = loop.create_task(self.changed.wait())
                quitter = loop.create_task(self.quit.wait())
                await asyncio.wait({waiter, quitter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                quitter.cancel()
                await asyncio.sleep(1 / 30)  # coalesce to at most ~30 frames a second
        finally:
            loop.remove_reader(fd)
            loop.remove_signal_handler(signal.SIGWINCH)
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            sys.stdout.write("\x1b[0m\x1b[?25h\x1b[?1049l")
            sys.stdout.flush()
            await self.client.close()
        if self.message:
            print(f"podium: {self.message}")
            return 1
        print(f"podium: detached from {self.client.workspace} (workers keep running; `podium` attaches again)")
        return 0


async def _main(workspace: Path, autostart: bool) -> int:
    if autostart:
        client, _ = await connect_or_start(workspace, client="plain")
    else:
        client = await SupervisorClient.connect(workspace, client="plain")
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        await client.close()
        print("podium: attaching needs a terminal (stdin and stdout must be a TTY)", file=sys.stderr)
        return 2
    return await PlainClient(client).run()


def run_plain_client(workspace: Path, autostart: bool) -> int:
    try:
        return asyncio.run(_main(workspace, autostart))
    except NotRunning as exc:
        print(f"podium: {exc} (`podium` starts one)", file=sys.stderr)
        return 1
