"""`podium dlq ls|show|retry|drop`: the dead-letter queue, tasks that failed past their
retries (`.podium/dead-letters/`). A table or `--json`; `show` prints a letter whole."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from podium.sessions import units
from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient

from .subcommands import CliError, print_table


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("dlq", help="dead letters: tasks that failed past their retries (ls | show TASK | retry TASK | drop TASK)")
    p.add_argument("action", choices=["ls", "show", "retry", "drop"])
    p.add_argument("task", nargs="?", default=None)
    p.add_argument("--json", action="store_true")


async def run(args: argparse.Namespace, workspace: Path) -> int:
    if args.action != "ls" and not args.task:
        raise CliError(f"podium dlq {args.action}: which task? podium dlq {args.action} TASK", 2)
    try:
        client = await SupervisorClient.connect(workspace)
    except NotRunning as exc:
        raise CliError(f"podium: {exc}") from None
    try:
        if args.action == "ls":
            out = await client.request("dlq_ls")
            if args.json:
                print(json.dumps(out, indent=2))
            elif out["letters"]:
                print_table([[d["task"], d["state"], d.get("class") or "-", str(d["attempts"]), units.ago(d.get("written")), d["reason"]] for d in out["letters"]], ["TASK", "STATE", "CLASS", "ATTEMPTS", "WRITTEN", "WHY"])
            else:
                print("no dead letters")
            for problem in out["problems"]:
                print(f"! {problem}")
            return 1 if out["problems"] else 0
        op = {"show": "dlq_show", "retry": "dlq_retry", "drop": "dlq_drop"}[args.action]
        out = await client.request(op, task=args.task)
        if args.json or args.action == "show":
            print(json.dumps(out, indent=2, ensure_ascii=False))
        elif args.action == "retry":
            print(f"podium: {args.task} runs again ({out['task']['state']}); its letter is kept as {out['letter']}")
        else:
            print(f"podium: {args.task} dropped; its letter is kept as {out['letter']}")
        return 0
    except RequestFailed as exc:
        raise CliError(f"podium dlq {args.action}: {exc}") from None
    finally:
        await client.close()
