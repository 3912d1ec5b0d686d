"""The demo session: its own workspace (never the person's project), started with the
demo's workers, reattached while any of them runs, set aside and started afresh once
they have all ended."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from platformdirs import user_data_path

from ..blackboard import Blackboard
from ..client import connect_or_start, wait_gone
from ..states import ACTIVE
from . import demo_workers
from .plan import write_demo_plan
from .repo import make_demo_repository, reset_demo_repository


def demo_workspace(explicit: Path | None) -> Path:
    """The demo's own workspace (never the person's project)."""
    if explicit is not None:
        return explicit.resolve()
    path = user_data_path("podium") / "demo"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def start_demo(workspace: Path) -> str | None:
    """Start the demo's workers, or leave them be while any of them runs (then `podium
    demo` reattaches). A demo that has ended entirely is set aside (its `.podium/` becomes
    `.podium.previous/`) and started afresh. Returns a note for the person, if any."""
    bb = Blackboard(workspace)
    note = None
    client, _ = await connect_or_start(workspace)
    existing = {w["name"]: w for w in await client.request("ls")}
    names = {w.name for w in demo_workers("")}
    if any(n in existing for n in names) and not any(existing[n]["state"] in ACTIVE for n in names if n in existing):
        pid = client.info["pid"]
        await client.request("stop", grace=0.5)
        await wait_gone(pid)  # its last writes land in .podium/ before .podium/ moves
        previous = bb.root.with_name(".podium.previous")
        if previous.exists():
            shutil.rmtree(previous)
        bb.root.rename(previous)
        reset_demo_repository(workspace)
        note = f"the last demo had ended; it is kept in {previous}, and a new one starts (its repository back at demo-start)"
        client, _ = await connect_or_start(workspace)
        existing = {}
    await asyncio.to_thread(make_demo_repository, workspace)
    try:
        for worker in demo_workers(str(bb.worker_dir("agent"))):
            if worker.name not in existing:
                await client.request("spawn", name=worker.name, argv=worker.argv, kind=worker.kind, cwd=str(workspace), env=dict(os.environ))
    finally:
        await client.close()
    write_demo_plan(bb.root)
    return note
