"""The demo session's workers: real processes, shipped in the package, that behave like
the workers podium is for (no API key, no network). `demo_workers()` lists them; the
demo's session (its workspace, starting it) is `session.py`. Kept light: every demo
worker imports this package first."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class DemoWorker:
    name: str
    kind: str
    argv: list[str]
    goal: str


def demo_workers(last_message_dir: str) -> list[DemoWorker]:
    py = sys.executable
    shell = os.environ.get("SHELL") if os.environ.get("SHELL", "").endswith(("bash", "zsh", "sh")) else "/bin/bash"
    return [
        DemoWorker(
            "agent",
            "codex",
            [py, "-m", "podium.sessions.demo.agent", "exec", "--json", "-o", os.path.join(last_message_dir, "last-message.md"), "count the python files"],
            "an agent-like worker streaming codex-style JSONL",
        ),
        DemoWorker("approval", "shell", [py, "-m", "podium.sessions.demo.approval"], "stops at a [y/N] approval prompt"),
        DemoWorker("build", "shell", [py, "-m", "podium.sessions.demo.build"], "floods a build log"),
        DemoWorker("shell", "shell", [shell or "/bin/bash", "-i"], "an interactive shell"),
    ]
