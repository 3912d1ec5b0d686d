"""End to end in tmux: attach, type, lose the client (kill -9, a closed window), attach
again from a new window, and find the same workers and the same screens."""

from __future__ import annotations

import json
import os
import signal

import pytest
from conftest import eventually_sync, kill_everything_under, podium_cli
from tmux_driver import Tmux

def workers(ws) -> dict[str, dict]:
    return {w["name"]: w for w in json.loads(podium_cli("-w", str(ws), "ls", "--json").stdout)}


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # dead, not reaped yet
    except FileNotFoundError:
        return True


def only_this_client(ws) -> bool:
    """The supervisor counts no client but the `podium status` asking (once a client that
    went away is gone for it too). A supervisor that does not count clients says nothing."""
    return json.loads(podium_cli("-w", str(ws), "status", "--json").stdout).get("clients", 1) == 1


def client_gone(ws, pid: int) -> None:
    """Until the client process is dead and the supervisor has let go of it."""
    eventually_sync(lambda: gone(pid), what=f"client {pid} to die")
    eventually_sync(lambda: only_this_client(ws), what="the supervisor to see the client leave")


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


@pytest.mark.slow
def test_detach_by_kill_and_by_closed_window_then_reattach(tmux, ws):
    assert podium_cli("-w", str(ws), "start").returncode == 0
    win = tmux.podium_window("one", "attach", "--plain", "-w", str(ws))
    tmux.wait_for(win, "ctrl+] detach")
    assert podium_cli("-w", str(ws), "spawn", "alpha", "--", "bash", "-c", "for i in 1 2 3; do echo alpha-$i; done; sleep 300").returncode == 0
    assert podium_cli("-w", str(ws), "spawn", "py", "--", "python3", "-q", "-i").returncode == 0
    tmux.wait_for(win, "alpha-3")
    tmux.wait_for(win, ">>>")
    tmux.keys(win, "C-n")  # focus the second worker, then type into it
    tmux.wait_for(win, "\x1b[7m 2 py ", escapes=True)  # its title in reverse video: focused
    tmux.keys(win, "print(6*7)", "Enter")
    tmux.wait_for(win, "42")
    before = tmux.settle(win)

    # 1. The client dies hard.
    client = tmux.pane_pid(win)
    os.kill(client, signal.SIGKILL)
    client_gone(ws, client)
    now = workers(ws)
    assert now["alpha"]["state"] == "running" and now["py"]["state"] == "running"
    win2 = tmux.podium_window("two", "attach", "--plain", "-w", str(ws))
    tmux.wait_for(win2, "42")
    after = tmux.settle(win2)
    assert after == before

    # 2. The window is closed under it (the client gets SIGHUP).
    client = tmux.pane_pid(win2)
    tmux.run("kill-window", "-t", win2)
    client_gone(ws, client)
    assert all(w["state"] == "running" for w in workers(ws).values())
    win3 = tmux.podium_window("three", "attach", "--plain", "-w", str(ws))
    tmux.wait_for(win3, "42")
    assert tmux.settle(win3) == before
    # And it still drives the worker.
    tmux.keys(win3, "C-n")
    tmux.wait_for(win3, "\x1b[7m 2 py ", escapes=True)
    tmux.keys(win3, "print('still here')", "Enter")
    tmux.wait_for(win3, "still here")

    # 3. Detach with the key: the client exits; workers keep running.
    client = tmux.pane_pid(win3)
    tmux.keys(win3, "C-]")
    tmux.wait_window_closed("three")
    client_gone(ws, client)
    assert all(w["state"] == "running" for w in workers(ws).values())


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


@pytest.mark.slow
def test_dashboard_demo_type_interrupt_detach_reattach(tmux, ws):
    win = tmux.podium_window("demo", "demo", "-w", str(ws))
    tmux.wait_for(win, "[y/N]", timeout=30)
    tmux.wait_for(win, "? Help")
    # Type into the shell worker in interactive mode: "4", enter and the text in one
    # breath, as a fast typist does (the keys must arrive, and in order).
    tmux.keys(win, "4", "Enter", "echo typed-through-podium-$((6*7))", "Enter")
    tmux.wait_for(win, "INTERACTIVE")
    tmux.wait_for(win, "typed-through-podium-42")
    tmux.keys(win, "C-]")
    assert "INTERACTIVE" not in tmux.wait_gone(win, "INTERACTIVE")
    # Ctrl+C to a running worker (the approval prompt): it is interrupted, podium is not.
    tmux.keys(win, "2", "C-c")  # the Ctrl+C goes to the worker just focused
    approval = eventually_sync(
        lambda: (w := workers(ws)["approval"])["state"] not in ("starting", "running", "paused", "waiting") and w,
        what="the approval worker to end",
        show=lambda: (workers(ws), tmux.capture(win)),
    )
    assert approval["state"] == "interrupted", approval
    assert "? Help" in tmux.capture(win)
    # Toasts (the Ctrl+C notice) float over the panes' corner: compare once they are gone.
    tmux.wait_gone(win, "▌", timeout=15)
    before = pane_region(tmux.settle(win), "4 shell", tmux.width)
    assert any("typed-through-podium-42" in line for line in before)
    # Detach with d: the window's podium exits, the workers keep running.
    client = tmux.pane_pid(win)
    tmux.keys(win, "d")
    tmux.wait_window_closed("demo")
    client_gone(ws, client)
    now = workers(ws)
    assert now["shell"]["state"] == "running" and now["build"]["state"] == "running"
    # Attach again from a new window: the same screens.
    win2 = tmux.podium_window("again", "attach", "-w", str(ws))
    tmux.wait_for(win2, "typed-through-podium-42")
    tmux.settle(win2)  # a toast on attach (posted with the roster) is drawn by now...
    tmux.wait_gone(win2, "▌", timeout=15)  # ...and floats over the same corner until it goes
    screen = tmux.settle(win2)
    after = pane_region(screen, "4 shell", tmux.width)
    assert after == before, screen


@pytest.mark.slow
def test_a_preset_plan_from_the_dashboard_runs_codex_to_a_curated_result(tmux, ws, tmp_path):
    """P, n: a review → fix → verify preset written from the dashboard; s runs it with the
    real codex exec against the fake model; completion offers to promote, y promotes the
    three reports into the result in plan order."""
    from fake_model import message
    from fake_model import FakeModel
    from test_plan_agents import agent_env, codex_prompt, task_of

    def answer(body):
        tid = task_of(codex_prompt(body)) or "unknown"
        return [message(f"COMPLETED: {tid} finished its part (REPORT-{tid})\n\nStatus: Done\n")]

    with FakeModel(codex_handler=answer) as fm:
        win = tmux.podium_window("dash", "-w", str(ws), env=agent_env(tmp_path, fm))
        tmux.wait_for(win, "supervisor")
        tmux.keys(win, "P")
        tmux.wait_for(win, "no plan yet")
        tmux.keys(win, "n")
        tmux.wait_for(win, "New plan from a preset")
        tmux.keys(win, "-l", "Review and fix the rounding bug in calc.py")
        tmux.keys(win, "C-s")
        tmux.wait_for(win, "Review and fix the rounding bug")  # the preview: the file parsed
        assert (ws / ".podium/plan.toml").exists() and not (ws / ".podium/tasks").exists(), "a preset started something"
        tmux.keys(win, "s")
        tmux.wait_for(win, "Promote the done tasks'", timeout=60)
        tmux.keys(win, "y")
        result = ws / ".podium/result.md"
        eventually_sync(lambda: result.exists() and "REPORT-verify" in result.read_text(), what="the reports promoted", show=lambda: tmux.capture(win))
        text = result.read_text()
        assert text.index("REPORT-review") < text.index("REPORT-fix") < text.index("REPORT-verify")
        assert "complete: 3 done" in (ws / ".podium/plan-summary.md").read_text()
