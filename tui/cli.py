"""The `podium` command line, with tmux habits: `podium` attaches (starting the
supervisor if none runs), `attach` only attaches, `ls`/`status` print tables or JSON,
`exec`/`write` speak the exec_command/write_stdin model in JSON for scripts and agents.
This module parses and routes; `subcommands.py` does what each one asks."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from podium.sessions.blackboard import BlackboardError
from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient
from podium.sessions.demo.session import demo_workspace, start_demo
from podium.sessions.exec_model import DEFAULT_EXEC_YIELD_MS, DEFAULT_WRITE_YIELD_MS

from . import dlq_commands, mcp_command, plan_commands, subcommands, worktree_commands
from .subcommands import CliError

__all__ = ["CliError", "main", "parse"]

# Textual draws at most this many frames a second (its default, 60, makes a key wait up
# to 17 ms for its frame's slot; bench/scrollback.py measures the difference).
FPS = "120"


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
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
    subs: dict[str, argparse.ArgumentParser] = {}

    def sub_add_parser(name: str, **kw: Any) -> argparse.ArgumentParser:
        subs[name] = add(name, parents=[common], **kw)
        return subs[name]

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
    spawn.add_argument("--worktree", action="store_true", help="in a git worktree of its own, on branch podium/NAME")
    spawn.add_argument("--base", default=None, help="with --worktree: the branch or commit it starts from (default: HEAD)")
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
    kill = sub.add_parser("kill", help="close a worker as a closed terminal would (SIGHUP, then SIGTERM; SIGKILL after --grace seconds)")
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
    deny.add_argument("--message", "-m", default=None, help="why, for the agent (an agent's own permission request passes it on)")

    plan_commands.add_parser(sub.add_parser)
    dlq_commands.add_parser(sub.add_parser)
    mcp_command.add_parser(sub.add_parser)
    worktree_commands.add_parser(sub.add_parser)
    stop = sub.add_parser("stop", help="stop every worker and the supervisor (asks first)")
    stop.add_argument("--yes", "-y", action="store_true")
    sub.add_parser("version", help="print the version")
    return ap, subs


def parse(argv: list[str]) -> argparse.Namespace:
    """Everything after the first `--` is the worker's command, never podium's options;
    before it, a subcommand's options and positionals may come in any order (as in
    `podium write 3 --yield-ms 1000 'text'`)."""
    worker_cmd: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, worker_cmd = argv[:cut], argv[cut + 1 :]
    top, subs = build_parser()
    args, _ = top.parse_known_args(argv)
    if args.command is not None:
        at = _command_index(argv, args.command)
        for key, value in vars(subs[args.command].parse_intermixed_args(argv[at + 1 :])).items():
            setattr(args, key, value)
    if hasattr(args, "cmd"):
        args.cmd = list(args.cmd) + worker_cmd
    elif worker_cmd:
        top.error(f"{args.command or 'podium'} takes no command after --")
    return args


def _command_index(argv: list[str], command: str) -> int:
    """Where the subcommand stands (after the global -w DIR, if given)."""
    i = 0
    while i < len(argv):
        if argv[i] in ("-w", "--workspace"):
            i += 2
            continue
        if argv[i] == command:
            return i
        i += 1
    raise ValueError(command)


def attach(workspace: Path, autostart: bool, plain: bool = False) -> int:
    if plain:
        from .plain_client import run_plain_client  # here: `podium ls` never loads a UI

        return run_plain_client(workspace, autostart=autostart)
    if not autostart:
        # Fail clearly (and before the screen switches) when nothing runs.
        async def probe() -> None:
            client = await SupervisorClient.connect(workspace, client="probe")
            await client.close()

        asyncio.run(probe())
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise CliError("podium: attaching needs a terminal (stdin and stdout must be a TTY)", 2)
    os.environ.setdefault("TEXTUAL_FPS", FPS)  # read once, when textual is first imported
    from .app import run_app  # here: `podium ls` never loads textual

    return run_app(workspace, autostart=autostart)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    workspace = (args.workspace or Path.cwd()).resolve()
    try:
        if args.command == "version":
            print(f"podium {version('podium')}")
            return 0
        if args.command == "demo":
            workspace = demo_workspace(args.workspace)
            note = asyncio.run(start_demo(workspace))
            if note:
                print(f"podium: {note}", file=sys.stderr)
            if args.no_attach:
                print(f"podium: demo running in {workspace}")
                return 0
            return attach(workspace, autostart=True, plain=args.plain)
        if args.command is None:
            return attach(workspace, autostart=True)
        if args.command == "attach":
            return attach(workspace, autostart=False, plain=args.plain)
        if args.command == "mcp":
            return mcp_command.run(args, workspace)
        if args.command in ("merge", "discard", "diff"):
            return asyncio.run(worktree_commands.run(args, workspace))
        if args.command in ("plan", "dlq"):
            return asyncio.run((plan_commands if args.command == "plan" else dlq_commands).run(args, workspace))
        return asyncio.run(subcommands.run(args, workspace))
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
