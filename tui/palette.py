"""The command palette's podium commands (ctrl+p): per worker (focus, zoom, scroll back,
interrupt, pause, kill) and app-wide (new worker, detach, help)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.command import Hit, Hits, Provider

from podium.sessions.states import ACTIVE

from .dashboard import DashboardScreen


class WorkerCommands(Provider):
    """Per-worker commands for the palette: focus, zoom, interrupt, pause, kill, scroll back."""

    async def search(self, query: str) -> Hits:
        app = self.app
        screen: DashboardScreen = app.dashboard  # type: ignore[attr-defined]
        link = screen.link
        matcher = self.matcher(query)
        for name, w in link.roster.items():
            options: list[tuple[str, Callable[[], Any], str]] = [
                (f"Focus {name}", lambda n=name: screen.focus_worker(n), "show this worker's pane"),
                (f"Zoom {name}", lambda n=name: screen.zoom_worker(n), "full-screen pane"),
                (f"Scroll back {name}", lambda n=name: screen.scroll_worker(n), "its whole transcript"),
            ]
            if w.get("state") in ACTIVE and w.get("state") != "starting":
                options += [
                    (f"Interrupt {name}", lambda n=name: link.request("interrupt", worker=n), "Ctrl+C to the worker"),
                    (f"Pause/continue {name}", lambda n=name: screen.toggle_pause(n), "SIGSTOP / SIGCONT"),
                    (f"Kill {name}", lambda n=name: screen.confirm_kill(n), "SIGHUP as a closed terminal, SIGTERM, then SIGKILL"),
                ]
            for text, callback, help_text in options:
                score = matcher.match(text)
                if score > 0:
                    yield Hit(score, matcher.highlight(text), callback, help=help_text)
        for text, callback, help_text in (
            ("New worker", screen.action_new_worker, "start a shell, codex or claude worker"),
            ("Detach", app.action_detach, "leave; every worker keeps running"),
            ("Help: keys", app.action_help, "every binding"),
        ):
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)
