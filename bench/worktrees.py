#!/usr/bin/env python
"""Benchmark: what podium adds over git itself for a writer's worktree, through the real
processes (a supervisor, a client on its socket), each beside the bare git commands that
do the same work, in the same run, alternated so load that drifts falls on both:

  make     `worktree_spawn` of a writer running `true`     vs  `git worktree add -b` + `git worktree remove` … (add only is timed)
  diff     `review_diff` of a writer with a large change   vs  `git diff BASE`, `git ls-files --others` and a
                                                                `git diff --no-index` per new file, in its worktree
  again    `review_diff` asked again with the digest it had (a live view's look while nothing changed)
  check    `worktree_merge --check`                        vs  `git merge-tree --write-tree` + `git rev-list --count` + `git status`

    .venv/bin/python bench/worktrees.py               # 30 rounds, a 20 000-line change
    .venv/bin/python bench/worktrees.py --rounds 10 --lines 5000

The repository is made here (200 files of 100 lines); the writer rewrites a tenth of every
line of every file. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from supervisor import clean_up, new_workspace, pct, podium_down, podium_up


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def make_repo(ws: Path, files: int, lines: int) -> None:
    git(ws, "init", "-q", "-b", "main")
    git(ws, "config", "user.email", "bench@example.com")
    git(ws, "config", "user.name", "bench")
    (ws / ".gitignore").write_text(".podium/\n")
    for f in range(files):
        (ws / f"m{f:03}.py").write_text("".join(f"value_{f}_{i} = {i}\n" for i in range(lines)))
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "start")


def rewrite(files: int, lines: int) -> str:
    """The writer's command: every tenth line of every file changed, committed, and one file left uncommitted."""
    return f"python3 -c \"import pathlib\nfor f in range({files}):\n  p = pathlib.Path(f'm{{f:03}}.py'); t = p.read_text().splitlines(True)\n  for i in range(0, len(t), 10): t[i] = t[i].replace('=', '= 1 +')\n  p.write_text(''.join(t))\" && git commit -qam rewrite && echo new > new.txt"


async def timed(make) -> float:
    started = time.perf_counter()
    await make()
    return (time.perf_counter() - started) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--lines", type=int, default=20_000, help="lines changed by the writer (over 200 files)")
    args = parser.parse_args()
    files, per_file = 200, max(10, args.lines * 10 // 200)
    ws = new_workspace("worktrees") / "repo"
    ws.mkdir()
    make_repo(ws, files, per_file)
    client = None
    times: dict[str, list[float]] = {k: [] for k in ("make podium", "make git", "diff podium", "diff git", "again podium", "check podium", "check git")}
    loop = asyncio.get_running_loop()
    try:
        client, _ = await podium_up(ws)
        out = await client.request("worktree_spawn", name="big", argv=["sh", "-c", rewrite(files, per_file)])
        tree = Path(out["worktree"]["path"])
        while (await client.request("ls"))[0]["state"] in ("starting", "running"):
            await asyncio.sleep(0.05)
        changed = sum(f["added"] for f in (await client.request("review_diff", worker="big"))["files"])
        if changed < args.lines // 2:
            raise SystemExit(f"the writer changed {changed} lines, not about {args.lines}")
        base = out["worktree"]["base_commit"]
        digest = (await client.request("review_diff", worker="big"))["digest"]

        async def podium_make(n: int) -> None:
            await client.request("worktree_spawn", name=f"w{n}", argv=["true"])

        def git_make(n: int) -> None:
            git(ws, "worktree", "add", "-q", "-b", f"bare/w{n}", str(ws.parent / f"bare-w{n}"), "HEAD")

        def git_diff() -> None:
            git(tree, "diff", "--no-color", base)
            for path in git(tree, "ls-files", "--others", "--exclude-standard").split():
                subprocess.run(["git", "-C", str(tree), "diff", "--no-index", "--", "/dev/null", path], capture_output=True)

        def git_check() -> None:
            subprocess.run(["git", "-C", str(ws), "merge-tree", "--write-tree", "--name-only", "main", "podium/big"], capture_output=True)
            git(ws, "rev-list", "--count", "main..podium/big")
            git(tree, "status", "--porcelain")

        for n in range(args.rounds):
            pairs = [
                ("make podium", lambda n=n: podium_make(n)), ("make git", lambda n=n: loop.run_in_executor(None, git_make, n)),
                ("diff podium", lambda: client.request("review_diff", worker="big")), ("diff git", lambda: loop.run_in_executor(None, git_diff)),
                ("check podium", lambda: client.request("worktree_merge", name="big", check=True)), ("check git", lambda: loop.run_in_executor(None, git_check)),
            ]
            for key, make in pairs if n % 2 == 0 else [p for i in range(0, 6, 2) for p in reversed(pairs[i : i + 2])]:
                times[key].append(await timed(make))
            times["again podium"].append(await timed(lambda: client.request("review_diff", worker="big", since=digest)))
    finally:
        await podium_down(client, ws)
        subprocess.run(["git", "-C", str(ws), "worktree", "prune"], capture_output=True)
        clean_up()
    table = Table(title=f"a writer's worktree: podium over bare git ({args.rounds} rounds; a {changed}-line diff; ms)")
    for col in ("what", "podium p50", "git p50", "podium p90", "git p90", "× git (p50)"):
        table.add_column(col, justify="right")
    result = {}
    for what in ("make", "diff", "again", "check"):
        p, g = times[f"{what} podium"], times[f"{'diff' if what == 'again' else what} git"]
        table.add_row(what, f"{pct(p, 50):.1f}", f"{pct(g, 50):.1f}", f"{pct(p, 90):.1f}", f"{pct(g, 90):.1f}", f"{pct(p, 50) / pct(g, 50):.2f}")
        result[what] = {"podium_p50": round(pct(p, 50), 2), "git_p50": round(pct(g, 50), 2), "ratio": round(pct(p, 50) / pct(g, 50), 2)}
    Console().print(table)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
