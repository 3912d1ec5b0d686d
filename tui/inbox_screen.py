"""The escalation inbox (`e`): every pending approval and decision card across all
workers, oldest first, answered with one key. The app keeps the list current from the
supervisor's `escalation` events; answers go back as requests (first answer wins)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from podium.sessions.text import safe_text

from .screens import PromptScreen
from .link import EscalationsChanged, SupervisorLink

OPEN = ("pending", "malformed")


def lettered(esc: dict[str, Any]) -> bool:
    """A card, or podium's own question with options of its own (the circuit breaker):
    answered by the option's letter, not y / n."""
    return esc["source"] == "card" or any(o["key"] not in ("y", "n", "a") for o in esc.get("options") or [])


def describe(esc: dict[str, Any]) -> RenderableType:
    """What exactly is asked: the command, reason, file, the matched screen or the card."""
    t = Text()
    t.append(f"{esc.get('worker') or 'podium'}", style="bold")
    t.append(f"  ·  {esc['source']}  ·  {esc['tier']}  ·  since {esc['created'][11:19]}\n", style="dim")
    t.append(safe_text(esc["question"]) + "\n", style="bold magenta")
    for key in ("command", "file", "reason"):
        if esc.get(key):
            t.append(f"{key:>8}: ", style="dim")
            t.append(safe_text(str(esc[key])) + "\n", style="bold" if key != "reason" else "")
    parts: list[RenderableType] = [t]
    if esc.get("note"):
        parts.append(Text("⚠ " + safe_text(esc["note"]), style="bold yellow"))
    card = esc.get("card")
    if esc["source"] == "card" and card and esc["state"] != "malformed":
        c = Text()
        if card.get("context"):
            c.append("Context\n", style="bold underline")
            c.append(safe_text(card["context"]) + "\n\n")
        c.append("Options\n", style="bold underline")
        for opt in card.get("options", []):
            mark = "  ← recommended" if opt["key"] == card.get("recommended") else ""
            c.append(f"  {opt['key']}  ", style="bold cyan")
            c.append(safe_text(opt["label"]))
            c.append(mark + "\n", style="green")
        for key in ("risk", "cost"):
            if card.get(key):
                c.append(f"\n{key.title()}: ", style="bold")
                c.append(safe_text(card[key]))
        if card.get("default"):
            c.append(f"\nDefault: {card['default']} after {card['timeout']:.0f} s", style="yellow")
        parts.append(c)
    elif esc.get("lines"):
        screen = Text("\n".join(safe_text(line) for line in esc["lines"]), style="on grey11")
        parts.append(Text("on the screen:", style="dim"))
        parts.append(screen)
    keys = Text("\n")
    if esc["state"] == "malformed":
        keys.append("this card cannot be answered until it is fixed; the file is untouched", style="red")
    elif esc["source"] == "card":
        keys.append("A–" + (card or {}).get("options", [{"key": "A"}])[-1]["key"] + " pick an option · enter the recommended one", style="dim")
    else:
        opts = " · ".join(f"{o['key']} {o['label']}" for o in esc.get("options", []))
        keys.append(opts + (" · y takes the first" if lettered(esc) else " · enter approves"), style="dim")
    parts.append(keys)
    return Group(*parts)


class InboxScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,e", "app.pop_screen", "Back", id="inbox.back", tooltip="Back to the dashboard"),
        Binding("y", "answer('approve')", "Approve", id="inbox.approve", tooltip="Approve"),
        Binding("a", "answer('approve_session')", "Approve for session", id="inbox.approve-session", tooltip="Approve, and don't ask again for this (codex)"),
        Binding("n", "answer('deny')", "Deny", id="inbox.deny", tooltip="Deny"),
        Binding("m", "deny_with_message", "Deny, saying why", id="inbox.deny-message", tooltip="Deny, with a message for the agent (its own permission request)"),
        Binding("enter", "answer('recommended')", "Recommended", id="inbox.recommended", tooltip="Take the recommended option (approve for a screen prompt)"),
        Binding("j,down", "move(1)", "Down", id="inbox.down", show=False),
        Binding("k,up", "move(-1)", "Up", id="inbox.up", show=False),
        *[Binding(letter, f"answer('{letter}')", f"Option {letter}", id=f"inbox.option-{letter.lower()}", show=False) for letter in "ABCDEFGHI"],
        *[Binding(str(n), f"pick({n})", f"Option {n}", id=f"inbox.option-{n}", show=False) for n in range(1, 10)],
    ]

    def __init__(self, link: SupervisorLink):
        super().__init__()
        self.link = link

    def compose(self) -> ComposeResult:
        yield Label("", id="inbox-title")
        with Horizontal():
            yield OptionList(id="inbox-list")
            with VerticalScroll(id="inbox-detail"):
                yield Static("", id="inbox-text")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_items()
        self.query_one(OptionList).focus()

    def items(self) -> list[dict[str, Any]]:
        return sorted((e for e in self.link.escalations.values() if e["state"] in OPEN), key=lambda e: e["created"])

    @on(EscalationsChanged)
    def refresh_items(self) -> None:
        options = self.query_one(OptionList)
        current = self.selected()
        items = self.items()
        options.clear_options()
        for e in items:
            label = Text()
            label.append(f"{e.get('worker') or 'podium'}  ", style="bold")
            label.append(f"{e['tier']}\n", style="magenta" if e["tier"] == "gate" else "dim")
            label.append("  " + safe_text(str(e.get("command") or e.get("file") or e["question"]))[:44])
            options.add_option(Option(label, id=e["id"]))
        ids = [e["id"] for e in items]
        if ids:
            options.highlighted = ids.index(current["id"]) if current and current["id"] in ids else 0
        self.query_one("#inbox-title", Label).update(
            f"{len(items)} waiting, oldest first · answers go into the journal" if items else "nothing waiting for you"
        )
        self.show_selected()

    def selected(self) -> dict[str, Any] | None:
        options = self.query_one(OptionList)
        if options.highlighted is None or options.option_count == 0:
            return None
        return self.link.escalations.get(str(options.get_option_at_index(options.highlighted).id))

    def show_selected(self) -> None:
        esc = self.selected()
        self.query_one("#inbox-text", Static).update(describe(esc) if esc else Text("Nothing waiting. esc goes back.", style="dim"))

    @on(OptionList.OptionHighlighted)
    def highlighted(self) -> None:
        self.show_selected()

    @on(OptionList.OptionSelected)
    def chosen(self) -> None:  # enter on the list: the recommended answer
        if self.check_action("answer", ("recommended",)):
            self.action_answer("recommended")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "deny_with_message":
            esc = self.selected()
            return True if esc is not None and esc["state"] == "pending" and esc["source"] == "hook" else None
        if action != "answer":
            return True
        esc = self.selected()
        if esc is None or esc["state"] != "pending":
            return None
        choice = parameters[0] if parameters else ""
        keys = {o["key"] for o in esc.get("options", [])}
        if lettered(esc):
            return True if choice == "recommended" or choice in keys else None
        if choice == "approve_session":
            return True if "a" in keys else None
        return True if choice in ("approve", "deny", "recommended") else None

    @on(OptionList.OptionHighlighted)
    def _rebind(self) -> None:
        self.refresh_bindings()

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            options.highlighted = max(0, min(options.option_count - 1, (options.highlighted or 0) + step))

    def action_pick(self, n: int) -> None:
        esc = self.selected()
        if esc and lettered(esc):
            opts = esc.get("options") or []
            if 1 <= n <= len(opts):
                self.action_answer(opts[n - 1]["key"])

    def action_deny_with_message(self) -> None:
        esc = self.selected()
        if esc is None:
            return

        def send(message: str | None) -> None:
            if message is not None:
                self.link.request("answer", escalation=esc["id"], choice="deny", message=message.strip() or None)

        self.app.push_screen(PromptScreen(f"Deny {esc.get('command') or esc['question'][:60]!r}: tell the agent why", placeholder="e.g. not outside the workspace; write it under build/ instead"), send)

    def action_answer(self, choice: str) -> None:
        esc = self.selected()
        if esc is None:
            return
        if choice == "recommended":
            card = esc.get("card") or {}
            choice = card.get("recommended") or "approve" if esc["source"] == "card" else "approve"
            if esc["source"] == "card" and not card.get("recommended"):
                self.notify("this card has no recommended option: pick one (A, B, …)", severity="warning")
                return
        if lettered(esc) and choice in ("approve", "deny", "approve_session"):
            self.notify("a decision card is answered with its option letter (A, B, …)", severity="warning")
            return
        self.link.request("answer", escalation=esc["id"], choice=choice)
