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
from textual.events import MouseScrollUp
from conftest import eventually, kill_everything_under, notices, record_notices, shut_down, text_of, type_in_one_breath

from podium.sessions.blackboard import read_journal
from podium.sessions.client import connect_or_start
from podium.tui.app import DashboardScreen, PodiumApp
from podium.sessions.config import Config
from podium.tui.screens import ConfirmScreen, HelpScreen, NewWorkerScreen, PromptScreen, QuitScreen
from podium.widgets.status_bar import StatusBar
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


def pane(app: PodiumApp, name: str) -> TerminalPane:
    return app.dashboard.panes[name]


def pane_has(app: PodiumApp, name: str, text: str) -> bool:
    p = app.dashboard.panes.get(name)
    return p is not None and any(text in row for row in p.screen_text())


async def ready(pilot, app):
    await eventually(lambda: len(app.dashboard.panes) == 3, pilot=pilot, what="three panes")
    await eventually(lambda: pane_has(app, "trap", "trap ready"), pilot=pilot, what="trap's screen")
    await eventually(lambda: pane_has(app, "log", "tail"), pilot=pilot, what="log's screen")


async def test_panes_show_live_screens_and_focus_keys(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        log = pane(app, "log")
        # The Line API draws the row the supervisor sent: the row above the cursor, once the
        # widget has taken the frame that put "tail" there (wait for that row itself).
        row_above_cursor = lambda: log.render_line(log.cursor[1] - 1).text  # noqa: E731
        await eventually(lambda: "tail" in row_above_cursor(), pilot=pilot, what="'tail' drawn on the row above the log's cursor", show=row_above_cursor)
        assert "tail" in row_above_cursor()
        focused = lambda: app.focused  # noqa: E731
        await pilot.press("1")
        await eventually(lambda: app.focused is pane(app, "cat"), pilot=pilot, what="cat focused by 1", show=focused)
        await pilot.press("tab")
        await eventually(lambda: app.focused is pane(app, "trap"), pilot=pilot, what="trap focused by tab", show=focused)
        await pilot.press("shift+tab")
        await eventually(lambda: app.focused is pane(app, "cat"), pilot=pilot, what="cat focused by shift+tab", show=focused)
        await pilot.press("3")
        await eventually(lambda: app.focused is pane(app, "log"), pilot=pilot, what="log focused by 3", show=focused)
        displayed = lambda: {name: p.display for name, p in app.dashboard.panes.items()}  # noqa: E731
        await pilot.press("z")
        await eventually(lambda: not pane(app, "cat").display and pane(app, "log").display, pilot=pilot, what="log zoomed: cat hidden, log shown", show=displayed)
        await pilot.press("z")
        await eventually(lambda: pane(app, "cat").display, pilot=pilot, what="unzoomed: cat shown again", show=displayed)


async def test_interactive_mode_sends_every_key_and_ctrl_bracket_leaves(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("1", "enter")
        assert app.dashboard.interactive is pane(app, "cat")
        assert "INTERACTIVE" in str(pane(app, "cat").border_subtitle)
        await pilot.press(*"hello", "enter")
        await eventually(lambda: sum("hello" in r for r in pane(app, "cat").screen_text()) >= 2, pilot=pilot, what="cat echo")
        # Keys that are podium's elsewhere belong to the worker here.
        await pilot.press("z", "n", "question_mark", "enter")
        await eventually(lambda: sum("zn?" in r for r in pane(app, "cat").screen_text()) >= 2, pilot=pilot, what="zn? echoed")
        assert not isinstance(app.screen, HelpScreen) and pane(app, "trap").display
        await pilot.press("ctrl+right_square_bracket")
        assert app.dashboard.interactive is None
        # Ctrl+C in interactive mode goes to the worker, and never quits podium.
        await pilot.press("2", "enter", "ctrl+c")
        await eventually(lambda: pane_has(app, "trap", "got SIGINT"), pilot=pilot, what="SIGINT in the trap")
        assert app.is_running
        await pilot.press("ctrl+right_square_bracket")
        assert app.dashboard.interactive is None and "INTERACTIVE" not in str(pane(app, "trap").border_subtitle)


async def test_bracketed_paste_when_the_program_asks(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        p = pane(app, "cat")
        await pilot.press("1", "enter")
        p.bracketed_paste = True
        typed: list[bytes] = []
        original = app.link.send_keys
        app.link.send_keys = lambda worker, data: (typed.append(data), original(worker, data))
        app.dashboard.interactive.post_message(__import__("textual").events.Paste("two\nlines"))
        await eventually(lambda: typed, pilot=pilot, what="paste sent")
        assert typed[-1] == b"\x1b[200~two\rlines\x1b[201~"


async def test_ctrl_c_interrupts_the_focused_worker(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("2", "ctrl+c")
        await eventually(lambda: pane_has(app, "trap", "got SIGINT"), pilot=pilot, what="interrupt")
        assert app.is_running


async def test_pause_continue_and_kill(room):
    ws, client = room
    app = make_app(ws)
    record_notices(app)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("1", "s")
        await eventually(lambda: app.link.roster["cat"]["state"] == "paused", pilot=pilot, what="paused")
        await pilot.press("s")
        await eventually(lambda: app.link.roster["cat"]["state"] == "running", pilot=pilot, what="continued")
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # refused: the dialog goes, nothing is sent
        assert app.screen is app.dashboard and app.link.roster["cat"]["state"] == "running"
        assert "Terminating cat" not in notices(app)
        await pilot.press("k", "y")
        await eventually(lambda: app.link.roster["cat"]["state"] == "interrupted", pilot=pilot, what="killed")
        assert "podium kill" in app.link.roster["cat"]["reason"]
        assert notices(app).count("Terminating cat") == 1
        # The status bar says it in the list's words: interrupted, not failed.
        bar = lambda: str(app.dashboard.query_one(StatusBar).render())  # noqa: E731
        await eventually(lambda: "1 interrupted" in bar(), pilot=pilot, what="the status bar's count", show=bar)
        assert "0 failed" in bar() and "2 running" in bar()
        # Exactly the signals asked for reached the supervisor, in order: the refused kill
        # sent nothing (its signal would be here before the confirmed one). A kill closes
        # the worker as a closed terminal would: SIGHUP first.
        signals = lambda: [e["signal"] for e in read_journal(ws / ".podium/journal.jsonl")[0] if e["type"] == "signal" and e.get("worker") == "cat"]  # noqa: E731
        await eventually(lambda: "SIGHUP" in signals(), pilot=pilot, what="the kill in the journal", show=signals)
        assert signals() == ["SIGSTOP", "SIGCONT", "SIGHUP"]
        # The dead worker's keys are dimmed, not silently ignored.
        assert app.dashboard.check_action("interrupt", ()) is None
        assert app.dashboard.check_action("kill", ()) is None


@pytest.mark.slow
async def test_scrollback_and_search_over_the_transcript(room):
    ws, client = room
    app = make_app(ws)
    record_notices(app)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("3", "pageup")
        sb = await eventually(lambda: app.dashboard.grid.scrollbacks.get("log"), pilot=pilot, what="the log's scrollback")
        await eventually(lambda: app.focused is sb and sb.index is not None, pilot=pilot, what="scrollback focused, its index built")
        assert "SCROLLBACK" in str(sb.border_subtitle) and not pane(app, "log").display
        top = sb.top
        await pilot.press("pageup")
        await eventually(lambda: sb.top < top, pilot=pilot, what="a page up")
        await pilot.press("slash")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"needle", "enter")  # smart case: lower case matches NEEDLE
        await eventually(lambda: sb.match is not None, pilot=pilot, what="a match")
        assert sb.index.line(sb.match) == b"NEEDLE-old\r"
        shown = [sb.render_line(y).text for y in range(sb.size.height)]
        assert any(row.startswith("NEEDLE-old") for row in shown)
        await pilot.press("slash", *"no such thing", "enter")
        await eventually(lambda: "not found" in str(sb.border_subtitle), pilot=pilot, what="'not found' on the scrollback", show=lambda: str(sb.border_subtitle))
        await eventually(lambda: "'no such thing' not found above this point" in notices(app), pilot=pilot, what="the not-found notice", show=lambda: notices(app))
        await pilot.press("escape")
        await eventually(lambda: "log" not in app.dashboard.grid.scrollbacks and pane(app, "log").display, pilot=pilot, what="back to live")
        # The mouse wheel over a live pane opens its scrollback too.
        log_pane = pane(app, "log")
        log_pane.post_message(MouseScrollUp(log_pane, 5, 5, 0, -1, 0, False, False, False))
        await eventually(lambda: "log" in app.dashboard.grid.scrollbacks, pilot=pilot, what="the wheel's scrollback")
        # Leaving it and going on in one breath: the closing scrollback must not take the
        # focus back from the worker the next key chose.
        await eventually(lambda: app.focused is app.dashboard.grid.scrollbacks["log"], pilot=pilot, what="the wheel's scrollback focused")
        type_in_one_breath(app, "escape", "2", "ctrl+c")
        await eventually(lambda: pane_has(app, "trap", "got SIGINT"), pilot=pilot, what="Ctrl+C to worker 2, typed right after escape")
        assert app.dashboard.focused_name() == "trap"


async def test_new_worker_dialog_starts_a_worker(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("n", *"quick")  # n, then the name at once: the Name field has focus
        assert isinstance(app.screen, NewWorkerScreen)
        assert app.screen.query_one("#name").value == "quick"
        app.screen.query_one("#name").value = ""
        await pilot.press("ctrl+s")  # nothing filled in: a clear error, nothing started
        assert isinstance(app.screen, NewWorkerScreen)
        assert "Name" in str(app.screen.query_one("#error").render())
        app.screen.query_one("#name").value = "fresh"
        app.screen.query_one("#task").text = "echo made by the dialog; sleep 30"
        await pilot.press("ctrl+s")
        await eventually(lambda: "fresh" in app.link.roster, pilot=pilot, what="the new worker")
        await eventually(lambda: pane_has(app, "fresh", "made by the dialog"), pilot=pilot, what="its pane")
        assert sorted(app.link.roster) == ["cat", "fresh", "log", "trap"]  # the empty form started nothing
        assert [w["name"] for w in await client.request("ls")] == ["cat", "trap", "log", "fresh"]


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
        await eventually(lambda: not app.is_running, pilot=pilot, what="the app to exit")
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
        await eventually(lambda: not app.is_running, pilot=pilot, what="exit")
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
        assert app.dashboard.grid.zoomed


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
            assert app.dashboard.grid.zoomed
            await pilot.press("z")
            assert time.monotonic() - started < 5
        finally:
            os.kill(sup, signal.SIGCONT)
        await eventually(lambda: pane_has(app, "trap", "got SIGINT"), pilot=pilot, what="the interrupt, delivered late")


async def test_command_palette_offers_worker_commands(room):
    ws, client = room
    app = make_app(ws)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        await pilot.press("ctrl+p")
        await pilot.press(*"zoom log")
        # Enter runs the highlighted command: wait until the search has put it there.
        await eventually(lambda: palette_highlight(app) == "Zoom log", pilot=pilot, what="'Zoom log' highlighted in the palette", show=lambda: palette_highlight(app))
        await pilot.press("enter")
        zoomed_on_log = lambda: (  # noqa: E731
            app.dashboard.grid.zoomed
            and app.focused is pane(app, "log")
            and pane(app, "log").display
            and not any(p.display for name, p in app.dashboard.panes.items() if name != "log")
        )
        state = lambda: (app.dashboard.grid.zoomed, app.focused, {name: p.display for name, p in app.dashboard.panes.items()})  # noqa: E731
        await eventually(zoomed_on_log, pilot=pilot, what="zoom from the palette: zoomed, log focused and the only pane shown", show=state)


def palette_highlight(app) -> str | None:
    """The text of the command palette's highlighted command (None: no palette, no list)."""
    from textual.command import CommandList, CommandPalette

    if not isinstance(app.screen, CommandPalette):
        return None
    commands = app.screen.query_one(CommandList)
    if commands.highlighted is None or not commands.option_count:
        return None
    prompt = commands.get_option_at_index(commands.highlighted).prompt
    return getattr(prompt, "plain", str(prompt)).splitlines()[0]  # the command, not its help line


async def test_reconnects_after_the_supervisor_is_killed(room):
    ws, client = room
    app = PodiumApp(ws, autostart=True, config=Config())
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot, app)
        old = client.info["pid"]
        os.kill(old, signal.SIGKILL)
        await eventually(lambda: app.link.client is not None and app.link.client.info.get("pid") not in (None, old), timeout=20, pilot=pilot, what="a new supervisor")
        await eventually(lambda: pane_has(app, "log", "tail"), pilot=pilot, what="screens back")
        assert app.link.roster["cat"]["state"] == "running"
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
            await eventually(lambda: len(app.dashboard.panes) == 9, pilot=pilot, what="nine panes")
            assert list(app.dashboard.panes) == [f"w{i:02d}" for i in range(9)]
            await pilot.press("right_square_bracket")
            await eventually(lambda: list(app.dashboard.panes) == ["w09", "w10"], pilot=pilot, what="page 2")
            await eventually(lambda: pane_has(app, "w10", "worker-10"), pilot=pilot, what="page 2 screens")
            await pilot.press("left_square_bracket")
            await eventually(lambda: "w00" in app.dashboard.panes, pilot=pilot, what="page 1 again")
            # Focusing a worker on another page turns to it.
            app.dashboard.focus_worker("w10")
            await eventually(lambda: app.focused is app.dashboard.panes.get("w10"), pilot=pilot, what="w10 focused")
            await pilot.press("pageup")
            await eventually(lambda: "w10" in app.dashboard.grid.scrollbacks, pilot=pilot, what="scrolled back")
            await eventually(lambda: app.focused is app.dashboard.grid.scrollbacks.get("w10"), pilot=pilot, what="the scrollback focused")
            await pilot.press("pagedown")  # paging past the end: live
            await eventually(lambda: "w10" not in app.dashboard.grid.scrollbacks, pilot=pilot, what="live again")
    finally:
        await client.request("stop", grace=0.5)
        await client.close()
        kill_everything_under(workspace)


@pytest.mark.slow
async def test_structured_view_and_resume_of_an_agent_worker(workspace):
    import sys as _sys


    client, _ = await connect_or_start(workspace, client="test")
    try:
        lm = workspace / ".podium/workers/agent/last-message.md"
        argv = [_sys.executable, "-m", "podium.sessions.demo.agent", "exec", "--json", "--pace", "0.05", "-o", str(lm), "count files"]
        await client.request("spawn", name="agent", argv=argv, kind="codex")
        app = make_app(workspace)
        async with app.run_test(size=(160, 45)) as pilot:
            await eventually(lambda: app.link.roster.get("agent", {}).get("state") == "done", pilot=pilot, what="agent done")
            w = app.link.roster["agent"]
            assert w["mode"] == "codex-exec" and w["signals"] == {"exit_code": True, "turn_completed": True, "last_message": True}
            assert w["tokens"] > 0
            # An agent that speaks JSONL opens on its structured view.
            await eventually(lambda: "agent" in app.dashboard.grid.views and not app.dashboard.panes["agent"].display, pilot=pilot, what="structured view, laid out")
            view = app.dashboard.grid.views["agent"]

            def shown() -> str:
                return "\n".join(text_of(static) for static in view.query("Static"))

            # Wait for exactly what is asserted: the view renders events as they are read.
            await eventually(
                lambda: all(s in shown() for s in ("$ find . -name '*.py' | wc -l", "exit 0", "COMPLETED")), pilot=pilot, what="the command, its exit and the report", show=shown
            )
            assert not app.dashboard.panes["agent"].display
            await pilot.press("1", "v")  # the raw terminal, one key away
            await eventually(lambda: "agent" not in app.dashboard.grid.views and app.dashboard.panes["agent"].display, pilot=pilot, what="the raw terminal")
            assert app.dashboard.grid.raw["agent"]  # remembered: a relayout keeps the choice
            first_thread = w["session_id"]
            await pilot.press("r")
            assert isinstance(app.screen, PromptScreen)
            await pilot.press("enter")  # the default follow-up: "continue"
            await eventually(lambda: app.link.roster["agent"]["runs"] == 2 and app.link.roster["agent"]["state"] == "done", pilot=pilot, what="resumed run done")
            assert app.link.roster["agent"]["session_id"] == first_thread
            await eventually(lambda: pane_has(app, "agent", "podium: run 2 of agent"), pilot=pilot, what="divider on screen")
            # A shell worker has nothing to resume: the key is dimmed.
            await client.request("spawn", name="plain", argv=["true"])
            await eventually(lambda: app.link.roster.get("plain", {}).get("state") == "done", pilot=pilot, what="plain done")
            await eventually(lambda: "plain" in app.dashboard.panes, pilot=pilot, what="plain's pane")
            await pilot.press("2")
            await eventually(lambda: app.focused is app.dashboard.panes["plain"], pilot=pilot, what="plain focused")
            assert app.dashboard.check_action("resume", ()) is None
            assert app.dashboard.check_action("view", ()) is None
    finally:
        await shut_down(client, workspace)
