"""Scrollback: a worker's whole transcript, scrolled like Toolong scrolls a log.

A `ScrollView` on the Line API: a scrollbar, the mouse wheel, `virtual_size` as tall as
the transcript. It opens at once on the transcript's tail (read directly, the line count
estimated from it) while the line index is built in a thread; when the index is ready the
estimate becomes exact and the lines in view stay in view. Lines are read a viewport at a
time, and cached from raw bytes to styled `Strip`s; the cache is dropped when the theme
changes. The transcript keeps growing while a live worker prints: the index follows it.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.ansi import AnsiDecoder
from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from podium.sessions.text import sgr_only
from podium.sessions.transcript import LineIndex, TranscriptReader

TAIL_BYTES = 1 << 20  # read at once on opening: the lines near the end
MAX_LINE_BYTES = 8192  # of a line, what is styled and drawn
FOLLOW_EVERY = 1.0  # seconds between looks at a growing transcript


_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
_NEXT_STYLE: dict[tuple[Style, str], Style] = {}  # (style, SGR parameters) -> style after


def _after(style: Style, params: str) -> Style:
    key = (style, params)
    found = _NEXT_STYLE.get(key)
    if found is None:
        if len(_NEXT_STYLE) > 4096:  # a worker printing every colour there is
            _NEXT_STYLE.clear()
        decoder = AnsiDecoder()
        decoder.style = style
        decoder.decode_line(f"\x1b[{params}m")
        found = _NEXT_STYLE[key] = decoder.style
    return found


def styled_segments(raw: bytes) -> list[Segment]:
    """A transcript line as segments: its colours kept, nothing else (a page of these is
    drawn per key, so the SGR state machine's answers are cached)."""
    text = sgr_only(raw[:MAX_LINE_BYTES]).expandtabs()
    segments: list[Segment] = []
    style = Style.null()
    pos = 0
    for m in _SGR.finditer(text):
        if m.start() > pos:
            segments.append(Segment(text[pos : m.start()], style))
        style = _after(style, m.group(1))
        pos = m.end()
    if pos < len(text):
        segments.append(Segment(text[pos:], style))
    return segments


class Scrollback(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"scrollback--match", "scrollback--pending"}
    BINDINGS = [
        Binding("escape,q", "close", "Live", id="scrollback.close", tooltip="Back to the live screen"),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("j", "scroll_down", "Down", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
        Binding("pagedown", "page_down_or_live", "Page down", id="scrollback.page-down", tooltip="Down a page (past the end: live)", show=False),
    ]
    DEFAULT_CSS = """
    Scrollback {
        border: round $warning;
        border-title-color: $warning;
        border-subtitle-color: $warning;
        background: $background;
        color: $foreground;
        height: 1fr;
        width: 1fr;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    Scrollback:focus { border: heavy $warning; }
    Scrollback > .scrollback--match { background: $warning 40%; }
    Scrollback > .scrollback--pending { color: $foreground-muted; text-style: italic; }
    """

    class Closed(Message):
        def __init__(self, scrollback: Scrollback):
            super().__init__()
            self.scrollback = scrollback

    def __init__(self, worker_name: str, transcript_dir: Path, title: str = ""):
        super().__init__(id=f"scrollback-{worker_name}")
        self.worker_name = worker_name
        self.transcript_dir = transcript_dir
        self.border_title = title or worker_name
        self.index: LineIndex | None = None  # once built (in a thread)
        self.match: int | None = None
        self.pattern = ""
        self._tail: list[bytes] = []  # the lines at the end, until the index is ready
        self._total = 0  # lines (estimated until the index is ready)
        self._lines: LRUCache[int, bytes] = LRUCache(4096)
        self._strips: LRUCache[tuple[int, int, bool], Strip] = LRUCache(1024)
        self._style_cache: tuple[Style, Style, Style] | None = None

    # -- opening --------------------------------------------------------------------------
    def on_mount(self) -> None:
        start, data = TranscriptReader(self.transcript_dir).tail(TAIL_BYTES)
        lines = data.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()  # the newline that ends the last line starts no new one
        if start > 0 and lines:
            lines.pop(0)  # begins mid-line
            per_line = max(1.0, len(data) / max(1, len(lines)))
            self._total = max(len(lines), round((start + len(data)) / per_line))
        else:
            self._total = len(lines)
        self._tail = lines
        self._resize_virtual()
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True)  # once it has a size
        self.watch(self.app, "theme", self._theme_changed, init=False)
        self._build_index()
        self.set_interval(FOLLOW_EVERY, self._follow)
        self._update_subtitle()

    @work(thread=True, exclusive=True, group="scrollback-index")
    def _build_index(self) -> None:
        index = LineIndex(self.transcript_dir)  # counts every line: the slow part
        self.app.call_from_thread(self._index_ready, index)

    def _index_ready(self, index: LineIndex) -> None:
        """The estimate becomes exact; the lines in view stay where they are (they are
        counted from the end while the count was estimated)."""
        from_end = self._total - self.scroll_offset.y
        self.index = index
        self._total = index.line_count
        self._tail = []
        self._lines.clear()
        self._strips.clear()
        self._resize_virtual()
        self.scroll_to(y=max(0, self._total - from_end), animate=False, immediate=True)
        self.refresh()
        self._update_subtitle()

    @work(thread=True, exclusive=True, group="scrollback-follow")
    def _follow_index(self) -> None:
        index = self.index
        if index is not None:
            total = index.refresh()
            self.app.call_from_thread(self._grown, total)

    def _follow(self) -> None:
        if self.index is not None:
            self._follow_index()

    def _grown(self, total: int) -> None:
        if total != self._total:
            self._total = total
            self._resize_virtual()
            self._update_subtitle()

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self.size.width, self._total)

    def _theme_changed(self) -> None:
        self._strips.clear()
        self._style_cache = None
        self.refresh()

    # -- reading and drawing ------------------------------------------------------------------
    def raw_line(self, n: int) -> bytes | None:
        """Line n's bytes, or None while it is not known yet (before the index is ready)."""
        if self.index is None:
            at = n - (self._total - len(self._tail))
            return self._tail[at] if 0 <= at < len(self._tail) else None
        cached = self._lines.get(n)
        if cached is None:
            # A cache miss reads the whole viewport around it in one pass.
            first = max(0, min(n, self.scroll_offset.y))
            for i, raw in enumerate(self.index.lines(first, max(self.size.height, n - first + 1), MAX_LINE_BYTES)):
                self._lines[first + i] = raw
            cached = self._lines.get(n)
        return cached

    def render_line(self, y: int) -> Strip:
        n = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        key = (n, width, n == self.match)
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        base, match, pending = self._styles()
        if n >= self._total:
            return Strip.blank(width, base)
        raw = self.raw_line(n)
        if raw is None:
            return Strip([Segment("… counting the transcript's lines", pending)]).crop(0, width).extend_cell_length(width, pending)
        if n == self.match:
            base = match
        segments = [Segment(seg.text, base + seg.style) for seg in styled_segments(raw)]
        strip = Strip(segments).crop(0, width).extend_cell_length(width, base)
        self._strips[key] = strip
        return strip

    def _styles(self) -> tuple[Style, Style, Style]:
        """The widget's base style, a match's and a pending row's (computed once per theme:
        asking the DOM for them on every row was a third of a page's cost)."""
        if self._style_cache is None:
            base = self.rich_style
            self._style_cache = (base, base + self.get_component_rich_style("scrollback--match"), base + self.get_component_rich_style("scrollback--pending"))
        return self._style_cache

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self._resize_virtual()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._update_subtitle()

    def _update_subtitle(self) -> None:
        top = int(self.scroll_offset.y) + 1
        total = f"{self._total:,}" if self.index is not None else f"~{self._total:,}"
        found = ""
        if self.pattern:
            found = f" · /{self.pattern}: line {self.match + 1}" if self.match is not None else f" · /{self.pattern}: not found"
        self.border_subtitle = f"SCROLLBACK {top:,}/{total}{found} · esc live"

    @property
    def top(self) -> int:
        """The first line in view (0-based)."""
        return int(self.scroll_offset.y)

    # -- keys (no animation: a page is where the key says, at once, as in tmux) -----------------
    def action_scroll_up(self) -> None:
        self.scroll_up(animate=False)

    def action_scroll_down(self) -> None:
        self.scroll_down(animate=False)

    def action_page_up(self) -> None:
        self.scroll_page_up(animate=False)

    def action_scroll_home(self) -> None:
        self.scroll_home(animate=False)

    def action_scroll_end(self) -> None:
        self.scroll_end(animate=False)

    def action_close(self) -> None:
        self.post_message(self.Closed(self))

    def action_page_down_or_live(self) -> None:
        if self.scroll_offset.y >= self.max_scroll_y and self.match is None:
            self.action_close()  # paging past the end is back to live
        else:
            self.scroll_page_down(animate=False)

    @work(thread=True, exclusive=True, group="scrollback-search")
    def find(self, pattern: str) -> None:
        """Search the whole transcript upwards from the view's last match (or the end),
        off the event loop; the hit is shown, a miss is said."""
        index = self.index or LineIndex(self.transcript_dir)
        index.refresh()
        again = self.match is not None and self.pattern == pattern
        line = index.search(pattern, from_line=self.match if again else index.line_count, backwards=True)  # type: ignore[arg-type]
        self.app.call_from_thread(self.show_match, pattern, line)
        if line is None:
            self.app.call_from_thread(self.notify, f"{pattern!r} not found above this point", severity="warning", timeout=3)

    def show_match(self, pattern: str, line: int | None) -> None:
        """Put line `line` (a search hit) in the middle of the view, marked."""
        self.pattern = pattern
        self.match = line
        self._strips.clear()
        if line is not None:
            self.scroll_to(y=max(0, line - self.size.height // 2), animate=False, immediate=True)
        self.refresh()
        self._update_subtitle()
