"""`podium mcp` (issue 15), driven by the MCP SDK's own client over stdio: the real
`podium mcp` process, a real supervisor, real workers in real PTYs. The tools' schemas,
codex's exec_command/write_stdin against `python3 -i`, spawn and wait_for, the person's
answer to ask_person given through the supervisor API, plans behind the person's gate,
the pause and the cap (and that neither can be gone around), what the journal keeps of a
call, and every kind of bad input answered as a tool error."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import tomllib
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import PODIUM, PY, ROOT, eventually, eventually_sync, podium_cli, screen_text, shut_down
from fake_model import FakeModel, claude_text, claude_tool, codex_home, has_tool_result, message
from jsonschema import Draft202012Validator
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from podium.sessions.blackboard import read_journal
from podium.sessions.client import NotRunning, RequestFailed, SupervisorClient, connect_or_start
from podium.sessions.mcp_tools import MAX_CHARS
from podium.sessions.segments import LIVE_NAME

BIN = ROOT / ".tools" / "npm" / "node_modules" / ".bin"  # the pinned codex and claude (scripts/bootstrap)
TOOLS = {
    "exec_command", "write_stdin", "spawn_worker", "list_workers", "worker_status", "wait_for", "interrupt", "kill",
    "resume_worker", "last_message", "read_transcript", "promote", "read_result", "ask_person", "wait_answer", "plan_new", "plan_status", "plan_run",
}


@asynccontextmanager
async def mcp_session(ws: Path, errlog: Path | None = None, env: dict[str, str] | None = None):
    """`podium mcp -w WS` started by the SDK's stdio client, initialised."""
    params = StdioServerParameters(command=PODIUM[0], args=["mcp", "-w", str(ws)], env=env or dict(os.environ), cwd=str(ws))
    with open(errlog or ws.parent / "mcp-stderr.log", "a") as err:
        async with stdio_client(params, errlog=err) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


@pytest.fixture
async def room(workspace: Path):
    """A workspace whose supervisor runs, a test client of it; all gone afterwards."""
    client, _ = await connect_or_start(workspace, client="test")
    yield workspace, client
    await shut_down(client, workspace)


class Tools:
    """Calls through the SDK's session, checking each answer against the tool's schema."""

    def __init__(self, session: ClientSession):
        self.session = session
        self.schemas: dict[str, dict[str, Any]] = {}

    async def load(self) -> Tools:
        for tool in (await self.session.list_tools()).tools:
            self.schemas[tool.name] = tool.output_schema or {}
        return self

    async def ok(self, tool: str, /, **args: Any) -> dict[str, Any]:
        r = await self.session.call_tool(tool, args)
        assert not r.is_error, f"{tool} failed: {r.content[0].text}"
        Draft202012Validator(self.schemas[tool]).validate(r.structured_content)
        return r.structured_content

    async def error(self, tool: str, /, **args: Any) -> str:
        r = await self.session.call_tool(tool, args)
        assert r.is_error, f"{tool} should have failed: {r.structured_content}"
        return r.content[0].text


@asynccontextmanager
async def raw_mcp(ws: Path):
    """`podium mcp -w WS` spoken to line by line, for what the SDK's client will not send
    (arguments that are not an object). Yields (call, answer, answers): call(id, tool,
    arguments) sends a tools/call; answer(id) waits for its response; answers holds those
    that came, by id."""
    with (ws.parent / "mcp-stderr.log").open("ab") as err:
        proc = await asyncio.create_subprocess_exec(
            *PODIUM, "mcp", "-w", str(ws), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err, limit=1 << 24
        )
    assert proc.stdin is not None and proc.stdout is not None
    answers: dict[int, dict[str, Any]] = {}
    arrived = asyncio.Condition()

    async def read() -> None:
        while line := await proc.stdout.readline():
            msg = json.loads(line)
            async with arrived:
                answers[msg.get("id", -1)] = msg
                arrived.notify_all()

    async def send(msg: dict[str, Any]) -> None:
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", **msg}).encode() + b"\n")
        await proc.stdin.drain()

    async def call(rid: int, tool: str, arguments: Any) -> None:
        await send({"id": rid, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})

    async def answer(rid: int, timeout: float = 20) -> dict[str, Any]:
        async with arrived:
            await asyncio.wait_for(arrived.wait_for(lambda: rid in answers), timeout)
        return answers[rid]

    reader = asyncio.create_task(read())
    try:
        info = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw-test", "version": "1"}}
        await send({"id": 0, "method": "initialize", "params": info})
        await answer(0)
        await send({"method": "notifications/initialized"})
        yield call, answer, answers
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
        reader.cancel()


def journal(ws: Path) -> list[dict[str, Any]]:
    return read_journal(ws / ".podium" / "journal.jsonl")[0]


# -- the tool set ---------------------------------------------------------------------------------
async def test_the_tools_and_their_schemas(room):
    ws, _ = room
    async with mcp_session(ws) as session:
        init_tools = (await session.list_tools()).tools
    named = {t.name: t for t in init_tools}
    assert set(named) == TOOLS
    for tool in init_tools:
        Draft202012Validator.check_schema(tool.input_schema)
        Draft202012Validator.check_schema(tool.output_schema)
        assert tool.input_schema["type"] == "object" and tool.description and len(tool.description) > 40, tool.name
    # codex's own argument names, so a prompt written for codex works unchanged
    assert {"cmd", "workdir", "yield_time_ms", "max_output_tokens"} <= set(named["exec_command"].input_schema["properties"])
    assert {"session_id", "chars", "yield_time_ms", "max_output_tokens"} <= set(named["write_stdin"].input_schema["properties"])
    assert named["exec_command"].input_schema["required"] == ["cmd"]
    assert named["exec_command"].input_schema["properties"]["yield_time_ms"]["maximum"] == 300_000
    assert set(named["ask_person"].input_schema["required"]) == {"question", "options"}


def test_print_config_is_valid_toml_and_json(tmp_path):
    codex = podium_cli("mcp", "-w", str(tmp_path), "--print-config", "codex")
    assert codex.returncode == 0, codex.stderr
    server = tomllib.loads(codex.stdout)["mcp_servers"]["podium"]
    assert server["command"] == PODIUM[0] and server["args"] == ["mcp", "--workspace", str(tmp_path)]
    assert server["default_tools_approval_mode"] == "approve" and server["tool_timeout_sec"] >= 600
    claude = podium_cli("mcp", "-w", str(tmp_path), "--print-config", "claude")
    assert json.loads(claude.stdout) == {"mcpServers": {"podium": {"type": "stdio", "command": PODIUM[0], "args": ["mcp", "--workspace", str(tmp_path)]}}}


# -- codex's unified exec -------------------------------------------------------------------------------
async def test_exec_command_and_write_stdin_drive_python(room):
    ws, client = room
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        r = await tools.ok("exec_command", cmd="python3 -i -q", yield_time_ms=500)
        sid = r["session_id"]
        assert r["worker"] == f"exec-{sid}" and "exit_code" not in r
        seen = [r["output"]]

        async def shows(text: str) -> bool:
            seen.append((await tools.ok("write_stdin", session_id=sid, chars="", yield_time_ms=200))["output"])
            return text in "".join(seen)

        await eventually(lambda: shows(">>> "), what="the python prompt", show=lambda: "".join(seen))
        seen.clear()
        seen.append((await tools.ok("write_stdin", session_id=sid, chars="print(6*7)\n", yield_time_ms=500))["output"])
        await eventually(lambda: shows("42"), what="python's answer", show=lambda: "".join(seen))
        done = await tools.ok("write_stdin", session_id=sid, chars="raise SystemExit(5)\n", yield_time_ms=5000)
        assert done["exit_code"] == 5, done
        # The session is a worker like any other, on the dashboard.
        workers = {w["name"]: w for w in await client.request("ls")}
        assert workers[f"exec-{sid}"]["state"] in ("failed", "done")
    calls = [e for e in journal(ws) if e["type"] == "mcp"]
    assert [c["tool"] for c in calls][:2] == ["exec_command", "write_stdin"]
    assert all(c["via"] == "mcp" and c["caller"] for c in calls), calls[:2]
    assert any(e["type"] == "orchestrator" and e.get("action") == "exec" and e.get("worker") == f"exec-{sid}" for e in journal(ws))


# -- workers ----------------------------------------------------------------------------------------------
@pytest.mark.slow
async def test_spawn_wait_for_read_and_promote_a_worker(room):
    ws, client = room
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        # An OSC 52 clipboard write and colours: neither may reach the agent as escapes.
        command = "printf '\\033]52;c;eA==\\007\\033[31mred\\033[0m\\n'; echo hello from the worker; read line; echo COMPLETED: said $line"
        started = await tools.ok("spawn_worker", name="greeter", agent="shell", command=command)
        assert started["name"] == "greeter" and started["state"] in ("starting", "running")
        waited = await tools.ok("wait_for", workers=["greeter"], timeout_s=0.3)
        assert waited == {**waited, "reached": False, "matched": []} and waited["waited_s"] >= 0.3
        await eventually(lambda: _shows(client, "greeter", "hello from the worker"), what="the worker's greeting")
        t0 = time.monotonic()
        waiter = asyncio.create_task(tools.ok("wait_for", workers=["greeter"], until=["ended"], timeout_s=20))
        await eventually(lambda: _journaled(ws, "wait_for") == 2, what="the second wait_for to be journaled")
        assert not waiter.done()  # it waits: only the worker's end (an event) can wake it
        client.send_keys("greeter", b"hi\r")
        waited = await asyncio.wait_for(waiter, 15)
        assert waited["reached"] and waited["matched"] == ["greeter"] and waited["workers"]["greeter"]["state"] == "done", waited
        assert time.monotonic() - t0 < 10  # it answered when the worker ended, not at the timeout
        listed = await tools.ok("list_workers")
        assert [(w["name"], w["by_orchestrator"]) for w in listed["workers"]] == [("greeter", True)]
        status = await tools.ok("worker_status", name="greeter")
        assert status["evidence"]["exit_code"] == 0 and status["state"] == "done"
        tail = await tools.ok("read_transcript", name="greeter")
        assert "red" in tail["text"] and "hello from the worker" in tail["text"] and tail["end"] == tail["size"]
        assert not any(junk in tail["text"] for junk in ("\x1b", "]52", "\x07")), repr(tail["text"][:200])
        at = (ws / ".podium" / "workers" / "greeter" / LIVE_NAME).read_bytes().index(b"hello from the worker")
        ranged = await tools.ok("read_transcript", name="greeter", start=at, end=at + 5)
        assert (ranged["text"], ranged["start"], ranged["end"]) == ("hello", at, at + 5)
        assert "cannot resume greeter" in await tools.error("resume_worker", name="greeter", prompt="again")  # a shell has no conversation
        last = await tools.ok("last_message", name="greeter")
        assert "COMPLETED: said hi" in last["text"]
        promoted = await tools.ok("promote", name="greeter")
        assert not promoted["duplicate"]
        result = await tools.ok("read_result")
        assert [s["worker"] for s in result["sections"]] == ["greeter"] and "COMPLETED: said hi" in result["markdown"]
    entries = journal(ws)
    assert any(e["type"] == "orchestrator" and e.get("worker") == "greeter" and e["action"] == "spawned" and e["via"] == "mcp" for e in entries)
    assert any(e["type"] == "promote" and e["worker"] == "greeter" and e["via"] == "mcp" for e in entries)


async def _shows(client: SupervisorClient, worker: str, text: str) -> bool:
    from conftest import shows

    return await shows(client, worker, text)


def _journaled(ws: Path, tool: str) -> int:
    """How many calls of `tool` the journal holds (each is journaled before it acts)."""
    return sum(1 for e in journal(ws) if e["type"] == "mcp" and e["tool"] == tool)


@pytest.mark.slow
async def test_interrupt_kill_and_wait_for_any_of_several(room):
    ws, client = room
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        for name in ("a", "b"):
            await tools.ok("spawn_worker", name=name, agent="shell", command="sleep 60")
        waiter = asyncio.create_task(tools.ok("wait_for", workers=["a", "b"], mode="any", timeout_s=30))
        await eventually(lambda: _journaled(ws, "wait_for") == 1, what="the wait_for to be journaled")
        assert not waiter.done()
        await tools.ok("interrupt", name="a")
        waited = await asyncio.wait_for(waiter, 15)
        assert waited["reached"] and waited["matched"] == ["a"] and waited["workers"]["b"]["state"] == "running", waited
        killed = await tools.ok("kill", name="b", grace_s=0.5)
        assert killed["state"] in ("interrupted", "failed"), killed
        both = await tools.ok("wait_for", workers=["a", "b"], mode="all", timeout_s=5)
        assert both["reached"] and both["matched"] == ["a", "b"]


# -- the person ---------------------------------------------------------------------------------------------
@pytest.mark.slow
async def test_ask_person_is_answered_in_the_inbox(room):
    ws, client = room
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        asking = asyncio.create_task(
            tools.ok("ask_person", question="Which way?", options=["left", "right", "back"], context="The road forks.", recommended="B")
        )

        async def card() -> dict | None:
            return next((e for e in await client.request("decisions") if e["question"] == "Which way?"), None)

        esc = await eventually(card, what="the question in the inbox")
        assert [o["key"] for o in esc["options"]] == ["A", "B", "C"] and esc["card"]["recommended"] == "B"
        assert not asking.done()
        await client.request("answer", escalation=esc["id"], choice="C", by="the person")
        answer = await asyncio.wait_for(asking, 10)
        assert answer | {"how": None} == {"answered": True, "choice": "C", "label": "back", "by": "the person", "how": None, "escalation": esc["id"], "note": answer["note"]}
        # A default applies when the timeout passes without an answer.
        t0 = time.monotonic()
        defaulted = await tools.ok("ask_person", question="Proceed?", options=["yes", "no"], default="B", timeout_s=1)
        assert defaulted["answered"] and defaulted["choice"] == "B" and defaulted["by"] == "podium" and "default" in defaulted["how"]
        assert time.monotonic() - t0 < 10


PLAN = """
title = "two echoes"
[defaults]
agent = "shell"
[[task]]
id = "one"
goal = "say one"
command = "echo one"
[[task]]
id = "two"
goal = "say two"
after = ["one"]
command = "echo two"
"""


@pytest.mark.slow
async def test_a_plan_runs_only_after_the_persons_yes(room):
    ws, client = room
    (ws / "plan.toml").write_text(PLAN)
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        new = await tools.ok("plan_new", pattern="B", scope="Fix the importer", path="preset.toml")
        assert [t["id"] for t in new["tasks"]] == ["review", "fix", "verify"] and (ws / "preset.toml").exists()
        assert "exists" in await tools.error("plan_new", pattern="B", scope="again", path="preset.toml")
        pending = await tools.ok("plan_run", path="plan.toml", timeout_s=0.5)
        assert pending["started"] is False and pending["escalation"] and pending["tier"] == "gate"
        assert (await client.request("plan_show"))["state"] == "none"
        running = asyncio.create_task(tools.ok("plan_run", path="plan.toml", escalation=pending["escalation"], timeout_s=30))
        await client.request("answer", escalation=pending["escalation"], choice="A", by="the person")
        started = await asyncio.wait_for(running, 15)
        assert started["started"] and started["answer"]["by"] == "the person"

        async def complete() -> bool:
            return (await tools.ok("plan_status"))["state"] == "complete"

        await eventually(complete, what="the plan to complete", timeout=30)


# -- what the person holds --------------------------------------------------------------------------------
@pytest.mark.slow
async def test_the_person_pauses_and_caps_what_orchestrators_start(room):
    ws, client = room
    assert podium_cli("-w", str(ws), "mcp", "--pause").returncode == 0
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        assert "paused" in await tools.error("spawn_worker", name="w1", agent="shell", command="true")
        assert "paused" in await tools.error("exec_command", cmd="true")
        assert podium_cli("-w", str(ws), "mcp", "--resume", "--cap", "1").returncode == 0
        await tools.ok("spawn_worker", name="w1", agent="shell", command="true")
        capped = await tools.error("spawn_worker", name="w2", agent="shell", command="true")
        assert "cap is reached: 1 of 1" in capped
        assert (await tools.ok("list_workers"))["spawns_left"] == 0
    # An orchestrator cannot lift what the person holds.
    mcp_client = await SupervisorClient.connect(ws, client="mcp")
    try:
        with pytest.raises(RequestFailed, match="only the person"):
            await mcp_client.request("mcp_policy", paused=False, max_workers=99)
    finally:
        await mcp_client.close()
    policy = json.loads(podium_cli("-w", str(ws), "mcp", "--policy").stdout)
    assert policy | {"path": None} == {"paused": False, "max_workers": 1, "started": ["w1"], "resumed": [], "remaining": 0, "plan_tier": "gate", "path": None}


# -- bad input ----------------------------------------------------------------------------------------------
async def test_bad_input_is_a_tool_error_and_the_server_goes_on(room):
    ws, _ = room
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        assert "Unknown tool" in await tools.error("launch_missiles")
        assert "unknown worker 'ghost'" in await tools.error("worker_status", name="ghost")
        assert "unknown worker 'ghost'" in await tools.error("read_transcript", name="ghost")
        assert "unknown worker 'ghost'" in await tools.error("wait_for", workers=["ghost"])
        assert "yield_time_ms" in await tools.error("exec_command", cmd="true", yield_time_ms="soon")
        assert "yield_time_ms" in await tools.error("exec_command", cmd="true", yield_time_ms=10**9)
        assert "yield_time_ms" in await tools.error("write_stdin", session_id=1, yield_time_ms=-1)
        assert "chars" in await tools.error("write_stdin", session_id=1, chars="x" * (MAX_CHARS + 1))
        assert "no exec session 77" in await tools.error("write_stdin", session_id=77, chars="hi")
        assert "cmd" in await tools.error("exec_command")
        assert "prompt" in await tools.error("spawn_worker", name="lazy", agent="codex-exec")
        assert "name" in await tools.error("spawn_worker", name="bad name!", agent="shell", command="true")
        assert "until" in await tools.error("wait_for", workers=["x"], until=["asleep"])
        assert "workdir" in await tools.error("exec_command", cmd="true", workdir="no/such/dir")
        assert "default" in await tools.error("ask_person", question="?", options=["a", "b"], default="C", timeout_s=5)
        assert "timeout_s" in await tools.error("ask_person", question="?", options=["a", "b"], default="A")
        assert (await tools.ok("list_workers"))["workers"] == []  # still serving


@pytest.mark.slow
async def test_a_supervisor_dying_mid_call_is_an_error_not_a_hang(room):
    ws, client = room
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        await tools.ok("spawn_worker", name="long", agent="shell", command="sleep 60")
        waiter = asyncio.create_task(tools.error("wait_for", workers=["long"], timeout_s=60))
        await eventually(lambda: any(e["type"] == "mcp" and e["tool"] == "wait_for" for e in journal(ws)), what="the wait to be journaled")
        os.kill(client.info["pid"], signal.SIGKILL)
        t0 = time.monotonic()
        message = await asyncio.wait_for(waiter, 10)
        assert "supervisor went away" in message and time.monotonic() - t0 < 5
        # The next call finds a new supervisor, and the worker (its holder survived) in it.
        listed = await tools.ok("list_workers")
        assert [w["name"] for w in listed["workers"]] == ["long"]
        fresh = await SupervisorClient.connect(ws, client="test")
        await shut_down(fresh, ws)


# -- the person's hold cannot be gone around -------------------------------------------------------------
@pytest.mark.slow
async def test_write_stdin_types_only_into_orchestrators_sessions_and_not_while_paused(room):
    ws, client = room
    await client.request("spawn", name="mine", argv=["sh", "-c", "cat"])  # the person's own worker
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        refused = await tools.error("write_stdin", session_id="mine", chars="rm -rf ~\n")
        assert "not a session an orchestrator started" in refused
        assert "not a session an orchestrator started" in await tools.error("write_stdin", session_id="mine", chars="")
        sid = (await tools.ok("exec_command", cmd="cat", yield_time_ms=300))["session_id"]
        assert podium_cli("-w", str(ws), "mcp", "--pause").returncode == 0
        assert "paused" in await tools.error("write_stdin", session_id=sid, chars="while paused\n")
        assert "exit_code" not in await tools.ok("write_stdin", session_id=sid, chars="", yield_time_ms=100)  # a poll is answered
        assert podium_cli("-w", str(ws), "mcp", "--resume").returncode == 0
        seen = [(await tools.ok("write_stdin", session_id=sid, chars="after the pause\n", yield_time_ms=300))["output"]]

        async def echoed() -> bool:
            seen.append((await tools.ok("write_stdin", session_id=sid, chars="", yield_time_ms=200))["output"])
            return "after the pause" in "".join(seen)

        await eventually(echoed, what="cat to echo what was typed", show=lambda: "".join(seen))
        assert "while paused" not in "".join(seen)
    assert "rm -rf" not in await screen_text(client, "mine")
    # The orchestrator's own connection cannot type around mcp_write either.
    agent = await SupervisorClient.connect(ws, client="mcp")
    try:
        with pytest.raises(RequestFailed, match="goes through mcp_write"):
            await agent.request("write", session_id="mine", chars="x")
    finally:
        await agent.close()


@pytest.mark.slow
async def test_resume_and_plan_run_are_held_by_the_pause_and_the_cap(room):
    ws, client = room
    (ws / "plan.toml").write_text(PLAN)
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        await tools.ok("spawn_worker", name="w", agent="shell", command="true")
        await tools.ok("wait_for", workers=["w"], timeout_s=20)
        assert podium_cli("-w", str(ws), "mcp", "--pause").returncode == 0
        assert "paused" in await tools.error("resume_worker", name="w", prompt="again")
        assert "paused" in await tools.error("plan_run", path="plan.toml", timeout_s=0)
        assert podium_cli("-w", str(ws), "mcp", "--resume", "--cap", "1", "--plan-tier", "notify").returncode == 0
        assert "cap is reached: 1 of 1" in await tools.error("resume_worker", name="w", prompt="again")
        assert podium_cli("-w", str(ws), "mcp", "--cap", "2").returncode == 0
        assert "cannot resume w" in await tools.error("resume_worker", name="w", prompt="again")  # a shell has no conversation
        assert (await tools.ok("list_workers"))["spawns_left"] == 1  # a resume that did not happen used no slot
    assert (await client.request("plan_show"))["state"] == "none"


@pytest.mark.slow
async def test_a_spawn_that_fails_to_start_uses_no_slot_of_the_cap(room, tmp_path):
    ws, _ = room
    path = "/usr/bin:/bin"
    if shutil.which("codex", path=path):
        pytest.skip("codex is installed in /usr/bin: a codex worker would start")
    assert podium_cli("-w", str(ws), "mcp", "--cap", "1").returncode == 0
    async with mcp_session(ws, env={**os.environ, "PATH": path}) as session:
        tools = await Tools(session).load()
        assert "failed to start" in await tools.error("spawn_worker", name="nocodex", agent="codex-exec", prompt="hi")
        assert (await tools.ok("list_workers"))["spawns_left"] == 1
        await tools.ok("spawn_worker", name="w1", agent="shell", command="true")
        assert "cap is reached: 1 of 1" in await tools.error("spawn_worker", name="w2", agent="shell", command="true")


def orchestrated_run(*argv: str) -> subprocess.CompletedProcess:
    """`argv` run as a process an orchestrator started would be (PODIUM_ORCHESTRATED=1)."""
    return subprocess.run(argv, env={**os.environ, "PODIUM_ORCHESTRATED": "1"}, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.slow
async def test_what_orchestrators_start_is_marked_and_cannot_lift_the_persons_hold(room):
    ws, client = room
    assert podium_cli("-w", str(ws), "mcp", "--pause").returncode == 0
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        assert podium_cli("-w", str(ws), "mcp", "--resume").returncode == 0
        await tools.ok("spawn_worker", name="probe", agent="shell", command='echo "COMPLETED: orchestrated=$PODIUM_ORCHESTRATED"')
        await tools.ok("wait_for", workers=["probe"], timeout_s=20)
        assert "orchestrated=1" in (await tools.ok("last_message", name="probe"))["text"]
        ran = await tools.ok("exec_command", cmd="echo exec-orchestrated=$PODIUM_ORCHESTRATED", yield_time_ms=5000)
        assert "exec-orchestrated=1" in ran["output"]
    for flags in (["--resume"], ["--pause"], ["--cap", "99"], ["--plan-tier", "autonomous"]):
        cli = orchestrated_run(*PODIUM, "-w", str(ws), "mcp", *flags)
        assert cli.returncode != 0 and "PODIUM_ORCHESTRATED" in cli.stderr, (flags, cli.stderr)
    # A process it started that talks to the supervisor itself is refused too (the supervisor reads its environment).
    script = (
        "import asyncio, sys\n"
        "from podium.sessions.client import SupervisorClient\n"
        "async def main():\n"
        "    c = await SupervisorClient.connect(sys.argv[1], client='cli')\n"
        "    try:\n"
        "        await c.request('mcp_policy', max_workers=99)\n"
        "    except Exception as exc:\n"
        "        print(exc)\n"
        "    await c.close()\n"
        "asyncio.run(main())\n"
    )
    direct = orchestrated_run(PY, "-c", script, str(ws))
    assert "started by an orchestrator" in direct.stdout, (direct.stdout, direct.stderr)
    policy = await client.request("mcp_policy")
    assert (policy["paused"], policy["max_workers"], policy["plan_tier"]) == (False, 16, "gate")


@pytest.mark.slow
async def test_the_plan_gate_takes_only_the_persons_yes_to_this_plan(room):
    ws, client = room
    (ws / "plan.toml").write_text(PLAN)
    (ws / "other.toml").write_text(PLAN)

    async def answer(esc: str, by: str = "the person", via: SupervisorClient | None = None) -> None:
        await (via or client).request("answer", escalation=esc, choice="A", by=by)

    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        # Another question answered A by its default is not a yes to a plan.
        other = await tools.ok("ask_person", question="Coffee?", options=["yes", "no"], default="A", timeout_s=1)
        assert other["choice"] == "A" and other["by"] == "podium"
        assert "not a plan gate" in await tools.error("plan_run", path="plan.toml", escalation=other["escalation"], timeout_s=1)
        # A gate answered on the orchestrator's own line is not the person's yes.
        gate = (await tools.ok("plan_run", path="plan.toml", timeout_s=0))["escalation"]
        assert "was asked about" in await tools.error("plan_run", path="other.toml", escalation=gate, timeout_s=0)
        agent = await SupervisorClient.connect(ws, client="mcp")
        try:
            await answer(gate, via=agent)
        finally:
            await agent.close()
        refused = await tools.ok("plan_run", path="plan.toml", escalation=gate, timeout_s=5)
        assert refused["started"] is False and "not by the person" in refused["note"], refused
        # A yes holds for the plan as it was when the person was asked.
        gate = (await tools.ok("plan_run", path="plan.toml", timeout_s=0))["escalation"]
        await answer(gate)
        (ws / "plan.toml").write_text(PLAN.replace("echo two", "echo something else"))
        assert "changed after the person was asked" in await tools.error("plan_run", path="plan.toml", escalation=gate, timeout_s=5)
        assert (await client.request("plan_show"))["state"] == "none"
        gate = (await tools.ok("plan_run", path="plan.toml", timeout_s=0))["escalation"]
        await answer(gate)
        started = await tools.ok("plan_run", path="plan.toml", escalation=gate, timeout_s=5)
        assert started["started"] and started["answer"]["by"] == "the person" and started["status"]["title"] == "two echoes"
        assert "not a plan gate" in await tools.error("plan_run", path="plan.toml", escalation=gate, timeout_s=0)  # one yes, one run

        async def complete() -> bool:
            return (await tools.ok("plan_status"))["state"] == "complete"

        await eventually(complete, what="the plan to complete", timeout=30)
        # The person's lower tier still lets a plan start at once.
        assert podium_cli("-w", str(ws), "mcp", "--plan-tier", "notify").returncode == 0
        again = await tools.ok("plan_run", path="plan.toml", timeout_s=0)
        assert again["started"] and again["tier"] == "notify" and again["escalation"] is None


# -- asking the person: the card says only what it means, and no call outlives its client ---------------------
@pytest.mark.slow
async def test_ask_person_context_cannot_forge_the_cards_fields(room):
    ws, client = room
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        forged = "Default : A after 1 second\nRecommended: A\n## Options\nC. a third way\n**Risk**: none"
        t0 = time.monotonic()
        asked = await asyncio.wait_for(tools.ok("ask_person", question="Deploy?", options=["yes", "no"], context=forged, wait_s=3), 20)
        assert asked["answered"] is False and time.monotonic() - t0 >= 3, asked  # no default was forged in
        (esc,) = [e for e in await client.request("decisions") if e["id"] == asked["escalation"]]
        assert [o["key"] for o in esc["options"]] == ["A", "B"]
        assert (esc["card"]["default"], esc["card"]["recommended"], esc["card"]["risk"]) == (None, None, "")
        assert "Default : A after 1 second" in esc["card"]["context"]  # shown to the person as text
        # A card the inbox cannot read is an error at once, not a wait for an answer that cannot come.
        bad = await asyncio.wait_for(tools.error("ask_person", question="Blank?", options=["   ", "b"], recommended="A"), 20)
        assert "could not read the question" in bad and "Recommended" in bad, bad


@pytest.mark.slow
async def test_ask_person_waits_at_most_wait_s_and_wait_answer_waits_again(room):
    ws, client = room
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        t0 = time.monotonic()
        asked = await asyncio.wait_for(tools.ok("ask_person", question="Which db?", options=["pg", "sqlite"], wait_s=1), 20)
        assert asked["answered"] is False and asked["escalation"] and time.monotonic() - t0 < 15, asked
        assert "wait_answer" in asked["note"]
        assert "timeout_s" in await tools.error("ask_person", question="?", options=["a", "b"], timeout_s=5)  # it needs a default
        assert "wait_s" in await tools.error("ask_person", question="?", options=["a", "b"], wait_s=3601)
        waiting = asyncio.create_task(tools.ok("wait_answer", escalation=asked["escalation"], wait_s=30))
        await eventually(lambda: _journaled(ws, "wait_answer") == 1, what="wait_answer to be journaled")
        await client.request("answer", escalation=asked["escalation"], choice="B", by="the person")
        answer = await asyncio.wait_for(waiting, 15)
        assert (answer["answered"], answer["choice"], answer["label"], answer["by"]) == (True, "B", "sqlite", "the person")
    assert [e["question"] for e in await client.request("decisions", states="all")].count("Which db?") == 1


async def test_a_failed_connect_is_remembered_for_a_few_seconds(workspace):
    ws = workspace
    (ws / ".podium").write_text("not a directory")  # no supervisor can start here
    try:
        async with mcp_session(ws) as session:
            tools = await Tools(session).load()
            first = await asyncio.wait_for(tools.error("list_workers"), 30)
            assert "supervisor" in first
            (ws / ".podium").unlink()
            t0 = time.monotonic()
            again = await tools.error("list_workers")  # within the few seconds: not tried again
            assert "tries again" in again and time.monotonic() - t0 < 2, again

            async def reached() -> bool:
                r = await session.call_tool("list_workers", {})
                return not r.is_error

            await eventually(reached, what="a connect once the few seconds have passed", timeout=20)
    finally:
        try:
            await shut_down(await SupervisorClient.connect(ws, client="test"), ws)
        except NotRunning:
            pass  # none was started


async def test_a_worker_event_pushed_while_the_listing_comes_is_kept(tmp_path, monkeypatch):
    """The supervisor answers subscribe with its listing, then pushes events; the line's
    reader can hand an event over before the subscribe call resumes. A stand-in client
    makes that order certain (a real one makes it only likely)."""
    from podium.sessions import mcp_link

    class Subscribed:
        on_event = None
        closed = asyncio.Event()

        async def request(self, op: str, **fields: Any) -> dict[str, Any]:
            listing = {"workers": [{"name": "w", "state": "running"}, {"name": "v", "state": "running"}]}
            self.on_event({"event": "worker", "worker": {"name": "w", "state": "done"}})  # pushed after the listing
            return listing

        async def close(self) -> None:
            pass

    async def connect(workspace: Path, client: str) -> tuple[Subscribed, bool]:
        return Subscribed(), False

    monkeypatch.setattr(mcp_link, "connect_or_start", connect)
    line = mcp_link.SupervisorLine(tmp_path)
    await line.client()
    assert {n: w["state"] for n, w in line.workers.items()} == {"w": "done", "v": "running"}


# -- what a call may carry ----------------------------------------------------------------------------------
@pytest.mark.slow
async def test_huge_and_odd_arguments_are_tool_errors_and_journaled_short(room):
    ws, client = room
    await client.request("spawn", name="long", argv=["sleep", "60"])
    nested: Any = "x" * 5000
    for _ in range(30):
        nested = {"deeper": [nested, list(range(100))], "API_KEY=sk-live-123": "TOKEN=abc"}
    async with raw_mcp(ws) as (call, answer, answers):
        await call(1, "wait_for", {"workers": ["long"], "timeout_s": 60})
        await eventually(lambda: _journaled(ws, "wait_for") == 1, what="the wait to be journaled")
        await call(2, "write_stdin", {"session_id": "long", "chars": "y" * (17 << 20)})  # over the supervisor's 16 MiB line
        huge = (await answer(2, timeout=60))["result"]
        assert huge["isError"] and "chars" in huge["content"][0]["text"], huge
        # Its journal entry arrives, and the wait on the same line goes on (a line the
        # supervisor dropped would have ended it with an error).
        await eventually(lambda: _journaled(ws, "write_stdin") == 1 or 1 in answers, what="the big call to be journaled", timeout=30)
        assert 1 not in answers, answers[1]
        await client.request("kill", worker="long", grace=0.5)
        waited = (await answer(1))["result"]
        assert not waited.get("isError") and waited["structuredContent"]["reached"], waited  # the big call took nothing down with it
        await call(3, "list_workers", [1, 2])
        odd = (await answer(3))["result"]
        assert odd["isError"] and "arguments" in odd["content"][0]["text"], odd
        await call(4, "worker_status", {"name": "ghost", "junk": nested})
        assert "unknown worker" in (await answer(4))["result"]["content"][0]["text"]
    calls = {e["tool"]: e for e in journal(ws) if e["type"] == "mcp"}
    assert calls["write_stdin"]["args"] == {"session_id": "long", "chars": {"bytes": 17 << 20}}
    assert calls["list_workers"]["args"] == {"not_an_object": "list"}
    assert all(len(json.dumps(e)) < 4096 + 512 for e in calls.values()), [len(json.dumps(e)) for e in calls.values()]
    assert "sk-live-123" not in json.dumps(calls["worker_status"]) and "abc" not in json.dumps(calls["worker_status"])


async def test_secrets_typed_or_set_in_a_command_stay_out_of_the_journal(room):
    ws, _ = room
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        sid = (await tools.ok("exec_command", cmd="API_TOKEN=hunter2 db_password='pa ss' cat", yield_time_ms=200))["session_id"]
        await tools.ok("write_stdin", session_id=sid, chars="s3cret-typed\n", yield_time_ms=100)
        await tools.ok("write_stdin", session_id=sid, chars="\x04", yield_time_ms=5000)
    calls = [e for e in journal(ws) if e["type"] == "mcp"]
    assert not any(secret in json.dumps(calls) for secret in ("hunter2", "pa ss", "s3cret")), calls
    assert calls[0]["args"]["cmd"] == "API_TOKEN=*** db_password=*** cat"
    assert [c["args"]["chars"] for c in calls[1:]] == [{"bytes": 13}, {"bytes": 1}]


async def test_read_transcript_reads_only_the_workspaces_workers(room):
    ws, _ = room
    outside = ws.parent / "outside"
    outside.mkdir()
    (outside / "meta.toml").write_text('kind = "shell"\n')
    (outside / LIVE_NAME).write_text("TOP SECRET\n")
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        for name in (str(outside), "../../../outside", ".."):
            refused = await tools.error("read_transcript", name=name)
            assert "name" in refused and "TOP SECRET" not in refused, refused


# -- the real codex as the orchestrator ---------------------------------------------------------------------
def tools_listed(ws: Path) -> bool:
    """Has a `podium mcp` for `ws` written its tool list to its client? Its handshake is
    about 2 KB; the list of tools is over 16 KiB (the bytes it wrote, from /proc)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"mcp" in argv and str(ws).encode() in argv:
                io = dict(line.split(": ", 1) for line in (proc / "io").read_text().splitlines())
                if int(io["wchar"]) > 16 * 1024:
                    return True
        except (OSError, ValueError, KeyError):
            continue  # not a process, or gone
    return False


def orchestration(calls: list[tuple[str, str, dict[str, Any]]], ws: Path):
    """A fake model's side of a fan-out: find podium's tools (codex defers MCP tools behind
    its tool_search), then call them one after the other, each once its previous call's
    output is back, then say it is done."""

    def answer(body: dict[str, Any]) -> list[dict[str, Any]]:
        inputs = body.get("input") or []
        answered = {i.get("call_id") for i in inputs if i.get("type") == "function_call_output"}
        found = any(t.get("name") == "mcp__podium" for i in inputs if i.get("type") == "tool_search_output" for t in i.get("tools", []))
        if not found:
            searches = sum(1 for i in inputs if i.get("type") == "tool_search_call")
            if searches > 20:
                return [message("podium's tools never appeared")]
            if searches:  # codex starts the server asynchronously: search again once it has listed its tools
                eventually_sync(lambda: tools_listed(ws), what="podium mcp to list its tools to codex")
            return [{"type": "tool_search_call", "execution": "client", "call_id": f"search-{searches}", "status": "completed", "arguments": {"query": "podium workers", "limit": 8}}]
        for call_id, tool, args in calls:
            if call_id not in answered:
                return [{"type": "function_call", "call_id": call_id, "name": tool, "namespace": "mcp__podium", "arguments": json.dumps(args)}]
        return [message("The fan-out is done: alpha's report is in the result.")]

    return answer


@pytest.mark.slow  # the real codex CLI
async def test_codex_orchestrates_a_fan_out_through_podium_mcp(room, tmp_path):
    ws, client = room
    calls = [
        ("spawn-a", "spawn_worker", {"name": "alpha", "agent": "shell", "command": "echo 'COMPLETED: alpha found 3 bugs'"}),
        ("spawn-b", "spawn_worker", {"name": "beta", "agent": "shell", "command": "echo 'COMPLETED: beta found none'"}),
        ("wait", "wait_for", {"workers": ["alpha", "beta"], "mode": "all", "timeout_s": 30}),
        ("last-a", "last_message", {"name": "alpha"}),
        ("last-b", "last_message", {"name": "beta"}),
        ("promote", "promote", {"name": "alpha"}),
    ]
    registration = tomllib.loads(podium_cli("mcp", "-w", str(ws), "--print-config", "codex").stdout)["mcp_servers"]["podium"]
    overrides = [arg for key, value in registration.items() for arg in ("-c", f"mcp_servers.podium.{key}={json.dumps(value)}")]
    with FakeModel(codex_handler=orchestration(calls, ws)) as fm:
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **codex_home(tmp_path / "codex-home", fm.port)}
        codex = await asyncio.create_subprocess_exec(
            str(BIN / "codex"), "exec", "--json", "--skip-git-repo-check", "-C", str(ws), *overrides, "fan out over podium",
            env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(codex.communicate(), 120)
        outputs = {b["call_id"]: b["output"] for _, body in fm.requests for b in body.get("input") or [] if b.get("type") == "function_call_output"}
    events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert codex.returncode == 0, err.decode()[-2000:]
    mcp_calls = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "mcp_tool_call"]
    assert [(c["server"], c["tool"], c["error"]) for c in mcp_calls] == [("podium", tool, None) for _, tool, _ in calls]
    assert "alpha found 3 bugs" in outputs["last-a"] and "beta found none" in outputs["last-b"]
    assert '"reached":true' in outputs["wait"].replace(" ", "")
    # The person sees the workers, the curated result with its provenance, and who asked.
    listed = podium_cli("-w", str(ws), "ls", "--json")
    assert {w["name"]: w["state"] for w in json.loads(listed.stdout)} == {"alpha": "done", "beta": "done"}
    result = await client.request("result")
    (section,) = result["sections"]
    assert section["worker"] == "alpha" and "alpha found 3 bugs" in result["markdown"]
    entries = journal(ws)
    callers = {e["caller"] for e in entries if e["type"] == "mcp"}
    assert len(callers) == 1 and "codex" in next(iter(callers)), callers
    assert [e["tool"] for e in entries if e["type"] == "mcp"] == [tool for _, tool, _ in calls]
    assert {e["worker"] for e in entries if e["type"] == "orchestrator" and e.get("action") == "spawned"} == {"alpha", "beta"}


@pytest.mark.slow
async def test_claude_print_mode_calls_podium_through_its_mcp_config(room, tmp_path):
    ws, client = room
    config = tmp_path / "podium-mcp.json"
    config.write_text(podium_cli("mcp", "-w", str(ws), "--print-config", "claude").stdout)
    tool = "mcp__podium__spawn_worker"
    offered: list[list[str]] = []

    def model(body: dict[str, Any]) -> list[dict[str, Any]]:
        names = [t.get("name") for t in body.get("tools") or []]
        offered.append(names)
        if has_tool_result(body):
            return [claude_text("COMPLETED: the scout is on the dashboard")]
        if tool in names:
            return [claude_tool(tool, {"name": "scout", "agent": "shell", "command": "echo scouting"})]
        return [claude_text("a title")]  # claude's side requests

    from test_agents import claude_settings

    with FakeModel(claude_handler=model) as fm:
        env = {**os.environ, **claude_settings(tmp_path, fm)}
        claude = await asyncio.create_subprocess_exec(
            str(BIN / "claude"), "-p", "send a scout", "--mcp-config", str(config), "--strict-mcp-config", "--allowedTools", tool,
            "--output-format", "stream-json", "--verbose",
            cwd=str(ws), env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(claude.communicate(), 120)
    events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert claude.returncode == 0, (err.decode()[-2000:], offered)
    (result,) = [e for e in events if e["type"] == "result"]
    assert not result["is_error"] and "scout is on the dashboard" in result["result"], result
    assert "scout" in {w["name"] for w in await client.request("ls")}
    callers = {e["caller"] for e in journal(ws) if e["type"] == "mcp"}
    assert len(callers) == 1 and "claude" in next(iter(callers)), callers


async def test_the_dashboard_marks_orchestrator_workers_and_M_pauses_them(room):
    """A worker an orchestrator started says so in the worker list (and `ls`); M on the
    dashboard pauses what orchestrators may start, the status line says so, and an
    orchestrator's connection cannot go around the pause with a plain spawn."""
    from podium.sessions.config import Config
    from podium.tui.app import PodiumApp
    from podium.widgets.status_bar import StatusBar
    from podium.widgets.worker_list import WorkerList
    from test_plans import text_of

    ws, client = room
    agent = await SupervisorClient.connect(ws, client="mcp")
    try:
        await agent.request("mcp_spawn", name="orch-1", argv=["sh", "-c", "echo from the orchestrator; sleep 30"], caller="codex-mcp-client")
        assert {w["name"]: w for w in await client.request("ls")}["orch-1"]["by"] == "mcp"
        with pytest.raises(RequestFailed, match="goes through mcp_spawn"):
            await agent.request("spawn", name="around", argv=["true"])
        app = PodiumApp(ws, autostart=False, config=Config())
        async with app.run_test(size=(160, 40)) as pilot:
            table = app.dashboard.query_one(WorkerList)
            await eventually(lambda: "orch-1" in table.rows and str(table.get_cell("orch-1", "task")) == "via mcp", pilot=pilot, what="orch-1 marked via mcp")
            await pilot.press("M")
            status = app.dashboard.query_one(StatusBar)
            await eventually(lambda: "⏸ orchestrators" in text_of(status), pilot=pilot, what="the pause on the status line", show=lambda: text_of(status))
            with pytest.raises(RequestFailed, match="paused"):
                await agent.request("mcp_spawn", name="orch-2", argv=["true"])
            await pilot.press("M")
            await eventually(lambda: "⏸ orchestrators" not in text_of(status), pilot=pilot, what="the pause lifted")
        policy = [e for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "orchestrator" and e.get("action") == "policy"]
        assert [e["paused"] for e in policy] == [True, False] and {e["via"] for e in policy} == {"tui"}, policy
    finally:
        await agent.close()


async def test_an_orchestrators_connection_cannot_start_a_plan_around_the_gate(room):
    ws, _ = room
    agent = await SupervisorClient.connect(ws, client="mcp")
    try:
        with pytest.raises(RequestFailed, match="starts through its plan_run tool, after the person's yes"):
            await agent.request("plan_run", path=str(ws / ".podium" / "plan.toml"))
    finally:
        await agent.close()
