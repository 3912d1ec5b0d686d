"""Issue 14's loops that act on a running worker: budgets (a ceiling that interrupts a real
claude mid-run and asks the person), the stall watchdog (a real codex whose model stream
hangs, walked through Esc, Ctrl+C and a restart in its own conversation, or into the
dead letters), checkpoints before the time cap (a digest asked of the same conversation,
kept on disk, and a fresh session that continues from it), and their settings checked by
file, line and field."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import eventually
from fake_model import FakeModel, claude_text, claude_tool, last_user_text, message

from podium.sessions.blackboard import read_journal
from podium.sessions.config import load_config
from podium.sessions.plan import PlanError, parse_plan
from test_plan_agents import agent_env
from test_plans import complete, states, write_plan

REPORT = "COMPLETED: {what}\n\nStatus: Done\nSummary: {what}\n"


def journal_of(ws: Path, kind: str) -> list[dict]:
    return [e for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == kind]


def task(plan: dict, tid: str) -> dict:
    return {t["id"]: t for t in plan["tasks"]}[tid]


async def escalation(client, words: str, tier: str | None = None):
    for esc in await client.request("decisions"):
        if words in esc["question"] and (tier is None or esc["tier"] == tier):
            return esc
    return None


# -- settings ------------------------------------------------------------------------------------------
def test_watchdog_checkpoint_and_budget_settings_are_checked_by_file_line_and_field(tmp_path):
    text = """title = "t"
[defaults]
watchdog = ["esc", "dead-letter", "restart"]
watchdog_every = "soon"
checkpoint_before = "-5m"
checkpoints = -1
[budget]
tokens = 0
usd = "lots"
per_task = 3
[[task]]
id = "a"
goal = "g"
budget_tokens = 1.5
"""
    with pytest.raises(PlanError) as err:
        parse_plan(text, "p.toml")
    assert err.value.problems == [
        'p.toml:3: defaults.watchdog: "dead-letter" ends the task, so it can only be the last step',
        "p.toml:4: defaults.watchdog_every must be a positive duration like \"30m\", \"90s\" or \"1h\", not 'soon'",
        "p.toml:5: defaults.checkpoint_before must be a positive duration like \"30m\", \"90s\" or \"1h\", not '-5m'",
        "p.toml:6: defaults.checkpoints must be at least 0, not -1",
        "p.toml:8: budget.tokens must be more than 0, not 0 (leave it out for no ceiling)",
        "p.toml:9: budget.usd must be an integer or a number, not str 'lots'",
        "p.toml:10: budget.per_task: unknown key (known: task_tokens, task_usd, tokens, usd, usd_per_mtok)",
        "p.toml:14: task 'a'.budget_tokens must be an integer, not float 1.5",
    ]
    plan = parse_plan('title = "t"\n[defaults]\ncheckpoint_before = false\nwatchdog = []\n[budget]\ntask_tokens = 500\n[[task]]\nid = "a"\ngoal = "g"\n')
    assert plan.checkpoint_before == 0 and plan.watchdog == () and plan.tasks["a"].budget_tokens == 500
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text("[budget]\nworkspace_tokens = 'many'\nworkspace_usd = 12.5\nspend = 1\n")
    cfg = load_config(cfg_path)
    assert cfg.budget == {"workspace_usd": 12.5}
    assert f"{cfg_path}: budget.workspace_tokens must be an integer above 0, not 'many'; no such ceiling" in cfg.problems
    assert any("budget.spend: unknown key" in p for p in cfg.problems), cfg.problems


# -- budgets -------------------------------------------------------------------------------------------
BUDGET_PLAN = """
title = "budgets"
[defaults]
agent = "claude-p"
flags = ["--allowedTools", "Bash"]
[[task]]
id = "spender"
goal = "run two long commands (BUDGET-TASK)"
budget_tokens = 6000
"""


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["A", "B"])
async def test_a_budget_ceiling_interrupts_a_real_claude_and_the_person_decides(supervised, tmp_path, answer):
    """Each model answer reports 5100 tokens: the first is 85 % of the task's 6000 (a
    warning), the second 170 % (its worker is interrupted mid-command and the person asked).
    More budget: it continues its own conversation and finishes. Stop: a dead letter."""
    ws, client = supervised
    answers = iter([[claude_tool("Bash", {"command": "sleep 2; echo first"})], [claude_tool("Bash", {"command": "sleep 120"})]])

    def model(body):
        if "previous run of this task was cut short" in last_user_text(body):  # (a small answer: within the raise)
            return {"items": [claude_text(REPORT.format(what="finished after more budget"))], "usage": (400, 100)}
        return next(answers, [claude_text("(nothing more)")])

    with FakeModel(claude_handler=model, usage=(5000, 100)) as fm:
        env = {**os.environ, **agent_env(tmp_path, fm)}
        await client.request("plan_run", path=str(write_plan(ws, BUDGET_PLAN)), env=env)
        warn = await eventually(lambda: escalation(client, "80 % of its budget", "notify"), what="the 80 % warning", timeout=60)
        assert "task spender has spent 5.1k of 6.0k tokens" in warn["question"], warn
        gate = await eventually(lambda: escalation(client, "Budget reached", "gate"), what="the budget's gate", timeout=60)
        assert "task spender has spent 10k of 6.0k tokens" in gate["question"] and [o["key"] for o in gate["options"]] == ["A", "B"]
        spender = await eventually(lambda: _worker_ended(client, "spender"), what="the spender interrupted mid-command")
        assert spender["state"] in ("interrupted", "failed"), spender
        plan = await client.request("plan_show")
        assert task(plan, "spender")["hold"] == "task#1:spender" and task(plan, "spender")["state"] == "queued", task(plan, "spender")
        budget = plan["budgets"]["task#1:spender"]
        assert budget["tokens"] == 10200 and budget["ceiling_tokens"] == 6000 and budget["asking"], budget
        assert [e["worker"] for e in journal_of(ws, "budget") if e.get("action") == "interrupt"] == ["spender"]
        await client.request("answer", escalation=gate["id"], choice=answer)
        if answer == "B":
            plan = await complete(client, timeout=30)
            assert states(plan) == {"spender": "failed"} and task(plan, "spender")["error"]["class"] == "budget"
            assert (ws / ".podium/dead-letters/spender.toml").exists()
            return
        plan = await complete(client, timeout=60)
    assert states(plan) == {"spender": "done"}, plan
    attempts = task(plan, "spender")["attempts"]
    assert [a["worker"] for a in attempts] == ["spender", "spender-a2"] and attempts[1]["how"] == "continues spender's conversation"
    argv = (await client.request("ls"))
    resumed = {w["name"]: w for w in argv}["spender-a2"]
    assert "--resume" in resumed["command"] and "--allowedTools" in resumed["command"], resumed["command"]
    raised = plan["budgets"]["task#1:spender"]["ceiling_tokens"]
    assert raised == 10200 + 3000, plan["budgets"]  # half the ceiling again, from what was spent
    answers_ = [e for e in journal_of(ws, "budget") if e.get("answer")]
    assert answers_[0]["answer"] == "more" and answers_[0]["scope"] == "task#1:spender"


async def _worker_ended(client, name: str):
    for w in await client.request("ls"):
        if w["name"] == name and w["state"] not in ("starting", "running", "waiting", "paused"):
            return w
    return None


# -- the stall watchdog ----------------------------------------------------------------------------------
WATCHDOG_PLAN = """
title = "watchdog"
[defaults]
agent = "codex-exec"
stale_after = "2s"
watchdog_every = "1s"
{ladder}
[[task]]
id = "hung"
goal = "answer once the model does (HUNG-TASK)"
"""


@pytest.mark.slow
async def test_a_hung_model_stream_is_walked_through_the_watchdogs_steps_and_restarted(supervised, tmp_path):
    """codex's first model call never answers: stale, then Esc, then Ctrl+C (codex exec
    stops), then a restart in the same conversation, which the model answers."""
    ws, client = supervised

    def model(body):
        text = json.dumps(body.get("input", ""))
        if "cut short" in text:
            return [message(REPORT.format(what="answered after the restart"))]
        return {"hang": 120}

    with FakeModel(codex_handler=model) as fm:
        env = {**os.environ, **agent_env(tmp_path, fm)}
        await client.request("plan_run", path=str(write_plan(ws, WATCHDOG_PLAN.format(ladder=""))), env=env)
        plan = await complete(client, timeout=90)
    assert states(plan) == {"hung": "done"}, plan
    steps = [e["step"] for e in journal_of(ws, "watchdog") if "note" not in e]
    assert steps == ["esc", "ctrl-c", "restart"], journal_of(ws, "watchdog")
    attempts = task(plan, "hung")["attempts"]
    assert [a["worker"] for a in attempts] == ["hung", "hung-a2"] and attempts[1]["how"] == "continues hung's conversation", attempts
    assert [e["signal"] for e in journal_of(ws, "signal") if e.get("via") == "watchdog"] == ["SIGINT"]
    assert any(e.get("via") == "watchdog" for e in journal_of(ws, "input")), "Esc was not typed"
    stale = await client.request("decisions")
    assert any("has printed nothing for" in e["question"] and e["worker"] == "hung" for e in stale), stale


@pytest.mark.slow
async def test_a_worker_that_stays_hung_is_dead_lettered_by_the_last_step(supervised, tmp_path):
    ws, client = supervised
    with FakeModel(codex_handler=lambda body: {"hang": 120}) as fm:
        env = {**os.environ, **agent_env(tmp_path, fm)}
        ladder = 'watchdog = ["ctrl-c", "dead-letter"]'
        await client.request("plan_run", path=str(write_plan(ws, WATCHDOG_PLAN.format(ladder=ladder))), env=env)
        plan = await complete(client, timeout=60)
    hung = task(plan, "hung")
    assert hung["state"] == "failed" and hung["error"]["class"] == "stale" and "watchdog" in hung["reason"], hung
    assert [e["step"] for e in journal_of(ws, "watchdog") if "note" not in e] == ["ctrl-c", "dead-letter"]
    letter = await eventually(lambda: (ws / ".podium/dead-letters/hung.toml").exists(), what="the dead letter")
    assert letter and len(hung["attempts"]) == 1


# -- checkpoints before the time cap ------------------------------------------------------------------------
CHECKPOINT_PLAN = """
title = "checkpoints"
[defaults]
agent = "codex-exec"
time_cap = "10s"
checkpoint_before = "7s"
checkpoints = 1
[[task]]
id = "long"
goal = "a long piece of work (LONG-TASK)"
"""


@pytest.mark.slow
async def test_a_checkpoint_asks_the_conversation_for_a_digest_and_a_fresh_session_continues(supervised, tmp_path):
    """3 s into a 10 s cap, codex (its model still thinking) is interrupted, its own
    conversation is asked for a digest, the digest is kept as checkpoint-1.md, and a fresh
    codex session is given the envelope with the digest, and finishes."""
    ws, client = supervised
    fresh: list[str] = []

    def model(body):
        text = json.dumps(body.get("input", ""))
        if "CHECKPOINT 1" in text:
            fresh.append(text)
            return [message(REPORT.format(what="finished from the checkpoint"))]
        if "podium checkpoint" in text:
            return [message("1. DONE: parsed the input (DIGEST-MARK)\\n4. NEXT STEP: write the output")]
        return {"hang": 120}

    with FakeModel(codex_handler=model) as fm:
        env = {**os.environ, **agent_env(tmp_path, fm)}
        await client.request("plan_run", path=str(write_plan(ws, CHECKPOINT_PLAN)), env=env)
        plan = await complete(client, timeout=90)
    long = task(plan, "long")
    assert long["state"] == "done" and long["checkpoints"] == 1, long
    saved = (ws / ".podium/tasks/long/checkpoint-1.md").read_text()
    assert "DIGEST-MARK" in saved and "the agent's own digest" in saved, saved
    assert len(fresh) == 1 and "DIGEST-MARK" in fresh[0] and "LONG-TASK" in fresh[0], "the fresh session was not given the envelope with the digest"
    assert [a["worker"] for a in long["attempts"]] == ["long", "long-a2"], long["attempts"]
    assert long["attempts"][1]["how"].startswith("a fresh session with a digest"), long["attempts"]
    workers = {w["name"]: w for w in await client.request("ls")}
    digest = workers["long.digest"]["command"]
    assert digest[:2] == ["codex", "exec"] and "--skip-git-repo-check" in digest and digest[-3] == "resume", digest
    assert [e["step"] for e in journal_of(ws, "checkpoint") if "step" in e] == ["interrupt", "digest", "written"]


@pytest.mark.slow
async def test_a_budget_question_and_its_held_task_survive_a_supervisor_kill_9(workspace, tmp_path, monkeypatch):
    import asyncio
    import signal

    from conftest import shut_down

    from podium.sessions.client import connect_or_start

    answers = iter([[claude_tool("Bash", {"command": "sleep 120"})]])

    def model(body):
        if "previous run of this task was cut short" in last_user_text(body):
            return {"items": [claude_text(REPORT.format(what="finished after the restart"))], "usage": (400, 100)}
        return next(answers, [claude_text("(nothing more)")])

    with FakeModel(claude_handler=model, usage=(5000, 100)) as fm:
        for key, value in agent_env(tmp_path, fm).items():  # (a restarted supervisor runs with its own environment)
            monkeypatch.setenv(key, value)
        client, _ = await connect_or_start(workspace, client="test")
        try:
            await client.request("plan_run", path=str(write_plan(workspace, BUDGET_PLAN.replace("6000", "4000"))), env=dict(os.environ))
            await eventually(lambda: escalation(client, "Budget reached", "gate"), what="the budget's gate", timeout=60)
            await eventually(lambda: _worker_ended(client, "spender"), what="the spender interrupted")
            os.kill(client.info["pid"], signal.SIGKILL)
            await asyncio.wait_for(client.closed.wait(), 5)
            client, _ = await connect_or_start(workspace, client="test")
            gate = await eventually(lambda: escalation(client, "Budget reached", "gate"), what="the gate asked again after the restart")
            plan = await client.request("plan_show")
            assert task(plan, "spender")["hold"] == "task#1:spender" and task(plan, "spender")["state"] == "queued", task(plan, "spender")
            assert len(await client.request("ls")) == 1, "a held task started again on its own after the restart"
            await client.request("answer", escalation=gate["id"], choice="A")
            plan = await complete(client, timeout=60)
            assert states(plan) == {"spender": "done"} and task(plan, "spender")["attempts"][1]["how"] == "continues spender's conversation"
            levels = [e for e in journal_of(workspace, "budget") if e.get("level") == 100 and "of 4.0k" in e["spent"]]
            assert len(levels) == 1, f"the 100 % was announced again after the restart: {levels}"
            raised = [e for e in journal_of(workspace, "budget") if e.get("answer") == "more"]
            assert raised[0]["extra"] == {"tokens": 5100 + 2000 - 4000}, raised  # from what was spent, known after the restart too
        finally:
            await shut_down(client, workspace)


async def test_a_plan_retry_of_a_dead_lettered_task_moves_its_letter_too(supervised):
    ws, client = supervised  # (it fails once: a second failure would write a new letter)
    await client.request("plan_run", path=str(write_plan(ws, 'title = "l"\n[[task]]\nid = "once"\ngoal = "fails"\nagent = "shell"\ncommand = "test -e once.ran || { touch once.ran; exit 4; }"\n')))
    await complete(client, timeout=30)
    letter = ws / ".podium/dead-letters/once.toml"
    await eventually(lambda: letter.exists(), what="the dead letter written")
    await client.request("task_retry", task="once")  # what `podium plan retry once` and `r` on the plan screen send
    assert states(await complete(client, timeout=30)) == {"once": "done"}
    assert not letter.exists() and (ws / ".podium/dead-letters/retried/once-1.toml").exists()
    moved = [e for e in journal_of(ws, "dead-letter") if e.get("action") == "retry"]
    assert len(moved) == 1 and moved[0]["via"] == "test", moved


@pytest.mark.slow
async def test_claude_meeting_a_429_is_classified_retried_after_its_reset_and_continues_its_conversation(supervised, tmp_path):
    ws, client = supervised
    turns = iter([{"status": 429, "message": "Rate limited: please try again in 1s"}])

    def model(body):
        if "cut short" in last_user_text(body):
            return [claude_text(REPORT.format(what="answered after the rate limit"))]
        return next(turns, [claude_text("(nothing)")])

    plan_text = 'title = "429"\n[defaults]\nagent = "claude-p"\nretries = 1\nbackoff = "1s"\n[[task]]\nid = "limited"\ngoal = "meet a 429"\n'
    with FakeModel(claude_handler=model) as fm:
        env = {**os.environ, **agent_env(tmp_path, fm)}
        await client.request("plan_run", path=str(write_plan(ws, plan_text)), env=env)
        plan = await complete(client, timeout=60)
    limited = task(plan, "limited")
    assert limited["state"] == "done", limited
    errors = [json.loads(line) for line in (ws / ".podium/tasks/limited/errors.jsonl").read_text().splitlines()]
    assert [e["class"] for e in errors] == ["rate-limit"] and "429" in errors[0]["evidence"], errors
    assert limited["attempts"][1]["how"] == "continues limited's conversation", limited["attempts"]
    paused = [e for e in journal_of(ws, "limit")]
    assert paused and paused[0]["agent"] == "claude-p" and paused[0]["wait"] == 1.0, paused


@pytest.mark.slow
async def test_the_workspace_ceiling_holds_the_plan_and_a_stop_stops_it(workspace, tmp_path, monkeypatch):
    """The person's [budget] workspace_tokens: codex reports 1280 tokens a turn; two tasks
    in, the workspace is past its 2000, so the third never starts; B stops the plan."""
    from conftest import shut_down

    from podium.sessions.client import connect_or_start

    config = tmp_path / "config.toml"
    config.write_text("[budget]\nworkspace_tokens = 2000\n")
    monkeypatch.setenv("PODIUM_CONFIG", str(config))
    plan_text = 'title = "ws"\n[defaults]\nagent = "codex-exec"\nmax_parallel = 1\n' + "".join(f'[[task]]\nid = "t{i}"\ngoal = "step {i}"\n' + (f'after = ["t{i - 1}"]\n' if i > 1 else "") for i in (1, 2, 3))
    with FakeModel(codex_handler=lambda body: [message(REPORT.format(what="a step"))]) as fm:
        client, _ = await connect_or_start(workspace, client="test")
        try:
            env = {**os.environ, **agent_env(tmp_path, fm)}
            await client.request("plan_run", path=str(write_plan(workspace, plan_text)), env=env)
            gate = await eventually(lambda: escalation(client, "Budget reached: the workspace has spent 2.6k of 2.0k tokens", "gate"), what="the workspace's gate", timeout=60)
            plan = await client.request("plan_show")
            assert states(plan) == {"t1": "done", "t2": "done", "t3": "pending"} and task(plan, "t3")["hold"] == "workspace", plan["tasks"]
            assert plan["budgets"]["workspace"]["tokens"] == 2560 and plan["budgets"]["workspace"]["ceiling_tokens"] == 2000
            assert len(await client.request("ls")) == 2, "a task started past the workspace's ceiling"
            await client.request("answer", escalation=gate["id"], choice="B")
            plan = await eventually(lambda: _stopped(client), what="the plan stopped", timeout=30)
            assert states(plan)["t3"] == "stopped" and len(await client.request("ls")) == 2
        finally:
            await shut_down(client, workspace)


async def _running(client, name: str):
    return any(w["name"] == name and w["state"] == "running" for w in await client.request("ls"))


async def _stopped(client):
    plan = await client.request("plan_show")
    return plan if plan["state"] == "stopped" and not any(t["state"] in ("pending", "queued") for t in plan["tasks"]) else None


@pytest.mark.slow
async def test_a_checkpoint_under_way_survives_a_supervisor_kill_9(workspace, tmp_path, monkeypatch):
    """Killed while the digest run is still answering: the restarted supervisor finds the
    digest run, keeps its digest, and the fresh session finishes; nothing runs twice."""
    import asyncio
    import signal

    from conftest import shut_down

    from podium.sessions.client import connect_or_start

    def model(body):
        text = json.dumps(body.get("input", ""))
        if "CHECKPOINT 1" in text:
            return [message(REPORT.format(what="finished after the restart"))]
        if "podium checkpoint" in text:
            return {"slow": 1.0, "items": [message("1. DONE: half of it (KILL-DIGEST)")]}
        return {"hang": 120}

    with FakeModel(codex_handler=model) as fm:
        for key, value in agent_env(tmp_path, fm).items():
            monkeypatch.setenv(key, value)
        client, _ = await connect_or_start(workspace, client="test")
        try:
            await client.request("plan_run", path=str(write_plan(workspace, CHECKPOINT_PLAN)), env=dict(os.environ))
            await eventually(lambda: _running(client, "long.digest"), what="the digest run running", timeout=30)
            os.kill(client.info["pid"], signal.SIGKILL)
            await asyncio.wait_for(client.closed.wait(), 5)
            client, _ = await connect_or_start(workspace, client="test")
            plan = await complete(client, timeout=60)
            long = task(plan, "long")
            assert long["state"] == "done" and long["checkpoints"] == 1, long
            assert "KILL-DIGEST" in (workspace / ".podium/tasks/long/checkpoint-1.md").read_text()
            assert [w["name"] for w in await client.request("ls")] == ["long", "long.digest", "long-a2"]
        finally:
            await shut_down(client, workspace)


@pytest.mark.slow
async def test_a_codex_retry_storm_is_stopped_by_the_breaker_and_resumed_from_the_inbox(supervised, tmp_path):
    """Three real codex tasks meet the same API error in a row: the breaker opens before a
    fourth starts; the person's A (resume) lets one task at a time run, and its success
    closes the breaker."""
    from test_plan_agents import codex_prompt, task_of

    ws, client = supervised

    def model(body):
        tid = task_of(codex_prompt(body))
        if tid in ("s1", "s2", "s3"):
            return {"code": "server_error", "message": "The server had an error while processing your request (STORM)"}
        return [message(REPORT.format(what=f"{tid} fine"))]

    # s4 and s5 come after s0, a shell task that ends once the three have failed (so no
    # success of theirs slips in between the failures and resets the count).
    wait = "until [ $(ls .podium/tasks/s[123]/errors.jsonl 2>/dev/null | wc -l) -ge 3 ]; do sleep 0.1; done"
    tasks = f'[[task]]\nid = "s0"\ngoal = "wait"\nagent = "shell"\ncommand = "{wait}"\n'
    tasks += "".join(f'[[task]]\nid = "{t}"\ngoal = "step {t}"\n' + ('after = ["s0"]\n' if t in ("s4", "s5") else "") for t in ("s1", "s2", "s3", "s4", "s5"))
    plan_text = f'title = "storm"\n[defaults]\nagent = "codex-exec"\nretry_on = []\nmax_parallel = 4\n{tasks}'
    with FakeModel(codex_handler=model) as fm:
        env = {**os.environ, **agent_env(tmp_path, fm)}
        await client.request("plan_run", path=str(write_plan(ws, plan_text)), env=env)
        gate = await eventually(lambda: escalation(client, "in a row failed with agent-error", "gate"), what="the breaker's gate", timeout=90)
        plan = await client.request("plan_show")
        assert plan["circuit"]["state"] == "open" and plan["circuit"]["count"] == 3, plan["circuit"]
        assert "STORM" in gate["question"], gate["question"]
        started = {w["name"] for w in await client.request("ls")}
        assert started == {"s0", "s1", "s2", "s3"}, f"a task started while the breaker was open: {started}"
        await client.request("answer", escalation=gate["id"], choice="A")
        plan = await complete(client, timeout=90)
    assert states(plan) == {"s0": "done", "s1": "failed", "s2": "failed", "s3": "failed", "s4": "done", "s5": "done"}, states(plan)
    assert plan["circuit"]["state"] == "closed"
    answers = [e for e in journal_of(ws, "breaker") if e.get("answer")]
    assert answers[0]["answer"] == "A" and answers[0]["failure"] == "agent-error", answers


def test_an_open_breaker_keeps_its_count_when_a_task_already_running_succeeds():
    """(Found by the storm test: a task running when the breaker opened succeeded, and the
    question in the inbox then said 0 failures of class None, and B would skip nothing.)"""
    from podium.sessions.breaker import Breaker

    b = Breaker(3)
    for tid in ("a", "b", "c"):
        b.failed("agent-error", tid, f"{tid} failed")
    assert b.state == "open"
    assert b.succeeded() is False and (b.state, b.count, b.cls) == ("open", 3, "agent-error") and len(b.evidence) == 3
    b.state = "half-open"
    assert b.succeeded() is True and (b.state, b.count, b.cls) == ("closed", 0, None)
