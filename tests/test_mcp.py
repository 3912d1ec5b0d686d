"""`podium mcp` (issue 15), driven by the MCP SDK's own client over stdio: the real
`podium mcp` process, a real supervisor, real workers in real PTYs. The tools' schemas,
codex's exec_command/write_stdin against `python3 -i`, spawn and wait_for, the person's
answer to ask_person given through the supervisor API, plans behind the person's gate,
the pause and the cap, and every kind of bad input answered as a tool error."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import tomllib
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import PODIUM, ROOT, eventually, podium_cli, shut_down
from fake_model import FakeModel, claude_text, claude_tool, codex_home, has_tool_result, message
from jsonschema import Draft202012Validator
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from podium.sessions.blackboard import read_journal
from podium.sessions.client import RequestFailed, SupervisorClient, connect_or_start
from podium.sessions.mcp_tools import MAX_CHARS

BIN = ROOT / ".tools" / "npm" / "node_modules" / ".bin"  # the pinned codex and claude (scripts/bootstrap)
TOOLS = {
    "exec_command", "write_stdin", "spawn_worker", "list_workers", "worker_status", "wait_for", "interrupt", "kill",
    "resume_worker", "last_message", "read_transcript", "promote", "read_result", "ask_person", "plan_new", "plan_status", "plan_run",
}


@asynccontextmanager
async def mcp_session(ws: Path, errlog: Path | None = None):
    """`podium mcp -w WS` started by the SDK's stdio client, initialised."""
    params = StdioServerParameters(command=PODIUM[0], args=["mcp", "-w", str(ws)], env=dict(os.environ), cwd=str(ws))
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
        started = await tools.ok("spawn_worker", name="greeter", agent="shell", command="echo hello from the worker; read line; echo COMPLETED: said $line")
        assert started["name"] == "greeter" and started["state"] in ("starting", "running")
        waited = await tools.ok("wait_for", workers=["greeter"], timeout_s=0.3)
        assert waited == {**waited, "reached": False, "matched": []} and waited["waited_s"] >= 0.3
        await eventually(lambda: _shows(client, "greeter", "hello from the worker"), what="the worker's greeting")
        client.send_keys("greeter", b"hi\r")
        t0 = time.monotonic()
        waited = await tools.ok("wait_for", workers=["greeter"], until=["ended"], timeout_s=20)
        assert waited["reached"] and waited["matched"] == ["greeter"] and waited["workers"]["greeter"]["state"] == "done", waited
        assert time.monotonic() - t0 < 10  # it answered when the worker ended, not at the timeout
        listed = await tools.ok("list_workers")
        assert [(w["name"], w["by_orchestrator"]) for w in listed["workers"]] == [("greeter", True)]
        status = await tools.ok("worker_status", name="greeter")
        assert status["evidence"]["exit_code"] == 0 and status["state"] == "done"
        tail = await tools.ok("read_transcript", name="greeter")
        assert "hello from the worker" in tail["text"] and "\x1b" not in tail["text"] and tail["end"] == tail["size"]
        ranged = await tools.ok("read_transcript", name="greeter", start=0, end=5)
        assert ranged["text"] == tail["text"][:5] or len(ranged["text"]) <= 5
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


@pytest.mark.slow
async def test_interrupt_kill_and_wait_for_any_of_several(room):
    ws, client = room
    async with mcp_session(ws) as session:
        tools = await Tools(session).load()
        for name in ("a", "b"):
            await tools.ok("spawn_worker", name=name, agent="shell", command="sleep 60")
        waiter = asyncio.create_task(tools.ok("wait_for", workers=["a", "b"], mode="any", timeout_s=30))
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
    assert policy | {"path": None} == {"paused": False, "max_workers": 1, "started": ["w1"], "remaining": 0, "plan_tier": "gate", "path": None}


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


# -- the real codex as the orchestrator ---------------------------------------------------------------------
def orchestration(calls: list[tuple[str, str, dict[str, Any]]]):
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
            if searches:
                time.sleep(0.25)  # the server starts asynchronously: look again in a moment
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
    with FakeModel(codex_handler=orchestration(calls)) as fm:
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

    cfg = tmp_path / "claude-config"
    cfg.mkdir()
    with FakeModel(claude_handler=model) as fm:
        env = {
            **os.environ,
            "ANTHROPIC_BASE_URL": fm.base_url,
            "ANTHROPIC_API_KEY": "sk-ant-fake-key-for-podium-tests-0123",
            "CLAUDE_CONFIG_DIR": str(cfg),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_MAX_RETRIES": "0",
        }
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
