"""Benchmark: podium's engine against tmux (and a bare PTY) on one machine, in one run.

Throughput: `cat FILE` (N MB of mixed terminal output) through
  a. a bare PTY read in a tight os.read loop,
  b. a dedicated tmux server (new-session -d ... ; wait-for),
  c. podium's engine: PtySession -> TranscriptWriter -> LiveScreen, pumped at 30 Hz.
Echo latency: one printable byte written to `cat` in a PTY until it comes back,
  for podium (PtySession listener) and tmux (control-mode client, %output lines).

Usage (from the repository root):
    .venv/bin/python bench/engine.py [--mb N] [--repeat N] [--echo-samples N] [--profile]

Prints a table, then as its last line one JSON object with every figure.
See bench/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import errno
import hashlib
import io
import json
import math
import os
import pstats
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

from podium.sessions.pty_session import PtySession  # noqa: E402
from podium.sessions.screen import LiveScreen  # noqa: E402
from podium.sessions.transcript import TranscriptWriter, segment_paths  # noqa: E402

TMUX = shutil.which("tmux") or "/usr/bin/tmux"
COLUMNS, LINES = 120, 40
FRAME = 1 / 30
MIB = 1024 * 1024

GOAL_RATIO = 0.6
GOAL_ECHO_P50_FACTOR = 1.5
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


class TimedTranscriptWriter(TranscriptWriter):
    """TranscriptWriter plus stopwatches on its fsync points (instrumentation only)."""

    def __init__(self, *a, **kw):
        self.rotate_s = 0.0
        self.rotations = 0
        self.sync_s = 0.0
        super().__init__(*a, **kw)

    def _rotate(self) -> None:
        t = time.perf_counter()
        super()._rotate()
        self.rotate_s += time.perf_counter() - t
        self.rotations += 1

    def sync(self) -> None:
        t = time.perf_counter()
        super().sync()
        self.sync_s += time.perf_counter() - t


async def _podium_once(file: Path, tmp: Path, wdir: Path) -> dict:
    stats = {"reads": 0, "pumps": 0, "pump_s": 0.0, "pump_max_s": 0.0, "max_backlog": 0}
    t0 = time.perf_counter()
    tw = TimedTranscriptWriter(wdir)  # writes wdir/transcript.log (+ rotated segments)
    pty_session = PtySession(["cat", str(file)], cwd=tmp, columns=COLUMNS, lines=LINES, transcript=tw)
    screen = LiveScreen(COLUMNS, LINES)

    def count(data: bytes) -> None:
        stats["reads"] += 1

    pty_session.listeners.append(screen.write)
    pty_session.listeners.append(count)

    def pump() -> None:
        stats["max_backlog"] = max(stats["max_backlog"], screen.backlog)
        t = time.perf_counter()
        screen.pump()
        dt = time.perf_counter() - t
        stats["pumps"] += 1
        stats["pump_s"] += dt
        stats["pump_max_s"] = max(stats["pump_max_s"], dt)

    async def renderer() -> None:
        while not pty_session.exited.is_set():
            pump()
            await asyncio.sleep(FRAME)

    pty_session.start()
    task = asyncio.create_task(renderer())
    try:
        await pty_session.exited.wait()
        t_exit = time.perf_counter()
        pump()
        t_pumped = time.perf_counter()
        tw.close()
        t1 = time.perf_counter()
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        if pty_session.running:
            pty_session.close()
    text = screen.text()
    return {
        "s": t1 - t0,
        "exit_s": t_exit - t0,
        "final_pump_s": t_pumped - t_exit,
        "close_s": t1 - t_pumped,
        "bytes": pty_session.bytes_read,
        "exit_code": pty_session.exit_code,
        "skips": screen.skips,
        "screen_nonempty": bool(text.strip()),
        "rotations": tw.rotations,
        "rotate_fsync_s": tw.rotate_s,
        "exit_sync_s": tw.sync_s,
        **stats,
    }


def run_podium(file: Path, tmp: Path, n: int, info: dict, profile: bool = False) -> dict:
    wdir = tmp / f"w{n}"
    prof = cProfile.Profile() if profile else None
    try:
        if prof:
            prof.enable()
        r = asyncio.run(_podium_once(file, tmp, wdir))
        if prof:
            prof.disable()
        size, digest, segments = digest_segments(wdir)
        r["transcript_bytes"] = size
        r["transcript_segments"] = segments
        r["transcript_identical"] = size == info["pty_bytes"] and digest == info["pty_sha256"]
        r["transcript_identical_raw"] = size == info["file_bytes"] and digest == info["file_sha256"]
        if prof:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
            r["profile"] = out.getvalue()
    finally:
        shutil.rmtree(wdir, ignore_errors=True)
    return r


# -- echo latency ---------------------------------------------------------------------------
ECHO_WARMUP = 10
ECHO_LINE = 40  # send \r after this many x's (keeps lines short)
ECHO_GAP = 0.005  # idle between samples, like (very fast) typing
ECHO_TIMEOUT = 5.0


async def _echo_podium(samples: int, tmp: Path) -> list[float]:
    loop = asyncio.get_running_loop()
    session = PtySession(["cat"], cwd=tmp, columns=COLUMNS, lines=LINES)
    st = {"seen": 0, "target": 0, "fut": None, "t": 0.0}

    def listener(data: bytes) -> None:
        n = data.count(b"x")
        if not n:
            return
        st["seen"] += n
        fut = st["fut"]
        if fut is not None and not fut.done() and st["seen"] >= st["target"]:
            st["t"] = time.perf_counter()
            fut.set_result(None)

    session.listeners.append(listener)
    session.start()
    lat: list[float] = []
    on_line = 0

    async def send(data: bytes, expect: int) -> float:
        st["target"] += expect
        st["fut"] = fut = loop.create_future()
        t0 = time.perf_counter()
        session.write(data)
        if st["seen"] < st["target"]:
            await asyncio.wait_for(fut, ECHO_TIMEOUT)
        else:
            st["t"] = time.perf_counter()
        return st["t"] - t0

    try:
        for i in range(ECHO_WARMUP + samples):
            dt = await send(b"x", 1)
            on_line += 1
            if i >= ECHO_WARMUP:
                lat.append(dt)
            if on_line >= ECHO_LINE:
                await send(b"\r", on_line)  # cat writes the line back: wait for all of it
                on_line = 0
            await asyncio.sleep(ECHO_GAP)
        if on_line:
            await send(b"\r", on_line)
        session.write(b"\x04")  # EOF on an empty line: cat exits
        await session.wait(2.0)
    finally:
        if session.running:
            session.terminate(0.5)
            await session.wait(2.0)
        session.close()
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
    ap.add_argument("--profile", action="store_true", help="cProfile one extra podium run and print the top functions")
    args = ap.parse_args()

    env = tmux_env()
    tmp = Path(tempfile.mkdtemp(prefix="podium-bench-"))
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

        bare, tmx, pod = [], [], []
        for n in range(args.repeat):
            bare.append(run_bare(file))
            tmx.append(run_tmux(file, env, n))
            pod.append(run_podium(file, tmp, n, info))
            print(
                f"# run {n + 1}/{args.repeat}: bare {bare[-1]['s']:.3f}s  tmux {tmx[-1]['s']:.3f}s  "
                f"podium {pod[-1]['s']:.3f}s",
                flush=True,
            )

        bare_s = statistics.median(r["s"] for r in bare)
        tmux_s = statistics.median(r["s"] for r in tmx)
        podium_s = statistics.median(r["s"] for r in pod)
        mib = info["file_bytes"] / MIB

        profile_text = None
        if args.profile:
            prof_run = run_podium(file, tmp, 99, info, profile=True)
            profile_text = prof_run.pop("profile")

        echo_p = asyncio.run(_echo_podium(args.echo_samples, tmp))
        echo_t = echo_tmux(args.echo_samples, env)
        ep50, ep99 = percentile(echo_p, 50) * 1e3, percentile(echo_p, 99) * 1e3
        et50, et99 = percentile(echo_t, 50) * 1e3, percentile(echo_t, 99) * 1e3

        ratio = podium_s / tmux_s
        goals = {
            "throughput_ratio_le_0.6": ratio <= GOAL_RATIO,
            "echo_p50_within_1.5x_tmux": ep50 <= GOAL_ECHO_P50_FACTOR * et50,
            "echo_p99_lt_30ms": ep99 < GOAL_ECHO_P99_MS,
        }
        all_identical = all(r["transcript_identical"] for r in pod)
        med = lambda key: statistics.median(r[key] for r in pod)  # noqa: E731
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
                "transcript_identical_raw_file": all(r["transcript_identical_raw"] for r in pod),
                "transcript_segments": pod[0]["transcript_segments"],
                "screen_nonempty": all(r["screen_nonempty"] for r in pod),
                "bare_bytes_ok": all(r["bytes"] == info["pty_bytes"] for r in bare),
                "podium_detail": {
                    "exit_s": round(med("exit_s"), 4),
                    "final_pump_s": round(med("final_pump_s"), 4),
                    "close_fsync_s": round(med("close_s"), 4),
                    "rotate_fsync_s": round(med("rotate_fsync_s"), 4),
                    "exit_sync_s": round(med("exit_sync_s"), 4),
                    "reads": int(med("reads")),
                    "avg_read_bytes": int(info["pty_bytes"] / max(1, med("reads"))),
                    "bare_reads": int(statistics.median(r["reads"] for r in bare)),
                    "pumps": int(med("pumps")),
                    "pump_total_s": round(med("pump_s"), 4),
                    "pump_max_ms": round(med("pump_max_s") * 1e3, 2),
                    "skips": int(med("skips")),
                    "max_backlog_bytes": int(med("max_backlog")),
                },
                "echo_samples": args.echo_samples,
                "echo_podium_p50_ms": round(ep50, 3),
                "echo_podium_p99_ms": round(ep99, 3),
                "echo_tmux_p50_ms": round(et50, 3),
                "echo_tmux_p99_ms": round(et99, 3),
                "goals": goals,
            }
        )

        ok = lambda b: "MET" if b else "NOT MET"  # noqa: E731
        d = result["podium_detail"]
        print()
        print(f"throughput: cat {mib:.1f} MiB, {COLUMNS}x{LINES}, median of {args.repeat}")
        print(f"{'case':<16}{'median_s':>10}{'MB/s':>10}{'ratio_vs_tmux':>16}")
        print(f"{'bare pty':<16}{bare_s:>10.3f}{mib / bare_s:>10.1f}{bare_s / tmux_s:>16.3f}")
        print(f"{'tmux':<16}{tmux_s:>10.3f}{mib / tmux_s:>10.1f}{1.0:>16.3f}")
        print(f"{'podium engine':<16}{podium_s:>10.3f}{mib / podium_s:>10.1f}{ratio:>16.3f}")
        print(
            f"  podium: exited at {d['exit_s']:.3f}s, final pump {d['final_pump_s'] * 1e3:.1f} ms, "
            f"close/fsync {d['close_fsync_s'] * 1e3:.1f} ms, rotation fsync {d['rotate_fsync_s'] * 1e3:.1f} ms "
            f"({pod[0]['rotations']} rotations), exit fdatasync {d['exit_sync_s'] * 1e3:.1f} ms"
        )
        print(
            f"  podium: {d['reads']} reads (avg {d['avg_read_bytes']} B; bare pty {d['bare_reads']}), "
            f"{d['pumps']} pumps ({d['pump_total_s']:.3f}s, max {d['pump_max_ms']:.1f} ms), "
            f"{d['skips']} skip-aheads, max backlog {d['max_backlog_bytes'] / MIB:.2f} MiB"
        )
        print(
            f"  transcript identical to the PTY stream: {all_identical}  "
            f"(to the raw file: {result['transcript_identical_raw_file']}, ONLCR adds \\r); "
            f"screen non-empty: {result['screen_nonempty']}"
        )
        print()
        print(f"{'echo p50/p99 ms':<18}podium {ep50:.3f}/{ep99:.3f}   tmux {et50:.3f}/{et99:.3f}   ({args.echo_samples} samples)")
        print()
        print("goals:")
        print(f"  throughput ratio <= {GOAL_RATIO}: {ratio:.3f}  {ok(goals['throughput_ratio_le_0.6'])}")
        print(
            f"  echo p50 <= {GOAL_ECHO_P50_FACTOR}x tmux ({GOAL_ECHO_P50_FACTOR * et50:.3f} ms): "
            f"{ep50:.3f} ms  {ok(goals['echo_p50_within_1.5x_tmux'])}"
        )
        print(f"  echo p99 < {GOAL_ECHO_P99_MS:.0f} ms: {ep99:.3f} ms  {ok(goals['echo_p99_lt_30ms'])}")
        if profile_text:
            print()
            print("cProfile of one podium run (by tottime):")
            print(profile_text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
