"""Drive podium's dashboard over the demo session and save the main screens as SVG."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "screenshots"
SIZE = (150, 44)


async def until(pilot, predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        await pilot.pause(0.1)


async def main() -> None:
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="pshot")
    ws = Path(tempfile.mkdtemp(prefix="podium-demo-")) / "demo"
    ws.mkdir()
    from podium.sessions.client import SupervisorClient
    from podium.tui.app import PodiumApp
    from podium.sessions.demo.session import start_demo
    from podium.sessions.config import Config

    await start_demo(ws)
    app = PodiumApp(ws, autostart=False, config=Config())
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: len(app.dashboard.panes) == 4 and all(p.frames for p in app.dashboard.panes.values()))
            await until(pilot, lambda: any("[y/N]" in r for r in app.dashboard.panes["approval"].screen_text()))
            await until(pilot, lambda: app.link.roster.get("agent", {}).get("state") == "done")
            await until(pilot, lambda: any(e["state"] == "pending" for e in app.link.escalations.values()))
            await pilot.press("e")
            await pilot.pause(0.5)
            app.save_screenshot(str(OUT / "inbox.svg"))
            await pilot.press("escape")
            await pilot.press("4", "enter", *"ls -la | head -5", "enter")
            await pilot.pause(1.0)
            await pilot.press("ctrl+right_square_bracket", "2")
            await pilot.pause(0.5)
            app.save_screenshot(str(OUT / "dashboard.svg"))
            await pilot.press("3", "z")
            await pilot.pause(0.8)
            app.save_screenshot(str(OUT / "zoomed.svg"))
            await pilot.press("z", "4", "enter")
            await pilot.pause(0.3)
            app.save_screenshot(str(OUT / "interactive.svg"))
            await pilot.press("ctrl+right_square_bracket", "3", "pageup", "pageup")
            await pilot.pause(0.6)
            app.save_screenshot(str(OUT / "scrollback.svg"))
            await pilot.press("escape", "1")  # the agent opens on its structured view
            await pilot.pause(0.6)
            app.save_screenshot(str(OUT / "structured.svg"))
            await pilot.press("p")
            await pilot.pause(0.6)
            await pilot.press("o")
            await pilot.pause(0.6)
            app.save_screenshot(str(OUT / "result.svg"))
            await pilot.press("escape", "J")
            await pilot.pause(0.4)
            app.save_screenshot(str(OUT / "journal.svg"))
            await pilot.press("escape", "escape", "question_mark")
            await pilot.pause(0.3)
            app.save_screenshot(str(OUT / "help.svg"))
            await pilot.press("escape", "n")
            await pilot.pause(0.3)
            app.screen.query_one("#name").value = "scout-1"
            app.screen.query_one("#task").text = "Map where the transcript is written and read; change nothing."
            await pilot.pause(0.3)
            app.save_screenshot(str(OUT / "new-worker.svg"))
            await pilot.press("escape", "P", "s")  # the demo's plan: review → fix → verify
            await until(pilot, lambda: any(t["id"] == "fix-rows-fix1" and t["state"] == "running" for t in app.link.plan["tasks"]))
            await pilot.press("down", "down", "down", "down")
            await pilot.pause(0.8)
            app.save_screenshot(str(OUT / "plan.svg"))
            await until(pilot, lambda: any(t["id"] == "stuck" and t.get("watch_step", 0) >= 1 for t in app.link.plan["tasks"]))
            await pilot.press("down")
            await pilot.pause(0.8)
            app.save_screenshot(str(OUT / "plan-watchdog.svg"))  # the stuck task: stale, the watchdog's steps
            await until(pilot, lambda: app.link.plan["state"] == "complete", timeout=30)
            await pilot.press("escape", "escape")
            await pilot.pause(0.6)
            app.save_screenshot(str(OUT / "plan-dashboard.svg"))
            await pilot.press("P", "m")  # its writers' worktrees, merged in plan order
            await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
            await pilot.pause(0.4)
            app.save_screenshot(str(OUT / "plan-merge.svg"))
            await pilot.press("n")
    finally:
        client = await SupervisorClient.connect(ws)
        await client.request("stop", grace=0.5)
        await client.close()
        shutil.rmtree(ws.parent, ignore_errors=True)
    await diff_shot()
    if os.environ.get("PNG"):
        for svg in sorted(OUT.glob("*.svg")):
            subprocess.run(["rsvg-convert", str(svg), "-o", str(svg.with_suffix(".png"))], check=True)
    print("wrote", ", ".join(p.name for p in sorted(OUT.glob("*.svg"))))


async def diff_shot() -> None:
    """The diff view over a writer in a worktree of a small repository made here."""
    from podium.sessions.client import connect_or_start
    from podium.sessions.config import Config
    from podium.tui.app import PodiumApp

    ws = Path(tempfile.mkdtemp(prefix="podium-diff-")) / "repo"
    ws.mkdir()
    run = lambda *a: subprocess.run(a, cwd=ws, check=True, capture_output=True)  # noqa: E731
    run("git", "init", "-q", "-b", "main")
    run("git", "config", "user.email", "demo@example.com")
    run("git", "config", "user.name", "demo")
    (ws / "rows.py").write_text("def rows(text):\n    return text.split('\\n')[:-1]\n")
    (ws / ".gitignore").write_text(".podium/\n")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "start")
    fix = "printf 'def rows(text):\\n    return text.splitlines()\\n' > rows.py && printf 'from rows import rows\\n\\ndef test_last_row():\\n    assert rows(\"a\\\\nb\") == [\"a\", \"b\"]\\n' > test_rows.py && git add -A && git commit -q -m fix && echo 'COMPLETED: rows() keeps the last row'"
    client, _ = await connect_or_start(ws, client="shots")
    try:
        await client.request("worktree_spawn", name="fix-rows", argv=["sh", "-c", fix])
        app = PodiumApp(ws, autostart=False, config=Config())
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.link.roster.get("fix-rows", {}).get("state") == "done")
            await pilot.press("1", "D")
            await until(pilot, lambda: getattr(app.screen, "diff", {}).get("files"))
            await pilot.press("c", *"also strip a trailing \\r", "enter")
            await pilot.pause(1.0)
            app.save_screenshot(str(OUT / "diff.svg"))
            await pilot.press("s")
            await pilot.pause(0.6)
            app.save_screenshot(str(OUT / "diff-side.svg"))
        await client.request("stop", grace=0.5)
    finally:
        await client.close()
        shutil.rmtree(ws.parent, ignore_errors=True)
        shutil.rmtree(ws.parent.parent / ".podium-worktrees" / ws.parent.name, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
