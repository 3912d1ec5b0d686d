"""Review: a writer's changes against its base, and the person's comments on them sent back
to the same worker as one follow-up prompt. The diff is git's own (`git diff BASE` in the
worktree: committed and uncommitted changes together, untracked files as new ones), split
into files and hunks with their added and removed counts; it is read anew each time, so a
view that asks again sees the worker's latest writes. A comment keeps the lines it was
made on; when those lines are no longer in the diff the comment is shown as stale. Sending
resumes the worker's conversation with every open comment (file, line, the quoted code,
the words), and marks them sent.

This room is the one writer of `.podium/reviews/<worker>.toml` (the comments). It reads
worktrees through `worktree_of` and resumes workers through the request table.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .blackboard import DiskThread, Journal, write_toml
from .fsutil import now_iso
from .gitcmd import git
from .protocol import ReviewComment, ReviewDiff, ReviewSend
from .requests import RequestError, RequestTable

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@.*$", re.M)
MAX_PATCH = 4 * 1024 * 1024  # bytes of diff sent to a view; the rest is named, not shown


def parse_patch(patch: str) -> list[dict[str, Any]]:
    """git's unified diff as files: {path, status, added, removed, hunks: [{header,
    new_start, lines}]} (binary files: no hunks, `binary` true)."""
    files: list[dict[str, Any]] = []
    for chunk in re.split(r"(?m)^diff --git ", patch)[1:]:
        head, _, body = chunk.partition("\n@@")
        m = re.search(r"^\+\+\+ (?:b/)?(.+)$", head, re.M) or re.search(r"^--- (?:a/)?(.+)$", head, re.M)
        first = chunk.split("\n", 1)[0]
        path = m.group(1) if m and m.group(1) != "/dev/null" else first.split(" b/", 1)[-1]
        if m and m.group(1) == "/dev/null":
            path = re.search(r"^--- (?:a/)?(.+)$", head, re.M).group(1)  # type: ignore[union-attr]
        status = "added" if "new file mode" in head or "--- /dev/null" in head else "deleted" if "deleted file mode" in head else "modified"
        entry: dict[str, Any] = {"path": path.strip(), "status": status, "added": 0, "removed": 0, "hunks": [], "binary": "Binary files" in head}
        for piece in ("@@" + body).split("\n@@") if body else ():  # (a hunk's own lines start with ' ', '+', '-' or '\\')
            header, _, rest = piece.partition("\n")
            hm = HUNK.match(header if header.startswith("@@") else "@@" + header)
            if hm is None:
                continue
            lines = rest.rstrip("\n").split("\n") if rest.strip("\n") else []
            entry["hunks"].append({"header": hm.group(0), "new_start": int(hm.group(3)), "lines": lines})
            entry["added"] += sum(1 for line in lines if line[:1] == "+")
            entry["removed"] += sum(1 for line in lines if line[:1] == "-")
        files.append(entry)
    return files


class Review:
    def __init__(self, root: Path, journal: Journal, disk: DiskThread, call: Callable[..., Awaitable[Any]], worktree_of: Callable[[str], dict[str, Any] | None]):
        self.dir = root / "reviews"
        self.journal = journal
        self.disk = disk
        self._call = call
        self.worktree_of = worktree_of

    def register(self, table: RequestTable) -> None:
        table.add("review_diff", self.op_diff, ReviewDiff)
        table.add("review_comment", self.op_comment, ReviewComment)
        table.add("review_send", self.op_send, ReviewSend)

    def _worktree(self, name: str) -> dict[str, Any]:
        rec = self.worktree_of(name)
        if rec is None or rec.get("removed"):
            raise RequestError(f"worker {name!r} has no worktree to review (podium spawn NAME --worktree makes one)")
        if not Path(rec["path"]).exists():
            raise RequestError(f"{rec['path']} was removed by hand: nothing to review (its branch {rec['branch']} is kept)")
        return rec

    async def patch(self, name: str) -> tuple[dict[str, Any], str]:
        """The worktree's record and its diff against the base, committed, uncommitted and
        untracked together (git's own unified diff)."""
        rec = self._worktree(name)
        where = Path(rec["path"])
        _, patch = await git(where, "diff", "--no-color", "--no-ext-diff", "-M", rec["base_commit"])
        _, untracked = await git(where, "ls-files", "--others", "--exclude-standard", "-z")
        for path in [p for p in untracked.split("\0") if p]:
            _, new = await git(where, "diff", "--no-color", "--no-index", "--", "/dev/null", path, ok=(0, 1))
            patch += new
        return rec, patch

    async def op_diff(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """The diff as files and hunks with the comments on it; only `{unchanged, digest}`
        when the asker's `since` is the digest of the same diff and comments (a live view
        asks every few seconds, and a large diff costs more to send than to compare)."""
        name = str(req["worker"])
        rec, patch = await self.patch(name)
        comments = await self._comments(name)
        digest = hashlib.blake2b((patch + repr(comments)).encode(errors="replace"), digest_size=16).hexdigest()
        if req.get("since") == digest:
            return {"worker": name, "unchanged": True, "digest": digest}
        cut = len(patch.encode()) > MAX_PATCH
        files = parse_patch(patch[:MAX_PATCH] if cut else patch)
        return {"worker": name, "base": rec["base"], "branch": rec["branch"], "path": rec["path"], "files": files, "cut": cut, "at": now_iso(), "digest": digest, "merged": rec.get("merged"), "comments": self._with_staleness(comments, files)}

    # -- comments -------------------------------------------------------------------------------------
    async def _comments(self, name: str) -> list[dict[str, Any]]:
        path = self.dir / f"{name}.toml"
        try:
            data = await self.disk.run(lambda: tomllib.loads(path.read_text("utf-8")))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise RequestError(f"{path}: {exc}; the comments there are kept as they are") from None
        return [c for c in data.get("comment") or [] if isinstance(c, dict)]

    @staticmethod
    def _with_staleness(comments: list[dict[str, Any]], files: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A comment whose quoted lines are no longer in its file's diff is stale."""
        now = {f["path"]: "\n".join(line[1:] for h in f["hunks"] for line in h["lines"] if not line.startswith("-")) for f in files}
        return [{**c, "stale": bool(c.get("code")) and str(c.get("code")) not in now.get(str(c.get("file")), "")} for c in comments]

    async def op_comment(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        name = str(req["worker"])
        self._worktree(name)
        text = str(req["text"]).strip()
        if not text:
            raise RequestError("an empty comment: say what should change")
        comments = await self._comments(name)
        comment = {"file": str(req["file"]), "line": int(req["line"]), "code": str(req.get("code") or "")[:2000], "text": text[:4000], "created": now_iso(), "by": client.kind}
        comments.append(comment)
        await self.disk.run(write_toml, self.dir / f"{name}.toml", {"comment": comments})
        self.journal.write("review", name, action="comment", file=comment["file"], line=comment["line"], via=client.kind)
        return {"comments": len([c for c in comments if not c.get("sent")])}

    async def op_send(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        name = str(req["worker"])
        rec, patch = await self.patch(name)
        comments = self._with_staleness(await self._comments(name), parse_patch(patch[:MAX_PATCH]))
        open_ = [c for c in comments if not c.get("sent")]
        if not open_:
            raise RequestError(f"no open comments on {name}'s changes (c in the diff view adds one)")
        prompt = follow_up(open_, rec["branch"])
        writer = (rec.get("workers") or [name])[-1]  # (a plan's worktree: its latest round's conversation)
        await self._call(client.kind, "resume", worker=writer, prompt=prompt, env=req.get("env"))
        at = now_iso()
        for c in comments:
            c.pop("stale", None)
            if not c.get("sent"):
                c["sent"] = at
        await self.disk.run(write_toml, self.dir / f"{name}.toml", {"comment": comments})
        self.journal.write("review", name, action="sent", comments=len(open_), via=client.kind)
        return {"sent": len(open_), "prompt": prompt}


def follow_up(comments: list[dict[str, Any]], branch: str) -> str:
    """One prompt with every comment: file, line, the quoted code and the words."""
    parts = [f"Review comments on your changes (branch {branch}). Address each one, commit, and end with your report.", ""]
    for n, c in enumerate(comments, 1):
        stale = " (the code has changed since this comment was made)" if c.get("stale") else ""
        parts.append(f"{n}. {c['file']}:{c['line']}{stale}")
        if c.get("code"):
            parts += ["```", str(c["code"]).rstrip("\n"), "```"]
        parts += [str(c["text"]), ""]
    return "\n".join(parts).rstrip() + "\n"
