"""The orchestrating agents' door (issue 15): what an MCP client (`podium mcp`) may start,
and what the person holds over it.

Owns the orchestrators' policy, in `.podium/orchestrator.toml`: a pause the person sets
(nothing new starts; what runs goes on), a per-workspace cap on the workers orchestrators
spawn, the tier of the gate in front of a plan an orchestrator wants to run, and the names
of the workers they started. Their spawns go through the one request table like anyone's
(`call(by, op, ...)`), after the checks here; every tool call is one journal entry naming
the caller. Only the person changes the policy: a request from an MCP client to do so is
refused.
"""

# No `from __future__ import annotations`: the TypedDicts below need NotRequired evaluated.
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from .blackboard import BlackboardError, DiskThread, Journal, read_toml
from .requests import RequestError, RequestTable
from .states import Tier

log = logging.getLogger("podium")

MCP_KIND = "mcp"  # the client kind `podium mcp` says hello with
DEFAULT_CAP = 16
ARG_SHOWN = 200  # characters of each string argument kept in the journal

Caller = Callable[..., Awaitable[Any]]  # RequestTable.call(by, op, **fields)


class McpCall(TypedDict):
    tool: str
    caller: NotRequired[str | None]  # the MCP client's name (codex-mcp-client, claude-code...)
    args: NotRequired[dict[str, Any] | None]


class McpSpawn(TypedDict):
    name: str
    argv: list[str]
    kind: NotRequired[str | None]
    cwd: NotRequired[str | None]
    env: NotRequired[dict[str, str] | None]
    caller: NotRequired[str | None]


class McpExec(TypedDict):
    cmd: str | list[str]
    workdir: NotRequired[str | None]
    env: NotRequired[dict[str, str] | None]
    yield_time_ms: NotRequired[int | float]
    max_output_tokens: NotRequired[int | None]
    caller: NotRequired[str | None]


class McpPolicy(TypedDict):
    paused: NotRequired[bool | None]
    max_workers: NotRequired[int | None]
    plan_tier: NotRequired[str | None]


def _shown(args: dict[str, Any] | None) -> dict[str, Any]:
    """A tool's arguments as the journal keeps them: long strings cut, with their length."""
    out: dict[str, Any] = {}
    for key, value in (args or {}).items():
        if isinstance(value, str) and len(value) > ARG_SHOWN:
            value = f"{value[:ARG_SHOWN]}… ({len(value)} characters)"
        out[key] = value
    return out


class OrchestratorDesk:
    def __init__(self, path: Path, journal: Journal, disk: DiskThread, call: Caller, publish: Callable[[dict[str, Any]], None]):
        self.path = path
        self.journal = journal
        self.disk = disk
        self.call = call
        self.publish = publish  # an `orchestrator` event for every client
        self.paused = False
        self.max_workers = DEFAULT_CAP
        self.plan_tier: str = Tier.GATE
        self.started: list[str] = []
        self._load()

    def register(self, table: RequestTable) -> None:
        table.add_notification("mcp_call", self.note_call, McpCall)
        table.add("mcp_spawn", self.op_spawn, McpSpawn)
        table.add("mcp_exec", self.op_exec, McpExec)
        table.add("mcp_policy", self.op_policy, McpPolicy)

    # -- the policy on disk -------------------------------------------------------------------
    def _load(self) -> None:
        try:
            data = read_toml(self.path)
        except BlackboardError as exc:
            if self.path.exists():
                log.warning(f"orchestrator policy: {exc}; using the defaults")
            return
        self.paused = bool(data.get("paused", False))
        cap = data.get("max_workers", DEFAULT_CAP)
        self.max_workers = cap if isinstance(cap, int) and cap >= 0 else DEFAULT_CAP
        tier = data.get("plan_tier", Tier.GATE)
        self.plan_tier = tier if tier in tuple(Tier) else Tier.GATE
        started = data.get("started", [])
        self.started = [str(n) for n in started] if isinstance(started, list) else []

    def public(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "max_workers": self.max_workers,
            "started": list(self.started),
            "remaining": max(0, self.max_workers - len(self.started)),
            "plan_tier": self.plan_tier,
            "path": str(self.path),
        }

    def _save(self) -> None:
        record = {"paused": self.paused, "max_workers": self.max_workers, "plan_tier": self.plan_tier, "started": self.started}
        self.disk.write_toml(self.path, record)

    # -- requests ------------------------------------------------------------------------------
    def note_call(self, client: Any, req: dict[str, Any]) -> None:
        """One journal entry per tool call, before the call acts: who asked, what, with what."""
        self.journal.write("mcp", None, tool=req["tool"], caller=req.get("caller"), args=_shown(req.get("args")), via=client.kind)

    def _may_start(self, what: str) -> None:
        if self.paused:
            raise RequestError(
                f"the person has paused what orchestrators may start ({what} refused); "
                "what runs goes on. They lift it with `podium mcp --resume`"
            )

    async def op_spawn(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        self._may_start(f"spawn {req['name']}")
        if len(self.started) >= self.max_workers:
            raise RequestError(
                f"the orchestrators' cap is reached: {len(self.started)} of {self.max_workers} workers started in this "
                "workspace; the person may raise it (`podium mcp --cap N`)"
            )
        name = req["name"]
        self.started.append(name)  # held before the await: two spawns at once cannot both pass the cap
        fields = {k: v for k, v in req.items() if k in ("name", "argv", "kind", "cwd", "env")}
        try:
            worker = await self.call(client.kind, "spawn", **fields)
        except BaseException:
            self.started.remove(name)
            raise
        self._save()
        self.journal.write("orchestrator", name, action="spawned", caller=req.get("caller"), via=client.kind)
        self.publish({"event": "orchestrator", "policy": self.public()})
        return worker

    async def op_exec(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """exec_command: the orchestrator's own commands. Held by the pause; not counted
        against the cap (codex runs its shell commands the same way)."""
        self._may_start("exec_command")
        fields = {k: v for k, v in req.items() if k in ("cmd", "workdir", "env", "yield_time_ms", "max_output_tokens")}
        answer = await self.call(client.kind, "exec", **fields)
        sid = answer.get("session_id")
        self.journal.write("orchestrator", f"exec-{sid}" if sid is not None else None, action="exec", caller=req.get("caller"), via=client.kind)
        return answer

    async def op_policy(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """The policy as it stands; with fields, the person changes it."""
        changes = {k: req[k] for k in ("paused", "max_workers", "plan_tier") if req.get(k) is not None}
        if not changes:
            return self.public()
        if client.kind == MCP_KIND:
            raise RequestError("only the person changes what orchestrators may do (podium mcp --pause/--resume/--cap/--plan-tier)")
        cap = changes.get("max_workers")
        if cap is not None and cap < 0:
            raise RequestError(f"max_workers must be 0 or more, not {cap}")
        tier = changes.get("plan_tier")
        if tier is not None and tier not in tuple(Tier):
            raise RequestError(f"plan_tier must be {', '.join(Tier)}, not {tier!r}")
        for key, value in changes.items():
            setattr(self, key, value)
        self._save()
        self.journal.write("orchestrator", None, action="policy", **changes, via=client.kind)
        self.publish({"event": "orchestrator", "policy": self.public()})
        return self.public()
