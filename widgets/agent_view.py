"""AgentView: an agent worker's events as a readable story instead of raw JSONL.

Agent messages as Markdown; each command with its exit code and its output folded to a
few lines; file changes; errors highlighted; tokens used. Read from the worker's
`events.jsonl` (written by the supervisor), incrementally, when the worker changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from podium.sessions.text import safe_text

FOLD = 4


def _fold(output: str) -> Text:
    lines = safe_text_lines(output)
    shown = lines[:FOLD]
    t = Text("\n".join(shown), style="dim")
    if len(lines) > FOLD:
        t.append(f"\n… {len(lines) - FOLD} more lines (raw view: v)", style="dim italic")
    return t


def safe_text_lines(text: str) -> list[str]:
    return [safe_text(line) for line in text.rstrip("\n").splitlines()]


def keep_line_breaks(text: str) -> str:
    """Agents mean their line breaks (report blocks, lists): single newlines become hard
    breaks, outside code fences. Only the display changes."""
    parts = text.split("```")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("\n", "  \n")
    return "```".join(parts)


def agent_markdown(text: str) -> Markdown:
    return Markdown(safe_markdown(keep_line_breaks(text)))


def safe_markdown(text: str) -> str:
    return "\n".join(safe_text(line) for line in text.split("\n"))


def render_event(event: dict[str, Any]) -> RenderableType | None:
    """One event as something to read, or None for events that say nothing new."""
    kind = event.get("type")
    # codex exec
    if kind == "thread.started":
        return Text(f"thread {event.get('thread_id')}", style="dim")
    if kind == "turn.failed":
        return Text(f"✗ turn failed: {(event.get('error') or {}).get('message')}", style="bold red")
    if kind == "error":
        return Text(f"✗ {event.get('message')}", style="bold red")
    if kind == "turn.completed":
        u = event.get("usage") or {}
        return Text(f"turn completed · {u.get('input_tokens', 0):,} in · {u.get('output_tokens', 0):,} out", style="green")
    if kind == "item.completed":
        item = event.get("item") or {}
        itype = item.get("type")
        if itype == "agent_message":
            return agent_markdown(str(item.get("text") or ""))
        if itype == "reasoning":
            return Text(safe_text(str(item.get("text") or "")), style="italic dim")
        if itype == "command_execution":
            code = item.get("exit_code")
            head = Text()
            head.append("✓ " if code == 0 else "✗ ", style="green" if code == 0 else "bold red")
            head.append("$ ", style="bold")
            head.append(safe_text(str(item.get("command") or "")), style="bold")
            head.append(f"  exit {code}", style="dim" if code == 0 else "red")
            return Group(head, Padding(_fold(str(item.get("aggregated_output") or "")), (0, 0, 0, 4)))
        if itype == "file_change":
            t = Text("files: ", style="bold cyan")
            t.append(", ".join(f"{c.get('kind', '?')} {c.get('path')}" for c in item.get("changes") or []))
            return t
        if itype == "error":
            return Text(f"✗ {item.get('message')}", style="bold red")
        if itype:
            return Text(f"{itype}: {safe_text(json.dumps(item)[:200])}", style="dim")
    # claude stream-json
    if kind == "system" and event.get("subtype") == "init":
        return Text(f"session {event.get('session_id')} · {event.get('model', '')}", style="dim")
    if kind == "assistant":
        parts: list[RenderableType] = []
        for block in (event.get("message") or {}).get("content") or []:
            if block.get("type") == "text":
                parts.append(agent_markdown(str(block.get("text") or "")))
            elif block.get("type") == "tool_use":
                parts.append(Text(f"→ {block.get('name')} {safe_text(json.dumps(block.get('input'))[:200])}", style="bold"))
        return Group(*parts) if parts else None
    if kind == "user":
        parts = []
        for block in (event.get("message") or {}).get("content") or []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                content = block.get("content")
                text = content if isinstance(content, str) else json.dumps(content)
                style = "red" if block.get("is_error") else "dim"
                parts.append(Padding(Text("\n".join(safe_text_lines(text)[:FOLD]), style=style), (0, 0, 0, 4)))
        return Group(*parts) if parts else None
    if kind == "result":
        ok = not event.get("is_error")
        t = Text("✓ result" if ok else f"✗ result ({event.get('subtype')})", style="green" if ok else "bold red")
        cost = event.get("total_cost_usd")
        if cost:
            t.append(f" · ${cost:.4f}", style="dim")
        denials = event.get("permission_denials") or []
        if denials:
            t.append(f" · {len(denials)} permission denials", style="yellow")
        return t
    if kind in ("turn.started", "item.started", "item.updated", "stream_event"):
        return None
    return Text(f"{kind}: {safe_text(json.dumps(event)[:160])}", style="dim")  # unknown: shown generically


class AgentView(VerticalScroll):
    DEFAULT_CSS = """
    AgentView {
        border: round $secondary;
        border-title-color: $secondary;
        background: $background;
        height: 1fr;
        padding: 0 1;
    }
    AgentView:focus { border: heavy $secondary; }
    AgentView > Static { margin-bottom: 1; }
    """

    def __init__(self, worker_name: str, events_path: Path):
        super().__init__(id=f"agent-{worker_name}")
        self.can_focus = True
        self.worker_name = worker_name
        self.events_path = events_path
        self._offset = 0
        self._partial = b""
        self.rendered = 0
        self.number = 0  # its place in the worker list (the key that focuses it)
        self.border_title = f"{worker_name} · structured (v: raw)"

    def on_mount(self) -> None:
        self.refresh_events()

    def refresh_events(self) -> None:
        try:
            with open(self.events_path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            if not self.rendered:
                self.mount(Static(Text("no agent events yet", style="dim")))
                self.rendered = -1
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        widgets = []
        for raw in lines:
            try:
                event = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            renderable = render_event(event) if isinstance(event, dict) else None
            if renderable is not None:
                widgets.append(Static(renderable))
        if widgets:
            if self.rendered == -1:
                self.remove_children()
                self.rendered = 0
            at_end = self.scroll_offset.y >= self.max_scroll_y - 1
            self.mount_all(widgets)
            self.rendered += len(widgets)
            if at_end:
                self.call_after_refresh(self.scroll_end, animate=False)

    def set_summary(self, worker: dict[str, Any]) -> None:
        agent = worker.get("agent") or {}
        name = f"{self.number} {worker.get('name')}" if self.number else str(worker.get("name"))
        bits = [f"{name} · structured (v: raw)"]
        if worker.get("tokens"):
            bits.append(f"{worker['tokens']:,} tokens")
        if worker.get("cost_usd"):
            bits.append(f"${worker['cost_usd']:.4f}")
        if agent.get("malformed_lines"):
            bits.append(f"{agent['malformed_lines']} bad lines")
        self.border_title = " · ".join(bits)
