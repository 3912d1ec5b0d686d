"""Real git repositories for the worktree tests: one made with the given files and a first
commit, a command run in one, and a worker waited for until it has ended."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import eventually


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def init_repo(ws: Path, files: dict[str, str]) -> Path:
    """`ws` as a repository on branch main with `files` (and `.podium/` ignored) committed."""
    sh(ws, "git", "init", "-q", "-b", "main")
    sh(ws, "git", "config", "user.email", "t@example.com")
    sh(ws, "git", "config", "user.name", "t")
    for rel, text in {".gitignore": ".podium/\n", **files}.items():
        (ws / rel).write_text(text)
    sh(ws, "git", "add", "-A")
    sh(ws, "git", "commit", "-q", "-m", "start")
    return ws


async def done(client, name: str) -> dict:
    """Worker `name` once it has ended (its `ls` entry)."""

    async def look():
        w = {w["name"]: w for w in await client.request("ls")}[name]
        return w if w["state"] not in ("starting", "running") else None

    return await eventually(look, what=f"{name} finished")
