"""`podium diff NAME`, `podium merge NAME [--check] [--how ff|merge|squash]` and
`podium discard NAME [--yes]`: a writer's changes against its base; its worktree merged
into the branch the main worktree has checked out (checked first, without touching any
working tree); or removed with its branch (asking first when it holds work).
`podium spawn NAME --worktree` (subcommands.py) makes one."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient

from .subcommands import CliError


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    m = add("merge", help="merge a writer's worktree branch into the main worktree's branch (checks first)")
    m.add_argument("name")
    m.add_argument("--check", action="store_true", help="only say whether it merges cleanly, and what conflicts")
    m.add_argument("--how", choices=["ff", "merge", "squash"], default=None, help="fast-forward, a merge commit (default) or one squashed commit")
    m.add_argument("--json", action="store_true")
    v = add("diff", help="a writer's changes against its base (files, counts, hunks); D on the dashboard is the live view")
    v.add_argument("name")
    v.add_argument("--stat", action="store_true", help="only the files and their counts")
    v.add_argument("--json", action="store_true")
    d = add("discard", help="remove a writer's worktree and its branch (asks first when it holds work)")
    d.add_argument("name")
    d.add_argument("--yes", "-y", action="store_true", help="discard even unmerged commits and uncommitted changes")


async def run(args: argparse.Namespace, workspace: Path) -> int:
    try:
        client = await SupervisorClient.connect(workspace)
    except NotRunning as exc:
        raise CliError(f"podium: {exc}") from None
    try:
        if args.command == "diff":
            out = await client.request("review_diff", worker=args.name)
            if args.json:
                print(json.dumps(out, indent=2))
                return 0
            for f in out["files"]:
                print(f"{f['status'][0].upper()} {f['path']}  +{f['added']} -{f['removed']}")
                for h in [] if args.stat else f["hunks"]:
                    print("\n".join([h["header"], *h["lines"]]))
            for c in out["comments"]:
                print(f"comment {c['file']}:{c['line']} ({'sent' if c.get('sent') else 'stale' if c.get('stale') else 'open'}): {c['text']}")
            return 0
        if args.command == "merge":
            out = await client.request("worktree_merge", name=args.name, check=args.check, **({"how": args.how} if args.how else {}))
            if args.json:
                print(json.dumps(out, indent=2))
            elif args.check:
                said = "merges cleanly" if out["clean"] else f"conflicts in {', '.join(out['conflicts'])}"
                print(f"podium: {out['branch']} ({out['commits']} commit(s)) into {out['target']}: {said}" + (f"; {len(out['uncommitted'])} uncommitted change(s) in its worktree" if out["uncommitted"] else ""))
            else:
                m = out["merged"]
                print(f"podium: {out['branch']} merged into {m['into']} ({m['how']}, {m['commit'][:10]}); `podium discard {args.name}` removes the worktree and branch")
            return 0 if not args.check or out["clean"] else 1
        try:
            out = await client.request("worktree_discard", name=args.name, force=args.yes)
        except RequestFailed as exc:
            if "holds work" not in str(exc) or not sys.stdin.isatty():
                raise
            if input(f"{exc}\nDiscard? [y/N] ").strip().lower() != "y":
                print("podium: kept")
                return 1
            out = await client.request("worktree_discard", name=args.name, force=True)
        print(f"podium: removed {out['removed']} and {out['branch']}" + (f" (with {'; '.join(out['lost'])})" if out["lost"] else ""))
        return 0
    except RequestFailed as exc:
        raise CliError(f"podium: {exc}") from None
    finally:
        await client.close()
