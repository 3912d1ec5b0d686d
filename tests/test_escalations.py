"""Escalations: recognisers on real approval screens, the [y/N] path, decision cards,
defaults on timeout, verification after an answer, tiers, and two clients at once."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import eventually, notices, record_notices, shut_down, text_of

from podium.sessions.blackboard import read_journal
from podium.sessions.client import RequestFailed, SupervisorClient, connect_or_start
from podium.sessions.escalations import load_recognisers, parse_card

FIXTURES = Path(__file__).parent / "fixtures" / "approval-screens"

YN = textwrap.dedent(
    """
    import sys
    print("about to drop the staging table")
    answer = input("Drop table users? [y/N] ").strip().lower()
    print("dropped" if answer == "y" else "kept it")
    sys.exit(0 if answer == "y" else 3)
    """
)


def test_recognisers_read_the_four_real_screens():
    recs = load_recognisers()
    expect = {
        "codex_tui_exec_approval.txt": ("codex-exec", "command", "touch /opt/escalated_by_agent.txt"),
        "codex_tui_patch_approval.txt": ("codex-patch", "file", "/home/dev/work2/hello.txt"),
        "claude_tui_bash_approval.txt": ("claude-bash", "command", "touch made_by_claude.txt"),
        "claude_tui_write_approval.txt": ("claude-write", "file", "hello.txt"),
    }
    for name, (rec_name, key, value) in expect.items():
        lines = (FIXTURES / name).read_text().splitlines()
        hits = [(r.name, r.find(lines, len(lines) - 1)) for r in recs]
        hits = [(n, h) for n, h in hits if h is not None]
        assert [n for n, _ in hits] == [rec_name], (name, hits)
        assert hits[0][1][key] == value
    codex = next(r for r in recs if r.name == "codex-exec")
    assert (codex.approve, codex.approve_session, codex.deny) == ("y", "p", "\x1b")
    claude = next(r for r in recs if r.name == "claude-bash")
    assert (claude.approve, claude.deny) == ("1\r", "3\r")


def test_generic_prompt_only_on_the_cursor_line():
    generic = next(r for r in load_recognisers() if r.name == "generic-yn")
    lines = ["old question? [y/N] y", "done", "Continue? "]
    assert generic.find(lines, 2)["question"] == "Continue?"
    assert generic.find(lines, 1) is None  # an old answered prompt above does not count


def test_cards_parse_and_bad_ones_say_where():
    card = parse_card(
        "# Decision: migrate now?\nWorker: db\n\n## Context\nThe schema is ready.\n\n## Options\n"
        "A. Migrate now — pros: done today; cons: downtime\nB. Wait for the window\n\n"
        "## Recommended: B\n## Risk: medium\n## Cost: 10 min of downtime\n## Default: B after 30m\n",
        "card.md",
    )
    assert card["title"] == "migrate now?" and card["worker"] == "db"
    assert [o["key"] for o in card["options"]] == ["A", "B"]
    assert (card["recommended"], card["default"], card["timeout"]) == ("B", "B", 1800.0)
    with pytest.raises(ValueError, match="card.md: no options"):
        parse_card("# Decision: x\n## Context\nnothing to choose\n", "card.md")
    with pytest.raises(ValueError, match="Recommended names 'Z'"):
        parse_card("# x\n## Options\nA. a\nB. b\n## Recommended: Z\n", "card.md")


async def pending(client, worker=None):
    items = await client.request("decisions")
    return [e for e in items if e["state"] == "pending" and (worker is None or e["worker"] == worker)]


async def state_of(client, name):
    return {w["name"]: w for w in await client.request("ls")}[name]


@pytest.fixture
async def room(workspace):
    client, _ = await connect_or_start(workspace, client="test")
    try:
        yield workspace, client
    finally:
        await shut_down(client, workspace)


async def test_yes_no_prompt_waits_approves_and_denies(room, tmp_path):
    ws, client = room
    script = tmp_path / "yn.py"
    script.write_text(YN)
    await client.request("spawn", name="drop", argv=[sys.executable, "-u", str(script)])
    (esc,) = await eventually(lambda: pending(client, "drop"), what="an escalation")
    assert esc["tier"] == "gate" and esc["source"] == "screen" and esc["recogniser"] == "generic-yn"
    assert esc["question"] == "Drop table users? [y/N]" and "about to drop the staging table" in esc["lines"]
    assert (await state_of(client, "drop"))["state"] == "waiting"
    answered = await client.request("answer", escalation=esc["id"], choice="approve")
    assert answered["state"] == "answered"
    w = await eventually(lambda: _ended(client, "drop"), what="the worker to end")
    assert w["state"] == "done"
    transcript = (ws / ".podium/workers/drop/transcript.log").read_bytes()
    assert b"dropped" in transcript
    final = [e for e in await client.request("decisions", states="all") if e["id"] == esc["id"]][0]
    assert final["state"] == "resolved" and final["answer"]["choice"] == "approve"
    # deny
    await client.request("spawn", name="keep", argv=[sys.executable, "-u", str(script)])
    (esc2,) = await eventually(lambda: pending(client, "keep"), what="a second escalation")
    await client.request("answer", escalation=esc2["id"], choice="deny")
    w = await eventually(lambda: _ended(client, "keep"), what="keep to end")
    assert w["exit_code"] == 3 and b"kept it" in (ws / ".podium/workers/keep/transcript.log").read_bytes()
    journal = [json.loads(line) for line in (ws / ".podium/journal.jsonl").read_text().splitlines()]
    assert [e["choice"] for e in journal if e["type"] == "answer"] == ["approve", "deny"]


async def _ended(client, name):
    w = await state_of(client, name)
    return w if w["state"] not in ("starting", "running", "paused", "waiting") else None


async def test_two_clients_answer_at_once_exactly_one_is_delivered(room, tmp_path):
    ws, client = room
    script = tmp_path / "yn.py"
    script.write_text(YN)
    await client.request("spawn", name="race", argv=[sys.executable, "-u", str(script)])
    (esc,) = await eventually(lambda: pending(client, "race"), what="an escalation from race")
    other = await SupervisorClient.connect(ws, client="other")
    try:
        results = await asyncio.gather(
            client.request("answer", escalation=esc["id"], choice="approve"),
            other.request("answer", escalation=esc["id"], choice="deny"),
            return_exceptions=True,
        )
    finally:
        await other.close()
    errors = [r for r in results if isinstance(r, RequestFailed)]
    assert len(errors) == 1 and "already" in str(errors[0])
    await eventually(lambda: _ended(client, "race"), what="race to end")
    transcript = (ws / ".podium/workers/race/transcript.log").read_bytes()
    assert transcript.count(b"dropped") + transcript.count(b"kept it") == 1


@pytest.mark.slow
async def test_an_answer_that_does_not_take_comes_back(room, tmp_path):
    ws, client = room
    # A program that draws an approval dialog like codex's and ignores every key.
    deaf = tmp_path / "deaf.py"
    deaf.write_text(textwrap.dedent(
        """
        import time, tty
        tty.setraw(0)
        print("  Would you like to run the following command?\\r\\n\\r\\n  $ rm -rf build\\r\\n", end="", flush=True)
        time.sleep(60)
        """
    ))
    await client.request("spawn", name="deaf", argv=[sys.executable, "-u", str(deaf)])
    (esc,) = await eventually(lambda: pending(client, "deaf"), what="an escalation from deaf")
    assert esc["recogniser"] == "codex-exec" and esc["command"] == "rm -rf build"
    await client.request("answer", escalation=esc["id"], choice="approve")
    back = await eventually(lambda: _noted(client, "deaf"), what="the escalation to come back")
    assert back["id"] == esc["id"] and back["state"] == "pending"
    assert back["note"].startswith("the prompt was still on the screen 1.5 s after the answer")
    assert (await state_of(client, "deaf"))["state"] == "waiting"


async def _noted(client, worker):
    items = await pending(client, worker)
    return items[0] if items and items[0]["note"] else None


@pytest.mark.slow
async def test_decision_cards_answered_malformed_and_defaulted(room):
    ws, client = room
    pending_dir = ws / ".podium/decisions/pending"
    pending_dir.mkdir(parents=True)
    (pending_dir / "deploy.md").write_text(
        "# Decision: deploy on Friday?\nWorker: release\n\n## Context\nAll green.\n\n## Options\nA. Deploy now\nB. Wait until Monday\n\n## Recommended: B\n## Risk: low\n## Cost: none\n"
    )
    (pending_dir / "broken.md").write_text("# Decision: nothing to choose\n\n## Context\nno options here\n")
    (pending_dir / "timeout.md").write_text("# Decision: rotate keys?\n## Options\nA. Rotate\nB. Skip\n## Default: A after 2s\n")
    items = await eventually(lambda: _cards(client, 3), what="three cards")
    by_q = {e["question"]: e for e in items}
    malformed = by_q["malformed decision card broken.md"]
    assert malformed["state"] == "malformed" and "broken.md: no options" in malformed["note"]
    assert (pending_dir / "broken.md").exists()  # nothing lost
    deploy = by_q["deploy on Friday?"]
    assert [o["key"] for o in deploy["options"]] == ["A", "B"] and deploy["worker"] == "release"
    done = await client.request("answer", escalation=deploy["id"], choice="A", by="alice")
    assert done["state"] == "resolved" and done["answer"]["choice"] == "A"
    resolved = (ws / ".podium/decisions/resolved/deploy.md").read_text()
    assert "## Answer" in resolved and "Chosen: A. Deploy now" in resolved and "By: alice" in resolved and "At: " in resolved
    assert not (pending_dir / "deploy.md").exists()
    # The third card's default is applied when its timeout passes, and the journal says so.
    # The journal's "default" entry is written once the card is answered and moved.
    defaults = lambda: [e for e in read_journal(ws / ".podium/journal.jsonl")[0] if e.get("type") == "default"]  # noqa: E731
    await eventually(defaults, what="the journal's default entry", show=lambda: sorted(p.name for p in (ws / ".podium/decisions").rglob("*.md")))
    text = (ws / ".podium/decisions/resolved/timeout.md").read_text()
    assert "Chosen: A. Rotate" in text and "By: podium" in text and "default after 2 s" in text
    journal = [json.loads(line) for line in (ws / ".podium/journal.jsonl").read_text().splitlines()]
    assert any(e["type"] == "default" and e["option"] == "A" for e in journal)


async def _cards(client, n):
    items = [e for e in await client.request("decisions") if e["source"] == "card"]
    return items if len(items) >= n else None


async def test_podium_raises_its_own_escalations_through_the_same_inbox(room):
    ws, client = room
    esc = await client.request("escalate", question="retries exhausted for build (3/3): re-run?", worker=None)
    assert esc["source"] == "podium" and esc["tier"] == "gate"
    assert [e["id"] for e in await pending(client)] == [esc["id"]]
    done = await client.request("answer", escalation=esc["id"], choice="y")
    assert done["state"] == "resolved"


async def test_a_tier_rule_makes_a_prompt_autonomous(workspace, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[[escalations.rule]]\nrecogniser = "generic-yn"\nworker = "auto*"\ntier = "autonomous"\n')
    monkeypatch.setenv("PODIUM_CONFIG", str(config))
    client, _ = await connect_or_start(workspace, client="test")
    try:
        script = tmp_path / "yn.py"
        script.write_text(YN)
        await client.request("spawn", name="auto-drop", argv=[sys.executable, "-u", str(script)])
        w = await eventually(lambda: _ended(client, "auto-drop"), what="auto-drop to end")
        assert w["state"] == "done"  # podium answered yes by itself
        journal = [json.loads(line) for line in (workspace / ".podium/journal.jsonl").read_text().splitlines()]
        esc = [e for e in journal if e["type"] == "escalation" and e.get("tier") == "autonomous"]
        assert esc and any(e["type"] == "answer" and e["by"] == "podium" for e in journal)
    finally:
        await shut_down(client, workspace)


@pytest.mark.slow
async def test_inbox_and_direct_answers_in_the_dashboard(room, tmp_path):
    from podium.tui.app import PodiumApp
    from podium.sessions.config import Config
    from podium.tui.inbox_screen import InboxScreen
    from podium.widgets.escalation_banner import EscalationBanner

    ws, client = room
    script = tmp_path / "yn.py"
    script.write_text(YN)
    app = PodiumApp(ws, autostart=False, config=Config())
    record_notices(app)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)
    async with app.run_test(size=(150, 45)) as pilot:

        def inbox_text() -> str:
            return text_of(app.screen.query_one("#inbox-text")) if isinstance(app.screen, InboxScreen) else ""

        await client.request("spawn", name="one", argv=[sys.executable, "-u", str(script)])
        await eventually(lambda: any(e["state"] == "pending" for e in app.link.escalations.values()), pilot=pilot, what="an escalation in the app")
        banner = app.dashboard.query_one(EscalationBanner)
        await eventually(lambda: banner.has_class("-shown") and "1 waiting for you" in str(banner.render()), pilot=pilot, what="the banner")
        assert app.dashboard.query_one("StatusBar").escalations == 1
        await eventually(lambda: bells == [1], pilot=pilot, what="one bell for the escalation", show=lambda: bells)
        await eventually(lambda: "one waits: Drop table users? [y/N]" in notices(app), pilot=pilot, what="the approval-needed toast", show=lambda: (notices(app), list(app.link.escalations.values())))
        await pilot.press("e")
        assert isinstance(app.screen, InboxScreen)
        await eventually(lambda: "Drop table users? [y/N]" in inbox_text(), pilot=pilot, what="the escalation's detail in the inbox")
        detail = inbox_text()
        assert "Drop table users? [y/N]" in detail and "about to drop the staging table" in detail
        await pilot.press("y")
        await eventually(lambda: app.link.roster.get("one", {}).get("state") == "done", pilot=pilot, what="approved from the inbox")
        await eventually(lambda: not banner.has_class("-shown"), pilot=pilot, what="banner gone")
        await pilot.press("escape")
        # On a focused waiting worker, n answers directly (n is 'new worker' otherwise).
        await client.request("spawn", name="two", argv=[sys.executable, "-u", str(script)])
        await eventually(lambda: app.link.roster.get("two", {}).get("state") == "waiting", pilot=pilot, what="two waiting")
        await eventually(lambda: "two" in app.dashboard.panes, pilot=pilot, what="two's pane")
        await pilot.press("2")
        await eventually(lambda: app.focused is app.dashboard.panes["two"], pilot=pilot, what="two focused")
        await pilot.press("n")
        await eventually(lambda: app.link.roster["two"]["state"] == "failed" and app.link.roster["two"]["exit_code"] == 3, pilot=pilot, what="denied")
        assert not isinstance(app.screen, InboxScreen) and app.screen is app.dashboard  # no new-worker dialog
        # A card, answered with its option letter.
        pending_dir = ws / ".podium/decisions/pending"
        pending_dir.mkdir(parents=True, exist_ok=True)
        (pending_dir / "pick.md").write_text("# Decision: which cache?\n## Options\nA. Redis\nB. Memcached\nC. None\n## Recommended: A\n")
        await eventually(lambda: any(e["source"] == "card" and e["state"] == "pending" for e in app.link.escalations.values()), pilot=pilot, what="the card")
        await pilot.press("e")
        assert isinstance(app.screen, InboxScreen)
        await eventually(lambda: "which cache?" in inbox_text(), pilot=pilot, what="the card's detail in the inbox")
        assert "B  Memcached" in inbox_text()
        await pilot.press("B")
        await eventually(lambda: (ws / ".podium/decisions/resolved/pick.md").exists(), pilot=pilot, what="card answered")
        assert "Chosen: B. Memcached" in (ws / ".podium/decisions/resolved/pick.md").read_text()


async def test_back_to_back_prompts_are_separate_escalations(room, tmp_path):
    ws, client = room
    two = tmp_path / "two.py"
    two.write_text(
        'a = input("Delete files? [y/N] ")\nb = input("Also delete backups? [y/N] ")\nprint("answers", a, b)\n'
    )
    await client.request("spawn", name="twice", argv=[sys.executable, "-u", str(two)])
    (first,) = await eventually(lambda: pending(client, "twice"), what="the first prompt")
    assert first["question"] == "Delete files? [y/N]"
    await client.request("answer", escalation=first["id"], choice="approve")
    second = await eventually(lambda: _other(client, "twice", first["id"]), what="the second prompt")
    assert second["question"] == "Also delete backups? [y/N]"
    await client.request("answer", escalation=second["id"], choice="deny")
    w = await eventually(lambda: _ended(client, "twice"), what="twice to end")
    assert w["state"] == "done" and b"answers y n" in (ws / ".podium/workers/twice/transcript.log").read_bytes()


async def test_a_next_dialog_with_another_command_is_a_new_escalation(room, tmp_path):
    ws, client = room
    dialogs = tmp_path / "dialogs.py"
    dialogs.write_text(textwrap.dedent(
        """
        import os, sys, time, tty
        tty.setraw(0)
        def ask(cmd):
            sys.stdout.write("\\x1b[2J\\x1b[H  Would you like to run the following command?\\r\\n\\r\\n  $ " + cmd + "\\r\\n")
            sys.stdout.flush()
            return os.read(0, 1)
        a = ask("ls -la")
        b = ask("rm -rf build")
        sys.stdout.write("\\x1b[2J\\x1b[Hgot " + a.decode() + b.decode() + "\\r\\n")
        sys.stdout.flush()
        time.sleep(30)
        """
    ))
    await client.request("spawn", name="dlg", argv=[sys.executable, "-u", str(dialogs)])
    (first,) = await eventually(lambda: pending(client, "dlg"), what="an escalation from dlg")
    assert first["command"] == "ls -la"
    await client.request("answer", escalation=first["id"], choice="approve")
    second = await eventually(lambda: _other(client, "dlg", first["id"]), what="the second dialog")
    assert second["command"] == "rm -rf build" and not second["note"]
    done = [e for e in await client.request("decisions", states="all") if e["id"] == first["id"]][0]
    assert done["state"] == "resolved" and done["command"] == "ls -la"


async def _other(client, worker, not_id):
    items = [e for e in await pending(client, worker) if e["id"] != not_id]
    return items[0] if items else None


async def test_rewritten_cards_are_read_again_and_junk_files_are_skipped(room):
    ws, client = room
    pending_dir = ws / ".podium/decisions/pending"
    pending_dir.mkdir(parents=True)
    (pending_dir / ".#lock.md").symlink_to("/nonexistent/target")  # an editor's lock file
    card = pending_dir / "plan.md"
    card.write_text("# Decision: plan\n## Context\nhalf written")
    first = await eventually(lambda: _cards(client, 1), what="the half-written card")
    assert first[0]["state"] == "malformed"
    await asyncio.sleep(0.6)  # the scenario: the worker finishes the card a moment later
    card.write_text("# Decision: plan\n## Options\nA. Ship\nB. Hold\n## Recommended: A\n")
    fixed = await eventually(lambda: _pending_cards(client), what="the rewritten card")
    assert [o["key"] for o in fixed[0]["options"]] == ["A", "B"]
    done = await client.request("answer", escalation=fixed[0]["id"], choice="B")
    assert done["answer"]["label"] == "Hold"


async def _pending_cards(client):
    items = [e for e in await client.request("decisions") if e["source"] == "card" and e["state"] == "pending"]
    return items or None


def test_cards_written_the_markdown_way():
    card = parse_card(
        "# Decision: cache\n**Worker:** alice\n\n## Options\n### Option A: Redis\n### Option B: None\n\n"
        "**Recommended:** Option B\n**Risk:** low\n**Default:** B after 1h30m\n",
        "c.md",
    )
    assert (card["worker"], card["recommended"], card["risk"], card["timeout"]) == ("alice", "B", "low", 5400.0)
    assert [o["label"] for o in card["options"]] == ["Redis", "None"]
