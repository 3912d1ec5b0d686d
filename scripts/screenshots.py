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
    finally:
        client = await SupervisorClient.connect(ws)
        await client.request("stop", grace=0.5)
        await client.close()
        shutil.rmtree(ws.parent, ignore_errors=True)
    if os.environ.get("PNG"):
        for svg in sorted(OUT.glob("*.svg")):
            subprocess.run(["rsvg-convert", str(svg), "-o", str(svg.with_suffix(".png"))], check=True)
    print("wrote", ", ".join(p.name for p in sorted(OUT.glob("*.svg"))))


if __name__ == "__main__":
    asyncio.run(main())
