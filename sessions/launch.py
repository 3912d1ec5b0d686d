"""What a new worker runs: its command (for each kind of worker, with the worker preamble
of the orchestration guides a template puts before the task) and its environment."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path


def shell_argv(cmd: str) -> list[str]:
    """A command string runs the way codex runs it: through the user's shell."""
    shell = os.environ.get("SHELL") or ""
    if not shell or not os.access(shell, os.X_OK) or Path(shell).name not in ("bash", "zsh", "sh", "dash", "fish"):
        shell = shutil.which("bash") or "/bin/sh"
    return [shell, "-c", cmd]


def worker_env(env: Mapping[str, str] | None) -> dict[str, str]:
    merged = dict(os.environ)
    # A worker inherits none of podium's own test or terminal plumbing.
    for key in ("TMUX", "TMUX_PANE", "TEXTUAL", "COLUMNS", "LINES"):
        merged.pop(key, None)
    merged["TERM"] = "xterm-256color"
    merged.setdefault("LANG", "C.UTF-8")
    if env:
        merged.update(env)
    return merged


# The five kinds the new-worker dialog offers: (label, supervisor kind).
KINDS = {
    "shell": ("shell command", "shell"),
    "codex-exec": ("codex exec", "codex"),
    "codex": ("codex (interactive)", "codex"),
    "claude-p": ("claude -p", "claude"),
    "claude": ("claude (interactive)", "claude"),
}

_REPORT = (
    "When you finish, report back with evidence. Start your final message with one line: "
    "COMPLETED: … or FAILED: … or BLOCKED: …, then:\n"
    "Status: Done | Blocked | Needs review\nSummary:\nFiles or artifacts changed:\n"
    "Verification: (commands you ran and what they showed)\nOpen issues:\nRecommended next action:\n"
)

TEMPLATES = {
    "none": "",
    "scout": (
        "CONTEXT: WORKER (scout). You are one worker of several, directed by an orchestrator. "
        "Do only the assigned task: find and read what is asked about; change nothing. "
        "Quote file paths and line numbers for every claim. " + _REPORT
    ),
    "reviewer": (
        "CONTEXT: WORKER (reviewer). You are one worker of several, directed by an orchestrator. "
        "Do only the assigned task: review the named change for correctness, failure modes and "
        "tests; do not rewrite it. Rank findings by severity, each with the evidence. " + _REPORT
    ),
    "researcher": (
        "CONTEXT: WORKER (researcher). You are one worker of several, directed by an orchestrator. "
        "Do only the assigned task: answer the question with sources you actually read; say what "
        "you could not verify. " + _REPORT
    ),
    "implementer": (
        "CONTEXT: WORKER (implementer). You are one worker of several, directed by an orchestrator. "
        "Do only the assigned task, in the smallest change that does it; touch no unrelated files; "
        "run the tests that cover what you changed. " + _REPORT
    ),
    "verifier": (
        "CONTEXT: WORKER (verifier). You are one worker of several, directed by an orchestrator. "
        "Do only the assigned task: check the claim by running it; trust nothing you did not see "
        "pass. " + _REPORT
    ),
}


def with_template(template: str, task: str) -> str:
    preamble = TEMPLATES.get(template, "")
    return f"{preamble}\n\nTASK: {task}" if preamble else task


def build_command(kind: str, text: str, template: str = "none") -> tuple[list[str], str]:
    """argv and supervisor kind for a worker of `kind` given a command (shell) or a prompt."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    agent_kind = KINDS[kind][1]
    if kind == "shell":
        return shell_argv(with_template(template, text) if template != "none" else text), agent_kind
    prompt = with_template(template, text)
    if kind == "codex-exec":
        return ["codex", "exec", "--skip-git-repo-check", prompt], agent_kind
    if kind == "codex":
        return ["codex", "--no-daemon", prompt] if prompt else ["codex", "--no-daemon"], agent_kind
    if kind == "claude-p":
        return ["claude", "-p", prompt, "--output-format", "stream-json", "--verbose"], agent_kind
    return (["claude", prompt] if prompt else ["claude"]), agent_kind
