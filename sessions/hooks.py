"""Agent hooks: what claude and codex say they are doing, in their own events, ahead of
what their screens show. When podium starts an interactive or print-mode claude, or an
interactive codex, it gives that run podium's hooks (claude: `--settings` for this run;
codex: `-c hooks.…` overrides), never the person's own config. Each hook runs
`hook_client.py`, which hands the event to this room with the worker's name and token.

This room checks who is calling (a worker of this workspace, with the token podium gave
its run), keeps each worker's activity with its evidence (`hook:PermissionRequest
12:03:41`), journals the events, and turns a PermissionRequest into an entry in the inbox
(tier rules apply as to a screen prompt), waits for the person's answer and returns it
to the CLI as the hook's decision: no keystrokes. Unanswered in time, the hook returns
nothing and the CLI's own prompt appears, which the screen recognisers catch as before.

codex runs a hook given per run only once the person trusts its exact definition, or with
`--dangerously-bypass-hook-trust`, which would run the person's own untrusted hooks too.
podium passes that flag only when the run's whole hook set is podium's (no hooks in the
person's codex config); otherwise the hook path is off for that worker, its evidence says
why, and the screen is read instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import secrets
import shlex
import shutil
import sys
import time
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from .blackboard import Journal
from .protocol import Hook
from .requests import RequestError, RequestTable
from .states import ENDED, WorkerState

# What each event says the agent is doing ("unknown" until the first one).
ACTIVITY = {
    "SessionStart": "idle",
    "UserPromptSubmit": "working",
    "PreToolUse": "working",
    "PostToolUse": "working",
    "PermissionRequest": "waiting for permission",
    "Stop": "idle",
    "SubagentStop": "working",
    "PreCompact": "working",
    "SessionEnd": "ended",
}
NOTIFICATIONS = {"permission_prompt": "waiting for permission", "idle_prompt": "waiting for input"}
EVENTS = (*ACTIVITY, "Notification")
CLAUDE_EVENTS = EVENTS
CODEX_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop")
DEFAULT_WAIT = 600.0  # seconds a PermissionRequest waits for the person before the CLI asks itself
SESSION_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,127}$")  # what an agent may name its session (it reaches a resume's argv)
CONTRADICTION = 3.0  # seconds a prompt on the screen may go unreported by a hooked agent's hooks
OPTIONS = [
    {"key": "y", "label": "approve"},
    {"key": "a", "label": "approve for the session"},
    {"key": "n", "label": "deny"},
]
CHOICES = {"y": "approve", "approve": "approve", "a": "approve_session", "approve_session": "approve_session", "n": "deny", "deny": "deny"}
CLIENT = Path(__file__).with_name("hook_client.py")


class HookDesk:
    def __init__(
        self,
        root: Path,
        socket_path: Path,
        journal: Journal,
        call: Callable[..., Awaitable[Any]],
        workers: Mapping[str, Any],
        changed: Callable[[str], None],  # a worker's activity or conversation changed: save it, tell the clients
        wait: float = DEFAULT_WAIT,
    ):
        self.workspace = root.parent
        self.socket_path = socket_path
        self.journal = journal
        self._call = call
        self.workers = workers
        self.changed = changed
        self.wait = wait
        self.key = _key(root / "hook.key")
        self.seen: dict[str, dict[str, Any]] = {}  # worker -> {activity, source, at, session_id}
        self.off: dict[str, str] = {}  # worker -> why its hook path is off (the screen is read)
        self.withdrawn: dict[str, float] = {}  # worker -> when its last hook question was withdrawn

    def register(self, table: RequestTable) -> None:
        table.add("hook", self.op_hook, Hook)

    async def call(self, op: str, **fields: Any) -> Any:
        return await self._call("hook", op, **fields)

    def token(self, name: str) -> str:
        return hmac.new(self.key, name.encode(), hashlib.sha256).hexdigest()[:32]

    # -- giving a run its hooks ---------------------------------------------------------------------
    def bridge(self, name: str, mode: str, argv: list[str], env: dict[str, str] | None, cwd: str | None = None) -> tuple[list[str], dict[str, str] | None]:
        """The command and environment of a run with podium's hooks (unchanged for the
        agents and modes that get none)."""
        if mode not in ("claude", "claude-p", "codex") or not argv:
            return argv, env
        if (env or {}).get("PODIUM_HOOKS", os.environ.get("PODIUM_HOOKS", "")).lower() in ("off", "0", "no"):
            self.off[name] = "PODIUM_HOOKS=off for this worker"
            return argv, env
        command = f"{shlex.quote(sys.executable)} -I -S {shlex.quote(str(CLIENT))}"
        if mode == "codex":
            why = codex_hooks_of_their_own((env or {}).get("CODEX_HOME") or os.environ.get("CODEX_HOME"), cwd)
            if why:
                self.off[name] = why
                return argv, env
            out = [argv[0]]
            for event in CODEX_EVENTS:
                wait = int(self.wait) + 5 if event == "PermissionRequest" else 5
                out += ["-c", f'hooks.{event}=[{{hooks=[{{type="command",command={json.dumps(command + " " + event)},timeout={wait}}}]}}]']
            out += ["--dangerously-bypass-hook-trust", *argv[1:]]
        else:
            settings = {"hooks": {e: [{"matcher": "*", "hooks": [{"type": "command", "command": f"{command} {e}", "timeout": int(self.wait) + 5 if e == "PermissionRequest" else 5}]}] for e in CLAUDE_EVENTS}}
            out = [argv[0], "--settings", json.dumps(settings)]
            if mode == "claude-p" and "--permission-prompt-tool" not in argv:  # print mode asks through podium mcp's tool
                served = {"mcpServers": {"podium": {"type": "stdio", "command": podium_program(), "args": ["mcp", "--approvals", "--workspace", str(self.workspace)]}}}
                out += ["--mcp-config", json.dumps(served), "--permission-prompt-tool", "mcp__podium__approve"]
            out += argv[1:]
        self.off.pop(name, None)
        hook_env = {"PODIUM_HOOK_SOCKET": str(self.socket_path), "PODIUM_HOOK_WORKER": name, "PODIUM_HOOK_TOKEN": self.token(name), "PODIUM_HOOK_WAIT": str(self.wait)}
        given = {k: v for k, v in (env or {}).items() if k == "PODIUM_HOOK_SOCKET"}  # (a relay's, or a test's that has none)
        return out, {**(env or {}), **hook_env, **given}

    # -- an event ------------------------------------------------------------------------------------
    async def op_hook(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        name, event = str(req["worker"]), str(req["event"])
        worker = self.workers.get(name)
        if worker is None or not hmac.compare_digest(self.token(name), str(req["token"])):
            why = "an unknown worker" if worker is None else "a wrong token"
            self.journal.write("hook", None, refused=f"{event} from {why} ({name[:64]!r})", via=client.kind)
            raise RequestError(f"hook refused: {why}")
        if event not in EVENTS:
            self.journal.write("hook", name, refused=f"unknown event {event[:64]!r}")
            raise RequestError(f"hook refused: unknown event {event[:64]!r} (known: {', '.join(EVENTS)})")
        payload = req["payload"]
        bad = "malformed" if "malformed" in payload else "oversized" if "oversized" in payload else None
        if bad:  # (hook_client.py marks what it could not pass on)
            self.journal.write("hook", name, refused=f"{event}: {'an' if bad == 'oversized' else 'a'} {bad} payload ({str(payload[bad])[:120]!r})")
            raise RequestError(f"hook refused: {bad} payload")
        activity = NOTIFICATIONS.get(str(payload.get("notification_type") or payload.get("matcher") or ""), "notified") if event == "Notification" else ACTIVITY[event]
        at = time.strftime("%H:%M:%S")
        session = payload.get("session_id") if isinstance(payload.get("session_id"), str) and SESSION_ID.match(payload["session_id"]) else None
        self.seen[name] = {"activity": activity, "source": f"hook:{event} {at}", "event": event, "at": time.time(), "session_id": session or (self.seen.get(name) or {}).get("session_id")}
        adapter = getattr(worker, "adapter", None)
        if session and adapter is not None and adapter.session_id != session:  # the ledger: a new conversation, or a fork (/clear)
            self.journal.write("session", name, session_id=session, was=adapter.session_id, event=event, source=str(payload.get("source") or ""))
            adapter.session_id = session
        tool = payload.get("tool_name")
        self.journal.write("hook", name, event=event, activity=activity, **({"tool": str(tool)[:80]} if tool else {}), **({"session_id": session} if session else {}))
        self.changed(name)
        if event == "PermissionRequest" and worker.state not in ENDED:
            wait = min(self.wait, max(0.0, float(req.get("wait") or self.wait) - 0.5))  # (answer before the hook gives up)
            return await self._permission(worker, payload, wait, client)
        return {}

    async def _wait(self, esc_id: str, worker: Any, client: Any, wait: float) -> dict[str, Any] | None:
        """The person's answer, or None once `wait` passed, the hook that asked went away
        (the person answered the dialog in the pane, the CLI gave up) or the worker ended."""
        deadline = time.monotonic() + wait
        while True:
            out = await self.call("decision_wait", escalation=esc_id, timeout=max(0.0, min(1.0, deadline - time.monotonic())))
            if out.get("answer") or out["escalation"]["state"] not in ("pending",):
                return out.get("answer")
            if time.monotonic() >= deadline or getattr(client, "closed", False) or worker.state in ENDED:
                return None

    async def _permission(self, worker: Any, payload: dict[str, Any], wait: float, client: Any = None) -> dict[str, Any]:
        tool = str(payload.get("tool_name") or "a tool")
        given = payload.get("tool_input") if isinstance(payload.get("tool_input"), dict) else {}
        command = given.get("command") if isinstance(given.get("command"), str) else None
        file = next((given[k] for k in ("file_path", "path", "notebook_path") if isinstance(given.get(k), str)), None)
        reason = given.get("description") or given.get("justification") or payload.get("reason")
        what = command or file or json.dumps(given)[:300]
        esc = await self.call(
            "escalate",
            question=f"{worker.name} asks to use {tool}: {what}",
            worker=worker.name,
            source="hook",
            command=command,
            file=file,
            reason=str(reason)[:500] if reason else None,
            options=OPTIONS,
        )
        if esc["tier"] != "gate":  # autonomous and notify: podium says yes itself, and says so
            await self.call("answer", escalation=esc["id"], choice="approve", by="podium")
            return {"stdout": _decision("approve", payload, None)}
        if worker.state not in ENDED:
            worker.set_state(WorkerState.WAITING, f"approval (hook): {what}"[:120])
        answer = await self._wait(esc["id"], worker, client, wait)
        if worker.state == WorkerState.WAITING:
            worker.set_state(WorkerState.RUNNING, "approval answered" if answer else "the hook's wait ended: the agent asks on its screen")
        if not answer:
            gone = getattr(client, "closed", False) or worker.state in ENDED
            self.withdrawn[worker.name] = time.time()
            await self.call("withdraw", escalation=esc["id"], note="its hook went away before an answer" if gone else f"not answered in {wait:g} s: the agent asks on its own screen now")
            return {}
        return {"stdout": _decision(CHOICES.get(str(answer.get("choice")), "deny"), payload, answer.get("message"))}

    # -- after a reboot or a lost holder --------------------------------------------------------------------
    async def offer_resumes(self) -> None:
        """Agent workers found lost (their holders died, with the machine or alone) that know
        their conversation: one notice in the inbox saying `r` resumes each in its own."""
        lost = [w for w in self.workers.values() if w.state == WorkerState.LOST and getattr(w, "mode", "shell") != "shell" and w.adapter.session_id]
        if not lost:
            return
        names = ", ".join(f"{w.name} ({w.mode} {w.adapter.session_id[:8]})" for w in lost)
        self.journal.write("session", None, offered=[w.name for w in lost])
        await self.call("escalate", question=f"{len(lost)} agent worker(s) lost their holders: {names}. `r` on each resumes its own conversation.", tier="notify", options=[{"key": "y", "label": "seen"}])

    # -- when the screen says otherwise ---------------------------------------------------------------------
    def screen_asked(self, name: str, what: str) -> None:
        """The screen shows a prompt (the inbox saw it): a hooked agent's PermissionRequest
        should say so within CONTRADICTION seconds; if it does not, its hooks are not to be
        trusted for it, and the screen is read from now on."""
        seen = self.seen.get(name)
        if seen is None or name in self.off:
            return
        asked_at = time.time()

        def judge() -> None:
            last = self.seen.get(name) or {}
            if name in self.off or (last.get("event") == "PermissionRequest" and last.get("at", 0) >= asked_at - CONTRADICTION):
                return
            if self.withdrawn.get(name, 0) >= asked_at - CONTRADICTION:
                return  # (the hook asked and gave up: the CLI's own prompt is expected on the screen)
            self.off[name] = f"the screen showed a prompt ({what[:80]}) its hooks did not report for {CONTRADICTION:g} s: the screen is read for it now"
            self.journal.write("hook", name, contradicted=self.off[name])
            self.changed(name)

        asyncio.get_running_loop().call_later(CONTRADICTION, judge)

    # -- what the list and `ls` show ------------------------------------------------------------------
    def info(self, name: str) -> dict[str, Any] | None:
        if name in self.off:
            return {"activity": "unknown", "source": f"hooks off: {self.off[name]}", "path": "screen", "session_id": (self.seen.get(name) or {}).get("session_id")}
        seen = self.seen.get(name)
        if seen is None:
            return None
        return {**seen, "path": "hooks"}


def _decision(choice: str, payload: dict[str, Any], message: Any) -> str:
    if choice == "deny":
        decision: dict[str, Any] = {"behavior": "deny", "message": str(message or "denied by the person in podium")}
    else:
        decision = {"behavior": "allow"}
        suggestions = payload.get("permission_suggestions")
        if choice == "approve_session" and isinstance(suggestions, list) and suggestions:
            decision["updatedPermissions"] = suggestions
    return json.dumps({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}})


def podium_program() -> str:
    """The `podium` command of this installation, for agents to start (`podium mcp`): the
    one running, else the one beside this interpreter, else PATH's."""
    me = Path(sys.argv[0])
    if me.name == "podium" and me.exists():
        return str(me.resolve())
    beside = Path(sys.executable).with_name("podium")
    return str(beside) if beside.exists() else shutil.which("podium") or "podium"


def codex_hooks_of_their_own(codex_home: str | None, cwd: str | None = None) -> str | None:
    """Why podium must not bypass codex's hook trust for a run: the person's codex config,
    or a project's `.codex/config.toml` from the run's directory up, has hooks of its own
    (bypassing would run them untrusted too). None: the run's hooks would be podium's alone."""
    home = Path(codex_home) if codex_home else Path.home() / ".codex"
    if (home / "hooks.json").exists():
        return f"{home / 'hooks.json'} has hooks of its own; this codex is read from its screen"
    here = Path(cwd).resolve() if cwd else None
    for listing in ([d / ".codex" / "hooks.json" for d in (here, *here.parents)] if here else []):
        if listing.exists():
            return f"{listing} has hooks of its own; this codex is read from its screen"
    configs = [home / "config.toml", *([d / ".codex" / "config.toml" for d in (here, *here.parents)] if here else [])]
    for config in configs:
        try:
            data = tomllib.loads(config.read_text("utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return f"{config} cannot be read ({exc.__class__.__name__}), so podium cannot tell whether it has hooks of its own"
        if data.get("hooks"):
            return f"{config} has hooks of its own; podium will not run them untrusted (`--dangerously-bypass-hook-trust`), so this codex is read from its screen"
    return None


def _key(path: Path) -> bytes:
    """The workspace's secret for hook tokens (owner-only, made once)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another supervisor made it just now
            return path.read_bytes()
        try:
            os.write(fd, key)
        finally:
            os.close(fd)
        return key


def evidence(info: dict[str, Any], hook: dict[str, Any] | None, asking: str | None) -> str:
    """Where a worker's state comes from, in a few words: `hook:PermissionRequest 12:03:41`,
    `screen:claude-bash`, `events:turn.completed · exit 0`, `SIGSTOP`, `process running`."""
    state = info.get("state")
    if asking:
        return asking
    if state in ENDED:
        agent = info.get("agent") or {}
        said = "events:turn.failed" if agent.get("turn_failed") else "events:turn.completed" if agent.get("turn_completed") else f"events:result {agent['result_subtype']}" if agent.get("result_subtype") else None
        ending = f"signal {info['exit_signal']}" if info.get("exit_signal") else f"exit {info['exit_code']}" if info.get("exit_code") is not None else "holder gone" if state == WorkerState.LOST else None
        return " · ".join(p for p in (said, ending) if p) or str(state)
    if state == WorkerState.PAUSED:
        return "SIGSTOP"
    if hook and hook.get("path") == "hooks":
        return str(hook["source"])
    if info.get("mode") in ("codex", "claude"):
        return f"screen:{info['mode']}" + (f" ({hook['source']})" if hook else "")
    return "process running"
