#!/usr/bin/env python
"""Benchmark: what podium's hook adds to the agent that runs it, through the real
processes: `hook_client.py` run as claude and codex run it (a bare interpreter, the
event's JSON on stdin), against a real supervisor, for a real worker of it.

    .venv/bin/python bench/hooks.py              # 200 calls per event kind
    .venv/bin/python bench/hooks.py --calls 50

Measured per call, from outside, start of the process to its exit (what the agent waits
for before it goes on): a Stop hook (journal, the worker's activity, its announcement)
and a PreToolUse with a 2 KB tool input, each beside the same interpreter started bare
(`python -I -S -c pass`) in the same run, alternated so load that drifts falls on both.
"Added" is the hook's p50 minus the bare interpreter's p50: the cost of podium's part.

Target (issue 16): under 50 ms added per hook. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from supervisor import clean_up, new_workspace, pct, podium_down, podium_up

from podium.sessions import hooks
from podium.sessions.blackboard import Blackboard

CLIENT = Path(hooks.__file__).with_name("hook_client.py")


def timed(argv: list[str], stdin: bytes, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, input=stdin, env=env, stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - started) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    ws = new_workspace("hooks")
    client = None
    try:
        client, _ = await podium_up(ws)
        await client.request("spawn", name="agent", argv=["sleep", "600"])
        key = (ws / ".podium" / "hook.key").read_bytes()
        env = {
            "PATH": os.environ["PATH"],
            "PODIUM_HOOK_SOCKET": str(Blackboard(ws).socket_path),
            "PODIUM_HOOK_WORKER": "agent",
            "PODIUM_HOOK_TOKEN": hmac.new(key, b"agent", hashlib.sha256).hexdigest()[:32],
        }
        bare = [sys.executable, "-I", "-S", "-c", "pass"]
        cases = {
            "Stop": json.dumps({"session_id": "s", "hook_event_name": "Stop"}).encode(),
            "PreToolUse": json.dumps({"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "x" * 2000}}).encode(),
        }
        times: dict[str, list[float]] = {"bare": [], **{k: [] for k in cases}}
        loop = asyncio.get_running_loop()
        for i in range(args.calls):
            for name, stdin in (cases.items() if i % 2 == 0 else reversed(list(cases.items()))):
                times["bare"].append(await loop.run_in_executor(None, timed, bare, b"", env))
                times[name].append(await loop.run_in_executor(None, timed, [sys.executable, "-I", "-S", str(CLIENT), name], stdin, env))
        seen = sum(1 for line in (ws / ".podium/journal.jsonl").read_text().splitlines() if '"type": "hook"' in line)
        if seen != 2 * args.calls:
            raise SystemExit(f"the supervisor journaled {seen} hook events of {2 * args.calls}: a hook was lost")
    finally:
        await podium_down(client, ws)
        clean_up()
    base = pct(times["bare"], 50)
    table = Table(title=f"a hook's cost to the agent ({args.calls} calls each; ms, process start to exit)")
    for col in ("run", "p50", "p90", "p99", "added p50", "× bare"):
        table.add_column(col, justify="right")
    out = {}
    for name, values in times.items():
        p50, p90, p99 = pct(values, 50), pct(values, 90), pct(values, 99)
        table.add_row(name if name == "bare" else f"hook {name}", f"{p50:.1f}", f"{p90:.1f}", f"{p99:.1f}", "-" if name == "bare" else f"{p50 - base:.1f}", f"{p50 / base:.2f}")
        out[name] = {"p50": round(p50, 2), "p90": round(p90, 2), "p99": round(p99, 2), "added_p50": round(p50 - base, 2)}
    Console().print(table)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
