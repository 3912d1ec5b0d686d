"""The curated result: promote with provenance, clean text, flag duplicates, edit from a
version (conflicts refused), external edits win, JSON out."""

from __future__ import annotations

import json

import pytest
from conftest import kill_everything_under, podium_cli

from sessions.result import CuratedResult, ResultConflict, parse, version_of


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


@pytest.fixture
def ws(workspace):
    yield workspace
    podium_cli("-w", str(workspace), "stop", "--yes")
    kill_everything_under(workspace)


def test_promote_a_shell_report_through_the_cli(ws):
    report = "printf 'noise\\nCOMPLETED: tidy\\n\\nStatus: Done\\nSummary: all good\\033]0;evil\\007\\n'"
    assert podium_cli("-w", str(ws), "spawn", "s1", "--", "bash", "-c", report).returncode == 0
    for _ in range(100):
        r = podium_cli("-w", str(ws), "promote", "s1")
        if r.returncode == 0:
            break
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
