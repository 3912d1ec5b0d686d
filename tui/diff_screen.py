"""The diff view (`D` on a writer in a worktree; `podium diff NAME` prints the same): the
worker's changes against its base, live while it writes. Files on the left with their
added and removed counts, the selected file's hunks on the right with old and new line
numbers (highlighted for the file's language, removed lines red, added green), and the
person's comments under them, stale ones marked. `s` shows the hunks unified or side by
side (old lines left, new right, a removed run paired row by row with the added run after
it). `j`/`k` move between files, `n`/`p` between hunks, `c` comments on the current hunk,
`S` sends every open comment to the worker as one follow-up, `m` merges (checked first,
asked first), `r` reloads. Everything a worker wrote passes through `safe_text`."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from itertools import zip_longest
from typing import Any

from podium.sessions.client import NotRunning, RequestFailed
from podium.sessions.text import safe_text
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList, Static

from .link import SupervisorLink
from .merge_flow import merge_one
from .screens import PromptScreen

LIVE_EVERY = 2.0  # seconds between looks while the view is open
HIGHLIGHT_UP_TO = 2000  # lines of a hunk highlighted for their language; a longer one is shown plain (fast)
HUNK_HEAD = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)")
LOOK = {  # a line's kind (" " context, "\\" git's note): the style of its number and mark, its background
    "-": ("red", "on #3f1d1d"),
    "+": ("green", "on #1b3a20"),
    " ": ("dim", ""),
    "\\": ("dim", ""),
}
Line = tuple[str, int | None, int | None, Any]  # kind, number in the old file, in the new, text


def numbered(hunk: dict[str, Any]) -> list[Line]:
    """A hunk's lines with their numbers in the old and the new file (None where the line
    is not in that file), the text made safe and without its +/-/space mark."""
    m = HUNK_HEAD.match(hunk["header"])
    old, new = (int(m.group(1)), int(m.group(2))) if m else (hunk["new_start"], hunk["new_start"])
    out: list[Line] = []
    for raw in hunk["lines"]:
        kind, text = (raw[:1] or " "), safe_text(raw[1:])
        if kind == "-":
            out.append(("-", old, None, text))
            old += 1
        elif kind == "+":
            out.append(("+", None, new, text))
            new += 1
        elif kind == "\\":  # git's "No newline at end of file"
            out.append(("\\", None, None, safe_text(raw)))
        else:
            out.append((" ", old, new, text))
            old, new = old + 1, new + 1
    return out


def paired(lines: list[Line]) -> list[tuple[Line | None, Line | None]]:
    """Side-by-side rows: a context line on both sides, a run of removed lines paired row
    by row with the run of added lines after it; git's note on the side of the line it
    is about."""
    rows: list[tuple[Line | None, Line | None]] = []
    removed: list[Line] = []
    added: list[Line] = []
    last = " "

    def flush() -> None:
        rows.extend(zip_longest(removed, added))
        removed.clear()
        added.clear()

    for line in lines:
        kind = line[0]
        if kind == "-":
            if added:
                flush()
            removed.append(line)
        elif kind == "+":
            added.append(line)
        elif kind == "\\" and last in ("-", "+"):
            (removed if last == "-" else added).append(line)
        else:
            flush()
            rows.append((line, line))
        if kind != "\\":
            last = kind
    flush()
    return rows


@lru_cache(maxsize=256)
def lexer_for(path: str) -> str:
    try:
        return Syntax.guess_lexer(path)
    except Exception:  # a name pygments trips over: plain text
        return "default"


def highlighted(lexer: str, texts: list[str]) -> list[Text]:
    """`texts` (consecutive lines of one file) highlighted for `lexer`, one Text a line."""
    if not texts:
        return []
    if lexer in ("default", "text"):
        return [Text(t) for t in texts]
    lines = list(Syntax("", lexer, theme="ansi_dark", tab_size=4).highlight("\n".join(texts)).split("\n", allow_blank=True))
    return lines[: len(texts)] + [Text(t) for t in texts[len(lines) :]]


def with_code(path: str, lines: list[Line]) -> list[Line]:
    """`lines` with their text highlighted: the old side (context and removed lines) and the
    new side (context and added) each highlighted as one piece, so a construct spanning
    lines is seen whole. Where no language is known, removed text is red and added green."""
    lexer = lexer_for(path) if len(lines) <= HIGHLIGHT_UP_TO else "default"
    old = iter(highlighted(lexer, [line[3] for line in lines if line[0] in (" ", "-")]))
    new = iter(highlighted(lexer, [line[3] for line in lines if line[0] in (" ", "+")]))
    out: list[Line] = []
    for kind, o, n, text in lines:
        if kind == "-":
            code = next(old)
        elif kind == "+":
            code = next(new)
        elif kind == " ":
            next(old)
            code = next(new)
        else:
            code = Text(text, style="dim italic")
        if kind in ("-", "+") and lexer in ("default", "text"):
            code.stylize(LOOK[kind][0])
        out.append((kind, o, n, code))
    return out


def number_cell(line: Line | None, index: int) -> Text:
    n = None if line is None else line[index]
    return Text("" if n is None else str(n), style=LOOK[line[0]][0] if line else "")


def code_cell(line: Line | None) -> RenderableType:
    """A line's mark and code, on its kind's background across the whole column."""
    if line is None:
        return Text("")
    kind, code = line[0], line[3]
    text = Text.assemble((kind if kind in ("-", "+") else " ", f"bold {LOOK[kind][0]}"), code) if kind != "\\" else code
    return Padding(text, 0, style=LOOK[kind][1], expand=True) if LOOK[kind][1] else text


def hunk_table(lines: list[Line], digits: int, side_by_side: bool) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    if side_by_side:
        grid.add_column(justify="right", width=digits)  # old number, old code, divider, new number, new code
        grid.add_column(ratio=1, overflow="fold")
        grid.add_column(width=1)
        grid.add_column(justify="right", width=digits)
        grid.add_column(ratio=1, overflow="fold")
        for left, right in paired(lines):
            grid.add_row(number_cell(left, 1), code_cell(left), Text("│", style="dim"), number_cell(right, 2), code_cell(right))
    else:
        grid.add_column(justify="right", width=digits)
        grid.add_column(justify="right", width=digits)
        grid.add_column(ratio=1, overflow="fold")
        for line in lines:
            grid.add_row(number_cell(line, 1), number_cell(line, 2), code_cell(line))
    return grid


class HunkPane(Vertical):
    """The selected file's hunks, one Static each (so `n`/`p` scroll to a hunk's widget,
    however its lines wrap), then its comments; Statics are reused, the unused hidden."""

    DEFAULT_CSS = "HunkPane { height: auto; } HunkPane > Static { height: auto; }"

    def show(self, parts: list[RenderableType]) -> None:
        statics = list(self.query_children(Static))
        for i, part in enumerate(parts):
            if i < len(statics):
                statics[i].update(part)
                statics[i].display = True
            else:
                self.mount(Static(part))
        for extra in statics[len(parts) :]:
            extra.update("")
            extra.display = False

    def part(self, index: int) -> Static | None:
        shown = [s for s in self.query_children(Static) if s.display]
        return shown[index] if 0 <= index < len(shown) else None

    @property
    def content(self) -> RenderableType:
        """Everything the pane shows, as one renderable."""
        return Group(*(s.content for s in self.query_children(Static) if s.display))


class DiffScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="diff.back", tooltip="Back to the dashboard"),
        Binding("j,down", "file(1)", "Next file", id="diff.next-file", show=False),
        Binding("k,up", "file(-1)", "Previous file", id="diff.prev-file", show=False),
        Binding("n", "hunk(1)", "Next hunk", id="diff.next-hunk", tooltip="Scroll to the next hunk"),
        Binding("p", "hunk(-1)", "Previous hunk", id="diff.prev-hunk", tooltip="Scroll to the previous hunk"),
        Binding("s", "side", "Side by side", id="diff.side", tooltip="Unified or side-by-side hunks"),
        Binding("c", "comment", "Comment", id="diff.comment", tooltip="Comment on the current hunk (for the worker)"),
        Binding("S", "send", "Send comments", id="diff.send", tooltip="Send every open comment to the worker as one follow-up"),
        Binding("m", "merge", "Merge", id="diff.merge", tooltip="Merge its branch (checked first, asked first)"),
        Binding("r", "reload", "Reload", id="diff.reload", show=False),
    ]
    DEFAULT_CSS = """
    DiffScreen #files { width: 40; height: 1fr; }
    DiffScreen #hunks { padding: 0 1; }
    """

    def __init__(self, link: SupervisorLink, worker: str):
        super().__init__()
        self.link = link
        self.worker = worker
        self.diff: dict[str, Any] = {"files": [], "comments": []}
        self.file_index = 0
        self.hunk_index = 0
        self.side_by_side = False

    def compose(self) -> ComposeResult:
        yield Label("", id="diff-title")
        with Horizontal():
            yield OptionList(id="files")
            with VerticalScroll(id="hunks"):
                yield HunkPane(id="hunk-text")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self.reload(), exclusive=True, group="diff")
        self.set_interval(LIVE_EVERY, lambda: self.run_worker(self.reload(), exclusive=True, group="diff"))

    async def reload(self) -> None:
        try:
            diff = await self.link.ask("review_diff", worker=self.worker, **({"since": self.diff["digest"]} if self.diff.get("digest") else {}))
        except (RequestFailed, NotRunning) as exc:
            self.query_one("#diff-title", Label).update(Text(safe_text(f"{self.worker}: {exc}"), style="bold red"))
            return
        if diff.get("unchanged"):  # the same diff and comments as shown: nothing was sent
            return
        self.diff = diff
        files = self.query_one("#files", OptionList)
        files.clear_options()
        for f in diff["files"]:
            mark = {"added": "A", "deleted": "D"}.get(f["status"], "M")
            files.add_option(Text.assemble((f"{mark} ", "bold"), safe_text(f["path"]), (f" +{f['added']}", "green"), (f" -{f['removed']}", "red")))
        self.file_index = min(self.file_index, max(0, len(diff["files"]) - 1))
        if diff["files"]:
            files.highlighted = self.file_index
        self.show_title()
        self.show_file()

    def show_title(self) -> None:
        diff = self.diff
        open_ = sum(1 for c in diff.get("comments", []) if not c.get("sent"))
        merged = f" · merged into {diff['merged']['into']}" if diff.get("merged") else ""
        title = f"{self.worker} · {diff['branch']} against {diff['base']}{merged} · {len(diff['files'])} file(s) · {open_} open comment(s)" + (" · the diff is cut (too large)" if diff.get("cut") else "")
        mode = "side-by-side hunks" if self.side_by_side else "unified hunks"
        self.query_one("#diff-title", Label).update(Text.assemble((safe_text(title), "bold"), f" · {mode} (s: {'unified' if self.side_by_side else 'side by side'})"))

    def current(self) -> dict[str, Any] | None:
        files = self.diff["files"]
        return files[self.file_index] if 0 <= self.file_index < len(files) else None

    def show_file(self) -> None:
        """The current file's hunks (one part each, unified or side by side), then its comments."""
        pane = self.query_one("#hunk-text", HunkPane)
        f = self.current()
        if f is None:
            pane.show([Text("no changes yet against its base", style="dim")])
            return
        hunks = [with_code(f["path"], numbered(h)) for h in f["hunks"]]
        digits = max((len(str(n)) for lines in hunks for line in lines for n in line[1:3] if n is not None), default=1)
        parts: list[RenderableType] = [Group(Text(safe_text(h["header"]), style="cyan"), hunk_table(lines, digits, self.side_by_side)) for h, lines in zip(f["hunks"], hunks)]
        if not parts:
            parts.append(Text("(a binary file)" if f.get("binary") else "(no content change)", style="dim"))
        notes = []
        for c in [c for c in self.diff.get("comments", []) if c.get("file") == f["path"]]:
            state = "sent" if c.get("sent") else "stale" if c.get("stale") else "open"
            notes.append(Text(f"» line {c['line']} ({state}): {safe_text(c['text'])}", style="yellow" if state == "open" else "dim"))
        if notes:
            parts.append(Group(*notes))
        pane.show(parts)

    @on(OptionList.OptionHighlighted, "#files")
    def _picked(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index != self.file_index:
            self.file_index, self.hunk_index = event.option_index, 0
            self.show_file()
            self.query_one("#hunks", VerticalScroll).scroll_home(animate=False)

    def action_file(self, step: int) -> None:
        if self.diff["files"]:
            self.file_index = (self.file_index + step) % len(self.diff["files"])
            self.hunk_index = 0
            self.query_one("#files", OptionList).highlighted = self.file_index
            self.show_file()
            self.query_one("#hunks", VerticalScroll).scroll_home(animate=False)

    def action_hunk(self, step: int) -> None:
        f = self.current()
        if not f or not f["hunks"]:
            return
        self.hunk_index = max(0, min(len(f["hunks"]) - 1, self.hunk_index + step))
        self.scroll_to_hunk()

    def scroll_to_hunk(self) -> None:
        """The current hunk's part at the top of the pane (as far as the pane scrolls)."""
        hunks = (self.current() or {}).get("hunks") or []
        part = self.query_one("#hunk-text", HunkPane).part(min(self.hunk_index, len(hunks) - 1))
        if part is not None:
            self.query_one("#hunks", VerticalScroll).scroll_to_widget(part, animate=False, top=True)

    def action_side(self) -> None:
        self.side_by_side = not self.side_by_side
        self.show_title()
        self.show_file()
        self.call_after_refresh(self.scroll_to_hunk)  # the same hunk, laid out anew

    def hunk_target(self) -> tuple[int, str] | None:
        """The current hunk's first changed line: its number in the new file and its code."""
        f = self.current()
        if not f or not f["hunks"]:
            return None
        h = f["hunks"][min(self.hunk_index, len(f["hunks"]) - 1)]
        line = h["new_start"]
        for text in h["lines"]:
            if text.startswith("+"):
                return line, text[1:]
            if not text.startswith("-"):
                line += 1
        return h["new_start"], ""

    def action_comment(self) -> None:
        f, target = self.current(), self.hunk_target()
        if f is None or target is None:
            self.notify("nothing to comment on here", severity="warning")
            return
        line, code = target

        async def save(text: str | None) -> None:
            if not text or not text.strip():
                return
            try:
                await self.link.ask("review_comment", worker=self.worker, file=f["path"], line=line, code=code, text=text)
            except (RequestFailed, NotRunning) as exc:
                self.notify(str(exc), severity="error")
                return
            await self.reload()

        self.app.push_screen(PromptScreen(f"Comment on {f['path']}:{line}", placeholder="what should change here"), lambda text: self.run_worker(save(text)))

    def action_send(self) -> None:
        async def send() -> None:
            try:
                out = await self.link.ask("review_send", worker=self.worker, env=dict(os.environ))
            except (RequestFailed, NotRunning) as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"{out['sent']} comment(s) sent to {self.worker} as one follow-up")
            await self.reload()

        self.run_worker(send())

    def action_merge(self) -> None:
        self.run_worker(merge_one(self, self.link, self.worker), group="merge", exclusive=True)

    def action_reload(self) -> None:
        self.run_worker(self.reload(), exclusive=True, group="diff")
