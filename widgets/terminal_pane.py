"""TerminalPane: one worker's live screen, drawn with the Line API.

It owns the rows the supervisor pushed (runs of text and style), a strip cache per row,
and the cursor (its transcript scrolls in a `Scrollback` of its own). It refreshes only
the rows that changed; pyte's default colours become the theme's colours. Keys typed in
interactive mode are turned into the bytes a terminal would send.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from podium.sessions.text import safe_text

def protocol_color(value: int | str | None) -> Color | None:
    """A colour as the protocol carries it: None (the default), 0-15 (the terminal's own
    palette, which the theme decides) or "#rrggbb"."""
    if value is None:
        return None
    if isinstance(value, int):
        return Color.from_ansi(value)
    try:
        return Color.parse(value)
    except Exception:
        return None


_STYLE_CACHE: dict[tuple[int | str | None, int | str | None, int], Style] = {}


def run_style(fg: int | str | None, bg: int | str | None, flags: int) -> Style:
    key = (fg, bg, flags)
    style = _STYLE_CACHE.get(key)
    if style is None:
        style = Style(
            color=protocol_color(fg),
            bgcolor=protocol_color(bg),
            bold=bool(flags & 1) or None,
            italic=bool(flags & 2) or None,
            underline=bool(flags & 4) or None,
            strike=bool(flags & 8) or None,
            reverse=bool(flags & 16) or None,
            blink=bool(flags & 32) or None,
        )
        _STYLE_CACHE[key] = style
    return style


# Keys a terminal sends as escape sequences (xterm). Arrows depend on DECCKM.
_KEYS = {
    "enter": b"\r",
    "tab": b"\t",
    "shift+tab": b"\x1b[Z",
    "backspace": b"\x7f",
    "ctrl+h": b"\x08",
    "escape": b"\x1b",
    "home": b"\x1b[H",
    "end": b"\x1b[F",
    "pageup": b"\x1b[5~",
    "pagedown": b"\x1b[6~",
    "insert": b"\x1b[2~",
    "delete": b"\x1b[3~",
    "f1": b"\x1bOP",
    "f2": b"\x1bOQ",
    "f3": b"\x1bOR",
    "f4": b"\x1bOS",
    "f5": b"\x1b[15~",
    "f6": b"\x1b[17~",
    "f7": b"\x1b[18~",
    "f8": b"\x1b[19~",
    "f9": b"\x1b[20~",
    "f10": b"\x1b[21~",
    "f11": b"\x1b[23~",
    "f12": b"\x1b[24~",
    "ctrl+space": b"\x00",
    "ctrl+@": b"\x00",
}
_ARROWS = {"up": b"A", "down": b"B", "right": b"C", "left": b"D"}
_TILDE = {"insert": 2, "delete": 3, "pageup": 5, "pagedown": 6, "f5": 15, "f6": 17, "f7": 18, "f8": 19, "f9": 20, "f10": 21, "f11": 23, "f12": 24}
_SS3_F = {"f1": b"P", "f2": b"Q", "f3": b"R", "f4": b"S"}
_MODS = {"shift": 2, "alt": 3, "shift+alt": 4, "ctrl": 5, "shift+ctrl": 6, "ctrl+shift": 6, "alt+ctrl": 7, "ctrl+alt": 7}


def key_to_bytes(key: str, character: str | None, app_cursor: bool = False) -> bytes | None:
    """The bytes a terminal sends for a Textual key event (None: nothing to send)."""
    if key in _KEYS:
        return _KEYS[key]
    mods, _, base = key.rpartition("+")
    if base in _ARROWS:
        if not mods:
            return (b"\x1bO" if app_cursor else b"\x1b[") + _ARROWS[base]
        if mods in _MODS:
            return b"\x1b[1;%d" % _MODS[mods] + _ARROWS[base]
    if base in ("home", "end") and mods in _MODS:
        return b"\x1b[1;%d" % _MODS[mods] + (b"H" if base == "home" else b"F")
    if mods in _MODS and base in _TILDE:  # xterm: CSI n ; modifier ~
        return b"\x1b[%d;%d~" % (_TILDE[base], _MODS[mods])
    if mods in _MODS and base in _SS3_F:  # F1-F4 with a modifier: CSI 1 ; modifier P-S
        return b"\x1b[1;%d" % _MODS[mods] + _SS3_F[base]
    if mods == "alt" and character:
        return b"\x1b" + character.encode()
    if mods == "ctrl" and len(base) == 1 and base.isalpha():
        return bytes([ord(base.lower()) - 96])
    ctrl_symbols = {"ctrl+backslash": b"\x1c", "ctrl+right_square_bracket": b"\x1d", "ctrl+circumflex_accent": b"\x1e", "ctrl+underscore": b"\x1f"}
    if key in ctrl_symbols:
        return ctrl_symbols[key]
    if character:
        return character.encode("utf-8", "surrogateescape")
    return None


class TerminalPane(Widget, can_focus=True):
    """A worker's screen. Messages ask the app to act; the pane never talks to the
    supervisor itself."""

    COMPONENT_CLASSES = {"terminal-pane--cursor", "terminal-pane--match"}
    DEFAULT_CSS = """
    TerminalPane {
        border: round $panel-lighten-2;
        border-title-color: $foreground-muted;
        border-subtitle-color: $foreground-muted;
        background: $background;
        color: $foreground;
        height: 1fr;
        width: 1fr;
        overflow: hidden hidden;
    }
    TerminalPane:focus {
        border: round $primary;
        border-title-color: $primary;
        border-title-style: bold;
    }
    TerminalPane.-interactive {
        border: heavy $accent;
        border-title-color: $accent;
        border-subtitle-color: $accent;
        border-subtitle-style: bold;
    }
    TerminalPane > .terminal-pane--cursor {
        background: $foreground;
        color: $background;
    }
    TerminalPane > .terminal-pane--match {
        background: $warning 40%;
    }
    """

    class Typed(Message):
        """Bytes for the worker (interactive mode)."""

        def __init__(self, pane: TerminalPane, data: bytes):
            super().__init__()
            self.pane = pane
            self.data = data

    class SizeChanged(Message):
        def __init__(self, pane: TerminalPane, cols: int, rows: int):
            super().__init__()
            self.pane = pane
            self.cols = cols
            self.rows = rows

    class LeaveInteractive(Message):
        def __init__(self, pane: TerminalPane):
            super().__init__()
            self.pane = pane

    class ScrollbackWanted(Message):
        """The mouse wheel went up over a live pane: its transcript should open."""

        def __init__(self, pane: TerminalPane):
            super().__init__()
            self.pane = pane

    def __init__(self, worker_name: str, transcript_dir: Path, number: int = 0):
        super().__init__(id=f"pane-{worker_name}")
        self.worker_name = worker_name
        self.transcript_dir = transcript_dir
        self.number = number
        self.rows: dict[int, list[list[Any]]] = {}
        self.screen_cols = 0
        self.screen_rows = 0
        self.cursor: tuple[int, int, bool] = (0, 0, False)
        self.bracketed_paste = False
        self.app_cursor = False
        self.interactive = False
        self.state = ""
        self.reason = ""
        self._cache: dict[int, Strip] = {}
        self._size_timer = None
        self.frames = 0  # screen updates applied (tests and stats)

    # -- what the supervisor pushed --------------------------------------------------
    def apply_screen(self, event: dict[str, Any]) -> None:
        full = bool(event.get("full"))
        old_cursor_row = self.cursor[1]
        size_changed = (event["cols"], event["rows"]) != (self.screen_cols, self.screen_rows)
        self.screen_cols, self.screen_rows = event["cols"], event["rows"]
        if full or size_changed:
            self.rows = {}
            self._cache.clear()
        changed = []
        for key, runs in event["lines"].items():
            y = int(key)
            self.rows[y] = runs
            self._cache.pop(y, None)
            changed.append(y)
        self.cursor = tuple(event["cursor"])  # type: ignore[assignment]
        self.bracketed_paste = bool(event.get("bracketed_paste"))
        self.app_cursor = bool(event.get("app_cursor"))
        self.frames += 1
        if full or size_changed or len(changed) > self.size.height // 2:
            self.refresh()
            return
        width = self.size.width
        for y in {*changed, old_cursor_row, self.cursor[1]}:
            self._cache.pop(y, None)
            self.refresh(Region(0, y, width, 1))

    def set_status(self, state: str, reason: str, kind: str) -> None:
        self.state, self.reason = state, reason
        self.border_title = f"{self.number} {self.worker_name}" if self.number else self.worker_name
        self._update_subtitle(kind)

    def _update_subtitle(self, kind: str = "") -> None:
        if self.interactive:
            self.border_subtitle = "INTERACTIVE · ctrl+] leaves"
        else:
            label = self.state if not self.reason or self.state in ("running",) else f"{self.state}: {self.reason}"
            self.border_subtitle = safe_text(label)[:60]

    # -- drawing ---------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        cached = self._cache.get(y)
        if cached is not None and cached.cell_length == width:
            return cached
        base = self.rich_style
        segments = [Segment(safe_text(str(text)), base + run_style(fg, bg, int(flags))) for text, fg, bg, flags in self.rows.get(y, [])]
        cx, cy, visible = self.cursor
        if visible and y == cy and self.has_focus:
            strip = Strip(segments).extend_cell_length(cx + 1, base).crop(0, width)
            cursor_style = self.get_component_rich_style("terminal-pane--cursor")
            before = strip.crop(0, cx)
            at = strip.crop(cx, cx + 1)
            after = strip.crop(cx + 1, width)
            char = "".join(seg.text for seg in at) or " "
            segments = list(before) + [Segment(char, cursor_style)] + list(after)
        strip = Strip(segments).crop(0, width).extend_cell_length(width, base)
        self._cache[y] = strip
        return strip

    def on_resize(self, event: events.Resize) -> None:
        self._cache.clear()
        if self._size_timer is not None:
            self._size_timer.stop()
        self._size_timer = self.set_timer(0.15, self._announce_size)

    def _announce_size(self) -> None:
        size: Size = self.size
        if size.width >= 2 and size.height >= 2 and (size.width, size.height) != (self.screen_cols, self.screen_rows):
            self.post_message(self.SizeChanged(self, size.width, size.height))

    def on_focus(self) -> None:
        self._cache.pop(self.cursor[1], None)
        self.refresh()

    def on_blur(self) -> None:
        self._cache.pop(self.cursor[1], None)
        self.refresh()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.post_message(self.ScrollbackWanted(self))

    # -- interactive mode ------------------------------------------------------------
    def set_interactive(self, on: bool) -> None:
        self.interactive = on
        self.set_class(on, "-interactive")
        self._update_subtitle()

    async def on_key(self, event: events.Key) -> None:
        if self.interactive:
            self.type_key(event)

    def type_key(self, event: events.Key) -> None:
        """A key for the worker (this pane's, or one the screen caught on its way here)."""
        event.stop()
        event.prevent_default()
        if event.key == "ctrl+right_square_bracket":
            self.post_message(self.LeaveInteractive(self))
            return
        data = key_to_bytes(event.key, event.character, self.app_cursor)
        if data:
            self.post_message(self.Typed(self, data))

    def on_paste(self, event: events.Paste) -> None:
        if not self.interactive:
            return
        event.stop()
        data = event.text.replace("\r\n", "\r").replace("\n", "\r").encode("utf-8", "surrogateescape")
        if self.bracketed_paste:
            data = b"\x1b[200~" + data.replace(b"\x1b[201~", b"") + b"\x1b[201~"
        self.post_message(self.Typed(self, data))

    def screen_text(self) -> list[str]:
        """The live rows as plain text (tests read this, as a person reads the pane)."""
        return ["".join(str(r[0]) for r in self.rows.get(y, [])) for y in range(self.screen_rows)]
