"""`podium diff NAME`, `podium merge NAME [--check] [--how ff|merge|squash]` and
`podium merge A B C [--send-back]` / `podium merge --plan` (a merge queue) and
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
from podium.sessions.task_places import plan_writers

from .subcommands import CliError


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    m = add("merge", help="merge writers' worktree branches into the main worktree's branch, in order (each checked first)")
    m.add_argument("names", nargs="*", metavar="NAME", help="several: a merge queue, each re-checked against the target as the ones before it landed")
    m.add_argument("--plan", action="store_true", help="the plan's writers' worktrees, in plan order (before any NAMEs)")
    m.add_argument("--send-back", action="store_true", help="a conflict stops the queue and asks that worker to rebase onto the target and resolve")
    m.add_argument("--check", action="store_true", help="only say whether it merges cleanly, and what conflicts")
    m.add_argument("--commit", action="store_true", help="commit what its worktree left uncommitted first (as podium), then merge")
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
        if args.command == "merge" and (len(args.names) != 1 or args.plan or args.send_back):
            return await queue(client, args)
        if args.command == "merge":
            args.name = args.names[0]
            out = await client.request("worktree_merge", name=args.name, check=args.check, commit=args.commit, **({"how": args.how} if args.how else {}))
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
    """The merge queue (merge_queue.py): in order, each checked against the target as it is
    now; a conflict stops it (what merged stays merged), and with --send-back the worker is
    asked to rebase."""
    if args.plan:
        args.names = plan_writers(await client.request("plan_show")) + args.names
        if not args.names:
            raise CliError("podium: the plan has no writers in worktrees of their own")
    out = await client.request("merge_queue", names=args.names, check=args.check, send_back=args.send_back, env=dict(os.environ), **({"how": args.how} if args.how else {}))
    if args.json:
        print(json.dumps(out, indent=2))
        return 0 if out["stopped"] is None else 1
    for m in out["merged"]:
        print(f"podium: {m['name']} merged into {m['into']} ({m['how']}, {m['commit'][:10]})")
    for c in out["clean"]:
        print(f"podium: {c['name']}: merges cleanly into {c['target']} ({c['commits']} commit(s))")
    for p in out["passed"]:
        print(f"podium: {p['name']} passed over: {p['why']}")
    stop = out["stopped"]
    if stop is None:
        if out["merged"]:
            print(f"podium: `podium discard NAME` removes a merged worktree and its branch ({', '.join(m['name'] for m in out['merged'])})")
        return 0
    if stop["busy"]:
        why = f"{', '.join(stop['busy'])} still work(s) in its worktree: merge once they have ended"
    elif stop["conflicts"]:
        why = f"conflicts with {stop['target']} in {', '.join(stop['conflicts'])}"
    else:
        why = f"{len(stop['uncommitted'])} uncommitted change(s) in its worktree: commit them there first"
    print(f"podium: queue stopped at {stop['name']} ({stop['at']} of {stop['of']}): {stop['branch']} {why}")
    if "sent_back" in stop:
        said = f"asked {stop['name']} to rebase onto {stop['target']} and resolve" if not stop["sent_back"] else f"{stop['name']} cannot be asked ({stop['sent_back']}): rebase {stop['branch']} onto {stop['target']} in its worktree yourself"
        print(f"podium: {said}")
    return 1
