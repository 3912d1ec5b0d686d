"""What each `podium` subcommand asks the supervisor and prints: tables for people
(humanized, escape sequences removed), JSON for scripts and agents. One function per
subcommand, in `SUBCOMMANDS`; `cli.py` parses the command line and calls `run`.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from podium.sessions import units
from podium.sessions.blackboard import Blackboard, BlackboardError
from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient, connect_or_start, launch_supervisor, wait_gone
from podium.sessions.protocol import unpack_bytes
from podium.sessions.result import CuratedResult, dumps
from podium.sessions.states import ACTIVE, ENDED
from podium.sessions.text import plain_text, safe_text
from podium.sessions.transcript import TranscriptReader

STOP_WAIT = 15.0


class CliError(Exception):
    """A one-line error for the person; exit code 1 unless given."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def unescape(chars: str) -> str:
    r"""`\x03`, `\r`, `\n`, `\t`, `\e`, `\\` and the other Python escapes."""
    return codecs.decode(chars.replace("\\e", "\\x1b").encode("utf-8", "surrogateescape"), "unicode_escape").encode(
        "latin-1"
    ).decode("utf-8", "surrogateescape")


def print_table(rows: list[list[str]], header: list[str]) -> None:
    """A table for a person: as wide as the terminal (long cells end in …), or whole
    when the output is a pipe or a file."""
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 10_000)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for i, name in enumerate(header):
        table.add_column(name, no_wrap=True, overflow="ellipsis", ratio=1 if i == len(header) - 1 else None)
    for row in rows:
        table.add_row(*(safe_text(str(c)) for c in row))
    console.print(table)


Subcommand = Callable[[SupervisorClient, argparse.Namespace, Path], Awaitable[int]]
SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str) -> Callable[[Subcommand], Subcommand]:
    def register(fn: Subcommand) -> Subcommand:
        SUBCOMMANDS[name] = fn
        return fn

    return register


async def run(args: argparse.Namespace, workspace: Path) -> int:
    """A subcommand that talks to the supervisor (started first for spawn and exec)."""
    cmd = args.command
    local = {"start": start, "logs": logs, "result": result}
    if cmd in local:
        return await local[cmd](args, workspace)
    try:
        if cmd in ("spawn", "exec"):
            client, _ = await connect_or_start(workspace)
        else:
            client = await SupervisorClient.connect(workspace)
    except BlackboardError as exc:
        raise CliError(f"podium: {exc}") from None
    except NotRunning as exc:
        if cmd == "status" and args.json:
            print(json.dumps({"running": False, "workspace": str(workspace), "error": str(exc)}))
        raise CliError(f"podium: {exc}") from None
    try:
        return await SUBCOMMANDS[cmd](client, args, workspace)
    except RequestFailed as exc:
        raise CliError(f"podium: {exc}") from None
    finally:
        await client.close()


# -- without a supervisor connection ----------------------------------------------------------
async def start(args: argparse.Namespace, workspace: Path) -> int:
    try:
        info = await launch_supervisor(workspace)
    except BlackboardError as exc:
        raise CliError(f"podium: {exc}") from None
    if info.get("already_running"):
        print(f"podium: a supervisor already runs for {workspace} (pid {info.get('pid')})")
    else:
        print(f"podium: supervisor pid {info.get('pid')} for {workspace} (socket {info.get('socket')})")
    return 0


async def result(args: argparse.Namespace, workspace: Path) -> int:
    curated = CuratedResult(Blackboard(workspace).root / "result.md")
    if args.format == "json":
        print(dumps(curated.as_json()))
        return 0
    text, _ = curated.read()
    if not text:
        raise CliError(f"podium: nothing promoted yet in {workspace} (podium promote NAME)", 1)
    sys.stdout.write(text)
    return 0


async def logs(args: argparse.Namespace, workspace: Path) -> int:
    """The transcript from disk (escape sequences removed), then, with -f, what follows."""
    bb = Blackboard(workspace)
    wdir = bb.worker_dir(args.name)
    if not (wdir / "meta.toml").exists():
        known = ", ".join(bb.worker_names()) or "none"
        raise CliError(f"podium: unknown worker {args.name!r} in {workspace} (workers: {known})")
    raw = args.raw and not sys.stdout.isatty()
    out = sys.stdout.buffer

    def emit(data: bytes) -> None:
        out.write(data if raw else plain_text(data).encode())
        out.flush()

    client: SupervisorClient | None = None
    end: int | None = None
    if args.follow:
        try:
            client = await SupervisorClient.connect(workspace)
            follow = await client.request("follow", worker=args.name)
            end = int(follow["offset"])
            if follow["state"] in ENDED:
                await client.close()
                client = None
        except NotRunning:
            client = None  # nothing running: print what is on disk
    reader = TranscriptReader(wdir)
    end = reader.size if end is None else end
    pos = 0
    while pos < end:
        chunk = reader.read(pos, min(end, pos + (1 << 20)))
        if not chunk:
            break
        emit(chunk)
        pos += len(chunk)
    if client is None:
        return 0
    try:
        while True:
            event = await client.events.get()
            if event.get("event") == "output" and event.get("worker") == args.name:
                emit(unpack_bytes(event["data_b64"]))
            elif event.get("event") == "worker" and event["worker"]["name"] == args.name and event["worker"]["state"] in ENDED:
                return 0
    finally:
        await client.close()


# -- through the supervisor -------------------------------------------------------------------------
@subcommand("ls")
async def ls(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    workers = await client.request("ls")
    if args.json:
        print(json.dumps(workers, indent=2))
        return 0
    if not workers:
        print("no workers (podium spawn NAME -- CMD adds one)")
        return 0
    rows = [
        [
            w["name"],
            w["kind"],
            w["state"],
            str(w["pid"] or "-"),
            "-" if w["exit_code"] is None else str(w["exit_code"]),
            units.ago(w["started"]),
            units.ago(w["last_output"]),
            units.tokens(w.get("tokens")),
            "; ".join([w["reason"], *w.get("warnings", [])]),
        ]
        for w in workers
    ]
    print_table(rows, ["NAME", "KIND", "STATE", "PID", "EXIT", "STARTED", "LAST OUTPUT", "TOKENS", "WHY"])
    total = sum(w.get("tokens") or 0 for w in workers)
    cost = sum(w.get("cost_usd") or 0 for w in workers)
    if total:
        print(f"\ntotal: {units.tokens(total)} tokens" + (f", ${cost:.4f}" if cost else ""))
    return 0


@subcommand("status")
async def status(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    st = await client.request("status")
    if args.json:
        print(json.dumps({"running": True, **st}, indent=2))
        return 0
    counts = ", ".join(f"{n} {s}" for s, n in sorted(st["counts"].items())) or "no workers"
    print(f"supervisor  pid {st['pid']}, up since {units.ago(st['started'])}")
    print(f"workspace   {st['workspace']}")
    print(f"socket      {st['socket']}")
    print(f"workers     {counts}")
    print(f"clients     {st['clients']}")
    return 0


@subcommand("spawn")
async def spawn(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    argv = list(args.cmd)
    if not argv:
        raise CliError("podium spawn: no command (podium spawn NAME -- CMD ARGS...)", 2)
    if args.worktree:  # (its place is the worktree: --cwd does not apply)
        out = await client.request("worktree_spawn", name=args.name, argv=argv, kind=args.kind, base=args.base, env=dict(os.environ))
        if out.get("note"):
            print(f"podium: {out['note']}", file=sys.stderr)
        if out.get("worktree"):
            print(f"podium: {args.name} works in {out['worktree']['path']} on {out['worktree']['branch']} (from {out['worktree']['base']})")
        w = out["worker"]
    else:
        cwd = str((args.cwd or Path.cwd()).resolve())
        w = await client.request("spawn", name=args.name, argv=argv, kind=args.kind, cwd=cwd, env=dict(os.environ))
    if w["state"] == "failed" and not w.get("started"):
        raise CliError(f"podium: worker {w['name']} failed to start: {w['reason']}", 1)
    if w["state"] in ACTIVE:
        print(f"podium: worker {w['name']} ({w['kind']}) running, pid {w['pid']}")
    else:  # it started and has already finished
        print(f"podium: worker {w['name']} ({w['kind']}) started and is {w['state']} ({w['reason']})")
    return 0


@subcommand("exec")
async def exec_(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    argv = list(args.cmd)
    if not argv:
        raise CliError("podium exec: no command (podium exec -- CMD ARGS...)", 2)
    workdir = str((args.workdir or Path.cwd()).resolve())
    r = await client.request(
        "exec", cmd=argv, workdir=workdir, env=dict(os.environ), yield_time_ms=args.yield_ms, max_output_tokens=args.max_output_tokens
    )
    print(json.dumps(r))
    return 0


@subcommand("write")
async def write(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    sid: Any = int(args.session_id) if args.session_id.isdigit() else args.session_id
    r = await client.request("write", session_id=sid, chars=unescape(args.chars), yield_time_ms=args.yield_ms, max_output_tokens=args.max_output_tokens)
    print(json.dumps(r))
    return 0


async def _signal(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    await client.request(args.command, worker=args.name)
    print(f"podium: {args.command} sent to {args.name}")
    return 0


for _name in ("interrupt", "pause", "continue"):
    subcommand(_name)(_signal)


@subcommand("kill")
async def kill(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    w = await client.request("kill", worker=args.name, grace=args.grace, wait=True)
    print(f"podium: {args.name} is {w['state']} ({w['reason']})")
    return 0


@subcommand("last")
async def last(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    r = await client.request("last", worker=args.name)
    sys.stdout.write(plain_text(r["text"].encode("utf-8", "surrogateescape")).rstrip("\n") + "\n")
    return 0


@subcommand("decisions")
async def decisions(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    items = await client.request("decisions", states="all" if args.all else None)
    if args.json:
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return 0
    if not items:
        print("no escalations waiting")
        return 0
    rows = [
        [e["id"], e["worker"] or "-", e["tier"], e["source"], e["state"], (e["command"] or e["file"] or e["question"])[:60], " ".join(o["key"] for o in e["options"])]
        for e in items
    ]
    print_table(rows, ["ID", "WORKER", "TIER", "SOURCE", "STATE", "ASKED", "OPTIONS"])
    return 0


@subcommand("approve")
@subcommand("deny")
async def answer(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    if args.command == "deny":
        choice = "deny"
    elif args.option in (None, ""):
        choice = "approve"
    elif args.option == "session":
        choice = "approve_session"
    else:
        choice = args.option.upper()
    message = getattr(args, "message", None)
    e = await client.request("answer", escalation=args.id, choice=choice, by=os.environ.get("USER", "cli"), **({"message": message} if message else {}))
    print(f"podium: {args.id} {e['state']} ({(e.get('answer') or {}).get('choice')})")
    return 0


@subcommand("promote")
async def promote(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    r = await client.request("promote", worker=args.name, force=args.force)
    if r["duplicate"]:
        raise CliError(f"podium: this run of {args.name} is promoted already (section {r['section']}); --force adds it again", 1)
    print(f"podium: promoted {args.name} into {Blackboard(workspace).root / 'result.md'} (section {r['section']})")
    return 0


@subcommand("resume")
async def resume(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    w = await client.request("resume", worker=args.name, prompt=args.prompt, env=dict(os.environ))
    if w["state"] == "failed" and w.get("exit_code") in (126, 127):
        raise CliError(f"podium: {args.name} could not be resumed: {w['reason']}", 1)
    print(f"podium: {args.name} resumed (run {w['runs']}): {w['state']}")
    return 0


@subcommand("stop")
async def stop(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    workers = await client.request("ls")
    running = [w["name"] for w in workers if w["state"] in ACTIVE]
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError("podium stop: not a terminal to ask on; pass --yes to stop every worker", 2)
        names = ", ".join(running) or "none"
        reply = input(f"Stop the supervisor and {len(running)} running worker(s) ({names})? [y/N] ")
        if reply.strip().lower() not in ("y", "yes"):
            print("podium: nothing stopped")
            return 1
    pid = client.info["pid"]
    r = await client.request("stop")
    try:  # the supervisor closes the connection, then exits
        await asyncio.wait_for(client.closed.wait(), STOP_WAIT)
        await wait_gone(pid, STOP_WAIT)
    except asyncio.TimeoutError:
        raise CliError(f"podium stop: the supervisor did not exit within {STOP_WAIT:.0f} s; see .podium/supervisor.log") from None
    print(f"podium: stopped {len(r['stopped'])} worker(s) and the supervisor")
    return 0
