"""Worktrees: a writer of its own in a git worktree. `podium spawn NAME --worktree` makes
`git worktree add -b podium/NAME DIR BASE` outside the repository's tree (by default
`<repo>/../.podium-worktrees/<repo>/NAME`), copies what `.worktreeinclude` lists (files
the repository ignores but a worker needs: `.env`, local config), checks its submodules out
(submodules.py), runs the optional setup command, and starts the worker there. A plan's
writers get theirs through `make` (task_places.py decides which). Merging checks first, without touching any working
tree (`git merge-tree`), and names the conflicting files; then merges into the branch the
main worktree has checked out (fast-forward, merge commit or squash) with a message drawn
from the worker's final report. Discarding removes the worktree and its branch, and
refuses (the caller asks the person) while it holds unmerged commits or uncommitted
changes, its submodules' included. Everything here is git itself; nothing is ever deleted without that question.

This room is the one writer of `.podium/worktrees.toml` (worktree, branch, base, merge
state per worker; settings: `dir`, `setup`, `teardown` under [settings], the person's to
edit). It starts workers through the request table like any client.
"""

from __future__ import annotations

import asyncio
import fnmatch
import shutil
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from . import submodules
from .blackboard import (
    BlackboardError,
    DiskThread,
    Journal,
    read_toml_or_empty,
    write_toml,
)
from .fsutil import now_iso
from .gitcmd import GitError, git
from .protocol import WorktreeDiscard, WorktreeMerge, WorktreeSpawn
from .requests import RequestError, RequestTable
from .states import ACTIVE

BRANCH_PREFIX = "podium/"
HOWS = ("ff", "merge", "squash")


class NotARepository(RequestError):
    pass


class Worktrees:
    def __init__(self, root: Path, workspace: Path, journal: Journal, disk: DiskThread, call: Callable[..., Awaitable[Any]], workers: Mapping[str, Any], announce: Callable[[str], None] = lambda name: None):
        self.path = root / "worktrees.toml"
        self.workspace = workspace
        self.journal = journal
        self.disk = disk
        self._call = call
        self.workers = workers
        self.announce = announce  # a worker's worktree changed (merged, removed): its row says so
        self.records: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, Any] = {}
        self.plan_users: Callable[[str], list[str]] = lambda name: []  # a plan's open tasks that write in it (plans.py)
        self._lock = asyncio.Lock()  # one make, merge or discard at a time: git's own refs and index are shared

    def register(self, table: RequestTable) -> None:
        table.add("worktree_spawn", self.op_spawn, WorktreeSpawn)
        table.add("worktree_merge", self.op_merge, WorktreeMerge)
        table.add("worktree_discard", self.op_discard, WorktreeDiscard)

    async def start(self) -> None:
        """Read what an earlier supervisor recorded, and say which worktrees outlived their workers."""
        try:
            data = await self.disk.run(read_toml_or_empty, self.path)
        except (OSError, BlackboardError) as exc:
            self.journal.write("worktree", None, problem=f"{exc}; the file is kept as it is, and not written over")
            self.path = self.path.with_name("worktrees.new.toml")
            data = {}
        self.settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
        self.records = {k: v for k, v in (data.get("worktree") or {}).items() if isinstance(v, dict) and "path" in v}
        left = [n for n, r in self.records.items() if not r.get("removed") and not any(w in self.workers for w in (n, *r.get("workers", ())))]
        if left:
            where = ", ".join(f"{n} ({self.records[n]['path']})" for n in left)
            self.journal.write("worktree", None, left_behind=left)
            await self._call("worktrees", "escalate", question=f"Worktrees left behind by workers that no longer exist: {where}. `podium discard NAME` removes one (it asks first when it holds work).", tier="notify", options=[{"key": "y", "label": "seen"}])

    def info(self, name: str) -> dict[str, Any] | None:
        """The worktree a worker works in (its own, or one it was attached to)."""
        rec = self.records.get(name)
        if rec is None or rec.get("removed"):
            rec = next((r for r in self.records.values() if name in r.get("workers", ()) and not r.get("removed")), rec)
        return rec

    def record(self, name: str) -> dict[str, Any] | None:
        """The worktree called `name` (no worker aliases)."""
        return self.records.get(name)

    async def _save(self) -> None:
        await self.disk.run(write_toml, self.path, {"settings": self.settings, "worktree": self.records})

    # -- a writer of its own ------------------------------------------------------------------------
    async def op_spawn(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        name = str(req["name"])
        if name in self.workers:
            raise RequestError(f"worker {name} already exists")
        try:
            record = await self.make(name, req.get("base"), self.workspace, client.kind)
        except NotARepository as exc:
            worker = await self._call(client.kind, "spawn", name=name, argv=req["argv"], kind=req.get("kind"), cwd=str(self.workspace), env=req.get("env"))
            return {"worker": worker, "note": f"{exc}: {name} runs in place, without a worktree"}
        worker = await self._call(client.kind, "spawn", name=name, argv=req["argv"], kind=req.get("kind"), cwd=record["path"], env=req.get("env"))
        note = "; ".join(n for n in (record.get("note", ""), "" if record["target"] else f"{record['repo']} has a detached HEAD: podium merge needs a branch checked out there") if n)
        return {"worker": worker, "worktree": record, "note": note}

    async def make(self, name: str, base: str | None, inside: Path, by: str, free: bool = False) -> dict[str, Any]:
        """A worktree `name` on branch podium/NAME from `base` (default: HEAD) of the
        repository `inside` is in; its record (`name` in it). NotARepository when there is
        none. `free`: when that name's branch or directory is taken, NAME-2, NAME-3, …"""
        async with self._lock:
            try:
                return await self._make(name, base, inside, by, free)
            except OSError as exc:
                raise RequestError(f"could not make the worktree {name}: {exc}") from None

    async def _make(self, name: str, base: str | None, inside: Path, by: str, free: bool) -> dict[str, Any]:
        try:
            _, top = await git(inside, "rev-parse", "--show-toplevel")
        except GitError:
            self.journal.write("worktree", name, note=f"{inside} is not a git repository")
            raise NotARepository(f"{inside} is not a git repository") from None
        repo = Path(top.strip())
        base = str(base or "HEAD")
        try:
            _, commit = await git(repo, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
        except GitError:
            raise RequestError(f"base {base!r} does not exist in {repo} (a branch, tag or commit)") from None
        _, head = await git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1))
        target = head.strip()  # what merging goes into: the main worktree's branch ("": a detached HEAD)
        first, n = name, 1
        while True:
            branch = BRANCH_PREFIX + name
            code, _ = await git(repo, "show-ref", "--verify", "--quiet", f"refs/heads/{branch}", ok=(0, 1))
            where = repo / Path(self.settings.get("dir") or repo.parent / ".podium-worktrees" / repo.name).expanduser() / name  # (a relative dir: from the repository)
            taken = code == 0 or where.exists() or (name in self.records and not self.records[name].get("removed"))
            if not (taken and free):
                break
            n += 1
            name = f"{first}-{n}"
        if code == 0:
            raise RequestError(f"branch {branch} already exists in {repo} (an earlier worker's?): `podium discard {name}` or another name")
        if where.exists():
            raise RequestError(f"{where} already exists: remove it, or set [settings] dir in {self.path}")
        where.parent.mkdir(parents=True, exist_ok=True)
        await git(repo, "worktree", "add", "-b", branch, str(where), commit.strip())
        # Recorded at once: a supervisor killed while the worktree is being filled leaves a
        # worktree the next one points out (left behind), not one nobody knows of.
        record = {"name": name, "path": str(where), "branch": branch, "base": base, "base_commit": commit.strip(), "target": target, "repo": str(repo), "created": now_iso(), "copied": []}
        self.records[name] = record
        await self._save()
        record["copied"] = await self.disk.run(_copy_included, repo, where)
        if note := await submodules.check_out(where):
            record["note"] = note
        setup = self.settings.get("setup")
        if setup:
            proc = await asyncio.create_subprocess_shell(str(setup), cwd=str(where), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await proc.communicate()
            if proc.returncode:
                await git(repo, "worktree", "remove", "--force", str(where))
                await git(repo, "branch", "-D", branch)
                del self.records[name]
                await self._save()
                tail = out.decode(errors="replace").strip().splitlines()[-3:]
                raise RequestError(f"the setup command {setup!r} exited {proc.returncode} in {where} (the worktree is removed; nothing was in it): {' / '.join(tail)}")
        await self._save()
        self.journal.write("worktree", name, action="created", path=str(where), branch=branch, base=base, copied=record["copied"], via=by, **({"note": record["note"]} if "note" in record else {}))
        return record

    async def attach(self, worker: str, name: str) -> None:
        """`worker` works in worktree `name` (a plan task's later runs, its verify command):
        its diff, merge and discard are that worktree's."""
        rec = self.records.get(name)
        if rec is not None and worker != name and worker not in rec.setdefault("workers", []):
            rec["workers"].append(worker)
            await self._save()

    async def commit_pending(self, name: str, message: str, by: str) -> list[str]:
        """Commit what was left uncommitted in worktree `name`, with `message`; the files
        ([] when nothing was pending, or git refused: then it stays uncommitted, and merging
        says so). An agent's sandbox may keep it from committing itself: codex's
        workspace-write keeps the repository's git directory read-only."""
        rec = self.records.get(name)
        if rec is None or rec.get("removed") or not Path(rec["path"]).exists():
            return []
        where = Path(rec["path"])
        async with self._lock:
            try:
                _, dirty = await git(where, "status", "--porcelain")
                if not dirty.strip():
                    return []
                await git(where, "add", "-A")
                _, email = await git(where, "config", "user.email", ok=(0, 1))
                who = [] if email.strip() else ["-c", "user.name=podium", "-c", "user.email=podium@localhost"]
                await git(where, *who, "commit", "-q", "-m", message)
            except GitError as exc:
                self.journal.write("worktree", name, action="commit", problem=str(exc), via=by)
                return []
        files = [line[3:] for line in dirty.splitlines() if line.strip()]
        self.journal.write("worktree", name, action="committed", files=files, via=by)
        return files

    # -- merging ------------------------------------------------------------------------------------
    async def op_merge(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        rec = self._record(req["name"], gone_ok=bool(req.get("check")))
        if rec.get("removed"):  # a check of one merged and removed since (a plan's merge queue again)
            return {"name": req["name"], "worker": self._workers_of(rec)[-1], "branch": rec["branch"], "target": (rec.get("merged") or {}).get("into") or rec.get("target", ""), "commits": 0, "clean": True, "conflicts": [], "uncommitted": [], "busy": [], "removed": rec["removed"]}
        how = str(req.get("how") or self.settings.get("merge") or "merge")
        if how not in HOWS:
            raise RequestError(f"how must be one of {', '.join(HOWS)}, not {how!r}")
        if req.get("check"):
            return await self._check(req["name"], rec)
        if req.get("commit"):  # the person said yes to committing what it left uncommitted
            await self.commit_pending(self._workers_of(rec)[0], f"{rec['branch']}: work left uncommitted, committed by podium before merging", client.kind)
        async with self._lock:
            check = await self._check(req["name"], rec)
            return await self._merge(client, req["name"], rec, check, how)

    async def _check(self, name: str, rec: dict[str, Any]) -> dict[str, Any]:
        """Whether rec's branch merges cleanly into the main worktree's branch (no working
        tree touched), what it would bring, and what stands in the way."""
        repo, branch = Path(rec["repo"]), rec["branch"]
        if not Path(rec["path"]).exists():
            raise RequestError(f"{rec['path']} was removed by hand: its branch {branch} is kept; `git worktree prune` forgets the worktree")
        _, head = await git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1))
        target = head.strip()
        if not target:
            raise RequestError(f"{repo} has a detached HEAD: check out the branch to merge into first; nothing was merged")
        _, dirty_here = await git(Path(rec["path"]), "status", "--porcelain")
        squashed = (rec.get("merged") or {}).get("tip") if (rec.get("merged") or {}).get("how") == "squash" else None
        ahead = int((await git(repo, "rev-list", "--count", f"{squashed or target}..{branch}"))[1].strip() or 0)  # (a squash left no ancestry: what came since)
        code, out = await git(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", target, branch, ok=(0, 1))
        conflicts = out.strip().splitlines()[1:] if code == 1 else []
        check = {"name": name, "worker": self._workers_of(rec)[-1], "branch": branch, "target": target, "commits": ahead, "clean": code == 0, "conflicts": conflicts, "uncommitted": dirty_here.strip().splitlines(), "busy": self._users(rec)}
        self.journal.write("worktree", name, action="check", **{k: v for k, v in check.items() if k not in ("name", "worker")})
        return check

    async def _merge(self, client: Any, name: str, rec: dict[str, Any], check: dict[str, Any], how: str) -> dict[str, Any]:
        repo, branch, target = Path(rec["repo"]), rec["branch"], check["target"]
        if check["busy"]:
            raise RequestError(f"{', '.join(check['busy'])} still work(s) in {rec['path']}: merge once they have ended; nothing was merged")
        if check["conflicts"]:
            raise RequestError(f"{branch} does not merge cleanly into {target}: conflicts in {', '.join(check['conflicts'])}; nothing was merged (send it back: rebase onto {target} and resolve)")
        if check["uncommitted"]:
            raise RequestError(f"{rec['path']} has {len(check['uncommitted'])} uncommitted change(s) that a merge would leave behind: commit them there first; nothing was merged")
        if not check["commits"]:
            raise RequestError(f"{branch} has no commits that {target} lacks: nothing to merge")
        _, dirty_main = await git(repo, "status", "--porcelain", "--untracked-files=no")
        if dirty_main.strip():
            raise RequestError(f"{repo} (the main working tree) has uncommitted changes: commit or stash them first; nothing was merged")
        message = await self._message(check["worker"], branch, target)
        _, tip = await git(repo, "rev-parse", branch)
        try:
            if how == "ff":
                await git(repo, "merge", "--ff-only", branch)
            elif how == "merge":
                await git(repo, "merge", "--no-ff", "-m", message, branch)
            else:
                await git(repo, "merge", "--squash", branch)
                await git(repo, "commit", "-m", message)
        except GitError as exc:  # (a hook of the repository's refused it): the main tree as it was
            await git(repo, "reset", "-q", "--merge", ok=(0, 1, 128))
            raise RequestError(f"the merge of {branch} into {target} failed and was undone, nothing merged: {exc}") from None
        _, commit = await git(repo, "rev-parse", "HEAD")
        rec["merged"] = {"at": now_iso(), "how": how, "into": target, "commit": commit.strip(), "tip": tip.strip(), "by": client.kind}
        await self._save()
        self.journal.write("worktree", name, action="merged", how=how, into=target, commit=commit.strip(), via=client.kind)
        for w in self._workers_of(rec):
            self.announce(w)
        return {**check, "merged": rec["merged"]}

    async def _message(self, name: str, branch: str, target: str) -> str:
        """The commit message: the worker's report's first line and summary."""
        try:
            text = str((await self._call("worktrees", "last", worker=name)).get("text") or "")
        except RequestError:
            text = ""
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        head = lines[0].removeprefix("COMPLETED:").strip() if lines else f"merge {branch}"
        body = "\n".join(lines[1:12])
        return f"{head[:72]}\n\n{body}\n\nMerged from {branch} into {target} by podium (worker {name}).".strip()

    # -- discarding -----------------------------------------------------------------------------------
    async def op_discard(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        name = str(req["name"])
        rec = self._record(name)
        async with self._lock:
            return await self._discard(client, name, rec, bool(req.get("force")))

    async def _discard(self, client: Any, name: str, rec: dict[str, Any], force: bool) -> dict[str, Any]:
        repo, branch, where = Path(rec["repo"]), rec["branch"], Path(rec["path"])
        if busy := self._users(rec):
            raise RequestError(f"{', '.join(busy)} still work(s) in {where}: stop them first (or skip the plan's tasks); nothing was removed")
        held = []
        if where.exists():
            _, dirty = await git(where, "status", "--porcelain")
            if dirty.strip():
                held.append(f"{len(dirty.strip().splitlines())} uncommitted change(s) in {where}")
            held += await submodules.held(where)
        merged = rec.get("merged") or {}
        if merged.get("how") == "squash":  # its commits are not in the target: what came after the squash
            code, lost = await git(repo, "rev-list", "--count", f"{merged.get('tip') or branch}..{branch}", ok=(0, 128))
        else:  # commits no other branch or remote has
            code, lost = await git(repo, "rev-list", "--count", branch, "--not", f"--exclude={branch}", "--branches", "--remotes", ok=(0, 128))
        if code == 0 and int(lost.strip() or 0):
            held.append(f"{lost.strip()} commit(s) on {branch} that no other branch has")
        if held and not force:
            raise RequestError(f"{name}'s worktree holds work: {'; '.join(held)}. Discard it anyway? (podium discard {name} --yes)")
        teardown = self.settings.get("teardown")
        if teardown and where.exists():
            proc = await asyncio.create_subprocess_shell(str(teardown), cwd=str(where), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            await proc.wait()
        if where.exists():
            await git(repo, "worktree", "remove", "--force", str(where))
        else:
            await git(repo, "worktree", "prune")
        await git(repo, "branch", "-D", branch, ok=(0, 1))
        rec["removed"] = now_iso()
        await self._save()
        self.journal.write("worktree", name, action="discarded", lost=held, via=client.kind)
        for w in self._workers_of(rec):
            self.announce(w)
        return {"name": name, "removed": str(where), "branch": branch, "lost": held}

    def _record(self, name: Any, gone_ok: bool = False) -> dict[str, Any]:
        rec = self.info(str(name))
        if rec is None or rec.get("removed") and not gone_ok:
            known = ", ".join(n for n, r in self.records.items() if not r.get("removed")) or "none"
            raise RequestError(f"worker {name!r} has no worktree (worktrees: {known})")
        return rec

    def _users(self, rec: dict[str, Any]) -> list[str]:
        """Who still works in it: workers whose directory is in it, and a plan's tasks that
        write in it and have not ended (a queued round, a retry waiting)."""
        where = Path(rec["path"])
        busy = [w.name for w in self.workers.values() if w.state in ACTIVE and Path(w.cwd).is_relative_to(where)]
        return busy + [f"task {t}" for t in self.plan_users(self._workers_of(rec)[0]) if t not in busy]

    def _workers_of(self, rec: dict[str, Any]) -> list[str]:
        """Who worked in it, first to last (its own name first)."""
        key = next(k for k, r in self.records.items() if r is rec)
        return [key, *rec.get("workers", ())]


def _copy_included(repo: Path, where: Path) -> list[str]:
    """What `.worktreeinclude` lists (one path or glob a line; # comments), copied from
    the repository into the new worktree when it exists there and not in the worktree."""
    listing = repo / ".worktreeinclude"
    if not listing.exists():
        return []
    copied = []
    patterns = [line.strip() for line in listing.read_text("utf-8", errors="replace").splitlines() if line.strip() and not line.startswith("#")]
    for pattern in patterns:
        matches = [p for p in repo.glob(pattern) if ".git" not in p.relative_to(repo).parts] if any(c in pattern for c in "*?[") else [repo / pattern]
        for source in matches:
            rel = source.relative_to(repo)
            target = where / rel
            if not source.exists() or target.exists() or not fnmatch.fnmatch(str(rel), pattern.rstrip("/") if "*" in pattern else str(rel)):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, symlinks=True)
            else:
                shutil.copy2(source, target)
            copied.append(str(rel))
    return copied
