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
