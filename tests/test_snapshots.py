"""Snapshot tests of the main screens (pytest-textual-snapshot), made stable: a fixed
size, deterministic workers that have finished drawing, no user config, fixed ages."""

from __future__ import annotations

import json
import time

import pytest
from conftest import kill_everything_under, podium_cli

import podium.widgets.worker_list as worker_list
from podium.tui.app import PodiumApp
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
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ls = {w["name"]: w for w in json.loads(podium_cli("-w", str(workspace), "ls", "--json").stdout)}
        if ls["agent"]["state"] == "done" and ls["tests"]["state"] == "failed":
            break
        time.sleep(0.1)
    time.sleep(0.5)  # the running workers have drawn their first screens
    monkeypatch.setattr(worker_list, "short_age", lambda iso, now: "-" if not iso else "5s")
    monkeypatch.setattr(worker_list, "elapsed", lambda w, now: "12s")
    return workspace


def app_for(ws) -> PodiumApp:
    return PodiumApp(ws, autostart=False, config=Config())


async def settled(pilot) -> None:
    app = pilot.app
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        panes = app.dashboard.panes
        if len(panes) == 4 and all(p.frames for p in panes.values()) and any(">>>" in r for r in panes["repl"].screen_text()):
            break
        await pilot.pause(0.05)
    await pilot.press("1")
    await pilot.pause(0.3)


def test_dashboard(room, snap_compare):
    assert snap_compare(app_for(room), terminal_size=SIZE, run_before=settled)


def test_zoomed_pane(room, snap_compare):
    async def run_before(pilot):
        await settled(pilot)
        await pilot.press("4", "z")
        await pilot.pause(0.5)

    assert snap_compare(app_for(room), terminal_size=SIZE, run_before=run_before)


def test_help_screen(room, snap_compare):
    async def run_before(pilot):
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(app_for(room), terminal_size=SIZE, run_before=run_before)


def test_new_worker_dialog(room, snap_compare):
    async def run_before(pilot):
        await settled(pilot)
        await pilot.press("n")
        await pilot.pause(0.2)
        pilot.app.screen.query_one("#cwd").value = "/home/you/project"
        pilot.app.screen.query_one("#name").value = "scout-1"
        pilot.app.screen.query_one("#name").cursor_blink = False
        await pilot.pause(0.2)

    assert snap_compare(app_for(room), terminal_size=SIZE, run_before=run_before)
