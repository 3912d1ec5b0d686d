"""The app's secondary screens: help, new worker, confirmations, quit, search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TextArea

from podium.sessions.blackboard import WORKER_NAME_RE
from podium.sessions.launch import KINDS, TEMPLATES


class HelpScreen(ModalScreen[None]):
    """Every binding, with its key as remapped, grouped by where it works."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", id="help.close", tooltip="Close the help")]

    def __init__(self, groups: list[tuple[str, list[tuple[str, str, str]]]]):
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        t = Text()
        t.append("podium: keys\n", style="bold")
        for title, rows in self.groups:
            t.append(f"\n{title}\n", style="bold underline")
            for key, description, tooltip in rows:
                t.append(f"  {key:<18}", style="bold cyan")
                t.append(description)
                if tooltip and tooltip != description:
                    t.append(f" — {tooltip}", style="dim")
                t.append("\n")
        t.append("\nRemap any key by its id in the [keys] table of your config file.", style="dim")
        with VerticalScroll():
            yield Static(t, id="help-text")


class ConfirmScreen(ModalScreen[bool]):
    AUTO_FOCUS = "#no"  # enter on a question like "kill it?" must not mean yes
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            with Horizontal():
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class QuitScreen(ModalScreen[str]):
    """ctrl+q: detach (workers keep running) or stop every worker."""

    BINDINGS = [
        Binding("d", "choose('detach')", "Detach", id="quit.detach"),
        Binding("s", "choose('stop')", "Stop all", id="quit.stop"),
        Binding("escape,c", "choose('cancel')", "Cancel", id="quit.cancel"),
    ]

    def __init__(self, running: int):
        super().__init__()
        self.running = running

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                f"Leave podium? {self.running} worker(s) running.\n"
                "Detach keeps every worker running; `podium` brings this screen back."
            )
            with Horizontal():
                yield Button("Detach (d)", id="detach", variant="primary")
                yield Button("Stop every worker (s)", id="stop", variant="error")
                yield Button("Cancel (esc)", id="cancel")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(event.button.id))


class PromptScreen(ModalScreen[str | None]):
    """One line of input (search pattern, resume prompt)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, label: str, value: str = "", placeholder: str = ""):
        super().__init__()
        self.label = label
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.label)
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class NewWorkerScreen(ModalScreen[dict[str, Any] | None]):
    """n: name, kind, working directory, command or prompt, template, and whether it
    writes in a git worktree of its own."""

    AUTO_FOCUS = "#name"  # n, then typing a name, names the worker (the scroll box took the keys)

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="new.cancel"),
        Binding("ctrl+s", "start", "Start", id="new.start", tooltip="Start the worker"),
    ]

    def __init__(self, workspace: Path, taken: set[str]):
        super().__init__()
        self.workspace = workspace
        self.taken = taken

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("New worker  (ctrl+s starts, esc cancels)", style="bold"))
            yield Label("Name")
            yield Input(placeholder="e.g. scout-1", id="name")
            yield Label("Kind")
            yield Select([(label, key) for key, (label, _) in KINDS.items()], value="shell", allow_blank=False, id="kind")
            yield Label("Working directory")
            yield Input(value=str(self.workspace), id="cwd")
            yield Label("Command (shell) or prompt (agents)")
            yield TextArea(id="task")
            yield Label("Template (prepends the worker preamble)")
            yield Select([(name, name) for name in TEMPLATES], value="none", allow_blank=False, id="template")
            yield Checkbox("In a git worktree of its own (branch podium/NAME; for a writer)", id="worktree")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Start (ctrl+s)", id="start", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#start")
    def start_pressed(self) -> None:
        self.action_start()

    def action_start(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        kind = str(self.query_one("#kind", Select).value)
        cwd = self.query_one("#cwd", Input).value.strip() or str(self.workspace)
        task = self.query_one("#task", TextArea).text.strip()
        template = str(self.query_one("#template", Select).value)
        error = self.query_one("#error", Static)
        if not WORKER_NAME_RE.match(name):
            error.update("Name: letters, digits, '.', '_' or '-' (at most 64), starting with a letter or digit.")
            self.query_one("#name", Input).focus()
            return
        if name in self.taken:
            error.update(f"Name: a worker called {name} exists already.")
            self.query_one("#name", Input).focus()
            return
        if not Path(cwd).expanduser().is_dir():
            error.update(f"Working directory: {cwd} does not exist.")
            self.query_one("#cwd", Input).focus()
            return
        if kind == "shell" and not task:
            error.update("Command: a shell worker needs a command.")
            self.query_one("#task", TextArea).focus()
            return
        worktree = self.query_one("#worktree", Checkbox).value
        self.dismiss({"name": name, "kind": kind, "cwd": str(Path(cwd).expanduser().resolve()), "task": task, "template": template, "worktree": worktree})
