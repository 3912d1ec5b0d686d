"""Agents as first-class workers: real codex and claude CLIs (pinned, from npm) against a
fake model server on 127.0.0.1, run through podium; and the adapters on bad input."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from podium.sessions.blackboard import read_journal
from conftest import ROOT, eventually, eventually_sync, kill_everything_under, podium_cli, screen_text, shows
from fake_model import FakeModel, claude_text, claude_tool, codex_home, message, shell_call

from podium.sessions.agents import ClaudePrintAdapter, CodexExecAdapter, agent_mode, parse_report, prepare_codex_exec

BIN = ROOT / ".tools" / "npm" / "node_modules" / ".bin"
CODEX = str(BIN / "codex")
CLAUDE = str(BIN / "claude")
# What interactive codex shows when an approved command's turn is over (the model's
# answer after the command's output), and when a denied one ends the turn.
APPROVED = "Done."
DENIED = "Conversation interrupted"
REPORT = "COMPLETED: ran the command\n\nStatus: Done\nSummary: it printed hi\nVerification: `echo hi` -> hi\n"


@pytest.fixture
def ws(workspace):
    yield workspace
    podium_cli("-w", str(workspace), "stop", "--yes")
    kill_everything_under(workspace)


async def type_and_enter(client, worker: str, text: str) -> None:
    """Type into an interactive agent's prompt, then press enter (as a person would)."""
    client.send_keys(worker, text.encode())
    await eventually(lambda: shows(client, worker, text), what=f"{text!r} typed into {worker}'s prompt", show=lambda: screen_text(client, worker))
    # A person's enter comes a moment after the text: an agent's TUI reads text and enter
    # arriving together as a paste (a newline in the prompt), not as a submit.
    await asyncio.sleep(0.3)
    client.send_keys(worker, b"\r")


async def _hook_activity(client, worker: str, activity: str):
    hook = {w["name"]: w for w in await client.request("ls")}[worker].get("hook") or {}
    return hook if hook.get("activity") == activity and hook.get("source", "").startswith("hook:") else None


async def decision_from(client, worker: str, source: str):
    """The open question of `worker` that came from `source` (claude shows its dialog while
    its hook asks: the screen's question may come first and give way to the hook's)."""

    async def look():
        found = [e for e in await client.request("decisions") if e["worker"] == worker and e["source"] == source and e["state"] == "pending"]
        return found[0] if found else None

    return await eventually(look, what=f"a {source} question from {worker}", show=lambda: screen_text(client, worker))


async def first_decision(client, worker: str):
    items = await eventually(lambda: client.request("decisions"), what=f"an escalation from {worker}", show=lambda: screen_text(client, worker))
    return items[0]


async def resolved(client, esc_id: str) -> dict:
    """The escalation once the supervisor has seen its answer take (the prompt left the screen)."""

    async def look():
        (esc,) = [e for e in await client.request("decisions", states="all") if e["id"] == esc_id]
        return esc if esc["state"] == "resolved" else None

    return await eventually(look, what=f"escalation {esc_id} resolved")


def cli_env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}


def run(ws: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "podium.tui.cli", "-w", str(ws), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env=env or os.environ,
    )


def wait_ended(ws: Path, name: str, timeout: float = 90) -> dict:
    seen: dict = {}

    def ended():
        seen["w"] = w = {w["name"]: w for w in json.loads(run(ws, "ls", "--json").stdout)}.get(name)
        return w if w and w["state"] not in ("starting", "running", "paused") else None

    return eventually_sync(ended, timeout=timeout, every=0.2, what=f"{name} to end", show=lambda: seen.get("w"))


# -- adapters, no CLI --------------------------------------------------------------------
def test_modes_and_what_podium_adds_to_codex_exec(tmp_path):
    assert agent_mode("shell", ["codex", "exec", "x"]) == "codex-exec"
    assert agent_mode("codex", ["/opt/codex", "--no-daemon"]) == "codex"
    assert agent_mode("claude", ["claude", "-p", "hi"]) == "claude-p"
    assert agent_mode("shell", ["claude"]) == "claude"
    assert agent_mode("shell", ["bash", "-c", "codex exec"]) == "shell"
    argv = prepare_codex_exec(["codex", "exec", "do it"], tmp_path)
    assert argv[:2] == ["codex", "exec"] and "--json" in argv and argv[argv.index("-o") + 1] == str(tmp_path / "last-message.md")
    assert prepare_codex_exec(argv, tmp_path) == argv  # idempotent


def test_bad_jsonl_is_counted_never_fatal(tmp_path):
    a = CodexExecAdapter(tmp_path)
    stream = (
        b'{"type":"thread.started","thread_id":"t-1"}\r\n'
        b'{"type":"item.completed","item":{"type":"agent_message","text":"hel'  # split mid-line
    )
    a.feed(stream)
    a.feed(b'lo"}}\r\n{not json}\r\n{"type":"brand.new.event","x":1}\r\nWARNING: plain text\r\n')
    a.feed(b'{"type":"turn.completed","usage":{"input_tokens":10,"output_tokens":5}}\r\n')
    assert a.session_id == "t-1" and a.agent_message == "hello"
    assert (a.malformed, a.unknown, a.turn_completed, a.tokens_in + a.tokens_out) == (1, 1, True, 15)
    # exit 0 and turn.completed, but no -o file: the signals disagree.
    assert a.verdict(0, None)[0] == "needs-review"
    (tmp_path / "last-message.md").write_text(REPORT)
    assert a.verdict(0, None)[0] == "done"
    assert a.verdict(1, None)[0] == "needs-review"


def test_reports_set_blocked_and_needs_review(tmp_path):
    r = parse_report("BLOCKED: no credentials\n\nStatus: Blocked\nSummary: cannot reach the db\nOpen issues:\n- creds\n")
    assert (r.outcome, r.status, r.fields["Summary"]) == ("BLOCKED", "Blocked", "cannot reach the db")
    c = ClaudePrintAdapter(tmp_path)
    c.feed(b'{"type":"result","subtype":"success","is_error":false,"result":"COMPLETED: x\\nStatus: Needs review","session_id":"s1","usage":{"input_tokens":3,"output_tokens":4},"total_cost_usd":0.01}\n')
    assert c.verdict(0, None) == ("needs-review", "report: Status: Needs review")
    with pytest.raises(ValueError, match="never reported"):
        CodexExecAdapter(tmp_path).resume_command("go on", ["codex", "exec", "x"])


# -- the real codex exec ------------------------------------------------------------------
@pytest.mark.slow
def test_real_codex_exec_runs_a_command_answers_and_resumes(ws, tmp_path):
    turns = [[shell_call("echo hi from the worker")], [message(REPORT)], [message("COMPLETED: resumed fine\n\nStatus: Done\n")]]
    with FakeModel(codex_turns=turns) as fm:
        env = cli_env(codex_home(tmp_path / "codex-home", fm.port))
        r = run(ws, "spawn", "cx", "--", CODEX, "exec", "-s", "danger-full-access", "say hi", env=env)
        assert r.returncode == 0, r.stderr
        w = wait_ended(ws, "cx")
        assert w["state"] == "done", w
        assert w["signals"] == {"exit_code": True, "turn_completed": True, "last_message": True}
        assert w["mode"] == "codex-exec" and w["session_id"] and w["tokens"] > 0
        assert "hi from the worker" in fm.outputs_sent_back()[0]  # the command really ran
        assert run(ws, "last", "cx").stdout == REPORT
        report = w["agent"]["report"]
        assert (report["outcome"], report["status"], report["fields"]["Summary"]) == ("COMPLETED", "Done", "it printed hi")
        events = [json.loads(line) for line in (ws / ".podium/workers/cx/events.jsonl").read_text().splitlines()]
        assert [e["type"] for e in events][0] == "thread.started"
        assert any(e.get("item", {}).get("type") == "command_execution" and e["item"]["exit_code"] == 0 for e in events)
        thread = w["session_id"]
        # Promote: the sidecar's text, with provenance.
        assert run(ws, "promote", "cx").returncode == 0
        (section,) = json.loads(run(ws, "result", "--format", "json").stdout)["sections"]
        assert (section["worker"], section["kind"], section["session_id"], section["run"]) == ("cx", "codex-exec", thread, "1")
        assert "turn_completed ✓" in section["signals"] and "last_message ✓" in section["signals"]
        assert "COMPLETED: ran the command" in section["body"]
        # Resume: the same worker, the same thread, a divider in the transcript.
        r = run(ws, "resume", "cx", "and now?", env=env)
        assert r.returncode == 0, r.stderr
        w2 = wait_ended(ws, "cx")
        assert w2["state"] == "done" and w2["session_id"] == thread and w2["runs"] == 2
        assert run(ws, "last", "cx").stdout.startswith("COMPLETED: resumed fine")
        transcript = (ws / ".podium/workers/cx/transcript.log").read_bytes()
        assert b"podium: run 2 of cx" in transcript and transcript.index(b"hi from the worker") < transcript.index(b"run 2 of cx")
        meta = (ws / ".podium/workers/cx/meta.toml").read_text()
        assert meta.count("[[runs]]") == 2 and "resume" in meta


@pytest.mark.slow
def test_real_codex_exec_failed_turn_is_not_done(ws, tmp_path):
    with FakeModel(codex_turns=["fail"]) as fm:
        env = cli_env(codex_home(tmp_path / "codex-home", fm.port))
        assert run(ws, "spawn", "bad", "--", CODEX, "exec", "do something", env=env).returncode == 0
        w = wait_ended(ws, "bad")
        assert w["state"] == "failed", w
        assert w["signals"]["exit_code"] is False and w["signals"]["turn_completed"] is False
        assert w["signals"]["last_message"] is False
        r = run(ws, "last", "bad")
        assert r.returncode == 1 and "no last message" in r.stderr


def test_missing_agent_binary_and_resume_without_an_id(ws):
    r = run(ws, "spawn", "ghost", "--kind", "codex", "--", "/nonexistent/codex", "exec", "hi")
    assert r.returncode == 1 and "command not found: /nonexistent/codex" in r.stderr
    r = run(ws, "resume", "ghost", "again")
    assert r.returncode == 1 and "never reported a thread id" in r.stderr
    assert run(ws, "spawn", "sh", "--", "true").returncode == 0
    wait_ended(ws, "sh")
    r = run(ws, "resume", "sh")
    assert r.returncode == 1 and "no conversation to resume" in r.stderr


def interactive_claude_env(tmp_path: Path, workspace: Path, fm: FakeModel) -> dict[str, str]:
    """claude_env, and what the interactive TUI needs to start without onboarding, key or
    trust dialogs (in its config dir's .claude.json)."""
    env = claude_env(tmp_path, fm)
    key = env["ANTHROPIC_API_KEY"] = "sk-ant-fake-key-for-podium-tests-0123456789"
    state = {"hasCompletedOnboarding": True, "customApiKeyResponses": {"approved": [key[-20:]], "rejected": []}, "projects": {str(workspace): {"hasTrustDialogAccepted": True}}}
    (Path(env["CLAUDE_CONFIG_DIR"]) / ".claude.json").write_text(json.dumps(state))
    return env


def claude_settings(tmp_path: Path, fm: FakeModel) -> dict[str, str]:
    """What claude needs to run offline against the fake model (a throwaway config dir)."""
    cfg = tmp_path / "claude-config"
    cfg.mkdir(exist_ok=True)
    return {
        "ANTHROPIC_BASE_URL": fm.base_url,
        "ANTHROPIC_API_KEY": "sk-ant-fake-key-for-podium-tests-0123",
        "CLAUDE_CONFIG_DIR": str(cfg),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }


def claude_env(tmp_path: Path, fm: FakeModel) -> dict[str, str]:
    return cli_env(claude_settings(tmp_path, fm))


@pytest.mark.slow
def test_real_claude_print_mode_and_its_resume(ws, tmp_path):
    turns = [[claude_text("COMPLETED: said hello\n\nStatus: Done\nSummary: greeted")], [claude_text("BLOCKED: need a key\n\nStatus: Blocked")]]
    with FakeModel(claude_turns=turns) as fm:
        env = claude_env(tmp_path, fm)
        r = run(ws, "spawn", "cl", "--", CLAUDE, "-p", "say hello", "--output-format", "stream-json", "--verbose", env=env)
        assert r.returncode == 0, r.stderr
        w = wait_ended(ws, "cl")
        assert w["state"] == "done", w
        assert w["mode"] == "claude-p" and w["signals"] == {"exit_code": True, "result": True}
        assert w["session_id"] and w["tokens"] > 0
        assert run(ws, "last", "cl").stdout.startswith("COMPLETED: said hello")
        session = w["session_id"]
        assert run(ws, "promote", "cl").returncode == 0
        (section,) = json.loads(run(ws, "result", "--format", "json").stdout)["sections"]
        assert (section["kind"], section["session_id"]) == ("claude-p", session)
        assert "COMPLETED: said hello" in section["body"]
        assert run(ws, "resume", "cl", "go on", env=env).returncode == 0
        w2 = wait_ended(ws, "cl")
        # The resumed run's report says Blocked: the worker shows it, with why.
        assert (w2["state"], w2["session_id"], w2["runs"]) == ("blocked", session, 2)
        assert "BLOCKED" in w2["reason"]
        resumed = [b for p, b in fm.requests if p.endswith("/messages")][-1]
        assert "go on" in json.dumps(resumed["messages"][-1])


@pytest.mark.slow
async def test_real_interactive_codex_in_a_pane(workspace, tmp_path):
    """The interactive codex TUI in a real PTY, drawn in a dashboard pane, typed into."""
    from conftest import shut_down

    from podium.sessions.client import connect_or_start
    from podium.tui.app import PodiumApp
    from podium.sessions.config import Config

    answer = "Hello from the fake model, drawn in a pane"
    with FakeModel(codex_turns=[[message(answer)], [message(answer)]]) as fm:
        env = {**os.environ, **codex_home(tmp_path / "codex-home", fm.port)}
        client, _ = await connect_or_start(workspace, client="test")
        try:
            await client.request("spawn", name="ix", argv=[CODEX, "--no-daemon"], env=env, cwd=str(workspace))
            app = PodiumApp(workspace, autostart=False, config=Config())
            async with app.run_test(size=(130, 44)) as pilot:

                def pane_rows() -> list[str]:
                    pane = app.dashboard.panes.get("ix")
                    return pane.screen_text() if pane is not None else []

                async def wait(text: str) -> None:
                    await eventually(lambda: any(text in row for row in pane_rows()), pilot=pilot, what=f"{text!r} on the pane", show=pane_rows)

                await wait("OpenAI Codex")
                await wait("Ask Codex to do anything")
                assert app.link.roster["ix"]["mode"] == "codex"
                await pilot.press("1", "enter", *"say hello")
                await wait("say hello")
                await pilot.press("enter")
                await wait(answer)
                await pilot.press("ctrl+right_square_bracket")
                assert any(path.endswith("/responses") for path, _ in fm.requests)
        finally:
            await shut_down(client, workspace)


@pytest.mark.slow
@pytest.mark.parametrize("path", ["hook", "screen"])
@pytest.mark.parametrize("choice", ["approve", "deny"])
async def test_real_interactive_codex_escalation_answered_from_the_inbox(workspace, tmp_path, choice, path):
    """codex asks to run an escalated command → the inbox has it → y runs it, n does not.
    Through codex's own PermissionRequest hook (the answer is the hook's decision, no keys),
    or, with podium's hook socket gone, through the screen (the answer is keystrokes)."""
    from conftest import shut_down

    from podium.sessions.client import connect_or_start

    target = tmp_path / "outside" / "escalated_by_agent.txt"
    target.parent.mkdir()
    turns = [[shell_call(f"touch {target}", escalate="Need to create a file outside the workspace")], [message("Done.")], [message("Done.")]]
    with FakeModel(codex_turns=turns) as fm:
        env = {**os.environ, **codex_home(tmp_path / "codex-home", fm.port), **({"PODIUM_HOOK_SOCKET": str(tmp_path / "gone.sock")} if path == "screen" else {})}
        client, _ = await connect_or_start(workspace, client="test")
        try:
            argv = [CODEX, "--no-daemon", "-a", "on-request", "-s", "workspace-write"]
            await client.request("spawn", name="ix", argv=argv, env=env, cwd=str(workspace))

            await eventually(lambda: shows(client, "ix", "Ask Codex to do anything"), what="codex's prompt", show=lambda: screen_text(client, "ix"))
            await type_and_enter(client, "ix", "please escalate")
            esc = await decision_from(client, "ix", path)
            assert (esc["source"], esc["command"], esc["reason"]) == (path, f"touch {target}", "Need to create a file outside the workspace")
            assert esc["recogniser"] == (None if path == "hook" else "codex-exec")
            listed = {w["name"]: w for w in await client.request("ls")}["ix"]
            assert listed["state"] == "waiting"
            assert listed["evidence"].startswith("hook:PermissionRequest " if path == "hook" else "screen:codex-exec"), listed["evidence"]
            if path == "hook":
                assert listed["hook"]["source"].startswith("hook:PermissionRequest ") and listed["hook"]["activity"] == "waiting for permission", listed["hook"]
            answered = await client.request("answer", escalation=esc["id"], choice=choice)
            assert answered["answer"].get("keys") == (None if path == "hook" else ("y" if choice == "approve" else "\x1b").encode().hex())
            assert (await resolved(client, esc["id"]))["state"] == "resolved"
            # codex says what became of the command: wait for that, then look at the file.
            outcome = APPROVED if choice == "approve" else DENIED if path == "screen" else "denied by the person in podium"  # (codex: "Blocked by hook")
            await eventually(lambda: shows(client, "ix", outcome), what=f"codex showing {outcome!r}", show=lambda: screen_text(client, "ix"))
            assert target.exists() == (choice == "approve")
            assert {w["name"]: w for w in await client.request("ls")}["ix"]["state"] == "running"
        finally:
            await shut_down(client, workspace)


@pytest.mark.slow
@pytest.mark.parametrize("path,choice", [("hook", "approve"), ("hook", "deny"), ("screen", "approve")])
async def test_real_interactive_claude_permission_prompt_answered(workspace, tmp_path, path, choice):
    """claude asks to run Bash: through its PermissionRequest hook the inbox's answer is the
    hook's decision (approve runs it, deny tells claude why); with podium's hook socket
    gone, claude's own dialog is caught on the screen and answered with keys."""
    from conftest import shut_down
    from fake_model import has_tool_result, last_user_text

    from podium.sessions.client import connect_or_start

    target = workspace / "made_by_claude.txt"

    def model(body):
        if has_tool_result(body):
            return [claude_text("Done, the file exists." if target.exists() else "It was denied.")]
        if "Please run a command" in last_user_text(body) and body.get("tools"):
            return [claude_text("I'll run a command."), claude_tool("Bash", {"command": f"touch {target}", "description": "Make a file"})]
        return [claude_text("a title")]  # claude's side requests (a session title)

    with FakeModel(claude_handler=model) as fm:
        env = {**interactive_claude_env(tmp_path, workspace, fm), **({"PODIUM_HOOK_SOCKET": str(tmp_path / "gone.sock")} if path == "screen" else {})}
        client, _ = await connect_or_start(workspace, client="test")
        try:
            await client.request("spawn", name="cl", argv=[CLAUDE], env=env, cwd=str(workspace))

            await eventually(lambda: shows(client, "cl", "shortcuts"), what="claude's prompt", show=lambda: screen_text(client, "cl"))
            await type_and_enter(client, "cl", "Please run a command")
            esc = await decision_from(client, "cl", path)
            assert (esc["source"], esc["command"], esc["reason"]) == (path, f"touch {target}", "Make a file")
            assert esc["recogniser"] == ("claude-bash" if path == "screen" else None)
            assert not target.exists()
            await client.request("answer", escalation=esc["id"], choice=choice)
            said = "Done, the file exists." if choice == "approve" else "It was denied."
            await eventually(lambda: shows(client, "cl", said), what="claude's answer after the command", show=lambda: screen_text(client, "cl"))
            assert target.exists() == (choice == "approve")
            done = await resolved(client, esc["id"])
            assert done["state"] == "resolved" and done["answer"].get("keys") == (b"1\r".hex() if path == "screen" else None)
            if path == "hook":  # one question for the prompt: the hook's, though claude's dialog shows too
                asked = [e for e in await client.request("decisions", states="all") if e["worker"] == "cl"]
                assert [(e["source"], e["state"]) for e in asked if e["source"] == "hook" or e["state"] != "resolved"] == [("hook", "resolved")], asked
                gave_way = [e for e in asked if e["source"] == "screen"]  # (a dialog seen before the hook's question came)
                assert all("taken over by the agent's own PermissionRequest hook" in e["note"] for e in gave_way), gave_way
                events = [e["event"] for e in read_journal(workspace / ".podium/journal.jsonl")[0] if e["type"] == "hook" and e.get("worker") == "cl"]
                assert events[0] == "SessionStart" and "UserPromptSubmit" in events and "PermissionRequest" in events, events
                assert events.index("UserPromptSubmit") < events.index("PermissionRequest"), events
                await eventually(lambda: _hook_activity(client, "cl", "idle"), what="claude idle again (its Stop hook)")
        finally:
            await shut_down(client, workspace)
