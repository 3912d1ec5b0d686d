"""`podium mcp`: podium's requests as MCP tools, over stdio, built on the official SDK's
`MCPServer` (mcp 2.x; docs/DESIGN.md says why). It is a client of the workspace's
supervisor like the dashboard: it owns no state, and its death loses nothing.

This module wires the SDK: the tools (`mcp_tools.py`, `mcp_person.py`) registered by
name, the caller's name taken from the MCP handshake, and every tool call journaled (with
the caller, its arguments shortened here, so no call can be too big for the supervisor's
line) before it acts, unknown tools and bad arguments included. stdout is the wire:
nothing else may print there.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.types import CallToolResult, TextContent

from .mcp_approvals import ApprovalTool
from .mcp_link import SupervisorLine, ToolFailure
from .mcp_person import PersonTools
from .mcp_tools import WorkerTools
from .orchestrators import journal_args

INSTRUCTIONS = """\
podium runs workers (codex exec, claude -p, interactive agents, shell commands) in real
terminals that a person watches live on a dashboard. Everything you start here appears
there at once; the person can answer, interrupt or take over any worker at any moment.

- exec_command / write_stdin work exactly like codex's own tools (same arguments).
- spawn_worker starts a worker; wait_for blocks until workers reach a state (no polling);
  last_message reads a worker's final message; read_transcript its terminal output.
- Curate, never forward raw output: promote the messages worth keeping into the result.
- ask_person puts a decision in the person's inbox and waits (50 s by default) for the
  answer; without one yet it gives the escalation id: call wait_answer with it, never ask
  again. Use it before anything costly, risky or irreversible.
- plan_new writes a plan from a preset; plan_run starts it once the person says yes.
The person can pause what you may start or type, and caps how many workers you may spawn
or resume. write_stdin reaches only sessions and workers orchestrators started.
"""


APPROVALS = "podium asks the person watching this claude whether it may use a tool (its --permission-prompt-tool)."


class CallJournal(ServerMiddleware[Any]):
    """Learns the caller's name at the handshake; journals each tools/call before it runs."""

    def __init__(self, line: SupervisorLine):
        self.line = line
        self.caller: str | None = None

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = ctx.params or {}
        if ctx.method == "initialize":
            info = params.get("clientInfo") or {}
            name, version = info.get("name"), info.get("version")
            self.caller = f"{name} {version}" if name and version else name
        elif ctx.method == "tools/call":
            tool, args = str(params.get("name"))[:200], params.get("arguments")
            try:
                await self.line.note(tool, journal_args(tool, {} if args is None else args))
            except ToolFailure:
                pass  # no supervisor to journal into: the call itself says why
            if args is not None and not isinstance(args, dict):
                why = f"arguments: a tool's arguments are a JSON object (name: value), not {type(args).__name__}"
                return CallToolResult(content=[TextContent(type="text", text=why)], is_error=True)
        return await call_next(ctx)


def build_server(workspace: Path, approvals_only: bool = False) -> tuple[MCPServer, SupervisorLine]:
    """The server with every tool, or (approvals_only: what podium gives a claude -p it
    starts) only the permission-prompt tool, whose answer claude wants as plain text."""
    journal_mw: list[CallJournal] = []
    line = SupervisorLine(workspace, caller=lambda: journal_mw[0].caller if journal_mw else None)
    journal_mw.append(CallJournal(line))
    server = MCPServer("podium", instructions=INSTRUCTIONS if not approvals_only else APPROVALS, log_level="WARNING", middleware=journal_mw)
    rooms = [ApprovalTool(line)] if approvals_only else [WorkerTools(line, workspace), PersonTools(line, workspace)]
    for tools in rooms:
        for name in tools.NAMES:
            fn = getattr(tools, name)
            server.add_tool(fn, name=name, description=inspect.getdoc(fn), structured_output=not approvals_only)
    return server, line


async def serve(workspace: Path, approvals_only: bool = False) -> None:
    server, line = build_server(workspace, approvals_only)
    try:
        await server.run_stdio_async()
    finally:
        await line.close()


def run(workspace: Path, approvals_only: bool = False) -> int:
    """Serve MCP on stdin/stdout until the client closes it."""
    logging.getLogger("mcp").setLevel(logging.WARNING)
    anyio.run(serve, workspace, approvals_only)
    return 0
