"""Plans run by the real codex and claude CLIs (pinned, from npm) through a real supervisor,
offline against the fake model server: review → fix → verify with a failing verifier and
its follow-up round, a claude -p task, and a codex exec task whose answer has no report.

The fake model answers each run by what its prompt (the task envelope) says: the envelope's
`TASK <id>` line names the task, so parallel or repeated runs cannot be confused."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, eventually, shut_down
from fake_model import FakeModel, Turn, claude_text, codex_home, last_user_text, message, shell_call

from podium.sessions.blackboard import read_journal
from podium.sessions.client import connect_or_start

BIN = ROOT / ".tools" / "npm" / "node_modules" / ".bin"
TASK_LINE = re.compile(r"^TASK (\S+?)(?: \(round (\d+)[^)]*\))?:", re.MULTILINE)

REVIEW_REPORT = "COMPLETED: reviewed calc.py\n\nStatus: Done\nSummary: one finding: add() drops its second argument\n"
FIX1_REPORT = "COMPLETED: fixed add()\n\nStatus: Done\nSummary: add() now uses both arguments\nFiles or artifacts changed: fixed.txt\n"
FINDINGS = "add(2, 3) still returns 2: the second argument is ignored on the negative path"
VERIFY1_REPORT = f"FAILED: the fix is incomplete\n\nStatus: Done\nSummary: {FINDINGS}\nVerification: python -c 'add(2, 3)' -> 2\n"
FIX2_REPORT = "COMPLETED: fixed the negative path too\n\nStatus: Done\nSummary: add(2, 3) == 5 now\n"
VERIFY2_REPORT = "COMPLETED: the fix holds\n\nStatus: Done\nSummary: add(2, 3) == 5\nVerification: python -c 'add(2, 3)' -> 5\n"


# -- the fake model, routed by the prompt ---------------------------------------------------------------
def codex_prompt(body: dict[str, Any]) -> str:
    """The text of the user messages codex sent (the task envelope among them)."""
    texts = []
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") == "message" and item.get("role") == "user":
            for part in item.get("content") or []:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    texts.append(part["text"])
    return "\n".join(texts)


def codex_sent_output(body: dict[str, Any]) -> bool:
    """Whether this request carries a command's output back (the turn after a tool call)."""
    return any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in body.get("input") or [])


def task_of(prompt: str) -> str | None:
    """The task id of the envelope's `TASK <id>…:` line."""
    m = TASK_LINE.search(prompt)
    return m.group(1) if m else None


# -- plans, runs, the journal ----------------------------------------------------------------------------
def write_plan(ws: Path, body: str) -> Path:
    path = ws / ".podium" / "plan.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def agent_env(tmp_path: Path, fm: FakeModel) -> dict[str, str]:
    """What the plan's workers need to find the CLIs and the fake model (codex and claude)."""
    from test_agents import claude_settings

    return {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **codex_home(tmp_path / "codex-home", fm.port), **claude_settings(tmp_path, fm)}


async def run_to_completion(client, plan_file: Path, env: dict[str, str], timeout: float = 150) -> dict:
    started = await client.request("plan_run", path=str(plan_file), env=env)
    assert started["state"] == "running", started
    seen: dict = {}

    async def complete():
        seen["plan"] = await client.request("plan_show")
        return seen["plan"] if seen["plan"]["state"] == "complete" else None

    async def show():
        return {"plan": seen.get("plan"), "workers": {w["name"]: (w["state"], w["reason"]) for w in await client.request("ls")}}

    return await eventually(complete, what="the plan to complete", timeout=timeout, every=0.2, show=show)


def states(plan: dict) -> dict[str, str]:
    return {t["id"]: t["state"] for t in plan["tasks"]}


def reasons(plan: dict) -> dict[str, str]:
    return {t["id"]: t["reason"] for t in plan["tasks"]}


def journal(ws: Path) -> list[dict]:
    entries, errors = read_journal(ws / ".podium/journal.jsonl")
    assert not errors, errors
    return entries


def envelope_of(ws: Path, tid: str) -> str:
    path = ws / ".podium" / "tasks" / tid / "envelope.md"
    assert path.exists(), f"no envelope for task {tid} at {path}"
    return path.read_text("utf-8")


# -- 1. review → fix → verify, the verifier fails once ---------------------------------------------------
REVIEW_FIX_VERIFY = """
title = "review fix verify"
scope = "The add() function in calc.py."

[defaults]
agent = "codex-exec"
flags = ["-s", "danger-full-access"]
time_cap = "3m"

[[task]]
id = "review"
role = "reviewer"
goal = "Review add() in calc.py for wrong results (GOAL-REVIEW)."

[[task]]
id = "fix"
role = "implementer"
goal = "Fix what the review found in add() (GOAL-FIX)."
after = ["review"]

[[task]]
id = "verify"
role = "verifier"
goal = "Check that add(2, 3) returns 5 (GOAL-VERIFY)."
after = ["fix"]
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_review_fix_verify_with_a_failing_verifier_runs_a_follow_up_round(workspace, tmp_path):
    asked: list[tuple[str | None, bool]] = []  # (task, a command's output came back) per request
    unrouted: list[str] = []

    def codex(body: dict[str, Any]) -> Turn:
        prompt = codex_prompt(body)
        task, after_command = task_of(prompt), codex_sent_output(body)
        asked.append((task, after_command))
        if task == "review" and "GOAL-REVIEW" in prompt:
            return [message(REVIEW_REPORT)]
        if task == "fix" and "GOAL-FIX" in prompt:
            # Round 1 really changes something: a command that writes a file, then the report.
            return [message(FIX1_REPORT)] if after_command else [shell_call("echo round-1 > fixed.txt")]
        if task == "verify" and "GOAL-VERIFY" in prompt:
            return [message(VERIFY1_REPORT)]
        if task == "fix-fix1" and "GOAL-FIX" in prompt and FINDINGS in prompt:
            return [message(FIX2_REPORT)] if after_command else [shell_call("echo round-2 >> fixed.txt")]
        if task == "verify-r2" and "GOAL-VERIFY" in prompt:
            return [message(VERIFY2_REPORT)]
        unrouted.append(prompt[-2000:])
        return [message("(no route for this prompt)")]

    with FakeModel(codex_handler=codex) as fm:
        env = agent_env(tmp_path, fm)
        plan_file = write_plan(workspace, REVIEW_FIX_VERIFY)
        client, _ = await connect_or_start(workspace, client="test")
        try:
            plan = await run_to_completion(client, plan_file, env)
            assert not unrouted, f"codex asked with prompts no route matched: {unrouted}"
            assert states(plan) == {
                "review": "done",
                "fix": "superseded",
                "verify": "superseded",
                "fix-fix1": "done",
                "verify-r2": "done",
            }, reasons(plan)
            # Plan order reads as it ran: the follow-ups right after the verifier.
            assert [t["id"] for t in plan["tasks"]] == ["review", "fix", "verify", "fix-fix1", "verify-r2"]
            by_id = {t["id"]: t for t in plan["tasks"]}
            assert (by_id["fix-fix1"]["role"], by_id["fix-fix1"]["round"], by_id["fix-fix1"]["follow_up_of"]) == ("implementer", 2, "fix")
            assert (by_id["verify-r2"]["role"], by_id["verify-r2"]["round"], by_id["verify-r2"]["after"]) == ("verifier", 2, ["fix-fix1"])
            # Each run's requests, in order: the implementer's two turns (command, then report).
            assert asked == [
                ("review", False),
                ("fix", False),
                ("fix", True),
                ("verify", False),
                ("fix-fix1", False),
                ("fix-fix1", True),
                ("verify-r2", False),
            ], asked
            assert (workspace / "fixed.txt").read_text().split() == ["round-1", "round-2"]  # the commands really ran

            # The envelopes: the role preamble first; the findings in the follow-up's.
            roles = {"review": "reviewer", "fix": "implementer", "verify": "verifier", "fix-fix1": "implementer", "verify-r2": "verifier"}
            for tid, role in roles.items():
                text = envelope_of(workspace, tid)
                assert text.startswith(f"CONTEXT: WORKER ({role})"), f"{tid}: {text[:200]!r}"
            fix2 = envelope_of(workspace, "fix-fix1")
            assert "FINDINGS TO ADDRESS" in fix2 and FINDINGS in fix2, fix2
            assert "TASK fix-fix1 (round 2: a follow-up of fix):" in fix2
            assert "RESULT OF EARLIER TASK review:" in fix2 and "add() drops its second argument" in fix2
            assert FINDINGS not in envelope_of(workspace, "fix")
            assert "RESULT OF EARLIER TASK fix-fix1:" in envelope_of(workspace, "verify-r2")
            assert "RESULT OF EARLIER TASK fix:" in envelope_of(workspace, "verify")

            # The workers: each a codex exec, each ran once.
            workers = {w["name"]: w for w in await client.request("ls")}
            assert set(workers) == set(roles), sorted(workers)
            for name, w in workers.items():
                assert (w["mode"], w["state"]) == ("codex-exec", "done"), (name, w["state"], w["reason"])
                assert "-s" in w["command"] and "danger-full-access" in w["command"], w["command"]
                assert w["command"][-1] == envelope_of(workspace, name), f"{name}: the prompt is not its envelope"
            assert workers["verify"]["agent"]["report"]["outcome"] == "FAILED"

            entries = journal(workspace)
            spawned = [e["worker"] for e in entries if e["type"] == "spawn"]
            assert sorted(spawned) == sorted(roles), f"a worker started twice or not at all: {spawned}"
            follow_ups = [e for e in entries if e["type"] == "follow-up"]
            assert len(follow_ups) == 1, follow_ups
            (fu,) = follow_ups
            assert (fu["worker"], fu["source"], fu["new"], fu["round"]) == ("fix", "verify", ["fix-fix1", "verify-r2"], 2), fu
            assert "FAILED" in fu["reason"], fu
        finally:
            await shut_down(client, workspace)


# -- 2. one claude -p task -----------------------------------------------------------------------------
CLAUDE_REPORT = "COMPLETED: wrote the greeting\n\nStatus: Done\nSummary: hello.txt says hello\nVerification: cat hello.txt -> hello\n"


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_claude_print_task_completes_from_its_report(workspace, tmp_path):
    prompts: list[str] = []

    def claude(body: dict[str, Any]) -> Turn:
        text = last_user_text(body)
        if "CONTEXT: WORKER (implementer)" in text and body.get("tools"):
            prompts.append(text)
            return [claude_text(CLAUDE_REPORT)]
        return [claude_text("a title")]  # claude's side requests

    plan_text = """
    title = "claude"
    [[task]]
    id = "greet"
    role = "implementer"
    agent = "claude-p"
    goal = "Write a greeting (GOAL-GREET)."
    time_cap = "3m"
    """
    with FakeModel(claude_handler=claude) as fm:
        env = agent_env(tmp_path, fm)
        client, _ = await connect_or_start(workspace, client="test")
        try:
            plan = await run_to_completion(client, write_plan(workspace, plan_text), env, timeout=120)
            assert states(plan) == {"greet": "done"}, reasons(plan)
            text = envelope_of(workspace, "greet")
            assert text.startswith("CONTEXT: WORKER (implementer)") and "TASK greet: Write a greeting (GOAL-GREET)." in text
            assert len(prompts) == 1 and "GOAL-GREET" in prompts[0], prompts
            (w,) = await client.request("ls")
            assert (w["name"], w["kind"], w["mode"], w["state"]) == ("greet", "claude", "claude-p", "done"), w
            assert w["signals"] == {"exit_code": True, "result": True}
            assert (w["agent"]["report"]["outcome"], w["agent"]["report"]["status"]) == ("COMPLETED", "Done")
            assert (await client.request("last", worker="greet"))["text"].startswith("COMPLETED: wrote the greeting")
            assert [e["worker"] for e in journal(workspace) if e["type"] == "spawn"] == ["greet"]
        finally:
            await shut_down(client, workspace)


# -- 3. codex exec answers without a report ---------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_codex_exec_answer_without_a_report_needs_review(workspace, tmp_path):
    def codex(body: dict[str, Any]) -> Turn:
        if task_of(codex_prompt(body)) == "chat":
            return [message("I looked around; it all seems fine to me.")]
        return [message("(no route for this prompt)")]

    plan_text = """
    title = "no report"
    [[task]]
    id = "chat"
    role = "implementer"
    agent = "codex-exec"
    goal = "Tidy the README (GOAL-CHAT)."
    time_cap = "3m"
    """
    with FakeModel(codex_handler=codex) as fm:
        env = agent_env(tmp_path, fm)
        client, _ = await connect_or_start(workspace, client="test")
        try:
            plan = await run_to_completion(client, write_plan(workspace, plan_text), env, timeout=120)
            assert states(plan) == {"chat": "needs-review"}, reasons(plan)
            assert "without a report" in reasons(plan)["chat"], reasons(plan)
            (w,) = await client.request("ls")
            # The worker itself succeeded (every codex signal agrees); the task is not done.
            assert (w["mode"], w["state"]) == ("codex-exec", "done"), w
            assert w["agent"]["report"] is None
            assert envelope_of(workspace, "chat").startswith("CONTEXT: WORKER (implementer)")
        finally:
            await shut_down(client, workspace)
