"""`podium mcp`: serve podium's tools to an orchestrating agent over stdio (the server is
`podium.sessions.mcp_server`), print the snippet that registers it with codex or claude,
or let the person hold what orchestrators may do: pause and resume their spawns, their
cap, the tier of their plan gate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient, connect_or_start
from podium.sessions.hooks import podium_program
from podium.sessions.orchestrators import ORCHESTRATED
from podium.sessions.states import Tier

from .subcommands import CliError

# Variables an agent worker needs that codex does not pass to an MCP server by itself.
PASSED_ENV = ["XDG_RUNTIME_DIR", "CODEX_HOME", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CONFIG_DIR"]


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("mcp", help="serve podium's tools to an orchestrating agent (MCP over stdio), or print how to register it")
    p.add_argument("--print-config", choices=["codex", "claude"], default=None, help="print the snippet that registers podium with codex or claude")
    p.add_argument("--pause", action="store_true", help="orchestrators start nothing new (what runs goes on)")
    p.add_argument("--resume", action="store_true", help="let orchestrators start workers again")
    p.add_argument("--cap", type=int, default=None, help="how many workers orchestrators may spawn in this workspace")
    p.add_argument("--plan-tier", choices=list(Tier), default=None, help="gate: plans they write wait for your yes; notify/autonomous: they start at once")
    p.add_argument("--policy", action="store_true", help="print what orchestrators may do now (JSON)")
    p.add_argument("--approvals", action="store_true", help="serve only the permission-prompt tool (podium gives it to the claude -p runs it starts)")



def codex_config(program: str, workspace: Path) -> str:
    args = json.dumps(["mcp", "--workspace", str(workspace)])
    env = json.dumps(PASSED_ENV)
    return f"""\
# In ~/.codex/config.toml (or $CODEX_HOME/config.toml):
[mcp_servers.podium]
command = {json.dumps(program)}
args = {args}
startup_timeout_sec = 30
tool_timeout_sec = 3600  # wait_for blocks until workers end (up to its timeout_s)
default_tools_approval_mode = "approve"  # `codex exec` refuses MCP calls that would need an approval
env_vars = {env}  # what agent workers need; codex passes an MCP server only a few variables

# Or for one run, as -c overrides:
# codex -c 'mcp_servers.podium.command={json.dumps(program)}' -c 'mcp_servers.podium.args={args}' \\
#   -c 'mcp_servers.podium.tool_timeout_sec=3600' -c 'mcp_servers.podium.default_tools_approval_mode="approve"' …
"""


def claude_config(program: str, workspace: Path) -> str:
    config = {"mcpServers": {"podium": {"type": "stdio", "command": program, "args": ["mcp", "--workspace", str(workspace)]}}}
    return json.dumps(config, indent=2) + "\n"


CLAUDE_HINT = (
    "podium: save it as podium-mcp.json, then `claude --mcp-config podium-mcp.json …`; the tools are "
    "mcp__podium__spawn_worker, mcp__podium__wait_for, …; MCP_TOOL_TIMEOUT=3600000 lets a wait block"
)


async def policy(args: argparse.Namespace, workspace: Path) -> int:
    changes: dict[str, Any] = {}
    if args.pause and args.resume:
        raise CliError("podium mcp: --pause or --resume, not both", 2)
    if args.pause or args.resume:
        changes["paused"] = bool(args.pause)
    if args.cap is not None:
        if args.cap < 0:
            raise CliError(f"podium mcp: --cap must be 0 or more, not {args.cap}", 2)
        changes["max_workers"] = args.cap
    if args.plan_tier:
        changes["plan_tier"] = args.plan_tier
    if changes and os.environ.get(ORCHESTRATED):
        raise CliError(f"podium mcp: only the person changes what orchestrators may do, and this shell was started by one ({ORCHESTRATED} is set)", 2)
    try:
        client = (await connect_or_start(workspace))[0] if changes else await SupervisorClient.connect(workspace)
    except NotRunning as exc:
        raise CliError(f"podium: {exc}") from None
    try:
        now = await client.request("mcp_policy", **changes)
    except RequestFailed as exc:
        raise CliError(f"podium mcp: {exc}") from None
    finally:
        await client.close()
    if args.policy or not changes:
        print(json.dumps(now, indent=2))
    else:
        state = "paused" if now["paused"] else "may start workers"
        used = len(now["started"]) + len(now.get("resumed", []))
        print(f"podium: orchestrators {state}; {used} of {now['max_workers']} spawns and resumes used; plans: {now['plan_tier']}")
    return 0


def run(args: argparse.Namespace, workspace: Path) -> int:
    if args.print_config:
        make = codex_config if args.print_config == "codex" else claude_config
        sys.stdout.write(make(podium_program(), workspace))
        if args.print_config == "claude":
            print(CLAUDE_HINT, file=sys.stderr)  # stdout stays valid JSON
        return 0
    if args.pause or args.resume or args.cap is not None or args.plan_tier or args.policy:
        return asyncio.run(policy(args, workspace))
    from podium.sessions.mcp_server import run as serve  # here: other commands never load the SDK

    return serve(workspace, approvals_only=args.approvals)
