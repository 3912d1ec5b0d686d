"""Loud news for the person: a toast, and (configurable) the terminal bell and a desktop
notification (OSC 9 and OSC 777, which terminals and tmux pass on). Used for a gate
escalation that waits and for a plan that completed; the app hands over its toast,
bell and terminal writer, never itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from podium.sessions.config import Config


@dataclass
class Alerts:
    notify: Callable[..., None]  # App.notify
    bell: Callable[[], None]
    write: Callable[[], Callable[[str], None] | None]  # the terminal's writer, once there is one
    config: Config

    def loud(self, text: str, title: str, severity: str = "warning") -> None:
        self.notify(text, title=title, severity=severity, timeout=8)
        if self.config.bell:
            self.bell()
        write = self.write() if self.config.desktop_notify else None
        if write is not None:
            line = f"podium: {text}".replace("\x07", "").replace("\x1b", "")[:200]
            write(f"\x1b]9;{line}\x07\x1b]777;notify;podium;{line}\x07")

    def escalation(self, esc: dict[str, Any] | None, new: bool) -> None:
        """A gate opened: loud. A notify-tier one podium approved itself: a toast."""
        if not new or esc is None or esc["state"] != "pending":
            return
        what = esc.get("command") or esc.get("file") or esc["question"]
        who = esc.get("worker") or "podium"
        if esc["tier"] == "gate":
            self.loud(f"{who} waits: {what}", "approval needed")
        elif esc["tier"] == "notify":
            self.notify(f"{who}: {what} (approved by the notify rule)", title="escalation", timeout=5)

    def plan_complete(self, title: str, state: str, summary: str, ok: bool) -> None:
        self.loud(f"plan {title!r} {state}: {summary} (P shows it, p there promotes the reports in plan order; .podium/plan-summary.md)", "plan", "information" if ok else "warning")
