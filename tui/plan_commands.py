"""`podium plan …`: write a plan from a preset, check one, run it and steer it from the
command line. `new` and `check` need no supervisor (they only read and write the plan
file); the others ask the supervisor's scheduler, and print tables for people or JSON
(`--json`) for scripts and agents.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from podium.sessions import units
from podium.sessions.blackboard import Blackboard, BlackboardError
from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient, connect_or_start
from podium.sessions.plan import AGENTS, Plan, PlanError, load_plan
from podium.sessions.presets import PATTERNS, pattern_named, preset
from podium.sessions.task_runs import ERROR_SHOWN, signals, verify_text

from .subcommands import CliError, print_table

ACTIONS = {
    "new": "write a plan from a pattern preset (nothing starts): plan new --pattern review-fix 'scope'",
    "check": "validate a plan without running it",
    "run": "start a plan (the supervisor is started if none runs)",
    "show": "the running plan: each task's state, elapsed time, signals and podium's next action",
    "pause": "start nothing new (running tasks go on)",
    "resume": "start tasks again",
    "stop": "stop the plan and its running workers",
    "heartbeat": "look at every task now (an entry in .podium/heartbeat.log)",
    "promote": "put the done tasks' final reports into the curated result, in plan order",
    "now": "run a queued task now, past the parallel cap: plan now TASK",
    "skip": "skip a task that has not started, or one that ended badly: plan skip TASK",
    "retry": "run an ended task again: plan retry TASK",
    "envelope": "print the prompt a task was (or will be) given: plan envelope TASK",
}


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """`plan` on the command line (called by cli.build_parser)."""
    about = "\n".join(f"  {name:<10} {text}" for name, text in ACTIONS.items())
    patterns = "\n".join(f"  {p.letter} {p.name:<20} {p.about}" for p in PATTERNS.values())
    p = add(
        "plan",
        help="plans: tasks with envelopes, run by the scheduler (new|check|run|show|pause|resume|stop|…)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"actions:\n{about}\n\npatterns (plan new --pattern):\n{patterns}",
    )
    p.add_argument("action", choices=list(ACTIONS), metavar="ACTION")
    p.add_argument("arg", nargs="?", default=None, help="new: the work scope; check/run: the plan file; now/skip/retry/envelope: the task")
    p.add_argument("--pattern", "-p", default=None, help="new: the preset (a letter A-F or its name)")
    p.add_argument("--agent", default="codex-exec", choices=[a for a in AGENTS if a != "shell"], help="new: the agent every worker runs")
    p.add_argument("-n", type=int, default=None, help="new: how many reviewers, sections, questions or options (2-4)")
    p.add_argument("--title", default=None, help="new: the plan's title")
    p.add_argument("--out", type=Path, default=None, help="new: where to write the plan (default .podium/plan.toml)")
    p.add_argument("--force", action="store_true", help="new: overwrite an existing plan file")
    p.add_argument("--grace", type=float, default=3.0, help="stop: seconds a worker gets before SIGKILL")
    p.add_argument("--json", action="store_true", help="print JSON")


async def run(args: argparse.Namespace, workspace: Path) -> int:
    if args.action == "new":
        return new(args, workspace)
    if args.action == "check":
        return check(args, workspace)
    if args.action == "envelope":
        return envelope(args, workspace)
    try:
        if args.action == "run":
            client, _ = await connect_or_start(workspace)
        else:
            client = await SupervisorClient.connect(workspace)
    except (BlackboardError, NotRunning) as exc:
        raise CliError(f"podium: {exc}") from None
    try:
        return await _steer(client, args, workspace)
    except RequestFailed as exc:
        raise CliError(f"podium plan {args.action}: {exc}") from None
    finally:
        await client.close()


def plan_path(workspace: Path, arg: str | Path | None) -> Path:
    """The plan file named on the command line, or the workspace's .podium/plan.toml."""
    if arg is None:
        return Blackboard(workspace).root / "plan.toml"
    path = Path(arg).expanduser()
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


# -- without the supervisor ---------------------------------------------------------------------------
def new(args: argparse.Namespace, workspace: Path) -> int:
    if not args.pattern:
        listing = "\n".join(f"  {p.letter} {p.name:<20} {p.about}" for p in PATTERNS.values())
        raise CliError(f"podium plan new: which pattern? --pattern NAME (or its letter):\n{listing}", 2)
    if not args.arg or not args.arg.strip():
        raise CliError("podium plan new: the work scope is missing: podium plan new --pattern review-fix 'what to do, where'", 2)
    try:
        text = preset(args.pattern, args.arg, agent=args.agent, n=args.n, title=args.title)
    except ValueError as exc:
        raise CliError(f"podium plan new: {exc}", 2) from None
    out = plan_path(workspace, args.out)
    if out.exists() and not args.force:
        raise CliError(f"podium plan new: {out} exists (a plan someone may have edited); --force overwrites it, --out FILE writes elsewhere", 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, "utf-8")
    p = pattern_named(args.pattern)
    print(f"podium: wrote {out} (pattern {p.letter}, {p.title}). Nothing runs yet: edit it, then")
    named = _arg(out, workspace)
    print(f"  podium plan check{named}\n  podium plan run{named}")
    return 0


def check(args: argparse.Namespace, workspace: Path) -> int:
    path = plan_path(workspace, args.arg)
    try:
        plan = load_plan(path)
    except PlanError as exc:
        if args.json:
            print(json.dumps({"ok": False, "path": str(path), "problems": exc.problems}, indent=2))
        raise CliError(f"podium plan check: {path} is not a plan podium can run:\n{exc}", 1) from None
    if args.json:
        print(json.dumps({"ok": True, "path": str(path), **plan.public(), "tasks": [t.public() for t in plan.tasks.values()]}, indent=2))
        return 0
    print(f"{path}: ok. {plan.title!r}: {len(plan.tasks)} task(s), at most {plan.max_parallel} at once, {plan.follow_up_rounds} follow-up round(s)")
    print_table(_check_rows(plan), ["TASK", "ROLE", "AGENT", "AFTER", "CAP", "VERIFY", "TOUCHES", "GOAL"])
    return 0


def _check_rows(plan: Plan) -> list[list[str]]:
    return [
        [t.id, t.role, t.agent if t.agent != "shell" else f"shell: {t.command}", ", ".join(t.after) or "-", units.compact(t.time_cap), t.verify or "-", ", ".join(t.touches) or "-", t.goal.splitlines()[0] if t.goal else "-"]
        for t in plan.tasks.values()
    ]


def envelope(args: argparse.Namespace, workspace: Path) -> int:
    if not args.arg:
        raise CliError("podium plan envelope: which task? podium plan envelope TASK", 2)
    path = Blackboard(workspace).root / "tasks" / args.arg / "envelope.md"
    try:
        sys.stdout.write(path.read_text("utf-8"))
    except OSError:
        raise CliError(f"podium plan envelope: no envelope for {args.arg!r} yet ({path}): it is written when the task starts, or when edited on the plan screen", 1) from None
    return 0


def _arg(path: Path, workspace: Path) -> str:
    default = Blackboard(workspace).root / "plan.toml"
    return "" if path == default else f" {path}"


# -- asking the scheduler ------------------------------------------------------------------------------
async def _steer(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    action = args.action
    if action in ("now", "skip", "retry"):
        if not args.arg:
            raise CliError(f"podium plan {action}: which task? podium plan {action} TASK", 2)
        op = {"now": "task_run_now", "skip": "task_skip", "retry": "task_retry"}[action]
        task = await client.request(op, task=args.arg)
        return _print(args, task, f"{task['id']}: {task['state']}: {task['reason']}")
    if action == "run":
        path = plan_path(workspace, args.arg)
        plan = await client.request("plan_run", path=str(path), env=dict(os.environ))
        if args.json:
            print(json.dumps(plan, indent=2))
            return 0
        print(f"podium: plan {plan['title']!r} runs ({len(plan['tasks'])} tasks, at most {plan['max_parallel']} at once). `podium` shows it (P), `podium plan show` prints it.")
        show_plan(plan)
        return 0
    if action == "heartbeat":
        beat = await client.request("plan_heartbeat")
        return _print(args, beat, beat["text"].rstrip("\n"))
    if action == "promote":
        out = await client.request("plan_promote")
        said = f"promoted {', '.join(out['promoted']) or 'nothing'}" + "".join(f"\n  not promoted: {s}" for s in out["skipped"])
        return _print(args, out, f"podium: {said}")
    op = {"show": "plan_show", "pause": "plan_pause", "resume": "plan_resume", "stop": "plan_stop"}[action]
    plan = await client.request(op, **({"grace": args.grace} if action == "stop" else {}))
    if args.json:
        print(json.dumps(plan, indent=2))
        return 0
    if plan["state"] == "none":
        print("no plan has run here: podium plan new --pattern …, then podium plan run")
        return 0
    show_plan(plan)
    return 0


def _print(args: argparse.Namespace, data: Any, text: str) -> int:
    print(json.dumps(data, indent=2) if args.json else text)
    return 0


def show_plan(plan: dict[str, Any]) -> None:
    now = datetime.now(timezone.utc)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(plan["counts"].items()))
    print(f"plan {plan['title']!r}: {plan['state']} · {counts} · started {units.ago(plan['started'])}")
    rows = [
        [("  " * (t["round"] > 1)) + t["id"], t["role"], t["state"] + (f" ({t['error']['class']})" if t.get("error") and t["state"] in ERROR_SHOWN else ""), units.elapsed(t, now) if t["started"] else "-", t["worker"] or "-", verify_text(t), signals(t, now.timestamp()) or "-", t["next"], t["reason"]]
        for t in plan["tasks"]
    ]
    print_table(rows, ["TASK", "ROLE", "STATE", "ELAPSED", "WORKER", "VERIFY", "SIGNALS", "NEXT", "WHY"])
    for problem in plan.get("problems") or []:
        print(f"! {problem}")
    if plan.get("heartbeat_at"):
        print(f"last heartbeat {units.ago(plan['heartbeat_at'])} (.podium/heartbeat.log)")
