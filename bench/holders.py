#!/usr/bin/env python
"""Benchmark: what a worker costs under podium, at 50, 100 and 200 workers, with tmux
beside it in the same run.

    .venv/bin/python bench/holders.py               # 50, 100, 200 workers
    .venv/bin/python bench/holders.py --counts 50

For each count N, in a fresh workspace with its own supervisor, N idle workers (`sleep`):

- spawns per second through one client: one request at a time, and all at once;
  tmux: `tmux new-window` per worker through its CLI (a process each), the same N;
- private memory per idle holder (`Private_Dirty` of /proc/PID/smaps_rollup, median);
  tmux: the server's private memory increase per pane;
- the supervisor's memory (RSS and private) with N workers;
- attach: connect, subscribe to the first page (9 screens) and the events, until every
  one of the 9 full screens has arrived;
- idle CPU of the supervisor and every holder over 10 s, one client subscribed;
- `ls` (the whole roster as JSON) through the client, median of 20.

Targets (issue 12): <= 4 MB private per idle holder, >= 50 spawns/s. The last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

from supervisor import (  # bench/supervisor.py: the same helpers, the same clean-up
    CLK_TCK,
    TMUX,
    clean_up,
    cpu_ticks,
    holder_pids,
    log,
    new_workspace,
    podium_down,
    podium_up,
    tmux,
    tmux_kill,
    tmux_server_pid,
    tmux_socket,
)

from podium.sessions.client import SupervisorClient

PAGE = 9


def smaps(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0].endswith(":"):
                out[parts[0][:-1]] = int(parts[1])
    return out


async def podium_cost(n: int, idle_s: float) -> dict[str, Any]:
    res: dict[str, Any] = {}
    ws = new_workspace(f"c{n}")
    client = None
    try:
        client, sup_pid = await podium_up(ws)
        half = n // 2
        t = time.perf_counter()
        for i in range(half):
            await client.request("spawn", name=f"s{i:03d}", argv=["sleep", "100000"], cwd=str(ws))
        res["spawns_per_s_one_at_a_time"] = half / (time.perf_counter() - t)
        t = time.perf_counter()
        await asyncio.gather(*(client.request("spawn", name=f"c{i:03d}", argv=["sleep", "100000"], cwd=str(ws)) for i in range(n - half)))
        res["spawns_per_s_all_at_once"] = (n - half) / (time.perf_counter() - t)
        holders = await holder_pids(client)
        assert len(holders) == n, f"{len(holders)} holders for {n} workers"
        await asyncio.sleep(1.0)  # settled (the holders' start-up is not what is measured)
        private = [smaps(p)["Private_Dirty"] for p in holders.values()]
        res["holder_private_mb_median"] = statistics.median(private) / 1024
        res["holder_private_mb_max"] = max(private) / 1024
        sup = smaps(sup_pid)
        res["supervisor_rss_mb"] = sup["Rss"] / 1024
        res["supervisor_private_mb"] = sup["Private_Dirty"] / 1024

        # attach: a new client, the first page of screens and the events
        names = sorted(holders)[:PAGE]
        times = []
        for _ in range(3):
            t = time.perf_counter()
            other = await SupervisorClient.connect(ws, client="bench-attach")
            full: set[str] = set()
            done = asyncio.get_running_loop().create_future()

            def on_event(ev: dict[str, Any], full: set[str] = full, done: asyncio.Future[None] = done) -> None:
                if ev.get("event") == "screen" and ev.get("full"):
                    full.add(ev["worker"])
                    if len(full) == len(names) and not done.done():
                        done.set_result(None)

            other.on_event = on_event
            await other.request("subscribe", screens=names, events=True)
            await asyncio.wait_for(done, 10)
            times.append(time.perf_counter() - t)
            await other.close()
        res["attach_ms"] = statistics.median(times) * 1000

        # idle CPU, one client watching the first page
        await client.request("subscribe", screens=names, events=True)
        await asyncio.sleep(0.5)
        pids = [sup_pid, *holders.values()]
        before = {p: cpu_ticks(p) for p in pids}
        t = time.perf_counter()
        await asyncio.sleep(idle_s)
        wall = time.perf_counter() - t
        res["idle_cpu_pct_supervisor"] = 100 * (cpu_ticks(sup_pid) - before[sup_pid]) / CLK_TCK / wall
        res["idle_cpu_pct_holders"] = 100 * sum(cpu_ticks(p) - before[p] for p in holders.values()) / CLK_TCK / wall

        ls_times = []
        for _ in range(20):
            t = time.perf_counter()
            await client.request("ls")
            ls_times.append(time.perf_counter() - t)
        res["ls_ms"] = statistics.median(ls_times) * 1000
    finally:
        await podium_down(client, ws)
    return res


def tmux_cost(n: int) -> dict[str, Any]:
    res: dict[str, Any] = {}
    sock = tmux_socket(f"c{n}")
    try:
        tmux(sock, "new-session", "-d", "-s", "S", "-x", "120", "-y", "40", "sleep 100000")
        server = tmux_server_pid(sock)
        time.sleep(0.5)
        before = smaps(server)["Private_Dirty"]
        t = time.perf_counter()
        for _ in range(n):
            tmux(sock, "new-window", "-d", "-t", "S", "sleep 100000")
        res["windows_per_s"] = n / (time.perf_counter() - t)
        time.sleep(1.0)
        res["private_mb_per_pane"] = (smaps(server)["Private_Dirty"] - before) / 1024 / n
        res["server_rss_mb"] = smaps(server)["Rss"] / 1024
    finally:
        tmux_kill(sock)
    return res


async def run(counts: list[int], idle_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {"counts": counts, "cpus": os.cpu_count()}
    with open("/proc/loadavg") as f:
        out["loadavg_start"] = float(f.read().split()[0])
    for n in counts:
        log(f"{n} workers: podium")
        out[f"podium_{n}"] = await podium_cost(n, idle_s)
        log(f"{n} workers: tmux")
        out[f"tmux_{n}"] = await asyncio.to_thread(tmux_cost, n)
    with open("/proc/loadavg") as f:
        out["loadavg_end"] = float(f.read().split()[0])
    return out


def report(r: dict[str, Any]) -> None:
    print()
    print(f"{'figure':<46}" + "".join(f"{n:>10} w" for n in r["counts"]))
    print("-" * (46 + 12 * len(r["counts"])))

    def row(label: str, key: str, side: str = "podium", fmt: str = "{:>12.2f}") -> None:
        print(f"{label:<46}" + "".join(fmt.format(r[f"{side}_{n}"][key]) for n in r["counts"]))

    row("podium: private MB per idle holder (median)", "holder_private_mb_median")
    row("tmux: private MB per pane (server increase)", "private_mb_per_pane", "tmux")
    row("podium: spawns/s, one request at a time", "spawns_per_s_one_at_a_time", fmt="{:>12.1f}")
    row("podium: spawns/s, all requests at once", "spawns_per_s_all_at_once", fmt="{:>12.1f}")
    row("tmux: windows/s through its CLI", "windows_per_s", "tmux", fmt="{:>12.1f}")
    row("podium: attach, 9 full screens (ms)", "attach_ms", fmt="{:>12.1f}")
    row("podium: idle CPU, supervisor (% of a core)", "idle_cpu_pct_supervisor", fmt="{:>12.3f}")
    row("podium: idle CPU, all holders (% of a core)", "idle_cpu_pct_holders", fmt="{:>12.3f}")
    row("podium: supervisor RSS / private (MB)", "supervisor_rss_mb", fmt="{:>12.1f}")
    row("podium: ls, the whole roster (ms)", "ls_ms")
    worst_mem = max(r[f"podium_{n}"]["holder_private_mb_median"] for n in r["counts"])
    worst_spawn = min(r[f"podium_{n}"]["spawns_per_s_one_at_a_time"] for n in r["counts"])
    print(f"goals: <= 4 MB per idle holder: {worst_mem:.2f} {'MET' if worst_mem <= 4 else 'NOT MET'}; "
          f">= 50 spawns/s: {worst_spawn:.1f} {'MET' if worst_spawn >= 50 else 'NOT MET'}")
    print(f"load average at start/end: {r['loadavg_start']:.2f}/{r['loadavg_end']:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[50, 100, 200])
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    args = ap.parse_args()
    if not os.path.exists(TMUX):
        print("bench/holders.py needs tmux on PATH", file=sys.stderr)
        return 2
    result = None
    try:
        result = asyncio.run(run(args.counts, args.idle))
    finally:
        clean_up()
    report(result)
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
