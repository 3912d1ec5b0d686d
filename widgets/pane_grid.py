"""PaneGrid: the dashboard's grid of workers, one face per worker on the page: its
transcript's `Scrollback` while one is open, else its structured `AgentView` when the
worker speaks JSONL and the person has not asked for the raw terminal, else its live
`TerminalPane`. Zoomed, only the focused worker's face shows. The grid keeps its faces in
worker order and knows which worker a focused widget belongs to.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.containers import Container
from textual.widget import Widget

from .agent_view import AgentView
from .scrollback import Scrollback
from .terminal_pane import TerminalPane

STRUCTURED_MODES = ("codex-exec", "claude-p")  # agents that print JSONL events


class PaneGrid(Container):
    DEFAULT_CSS = """
    PaneGrid {
        layout: grid;
        grid-size: 1 1;
        grid-gutter: 0 1;
        height: 1fr;
    }
    """

    def __init__(self, worker_dir: Callable[[str], Path], **kw: object):
        super().__init__(**kw)  # type: ignore[arg-type]
        self.worker_dir = worker_dir
        self.panes: dict[str, TerminalPane] = {}
        self.views: dict[str, AgentView] = {}
        self.scrollbacks: dict[str, Scrollback] = {}
        self.raw: dict[str, bool] = {}  # the view the person chose per worker (v)
        self.zoomed = False

    # -- which worker, which widget ------------------------------------------------------
    def face(self, name: str) -> Widget | None:
        return self.scrollbacks.get(name) or self.views.get(name) or self.panes.get(name)

    def worker_at(self, widget: Widget | None) -> str | None:
        """The worker a (focused) widget shows, if it is one of the grid's."""
        if isinstance(widget, (TerminalPane, AgentView, Scrollback)) and widget.parent is self:
            return widget.worker_name
        return None

    def faces(self) -> list[Widget]:
        return [face for name in self.panes if (face := self.face(name)) is not None and face.display]

    # -- which workers -----------------------------------------------------------------------
    async def show_workers(self, names: list[str], modes: dict[str, str]) -> list[str]:
        """Show these workers (in this order); returns the ones no longer shown."""
        gone = [n for n in self.panes if n not in names]
        for name in gone:
            for table in (self.panes, self.views, self.scrollbacks):
                widget = table.pop(name, None)
                if widget is not None:
                    await widget.remove()
        mounted = set(self.panes)
        for i, name in enumerate(names):
            if name in mounted:
                continue
            self.panes[name] = TerminalPane(name, self.worker_dir(name))
            widgets: list[Widget] = [self.panes[name]]
            if modes.get(name) in STRUCTURED_MODES and not self.raw.get(name, False):
                self.views[name] = AgentView(name, self.worker_dir(name) / "events.jsonl")
                widgets.append(self.views[name])
            later = [n for n in names[i + 1 :] if n in mounted]  # keep worker order
            await self.mount_all(widgets, before=self.panes[later[0]] if later else None)
            mounted.add(name)
        self.panes = {n: self.panes[n] for n in names}
        return gone

    def describe(self, roster: dict[str, dict[str, Any]]) -> None:
        """Number and label each shown worker from the roster (every worker, in order)."""
        names = list(roster)
        for name, pane in self.panes.items():
            w = roster.get(name, {})
            pane.number = names.index(name) + 1
            pane.set_status(w.get("state", ""), w.get("reason", ""), w.get("kind", ""))
            view = self.views.get(name)
            if view is not None:
                view.number = pane.number
                view.set_summary(w)

    def lay_out(self, focus: str | None) -> None:
        """Grid size, what shows (zoomed: only `focus`), and the focus on `focus`'s face."""
        for name, pane in self.panes.items():
            shown = not self.zoomed or name == focus
            face = self.face(name)
            for widget in (pane, self.views.get(name), self.scrollbacks.get(name)):
                if widget is not None:
                    widget.display = shown and widget is face
        n = 1 if self.zoomed else len(self.panes)
        cols = max(1, math.ceil(math.sqrt(n)))
        self.styles.grid_size_columns = cols
        self.styles.grid_size_rows = max(1, math.ceil(n / cols))
        target = self.face(focus) if focus else None
        if target is not None and self.screen.focused is not target:
            target.focus()

    # -- faces that come and go ------------------------------------------------------------------
    async def toggle_view(self, name: str) -> bool:
        """Structured view <-> raw terminal for a worker; returns True if now structured."""
        if name in self.views:
            await self.views.pop(name).remove()
            self.raw[name] = True
        else:
            self.views[name] = AgentView(name, self.worker_dir(name) / "events.jsonl")
            await self.mount(self.views[name], after=self.panes[name])
            self.raw[name] = False
        return name in self.views

    async def open_scrollback(self, name: str) -> Scrollback:
        scrollback = self.scrollbacks.get(name)
        if scrollback is None:
            pane = self.panes[name]
            scrollback = Scrollback(name, self.worker_dir(name), title=str(pane.border_title or name))
            self.scrollbacks[name] = scrollback
            await self.mount(scrollback, after=self.face(name) if name in self.views else pane)
        return scrollback

    def show_live(self, name: str) -> TerminalPane:
        """The worker's live terminal, now (typing starts at once: the keys that follow
        must not reach a scrollback or a view on their way out)."""
        for table in (self.scrollbacks, self.views):
            widget = table.pop(name, None)
            if widget is not None:
                widget.display = False
                widget.remove()  # it goes soon; the pane shows now
                if table is self.views:
                    self.raw[name] = True  # the person chose the terminal (v brings the view back)
        self.lay_out(name)
        return self.panes[name]

    async def close_scrollback(self, name: str) -> None:
        scrollback = self.scrollbacks.pop(name, None)
        if scrollback is not None:
            await scrollback.remove()
