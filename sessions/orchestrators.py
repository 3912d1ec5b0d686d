"""The orchestrating agents' door (issue 15): what an MCP client (`podium mcp`) may start,
and what the person holds over it.

Owns the orchestrators' policy, in `.podium/orchestrator.toml`: a pause the person sets
(nothing new starts, and nothing is typed into a session; what runs goes on), a
per-workspace cap on the workers orchestrators spawn or resume, the tier of the gate in
front of a plan an orchestrator wants to run (and the gates it has raised, each tied to
one plan file and its content), and the names of the workers they started. Their spawns,
resumes, writes and plans go through the one request table like anyone's (`call(by, op,
...)`), after the checks here; every tool call is one journal entry naming the caller,
its arguments shortened and its secrets masked (`journal_args`). Only the person changes
the policy: a request to do so from an MCP client, or from a process an orchestrator
started, is refused.
"""

# No `from __future__ import annotations`: the TypedDicts below need NotRequired evaluated.
import hashlib
import json
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from .blackboard import BlackboardError, DiskThread, Journal, read_toml
from .text import masked
from .requests import RequestError, RequestTable
from .states import Tier, WorkerState

log = logging.getLogger("podium")

MCP_KIND = "mcp"  # the client kind `podium mcp` says hello with
APP_KIND = "tui"  # the dashboard: the person's own (its M key pauses orchestrators)
ORCHESTRATED = "PODIUM_ORCHESTRATED"  # set to 1 in the environment of what orchestrators start
DEFAULT_CAP = 16
ARG_SHOWN = 200  # characters of each string argument kept in the journal
ITEMS_SHOWN = 20  # items of each list or object kept in the journal
DEPTH_SHOWN = 4
RECORD_SHOWN = 4096  # bytes of JSON one tool call's arguments may take in the journal
RUN, DONT = "A", "B"  # the plan gate's options
_CREDS = struct.Struct("3i")

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


class McpResume(TypedDict):
    worker: str
    prompt: str
    env: NotRequired[dict[str, str] | None]
    caller: NotRequired[str | None]


class McpWrite(TypedDict):
    session_id: int | str
    chars: NotRequired[str]
    yield_time_ms: NotRequired[int | float]
    max_output_tokens: NotRequired[int | None]


class McpPlanRun(TypedDict):
    path: str
    escalation: NotRequired[str | None]  # the gate an earlier mcp_plan_run raised: wait for it again
    timeout: NotRequired[int | float]  # seconds to wait for the person's answer
    env: NotRequired[dict[str, str] | None]
    caller: NotRequired[str | None]


class McpPolicy(TypedDict):
    paused: NotRequired[bool | None]
    max_workers: NotRequired[int | None]
    plan_tier: NotRequired[str | None]


# -- the journal's view of a tool call ---------------------------------------------------------------
def _shortened(value: Any, left: list[int], depth: int = 0) -> Any:
    """`value` cut to fit: strings to ARG_SHOWN characters (secrets masked), lists and
    objects to ITEMS_SHOWN items and DEPTH_SHOWN levels, all of it to about `left[0]`
    characters (what is past the budget is left out)."""
    if isinstance(value, str):
        shown = masked(value[:ARG_SHOWN]) + (f"… ({len(value)} characters)" if len(value) > ARG_SHOWN else "")
    elif isinstance(value, (bool, int, float)) or value is None:
        shown = value
    elif depth >= DEPTH_SHOWN or not isinstance(value, (dict, list)):
        shown = f"({type(value).__name__})"
    else:
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        kept: list[tuple[Any, Any]] = []
        for key, item in items[:ITEMS_SHOWN]:
            if left[0] <= 0:
                break
            kept.append((_shortened(str(key), left) if isinstance(value, dict) else key, _shortened(item, left, depth + 1)))
        more = f"… {len(items) - len(kept)} more" if len(kept) < len(items) else None
        if isinstance(value, dict):
            return {**dict(kept), **({"…": more} if more else {})}
        return [v for _, v in kept] + ([more] if more else [])
    left[0] -= len(shown) if isinstance(shown, str) else 8
    return shown


def journal_args(tool: str, args: Any) -> dict[str, Any]:
    """A tool's arguments as the journal keeps them: what is typed into a terminal only as
    its length, NAME=value secrets (KEY, TOKEN, SECRET, PASSWORD...) masked, every string,
    list and object shortened at every depth, and the whole about RECORD_SHOWN bytes of
    JSON at most. Built by `podium mcp` before it notes the call, and again here (a client
    may send anything)."""
    if not isinstance(args, dict):
        return {"not_an_object": type(args).__name__}
    if tool == "write_stdin" and isinstance(args.get("chars"), str):
        args = {**args, "chars": {"bytes": len(args["chars"].encode("utf-8", "surrogateescape"))}}
    shown = _shortened(args, [RECORD_SHOWN])
    size = len(json.dumps(shown, ensure_ascii=False).encode())
    if size > RECORD_SHOWN:  # many short items: keep the names only
        shown = {"shortened": f"{size} bytes of arguments", "keys": [str(k)[:64] for k in list(args)[:ITEMS_SHOWN]]}
    return shown


def orchestrated_peer(client: Any) -> bool:
    """Was the process at the other end of this connection started by an orchestrator?
    (Its environment says so; the kernel names the peer.)"""
    writer = getattr(client, "writer", None)
    sock = writer.get_extra_info("socket") if writer is not None else None
    if sock is None:
        return False
    try:
        pid, _uid, _gid = _CREDS.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDS.size))
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return any(var.startswith(f"{ORCHESTRATED}=".encode()) and var != f"{ORCHESTRATED}=".encode() for var in environ.split(b"\0"))


def _orchestrated_env(env: dict[str, str] | None) -> dict[str, str]:
    return {**(env or {}), ORCHESTRATED: "1"}


def _read_plan(path: str) -> tuple[str, str]:
    """(the plan's text, its sha256). On the disk thread."""
    text = Path(path).read_text(encoding="utf-8")
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


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
        self.resumed: list[str] = []  # one name per resume: each uses a slot of the cap too
        self.gates: dict[str, tuple[str, str]] = {}  # plan gate escalation id -> (plan path, sha256 of its text)
        self._load()

    def register(self, table: RequestTable) -> None:
        table.add_notification("mcp_call", self.note_call, McpCall)
        table.add("mcp_spawn", self.op_spawn, McpSpawn)
        table.add("mcp_exec", self.op_exec, McpExec)
        table.add("mcp_resume", self.op_resume, McpResume)
        table.add("mcp_write", self.op_write, McpWrite)
        table.add("mcp_plan_run", self.op_plan_run, McpPlanRun)
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
        for key in ("started", "resumed"):
            names = data.get(key, [])
            setattr(self, key, [str(n) for n in names] if isinstance(names, list) else [])

    @property
    def used(self) -> int:
        return len(self.started) + len(self.resumed)

    def public(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "max_workers": self.max_workers,
            "started": list(self.started),
            "resumed": list(self.resumed),
            "remaining": max(0, self.max_workers - self.used),
            "plan_tier": self.plan_tier,
            "path": str(self.path),
        }

    def _save(self) -> None:
        record = {"paused": self.paused, "max_workers": self.max_workers, "plan_tier": self.plan_tier, "started": self.started, "resumed": self.resumed}
        self.disk.write_toml(self.path, record)

    def _used_one(self, name: str, action: str, caller: str | None, via: str) -> None:
        self._save()
        self.journal.write("orchestrator", name, action=action, caller=caller, via=via)
        self.publish({"event": "orchestrator", "policy": self.public()})

    # -- requests ------------------------------------------------------------------------------
    def note_call(self, client: Any, req: dict[str, Any]) -> None:
        """One journal entry per tool call, before the call acts: who asked, what, with what."""
        self.journal.write("mcp", None, tool=req["tool"], caller=req.get("caller"), args=journal_args(req["tool"], req.get("args") or {}), via=client.kind)

    def _may_start(self, what: str) -> None:
        if self.paused:
            raise RequestError(
                f"the person has paused what orchestrators may start ({what} refused); "
                "what runs goes on. They lift it with `podium mcp --resume`"
            )

    def _room_left(self) -> None:
        if self.used >= self.max_workers:
            raise RequestError(
                f"the orchestrators' cap is reached: {self.used} of {self.max_workers} workers started or resumed in this "
                "workspace; the person may raise it (`podium mcp --cap N`)"
            )

    async def op_spawn(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        self._may_start(f"spawn {req['name']}")
        self._room_left()
        name = req["name"]
        self.started.append(name)  # held before the await: two spawns at once cannot both pass the cap
        fields = {k: v for k, v in req.items() if k in ("name", "argv", "kind", "cwd")}
        try:
            worker = await self.call(client.kind, "spawn", **fields, env=_orchestrated_env(req.get("env")))
        except BaseException:
            self.started.remove(name)
            raise
        if worker["state"] == WorkerState.FAILED and not worker.get("started"):
            self.started.remove(name)  # it never ran: the slot is free again
            self.journal.write("orchestrator", name, action="spawn-failed", reason=worker.get("reason"), caller=req.get("caller"), via=client.kind)
            return worker
        self._used_one(name, "spawned", req.get("caller"), client.kind)
        return worker

    async def op_resume(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """resume_worker: a new run of a worker, held by the pause and counted against the cap."""
        name = req["worker"]
        self._may_start(f"resume {name}")
        self._room_left()
        self.resumed.append(name)
        try:
            worker = await self.call(client.kind, "resume", worker=name, prompt=req["prompt"], env=_orchestrated_env(req.get("env")))
        except BaseException:
            self.resumed.remove(name)
            raise
        self._used_one(name, "resumed", req.get("caller"), client.kind)
        return worker

    async def op_exec(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """exec_command: the orchestrator's own commands. Held by the pause; not counted
        against the cap (codex runs its shell commands the same way)."""
        self._may_start("exec_command")
        fields = {k: v for k, v in req.items() if k in ("cmd", "workdir", "yield_time_ms", "max_output_tokens")}
        answer = await self.call(client.kind, "exec", **fields, env=_orchestrated_env(req.get("env")))
        sid = answer.get("session_id")
        self.journal.write("orchestrator", f"exec-{sid}" if sid is not None else None, action="exec", caller=req.get("caller"), via=client.kind)
        return answer

    async def op_write(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """write_stdin: typing is held by the pause (a poll with no chars is not); the write
        op itself lets an orchestrator type only into sessions orchestrators started."""
        if req.get("chars"):
            self._may_start(f"typing into session {req['session_id']}")
        fields = {k: v for k, v in req.items() if k in ("session_id", "chars", "yield_time_ms", "max_output_tokens")}
        return await self.call(client.kind, "write", **fields)

    async def op_plan_run(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """plan_run: held by the pause; at the gate tier it starts only on the person's yes
        to a gate raised here for this plan file with this very text (one yes, one run)."""
        path = req["path"]
        self._may_start(f"plan_run {path}")
        esc_id, answer, gate = req.get("escalation"), None, None
        if self.plan_tier == Tier.GATE:
            esc_id, answer, refused = await self._gate(client, req, path)
            if refused:
                return {"started": False, "tier": self.plan_tier, "escalation": esc_id, "answer": answer, "note": refused, "status": None}
            self._may_start(f"plan_run {path}")  # the person may have paused while deciding
            _text, now = await self._read(path)
            gate = self.gates.pop(esc_id, None)  # one yes, one run
            if gate is None:
                raise RequestError(f"escalation: the yes to {esc_id} has started its plan already")
            if now != gate[1]:
                raise RequestError(f"path: {path} changed after the person was asked (sha256 {gate[1][:12]}… then, {now[:12]}… now); call plan_run again to ask about this version")
        try:
            status = await self.call(client.kind, "plan_run", path=path, env=_orchestrated_env(req.get("env")))
        except BaseException:
            if esc_id is not None and gate is not None:
                self.gates[esc_id] = gate  # it did not start: the yes still stands
            raise
        self.journal.write("orchestrator", None, action="plan", path=path, escalation=esc_id, caller=req.get("caller"), via=client.kind)
        return {"started": True, "tier": self.plan_tier, "escalation": esc_id, "answer": answer, "note": f"plan {status.get('title')!r} runs", "status": status}

    async def _read(self, path: str) -> tuple[str, str]:
        try:
            return await self.disk.run(_read_plan, path)
        except (OSError, UnicodeDecodeError) as exc:
            raise RequestError(f"path: cannot read the plan {path}: {exc}") from None

    async def _gate(self, client: Any, req: dict[str, Any], path: str) -> tuple[str, dict[str, Any] | None, str | None]:
        """(the gate's escalation id, its answer, why the plan does not run or None): the
        gate raised now, or the one `req` names, waited for up to `req["timeout"]` s."""
        esc_id = req.get("escalation")
        if esc_id is None:
            _text, digest = await self._read(path)
            esc_id = await self._raise_gate(client, path, digest, req.get("caller"))
        elif esc_id not in self.gates:
            raise RequestError(f"escalation: {esc_id} is not a plan gate raised for an orchestrator (or the supervisor restarted since); call plan_run without it to ask the person")
        elif self.gates[esc_id][0] != path:
            raise RequestError(f"path: the person was asked about {self.gates[esc_id][0]}, not {path}")
        out = await self.call(client.kind, "decision_wait", escalation=esc_id, timeout=req.get("timeout", 0))
        answer = out.get("answer")
        if not answer:
            return esc_id, None, "the person has not answered yet (plan_run with escalation= waits again)"
        by, how = answer.get("by"), answer.get("how")
        if by == "podium" or how == f"via {MCP_KIND}":  # podium's own default, or the orchestrator's own line
            return esc_id, answer, f"the gate was answered by {by} ({how}), not by the person: the plan does not run"
        if answer.get("choice") != RUN:
            return esc_id, answer, "the person said no: the plan does not run"
        return esc_id, answer, None

    async def _raise_gate(self, client: Any, path: str, digest: str, caller: str | None) -> str:
        question = f"The orchestrating agent ({caller or 'podium mcp'}) asks to run the plan {path} (sha256 {digest[:12]}…)"
        options = [{"key": RUN, "label": "run it"}, {"key": DONT, "label": "do not run it"}]
        esc = await self.call(client.kind, "escalate", question=question, options=options, tier=Tier.GATE)
        self.gates[esc["id"]] = (path, digest)
        return str(esc["id"])

    async def op_policy(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        """The policy as it stands; with fields, the person changes it."""
        changes = {k: req[k] for k in ("paused", "max_workers", "plan_tier") if req.get(k) is not None}
        if not changes:
            return self.public()
        if client.kind == MCP_KIND:
            raise RequestError("only the person changes what orchestrators may do (podium mcp --pause/--resume/--cap/--plan-tier)")
        if client.kind != APP_KIND and orchestrated_peer(client):
            raise RequestError(f"only the person changes what orchestrators may do: this process was started by an orchestrator ({ORCHESTRATED}=1)")
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
