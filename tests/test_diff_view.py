"""The diff view's hunks, unified and side by side (issue 17), on a real writer in a real
git worktree: old and new line numbers on both, `s` switching between them, `n`/`p`
scrolling to a hunk in either; and snapshots of both (a fixed repository, a fixed edit,
nothing in the view that names a temporary path or a time)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from conftest import eventually, eventually_sync, kill_everything_under, podium_cli, text_of
from gitrepo import done, init_repo

from podium.sessions.config import Config
from podium.tui.app import PodiumApp
from podium.tui.diff_screen import DiffScreen

SIZE = (130, 36)

# lib.py: twelve small functions, 48 lines. The writer changes step_1's sum (line 6),
# renames step_6 and gives it a docstring (line 25) and empties step_11 (line 46): three
# hunks, far enough apart not to merge.
OLD = "".join(f"def step_{i}(x):\n    return x + {i}\n\n\n" for i in range(12))
NEW = (
    OLD.replace("    return x + 1\n", "    return x * 1  # was a sum\n")
    .replace("def step_6(x):\n", 'def step_six(x, y=0):\n    """The sixth step."""\n')
    .replace("def step_11(x):\n    return x + 11\n", "def step_11(x):\n    pass\n")
)


@pytest.fixture
def repo(workspace: Path) -> Path:
    return init_repo(workspace, {"lib.py": OLD})


def writer(new_content: Path) -> list[str]:
    """A worker that rewrites lib.py (from a file outside the repository), commits, reports."""
    return ["sh", "-c", f"cp {new_content} lib.py && git commit -q -am 'edit lib.py' && printf 'COMPLETED: lib.py edited\\n'"]


def new_content(workspace: Path) -> Path:
    path = workspace.parent / "lib-new.py"
    path.write_text(NEW)
    return path


def app_for(ws: Path) -> PodiumApp:
    return PodiumApp(ws, autostart=False, config=Config())


async def open_diff(pilot, name: str = "w") -> DiffScreen:
    """D on worker 1 (`name`), once the view shows every hunk of its one file."""
    app = pilot.app
    await eventually(lambda: name in app.dashboard.panes, pilot=pilot, what=f"{name} on the dashboard")
    await pilot.press("1", "D")
    await eventually(lambda: isinstance(app.screen, DiffScreen) and app.screen.diff["files"], pilot=pilot, what="the diff view with its files")
    view = app.screen
    pane = view.query_one("#hunk-text")
    await eventually(lambda: (p := pane.part(2)) is not None and p.is_mounted and p.region.height, pilot=pilot, what="the three hunks laid out", show=lambda: text_of(pane))
    return view


def title_of(view: DiffScreen) -> str:
    return view.query_one("#diff-title").content.plain


async def test_side_by_side_shows_old_and_new_lines_with_their_numbers_and_n_scrolls_to_a_hunk(supervised, repo):
    ws, client = supervised
    await client.request("worktree_spawn", name="w", argv=writer(new_content(ws)))
    await done(client, "w")
    app = app_for(ws)
    async with app.run_test(size=(120, 14)) as pilot:  # the hunks are taller than the pane
        view = await open_diff(pilot)
        pane = view.query_one("#hunk-text")
        assert [f["path"] for f in view.diff["files"]] == ["lib.py"] and len(view.diff["files"][0]["hunks"]) == 3
        shown = text_of(pane)
        assert "unified hunks" in title_of(view), title_of(view)
        # unified: old number, new number, the mark and the code
        assert re.search(r"^ 6    -    return x \+ 1 *$", shown, re.M) and re.search(r"^    6 \+    return x \* 1  # was a sum *$", shown, re.M), shown
        assert re.search(r"^26 27      return x \+ 6 *$", shown, re.M), shown  # one line further down after the docstring

        await pilot.press("s")
        await eventually(lambda: "side-by-side hunks" in title_of(view), pilot=pilot, what="the side-by-side title", show=lambda: title_of(view))
        shown = text_of(pane)
        # the removed line (old number 2) left, paired with the added line (new number 2) right
        assert re.search(r"^ 6 -    return x \+ 1 +│  6 \+    return x \* 1  # was a sum *$", shown, re.M), shown
        # a changed line paired with its new version, an added line with nothing on the left,
        # a context line on both sides with each side's own number
        assert re.search(r"^25 -def step_6\(x\): +│ 25 \+def step_six\(x, y=0\): *$", shown, re.M), shown
        assert re.search(r"^ +│ 26 \+    \"\"\"The sixth step.\"\"\" *$", shown, re.M), shown
        assert re.search(r"^26      return x \+ 6 +│ 27      return x \+ 6 *$", shown, re.M), shown
        assert re.search(r"^46 -    return x \+ 11 +│ 47 \+    pass *$", shown, re.M), shown

        scroll = view.query_one("#hunks")
        second = pane.part(1)
        await pilot.press("n")
        await eventually(lambda: scroll.scroll_y > 0 and second.region.y == scroll.content_region.y, pilot=pilot, what="the second hunk at the top (side by side)", show=lambda: (scroll.scroll_y, second.region, scroll.content_region))
        assert "@@ -22,7 +22,8 @@" in text_of(second)
        await pilot.press("s")  # back to unified: still the second hunk at the top
        await eventually(lambda: "unified hunks" in title_of(view) and scroll.scroll_y > 0 and second.region.y == scroll.content_region.y, pilot=pilot, what="the second hunk at the top (unified)", show=lambda: (title_of(view), scroll.scroll_y, second.region, scroll.content_region))
        await pilot.press("p")
        await eventually(lambda: scroll.scroll_y == 0, pilot=pilot, what="back to the first hunk", show=lambda: scroll.scroll_y)


# -- snapshots ------------------------------------------------------------------------------
@pytest.fixture
def room(repo: Path, request) -> Path:
    """A supervisor (started as a person does) with writer w, finished, in its worktree,
    and one open comment on its first hunk."""
    ws = repo

    def cleanup() -> None:
        podium_cli("-w", str(ws), "stop", "--yes")
        kill_everything_under(ws)

    request.addfinalizer(cleanup)  # also when the setup below fails
    assert podium_cli("-w", str(ws), "start").returncode == 0
    r = podium_cli("-w", str(ws), "spawn", "w", "--worktree", "--", *writer(new_content(ws)))
    assert r.returncode == 0, r.stderr

    def finished() -> bool:
        ls = {w["name"]: w for w in json.loads(podium_cli("-w", str(ws), "ls", "--json").stdout)}
        return ls["w"]["state"] == "done"

    eventually_sync(finished, what="w done")
    asyncio.run(comment(ws))
    return ws


async def comment(ws: Path) -> None:
    from podium.sessions.client import SupervisorClient

    client = await SupervisorClient.connect(ws, client="test")
    try:
        await client.request("review_comment", worker="w", file="lib.py", line=6, code="    return x * 1  # was a sum", text="keep the sum")
    finally:
        await client.close()


def test_diff_view_unified(room, snap_compare):
    async def run_before(pilot):
        await open_diff(pilot)

    assert snap_compare(app_for(room), terminal_size=SIZE, run_before=run_before)


def test_diff_view_side_by_side(room, snap_compare):
    async def run_before(pilot):
        view = await open_diff(pilot)
        await pilot.press("s")
        await eventually(lambda: "side-by-side hunks" in title_of(view), pilot=pilot, what="the side-by-side title")
        await pilot.pause()  # until idle: drawn anew (no fixed delay)

    assert snap_compare(app_for(room), terminal_size=SIZE, run_before=run_before)
