"""Issue 16's hook bridge from outside: the real `hook_client.py` run as the agents run it
(a bare interpreter, JSON on stdin), against a real supervisor. Strangers and bad payloads
are refused with a reason in the journal and cost the agent nothing; a permission request
nobody answers gives up in its time and leaves the CLI to ask; the person's own claude
hooks keep working beside podium's; a codex whose config has hooks of its own is read from
its screen, and says why. (The approvals themselves: tests/test_agents.py, with the real
interactive codex and claude, through their hooks and through the screen.)"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import eventually

from podium.sessions import hooks, protocol
from podium.sessions.blackboard import Blackboard, read_journal

CLIENT = Path(hooks.__file__).with_name("hook_client.py")


def run_hook(event: str, stdin: bytes, env: dict[str, str], timeout: float = 20) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-I", "-S", str(CLIENT), event], input=stdin, env=env, capture_output=True, timeout=timeout)
    return done, time.monotonic() - started


def hook_env(ws: Path, worker: str, token: str | None = None, wait: float = 600) -> dict[str, str]:
    key = (ws / ".podium" / "hook.key").read_bytes()
    mine = hmac.new(key, worker.encode(), hashlib.sha256).hexdigest()[:32]
    return {
        "PATH": os.environ["PATH"],
        "PODIUM_HOOK_SOCKET": str(Blackboard(ws).socket_path),
        "PODIUM_HOOK_WORKER": worker,
        "PODIUM_HOOK_TOKEN": token or mine,
        "PODIUM_HOOK_WAIT": str(wait),
    }


def refusals(ws: Path) -> list[str]:
    return [e["refused"] for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "hook" and "refused" in e]


def test_the_hook_client_speaks_the_supervisors_protocol_version():
    spec = CLIENT.read_text()
    assert f"PROTOCOL_VERSION = {protocol.PROTOCOL_VERSION}" in spec


async def test_strangers_and_bad_payloads_are_refused_with_a_reason_and_cost_nothing(supervised):
    ws, client = supervised
    await client.request("spawn", name="w", argv=["sleep", "30"])
    good = json.dumps({"session_id": "s1", "hook_event_name": "Stop"}).encode()
    done, _ = run_hook("Stop", good, hook_env(ws, "w"))
    assert done.returncode == 0 and done.stdout == b""
    listed = {w["name"]: w for w in await client.request("ls")}["w"]
    assert listed["hook"]["activity"] == "idle" and listed["hook"]["source"].startswith("hook:Stop ") and listed["hook"]["session_id"] == "s1"
    assert listed["evidence"] == listed["hook"]["source"], listed["evidence"]
    cases = [
        ("Stop", good, hook_env(ws, "nobody")),  # a worker that does not exist
        ("Stop", good, hook_env(ws, "w", token="0" * 32)),  # not the token podium gave w's run
        ("NoSuchEvent", good, hook_env(ws, "w")),
        ("Stop", b"{not json", hook_env(ws, "w")),
        ("Stop", b"x" * (2 * 1024 * 1024), hook_env(ws, "w")),  # past the client's 1 MiB
    ]
    for event, stdin, env in cases:
        done, took = run_hook(event, stdin, env)
        assert done.returncode == 0 and done.stdout == b"", (event, done)  # the agent goes on as without a hook
        assert took < 5, f"a refused hook kept the agent {took:.1f} s"
    said = refusals(ws)
    assert len(said) == 5, said
    assert "from an unknown worker" in said[0] and "from a wrong token" in said[1] and "unknown event 'NoSuchEvent'" in said[2]
    assert "a malformed payload" in said[3] and "an oversized payload" in said[4]


async def test_a_permission_request_nobody_answers_gives_up_in_its_time_and_withdraws(supervised):
    import asyncio

    ws, client = supervised
    await client.request("spawn", name="w", argv=["sleep", "30"])
    ask = json.dumps({"tool_name": "Bash", "tool_input": {"command": "rm -rf build", "description": "clean"}}).encode()
    pending = asyncio.ensure_future(asyncio.to_thread(run_hook, "PermissionRequest", ask, hook_env(ws, "w", wait=3)))
    await eventually(lambda: _in_state(client, "w", "waiting"), what="w waiting while its hook asks")
    done, took = await pending
    assert done.returncode == 0 and done.stdout == b"" and took < 8, (done, took)  # nothing: the CLI asks on its own screen
    (esc,) = [e for e in await client.request("decisions", states="all") if e["worker"] == "w"]
    assert (esc["source"], esc["command"], esc["reason"]) == ("hook", "rm -rf build", "clean")
    await eventually(lambda: _state(client, esc["id"], "expired"), what="the unanswered question withdrawn")
    assert {w["name"]: w for w in await client.request("ls")}["w"]["state"] == "running"
    await client.request("kill", worker="w", grace=0.5, wait=True)
    ended = {w["name"]: w for w in await client.request("ls")}["w"]
    assert ended["evidence"] in ("signal 1", "signal 15", "exit 129", "exit 143"), ended  # the ending says how it is known


async def test_a_worker_that_ends_while_its_hook_asks_takes_the_question_with_it(supervised):
    import asyncio

    ws, client = supervised
    await client.request("spawn", name="w", argv=["sleep", "30"])
    ask = json.dumps({"tool_name": "Bash", "tool_input": {"command": "make deploy"}}).encode()
    pending = asyncio.ensure_future(asyncio.to_thread(run_hook, "PermissionRequest", ask, hook_env(ws, "w")))
    esc = await eventually(lambda: _hook_question(client, "w"), what="the hook's question")
    await client.request("kill", worker="w", grace=0.5)
    done, took = await asyncio.wait_for(pending, 15)
    assert done.stdout == b"" and took < 10, (done, took)  # not the 600 s it would wait for a person
    (gone,) = [e for e in await client.request("decisions", states="all") if e["id"] == esc["id"]]
    assert gone["state"] == "expired" and "ended" in gone["note"], gone


async def _hook_question(client, name: str):
    found = [e for e in await client.request("decisions") if e["worker"] == name and e["source"] == "hook"]
    return found[0] if found else None


async def test_no_supervisor_costs_the_agent_nothing(tmp_path):
    env = {"PATH": os.environ["PATH"], "PODIUM_HOOK_SOCKET": str(tmp_path / "gone.sock"), "PODIUM_HOOK_WORKER": "w", "PODIUM_HOOK_TOKEN": "x" * 32}
    done, took = run_hook("PermissionRequest", b"{}", env)
    assert done.returncode == 0 and done.stdout == b"" and took < 2, (done, took)
    done, _ = run_hook("Stop", b"{}", {"PATH": os.environ["PATH"]})  # not a run podium started
    assert done.returncode == 0 and done.stdout == b""


async def _state(client, esc_id: str, state: str):
    (esc,) = [e for e in await client.request("decisions", states="all") if e["id"] == esc_id]
    return esc if esc["state"] == state else None


@pytest.mark.slow
@pytest.mark.parametrize("where", ["home", "project", "project-json"])
async def test_a_codex_with_hooks_of_its_own_is_read_from_its_screen_and_says_why(supervised, tmp_path, where):
    from fake_model import FakeModel, codex_home
    from test_agents import CODEX

    ws, client = supervised
    with FakeModel() as fm:
        env = {**os.environ, **codex_home(tmp_path / "codex-home", fm.port)}
        hooks = '\n[[hooks.Stop]]\nhooks = [{ type = "command", command = "true" }]\n'
        config = {"home": tmp_path / "codex-home" / "config.toml", "project": ws / ".codex" / "config.toml", "project-json": ws / ".codex" / "hooks.json"}[where]
        config.parent.mkdir(exist_ok=True)
        config.write_text('{"hooks": {"Stop": []}}' if where == "project-json" else (config.read_text() if config.exists() else "") + hooks)
        await client.request("spawn", name="cx", argv=[CODEX, "--no-daemon"], env=env, cwd=str(ws))
        listed = {w["name"]: w for w in await client.request("ls")}["cx"]
        assert listed["hook"]["path"] == "screen" and "has hooks of its own" in listed["hook"]["source"], listed["hook"]  # (codex's trust is not widened)
        assert str(config) in listed["hook"]["source"]
        await client.request("kill", worker="cx", grace=1.0)


@pytest.mark.slow
async def test_the_persons_own_claude_hooks_keep_working_beside_podiums(supervised, tmp_path):
    """The person's settings.json has a Stop hook of their own: podium's hooks come with the
    run (--settings), the person's file is not touched, and both fire."""
    from fake_model import FakeModel, claude_text
    from test_agents import CLAUDE, interactive_claude_env, screen_text, shows, type_and_enter

    ws, client = supervised
    marker = tmp_path / "their-stop-hook-ran"
    with FakeModel(claude_handler=lambda body: [claude_text("hello from claude")]) as fm:
        env = {**os.environ, **interactive_claude_env(tmp_path, ws, fm)}
        theirs = Path(env["CLAUDE_CONFIG_DIR"]) / "settings.json"
        theirs.write_text(json.dumps({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": f"touch {marker}"}]}]}}))
        before = theirs.read_bytes()
        await client.request("spawn", name="cl", argv=[CLAUDE], env=env, cwd=str(ws))
        await eventually(lambda: shows(client, "cl", "shortcuts"), what="claude's prompt", show=lambda: screen_text(client, "cl"))
        await type_and_enter(client, "cl", "say hello")
        await eventually(lambda: marker.exists(), what="the person's own Stop hook", show=lambda: screen_text(client, "cl"))
        events = await eventually(lambda: _events(ws, "cl", "Stop"), what="podium's Stop hook too")
        assert events[0] == "SessionStart" and "UserPromptSubmit" in events, events
        assert theirs.read_bytes() == before, "podium changed the person's settings.json"
        await client.request("kill", worker="cl", grace=1.0)


def _events(ws: Path, worker: str, last: str) -> list[str] | None:
    events = [e["event"] for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "hook" and e.get("worker") == worker and "event" in e]
    return events if last in events else None


@pytest.mark.slow
async def test_the_session_ledger_resumes_a_lost_claude_in_its_own_conversation(supervised, tmp_path):
    """claude's SessionStart hook names its session: podium records it (the journal keeps
    each change), and after its holder is killed the worker, lost, resumes that very
    conversation (`--resume ID`, not `--continue`, which could pick another's)."""
    import signal

    from fake_model import FakeModel, claude_text, last_user_text
    from test_agents import CLAUDE, interactive_claude_env, screen_text, shows, type_and_enter

    ws, client = supervised
    with FakeModel(claude_handler=lambda body: [claude_text("noted the LEDGER-WORD" if "LEDGER-WORD" in last_user_text(body) else "a title")]) as fm:
        env = {**os.environ, **interactive_claude_env(tmp_path, ws, fm)}
        await client.request("spawn", name="cl", argv=[CLAUDE], env=env, cwd=str(ws))
        await eventually(lambda: shows(client, "cl", "shortcuts"), what="claude's prompt", show=lambda: screen_text(client, "cl"))
        await type_and_enter(client, "cl", "remember LEDGER-WORD")
        await eventually(lambda: shows(client, "cl", "noted the LEDGER-WORD"), what="claude's answer", show=lambda: screen_text(client, "cl"))
        listed = {w["name"]: w for w in await client.request("ls")}["cl"]
        session = listed["session_id"]
        assert session and listed["hook"]["session_id"] == session, listed
        ledger = [e for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "session"]
        assert ledger[0]["session_id"] == session and ledger[0]["worker"] == "cl", ledger
        os.kill(listed["holder_pid"], signal.SIGKILL)
        os.kill(listed["pid"], signal.SIGKILL)
        await eventually(lambda: _in_state(client, "cl", "lost"), what="cl lost with its holder")
        await client.request("resume", worker="cl", prompt="")
        (resumed,) = [e for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "resume"]
        assert resumed["command"][:3] == [CLAUDE, "--resume", session], resumed["command"]
        await eventually(lambda: shows(client, "cl", "remember LEDGER-WORD"), what="the same conversation back on the screen", show=lambda: screen_text(client, "cl"))
        await client.request("kill", worker="cl", grace=1.0)


async def _in_state(client, name: str, state: str):
    return any(w["name"] == name and w["state"] == state for w in await client.request("ls"))


async def test_a_prompt_its_hooks_do_not_report_hands_the_worker_to_the_screen(supervised, tmp_path):
    """A 'claude' (a script run as one: podium gives it the hooks) whose SessionStart hook
    reports, then draws claude's permission dialog without a PermissionRequest hook: a few
    seconds on, podium says its hooks contradict its screen, and reads the screen for it."""
    ws, client = supervised
    fake = tmp_path / "claude"
    fake.write_text(
        "#!/bin/sh\n"
        f"echo '{{\"session_id\": \"s-fake\"}}' | {sys.executable} -I -S {CLIENT} SessionStart\n"
        "printf 'Bash command\\n\\n  rm -rf build\\n  clean up\\n\\nDo you want to proceed?\\n> 1. Yes\\n  2. No\\n'\n"
        "sleep 60\n"
    )
    fake.chmod(0o755)
    await client.request("spawn", name="cl", argv=[str(fake)], kind="claude")
    esc = await eventually(lambda: _screen_question(client, "cl"), what="the dialog caught on the screen")
    assert esc["command"] == "rm -rf build"
    hook = await eventually(lambda: _hook_off(client, "cl"), what="the hooks judged contradicted", timeout=10)
    assert "its hooks did not report" in hook["source"] and hook["session_id"] == "s-fake", hook
    listed = {w["name"]: w for w in await client.request("ls")}["cl"]
    assert listed["evidence"] == "screen:claude-bash", listed["evidence"]
    assert any("contradicted" in e for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "hook")


async def _screen_question(client, name: str):
    found = [e for e in await client.request("decisions") if e["worker"] == name and e["source"] == "screen"]
    return found[0] if found else None


async def _hook_off(client, name: str):
    hook = {w["name"]: w for w in await client.request("ls")}[name].get("hook") or {}
    return hook if hook.get("path") == "screen" else None


@pytest.mark.slow
async def test_after_a_reboot_the_lost_agents_are_offered_their_own_conversations(workspace, tmp_path):
    """The supervisor and a 'claude''s holder die together (a reboot, as far as podium can
    tell): the next supervisor finds the worker lost, and the inbox says `r` resumes it in
    the conversation its hooks named."""
    import asyncio
    import signal

    from conftest import shut_down

    from podium.sessions.client import connect_or_start

    fake = tmp_path / "claude"
    fake.write_text(f"#!/bin/sh\necho '{{\"session_id\": \"conv-1234abcd\"}}' | {sys.executable} -I -S {CLIENT} SessionStart\nsleep 60\n")
    fake.chmod(0o755)
    client, _ = await connect_or_start(workspace, client="test")
    try:
        await client.request("spawn", name="cl", argv=[str(fake)], kind="claude")
        listed = await eventually(lambda: _with_session(client, "cl"), what="its session recorded")
        os.kill(client.info["pid"], signal.SIGKILL)
        os.kill(listed["holder_pid"], signal.SIGKILL)
        os.kill(listed["pid"], signal.SIGKILL)
        await asyncio.wait_for(client.closed.wait(), 5)
        client, _ = await connect_or_start(workspace, client="test")
        offer = await eventually(lambda: _offer(client), what="the offer to resume")
        assert "cl (claude conv-123" in offer["question"] and "`r` on each resumes its own conversation" in offer["question"], offer
    finally:
        await shut_down(client, workspace)


async def _with_session(client, name: str):
    w = {w["name"]: w for w in await client.request("ls")}[name]
    return w if w.get("session_id") == "conv-1234abcd" else None


async def _offer(client):
    found = [e for e in await client.request("decisions") if "lost their holders" in e["question"]]
    return found[0] if found else None


@pytest.mark.slow
@pytest.mark.parametrize("choice", ["approve", "deny"])
async def test_a_print_mode_claude_asks_the_person_through_podium_mcp(supervised, tmp_path, choice):
    """claude -p fires no PermissionRequest hook: podium gives the run its
    --permission-prompt-tool (podium mcp --approvals), which puts the question in the
    inbox; the person's answer is claude's permission decision."""
    from fake_model import FakeModel, claude_text, claude_tool, has_tool_result
    from test_agents import CLAUDE, decision_from
    from test_plan_agents import agent_env

    ws, client = supervised
    target = ws / "made_in_print_mode.txt"

    def model(body):
        if has_tool_result(body):
            return [claude_text("the file is there" if target.exists() else "it was denied")]
        if body.get("tools"):
            return [claude_tool("Bash", {"command": f"touch {target}", "description": "make the file"})]
        return [claude_text("a title")]

    with FakeModel(claude_handler=model) as fm:
        env = {**os.environ, **agent_env(tmp_path, fm)}
        argv = [CLAUDE, "-p", "make the file", "--output-format", "stream-json", "--verbose"]
        await client.request("spawn", name="cp", argv=argv, kind="claude", env=env, cwd=str(ws))
        esc = await decision_from(client, "cp", "hook")
        assert (esc["command"], esc["reason"]) == (f"touch {target}", "make the file"), esc
        assert not target.exists()
        await client.request("answer", escalation=esc["id"], choice=choice)
        done = await eventually(lambda: _ended(client, "cp"), what="claude -p finished", timeout=60)
    assert target.exists() == (choice == "approve")
    last = (await client.request("last", worker="cp"))["text"]
    assert last == ("the file is there" if choice == "approve" else "it was denied"), (last, done)


async def _ended(client, name: str):
    w = {w["name"]: w for w in await client.request("ls")}[name]
    return w if w["state"] not in ("starting", "running", "waiting") else None


async def test_the_person_denies_a_hooks_request_with_a_message_from_the_inbox(supervised):
    """m in the inbox: deny, and tell the agent why; the words reach the agent as the
    hook's decision. (An agent's hook, run as the CLIs run it, waits meanwhile.)"""
    import asyncio

    from podium.sessions.config import Config
    from podium.tui.app import PodiumApp
    from podium.tui.inbox_screen import InboxScreen
    from podium.tui.screens import PromptScreen

    ws, client = supervised
    await client.request("spawn", name="w", argv=["sleep", "30"])
    ask = json.dumps({"tool_name": "Bash", "tool_input": {"command": "rm -rf /tmp/x", "description": "tidy"}}).encode()
    hook = await asyncio.create_subprocess_exec(sys.executable, "-I", "-S", str(CLIENT), "PermissionRequest", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=hook_env(ws, "w"))
    answer = asyncio.ensure_future(hook.communicate(ask))
    app = PodiumApp(ws, autostart=False, config=Config())
    async with app.run_test(size=(140, 40)) as pilot:
        await eventually(lambda: any(e["source"] == "hook" for e in app.link.escalations.values()), pilot=pilot, what="the hook's question in the app")
        await pilot.press("e")
        await eventually(lambda: isinstance(app.screen, InboxScreen) and app.screen.selected() is not None, pilot=pilot, what="the inbox, the question selected")
        await pilot.press("m")
        await eventually(lambda: isinstance(app.screen, PromptScreen), pilot=pilot, what="the message prompt")
        await pilot.press(*"write under build/ instead", "enter")
        out, _ = await asyncio.wait_for(answer, 20)
    decision = json.loads(out)["hookSpecificOutput"]["decision"]
    assert decision == {"behavior": "deny", "message": "write under build/ instead"}, decision


async def test_a_commands_secrets_are_masked_in_the_journal(supervised):
    ws, client = supervised
    await client.request("spawn", name="s", argv=["sh", "-c", "API_TOKEN=abc123 true", "OPENAI_API_KEY=sk-live-x"])
    (spawned,) = [e for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "spawn"]
    assert spawned["command"] == ["sh", "-c", "API_TOKEN=*** true", "OPENAI_API_KEY=***"], spawned
    assert "abc123" not in (ws / ".podium/journal.jsonl").read_text()


async def test_a_dialog_drawn_while_its_hook_asked_is_caught_from_the_screen_when_the_hook_gives_up(supervised, tmp_path):
    """Like claude: the dialog is drawn, the PermissionRequest hook asks and nobody answers in
    its time; the screen, silent since, is read again at once: the dialog becomes a screen
    question, the hook's is withdrawn."""
    ws, client = supervised
    fake = tmp_path / "claude"
    fake.write_text(
        "#!/bin/sh\n"
        f"echo '{{\"session_id\": \"s-2\"}}' | {sys.executable} -I -S {CLIENT} SessionStart\n"
        "printf 'Bash command\\n\\n  make deploy\\n  ship it\\n\\nDo you want to proceed?\\n> 1. Yes\\n  2. No\\n'\n"
        f"echo '{{\"tool_name\": \"Bash\", \"tool_input\": {{\"command\": \"make deploy\"}}}}' | PODIUM_HOOK_WAIT=2 {sys.executable} -I -S {CLIENT} PermissionRequest\n"
        "sleep 60\n"
    )
    fake.chmod(0o755)
    await client.request("spawn", name="cl", argv=[str(fake)], kind="claude")
    hook = await eventually(lambda: _hook_question(client, "cl"), what="the hook's question first")
    screen = await eventually(lambda: _screen_question(client, "cl"), what="the dialog caught from the screen after the hook gave up", timeout=15)
    assert screen["command"] == "make deploy"
    (withdrawn,) = [e for e in await client.request("decisions", states="all") if e["id"] == hook["id"]]
    assert withdrawn["state"] == "expired", withdrawn
