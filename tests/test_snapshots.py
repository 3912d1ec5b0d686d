"""Snapshot tests of the main screens (pytest-textual-snapshot), made stable: a fixed
size, deterministic workers that have finished drawing, no user config, fixed ages."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import eventually, eventually_sync, kill_everything_under, podium_cli, screen_text, shows

from podium.sessions import units
from podium.tui.app import PodiumApp
from podium.tui.screens import HelpScreen, NewWorkerScreen
from podium.sessions.config import Config

SIZE = (140, 40)
WORKERS = {
    "agent": ["printf", "\\033[1mthinking\\033[0m about the task\\nrunning \\033[32mpytest -q\\033[0m\\n\\033[32m12 passed\\033[0m\\nCOMPLETED: tests pass\\n"],
    "tests": ["bash", "-c", "printf 'collecting...\\n\\033[31mFAILED\\033[0m test_io.py::test_read\\n'; exit 3"],
    "repl": ["python3", "-q", "-i"],
    "build": ["bash", "-c", "for i in 1 2 3 4 5; do printf '[%3d%%] \\033[32mCC\\033[0m module_%d.o\\n' $((i*20)) $i; done; sleep 1000"],
}


@pytest.fixture
def room(workspace, monkeypatch, request):
    def cleanup() -> None:
        podium_cli("-w", str(workspace), "stop", "--yes")
        kill_everything_under(workspace)

    request.addfinalizer(cleanup)  # also when the setup below fails
    assert podium_cli("-w", str(workspace), "start").returncode == 0
    for name, argv in WORKERS.items():
        assert podium_cli("-w", str(workspace), "spawn", name, "--cwd", str(workspace), "--", *argv).returncode == 0

    def finished() -> bool:
        ls = {w["name"]: w for w in json.loads(podium_cli("-w", str(workspace), "ls", "--json").stdout)}
        return ls["agent"]["state"] == "done" and ls["tests"]["state"] == "failed"

    eventually_sync(finished, what="agent done and tests failed")
    asyncio.run(first_screens_drawn(workspace))
    monkeypatch.setattr(units, "age", lambda iso, now: "-" if not iso else "5s")
    monkeypatch.setattr(units, "elapsed", lambda w, now: "12s")
    return workspace


# What each worker's screen shows once it has drawn everything the snapshots show.
DRAWN = {"agent": "COMPLETED: tests pass", "tests": "test_io.py::test_read", "repl": ">>>", "build": "module_5.o"}


async def first_screens_drawn(workspace) -> None:
    from podium.sessions.client import SupervisorClient

    client = await SupervisorClient.connect(workspace, client="test")
    try:
        for name, text in DRAWN.items():
            await eventually(lambda: shows(client, name, text), what=f"{name}'s screen showing {text!r}", show=lambda: screen_text(client, name))
    finally:
        await client.close()


def app_for(ws) -> PodiumApp:
    return PodiumApp(ws, autostart=False, config=Config())


async def settled(pilot) -> None:
    """The dashboard once every pane shows its worker's whole screen, worker 1 focused."""
    app = pilot.app

    def drawn() -> bool:
        panes = app.dashboard.panes
        return len(panes) == 4 and all(p.frames and any(DRAWN[name] in row for row in p.screen_text()) for name, p in panes.items())

    await eventually(drawn, pilot=pilot, what="four panes showing their workers' screens")
    await pilot.press("1")
    await eventually(lambda: app.focused is app.dashboard.panes["agent"], pilot=pilot, what="worker 1 focused")


def test_dashboard(room, snap_compare):
    assert snap_compare(app_for(room), terminal_size=SIZE, run_before=settled)


def test_zoomed_pane(room, snap_compare):
    async def run_before(pilot):
        await settled(pilot)
        await pilot.press("4", "z")
        app = pilot.app
        await eventually(lambda: app.dashboard.grid.zoomed and app.focused is app.dashboard.panes["build"], pilot=pilot, what="build zoomed")
        await eventually(lambda: [n for n, p in app.dashboard.panes.items() if p.display] == ["build"], pilot=pilot, what="only build shown")

    assert snap_compare(app_for(room), terminal_size=SIZE, run_before=run_before)


def test_help_screen(room, snap_compare):
    async def run_before(pilot):
        await settled(pilot)
        await pilot.press("question_mark")
        await eventually(lambda: isinstance(pilot.app.screen, HelpScreen), pilot=pilot, what="the help screen")

    assert snap_compare(app_for(room), terminal_size=SIZE, run_before=run_before)


def test_new_worker_dialog(room, snap_compare):
    async def run_before(pilot):
        await settled(pilot)
        await pilot.press("n")
        await eventually(lambda: isinstance(pilot.app.screen, NewWorkerScreen), pilot=pilot, what="the new-worker dialog")
        pilot.app.screen.query_one("#cwd").value = "/home/you/project"
        pilot.app.screen.query_one("#name").value = "scout-1"
        pilot.app.screen.query_one("#name").cursor_blink = False
        await pilot.pause()  # until idle: the values are drawn (no fixed delay)

    assert snap_compare(app_for(room), terminal_size=SIZE, run_before=run_before)
