"""Submodules in a writer's worktree. git makes a new worktree with its submodules' directories
empty, so a worktree of a repository with submodules gets them checked out (`git submodule
update --init --recursive`, local URLs allowed, with a time limit); when that cannot be done
the worker still starts, and the note says what git said and how to do it by hand. Before
a worktree is removed (which takes its submodules' own git directories with it), each
submodule is looked at for what only it holds: uncommitted changes, and commits that no
remote branch of the submodule has. Nothing here writes a file of podium's.
"""

from __future__ import annotations

from pathlib import Path

from .gitcmd import GitError, git

CHECKOUT_TIMEOUT = 120.0  # seconds for `submodule update` (it may clone)


async def paths(where: Path) -> list[str]:
    """The submodules the worktree's .gitmodules names (empty: none)."""
    if not (where / ".gitmodules").exists():
        return []
    code, out = await git(where, "config", "--file", ".gitmodules", "--get-regexp", r"^submodule\..*\.path$", ok=(0, 1))
    return [line.split(" ", 1)[1] for line in out.splitlines() if " " in line] if code == 0 else []


async def check_out(where: Path) -> str:
    """Check the worktree's submodules out; '' when there were none or all went well, else
    the note for the person (the worktree stays; the worker starts without them)."""
    subs = await paths(where)
    if not subs:
        return ""
    try:
        await git(where, "-c", "protocol.file.allow=always", "submodule", "update", "--init", "--recursive", timeout=CHECKOUT_TIMEOUT)
    except GitError as exc:
        return f"its submodules ({', '.join(subs)}) are not checked out in the worktree ({exc}): `git submodule update --init --recursive` there does it"
    return ""


async def held(where: Path) -> list[str]:
    """What the worktree's submodules alone hold, in words (empty: nothing would be lost)."""
    out: list[str] = []
    for sub in await paths(where):
        path = where / sub
        if not (path / ".git").exists():
            continue  # never checked out: nothing of its own
        try:
            _, dirty = await git(path, "status", "--porcelain")
            _, local = await git(path, "rev-list", "--count", "HEAD", "--not", "--remotes")
        except GitError as exc:
            out.append(f"submodule {sub} could not be read ({exc})")
            continue
        if dirty.strip():
            out.append(f"{len(dirty.strip().splitlines())} uncommitted change(s) in submodule {sub}")
        if int(local.strip() or 0):
            out.append(f"{local.strip()} commit(s) in submodule {sub} that none of its remote branches has")
    return out
