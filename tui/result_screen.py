"""The result screen (`o`): the curated result rendered as Markdown, with its sections
listed beside it to reorder, remove and edit (in the app, or in $EDITOR), with undo and a
copy to the clipboard (OSC 52). Every change goes through the supervisor with the version
it was made from; the file is re-read when it changes under us (another client, an
editor), so nothing is lost silently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, Markdown, OptionList, TextArea
from textual.widgets.option_list import Option

from podium.sessions.client import NotRunning, RequestFailed
from podium.sessions.result import CuratedResult, ResultDoc, version_of
from podium.widgets.agent_view import keep_line_breaks

from .editor import edit_text
from .link import ResultChanged, SupervisorLink


class EditSection(ModalScreen[str | None]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="result.edit.save", tooltip="Save this section"),
        Binding("escape", "cancel", "Cancel", id="result.edit.cancel"),
    ]

    def __init__(self, title: str, body: str):
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Edit {self.title_text}  (ctrl+s saves, esc cancels)")
            yield TextArea(self.body, language="markdown", id="section-body")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ResultScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,o", "app.pop_screen", "Back", id="result.back", tooltip="Back to the dashboard"),
        Binding("j,down", "cursor(1)", "Down", id="result.down", show=False),
        Binding("k,up", "cursor(-1)", "Up", id="result.up", show=False),
        Binding("J,shift+down", "move(1)", "Move down", id="result.move-down", tooltip="Move the section down"),
        Binding("K,shift+up", "move(-1)", "Move up", id="result.move-up", tooltip="Move the section up"),
        Binding("e,enter", "edit", "Edit", id="result.edit", tooltip="Edit the section here"),
        Binding("E", "editor", "$EDITOR", id="result.editor", tooltip="Edit the whole document in $EDITOR"),
        Binding("x,delete", "remove", "Remove", id="result.remove", tooltip="Remove the section (u undoes)"),
        Binding("u", "undo", "Undo", id="result.undo", tooltip="Undo the last change made here"),
        Binding("c", "copy", "Copy", id="result.copy", tooltip="Copy the document to the clipboard (OSC 52)"),
    ]

    def __init__(self, path: Path, link: SupervisorLink):
        super().__init__()
        self.link = link
        self.curated = CuratedResult(path)
        self.text = ""
        self.doc = ResultDoc()
        self.version = version_of("")
        self.undo_stack: list[tuple[str, str]] = []  # (text before, version the change made)
        self._stat: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        yield Label(str(self.curated.path), id="where")
        with Horizontal():
            yield OptionList(id="sections")
            yield Markdown(id="doc")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.query_one("#sections", OptionList).focus()
        self.set_interval(1.0, self.check_outside_edit)

    # -- reading -----------------------------------------------------------------------
    def _file_stat(self) -> tuple[int, int] | None:
        try:
            st = self.curated.path.stat()
            return (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return None

    def reload(self, keep: str | None = None) -> None:
        try:
            self.text, self.doc = self.curated.read()
        except Exception as exc:  # not UTF-8: show why, change nothing
            self.notify(str(exc), severity="error", timeout=10)
            return
        self.version = version_of(self.text)
        self._stat = self._file_stat()
        options = self.query_one("#sections", OptionList)
        current = keep or self.selected_id()
        options.clear_options()
        for s in self.doc.sections:
            first = next((ln.strip() for ln in s.body.splitlines() if ln.strip() and not ln.startswith(("#", ">"))), "")
            options.add_option(Option(f"{s.worker} · run {s.run}\n  {first[:34]}", id=s.id))
        ids = [s.id for s in self.doc.sections]
        if ids:
            options.highlighted = ids.index(current) if current in ids else 0
        shown = self.text if self.text.strip() else "# Curated result\n\n*Nothing promoted yet: `p` on a worker promotes its last message.*"
        self.query_one("#doc", Markdown).update(keep_line_breaks(shown))

    def check_outside_edit(self) -> None:
        if self._file_stat() != self._stat:
            self.reload()
            self.notify("result.md changed (another client or an editor): showing the new version", timeout=4)

    @on(ResultChanged)
    def on_result_event(self) -> None:
        """The supervisor says the result changed (this or another client)."""
        if self._file_stat() != self._stat:
            self.reload()

    def selected_id(self) -> str | None:
        options = self.query_one("#sections", OptionList)
        if options.highlighted is None or options.option_count == 0:
            return None
        return options.get_option_at_index(options.highlighted).id

    # -- changing ----------------------------------------------------------------------
    def change(self, change: str, section: str | None = None, base: str | None = None, **fields: Any) -> None:
        """Send one change made from `base` (the version on screen when it was made)."""
        before = self.text
        base = base or self.version

        async def send() -> None:
            try:
                result = await self.link.ask("result_change", base=base, change=change, section=section, **fields)
            except (RequestFailed, NotRunning) as exc:  # a conflict or a vanished section: say so, show the truth
                self.notify(str(exc), severity="error", timeout=8)
                self.reload()
                return
            self.undo_stack.append((before, result["version"]))
            self.reload(keep=section)

        self.run_worker(send(), group="result", exit_on_error=False)

    def action_cursor(self, step: int) -> None:
        options = self.query_one("#sections", OptionList)
        if options.option_count:
            options.highlighted = max(0, min(options.option_count - 1, (options.highlighted or 0) + step))

    def action_move(self, by: int) -> None:
        sid = self.selected_id()
        if sid:
            self.change("move", sid, by=by)

    def action_remove(self) -> None:
        sid = self.selected_id()
        if sid:
            self.change("remove", sid)

    def action_edit(self) -> None:
        sid = self.selected_id()
        if not sid:
            return
        section = self.doc.find(sid)
        base = self.version  # the edit is made from what is on screen now

        def saved(body: str | None) -> None:
            if body is not None and body.strip() != section.body.strip():
                self.change("edit", sid, base=base, body=body)

        self.app.push_screen(EditSection(f"{section.worker} · run {section.run}", section.body.strip()), saved)

    def action_editor(self) -> None:
        base = self.version
        new = edit_text(self.app, self.text, prefix="podium-result-")
        if new is not None and new != self.text:
            self.change("replace", base=base, text=new)

    def action_undo(self) -> None:
        if not self.undo_stack:
            self.notify("nothing to undo here", timeout=2)
            return
        previous, made = self.undo_stack.pop()

        async def send() -> None:
            # Undo is a change made from the version the undone change produced: if the
            # document moved on since (another client, an editor), it is a conflict.
            try:
                await self.link.ask("result_change", base=made, change="replace", text=previous)
            except (RequestFailed, NotRunning) as exc:
                self.notify(f"cannot undo: {exc}", severity="error", timeout=8)
            self.reload()

        self.run_worker(send(), group="result", exit_on_error=False)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify(f"copied {len(self.text)} characters (OSC 52)", timeout=2)

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        self.action_edit()
