"""End to end in tmux: attach, type, lose the client (kill -9, a closed window), attach
again from a new window, and find the same workers and the same screens."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from conftest import kill_everything_under, podium_cli
from tmux_driver import Tmux


@pytest.fixture
def tmux():
    t = Tmux()
    yield t
    t.kill()


@pytest.fixture
def ws(workspace):
    yield workspace
    podium_cli("-w", str(workspace), "stop", "--yes")
    kill_everything_under(workspace)


def test_detach_by_kill_and_by_closed_window_then_reattach(tmux, ws):
    assert podium_cli("-w", str(ws), "start").returncode == 0
    win = tmux.podium_window("one", "attach", "--plain", "-w", str(ws))
    tmux.wait_for(win, "ctrl+] detach")
    assert podium_cli("-w", str(ws), "spawn", "alpha", "--", "bash", "-c", "for i in 1 2 3; do echo alpha-$i; done; sleep 300").returncode == 0
    assert podium_cli("-w", str(ws), "spawn", "py", "--", "python3", "-q", "-i").returncode == 0
    tmux.wait_for(win, "alpha-3")
    tmux.wait_for(win, ">>>")
    tmux.keys(win, "C-n")  # focus the second worker, then type into it
    time.sleep(0.3)
    tmux.keys(win, "print(6*7)", "Enter")
    tmux.wait_for(win, "42")
    before = tmux.settle(win)

    # 1. The client dies hard.
    os.kill(tmux.pane_pid(win), signal.SIGKILL)
    time.sleep(0.5)
    workers = {w["name"]: w for w in json.loads(podium_cli("-w", str(ws), "ls", "--json").stdout)}
    assert workers["alpha"]["state"] == "running" and workers["py"]["state"] == "running"
    win2 = tmux.podium_window("two", "attach", "--plain", "-w", str(ws))
    tmux.wait_for(win2, "42")
    after = tmux.settle(win2)
    assert after == before

    # 2. The window is closed under it (the client gets SIGHUP).
    tmux.run("kill-window", "-t", win2)
    time.sleep(0.5)
    win3 = tmux.podium_window("three", "attach", "--plain", "-w", str(ws))
    tmux.wait_for(win3, "42")
    assert tmux.settle(win3) == before
    # And it still drives the worker.
    tmux.keys(win3, "C-n")
    time.sleep(0.3)
    tmux.keys(win3, "print('still here')", "Enter")
    tmux.wait_for(win3, "still here")

    # 3. Detach with the key: the client says so and exits; workers keep running.
    tmux.keys(win3, "C-]")
    time.sleep(0.5)
    workers = {w["name"]: w for w in json.loads(podium_cli("-w", str(ws), "ls", "--json").stdout)}
    assert all(w["state"] == "running" for w in workers.values())


def test_attach_without_a_supervisor_fails_clearly(tmux, ws):
    r = podium_cli("-w", str(ws), "attach")
    assert r.returncode == 1 and "no supervisor running" in r.stderr


def pane_region(screen: str, title: str, width: int) -> list[str]:
    """The text of the pane whose border title is `title` (its half of the grid)."""
    lines = screen.splitlines()
    top = next(i for i, line in enumerate(lines) if f" {title} " in line)
    left = lines[top].index("╭" if "╭" in lines[top][: lines[top].index(title)] else "┏")
    start = max(0, lines[top].rfind("╭", 0, lines[top].index(title)), lines[top].rfind("┏", 0, lines[top].index(title)))
    end = start + width // 2
    region = []
    for line in lines[top + 1 :]:
        cell = line[start:end]
        if cell.startswith(("╰", "┗")):
            break
        region.append(cell)
    del left
    return region


def test_dashboard_demo_type_interrupt_detach_reattach(tmux, ws):
    win = tmux.podium_window("demo", "demo", "-w", str(ws))
    tmux.wait_for(win, "[y/N]", timeout=30)
    tmux.wait_for(win, "? Help")
    # Type into the shell worker in interactive mode.
    tmux.keys(win, "4")
    time.sleep(0.3)
    tmux.keys(win, "Enter")
    tmux.wait_for(win, "INTERACTIVE")
    tmux.keys(win, "echo typed-through-podium-$((6*7))", "Enter")
    tmux.wait_for(win, "typed-through-podium-42")
    tmux.keys(win, "C-]")
    time.sleep(0.3)
    assert "INTERACTIVE" not in tmux.capture(win)
    # Ctrl+C to a running worker (the approval prompt): it is interrupted, podium is not.
    tmux.keys(win, "2")
    time.sleep(0.3)
    tmux.keys(win, "C-c")
    time.sleep(1.5)
    workers = {w["name"]: w for w in json.loads(podium_cli("-w", str(ws), "ls", "--json").stdout)}
    assert workers["approval"]["state"] == "interrupted", workers["approval"]
    assert "? Help" in tmux.capture(win)
    before = pane_region(tmux.settle(win), "4 shell", tmux.width)
    assert any("typed-through-podium-42" in line for line in before)
    # Detach with d: the window's podium exits, the workers keep running.
    tmux.keys(win, "d")
    time.sleep(1.0)
    workers = {w["name"]: w for w in json.loads(podium_cli("-w", str(ws), "ls", "--json").stdout)}
    assert workers["shell"]["state"] == "running" and workers["build"]["state"] == "running"
    # Attach again from a new window: the same screens.
    win2 = tmux.podium_window("again", "attach", "-w", str(ws))
    tmux.wait_for(win2, "typed-through-podium-42")
    after = pane_region(tmux.settle(win2), "4 shell", tmux.width)
    assert after == before
