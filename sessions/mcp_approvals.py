"""The permission prompt of a print-mode claude (`claude -p`, the agent plans start): claude
has no screen to ask on and fires no PermissionRequest hook in print mode (checked with the
pinned 2.1.197), so podium gives such a run `--permission-prompt-tool
mcp__podium__approve`, served by `podium mcp --approvals` started by that claude. The tool
asks the person through the same path as an interactive agent's hook (the `hook` request,
as the worker, with its run's token): one question in the inbox, tier rules as for any
prompt, and the answer back as claude's permission decision. claude wants it as exactly
one text block holding JSON (a structured result is refused), so this tool returns text.

Nobody to ask (a claude podium did not start), no supervisor, or no answer in time: the
tool denies, saying why, and claude goes on without the tool (print mode cannot wait on a
screen).
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

from pydantic import Field

from .mcp_link import SupervisorLine, ToolFailure

PROMPT_TOOL = "mcp__podium__approve"  # what claude's --permission-prompt-tool names


def _deny(why: str) -> str:
    return json.dumps({"behavior": "deny", "message": f"podium: {why}"})


class ApprovalTool:
    NAMES = ("approve",)

    def __init__(self, line: SupervisorLine):
        self.line = line

    async def approve(
        self,
        tool_name: Annotated[str, Field(description="the tool claude wants to use (Bash, Write, …)")],
        input: Annotated[dict[str, Any], Field(description="the tool's input as claude would run it")],  # noqa: A002 - claude's own name for it
        tool_use_id: Annotated[str | None, Field(description="claude's id of this tool use")] = None,
    ) -> str:
        """Ask the person watching podium whether this claude may use a tool; answers
        claude's permission-prompt protocol: {"behavior": "allow", "updatedInput": …} or
        {"behavior": "deny", "message": …}, as one text block."""
        worker, token = os.environ.get("PODIUM_HOOK_WORKER"), os.environ.get("PODIUM_HOOK_TOKEN")
        if not worker or not token:
            return _deny("this claude was not started by podium, so there is nobody to ask")
        wait = float(os.environ.get("PODIUM_HOOK_WAIT") or 600)
        payload = {"tool_name": tool_name, "tool_input": input, "tool_use_id": tool_use_id, "hook_event_name": "PermissionRequest"}
        try:
            out = await self.line.request("hook", deadline=wait + 10, worker=worker, token=token, event="PermissionRequest", payload=payload, wait=wait)
        except ToolFailure as exc:
            return _deny(f"the person could not be asked ({exc})")
        try:
            decision = json.loads(out.get("stdout") or "{}").get("hookSpecificOutput", {}).get("decision") or {}
        except ValueError:
            decision = {}
        if decision.get("behavior") == "allow":
            return json.dumps({"behavior": "allow", "updatedInput": input})
        if decision.get("behavior") == "deny":
            return json.dumps({"behavior": "deny", "message": str(decision.get("message") or "denied by the person in podium")})
        return _deny(f"nobody answered in {wait:g} s")
