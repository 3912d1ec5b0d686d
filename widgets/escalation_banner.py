"""EscalationBanner: one line across the dashboard while anything waits for the person."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from podium.sessions.text import safe_text


class EscalationBanner(Static):
    DEFAULT_CSS = """
    EscalationBanner {
        height: 1;
        background: $warning 30%;
        color: $foreground;
        padding: 0 1;
        display: none;
    }
    EscalationBanner.-shown { display: block; }
    """

    def show_pending(self, pending: list[dict[str, Any]]) -> None:
        gates = [e for e in pending if e.get("tier") == "gate"]
        self.set_class(bool(gates), "-shown")
        if not gates:
            return
        oldest = min(gates, key=lambda e: e["created"])
        t = Text()
        t.append(f"⚠ {len(gates)} waiting for you", style="bold")
        t.append(f"  ·  oldest: {oldest.get('worker') or 'podium'}: ")
        t.append(safe_text(str(oldest.get("command") or oldest.get("file") or oldest["question"]))[:70], style="bold")
        t.append("  ·  e opens the inbox, y/n on a waiting worker answers", style="dim")
        self.update(t)
