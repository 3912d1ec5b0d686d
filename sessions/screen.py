"""The live screen: a worker's terminal as it looks now, emulated off the reading path.

Owns one pyte `Screen` (never `HistoryScreen`: scrollback comes from the transcript) and
the backlog of bytes not yet emulated. The reader only appends to the backlog; `pump()`
emulates it in batches, and when the backlog is larger than the bound it skips ahead:
resets the screen and replays only the tail that can still be visible, so a flood costs
the emulator a few KB per frame, not every byte. Dirty rows accumulate for renderers.
"""

from __future__ import annotations

from collections.abc import Callable

import pyte
import pyte.graphics

from .text import safe_text

# Backlog above this is not emulated byte for byte: the screen skips ahead to the tail.
SKIP_AHEAD_BOUND = 32 * 1024
# Most a skip-ahead replays (escape-heavy tails); line-oriented output needs far less.
MAX_REPLAY = 32 * 1024
# Queries a terminal must answer (DSR, DA): emulate up to them at once so the answer is
# right. Literal scans: a regex over every read of coloured output cost 10% of a flood.
_QUERIES = (b"\x1b[6n", b"\x1b[5n", b"\x1b[?6n", b"\x1b[c", b"\x1b[0c", b"\x1b[>c", b"\x1b[>0c")

BRACKETED_PASTE = 2004 << 5  # pyte shifts private (DEC) modes left by 5
APP_CURSOR_KEYS = 1 << 5  # DECCKM (?1), which pyte tracks but does not name


class _AnsweringScreen(pyte.Screen):
    """A pyte Screen whose replies (cursor position, device attributes) go to the program."""

    def __init__(self, columns: int, lines: int, reply: Callable[[str], None] | None):
        super().__init__(columns, lines)
        self._reply = reply

    def write_process_input(self, data: str) -> None:
        if self._reply is not None:
            self._reply(data)

    def report_device_attributes(self, mode: int = 0, **kwargs: object) -> None:
        # pyte only answers the primary DA without the private flag; answer as a VT102.
        if mode == 0:
            self.write_process_input("\x1b[?6c")

    def set_title(self, param: str) -> None:  # contained: never reaches a real terminal
        self.title = param

    def set_icon_name(self, param: str) -> None:
        self.icon_name = param


class LiveScreen:
    """pyte screen + backlog + dirty rows. Not thread-safe: one owner drives it."""

    def __init__(
        self,
        columns: int = 80,
        lines: int = 24,
        reply: Callable[[str], None] | None = None,
        bound: int = SKIP_AHEAD_BOUND,
    ):
        self._reply = reply
        self.bound = bound
        self._backlog = bytearray()
        self.bytes_fed = 0  # stream offset the screen reflects once the backlog is pumped
        self.skips = 0  # how many times the screen skipped ahead (for tests and stats)
        self._line_start = 0  # stream offset just past the last emulated newline
        self.dirty: set[int] = set()
        self._make_screen(columns, lines)

    def _make_screen(self, columns: int, lines: int) -> None:
        self.screen = _AnsweringScreen(columns, lines, self._reply)
        self.stream = pyte.ByteStream(self.screen)
        self.screen.dirty.clear()  # our own set says what renderers must redraw
        self.dirty = set(range(lines))

    @property
    def columns(self) -> int:
        return self.screen.columns

    @property
    def lines(self) -> int:
        return self.screen.lines

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    # -- the reading path's only call ---------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue bytes. Cheap: no parsing, unless they hold a query the program waits on."""
        self._backlog += data
        if any(q in data for q in _QUERIES):
            self.pump()

    # -- the renderer's side ------------------------------------------------------
    def pump(self, skip: bool = True) -> bool:
        """Emulate the backlog; returns True if anything changed."""
        if not self._backlog:
            return False
        data = bytes(self._backlog)
        self._backlog.clear()
        line_start = self._line_start
        nl = data.rfind(b"\n")
        if nl >= 0:
            self._line_start = self.bytes_fed + nl + 1
        if skip and len(data) > self.bound:
            self._skip_ahead(data, line_start)
        else:
            self._feed(data)
        self.bytes_fed += len(data)
        return True

    def _feed(self, data: bytes) -> None:
        self.stream.feed(data)
        self.dirty |= self.screen.dirty
        self.screen.dirty.clear()

    def _skip_ahead(self, data: bytes, line_start: int) -> None:
        start = replay_start(data, self.columns, self.lines, self.bytes_fed, line_start)
        if start == 0:
            # The backlog does not cover the screen: what was drawn before it can still
            # be visible, so a reset would lose it. Emulate it all (it is short).
            self._feed(data)
            return
        modes = set(self.screen.mode)
        self._make_screen(self.columns, self.lines)
        self.screen.mode = modes
        self.skips += 1
        while start < len(data) and 0x80 <= data[start] < 0xC0:  # not mid-character
            start += 1
        self._feed(data[start:])
        self.dirty = set(range(self.lines))

    def resize(self, columns: int, lines: int) -> None:
        if (columns, lines) == (self.columns, self.lines):
            return
        self.pump()
        screen = self.screen
        if lines < screen.lines:
            # pyte drops rows from the top; like tmux, drop only what keeps the cursor in
            # view and cut the rest from the bottom, so a prompt near the top survives.
            drop_top = max(0, screen.cursor.y - (lines - 1))
            kept = {row - drop_top: screen.buffer[row] for row in range(drop_top, drop_top + lines) if row in screen.buffer}
            screen.buffer.clear()
            screen.buffer.update(kept)
            screen.cursor.y -= drop_top
            screen.lines = lines
        screen.resize(lines, columns)
        self.dirty = set(range(lines))
        self.screen.dirty.clear()

    def reset(self) -> None:
        self._backlog.clear()
        self._make_screen(self.columns, self.lines)

    def rebuild(self, tail: bytes, stream_offset: int) -> None:
        """Start over from the last bytes of a transcript (a supervisor that came back)."""
        self._backlog.clear()
        self._make_screen(self.columns, self.lines)
        start = replay_start(tail, self.columns, self.lines, stream_offset, stream_offset)
        nl = tail.rfind(b"\n")
        self._line_start = stream_offset + nl + 1 if nl >= 0 else stream_offset
        # Start on a character, not in the middle of one.
        while start < len(tail) and 0x80 <= tail[start] < 0xC0:
            start += 1
        self._feed(tail[start:])
        self.bytes_fed = stream_offset + len(tail)
        self.dirty = set(range(self.lines))

    def take_dirty(self) -> set[int]:
        rows, self.dirty = self.dirty, set()
        return rows

    # -- reading the screen -------------------------------------------------------
    def text_lines(self) -> list[str]:
        """The rows as plain text (wide-character placeholders dropped)."""
        return list(self.screen.display)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display).rstrip("\n")

    @property
    def cursor(self) -> tuple[int, int, bool]:
        c = self.screen.cursor
        return c.x, c.y, not c.hidden

    def encode_row(self, y: int) -> list[list[object]]:
        """Row y as runs `[text, fg, bg, flags]` (colours as `colour()` gives them; flags:
        1 bold, 2 italic, 4 underline, 8 strike, 16 reverse, 32 blink), trailing default
        blanks dropped, text made safe."""
        line = self.screen.buffer[y]
        runs: list[list[object]] = []
        text: list[str] = []
        blank: tuple[object, object, int] = (None, None, 0)
        style: tuple[object, object, int] | None = None
        prev = -1
        # Only the cells pyte stores (most rows are short): gaps are default blanks.
        for x in sorted(line):
            if x >= self.columns:
                break
            ch = line[x]
            if x > prev + 1:
                if style != blank:
                    if text:
                        runs.append([safe_text("".join(text)), *style])  # type: ignore[misc]
                        text = []
                    style = blank
                text.append(" " * (x - prev - 1))
            prev = x
            if ch.data == "":  # the cell a wide character covers
                continue
            st = (
                colour(ch.fg),
                colour(ch.bg),
                ch.bold | ch.italics << 1 | ch.underscore << 2 | ch.strikethrough << 3 | ch.reverse << 4 | ch.blink << 5,
            )
            if st != style:
                if text:
                    runs.append([safe_text("".join(text)), *style])  # type: ignore[misc]
                    text = []
                style = st
            text.append(ch.data)
        if text:
            runs.append([safe_text("".join(text)), *style])  # type: ignore[misc]
        if runs and runs[-1][1:] == [None, None, 0]:
            runs[-1][0] = str(runs[-1][0]).rstrip(" ")
            if not runs[-1][0]:
                runs.pop()
        return runs

    def snapshot(self, rows: set[int] | None = None) -> dict[str, object]:
        """What a client needs to draw the screen (all rows, or only `rows`)."""
        wanted = range(self.lines) if rows is None else sorted(r for r in rows if 0 <= r < self.lines)
        x, y, visible = self.cursor
        return {
            "cols": self.columns,
            "rows": self.lines,
            "cursor": [x, y, visible],
            "full": rows is None,
            "lines": {str(r): self.encode_row(r) for r in wanted},
            "title": safe_text(getattr(self.screen, "title", "") or ""),
            "bracketed_paste": self.bracketed_paste,
            "app_cursor": self.app_cursor_keys,
        }

    @property
    def bracketed_paste(self) -> bool:
        return BRACKETED_PASTE in self.screen.mode

    @property
    def app_cursor_keys(self) -> bool:
        return APP_CURSOR_KEYS in self.screen.mode


_PALETTE = ("black", "red", "green", "brown", "blue", "magenta", "cyan", "white")
_COLOURS: dict[str, int | str | None] = {"default": None}
_COLOURS.update({name: i for i, name in enumerate(_PALETTE)})
_COLOURS.update({"bright" + name: i + 8 for i, name in enumerate(_PALETTE)})
_COLOURS["bfightmagenta"] = 13  # pyte 0.8.2 spells background 105 so
_COLOURS.update({hexa: i for i, hexa in enumerate(pyte.graphics.FG_BG_256[:16])})  # 38;5;0-15


COLOUR_CACHE = 4096


def colour(name: str) -> int | str | None:
    """pyte's colour name as the protocol carries it: None (default), 0-15 (the ANSI
    palette, which the person's theme decides) or "#rrggbb"."""
    known = _COLOURS.get(name, _COLOURS)
    if known is not _COLOURS:
        return known  # type: ignore[return-value]
    value: int | str | None = f"#{name}" if len(name) == 6 else None
    if len(_COLOURS) < COLOUR_CACHE:  # a truecolour flood must not grow it without end
        _COLOURS[name] = value
    return value


def replay_start(data: bytes, columns: int, lines: int, offset: int, line_start: int) -> int:
    """Where in `data` (which begins at stream `offset`) a replay must start so that the
    replayed tail fills the screen the way the whole stream would.

    It walks back line by line, counting wrapped rows, until twice the screen's rows are
    covered (the margin absorbs escape sequences, which take bytes but no columns), and
    starts at that line's beginning. If the budget ends inside one long line, it starts at
    a point of that line aligned to the wrap width, so the wrapped rows fall where they
    would. `line_start` is the stream offset where the line in progress at `offset` began.
    """
    limit = max(0, len(data) - MAX_REPLAY)
    rows = 0
    pos = len(data)
    while pos > limit:
        nl = data.rfind(b"\n", limit, pos)
        seg_start = nl + 1 if nl >= 0 else limit
        rows += max(1, -(-(pos - seg_start) // columns))
        if nl < 0:
            break
        if rows >= 2 * lines:
            return seg_start
        pos = nl
    if limit == 0:
        return 0
    nl = data.rfind(b"\n", 0, limit)
    line_begin = offset + nl + 1 if nl >= 0 else line_start
    skew = (offset + limit - line_begin) % columns
    return min(limit + (columns - skew) % columns, len(data))
