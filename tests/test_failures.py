"""Failures are classified, never just "failed": the classes from what podium knows of a
worker, the real codex CLI's own errors (a rate limit, a full context window, a spent
quota, from the fake model server), the scheduler's classes (time cap, verify failed,
spawn failed, stale), each written to the journal and the task's errors.jsonl, and shown
on the plan and in the worker list. (Issue 14 builds retries, the breaker and dead
letters on these classes.)"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import eventually, podium_cli
from fake_model import FakeModel, codex_home, message

from podium.sessions.blackboard import read_journal
from podium.sessions.failures import FailureClass, classify
from test_plan_agents import BIN, codex_prompt, task_of
from test_plans import complete, states, write_plan

CODEX_ERRORS = {
    # what the pinned codex 0.169.0 prints in turn.failed for each API error (checked live)
    "rate": ("rate_limit_exceeded", "Rate limit reached for gpt-5.5. Please try again in 20s.", FailureClass.RATE_LIMIT),
    "window": ("context_length_exceeded", "Your input exceeds the context window of this model.", FailureClass.CONTEXT_WINDOW),
    "quota": ("insufficient_quota", "You exceeded your current quota", FailureClass.USAGE_LIMIT),
}


def test_classify_names_each_way_a_worker_ends_badly():
    base = {"state": "failed", "reason": "", "exit_code": 1, "exit_signal": None, "agent": {}}
    assert classify({**base, "state": "done", "exit_code": 0}) is None
    assert classify({**base, "reason": "exit code 1"}) == (FailureClass.EXIT_CODE, "exit code 1")
    assert classify({**base, "exit_code": 127, "reason": "exit code 127"})[0] == FailureClass.SPAWN_FAILED
    assert classify({**base, "exit_code": None, "exit_signal": 9, "reason": "killed by SIGKILL"}) == (FailureClass.SIGNAL, "killed by SIGKILL")
    assert classify({**base, "state": "lost", "reason": "holder gone"})[0] == FailureClass.LOST
    turn = lambda text: {**base, "agent": {"turn_failed": text}}  # noqa: E731
    assert classify(turn("Codex ran out of room in the model's context window."))[0] == FailureClass.CONTEXT_WINDOW
    assert classify(turn("rate limit exceeded: try again in 20s"))[0] == FailureClass.RATE_LIMIT
    assert classify(turn("Quota exceeded. Check your plan and billing details."))[0] == FailureClass.USAGE_LIMIT
    assert classify(turn("stream disconnected"))[0] == FailureClass.AGENT_ERROR
    assert classify({**base, "agent": {"result_error": "Prompt is too long"}})[0] == FailureClass.CONTEXT_WINDOW


def errors_of(ws: Path, tid: str) -> list[dict]:
    path = ws / ".podium/tasks" / tid / "errors.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
async def test_codex_api_errors_are_classified_from_its_own_words(supervised, tmp_path):
    ws, client = supervised

    def answer(body):
        code, text, _ = CODEX_ERRORS[task_of(codex_prompt(body)) or "rate"]
        return {"code": code, "message": text}

    tasks = "".join(f'\n[[task]]\nid = "{tid}"\ngoal = "meet a {tid} error"\n' for tid in CODEX_ERRORS)
    path = write_plan(ws, f'title = "errors"\n[defaults]\nagent = "codex-exec"\n{tasks}')
    with FakeModel(codex_handler=answer) as fm:
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **codex_home(tmp_path / "codex-home", fm.port)}
        await client.request("plan_run", path=str(path), env=env)
        plan = await complete(client, timeout=90)
    assert set(states(plan).values()) == {"failed"}, plan
    for tid, (_, _, cls) in CODEX_ERRORS.items():
        (error,) = errors_of(ws, tid)
        assert (error["class"], error["task"], error["worker"]) == (cls, tid, tid), error
        assert {t["id"]: t for t in plan["tasks"]}[tid]["error"]["class"] == cls
    journaled = {e["task"]: e["class"] for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "error"}
    assert journaled == {tid: str(cls) for tid, (_, _, cls) in CODEX_ERRORS.items()}
    table = podium_cli("-w", str(ws), "plan", "show").stdout
    assert "failed (rate-limit)" in table and "failed (context-window)" in table and "failed (usage-limit)" in table


async def test_the_scheduler_names_the_failures_only_it_can_see(supervised, tmp_path):
    ws, client = supervised
    path = write_plan(
        ws,
        f"""
        title = "scheduler classes"
        [defaults]
        agent = "shell"
        [[task]]
        id = "capped"
        goal = "runs past its cap"
        time_cap = "1s"
        command = "sleep 60"
        [[task]]
        id = "missing"
        goal = "a command that does not exist"
        command = "no-such-command-for-podium"
        [[task]]
        id = "checked"
        goal = "fails its verification every round"
        command = "true"
        verify = "echo 'FINDING: still wrong'; exit 2"
        [[task]]
        id = "crash"
        goal = "exits 3"
        command = "exit 3"
        """,
    )
    await client.request("plan_run", path=str(path))
    plan = await complete(client, timeout=40)
    got = states(plan)
    assert got["capped"] == "timed-out" and got["missing"] == "failed" and got["crash"] == "failed", got
    assert [e["class"] for e in errors_of(ws, "capped")] == ["time-cap"]
    assert [e["class"] for e in errors_of(ws, "missing")] == ["spawn-failed"]
    assert [e["class"] for e in errors_of(ws, "crash")] == ["exit-code"]
    assert [e["class"] for e in errors_of(ws, "checked")] == ["verify-failed"]
    assert "FINDING: still wrong" in errors_of(ws, "checked")[0]["evidence"]
    last_round = [t for t in plan["tasks"] if t["id"].startswith("checked-fix")][-1]
    assert last_round["state"] == "failed" and last_round["error"]["class"] == "verify-failed", last_round


async def test_the_worker_list_shows_the_class_never_just_failed(supervised):
    from podium.sessions.config import Config
    from podium.tui.app import PodiumApp
    from podium.widgets.worker_list import WorkerList

    ws, client = supervised
    await client.request("spawn", name="crash", argv=[sys.executable, "-c", "raise SystemExit(3)"])
    await client.request("spawn", name="killed", argv=["sleep", "300"])
    app = PodiumApp(ws, autostart=False, config=Config())
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.dashboard.query_one(WorkerList)
        await eventually(lambda: "crash" in table.rows, pilot=pilot, what="the crash row")
        pid = {w["name"]: w for w in await client.request("ls")}["killed"]["pid"]
        os.kill(pid, 9)
        state = lambda name: str(table.get_cell(name, "state")) if name in table.rows else ""  # noqa: E731
        await eventually(lambda: state("crash") == "failed · exit-code", pilot=pilot, what="crash: failed · exit-code", show=lambda: state("crash"))
        await eventually(lambda: state("killed") == "failed · signal", pilot=pilot, what="killed: failed · signal", show=lambda: state("killed"))
