"""The diff view (`D` on a writer in a worktree; `podium diff NAME` prints the same): the
worker's changes against its base, live while it writes. Files on the left with their
added and removed counts, the selected file's hunks on the right (highlighted as a diff),
and the person's comments under them, stale ones marked. `j`/`k` move between files,
`n`/`p` between hunks, `c` comments on the current hunk, `S` sends every open comment to
the worker as one follow-up, `m` merges (checked first, asked first)."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList, Static

from podium.sessions.client import NotRunning, RequestFailed
from podium.sessions.text import safe_text

from .link import SupervisorLink
from .screens import ConfirmScreen, PromptScreen

LIVE_EVERY = 2.0  # seconds between looks while the view is open


class DiffScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="diff.back", tooltip="Back to the dashboard"),
        Binding("j,down", "file(1)", "Next file", id="diff.next-file", show=False),
        Binding("k,up", "file(-1)", "Previous file", id="diff.prev-file", show=False),
        Binding("n", "hunk(1)", "Next hunk", id="diff.next-hunk", tooltip="Scroll to the next hunk"),
        Binding("p", "hunk(-1)", "Previous hunk", id="diff.prev-hunk", tooltip="Scroll to the previous hunk"),
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

    def compose(self) -> ComposeResult:
        yield Label("", id="diff-title")
        with Horizontal():
            yield OptionList(id="files")
            with VerticalScroll(id="hunks"):
                yield Static("", id="hunk-text")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self.reload(), exclusive=True, group="diff")
        self.set_interval(LIVE_EVERY, lambda: self.run_worker(self.reload(), exclusive=True, group="diff"))

    async def reload(self) -> None:
        try:
            diff = await self.link.ask("review_diff", worker=self.worker)
        except (RequestFailed, NotRunning) as exc:
            self.query_one("#diff-title", Label).update(Text(f"{self.worker}: {exc}", style="bold red"))
            return
        if diff == self.diff:
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
        open_ = sum(1 for c in diff.get("comments", []) if not c.get("sent"))
        title = f"{self.worker} · {diff['branch']} against {diff['base']} · {len(diff['files'])} file(s) · {open_} open comment(s)" + (" · the diff is cut (too large)" if diff.get("cut") else "")
        self.query_one("#diff-title", Label).update(Text(safe_text(title), style="bold"))
        self.show_file()

    def current(self) -> dict[str, Any] | None:
        files = self.diff["files"]
        return files[self.file_index] if 0 <= self.file_index < len(files) else None

    def show_file(self) -> None:
        f = self.current()
        if f is None:
            self.query_one("#hunk-text", Static).update(Text("no changes yet against its base", style="dim"))
            return
        body = "\n".join(f"{h['header']}\n" + "\n".join(h["lines"]) for h in f["hunks"]) or ("(a binary file)" if f.get("binary") else "(no content change)")
        parts: list[Any] = [Syntax("\n".join(safe_text(line) for line in body.split("\n")), "diff", theme="ansi_dark", word_wrap=True)]
        for c in [c for c in self.diff.get("comments", []) if c.get("file") == f["path"]]:
            state = "sent" if c.get("sent") else "stale" if c.get("stale") else "open"
            parts.append(Text(f"» line {c['line']} ({state}): {safe_text(c['text'])}", style="yellow" if state == "open" else "dim"))
        self.query_one("#hunk-text", Static).update(Group(*parts))

    @on(OptionList.OptionHighlighted, "#files")
    def _picked(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index != self.file_index:
            self.file_index, self.hunk_index = event.option_index, 0
            self.show_file()

    def action_file(self, step: int) -> None:
        if self.diff["files"]:
            self.file_index = (self.file_index + step) % len(self.diff["files"])
            self.hunk_index = 0
            self.query_one("#files", OptionList).highlighted = self.file_index
            self.show_file()

    def action_hunk(self, step: int) -> None:
        f = self.current()
        if not f or not f["hunks"]:
            return
        self.hunk_index = max(0, min(len(f["hunks"]) - 1, self.hunk_index + step))
        row = sum(1 + len(h["lines"]) for h in f["hunks"][: self.hunk_index])
        self.query_one("#hunks", VerticalScroll).scroll_to(y=row, animate=False)

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
        async def merge() -> None:
            try:
                check = await self.link.ask("worktree_merge", name=self.worker, check=True)
            except (RequestFailed, NotRunning) as exc:
                self.notify(str(exc), severity="error")
                return
            if not check["clean"]:
                self.notify(f"{check['branch']} conflicts with {check['target']} in {', '.join(check['conflicts'])}: nothing merged", severity="error", timeout=8)
                return

            async def go(yes: bool | None) -> None:
                if not yes:
                    return
                try:
                    out = await self.link.ask("worktree_merge", name=self.worker)
                except (RequestFailed, NotRunning) as exc:
                    self.notify(str(exc), severity="error", timeout=8)
                    return
                self.notify(f"merged into {out['merged']['into']} ({out['merged']['commit'][:10]}); podium discard {self.worker} removes the worktree")

            self.app.push_screen(ConfirmScreen(f"Merge {check['branch']} ({check['commits']} commit(s)) into {check['target']}? It merges cleanly."), lambda yes: self.run_worker(go(yes)))

        self.run_worker(merge())

    def action_reload(self) -> None:
        self.run_worker(self.reload(), exclusive=True, group="diff")
