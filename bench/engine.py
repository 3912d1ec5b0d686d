"""Benchmark: a worker under podium's real processes against tmux (and a bare PTY), on
one machine, in one run.

Throughput: `cat FILE` (N MB of mixed terminal output) through
  a. a bare PTY read in a tight os.read loop,
  b. a dedicated tmux server (new-session -d ... ; wait-for),
  c. podium: a running supervisor spawns it; its holder writes the transcript and relays
     to the supervisor, which emulates the screen for a client watching it (as the
     dashboard does); timed from the spawn request until the client hears it ended.
Echo latency: one key to `cat`, until the client sees it on the worker's screen (podium:
  client -> supervisor -> holder -> PTY and back as a screen frame) or until tmux's
  control-mode client prints it (%output).

Usage (from the repository root):
    .venv/bin/python bench/engine.py [--mb N] [--repeat N] [--echo-samples N]

Prints a table, then as its last line one JSON object with every figure.
See bench/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import hashlib
import json
import math
import os
import pty
import queue
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

import pyte  # noqa: E402

from podium.sessions.client import connect_or_start  # noqa: E402
from podium.sessions.transcript import segment_paths  # noqa: E402

TMUX = shutil.which("tmux") or "/usr/bin/tmux"
COLUMNS, LINES = 120, 40
MIB = 1024 * 1024
os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="pbe")  # short, private socket paths

GOAL_RATIO = 0.6
GOAL_ECHO_P50_MS = 3.0  # key -> frame on a quiet worker, through every process
GOAL_ECHO_P99_MS = 30.0


# -- test data ------------------------------------------------------------------------------
WORDS = (
    "the quick brown fox jumps over lazy dog error warning info debug build test pass fail "
    "compile link module import export function class return yield async await value index "
    "src/main.rs tests/test_engine.py Cargo.toml package.json 0x7ffd 42 1337 200 OK GET POST "
    "naïve café → ✓ ✗ …"
).split()


def _plain_line(rng: random.Random) -> str:
    words, n = [], rng.randint(20, 118)
    length = 0
    while length < n:
        w = rng.choice(WORDS)
        words.append(w)
        length += len(w) + 1
    return " ".join(words)


def _sgr_line(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(2, 8)):
        kind = rng.random()
        if kind < 0.4:
            code = f"\x1b[{rng.randint(31, 37)}m"
        elif kind < 0.7:
            code = f"\x1b[38;5;{rng.randint(0, 255)}m"
        elif kind < 0.85:
            code = f"\x1b[1;{rng.randint(90, 97)}m"
        else:
            code = f"\x1b[48;5;{rng.randint(0, 255)}m\x1b[38;5;{rng.randint(0, 255)}m"
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
        parts.append(f"{code}{words}\x1b[0m")
    return " ".join(parts)


def _long_line(rng: random.Random) -> str:
    n = rng.randint(2 * 1024, 20 * 1024)
    out, length = [], 0
    while length < n:
        if rng.random() < 0.1:
            s = f"\x1b[38;5;{rng.randint(0, 255)}m{rng.choice(WORDS)}\x1b[0m "
        else:
            s = rng.choice(WORDS) + " "
        out.append(s)
        length += len(s)
    return "".join(out)


def build_pattern(seed: int = 20240601, size: int = 4 * MIB) -> bytes:
    """A few MB of mixed output, built once (deterministic), repeated to fill the file."""
    rng = random.Random(seed)
    lines: list[str] = []
    total = 0
    while total < size:
        r = rng.random()
        if r < 0.65:
            line = _plain_line(rng)
        elif r < 0.995:
            line = _sgr_line(rng)
        else:
            line = _long_line(rng)
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_test_file(path: Path, mb: float) -> dict:
    """Write ~mb MiB (cut on a line end); return sizes and the sha256 of the file and of the
    byte stream a cooked PTY delivers for it (ONLCR: every \\n becomes \\r\\n)."""
    pattern = build_pattern()
    target = int(mb * MIB)
    h_file, h_pty = hashlib.sha256(), hashlib.sha256()
    written = pty_bytes = 0
    with open(path, "wb") as f:
        while written < target:
            chunk = pattern
            if written + len(chunk) > target:
                cut = pattern.rfind(b"\n", 0, target - written)
                chunk = pattern[: cut + 1] if cut >= 0 else pattern[: target - written]
            if not chunk:
                break
            f.write(chunk)
            h_file.update(chunk)
            cooked = chunk.replace(b"\n", b"\r\n")
            h_pty.update(cooked)
            written += len(chunk)
            pty_bytes += len(cooked)
    return {
        "file_bytes": written,
        "file_sha256": h_file.hexdigest(),
        "pty_bytes": pty_bytes,
        "pty_sha256": h_pty.hexdigest(),
    }


# -- helpers --------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def tmux_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("TMUX", "TMUX_PANE"):
        env.pop(key, None)
    env["SHELL"] = "/bin/sh"  # the pane commands are exec'd directly anyway (argv form)
    env["TERM"] = env.get("TERM") or "xterm-256color"
    env.setdefault("LANG", "C.UTF-8")
    return env


def kill_tmux_server(socket: str, env: dict[str, str]) -> None:
    """Kill our dedicated server and remove its socket file (tmux leaves it behind)."""
    try:
        subprocess.run(
            [TMUX, "-L", socket, "kill-server"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
        )
    finally:
        path = Path(env.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / socket
        try:
            path.unlink()
        except OSError:
            pass


def digest_segments(directory: Path) -> tuple[int, str, int]:
    h = hashlib.sha256()
    size = 0
    paths = segment_paths(directory)
    for p in paths:
        with open(p, "rb") as f:
            while block := f.read(4 * MIB):
                h.update(block)
                size += len(block)
    return size, h.hexdigest(), len(paths)


# -- throughput cases -----------------------------------------------------------------------
def run_bare(file: Path) -> dict:
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # child
        try:
            os.execvp("cat", ["cat", str(file)])
        finally:
            os._exit(127)
    total = reads = 0
    try:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError as exc:
                if exc.errno == errno.EIO:
                    break
                raise
            if not data:
                break
            total += len(data)
            reads += 1
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - t0
    return {"s": elapsed, "bytes": total, "reads": reads, "status": status}


def run_tmux(file: Path, env: dict[str, str], n: int) -> dict:
    socket = f"bench-{os.getpid()}-{n}"
    chan = f"done-{os.getpid()}-{n}"
    base = [TMUX, "-L", socket, "-f", "/dev/null"]
    inner = f"cat {shlex.quote(str(file))}; {shlex.quote(TMUX)} -L {socket} wait-for -S {chan}"
    try:
        t0 = time.perf_counter()
        subprocess.run(
            base + ["new-session", "-d", "-x", str(COLUMNS), "-y", str(LINES), "/bin/sh", "-c", inner],
            env=env,
            check=True,
            timeout=600,
        )
        subprocess.run(base + ["wait-for", chan], env=env, check=True, timeout=600)
        elapsed = time.perf_counter() - t0
    finally:
        kill_tmux_server(socket, env)
    return {"s": elapsed}


async def _podium_once(file: Path, ws: Path, n: int) -> dict:
    """`cat FILE` as a worker of a running supervisor, watched by a client (as the
    dashboard watches it): from the spawn request until the client hears it ended."""
    client, _ = await connect_or_start(ws, client="bench")
    name = f"flood-{n}"
    ended: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    frames = {"n": 0, "rows": {}}

    def on_event(ev: dict) -> None:
        if ev.get("event") == "screen" and ev.get("worker") == name:
            frames["n"] += 1
            if ev.get("full"):
                frames["rows"] = {}
            frames["rows"].update({int(k): "".join(r[0] for r in runs) for k, runs in ev["lines"].items()})
        elif ev.get("event") == "worker" and ev["worker"]["name"] == name and ev["worker"]["state"] in ("done", "failed") and not ended.done():
            ended.set_result(time.perf_counter())

    client.on_event = on_event
    await client.request("subscribe", screens=[], events=True)
    try:
        t0 = time.perf_counter()
        await client.request("spawn", name=name, argv=["cat", str(file)], cols=COLUMNS, rows=LINES)
        await client.request("subscribe", screens=[name], events=True)
        t1 = await asyncio.wait_for(ended, 600)
        w = {x["name"]: x for x in await client.request("ls")}[name]
    finally:
        await client.close()
    return {"s": t1 - t0, "exit_code": w["exit_code"], "frames": frames["n"], "screen": [frames["rows"].get(y, "") for y in range(LINES)]}


def expected_screen(file: Path) -> list[str]:
    """The last screen of `cat FILE` in a PTY, by a plain pyte emulation of the file's tail
    (from a line start far enough back to fill the screen)."""
    with open(file, "rb") as f:
        f.seek(max(0, file.stat().st_size - 2 * MIB))
        tail = f.read()
    tail = tail[tail.index(b"\n") + 1 :].replace(b"\n", b"\r\n")
    screen = pyte.Screen(COLUMNS, LINES)
    pyte.ByteStream(screen).feed(tail)
    return [row.rstrip() for row in screen.display]


def run_podium(file: Path, ws: Path, n: int, info: dict, expected: list[str]) -> dict:
    r = asyncio.run(_podium_once(file, ws, n))
    size, digest, segments = digest_segments(ws / ".podium" / "workers" / f"flood-{n}")
    r["transcript_bytes"] = size
    r["transcript_segments"] = segments
    r["transcript_identical"] = size == info["pty_bytes"] and digest == info["pty_sha256"]
    r["final_screen_true"] = [row.rstrip() for row in r.pop("screen")] == expected
    return r


# -- echo latency ---------------------------------------------------------------------------
ECHO_WARMUP = 10
ECHO_LINE = 40  # send \r after this many x's (keeps lines short)
ECHO_GAP = 0.005  # idle between samples, like (very fast) typing
ECHO_TIMEOUT = 5.0


async def _echo_podium(samples: int, ws: Path) -> list[float]:
    """A key to a quiet `cat` worker, until a screen event shows its echo: supervisor,
    holder, PTY, and back, as the dashboard sees it."""
    client, _ = await connect_or_start(ws, client="bench")
    loop = asyncio.get_running_loop()
    st: dict = {"want": 0, "fut": None, "t": 0.0, "rows": {}, "cursor": 0}

    def typed() -> int:
        """x's on the cursor's row (the line being typed)."""
        return st["rows"].get(st["cursor"], "").count("x")

    def on_event(ev: dict) -> None:
        if ev.get("event") != "screen" or ev.get("worker") != "echo":
            return
        if ev.get("full"):
            st["rows"] = {}
        st["rows"].update({int(k): "".join(r[0] for r in runs) for k, runs in ev["lines"].items()})
        st["cursor"] = ev["cursor"][1]
        fut = st["fut"]
        if fut is not None and not fut.done() and typed() == st["want"]:
            st["t"] = time.perf_counter()
            fut.set_result(None)

    async def send(data: bytes, want: int) -> float:
        st["want"] = want
        st["fut"] = fut = loop.create_future()
        t0 = time.perf_counter()
        client.send_keys("echo", data)
        await asyncio.wait_for(fut, ECHO_TIMEOUT)
        return st["t"] - t0

    client.on_event = on_event
    await client.request("spawn", name="echo", argv=["cat"], cols=COLUMNS, rows=LINES)
    await client.request("subscribe", screens=["echo"], events=True)
    lat: list[float] = []
    try:
        on_line = 0
        for i in range(ECHO_WARMUP + samples):
            dt = await send(b"x", on_line + 1)
            on_line += 1
            if i >= ECHO_WARMUP:
                lat.append(dt)
            if on_line >= ECHO_LINE:
                await send(b"\r", 0)  # cat writes the line back; the new line is empty
                on_line = 0
            await asyncio.sleep(ECHO_GAP)
    finally:
        await client.request("kill", worker="echo", grace=0.5)
        await client.close()
    return lat


def echo_tmux(samples: int, env: dict[str, str]) -> list[float]:
    socket = f"bench-echo-{os.getpid()}"
    base = [TMUX, "-L", socket, "-f", "/dev/null"]
    name = "echo"
    client = None
    try:
        subprocess.run(
            base + ["new-session", "-d", "-s", name, "-x", str(COLUMNS), "-y", str(LINES), "/bin/sh", "-c", "exec cat"],
            env=env,
            check=True,
            timeout=10,
        )
        client = subprocess.Popen(
            base + ["-C", "attach", "-t", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        lines: queue.Queue = queue.Queue()

        def reader() -> None:  # timestamps each line as it arrives
            assert client is not None and client.stdout is not None
            for line in iter(client.stdout.readline, b""):
                lines.put((time.perf_counter(), line))
            lines.put((time.perf_counter(), None))

        threading.Thread(target=reader, name="tmux-control-reader", daemon=True).start()
        st = {"seen": 0, "target": 0, "in_block": False}

        def send(cmd: str, expect: int) -> float:
            assert client is not None and client.stdin is not None
            st["target"] += expect
            t0 = time.perf_counter()
            client.stdin.write(cmd.encode() + b"\n")
            client.stdin.flush()
            t_seen = t0
            deadline = time.monotonic() + ECHO_TIMEOUT
            while st["seen"] < st["target"]:
                t_line, line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                if line is None:
                    raise RuntimeError("tmux control client exited")
                if line.startswith(b"%begin"):
                    st["in_block"] = True
                    continue
                if line.startswith((b"%end", b"%error")):
                    st["in_block"] = False
                    continue
                if st["in_block"] or not line.startswith(b"%output "):
                    continue
                parts = line.rstrip(b"\n").split(b" ", 2)
                if len(parts) == 3:
                    st["seen"] += parts[2].count(b"x")
                    t_seen = t_line
            return t_seen - t0

        lat: list[float] = []
        on_line = 0
        for i in range(ECHO_WARMUP + samples):
            dt = send(f"send-keys -t {name} -l x", 1)
            on_line += 1
            if i >= ECHO_WARMUP:
                lat.append(dt)
            if on_line >= ECHO_LINE:
                send(f"send-keys -t {name} Enter", on_line)
                on_line = 0
            time.sleep(ECHO_GAP)
        return lat
    finally:
        if client is not None:
            try:
                client.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
        kill_tmux_server(socket, env)
        if client is not None:
            try:
                client.wait(timeout=5)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait()


# -- main -----------------------------------------------------------------------------------
def fmt(x: float, nd: int = 3) -> str:
    return f"{x:.{nd}f}" if isinstance(x, (int, float)) and not math.isnan(x) else "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=100, help="size of the cat'ed file in MiB (default 100)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per throughput case; the median is reported")
    ap.add_argument("--echo-samples", type=int, default=200, help="keystrokes per echo case (default 200)")
    args = ap.parse_args()

    env = tmux_env()
    tmp = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    ws = tmp / "ws"
    ws.mkdir()
    result: dict = {"mb": args.mb, "repeat": args.repeat}
    try:
        file = tmp / "output.txt"
        t = time.perf_counter()
        info = write_test_file(file, args.mb)
        print(
            f"# generated {info['file_bytes'] / MIB:.1f} MiB in {time.perf_counter() - t:.2f}s "
            f"({tmp}); the PTY delivers {info['pty_bytes'] / MIB:.1f} MiB (ONLCR: \\n -> \\r\\n)",
            flush=True,
        )
        # Warm the page cache and the binaries once (not timed).
        run_bare(file)
        expected = expected_screen(file)

        bare, tmx, pod = [], [], []
        for n in range(args.repeat):
            bare.append(run_bare(file))
            tmx.append(run_tmux(file, env, n))
            pod.append(run_podium(file, ws, n, info, expected))
            print(
                f"# run {n + 1}/{args.repeat}: bare {bare[-1]['s']:.3f}s  tmux {tmx[-1]['s']:.3f}s  "
                f"podium {pod[-1]['s']:.3f}s",
                flush=True,
            )

        bare_s = statistics.median(r["s"] for r in bare)
        tmux_s = statistics.median(r["s"] for r in tmx)
        podium_s = statistics.median(r["s"] for r in pod)
        mib = info["file_bytes"] / MIB

        echo_p = asyncio.run(_echo_podium(args.echo_samples, ws))
        echo_t = echo_tmux(args.echo_samples, env)
        ep50, ep99 = percentile(echo_p, 50) * 1e3, percentile(echo_p, 99) * 1e3
        et50, et99 = percentile(echo_t, 50) * 1e3, percentile(echo_t, 99) * 1e3

        ratio = podium_s / tmux_s
        goals = {
            "throughput_ratio_le_0.6": ratio <= GOAL_RATIO,
            "echo_p50_le_3ms": ep50 <= GOAL_ECHO_P50_MS,
            "echo_p99_lt_30ms": ep99 < GOAL_ECHO_P99_MS,
        }
        all_identical = all(r["transcript_identical"] for r in pod)
        result.update(
            {
                "file_bytes": info["file_bytes"],
                "pty_bytes": info["pty_bytes"],
                "bare_s": round(bare_s, 4),
                "tmux_s": round(tmux_s, 4),
                "podium_s": round(podium_s, 4),
                "bare_mb_s": round(mib / bare_s, 1),
                "tmux_mb_s": round(mib / tmux_s, 1),
                "podium_mb_s": round(mib / podium_s, 1),
                "ratio_vs_tmux": round(ratio, 3),
                "ratio_bare_vs_tmux": round(bare_s / tmux_s, 3),
                "bare_runs_s": [round(r["s"], 4) for r in bare],
                "tmux_runs_s": [round(r["s"], 4) for r in tmx],
                "podium_runs_s": [round(r["s"], 4) for r in pod],
                "transcript_identical": all_identical,
                "transcript_segments": pod[0]["transcript_segments"],
                "final_screen_true": all(r["final_screen_true"] for r in pod),
                "podium_frames": [r["frames"] for r in pod],
                "bare_bytes_ok": all(r["bytes"] == info["pty_bytes"] for r in bare),
                "echo_samples": args.echo_samples,
                "echo_podium_p50_ms": round(ep50, 3),
                "echo_podium_p99_ms": round(ep99, 3),
                "echo_tmux_p50_ms": round(et50, 3),
                "echo_tmux_p99_ms": round(et99, 3),
                "goals": goals,
            }
        )

        ok = lambda b: "MET" if b else "NOT MET"  # noqa: E731
        print()
        print(f"throughput: cat {mib:.1f} MiB, {COLUMNS}x{LINES}, median of {args.repeat}")
        print(f"{'case':<22}{'median_s':>10}{'MB/s':>10}{'ratio_vs_tmux':>16}")
        print(f"{'bare pty':<22}{bare_s:>10.3f}{mib / bare_s:>10.1f}{bare_s / tmux_s:>16.3f}")
        print(f"{'tmux':<22}{tmux_s:>10.3f}{mib / tmux_s:>10.1f}{1.0:>16.3f}")
        print(f"{'podium (holder path)':<22}{podium_s:>10.3f}{mib / podium_s:>10.1f}{ratio:>16.3f}")
        print(
            f"  transcript identical to the PTY stream: {all_identical}; the client's final screen is the true one: "
            f"{result['final_screen_true']}; frames the client got: {result['podium_frames']}"
        )
        print()
        print(f"{'echo p50/p99 ms':<18}podium {ep50:.3f}/{ep99:.3f}   tmux {et50:.3f}/{et99:.3f}   ({args.echo_samples} samples)")
        print()
        print("goals:")
        print(f"  throughput ratio <= {GOAL_RATIO}: {ratio:.3f}  {ok(goals['throughput_ratio_le_0.6'])}")
        print(f"  key -> frame p50 <= {GOAL_ECHO_P50_MS:.0f} ms: {ep50:.3f} ms  {ok(goals['echo_p50_le_3ms'])}")
        print(f"  echo p99 < {GOAL_ECHO_P99_MS:.0f} ms: {ep99:.3f} ms  {ok(goals['echo_p99_lt_30ms'])}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
