"""The `podium` command line, with tmux habits: `podium` attaches (starting the
supervisor if none runs), `attach` only attaches, `ls`/`status` print tables or JSON,
`exec`/`write` speak the exec_command/write_stdin model in JSON for scripts and agents."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from podium.sessions.agents import human_tokens
from podium.sessions.blackboard import Blackboard, BlackboardError
from podium.sessions.states import ACTIVE, ENDED
from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient, connect_or_start, start_supervisor
from podium.sessions.text import plain_text
from podium.sessions.transcript import TranscriptReader
from podium.sessions.unified_exec import DEFAULT_EXEC_YIELD_MS, DEFAULT_WRITE_YIELD_MS


class CliError(Exception):
    """A one-line error for the person; exit code 1 unless given."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="podium",
        description="A control room for coding-agent workers in real PTYs. Without a command: attach "
        "the dashboard, starting the supervisor if none runs.",
    )
    ap.add_argument("--workspace", "-w", type=Path, default=None, help="workspace directory (default: the current one)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", "-w", type=Path, default=argparse.SUPPRESS, help="workspace directory")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    add = sub.add_parser

    def sub_add_parser(name: str, **kw: Any) -> argparse.ArgumentParser:
        return add(name, parents=[common], **kw)

    sub.add_parser = sub_add_parser  # type: ignore[method-assign]

    att = sub.add_parser("attach", help="attach the dashboard to a running supervisor (fails if none runs)")
    att.add_argument("--plain", action="store_true", help="a plain-terminal view instead of the dashboard")
    sub.add_parser("start", help="start the supervisor without a UI")
    demo = sub.add_parser("demo", help="the demo session: real workers, no API key (its own workspace)")
    demo.add_argument("--no-attach", action="store_true", help="start the demo workers but do not attach")
    demo.add_argument("--plain", action="store_true", help="a plain-terminal view instead of the dashboard")

    ls = sub.add_parser("ls", help="list workers")
    ls.add_argument("--json", action="store_true")
    status = sub.add_parser("status", help="the supervisor: pid, socket, workspace, worker counts")
    status.add_argument("--json", action="store_true")

    spawn = sub.add_parser("spawn", help="add a worker: podium spawn NAME [--kind K] [--cwd DIR] -- CMD ARGS...")
    spawn.add_argument("name")
    spawn.add_argument("--kind", choices=["shell", "codex", "claude"], default=None)
    spawn.add_argument("--cwd", type=Path, default=None)
    spawn.add_argument("cmd", nargs="*", help="the command (after --)")

    ex = sub.add_parser("exec", help="exec_command: start CMD, wait, print JSON {output, session_id|exit_code}")
    ex.add_argument("--workdir", type=Path, default=None)
    ex.add_argument("--yield-ms", type=int, default=DEFAULT_EXEC_YIELD_MS)
    ex.add_argument("--max-output-tokens", type=int, default=None)
    ex.add_argument("cmd", nargs="*", help="the command (after --)")

    wr = sub.add_parser("write", help="write_stdin: write CHARS (backslash escapes; empty polls), print JSON")
    wr.add_argument("session_id")
    wr.add_argument("chars", nargs="?", default="")
    wr.add_argument("--yield-ms", type=int, default=DEFAULT_WRITE_YIELD_MS)
    wr.add_argument("--max-output-tokens", type=int, default=None)

    for name, text in (("interrupt", "send Ctrl+C to a worker"), ("pause", "SIGSTOP a worker"), ("continue", "SIGCONT a paused worker")):
        p = sub.add_parser(name, help=text)
        p.add_argument("name")
    kill = sub.add_parser("kill", help="terminate a worker (SIGTERM, SIGKILL after --grace seconds)")
    kill.add_argument("name")
    kill.add_argument("--grace", type=float, default=3.0)

    logs = sub.add_parser("logs", help="print a worker's transcript (escape sequences removed)")
    logs.add_argument("name")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new output")
    logs.add_argument("--raw", action="store_true", help="the bytes as written (only when not a terminal)")

    last = sub.add_parser("last", help="print a worker's last message (its -o file, last agent message, result or report)")
    last.add_argument("name")
    resume = sub.add_parser("resume", help="continue an agent worker's conversation: podium resume NAME [PROMPT]")
    resume.add_argument("name")
    resume.add_argument("prompt", nargs="?", default="continue")

    promote = sub.add_parser("promote", help="promote a worker's last message into the curated result (.podium/result.md)")
    promote.add_argument("name")
    promote.add_argument("--force", action="store_true", help="add it even if this run was promoted before")
    result = sub.add_parser("result", help="print the curated result")
    result.add_argument("--format", choices=["md", "json"], default="md")

    dec = sub.add_parser("decisions", help="the escalation inbox: approvals and decision cards waiting for you")
    dec.add_argument("--json", action="store_true")
    dec.add_argument("--all", action="store_true", help="answered and resolved ones too")
    approve = sub.add_parser("approve", help="approve an escalation (a card: its recommended option, or --option X)")
    approve.add_argument("id")
    approve.add_argument("--option", default=None, help="a card's option letter, or 'session' for approve-for-the-session")
    deny = sub.add_parser("deny", help="deny an escalation")
    deny.add_argument("id")

    stop = sub.add_parser("stop", help="stop every worker and the supervisor (asks first)")
    stop.add_argument("--yes", "-y", action="store_true")
    sub.add_parser("version", help="print the version")
    return ap


def unescape(chars: str) -> str:
    r"""`\x03`, `\r`, `\n`, `\t`, `\e`, `\\` and the other Python escapes."""
    return codecs.decode(chars.replace("\\e", "\\x1b").encode("utf-8", "surrogateescape"), "unicode_escape").encode(
        "latin-1"
    ).decode("utf-8", "surrogateescape")


def human_age(iso: str | None) -> str:
    if not iso:
        return "-"
    import humanize

    try:
        then = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return humanize.naturaltime(datetime.now(timezone.utc) - then)


def print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


async def run_command(args: argparse.Namespace, workspace: Path) -> int:
    cmd = args.command
    if cmd == "start":
        try:
            info = start_supervisor(workspace)
        except BlackboardError as exc:
            raise CliError(f"podium: {exc}") from None
        if info.get("already_running"):
            print(f"podium: a supervisor already runs for {workspace} (pid {info.get('pid')})")
        else:
            print(f"podium: supervisor pid {info.get('pid')} for {workspace} (socket {info.get('socket')})")
        return 0

    if cmd == "logs":
        return await cmd_logs(args, workspace)
    if cmd == "result":
        from podium.sessions.result import CuratedResult, dumps

        curated = CuratedResult(Blackboard(workspace).root / "result.md")
        if args.format == "json":
            print(dumps(curated.as_json()))
        else:
            text, _ = curated.read()
            if not text:
                raise CliError(f"podium: nothing promoted yet in {workspace} (podium promote NAME)", 1)
            sys.stdout.write(text)
        return 0

    autostart = cmd in ("spawn", "exec")
    try:
        if autostart:
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
        return await dispatch(client, args, workspace)
    except RequestFailed as exc:
        raise CliError(f"podium: {exc}") from None
    finally:
        await client.close()


async def dispatch(client: SupervisorClient, args: argparse.Namespace, workspace: Path) -> int:
    cmd = args.command
    if cmd == "ls":
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
                human_age(w["started"]),
                human_age(w["last_output"]),
                human_tokens(w.get("tokens")),
                w["reason"],
            ]
            for w in workers
        ]
        print_table(rows, ["NAME", "KIND", "STATE", "PID", "EXIT", "STARTED", "LAST OUTPUT", "TOKENS", "WHY"])
        total = sum(w.get("tokens") or 0 for w in workers)
        cost = sum(w.get("cost_usd") or 0 for w in workers)
        if total:
            print(f"\ntotal: {human_tokens(total)} tokens" + (f", ${cost:.4f}" if cost else ""))
        return 0
    if cmd == "status":
        st = await client.request("status")
        if args.json:
            print(json.dumps({"running": True, **st}, indent=2))
            return 0
        counts = ", ".join(f"{n} {s}" for s, n in sorted(st["counts"].items())) or "no workers"
        print(f"supervisor  pid {st['pid']}, up since {human_age(st['started'])}")
        print(f"workspace   {st['workspace']}")
        print(f"socket      {st['socket']}")
        print(f"workers     {counts}")
        print(f"clients     {st['clients']}")
        return 0
    if cmd == "spawn":
        argv = list(args.cmd)
        if not argv:
            raise CliError("podium spawn: no command (podium spawn NAME -- CMD ARGS...)", 2)
        cwd = str((args.cwd or Path.cwd()).resolve())
        w = await client.request("spawn", name=args.name, argv=argv, kind=args.kind, cwd=cwd, env=dict(os.environ))
        if w["state"] == "failed" and not w.get("started"):
            raise CliError(f"podium: worker {w['name']} failed to start: {w['reason']}", 1)
        if w["state"] in ACTIVE:
            print(f"podium: worker {w['name']} ({w['kind']}) running, pid {w['pid']}")
        else:  # it started and has already finished
            print(f"podium: worker {w['name']} ({w['kind']}) started and is {w['state']} ({w['reason']})")
        return 0
    if cmd == "exec":
        argv = list(args.cmd)
        if not argv:
            raise CliError("podium exec: no command (podium exec -- CMD ARGS...)", 2)
        workdir = str((args.workdir or Path.cwd()).resolve())
        r = await client.request(
            "exec",
            cmd=argv,
            workdir=workdir,
            env=dict(os.environ),
            yield_time_ms=args.yield_ms,
            max_output_tokens=args.max_output_tokens,
        )
        print(json.dumps(r))
        return 0
    if cmd == "write":
        sid: Any = int(args.session_id) if args.session_id.isdigit() else args.session_id
        r = await client.request(
            "write",
            session_id=sid,
            chars=unescape(args.chars),
            yield_time_ms=args.yield_ms,
            max_output_tokens=args.max_output_tokens,
        )
        print(json.dumps(r))
        return 0
    if cmd in ("interrupt", "pause", "continue"):
        await client.request(cmd, worker=args.name)
        print(f"podium: {cmd} sent to {args.name}")
        return 0
    if cmd == "kill":
        w = await client.request("kill", worker=args.name, grace=args.grace, wait=True)
        print(f"podium: {args.name} is {w['state']} ({w['reason']})")
        return 0
    if cmd == "last":
        r = await client.request("last", worker=args.name)
        sys.stdout.write(plain_text(r["text"].encode("utf-8", "surrogateescape")).rstrip("\n") + "\n")
        return 0
    if cmd == "decisions":
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
    if cmd in ("approve", "deny"):
        if cmd == "deny":
            choice = "deny"
        elif args.option in (None, ""):
            choice = "approve"
        elif args.option == "session":
            choice = "approve_session"
        else:
            choice = args.option.upper()
        e = await client.request("answer", escalation=args.id, choice=choice, by=os.environ.get("USER", "cli"))
        print(f"podium: {args.id} {e['state']} ({(e.get('answer') or {}).get('choice')})")
        return 0
    if cmd == "promote":
        r = await client.request("promote", worker=args.name, force=args.force)
        if r["duplicate"]:
            raise CliError(f"podium: this run of {args.name} is promoted already (section {r['section']}); --force adds it again", 1)
        print(f"podium: promoted {args.name} into {Blackboard(workspace).root / 'result.md'} (section {r['section']})")
        return 0
    if cmd == "resume":
        w = await client.request("resume", worker=args.name, prompt=args.prompt, env=dict(os.environ))
        if w["state"] == "failed" and w.get("exit_code") in (126, 127):
            raise CliError(f"podium: {args.name} could not be resumed: {w['reason']}", 1)
        print(f"podium: {args.name} resumed (run {w['runs']}): {w['state']}")
        return 0
    if cmd == "stop":
        workers = await client.request("ls")
        running = [w["name"] for w in workers if w["state"] in ACTIVE]
        if not args.yes:
            if not sys.stdin.isatty():
                raise CliError("podium stop: not a terminal to ask on; pass --yes to stop every worker", 2)
            names = ", ".join(running) or "none"
            answer = input(f"Stop the supervisor and {len(running)} running worker(s) ({names})? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("podium: nothing stopped")
                return 1
        r = await client.request("stop")
        try:  # the supervisor closes the connection as it exits
            await asyncio.wait_for(client.closed.wait(), 15)
        except asyncio.TimeoutError:
            raise CliError("podium stop: the supervisor did not exit within 15 s; see .podium/supervisor.log") from None
        print(f"podium: stopped {len(r['stopped'])} worker(s) and the supervisor")
        return 0
    raise CliError(f"podium: unknown command {cmd}", 2)


async def cmd_logs(args: argparse.Namespace, workspace: Path) -> int:
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
            client.on_event = None
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
                emit(event["data"].encode("utf-8", "surrogateescape"))
            elif event.get("event") == "worker" and event["worker"]["name"] == args.name:
                if event["worker"]["state"] in ENDED:
                    return 0
    finally:
        await client.close()


def demo_workspace(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit.resolve()
    from platformdirs import user_data_path

    path = user_data_path("podium") / "demo"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def start_demo(workspace: Path) -> None:
    from podium.sessions.demo import demo_workers

    client, _ = await connect_or_start(workspace)
    try:
        existing = {w["name"]: w for w in await client.request("ls")}
        lm_dir = Blackboard(workspace).worker_dir("agent")
        for worker in demo_workers(str(lm_dir)):
            w = existing.get(worker.name)
            if w is not None and w["state"] in ACTIVE:
                continue
            if w is not None:
                continue  # ended: keep it on screen as it ended
            await client.request(
                "spawn", name=worker.name, argv=worker.argv, kind=worker.kind, cwd=str(workspace), env=dict(os.environ)
            )
    finally:
        await client.close()


def attach(workspace: Path, autostart: bool, plain: bool = False) -> int:
    if plain:
        from .plain_client import run_plain_client

        return run_plain_client(workspace, autostart=autostart)
    if not autostart:
        # Fail clearly (and before the screen switches) when nothing runs.
        async def probe() -> None:
            client = await SupervisorClient.connect(workspace, client="probe")
            await client.close()

        asyncio.run(probe())
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise CliError("podium: attaching needs a terminal (stdin and stdout must be a TTY)", 2)
    from .app import run_app

    return run_app(workspace, autostart=autostart)


def parse(argv: list[str]) -> argparse.Namespace:
    """Everything after the first `--` is the worker's command, never podium's options."""
    if "--" in argv:
        cut = argv.index("--")
        args = build_parser().parse_args(argv[:cut])
        if hasattr(args, "cmd"):
            args.cmd = list(args.cmd) + argv[cut + 1 :]
        return args
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    workspace = (args.workspace or Path.cwd()).resolve()
    try:
        if args.command == "version":
            from importlib.metadata import version

            print(f"podium {version('podium')}")
            return 0
        if args.command == "demo":
            workspace = demo_workspace(args.workspace)
            asyncio.run(start_demo(workspace))
            if args.no_attach:
                print(f"podium: demo running in {workspace}")
                return 0
            return attach(workspace, autostart=True, plain=args.plain)
        if args.command is None:
            return attach(workspace, autostart=True)
        if args.command == "attach":
            return attach(workspace, autostart=False, plain=args.plain)
        return asyncio.run(run_command(args, workspace))
    except CliError as exc:
        print(exc, file=sys.stderr)
        return exc.code
    except (NotRunning, RequestFailed, BlackboardError) as exc:
        print(f"podium: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
