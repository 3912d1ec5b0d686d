"""git itself, run for podium's rooms (worktrees, review, submodules): one place that runs
it without a terminal prompt and in the C locale, and turns a failure into git's own last
words."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from .requests import RequestError


class GitError(RequestError):
    pass


async def git(cwd: Path, *args: str, ok: tuple[int, ...] = (0,), timeout: float | None = None) -> tuple[int, str]:
    """`git -C cwd args…`: (exit code, stdout), or GitError with git's own words."""
    proc = await asyncio.create_subprocess_exec("git", "-C", str(cwd), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise GitError(f"git {' '.join(args[:3])}: still running after {timeout:.0f} s, stopped") from None
    code = proc.returncode or 0
    if code not in ok:
        raise GitError(f"git {' '.join(args[:3])}: {(err or out).decode(errors='replace').strip().splitlines()[-1] if (err or out).strip() else f'exit {code}'}")
    return code, out.decode(errors="replace")
