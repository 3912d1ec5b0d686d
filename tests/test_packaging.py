"""podium installs as one package, `podium`, and its processes never import from the
workspace: a project with its own `sessions.py`, `tui/`, `widgets.py`, `themes.py` (common
names) or even `podium.py` must not be able to stand in for podium's modules."""

from __future__ import annotations

import asyncio

from conftest import kill_everything_under, podium_cli, wait_state

from podium.sessions.client import SupervisorClient

BOMB = "raise SystemExit('podium imported the workspace module {name}')\n"


async def test_workspace_modules_named_like_podiums_never_shadow_it(workspace):
    for name in ("sessions.py", "widgets.py", "themes.py", "podium.py"):
        (workspace / name).write_text(BOMB.format(name=name))
    (workspace / "tui").mkdir()
    (workspace / "tui" / "__init__.py").write_text(BOMB.format(name="tui/"))
    try:
        # The CLI, run from the workspace, starts the supervisor, which starts a holder:
        # three podium processes, each of which would die importing a bomb.
        r = podium_cli("spawn", "first", "--", "bash", "-c", "echo worker in $PWD", cwd=workspace)
        assert r.returncode == 0, r.stderr
        assert "imported the workspace module" not in r.stdout + r.stderr
        client = await SupervisorClient.connect(workspace)
        try:
            w = await wait_state(client, "first", ("done", "failed", "lost"))
            assert w["state"] == "done", w
            # The worker itself still starts in its working directory.
            transcript = (workspace / ".podium/workers/first/transcript.log").read_text()
            assert f"worker in {workspace}" in transcript
            r = await client.request("exec", cmd=["python3", "-c", "import os; print(os.getcwd())"], workdir=str(workspace))
            assert r["exit_code"] == 0 and str(workspace) in r["output"]
        finally:
            await client.request("stop", grace=0.5)
            await client.close()
        for log in (workspace / ".podium").rglob("*.log"):
            assert "imported the workspace module" not in log.read_text(errors="replace"), log
    finally:
        await asyncio.sleep(0)
        kill_everything_under(workspace)
