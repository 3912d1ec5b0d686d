"""Plans, end to end with real processes: the plan file's errors (file:line and field, and
nothing starts), presets, the scheduler under a real supervisor (the parallel cap read
back from the journal, touches serialised, the time cap, verify → follow-up, a kill -9
in the middle, edits while it runs), the command line, and the plan screen through Pilot.
The real codex and claude CLIs run plans in test_plan_agents.py."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import textwrap
from pathlib import Path

import pytest
from conftest import eventually, podium_cli, shut_down, text_of

from podium.sessions.blackboard import read_journal
from podium.sessions.client import connect_or_start
from podium.sessions.plan import PlanError, parse_plan
from podium.sessions.presets import PATTERNS, preset
from podium.sessions.states import ENDED


def write_plan(ws: Path, body: str, name: str = "plan.toml") -> Path:
    path = ws / ".podium" / name if name == "plan.toml" else ws / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip())
    return path


async def plan_of(client) -> dict:
    return await client.request("plan_show")


async def complete(client, timeout: float = 60) -> dict:
    seen: dict = {}

    async def done():
        seen["plan"] = await plan_of(client)
        return seen["plan"] if seen["plan"]["state"] == "complete" else None

    return await eventually(done, what="the plan to complete", timeout=timeout, show=lambda: seen.get("plan"))


def states(plan: dict) -> dict[str, str]:
    return {t["id"]: t["state"] for t in plan["tasks"]}


def journal(ws: Path) -> list[dict]:
    entries, errors = read_journal(ws / ".podium/journal.jsonl")
    assert not errors, errors
    return entries


def spawns(ws: Path) -> list[str]:
    return [e["worker"] for e in journal(ws) if e["type"] == "spawn"]


def most_at_once(ws: Path) -> int:
    """From the journal alone: how many task workers ran at the same time, at most."""
    running: set[str] = set()
    peak = 0
    tasks_workers: set[str] = set()
    for e in journal(ws):
        if e["type"] == "task" and e.get("state") == "starting":
            tasks_workers.add(e["worker"])
            running.add(e["worker"])
            peak = max(peak, len(running))
        elif e["type"] == "state" and e.get("worker") in tasks_workers and e.get("state") in ENDED:
            running.discard(e["worker"])
    return peak


# -- the plan file ------------------------------------------------------------------------------------
GOOD = """
title = "t"
scope = "s"
[defaults]
agent = "shell"
[[task]]
id = "a"
goal = "first"
command = "true"
[[task]]
id = "b"
goal = "second"
command = "true"
after = ["a"]
"""

BAD = {
    "toml syntax": ('title = "t"\n[[task]]\nid = "a"\ngoal = "x\n', 4, "syntax"),
    "unknown key": ('title = "t"\n[[task]]\nid = "a"\ngoal = "x"\nagnet = "shell"\n', 5, "agnet"),
    "cycle": ('title = "t"\n[defaults]\nagent = "shell"\n[[task]]\nid = "a"\ngoal = "x"\ncommand = "true"\nafter = ["b"]\n[[task]]\nid = "b"\ngoal = "y"\ncommand = "true"\nafter = ["a"]\n', 8, "cycle"),
    "after unknown": ('title = "t"\n[[task]]\nid = "a"\ngoal = "x"\nafter = ["nobody"]\n', 5, "nobody"),
    "unknown role": ('title = "t"\n[[task]]\nid = "a"\ngoal = "x"\nrole = "wizard"\n', 5, "wizard"),
    "unknown agent": ('title = "t"\n[[task]]\nid = "a"\ngoal = "x"\nagent = "gpt"\n', 5, "gpt"),
    "negative cap": ('title = "t"\n[[task]]\nid = "a"\ngoal = "x"\ntime_cap = "-5m"\n', 5, "time_cap"),
    "no tasks": ('title = "t"\ntask = []\n', 1, "no tasks"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_plan_is_named_by_file_line_and_field(case):
    text, line, word = BAD[case]
    with pytest.raises(PlanError) as err:
        parse_plan(text, "plan.toml")
    message = str(err.value)
    assert f"plan.toml:{line}:" in message and word in message.lower(), message


def test_every_preset_is_a_plan_that_parses():
    for p in PATTERNS.values():
        for n in ([None] if p.default_n == 1 else [2, 4]):
            plan = parse_plan(preset(p.name, "Fix the parser in src/parse.py", n=n), f"{p.name}.toml")
            roles = {t.role for t in plan.tasks.values()}
            assert plan.tasks and roles, p.name
    review_fix = parse_plan(preset("B", "scope"), "b.toml")
    assert [t.role for t in review_fix.tasks.values()] == ["reviewer", "implementer", "verifier"]


def test_the_documented_example_is_a_plan_that_checks():
    r = podium_cli("plan", "check", str(Path(__file__).resolve().parent.parent / "docs/plan.example.toml"))
    assert r.returncode == 0 and "ok." in r.stdout, r.stderr


async def test_a_bad_plan_starts_nothing_and_says_where(supervised):
    ws, client = supervised
    path = write_plan(ws, BAD["cycle"][0])
    r = podium_cli("-w", str(ws), "plan", "check")
    assert r.returncode == 1 and f"{path}:8:" in r.stderr and "cycle" in r.stderr, r.stderr
    with pytest.raises(Exception) as err:
        await client.request("plan_run", path=str(path))
    assert f"{path}:8:" in str(err.value)
    r = podium_cli("-w", str(ws), "plan", "run")
    assert r.returncode == 1 and f"{path}:8:" in r.stderr, r.stderr
    assert await client.request("ls") == [] and (await plan_of(client))["state"] == "none"


# -- the scheduler ------------------------------------------------------------------------------------
async def test_five_tasks_run_at_most_three_at_once(supervised, tmp_path):
    ws, client = supervised
    gate = tmp_path / "go"  # each task holds its slot until the test has seen the cap
    tasks = "".join(f'\n[[task]]\nid = "t{i}"\ngoal = "part {i}"\ncommand = "while [ ! -e {gate} ]; do sleep 0.05; done; echo t{i}"\n' for i in range(5))
    path = write_plan(ws, f'title = "fan"\n[defaults]\nagent = "shell"\nmax_parallel = 3\n{tasks}')
    plan = await client.request("plan_run", path=str(path))
    assert plan["state"] == "running"
    seen = await eventually(lambda: _counts(client), what="3 running and 2 queued")
    assert seen == {"running": 3, "queued": 2}
    gate.touch()
    plan = await complete(client)
    assert set(states(plan).values()) == {"done"}
    assert most_at_once(ws) == 3
    assert sorted(spawns(ws)) == [f"t{i}" for i in range(5)]
    assert (ws / ".podium/plan-summary.md").read_text().count("| done |") == 5


async def _counts(client):
    counts = (await plan_of(client))["counts"]
    return counts if counts == {"running": 3, "queued": 2} else None


async def test_tasks_whose_touches_overlap_never_run_together(supervised, tmp_path):
    ws, client = supervised
    log = tmp_path / "log"
    path = write_plan(
        ws,
        f"""
        title = "touches"
        [defaults]
        agent = "shell"
        [[task]]
        id = "wide"
        goal = "all of src"
        touches = ["src/**"]
        command = "echo wide-start >> {log}; sleep 1; echo wide-end >> {log}"
        [[task]]
        id = "narrow"
        goal = "one file"
        touches = ["src/parse.py"]
        command = "echo narrow-start >> {log}; sleep 1; echo narrow-end >> {log}"
        [[task]]
        id = "elsewhere"
        goal = "docs"
        touches = ["docs/*.md"]
        command = "echo elsewhere >> {log}"
        """,
    )
    await client.request("plan_run", path=str(path))
    queued = await eventually(lambda: _task_reason(client, "narrow", "touches overlap"), what="narrow queued for the overlap")
    assert "wide" in queued
    await complete(client)
    lines = log.read_text().split()
    assert lines.index("wide-end") < lines.index("narrow-start"), lines
    assert lines.index("elsewhere") < lines.index("wide-end"), "a task touching other files waited"


async def _task_reason(client, tid: str, text: str):
    for t in (await plan_of(client))["tasks"]:
        if t["id"] == tid and text in t["reason"]:
            return t["reason"]
    return None


async def test_the_time_cap_interrupts_the_worker_and_marks_the_task_timed_out(supervised):
    ws, client = supervised
    path = write_plan(
        ws,
        """
        title = "cap"
        [defaults]
        agent = "shell"
        [[task]]
        id = "slow"
        goal = "never ends"
        time_cap = "1s"
        command = "trap 'echo got-ctrl-c; exit 130' INT; while true; do sleep 0.1; done"
        [[task]]
        id = "next"
        goal = "after the slow one"
        command = "true"
        after = ["slow"]
        """,
    )
    await client.request("plan_run", path=str(path))
    plan = await complete(client)
    assert states(plan) == {"slow": "timed-out", "next": "blocked"}, plan
    assert any(e["type"] == "task" and e.get("action") == "time-cap" and e["worker"] == "slow" for e in journal(ws))
    assert any(e["type"] == "signal" and e.get("worker") == "slow" for e in journal(ws)), "no ctrl+c was sent"
    assert "retry or skip slow" in {t["id"]: t for t in plan["tasks"]}["next"]["reason"]


async def test_a_failed_verify_becomes_a_follow_up_with_the_findings(supervised, tmp_path):
    ws, client = supervised
    fixed = tmp_path / "fixed"
    path = write_plan(
        ws,
        f"""
        title = "verify"
        [defaults]
        agent = "shell"
        [[task]]
        id = "fix"
        goal = "make the check pass"
        command = "if [ -e {tmp_path}/round1 ]; then touch {fixed}; else touch {tmp_path}/round1; fi"
        verify = "test -e {fixed} || (echo 'FINDING: parse.py still drops the last line'; exit 3)"
        """,
    )
    await client.request("plan_run", path=str(path))
    plan = await complete(client)
    assert states(plan) == {"fix": "superseded", "fix-fix1": "done"}, plan
    envelope = (ws / ".podium/tasks/fix-fix1/envelope.md").read_text()
    assert "FINDING: parse.py still drops the last line" in envelope and "exited 3" in envelope
    follow = [e for e in journal(ws) if e["type"] == "follow-up"]
    assert follow and follow[0]["new"] == ["fix-fix1"]
    by_id = {t["id"]: t for t in plan["tasks"]}
    assert by_id["fix-fix1"]["verified"]["ok"] and not by_id["fix"]["verified"]["ok"]


@pytest.mark.parametrize("status", ["Done", "Needs review"])
async def test_a_verifier_reporting_failed_sends_its_findings_to_the_implementer(supervised, tmp_path, status):
    """FAILED from a verifier is the implementer's next round, whatever Status it ends with."""
    ws, client = supervised
    checked = tmp_path / "checked"
    verifier = f"if [ -e {checked} ]; then printf 'COMPLETED: all good\\nStatus: Done\\n'; else touch {checked}; printf 'FAILED: VERDICT-42 the last line is still lost\\nStatus: {status}\\n'; fi"
    path = write_plan(
        ws,
        f"""
        title = "review"
        [defaults]
        agent = "shell"
        [[task]]
        id = "fix"
        goal = "fix it"
        command = "echo 'COMPLETED: fixed'"
        [[task]]
        id = "check"
        role = "verifier"
        goal = "check the fix"
        command = "{verifier}"
        after = ["fix"]
        """,
    )
    await client.request("plan_run", path=str(path))
    plan = await complete(client)
    assert states(plan) == {"fix": "superseded", "fix-fix1": "done", "check": "superseded", "check-r2": "done"}, plan
    assert "VERDICT-42" in (ws / ".podium/tasks/fix-fix1/envelope.md").read_text()


async def test_follow_up_rounds_run_out(supervised):
    ws, client = supervised
    path = write_plan(
        ws,
        """
        title = "hopeless"
        [defaults]
        agent = "shell"
        follow_up_rounds = 1
        [[task]]
        id = "fix"
        goal = "cannot pass"
        command = "true"
        verify = "exit 1"
        """,
    )
    await client.request("plan_run", path=str(path))
    plan = await complete(client)
    assert states(plan) == {"fix": "superseded", "fix-fix1": "failed"}, plan
    assert "no follow-up rounds left" in plan["tasks"][-1]["reason"]


@pytest.mark.slow
async def test_a_supervisor_killed_mid_plan_carries_on_and_runs_nothing_twice(workspace, tmp_path):
    ws = workspace
    ran = tmp_path / "ran"
    gate = tmp_path / "go"
    path = write_plan(
        ws,
        f"""
        title = "chain"
        [defaults]
        agent = "shell"
        max_parallel = 2
        [[task]]
        id = "a"
        goal = "first"
        command = "echo a >> {ran}; while [ ! -e {gate} ]; do sleep 0.05; done"
        [[task]]
        id = "b"
        goal = "beside a"
        command = "echo b >> {ran}"
        [[task]]
        id = "c"
        goal = "after a and b"
        command = "echo c >> {ran}"
        after = ["a", "b"]
        [[task]]
        id = "d"
        goal = "after c"
        command = "echo d >> {ran}"
        after = ["c"]
        """,
    )
    client, _ = await connect_or_start(ws, client="test")
    try:
        await client.request("plan_run", path=str(path))
        await eventually(lambda: _task_state(client, "b", "done"), what="b done while a runs")
        old = client.info["pid"]
        os.kill(old, signal.SIGKILL)
        await asyncio.wait_for(client.closed.wait(), 5)
        gate.touch()  # a ends while no supervisor runs
        client, started = await connect_or_start(ws, client="test")
        assert started and client.info["pid"] != old
        plan = await complete(client)
        assert states(plan) == {"a": "done", "b": "done", "c": "done", "d": "done"}, plan
        assert sorted(ran.read_text().split()) == ["a", "b", "c", "d"], "a task ran twice (or not at all)"
        assert sorted(spawns(ws)) == ["a", "b", "c", "d"]
    finally:
        gate.touch()
        await shut_down(client, ws)


async def _task_state(client, tid: str, state: str) -> bool:
    return any(t["id"] == tid and t["state"] == state for t in (await plan_of(client))["tasks"])


async def test_an_edit_while_running_applies_to_queued_tasks_and_refuses_running_ones(supervised, tmp_path):
    ws, client = supervised
    gate = tmp_path / "go"
    out = tmp_path / "out"
    body = """
        title = "edit"
        [defaults]
        agent = "shell"
        [[task]]
        id = "run"
        goal = "runs while the plan is edited"
        command = "while [ ! -e {gate} ]; do sleep 0.05; done"
        [[task]]
        id = "later"
        goal = "queued behind run"
        command = "echo {word} > {out}"
        after = ["run"]
        """
    path = write_plan(ws, body.format(gate=gate, out=out, word="old"))
    await client.request("plan_run", path=str(path))
    await eventually(lambda: _task_state(client, "run", "running"), what="run running")
    edited = body.format(gate=gate, out=out, word="new").replace("runs while the plan is edited", "a new goal for a running task")
    path.write_text(textwrap.dedent(edited).lstrip())
    plan = await eventually(lambda: _with_problems(client), what="the edit looked at")
    assert any("run: it is running" in p for p in plan["problems"]), plan["problems"]
    later = {t["id"]: t for t in plan["tasks"]}["later"]
    assert "new" in later["command"]
    gate.touch()
    await complete(client)
    assert out.read_text().strip() == "new"
    edits = [e for e in journal(ws) if e["type"] == "plan-edit"]
    assert edits and "later: changed" in edits[-1]["applied"]


async def _with_problems(client):
    plan = await plan_of(client)
    return plan if plan["problems"] else None


async def test_skip_retry_and_run_now_steer_a_plan(supervised, tmp_path):
    ws, client = supervised
    gate = tmp_path / "go"
    path = write_plan(
        ws,
        f"""
        title = "steer"
        [defaults]
        agent = "shell"
        max_parallel = 1
        [[task]]
        id = "hold"
        goal = "holds the only slot"
        command = "while [ ! -e {gate} ]; do sleep 0.05; done"
        [[task]]
        id = "urgent"
        goal = "cannot wait"
        command = "true"
        [[task]]
        id = "flaky"
        goal = "fails once"
        command = "test -e {tmp_path}/second || (touch {tmp_path}/second; exit 4)"
        [[task]]
        id = "unwanted"
        goal = "not needed after all"
        command = "true"
        """,
    )
    await client.request("plan_run", path=str(path))
    await eventually(lambda: _task_state(client, "urgent", "queued"), what="urgent queued behind the cap")
    now = await client.request("task_run_now", task="urgent")
    assert now["state"] in ("running", "done"), now
    skipped = await client.request("task_skip", task="unwanted")
    assert skipped["state"] == "skipped"
    gate.touch()
    await eventually(lambda: _task_state(client, "flaky", "failed"), what="flaky failed")
    again = await client.request("task_retry", task="flaky")
    assert again["state"] in ("queued", "running", "starting", "done")
    plan = await complete(client)
    assert states(plan) == {"hold": "done", "urgent": "done", "flaky": "done", "unwanted": "skipped"}
    assert [e["action"] for e in journal(ws) if e["type"] == "task" and "action" in e] == ["run-now", "skip", "retry"]


async def test_heartbeat_writes_a_row_per_task_and_stale_workers_are_raised(supervised, tmp_path, monkeypatch):
    ws, client = supervised
    gate = tmp_path / "go"
    path = write_plan(
        ws,
        f"""
        title = "beat"
        [defaults]
        agent = "shell"
        stale_after = "2s"
        [[task]]
        id = "quiet"
        goal = "prints nothing for a while"
        command = "while [ ! -e {gate} ]; do sleep 0.05; done"
        [[task]]
        id = "after"
        goal = "waits"
        command = "true"
        after = ["quiet"]
        """,
    )
    await client.request("plan_run", path=str(path))
    await eventually(lambda: _task_state(client, "quiet", "running"), what="quiet running")
    beat = await client.request("plan_heartbeat")
    log = (ws / ".podium/heartbeat.log").read_text()
    assert beat["text"] in log
    rows = {r["task"]: r for r in beat["rows"]}
    assert rows["quiet"]["state"] == "running" and rows["after"]["blockers"] == "after quiet"
    assert rows["quiet"]["next"] == "read its report when it ends"
    r = podium_cli("-w", str(ws), "plan", "heartbeat")
    assert r.returncode == 0 and "quiet" in r.stdout
    # Nothing printed for longer than stale_after: marked stale, and a notify-tier escalation.
    esc = await eventually(lambda: _stale_escalation(client), what="the stale worker raised", timeout=15)
    assert esc["tier"] == "notify" and "quiet" in esc["question"] and "printed nothing" in esc["question"]
    assert any(t["id"] == "quiet" and t["stale"] for t in (await plan_of(client))["tasks"])
    assert any(e["type"] == "stale" and e["worker"] == "quiet" for e in journal(ws))
    gate.touch()
    await complete(client)


async def _stale_escalation(client):
    for esc in await client.request("decisions", states="all"):
        if "printed nothing" in esc["question"]:
            return esc
    return None


# -- the command line ---------------------------------------------------------------------------------
def test_plan_new_writes_a_preset_that_checks_and_never_overwrites(workspace):
    r = podium_cli("-w", str(workspace), "plan", "new", "--pattern", "review-fix", "Fix the parser in src/parse.py")
    assert r.returncode == 0, r.stderr
    path = workspace / ".podium/plan.toml"
    assert "pattern B" in path.read_text() and "Nothing runs yet" in r.stdout
    r = podium_cli("-w", str(workspace), "plan", "check", "--json")
    data = json.loads(r.stdout)
    assert data["ok"] and [t["role"] for t in data["tasks"]] == ["reviewer", "implementer", "verifier"]
    r = podium_cli("-w", str(workspace), "plan", "new", "--pattern", "A", "-n", "4", "Review the cache")
    assert r.returncode == 1 and "exists" in r.stderr and "--force" in r.stderr
    r = podium_cli("-w", str(workspace), "plan", "new", "--pattern", "A", "-n", "4", "--force", "Review the cache")
    assert r.returncode == 0
    assert sum(1 for t in json.loads(podium_cli("-w", str(workspace), "plan", "check", "--json").stdout)["tasks"] if t["role"] == "reviewer") == 4
    r = podium_cli("-w", str(workspace), "plan", "new", "--pattern", "Z", "scope")
    assert r.returncode == 2 and "no pattern 'Z'" in r.stderr
    assert not list(workspace.glob(".podium/*.sock")), "plan new started a supervisor"


async def test_plan_run_show_and_promote_from_the_command_line(supervised):
    ws, client = supervised
    write_plan(
        ws,
        """
        title = "cli"
        [defaults]
        agent = "shell"
        [[task]]
        id = "one"
        goal = "say one"
        command = "echo 'COMPLETED: the first finding'"
        [[task]]
        id = "two"
        goal = "say two"
        command = "echo 'COMPLETED: the second finding'"
        after = ["one"]
        """,
    )
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "plan", "run")
    assert r.returncode == 0 and "runs (2 tasks" in r.stdout, r.stderr
    await complete(client)
    shown = json.loads((await asyncio.to_thread(podium_cli, "-w", str(ws), "plan", "show", "--json")).stdout)
    assert shown["state"] == "complete" and [t["state"] for t in shown["tasks"]] == ["done", "done"]
    table = (await asyncio.to_thread(podium_cli, "-w", str(ws), "plan", "show")).stdout
    assert "complete" in table and "one" in table and "two" in table
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "plan", "promote")
    assert r.returncode == 0 and "promoted one, two" in r.stdout, r.stdout + r.stderr
    result = (ws / ".podium/result.md").read_text()
    assert result.index("the first finding") < result.index("the second finding")
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "plan", "envelope", "two")
    assert "say two" in r.stdout
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "plan", "skip", "nobody")
    assert r.returncode == 1 and "no task 'nobody'" in r.stderr


# -- the plan screen ---------------------------------------------------------------------------------------
async def test_the_plan_screen_previews_starts_and_opens_a_task(supervised, tmp_path):
    from podium.sessions.config import Config
    from podium.tui.app import PodiumApp
    from podium.tui.plan_screen import NewPlanScreen, PlanScreen
    from podium.widgets.plan_tree import PlanTree
    from podium.widgets.plan_bar import PlanBar
    from podium.widgets.worker_list import WorkerList

    ws, client = supervised
    gate = tmp_path / "go"
    write_plan(
        ws,
        f"""
        title = "screen"
        [defaults]
        agent = "shell"
        [[task]]
        id = "scout"
        role = "scout"
        goal = "look around"
        command = "echo scouted"
        [[task]]
        id = "act"
        goal = "act on it"
        command = "echo 'COMPLETED: acting'; while [ ! -e {gate} ]; do sleep 0.05; done"
        after = ["scout"]
        """,
    )
    app = PodiumApp(ws, autostart=False, config=Config())
    async with app.run_test(size=(150, 40)) as pilot:
        await eventually(lambda: app.link.connected.is_set(), pilot=pilot, what="connected")
        await pilot.press("P")
        await eventually(lambda: isinstance(app.screen, PlanScreen), pilot=pilot, what="the plan screen")
        tree = app.screen.query_one(PlanTree)
        await eventually(lambda: set(tree.tasks) == {"scout", "act"}, pilot=pilot, what="the plan file's tasks previewed")
        assert app.link.plan["state"] == "none" and await client.request("ls") == [], "the preview started something"
        await pilot.press("s")
        await eventually(lambda: {t["id"]: t["state"] for t in tree.plan["tasks"]} == {"scout": "done", "act": "running"}, pilot=pilot, what="scout done, act running")
        await eventually(lambda: tree.selected_task() is not None, pilot=pilot, what="a task selected")
        for _ in range(8):  # down the tree (stages are rows too) to act
            if (tree.selected_task() or {}).get("id") == "act":
                break
            await pilot.press("down")
        assert tree.selected_task()["id"] == "act"
        await pilot.press("enter")
        await eventually(lambda: app.screen is app.dashboard and app.dashboard.focused_name() == "act", pilot=pilot, what="act's pane focused on the dashboard")
        bar = app.dashboard.query_one(PlanBar)
        await eventually(lambda: "screen" in text_of(bar) and "1 running" in text_of(bar), pilot=pilot, what="the plan line", show=lambda: text_of(bar))
        workers = app.dashboard.query_one(WorkerList)
        assert workers.task_of == {"scout": "scout", "act": "act"}
        await pilot.press("P")
        await eventually(lambda: isinstance(app.screen, PlanScreen), pilot=pilot, what="the plan screen again")
        gate.touch()
        await eventually(lambda: app.link.plan["state"] == "complete", pilot=pilot, what="the plan complete")
        # Completion offers to promote the reports in plan order.
        from podium.tui.screens import ConfirmScreen

        await eventually(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot, what="the offer to promote")
        await pilot.press("y")
        await eventually(lambda: (ws / ".podium/result.md").exists() and "acting" in (ws / ".podium/result.md").read_text(), pilot=pilot, what="the reports promoted")
        # n writes a new plan from a preset; nothing starts.
        await eventually(lambda: isinstance(app.screen, PlanScreen), pilot=pilot, what="back on the plan screen")
        await pilot.press("n")
        await eventually(lambda: isinstance(app.screen, NewPlanScreen), pilot=pilot, what="the preset dialog")
        await pilot.press(*"Review the cache layer")
        await pilot.press("ctrl+s")
        await eventually(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot, what="overwrite?")
        await pilot.press("y")
        await eventually(lambda: "Review the cache layer" in (ws / ".podium/plan.toml").read_text(), pilot=pilot, what="the preset written")
        assert len(await client.request("ls")) == 2, "writing a preset started a worker"


async def test_pause_holds_new_starts_and_stop_ends_the_running_ones(supervised, tmp_path):
    ws, client = supervised
    gate = tmp_path / "go"
    write_plan(
        ws,
        f"""
        title = "pause"
        [defaults]
        agent = "shell"
        max_parallel = 1
        [[task]]
        id = "first"
        goal = "holds the slot"
        command = "while [ ! -e {gate} ]; do sleep 0.05; done"
        [[task]]
        id = "second"
        goal = "waits for a slot"
        command = "true"
        [[task]]
        id = "third"
        goal = "never reached"
        command = "sleep 300"
        """,
    )
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "plan", "run")
    assert r.returncode == 0, r.stderr
    await eventually(lambda: _task_state(client, "first", "running"), what="first running")
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "plan", "pause")
    assert r.returncode == 0 and "paused" in r.stdout, r.stderr
    gate.touch()  # the slot frees while paused: nothing new may start
    await eventually(lambda: _task_state(client, "first", "done"), what="first done")
    plan = await plan_of(client)
    assert states(plan)["second"] == "queued" and "the plan is paused" in {t["id"]: t for t in plan["tasks"]}["second"]["reason"]
    assert [w["name"] for w in await client.request("ls")] == ["first"]
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "plan", "resume")
    assert r.returncode == 0, r.stderr
    await eventually(lambda: _task_state(client, "third", "running"), what="third running after resume")
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "plan", "stop", "--grace", "1")
    assert r.returncode == 0, r.stderr
    plan = await eventually(lambda: _stopped(client), what="the plan stopped with third stopped")
    assert states(plan) == {"first": "done", "second": "done", "third": "stopped"}
    assert (await client.request("ls"))[-1]["state"] in ENDED
    summary = await eventually(lambda: (ws / ".podium/plan-summary.md").exists() and (ws / ".podium/plan-summary.md").read_text(), what="the stopped plan summed up")
    assert "stopped: 2 done, 1 stopped" in summary
    r = await asyncio.to_thread(podium_cli, "-w", str(ws), "plan", "resume")
    assert r.returncode == 1 and "cannot resume: the plan is stopped" in r.stderr


async def _stopped(client):
    plan = await plan_of(client)
    return plan if plan["state"] == "stopped" and states(plan).get("third") == "stopped" else None


async def test_two_verifiers_failing_one_task_share_one_follow_up_round(supervised, tmp_path):
    """The second failure joins the round the first one started (its findings with it),
    instead of superseding that round while it runs."""
    ws, client = supervised
    fail_once = "if [ -e {m} ]; then printf 'COMPLETED: ok\\\\nStatus: Done\\\\n'; else touch {m}; printf 'FAILED: {word}\\\\nStatus: Done\\\\n'; fi"
    path = write_plan(
        ws,
        f"""
        title = "two checks"
        [defaults]
        agent = "shell"
        [[task]]
        id = "impl"
        goal = "build it"
        command = "sleep 1; echo 'COMPLETED: built'"
        touches = ["src/**"]
        [[task]]
        id = "v1"
        role = "verifier"
        goal = "check one way"
        command = "{fail_once.format(m=tmp_path / 'v1', word='FINDING-ONE')}"
        after = ["impl"]
        [[task]]
        id = "v2"
        role = "verifier"
        goal = "check another way"
        command = "{fail_once.format(m=tmp_path / 'v2', word='FINDING-TWO')}"
        after = ["impl"]
        """,
    )
    await client.request("plan_run", path=str(path))
    plan = await complete(client)
    got = states(plan)
    assert "impl-fix2" not in got, got
    assert {k: got[k] for k in ("impl", "impl-fix1", "v1", "v2", "v1-r2", "v2-r2")} == {
        "impl": "superseded", "impl-fix1": "done", "v1": "superseded", "v2": "superseded", "v1-r2": "done", "v2-r2": "done"
    }, got
    envelope = (ws / ".podium/tasks/impl-fix1/envelope.md").read_text()
    assert "FINDING-ONE" in envelope and "FINDING-TWO" in envelope


async def test_a_worker_name_taken_already_does_not_confuse_two_tasks(supervised):
    ws, client = supervised
    await client.request("spawn", name="t", argv=["true"])  # "t" is taken before the plan runs
    path = write_plan(
        ws,
        """
        title = "names"
        [defaults]
        agent = "shell"
        [[task]]
        id = "t"
        goal = "one"
        command = "echo 'COMPLETED: one'"
        [[task]]
        id = "t-2"
        goal = "two"
        command = "echo 'COMPLETED: two'"
        """,
    )
    await client.request("plan_run", path=str(path))
    plan = await complete(client)
    assert states(plan) == {"t": "done", "t-2": "done"}, plan
    workers = {t["id"]: t["worker"] for t in plan["tasks"]}
    assert len(set(workers.values())) == 2 and "t" not in workers.values(), workers


async def test_stopping_while_tasks_start_leaves_no_worker_running(workspace):
    """A stop that arrives while the tasks are being started (another client, at once):
    no worker of the plan runs afterwards, and running the plan again runs each task once."""
    from podium.sessions.states import ACTIVE

    path = write_plan(
        workspace,
        """
        title = "race"
        [defaults]
        agent = "shell"
        [[task]]
        id = "a"
        goal = "a"
        command = "sleep 300"
        [[task]]
        id = "b"
        goal = "b"
        command = "sleep 300"
        [[task]]
        id = "c"
        goal = "c"
        command = "sleep 300"
        """,
    )
    one, _ = await connect_or_start(workspace, client="test")
    two, _ = await connect_or_start(workspace, client="test")
    try:
        for _ in range(3):
            run = asyncio.ensure_future(one.request("plan_run", path=str(path)))
            await eventually(lambda: _plan_running(two), what="the plan running", every=0.002)
            await two.request("plan_stop", grace=0.5)
            await run
            await eventually(lambda: _nothing_active(two, ACTIVE), what="every worker of the stopped plan ended")
    finally:
        await two.close()
        await shut_down(one, workspace)


async def _plan_running(client) -> bool:
    return (await plan_of(client))["state"] == "running"


async def _nothing_active(client, active) -> bool:
    plan = await plan_of(client)
    workers = await client.request("ls")
    return plan["state"] == "stopped" and all(w["state"] not in active for w in workers) and not any(t["state"] in ("starting", "running") for t in plan["tasks"])


@pytest.mark.slow
async def test_an_edit_made_while_no_supervisor_ran_applies_on_restart(workspace, tmp_path):
    gate = tmp_path / "go"
    body = f"""
        title = "offline edit"
        [defaults]
        agent = "shell"
        [[task]]
        id = "a"
        goal = "holds on"
        command = "while [ ! -e {gate} ]; do sleep 0.05; done"
        """
    path = write_plan(workspace, body)
    client, _ = await connect_or_start(workspace, client="test")
    try:
        await client.request("plan_run", path=str(path))
        await eventually(lambda: _task_state(client, "a", "running"), what="a running")
        os.kill(client.info["pid"], signal.SIGKILL)
        await asyncio.wait_for(client.closed.wait(), 5)
        path.write_text(textwrap.dedent(body).lstrip() + '\n[[task]]\nid = "b"\ngoal = "added while down"\ncommand = "true"\n')
        client, _ = await connect_or_start(workspace, client="test")
        await eventually(lambda: _has_task(client, "b"), what="b added from the edit made while down")
        gate.touch()
        plan = await complete(client)
        assert states(plan) == {"a": "done", "b": "done"}
    finally:
        gate.touch()
        await shut_down(client, workspace)


async def _has_task(client, tid: str) -> bool:
    return any(t["id"] == tid for t in (await plan_of(client))["tasks"])
