"""Starting podium's long-lived processes (a supervisor, a holder) detached from whoever
started them: in a new session, from `/`, with a pipe on which the launched process says
when it is ready (`detached.py` is its side), waited for without blocking the loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


class LaunchError(Exception):
    pass


HOLDER_MARK = "podium holder"  # in every holder's command line (ps, pgrep -f, the tests' clean-up)
SUPERVISOR_MODULE = "podium.sessions.supervisor"


def supervisor_program() -> list[str]:
    # -P: the working directory is never first on sys.path, so a workspace's own
    # sessions.py (or tui/, podium.py...) can never stand in for podium's modules.
    return [sys.executable, "-P", "-m", SUPERVISOR_MODULE]


def holder_program() -> list[str]:
    """The holder is a bare interpreter: no site (the heaviest part of a start, and of an
    idle holder's memory), no PYTHON* variables, no user site; podium's sessions/ (never
    the workspace) is its only addition to the import path, and `holder` is imported from
    there (compiled once and cached, not compiled again by every start)."""
    here = str(Path(__file__).parent)
    return [sys.executable, "-E", "-s", "-S", "-P", "-c", f"import sys; sys.path.insert(0, {here!r}); import holder; sys.exit(holder.main())  # {HOLDER_MARK}"]


def _spawn(
    program: Sequence[str],
    args: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the launched process; returns it and the read end of its readiness pipe.
    (Not os.posix_spawn: its child starts with glibc's signals 32 and 33 ignored, and
    ignored signals survive every exec down to the worker.)"""
    r, w = os.pipe()
    try:
        proc = subprocess.Popen(
            [*program, "--detach-log", str(log_path), "--ready-fd", str(w), *args],
            env=dict(env) if env is not None else None,
            cwd="/",  # a daemon pins no directory, and the workspace is never its import path
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(w,),
            start_new_session=True,  # a new session: no terminal of ours, no signal of our group
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


async def launch(
    program: Sequence[str],
    args: Sequence[str],
    log_path: Path,
    what: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> dict[str, object]:
    """Start `program args`, detached, and wait (without blocking the event loop) for the
    one line it reports when ready (or why it is not)."""
    loop = asyncio.get_running_loop()
    proc, r = _spawn(program, args, log_path, env)
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
        raise LaunchError(f"{what} did not become ready in {timeout:.0f}s; see {log_path}") from None
    finally:
        loop.remove_reader(r)
        os.close(r)
        await _reaped(proc)  # the middle process exits at once
    return _parse_ready(raw, what, log_path)


async def _reaped(proc: subprocess.Popen[bytes]) -> None:
    """Wait for `proc` to exit without blocking the loop or taking a thread (a pidfd)."""
    loop = asyncio.get_running_loop()
    fd = os.pidfd_open(proc.pid)
    gone = loop.create_future()
    loop.add_reader(fd, lambda: gone.done() or gone.set_result(None))
    try:
        await gone
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    proc.wait()
