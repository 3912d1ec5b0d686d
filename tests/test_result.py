"""The curated result: promote with provenance, clean text, flag duplicates, edit from a
version (conflicts refused), external edits win, JSON out."""

from __future__ import annotations

import json

import pytest
from conftest import eventually, eventually_sync, kill_everything_under, notices, podium_cli, record_notices, shows

from podium.sessions.result import CuratedResult, ResultConflict, parse, version_of


def test_promote_edit_move_remove_and_conflicts(tmp_path):
    r = CuratedResult(tmp_path / "result.md")
    a = r.promote({"worker": "a", "kind": "codex-exec", "run": 1, "session_id": "t-1", "signals": "exit ✓"}, "\x1b[31mred\x1b[0m report\x07\n")
    b = r.promote({"worker": "b", "kind": "shell", "run": 1}, "second")
    again = r.promote({"worker": "a", "kind": "codex-exec", "run": 1}, "again")
    assert again["duplicate"] and again["section"] == a["section"]
    text, doc = r.read()
    assert [s.worker for s in doc.sections] == ["a", "b"]
    assert "\x1b" not in text and "\x07" not in text and "red report" in text
    assert "session `t-1`" in text and "signals exit ✓" in text
    v = b["version"]
    v = r.change(v, "move", doc.sections[1].id, by=-1)
    assert [s.worker for s in r.read()[1].sections] == ["b", "a"]
    v = r.change(v, "edit", a["section"], body="## a · run 1\n\nrewritten by hand")
    assert "rewritten by hand" in r.read()[0]
    with pytest.raises(ResultConflict):  # made from an old version: refused
        r.change(b["version"], "remove", a["section"])
    v = r.change(v, "remove", a["section"])
    assert [s.worker for s in r.read()[1].sections] == ["b"]
    # The file is the source of truth: an outside edit is what the next read sees.
    outside = r.read()[0].replace("second", "edited in vim")
    (tmp_path / "result.md").write_text(outside)
    assert "edited in vim" in r.as_json()["sections"][0]["body"]
    with pytest.raises(ResultConflict):
        r.change(v, "remove", b["section"])
    assert r.as_json()["version"] == version_of(outside)


def test_parse_keeps_what_the_person_wrote_around_sections():
    text = (
        "# My result\n\nIntro by hand.\n\n"
        '<!-- podium:section id="x1" worker="w" run="1" -->\nbody one\n<!-- /podium:section -->\n\n'
        "a note between\n\n"
        '<!-- podium:section id="x2" worker="v" run="2" -->\nbody two\n<!-- /podium:section -->\n\nClosing words.\n'
    )
    doc = parse(text)
    assert doc.preamble.strip() == "# My result\n\nIntro by hand."
    assert [s.id for s in doc.sections] == ["x1", "x2"]
    assert "a note between" in doc.sections[0].body
    assert doc.trailer.strip() == "Closing words."
    assert parse(doc.render()).render() == doc.render()


CONFLICT = (
    "{path} changed since you opened it (someone else saved, or it was edited outside podium); "
    "your change was not applied: look at the new version and make it again"
)


@pytest.fixture
def ws(workspace):
    yield workspace
    podium_cli("-w", str(workspace), "stop", "--yes")
    kill_everything_under(workspace)


def test_promote_a_shell_report_through_the_cli(ws):
    report = "printf 'noise\\nCOMPLETED: tidy\\n\\nStatus: Done\\nSummary: all good\\033]0;evil\\007\\n'"
    assert podium_cli("-w", str(ws), "spawn", "s1", "--", "bash", "-c", report).returncode == 0

    def ended() -> bool:
        workers = {w["name"]: w for w in json.loads(podium_cli("-w", str(ws), "ls", "--json").stdout)}
        return workers["s1"]["state"] == "done"

    eventually_sync(ended, what="s1 to finish its report")
    r = podium_cli("-w", str(ws), "promote", "s1")
    assert r.returncode == 0, r.stderr
    r = podium_cli("-w", str(ws), "promote", "s1")
    assert r.returncode == 1 and "promoted already" in r.stderr
    data = json.loads(podium_cli("-w", str(ws), "result", "--format", "json").stdout)
    (section,) = data["sections"]
    assert section["worker"] == "s1" and section["run"] == "1" and section["kind"] == "shell"
    assert "COMPLETED: tidy" in section["body"] and "noise" not in section["body"] and "evil" not in section["body"]
    workers = {w["name"]: w for w in json.loads(podium_cli("-w", str(ws), "ls", "--json").stdout)}
    assert workers["s1"]["promoted"] == ["1"]
    md = podium_cli("-w", str(ws), "result").stdout
    assert md.startswith("# Curated result") and "\x1b" not in md


@pytest.mark.slow
async def test_result_screen_promote_reorder_edit_undo_and_outside_edits(workspace):
    from conftest import shut_down

    from podium.sessions.client import SupervisorClient, connect_or_start
    from podium.tui.app import PodiumApp
    from podium.sessions.config import Config
    from podium.tui.result_screen import EditSection, ResultScreen

    client, _ = await connect_or_start(workspace, client="test")
    try:
        for name in ("alpha", "beta"):
            await client.request("spawn", name=name, argv=["bash", "-c", f"printf 'COMPLETED: {name} done\\n\\nStatus: Done\\n'; sleep 60"])
        app = PodiumApp(workspace, autostart=False, config=Config())
        record_notices(app)
        path = workspace / ".podium/result.md"
        async with app.run_test(size=(150, 45)) as pilot:
            await eventually(lambda: len(app.dashboard.panes) == 2 and all(p.frames for p in app.dashboard.panes.values()), pilot=pilot, what="panes")
            await eventually(lambda: all(any("COMPLETED" in r for r in p.screen_text()) for p in app.dashboard.panes.values()), pilot=pilot, what="reports")
            await pilot.press("1", "p")
            await eventually(lambda: "promoted alpha into the result (o shows it)" in notices(app), pilot=pilot, what="the notice that alpha was promoted")
            assert path.exists()
            await pilot.press("2", "p")
            await eventually(lambda: "promoted beta into the result (o shows it)" in notices(app), pilot=pilot, what="the notice that beta was promoted")
            assert "beta" in path.read_text()
            await eventually(lambda: app.link.roster["alpha"]["promoted"] == ["1"], pilot=pilot, what="promoted mark")
            section = next(s for s in parse(path.read_text()).sections if s.worker == "alpha").id
            await pilot.press("1", "p")  # again: flagged, not duplicated
            flagged = f"this run of alpha is in the result already (section {section}); `podium promote alpha --force` adds it again"
            await eventually(lambda: flagged in notices(app), pilot=pilot, what="the already-promoted notice")
            assert path.read_text().count('worker="alpha"') == 1
            await pilot.press("o")
            assert isinstance(app.screen, ResultScreen)
            screen = app.screen
            order = lambda: [s.worker for s in screen.doc.sections]  # noqa: E731
            assert order() == ["alpha", "beta"]
            await pilot.press("J")  # move alpha down
            await eventually(lambda: order() == ["beta", "alpha"], pilot=pilot, what="reordered")
            await pilot.press("u")  # undo
            await eventually(lambda: order() == ["alpha", "beta"], pilot=pilot, what="undone")
            await pilot.press("k", "e")  # edit alpha here
            assert isinstance(app.screen, EditSection)
            app.screen.query_one("TextArea").text = "## alpha · run 1\n\nEdited in podium."
            await pilot.press("ctrl+s")
            await eventually(lambda: "Edited in podium." in path.read_text(), pilot=pilot, what="edited")
            # The result screen is back and has the saved file as its version (else "x" is a
            # change from a stale base).
            await eventually(lambda: app.screen is screen and screen.version == version_of(path.read_text()), pilot=pilot, what="the result screen back, with the edited version", show=lambda: screen.text)
            await pilot.press("x")  # the highlight stayed on the edited section
            await eventually(lambda: order() == ["beta"], pilot=pilot, what="alpha removed")
            await pilot.press("u")
            await eventually(lambda: len(order()) == 2, pilot=pilot, what="removal undone")
            # An edit made outside podium is picked up and shown.
            path.write_text(path.read_text().replace("Edited in podium.", "Edited in vim."))
            await eventually(lambda: "Edited in vim." in screen.text, pilot=pilot, what="outside edit shown")
            # Another client saves first: this screen's next change is a conflict, not a loss.
            other = await SupervisorClient.connect(workspace, client="other")
            stale = screen.version
            await other.request("result_change", base=stale, change="move", section=screen.doc.sections[0].id, by=1)
            with pytest.raises(Exception, match="conflict"):
                await other.request("result_change", base=stale, change="remove", section=screen.doc.sections[0].id)
            await other.close()
            await eventually(lambda: order() == ["beta", "alpha"], pilot=pilot, what="the other client's change shown")
            await pilot.press("c")  # copy: OSC 52 through the app
            assert app.clipboard == screen.text == path.read_text()
            await eventually(lambda: f"copied {len(screen.text)} characters (OSC 52)" in notices(app), pilot=pilot, what="the copy notice")
            await pilot.press("escape")
            assert app.screen is app.dashboard
    finally:
        await shut_down(client, workspace)


@pytest.mark.slow
async def test_journal_screen_filters_and_searches(workspace):
    from conftest import shut_down

    from podium.sessions.client import connect_or_start
    from podium.tui.app import PodiumApp
    from podium.sessions.config import Config
    from podium.tui.journal_screen import JournalScreen

    client, _ = await connect_or_start(workspace, client="test")
    try:
        await client.request("spawn", name="one", argv=["cat"])
        await client.request("spawn", name="two", argv=["cat"])
        client.send_keys("one", b"hello\r")
        await client.request("interrupt", worker="two")
        journal = workspace / ".podium/journal.jsonl"
        # Typed keys are journaled once a burst is over.
        await eventually(lambda: '"type": "input"' in journal.read_text(), what="the typed keys in the journal")
        with journal.open("a") as f:
            f.write("this line is not json\n")
        app = PodiumApp(workspace, autostart=False, config=Config())
        async with app.run_test(size=(150, 45)) as pilot:
            await eventually(lambda: len(app.dashboard.panes) == 2, pilot=pilot, what="the dashboard connected")
            await pilot.press("J")
            assert isinstance(app.screen, JournalScreen)
            screen = app.screen
            table = screen.query_one("DataTable")
            assert table.row_count >= 5
            assert len(screen.problems) == 1 and "journal.jsonl" in screen.problems[0]
            first = table.get_row_at(0)
            assert str(first[1]) in ("signal", "state", "input")  # newest first
            await pilot.press("w", *"two", "enter")
            assert table.row_count and all(str(table.get_row_at(i)[2]) == "two" for i in range(table.row_count))
            await pilot.press("w", "ctrl+u", "enter", "t", *"input", "enter")
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            assert rows and all(str(r[1]) == "input" and r[2] == "one" for r in rows)
            await pilot.press("t", "ctrl+u", "enter", "slash", *"SIGINT", "enter")
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            assert rows and all("SIGINT" in r[3] for r in rows)
            await pilot.press("escape")
            assert app.screen is app.dashboard
    finally:
        await shut_down(client, workspace)


def test_ids_markers_encoding_and_whitespace(tmp_path):
    from podium.sessions.result import ResultUnreadable

    no_id = '<!-- podium:section worker="w" run="1" -->\nbody\n<!-- /podium:section -->\n'
    assert parse(no_id).sections[0].id == parse(no_id).sections[0].id  # stable without an id
    twice = '<!-- podium:section id="a1" worker="w" -->\none\n<!-- /podium:section -->\n' * 2
    assert [s.id for s in parse(twice).sections] == ["a1", "a1-2"]
    r = CuratedResult(tmp_path / "result.md")
    r.promote({"worker": "w", "run": 1}, "before\n<!-- /podium:section -->\nafter\n\n    indented code")
    (section,) = r.read()[1].sections
    assert "after" in section.body and "    indented code" in section.body  # not split, indent kept
    (tmp_path / "result.md").write_bytes(b"# mine \xff\n")
    with pytest.raises(ResultUnreadable, match="not UTF-8 at byte 7"):
        r.promote({"worker": "v", "run": 1}, "x")
    assert (tmp_path / "result.md").read_bytes() == b"# mine \xff\n"  # untouched


async def test_undo_after_someone_else_changed_the_result_is_refused(workspace):
    from conftest import shut_down

    from podium.sessions.client import SupervisorClient, connect_or_start
    from podium.tui.app import PodiumApp
    from podium.sessions.config import Config
    from podium.tui.result_screen import ResultScreen

    client, _ = await connect_or_start(workspace, client="test")
    try:
        for name in ("a", "b"):
            await client.request("spawn", name=name, argv=["bash", "-c", f"printf 'COMPLETED: {name}\\n'; sleep 60"])
        for name in ("a", "b"):  # their reports are out: a promote finds them
            await eventually(lambda: shows(client, name, f"COMPLETED: {name}"), what=f"{name}'s report")
        await client.request("promote", worker="a")
        app = PodiumApp(workspace, autostart=False, config=Config())
        record_notices(app)
        path = workspace / ".podium/result.md"
        async with app.run_test(size=(150, 45)) as pilot:
            await eventually(lambda: len(app.dashboard.panes) == 2, pilot=pilot, what="the dashboard connected")
            await pilot.press("o")
            await eventually(lambda: isinstance(app.screen, ResultScreen) and [s.worker for s in app.screen.doc.sections] == ["a"], pilot=pilot, what="the result screen with a's section")
            await pilot.press("x")  # remove a's section
            await eventually(lambda: 'worker="a"' not in path.read_text(), pilot=pilot, what="a's section removed")
            other = await SupervisorClient.connect(workspace, client="other")
            await other.request("promote", worker="b")
            await other.close()
            await eventually(lambda: [s.worker for s in app.screen.doc.sections] == ["b"], pilot=pilot, what="b's section shown")
            await pilot.press("u")  # would bring a back and drop b: refused instead
            refused = "cannot undo: conflict: " + CONFLICT.format(path=path)
            await eventually(lambda: refused in notices(app), pilot=pilot, what="the refused undo's notice", show=lambda: notices(app))
            text = path.read_text()
            assert 'worker="b"' in text and 'worker="a"' not in text
            assert [s.worker for s in app.screen.doc.sections] == ["b"]
    finally:
        await shut_down(client, workspace)
