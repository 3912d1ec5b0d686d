"""Failures are classified, never just "failed": the classes from what podium knows of a
worker, the real codex CLI's own errors (a rate limit, a full context window, a spent
quota, from the fake model server), the scheduler's classes (time cap, verify failed,
spawn failed, stale), each written to the journal and the task's errors.jsonl, and shown
on the plan and in the worker list. (Issue 14 builds retries, the breaker and dead
letters on these classes.)"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from conftest import eventually, podium_cli
from fake_model import FakeModel, message

from podium.sessions.blackboard import read_journal
from podium.sessions.failures import FailureClass, classify
from test_plan_agents import agent_env, codex_prompt, task_of
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
        env = {**os.environ, **agent_env(tmp_path, fm)}
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
        """
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


# -- retries per class, with backoff ------------------------------------------------------------------
def test_retry_settings_are_checked_by_file_line_and_field():
    from podium.sessions.plan import PlanError, parse_plan

    with pytest.raises(PlanError) as err:
        parse_plan('title = "t"\n[defaults]\nretry_on = ["rate-limit", "flaky"]\nbackoff = "-1s"\n[[task]]\nid = "a"\ngoal = "x"\n', "p.toml")
    text = str(err.value)
    assert "p.toml:3: defaults.retry_on: 'flaky' is not a failure class" in text and "p.toml:4: defaults.backoff" in text, text


async def test_a_failure_of_a_retried_class_waits_its_backoff_and_runs_again(supervised, tmp_path):
    ws, client = supervised
    stamps = tmp_path / "stamps"
    path = write_plan(
        ws,
        f"""
        title = "retries"
        [defaults]
        agent = "shell"
        retry_on = ["exit-code"]
        backoff = "1s"
        [[task]]
        id = "flaky"
        goal = "fails twice, then works"
        retries = 2
        command = "date +%s.%N >> {stamps}; [ $(wc -l < {stamps}) -ge 3 ] || exit 5; echo 'COMPLETED: third time'"
        [[task]]
        id = "missing"
        goal = "a class that is not retried"
        retries = 2
        command = "no-such-command-for-podium"
        """,
    )
    await client.request("plan_run", path=str(path))
    waiting = await eventually(lambda: _retry_waiting(client), what="flaky waiting out its backoff")
    assert waiting["next"].startswith("retry in ") and waiting["error"]["class"] == "exit-code"
    plan = await complete(client, timeout=30)
    assert states(plan) == {"flaky": "done", "missing": "failed"}, plan
    starts = [float(x) for x in stamps.read_text().split()]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(starts) == 3 and gaps[0] >= 0.5 and gaps[1] >= 1.0, gaps  # 1 s then 2 s, each × 0.5–1
    assert [e["class"] for e in errors_of(ws, "flaky")] == ["exit-code", "exit-code"]
    retries = [e for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "task" and e.get("action") == "retry"]
    assert [(r["attempt"], r["failure"]) for r in retries] == [(1, "exit-code"), (2, "exit-code")]
    missing = {t["id"]: t for t in plan["tasks"]}["missing"]
    assert len(missing["attempts"]) == 1 and "not retried: spawn-failed is not in retry_on" in missing["reason"]


async def _retry_waiting(client):
    for t in (await client.request("plan_show"))["tasks"]:
        if t["id"] == "flaky" and t["state"] == "queued" and t.get("retry_at"):
            return t
    return None


@pytest.mark.slow
async def test_codex_meeting_a_rate_limit_is_retried_and_finishes(supervised, tmp_path):
    ws, client = supervised
    asked: list[str] = []

    def answer(body):
        asked.append(task_of(codex_prompt(body)) or "?")
        if len(asked) == 1:
            return {"code": "rate_limit_exceeded", "message": "Rate limit reached for gpt-5.5. Please try again in 1s."}
        return [message("COMPLETED: done after the limit passed\n\nStatus: Done\n")]

    path = write_plan(ws, 'title = "limit"\n[defaults]\nagent = "codex-exec"\nbackoff = "1s"\n[[task]]\nid = "work"\ngoal = "do it"\nretries = 1\n')
    with FakeModel(codex_handler=answer) as fm:
        env = {**os.environ, **agent_env(tmp_path, fm)}
        await client.request("plan_run", path=str(path), env=env)
        plan = await complete(client, timeout=90)
    (task,) = plan["tasks"]
    assert task["state"] == "done" and [a["worker"] for a in task["attempts"]] == ["work", "work-a2"], task
    assert [e["class"] for e in errors_of(ws, "work")] == ["rate-limit"]


# -- dead letters -----------------------------------------------------------------------------------------
async def test_a_task_failed_past_its_retries_becomes_a_dead_letter_retried_from_the_cli(supervised, tmp_path):
    ws, client = supervised
    fixed = tmp_path / "fixed"
    path = write_plan(
        ws,
        f"""
        title = "letters"
        [defaults]
        agent = "shell"
        retry_on = ["exit-code"]
        backoff = "1s"
        [[task]]
        id = "broken"
        goal = "fails until someone fixes it"
        retries = 1
        command = "echo 'trying LETTER-OUTPUT'; test -e {fixed} || exit 7; echo 'COMPLETED: works now'"
        [[task]]
        id = "after"
        goal = "needs broken"
        command = "true"
        after = ["broken"]
        """,
    )
    await client.request("plan_run", path=str(path))
    await complete(client, timeout=30)
    letter_path = ws / ".podium/dead-letters/broken.toml"
    await eventually(lambda: letter_path.exists(), what="the dead letter written")
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "dlq", "ls")
    assert r.returncode == 0 and "broken" in r.stdout and "exit-code" in r.stdout, r.stdout + r.stderr
    letter = json.loads((await asyncio.to_thread(podium_cli, "-w", str(ws), "dlq", "show", "broken")).stdout)
    assert [e["class"] for e in letter["errors"]] == ["exit-code", "exit-code"] and len(letter["attempts"]) == 2
    assert "LETTER-OUTPUT" in letter["last_output"] and "fails until someone fixes it" in letter["envelope"]
    # Someone fixes it; the letter is retried, and the plan carries on from there.
    fixed.touch()
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "dlq", "retry", "broken")
    assert r.returncode == 0, r.stderr
    plan = await complete(client, timeout=30)
    assert states(plan) == {"broken": "done", "after": "done"}, plan
    assert not letter_path.exists() and (ws / ".podium/dead-letters/retried/broken-1.toml").exists()
    assert json.loads((await asyncio.to_thread(podium_cli, "-w", str(ws), "dlq", "ls", "--json")).stdout)["letters"] == []
    actions = [e.get("action") for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "dead-letter"]
    assert actions == [None, "retry"], actions


async def test_a_garbled_dead_letter_is_reported_and_kept(supervised):
    ws, client = supervised
    letters = ws / ".podium/dead-letters"
    letters.mkdir(parents=True)
    (letters / "mangled.toml").write_bytes(b"task = \"mangled\nstate = \xff\xfe [[[")
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "dlq", "ls")
    assert r.returncode == 1 and "mangled.toml: not a dead letter podium can read" in r.stdout, r.stdout + r.stderr
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "dlq", "show", "mangled")
    assert r.returncode == 1 and "kept as it is" in r.stderr
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "dlq", "drop", "nobody")
    assert r.returncode == 1 and "no dead letter 'nobody'" in r.stderr
    assert (letters / "mangled.toml").exists() and (await client.request("status"))["pid"] == client.info["pid"]


# -- the circuit breaker ---------------------------------------------------------------------------------
BREAKER_PLAN = """
title = "storm"
[defaults]
agent = "shell"
max_parallel = 1
breaker = 3
retry_on = []
[[task]]
id = "t1"
goal = "broken"
command = "exit 9"
[[task]]
id = "t2"
goal = "broken"
command = "exit 9"
[[task]]
id = "t3"
goal = "broken"
command = "exit 9"
[[task]]
id = "t4"
goal = "fine"
command = "echo 'COMPLETED: fine'"
[[task]]
id = "t5"
goal = "fine"
command = "echo 'COMPLETED: fine too'"
"""


async def _gate(client):
    for esc in await client.request("decisions"):
        if "in a row failed with exit-code" in esc["question"]:
            return esc
    return None


@pytest.mark.parametrize("answer", ["A", "B", "C"])
async def test_failures_in_a_row_open_the_breaker_and_the_person_decides(supervised, answer):
    ws, client = supervised
    path = write_plan(ws, BREAKER_PLAN)
    await client.request("plan_run", path=str(path))
    esc = await eventually(lambda: _gate(client), what="the breaker's gate in the inbox")
    assert esc["tier"] == "gate" and [o["key"] for o in esc["options"]] == ["A", "B", "C"] and "t3: " in esc["question"]
    plan = await client.request("plan_show")
    assert plan["circuit"]["state"] == "open" and states(plan)["t4"] == "queued", plan
    assert "circuit breaker is open" in {t["id"]: t for t in plan["tasks"]}["t4"]["reason"]
    assert len(await client.request("ls")) == 3, "a task started while the breaker was open"
    await client.request("answer", escalation=esc["id"], choice=answer)
    if answer == "C":
        plan = await eventually(lambda: _plan_in(client, "stopped"), what="the plan stopped")
        assert states(plan)["t4"] == "stopped" and len(await client.request("ls")) == 3
        return
    plan = await complete(client, timeout=30)
    expected = {"A": "failed", "B": "skipped"}[answer]
    assert states(plan) == {"t1": expected, "t2": expected, "t3": expected, "t4": "done", "t5": "done"}, plan
    assert plan["circuit"]["state"] == "closed"
    entries = [e for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "breaker"]
    assert entries[0]["state"] == "open" and entries[0]["count"] == 3 and entries[1]["answer"] == answer
    if answer == "A":  # half-open: t4 alone, and its success closed the breaker
        assert entries[2]["state"] == "closed" and "t4 succeeded" in entries[2]["reason"]


async def _plan_in(client, state: str):
    plan = await client.request("plan_show")
    return plan if plan["state"] == state else None


@pytest.mark.slow
async def test_an_open_breaker_asks_again_after_a_supervisor_restart(workspace):
    import signal

    from conftest import shut_down

    from podium.sessions.client import connect_or_start

    client, _ = await connect_or_start(workspace, client="test")
    try:
        await client.request("plan_run", path=str(write_plan(workspace, BREAKER_PLAN)))
        await eventually(lambda: _gate(client), what="the breaker's gate")
        os.kill(client.info["pid"], signal.SIGKILL)
        await asyncio.wait_for(client.closed.wait(), 5)
        client, _ = await connect_or_start(workspace, client="test")
        esc = await eventually(lambda: _gate(client), what="the gate asked again after the restart")
        assert (await client.request("plan_show"))["circuit"]["state"] == "open"
        await client.request("answer", escalation=esc["id"], choice="y")  # y takes the first option: resume
        plan = await complete(client, timeout=30)
        assert states(plan)["t4"] == "done" and states(plan)["t5"] == "done"
    finally:
        await shut_down(client, workspace)


@pytest.mark.slow
async def test_a_rate_limit_holds_back_every_start_of_that_agent_until_its_reset(supervised, tmp_path):
    import time

    ws, client = supervised
    seen: list[tuple[str, float]] = []

    def answer(body):
        tid = task_of(codex_prompt(body)) or "?"
        seen.append((tid, time.monotonic()))
        if len(seen) == 1:
            return {"code": "rate_limit_exceeded", "message": "Rate limit reached for gpt-5.5. Please try again in 2s."}
        return [message(f"COMPLETED: {tid} done\n\nStatus: Done\n")]

    path = write_plan(
        ws,
        'title = "fleet"\n[defaults]\nagent = "codex-exec"\nmax_parallel = 1\nbackoff = "1s"\nretries = 1\n'
        '[[task]]\nid = "first"\ngoal = "meets the limit"\n[[task]]\nid = "second"\ngoal = "waits for the reset"\n',
    )
    with FakeModel(codex_handler=answer) as fm:
        env = {**os.environ, **agent_env(tmp_path, fm)}
        await client.request("plan_run", path=str(path), env=env)
        paused = await eventually(lambda: _paused(client), what="codex-exec paused by the rate limit")
        assert "codex-exec is paused by a rate-limit" in paused["reason"], paused
        plan = await complete(client, timeout=90)
    assert states(plan) == {"first": "done", "second": "done"}, plan
    t_limit = seen[0][1]
    later = [t for tid, t in seen[1:]]
    assert later and min(later) - t_limit >= 1.8, seen  # nothing of that kind asked the model before the reset
    (limit,) = [e for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "limit"]
    assert limit["agent"] == "codex-exec" and limit["wait"] == 2.0


async def _paused(client):
    for t in (await client.request("plan_show"))["tasks"]:
        if "is paused by a" in t["reason"]:
            return t
    return None
