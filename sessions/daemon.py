"""Starting podium's long-lived processes detached from whoever started them.

A holder or supervisor is launched through `subprocess` in a new session, forks once more
and lets the middle process exit (so it is nobody's child and never a zombie), sends its
stdio to a log file, and reports readiness as one JSON line on a pipe the launcher reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class LaunchError(Exception):
    pass


def detach(log_path: str | None) -> None:
    """In the launched process: fork, let the parent exit, keep going as the grandchild."""
    if os.fork() > 0:
        os._exit(0)
    if log_path:
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def _command(module: str, args: Sequence[str], log_path: Path, ready_w: int) -> list[str]:
    # -P: never the working directory first on sys.path, so a workspace's own sessions.py
    # (or tui/, widgets.py...) can never stand in for podium's modules.
    return [sys.executable, "-P", "-m", module, "--detach-log", str(log_path), "--ready-fd", str(ready_w), *args]


def _spawn(
    module: str,
    args: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the launched process; returns it and the read end of its readiness pipe."""
    r, w = os.pipe()
    try:
        proc = subprocess.Popen(
            _command(module, args, log_path, w),
            env=dict(env) if env is not None else None,
            cwd="/",  # a daemon pins no directory, and the workspace is never its import path
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(w,),
            start_new_session=True,
        )
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    return proc, r


def _parse_ready(raw: bytes, what: str, log_path: Path) -> dict[str, object]:
    line = raw.split(b"\n", 1)[0]
    if not line:
        raise LaunchError(f"{what} exited before it was ready; see {log_path}")
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        raise LaunchError(f"{what} said something unreadable on start; see {log_path}") from None


def launch_blocking(
    module: str,
    args: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> dict[str, object]:
    proc, r = _spawn(module, args, log_path, env)
    try:
        chunks = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in chunks:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                raise LaunchError(f"{module} did not become ready in {timeout:.0f}s; see {log_path}")
            data = os.read(r, 4096)
            if not data:
                break
            chunks += data
        proc.wait(timeout=5)
        return _parse_ready(chunks, module, log_path)
    finally:
        os.close(r)


async def launch(
    module: str,
    args: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> dict[str, object]:
    """The same, without blocking the event loop."""
    loop = asyncio.get_running_loop()
    proc, r = _spawn(module, args, log_path, env)
    os.set_blocking(r, False)
    done: asyncio.Future[bytes] = loop.create_future()
    buf = bytearray()

    def readable() -> None:
        try:
            data = os.read(r, 4096)
        except BlockingIOError:
            return
        buf.extend(data)
        if (not data or b"\n" in buf) and not done.done():
            done.set_result(bytes(buf))

    loop.add_reader(r, readable)
    try:
        raw = await asyncio.wait_for(done, timeout)
    except asyncio.TimeoutError:
        raise LaunchError(f"{module} did not become ready in {timeout:.0f}s; see {log_path}") from None
    finally:
        loop.remove_reader(r)
        os.close(r)
        # The middle process exits at once; reap it off the loop.
        await loop.run_in_executor(None, proc.wait)
    return _parse_ready(raw, module, log_path)
