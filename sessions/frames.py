"""The frame clock: when a worker's new bytes are emulated and its changed rows sent.

The reading path only appends to a screen's backlog; this clock pumps screens and hands
the dirty rows to the clients that watch them. It costs nothing while nothing happens (no
timer runs), answers on the leading edge (the first change after a quiet spell goes out
at once), coalesces what follows to at most `FRAME_RATE` frames a second, and gives a
worker with a keystroke in flight its own immediate frame, so typing into one pane never
waits behind a flood in another. Screens nobody watches are kept current at 4 Hz (the
escalation inbox reads them); each screen is read for prompts once its output pauses,
or at least twice a second on a screen that never stops moving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from .screen import LiveScreen
from .states import ACTIVE

log = logging.getLogger("podium")

FRAME_RATE = 30
FRAME_INTERVAL = 1 / FRAME_RATE
BACKGROUND_INTERVAL = 0.25  # screens nobody watches
PROMPT_QUIET = 0.1  # seconds without output before a screen is read for prompts
PROMPT_EVERY = 0.5  # ...but at least this often on a screen that never stops moving
TYPING_WINDOW = 0.5  # seconds after a key during which its worker's output is urgent


class Framed(Protocol):
    name: str
    state: str
    screen: LiveScreen
    last_output: float | None


class Screens(Protocol):
    """Where frames go: the clients watching each screen."""

    def watching(self, name: str) -> bool: ...
    def screen_changed(self, name: str, rows: set[int] | None) -> None: ...


class FrameClock:
    def __init__(
        self,
        workers: Callable[[], Iterable[Framed]],
        screens: Screens,
        info_changed: Callable[[Framed], None],
        check_prompts: Callable[[Framed], None],
    ):
        self.workers = workers
        self.screens = screens
        self.announce_info = info_changed  # a worker's info event goes out
        self.check_prompts = check_prompts
        self._timer: asyncio.Handle | None = None
        self._urgent_timer: asyncio.Handle | None = None
        self._last_frame = 0.0
        self._info_dirty: set[str] = set()
        self._prompt_due: set[str] = set()
        self._prompt_checked: dict[str, float] = {}
        self._last_pump: dict[str, float] = {}
        self._typing: dict[str, float] = {}  # worker -> until when its output is urgent
        self.frames = 0  # for stats and tests

    # -- what happened ----------------------------------------------------------------------
    def output(self, worker: Framed) -> None:
        """New bytes are in the worker's screen backlog."""
        if self._typing and self._typing.get(worker.name, 0.0) > time.monotonic():
            if self._urgent_timer is None:
                self._urgent_timer = asyncio.get_running_loop().call_soon(self._urgent_frame)
            return
        self.schedule()

    def typed(self, name: str) -> None:
        """A key went to `name`: its echo should not wait for the frame timer."""
        self._typing[name] = time.monotonic() + TYPING_WINDOW

    def info_changed(self, worker: Framed) -> None:
        """The worker's info (tokens, escalation count, promoted marks) changed: one info
        event at the next frame, however many changes came before it."""
        self._info_dirty.add(worker.name)
        self.schedule()

    def reset(self, worker: Framed) -> None:
        """The whole screen changed (rebuilt, resized): watchers get every row."""
        self.screens.screen_changed(worker.name, None)
        self.schedule()

    def forget(self, name: str) -> None:
        for table in (self._prompt_checked, self._last_pump, self._typing):
            table.pop(name, None)
        self._prompt_due.discard(name)
        self._info_dirty.discard(name)

    def flush(self, worker: Framed) -> None:
        """Emulate and send what is pending now (a worker ended: its watchers get the last
        screen before they hear how it ended)."""
        self._pump(worker, time.monotonic())

    # -- the clock ------------------------------------------------------------------------------
    def schedule(self) -> None:
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        due = self._last_frame + FRAME_INTERVAL
        now = time.monotonic()
        if now >= due:  # the leading edge: nothing went out for a frame's time
            self._timer = loop.call_soon(self._frame)
        else:
            self._timer = loop.call_later(due - now, self._frame)

    def _frame(self) -> None:
        self._timer = None
        now = time.monotonic()
        self._last_frame = now
        self.frames += 1
        more = False
        quiet_since = time.time() - PROMPT_QUIET
        for worker in self.workers():
            try:
                more = self._tick(worker, now, quiet_since) or more
            except Exception:  # noqa: BLE001 - one worker's bug must not stop every screen
                log.exception(f"frame of {worker.name} failed")
        if more:
            self.schedule()

    def _tick(self, worker: Framed, now: float, quiet_since: float) -> bool:
        """One worker's share of a frame; True when it wants another."""
        name = worker.name
        more = False
        if name in self._info_dirty:
            self._info_dirty.discard(name)
            self.announce_info(worker)
        if name in self._prompt_due and not worker.screen.backlog:
            if (worker.last_output or 0) <= quiet_since or now - self._prompt_checked.get(name, 0.0) > PROMPT_EVERY:
                self._prompt_due.discard(name)
                self._prompt_checked[name] = now
                if worker.state in ACTIVE:
                    self.check_prompts(worker)
            else:
                more = True
        if not worker.screen.backlog and not worker.screen.dirty:
            return more
        if not self.screens.watching(name) and now - self._last_pump.get(name, 0.0) < BACKGROUND_INTERVAL:
            return True
        pumped = self._pump(worker, now)
        # Bytes that changed no row (cursor moves, modes) still owe the prompt check a frame:
        # the clock must not stop while one is due, or a prompt drawn just before them waits
        # for output that never comes (codex sits at its approval dialog in silence).
        return pumped or more or name in self._prompt_due

    def _urgent_frame(self) -> None:
        """Only the workers someone is typing into, at once."""
        self._urgent_timer = None
        now = time.monotonic()
        for worker in self.workers():
            until = self._typing.get(worker.name)
            if until is None:
                continue
            if until < now:
                del self._typing[worker.name]
            try:
                if worker.screen.backlog or worker.screen.dirty:
                    self._pump(worker, now)
            except Exception:  # noqa: BLE001
                log.exception(f"frame of {worker.name} failed")
        self.schedule()  # prompts and info follow on the clock

    def _pump(self, worker: Framed, now: float) -> bool:
        self._last_pump[worker.name] = now
        worker.screen.pump()
        rows = worker.screen.take_dirty()
        if not rows:
            return False
        self.screens.screen_changed(worker.name, rows)
        # A prompt is what stays on the screen once output stops: look then, not on
        # every frame of a busy worker.
        self._prompt_due.add(worker.name)
        return True
