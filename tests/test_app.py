"""The dashboard through Pilot, against a real supervisor with real worker processes:
every binding, interactive mode, scrollback and search, dialogs, config, a slow supervisor."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import kill_everything_under, shut_down, text_of

from podium.sessions.client import connect_or_start
from podium.tui.app import DashboardScreen, PodiumApp
from podium.sessions.config import Config
from podium.tui.screens import ConfirmScreen, HelpScreen, NewWorkerScreen, PromptScreen, QuitScreen
from podium.widgets.terminal_pane import TerminalPane

TRAP = textwrap.dedent(
    """
    import signal, sys, time
    signal.signal(signal.SIGINT, lambda *a: print("got SIGINT", flush=True))
    print("trap ready", flush=True)
    while True:
        time.sleep(0.1)
    """
)


@pytest.fixture
async def room(workspace, tmp_path):
    """A supervisor with three workers: a cat, a SIGINT-trapping python, a long log."""
    client, _ = await connect_or_start(workspace, client="test")
    try:
        trap = tmp_path / "trap.py"
        trap.write_text(TRAP)
        await client.request("spawn", name="cat", argv=["cat"])
        await client.request("spawn", name="trap", argv=[sys.executable, "-u", str(trap)])
        await client.request(
            "spawn", name="log", argv=["bash", "-c", "for i in $(seq 1 3000); do echo \"log line $i\"; done; echo NEEDLE-old; echo tail; sleep 300"]
        )
        yield workspace, client
    finally:
        await shut_down(client, workspace)


def make_app(ws: Path, **config) -> PodiumApp:
    return PodiumApp(ws, autostart=False, config=Config(**config))


async def until(pilot, predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def pane(app: PodiumApp, name: str) -> TerminalPane:
    return app.dashboard.panes[name]


def pane_has(app: PodiumApp, name: str, text: str) -> bool:
    p = app.dashboard.panes.get(name)
    return p is not None and any(text in row for row in p.screen_text())


async def ready(pilot, app):
    await until(pilot, lambda: len(app.dashboard.panes) == 3, what="three panes")
    await until(pilot, lambda: pane_has(app, "trap", "trap ready"), what="trap's screen")
    await until(pilot, lambda: pane_has(app, "log", "tail"), what="log's screen")


async def test_panes_show_live_screens_and_focus_keys(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        rendered = pane(app, "log").render_line(pane(app, "log").cursor[1] - 1).text
        assert "tail" in rendered  # the Line API draws the row the supervisor sent
        await pilot.press("1")
        assert app.focused is pane(app, "cat")
        await pilot.press("tab")
        assert app.focused is pane(app, "trap")
        await pilot.press("shift+tab")
        assert app.focused is pane(app, "cat")
        await pilot.press("3")
        assert app.focused is pane(app, "log")
        await pilot.press("z")
        assert not pane(app, "cat").display and pane(app, "log").display
        await pilot.press("z")
        assert pane(app, "cat").display


async def test_interactive_mode_sends_every_key_and_ctrl_bracket_leaves(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("1", "enter")
        assert app.dashboard.interactive is pane(app, "cat")
        assert "INTERACTIVE" in str(pane(app, "cat").border_subtitle)
        await pilot.press(*"hello", "enter")
        await until(pilot, lambda: sum("hello" in r for r in pane(app, "cat").screen_text()) >= 2, what="cat echo")
        # Keys that are podium's elsewhere belong to the worker here.
        await pilot.press("z", "n", "question_mark", "enter")
        await until(pilot, lambda: sum("zn?" in r for r in pane(app, "cat").screen_text()) >= 2, what="zn? echoed")
        assert not isinstance(app.screen, HelpScreen) and pane(app, "trap").display
        await pilot.press("ctrl+right_square_bracket")
        assert app.dashboard.interactive is None
        # Ctrl+C in interactive mode goes to the worker, and never quits podium.
        await pilot.press("2", "enter", "ctrl+c")
        await until(pilot, lambda: pane_has(app, "trap", "got SIGINT"), what="SIGINT in the trap")
        assert app.is_running
        await pilot.press("ctrl+right_square_bracket")


async def test_bracketed_paste_when_the_program_asks(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        p = pane(app, "cat")
        await pilot.press("1", "enter")
        p.bracketed_paste = True
        typed: list[bytes] = []
        original = app.send_keys
        app.send_keys = lambda worker, data: (typed.append(data), original(worker, data))
        app.dashboard.interactive.post_message(__import__("textual").events.Paste("two\nlines"))
        await until(pilot, lambda: typed, what="paste sent")
        assert typed[-1] == b"\x1b[200~two\rlines\x1b[201~"


async def test_ctrl_c_interrupts_the_focused_worker(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("2", "ctrl+c")
        await until(pilot, lambda: pane_has(app, "trap", "got SIGINT"), what="interrupt")
        assert app.is_running


async def test_pause_continue_and_kill(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("1", "s")
        await until(pilot, lambda: app.roster["cat"]["state"] == "paused", what="paused")
        await pilot.press("s")
        await until(pilot, lambda: app.roster["cat"]["state"] == "running", what="continued")
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.roster["cat"]["state"] == "running"
        await pilot.press("k", "y")
        await until(pilot, lambda: app.roster["cat"]["state"] == "interrupted", what="killed")
        assert "podium kill" in app.roster["cat"]["reason"]
        # The dead worker's keys are dimmed, not silently ignored.
        assert app.dashboard.check_action("interrupt", ()) is None
        assert app.dashboard.check_action("kill", ()) is None


async def test_scrollback_and_search_over_the_transcript(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("3", "pageup")
        p = pane(app, "log")
        assert p.scrollback is not None and "SCROLLBACK" in str(p.border_subtitle)
        top = p.scrollback.top
        await pilot.press("pageup")
        assert p.scrollback.top < top
        await pilot.press("slash")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"needle", "enter")  # smart case: lower case matches NEEDLE
        await until(pilot, lambda: p.scrollback is not None and p.scrollback.match is not None, what="a match")
        assert p.scrollback.index.line(p.scrollback.match) == b"NEEDLE-old\r"
        shown = [p.render_line(y).text for y in range(p.size.height)]
        assert any(row.startswith("NEEDLE-old") for row in shown)
        await pilot.press("slash", *"no such thing", "enter")
        await pilot.pause(0.5)
        assert "not found" in str(p.border_subtitle)
        await pilot.press("escape")
        assert p.scrollback is None


async def test_new_worker_dialog_starts_a_worker(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("n")
        assert isinstance(app.screen, NewWorkerScreen)
        await pilot.press("ctrl+s")  # nothing filled in: a clear error, nothing started
        assert isinstance(app.screen, NewWorkerScreen)
        assert "Name" in str(app.screen.query_one("#error").render())
        app.screen.query_one("#name").value = "fresh"
        app.screen.query_one("#task").text = "echo made by the dialog; sleep 30"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "fresh" in app.roster, what="the new worker")
        await until(pilot, lambda: pane_has(app, "fresh", "made by the dialog"), what="its pane")


async def test_help_lists_every_binding(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for b in DashboardScreen.BINDINGS + PodiumApp.BINDINGS:
            assert b.description in text
        await pilot.press("escape")
        assert app.screen is app.dashboard


async def test_detach_leaves_workers_running(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("d")
        await pilot.pause(0.2)
    assert "detached" in (app.return_value or "")
    workers = {w["name"]: w for w in await client.request("ls")}
    assert all(w["state"] == "running" for w in workers.values())


async def test_ctrl_q_asks_detach_or_stop(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")
        assert app.screen is app.dashboard and app.is_running
        await pilot.press("ctrl+q", "s")
        await until(pilot, lambda: not app.is_running, what="exit")
    assert "stopped every worker" in (app.return_value or "")
    await asyncio.wait_for(client.closed.wait(), 15)


async def test_keys_remap_from_config_and_a_bad_theme_falls_back(room):
    ws, client = room
    app = make_app(ws, keys={"podium.zoom": "x", "no.such.binding": "q"}, theme="neon-nonsense", path=Path("/cfg.toml"))
    notes: list[str] = []
    original = app.notify
    app.notify = lambda message, **kw: (notes.append(str(message)), original(message, **kw))
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        assert app.theme == "podium-dark"
        assert any("unknown theme 'neon-nonsense'" in n for n in notes)
        assert any("no.such.binding" in n for n in notes)
        await pilot.press("3", "x")
        assert app.dashboard.zoomed


async def test_the_ui_never_waits_for_a_slow_supervisor(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        sup = client.info["pid"]
        os.kill(sup, signal.SIGSTOP)  # the supervisor answers nothing now
        try:
            started = time.monotonic()
            await pilot.press("2", "ctrl+c", "tab", "question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape", "z")
            assert app.dashboard.zoomed
            await pilot.press("z")
            assert time.monotonic() - started < 5
        finally:
            os.kill(sup, signal.SIGCONT)
        await until(pilot, lambda: pane_has(app, "trap", "got SIGINT"), what="the interrupt, delivered late")


async def test_command_palette_offers_worker_commands(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("ctrl+p")
        await pilot.press(*"zoom log")
        await pilot.pause(0.6)
        await pilot.press("enter")
        await until(pilot, lambda: app.dashboard.zoomed, what="zoom from the palette")
        assert app.focused is pane(app, "log")


async def test_reconnects_after_the_supervisor_is_killed(room):
    ws, client = room
    app = PodiumApp(ws, autostart=True, config=Config())
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        old = client.info["pid"]
        os.kill(old, signal.SIGKILL)
        await until(pilot, lambda: app.client is not None and app.client.info.get("pid") not in (None, old), timeout=20, what="a new supervisor")
        await until(pilot, lambda: pane_has(app, "log", "tail"), what="screens back")
        assert app.roster["cat"]["state"] == "running"
    # The fixture's client was connected to the dead supervisor: stop the new one here.
    from podium.sessions.client import SupervisorClient

    c = await SupervisorClient.connect(ws)
    await c.request("stop", grace=0.5)
    await c.close()


async def test_more_than_nine_workers_page(workspace):
    client, _ = await connect_or_start(workspace, client="test")
    try:
        for i in range(11):
            await client.request("spawn", name=f"w{i:02d}", argv=["bash", "-c", f"echo worker-{i}; sleep 300"])
        app = make_app(workspace)
        async with app.run_test(size=(160, 50)) as pilot:
            await until(pilot, lambda: len(app.dashboard.panes) == 9, what="nine panes")
            assert list(app.dashboard.panes) == [f"w{i:02d}" for i in range(9)]
            await pilot.press("right_square_bracket")
            await until(pilot, lambda: list(app.dashboard.panes) == ["w09", "w10"], what="page 2")
            await until(pilot, lambda: pane_has(app, "w10", "worker-10"), what="page 2 screens")
            await pilot.press("left_square_bracket")
            await until(pilot, lambda: "w00" in app.dashboard.panes, what="page 1 again")
            # Focusing a worker on another page turns to it.
            app.dashboard.focus_worker("w10")
            await until(pilot, lambda: app.focused is app.dashboard.panes.get("w10"), what="w10 focused")
            await pilot.press("pageup", "pagedown")
            assert app.dashboard.panes["w10"].scrollback is None  # paging past the end: live
    finally:
        await client.request("stop", grace=0.5)
        await client.close()
        kill_everything_under(workspace)


async def test_structured_view_and_resume_of_an_agent_worker(workspace):
    import sys as _sys

    from podium.widgets.agent_view import AgentView

    client, _ = await connect_or_start(workspace, client="test")
    try:
        lm = workspace / ".podium/workers/agent/last-message.md"
        argv = [_sys.executable, "-m", "podium.sessions.demo.agent", "exec", "--json", "--pace", "0.05", "-o", str(lm), "count files"]
        await client.request("spawn", name="agent", argv=argv, kind="codex")
        app = make_app(workspace)
        async with app.run_test(size=(160, 45)) as pilot:
            await until(pilot, lambda: app.roster.get("agent", {}).get("state") == "done", what="agent done")
            w = app.roster["agent"]
            assert w["mode"] == "codex-exec" and w["signals"] == {"exit_code": True, "turn_completed": True, "last_message": True}
            assert w["tokens"] > 0
            await pilot.press("1", "v")
            await until(pilot, lambda: "agent" in app.dashboard.views, what="structured view")
            view = app.dashboard.views["agent"]
            await until(pilot, lambda: view.rendered >= 4, what="events rendered")
            text = "\n".join(text_of(static) for static in view.query("Static"))
            assert "$ find . -name '*.py' | wc -l" in text and "exit 0" in text and "COMPLETED" in text
            assert not app.dashboard.panes["agent"].display
            await pilot.press("v")  # back to the raw terminal
            assert "agent" not in app.dashboard.views and app.dashboard.panes["agent"].display
            first_thread = w["session_id"]
            await pilot.press("r")
            assert isinstance(app.screen, PromptScreen)
            await pilot.press("enter")  # the default follow-up: "continue"
            await until(pilot, lambda: app.roster["agent"]["runs"] == 2 and app.roster["agent"]["state"] == "done", what="resumed run done")
            assert app.roster["agent"]["session_id"] == first_thread
            await until(pilot, lambda: pane_has(app, "agent", "podium: run 2 of agent"), what="divider on screen")
            # A shell worker has nothing to resume: the key is dimmed.
            await client.request("spawn", name="plain", argv=["true"])
            await until(pilot, lambda: app.roster.get("plain", {}).get("state") == "done", what="plain done")
            await until(pilot, lambda: "plain" in app.dashboard.panes, what="plain's pane")
            await pilot.press("2")
            await until(pilot, lambda: app.focused is app.dashboard.panes["plain"], what="plain focused")
            assert app.dashboard.check_action("resume", ()) is None
            assert app.dashboard.check_action("view", ()) is None
    finally:
        await shut_down(client, workspace)
