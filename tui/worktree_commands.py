"""`podium diff NAME`, `podium merge NAME [--check] [--how ff|merge|squash]` and
`podium discard NAME [--yes]`: a writer's changes against its base; its worktree merged
into the branch the main worktree has checked out (checked first, without touching any
working tree); or removed with its branch (asking first when it holds work).
`podium spawn NAME --worktree` (subcommands.py) makes one."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient

from .subcommands import CliError


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    m = add("merge", help="merge writers' worktree branches into the main worktree's branch, in order (each checked first)")
    m.add_argument("names", nargs="+", metavar="NAME", help="several: a merge queue, each re-checked against the target as the ones before it landed")
    m.add_argument("--send-back", action="store_true", help="a conflict stops the queue and asks that worker to rebase onto the target and resolve")
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
        if args.command == "merge" and len(args.names) > 1:
            return await queue(client, args)
        if args.command == "merge":
            args.name = args.names[0]
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


async def queue(client: SupervisorClient, args: argparse.Namespace) -> int:
    """The merge queue: in order, each checked against the target as it is now; a conflict
    stops it (what merged stays merged), and with --send-back the worker is asked to rebase."""
    for n, name in enumerate(args.names, 1):
        check = await client.request("worktree_merge", name=name, check=True)
        if not check["clean"]:
            files = ", ".join(check["conflicts"])
            print(f"podium: queue stopped at {name} ({n} of {len(args.names)}): {check['branch']} conflicts with {check['target']} in {files}")
            if args.send_back:
                prompt = f"Your branch {check['branch']} no longer merges cleanly into {check['target']}: conflicts in {files}. Rebase onto {check['target']} (git rebase {check['target']}), resolve them, run the tests, commit, and end with your report."
                try:
                    await client.request("resume", worker=name, prompt=prompt, env=dict(os.environ))
                except RequestFailed as exc:
                    print(f"podium: {name} cannot be asked ({exc}): rebase {check['branch']} onto {check['target']} in its worktree yourself")
                else:
                    print(f"podium: asked {name} to rebase onto {check['target']} and resolve")
            return 1
        if args.check:
            print(f"podium: {name}: merges cleanly into {check['target']} ({check['commits']} commit(s))")
            continue
        out = await client.request("worktree_merge", name=name, **({"how": args.how} if args.how else {}))
        print(f"podium: {name} merged into {out['merged']['into']} ({out['merged']['commit'][:10]})")
    return 0
