"""The demo's workspace as a small git repository: an importer with the bug the demo plan
fixes, so the plan's writers get worktrees of their own and `m` on the plan screen merges
them. Made when git is there and the workspace holds nothing else (otherwise the demo runs
in place, as before); when a demo starts afresh, its worktrees and branches
from the demo before go, and the repository goes back to its first commit (tag
`demo-start`), but only in a repository the demo made (a marker in its .git)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FILES = {
    ".gitignore": ".podium/\n.podium.previous/\n.second-look\n",
    "importer/__init__.py": "",
    "importer/read.py": "from .rows import split_rows\n\n\ndef read_rows(path):\n    with open(path, newline='') as f:\n        return split_rows(f.read())\n",
    "importer/rows.py": "def split_rows(text):\n    rows = text.split('\\n')[:-1]  # the last row is lost without a trailing newline\n    return rows\n",
    "tests/test_read.py": "from importer.rows import split_rows\n\n\ndef test_rows():\n    assert split_rows('a\\nb\\n') == ['a', 'b']\n",
}
MARKER = "podium-demo"  # in .git: this repository is the demo's own
IDENTITY = ("-c", "user.name=podium demo", "-c", "user.email=demo@podium.invalid")


def _git(ws: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(ws), *args], check=True, capture_output=True, text=True, timeout=30).stdout


def make_demo_repository(ws: Path) -> bool:
    """The repository, unless git is missing or the directory holds anything of its own (a
    demo given `-w` on a person's project runs there in place, and nothing of theirs is
    written); True when the demo's repository is there."""
    if shutil.which("git") is None:
        return False
    if (ws / ".git" / MARKER).exists():
        return True
    if any(not p.name.startswith(".podium") for p in ws.iterdir()):
        return False
    for rel, text in FILES.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text, "utf-8")
    _git(ws, "init", "-q", "-b", "main")
    _git(ws, "config", "user.name", "podium demo")  # the plan's writers commit as the demo
    _git(ws, "config", "user.email", "demo@podium.invalid")
    _git(ws, "add", "-A")
    _git(ws, *IDENTITY, "commit", "-q", "-m", "The importer, with its bug")
    _git(ws, "tag", "demo-start")
    (ws / ".git" / MARKER).write_text("podium's demo repository: reset to demo-start when a demo starts afresh\n")
    return True


def reset_demo_repository(ws: Path) -> None:
    """Back to `demo-start`: the worktrees and podium/* branches of the demo before removed.
    Only a repository the demo made (its marker in .git) is touched."""
    if shutil.which("git") is None or not (ws / ".git" / MARKER).exists():
        return
    tree = None
    for line in _git(ws, "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            tree = line[9:]
        elif line.startswith("branch refs/heads/podium/") and tree:
            _git(ws, "worktree", "remove", "--force", tree)
    _git(ws, "worktree", "prune")
    for branch in _git(ws, "for-each-ref", "--format=%(refname:short)", "refs/heads/podium/").split():
        _git(ws, "branch", "-D", branch)
    _git(ws, "checkout", "-q", "main")
    _git(ws, "reset", "-q", "--hard", "demo-start")
