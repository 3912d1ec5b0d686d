"""The dead-letter queue: a task that failed past its retries is written to
`.podium/dead-letters/<id>.toml` with everything needed to understand it and run it again
(the task, why it ended, its attempts, every classified error, the envelope it was sent,
the last lines its worker printed). From there the person retries it (the scheduler runs
the task again; the letter moves to `retried/`, and a later failure writes a new letter
that names the earlier ones) or drops it (the letter moves to `dropped/`). Nothing is
deleted. A letter edited by hand into garbage is reported by name and kept, never fatal.

The scheduler hands a finished task over through `add`; the room runs the scheduler's
own `task_retry` through the request table, as a client would. It is the one writer of
`.podium/dead-letters/`.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .blackboard import DiskThread, Journal, write_toml
from .fsutil import now_iso
from .protocol import NoFields, TaskRef
from .requests import RequestError, RequestTable
from .text import plain_text
from .transcript import TranscriptReader

TAIL_BYTES = 16 * 1024  # the end of the last worker's transcript a letter keeps


class DeadLetters:
    def __init__(self, root: Path, journal: Journal, disk: DiskThread, call: Callable[..., Awaitable[Any]]):
        self.dir = root / "dead-letters"
        self.tasks = root / "tasks"
        self.workers = root / "workers"
        self.journal = journal
        self.disk = disk
        self.call = call  # table.call(by, op, **fields)

    def register(self, table: RequestTable) -> None:
        table.add("dlq_ls", self.op_ls, NoFields)
        table.add("dlq_show", self.op_show, TaskRef)
        table.add("dlq_retry", self.op_retry, TaskRef)
        table.add("dlq_drop", self.op_drop, TaskRef)

    # -- in ------------------------------------------------------------------------------------------
    async def add(self, task: dict[str, Any]) -> Path:
        """A task that ended failed or timed out, past its retries: its letter."""
        path = await self.disk.run(self._write, task)
        self.journal.write("dead-letter", task.get("worker"), task=task["id"], path=str(path), error=(task.get("error") or {}).get("class"))
        return path

    def _write(self, task: dict[str, Any]) -> Path:
        tid = task["id"]
        earlier = sorted(str(p.relative_to(self.dir)) for p in (self.dir / "retried").glob(f"{tid}-*.toml")) if (self.dir / "retried").exists() else []
        letter = {
            "task": tid,
            "state": task["state"],
            "reason": task.get("reason", ""),
            "written": now_iso(),
            "error": task.get("error") or {},
            "attempts": task.get("attempts") or [],
            "errors": _errors(self.tasks / tid / "errors.jsonl"),
            "earlier_letters": earlier,
            "definition": {k: task[k] for k in ("goal", "role", "agent", "command", "after", "verify", "touches", "time_cap", "retries") if task.get(k) is not None},
            "envelope": _read(self.tasks / tid / "envelope.md"),
            "last_output": _tail(self.workers / task["worker"]) if task.get("worker") else "",
        }
        path = self.dir / f"{tid}.toml"
        write_toml(path, letter)
        return path

    # -- the requests --------------------------------------------------------------------------------------
    async def op_ls(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        return await self.disk.run(self._list)

    def _list(self) -> dict[str, Any]:
        letters, problems = [], []
        for path in sorted(self.dir.glob("*.toml")) if self.dir.exists() else []:
            try:
                letter = tomllib.loads(path.read_text("utf-8"))
                letters.append({"task": str(letter.get("task", path.stem)), "state": letter.get("state"), "class": (letter.get("error") or {}).get("class"), "reason": letter.get("reason", ""), "written": letter.get("written"), "attempts": len(letter.get("attempts") or []), "path": str(path)})
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError) as exc:
                problems.append(f"{path}: not a dead letter podium can read ({exc}); it is kept as it is")
        return {"letters": letters, "problems": problems}

    async def op_show(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        path = self._path(req["task"])
        try:
            return await self.disk.run(lambda: tomllib.loads(path.read_text("utf-8")))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise RequestError(f"{path}: not a dead letter podium can read ({exc}); it is kept as it is") from None

    async def op_retry(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        path = self._path(req["task"])
        task = await self.call(client.kind, "task_retry", task=req["task"])  # the scheduler decides if it may (and calls retried)
        return {"task": task, "letter": str(self.dir / "retried" / path.name) if not path.exists() else str(path)}

    async def retried(self, tid: str, via: str) -> str | None:
        """The task runs again (`podium dlq retry` or `podium plan retry`): its letter moves to
        retried/, where its next letter will point back to it."""
        path = self.dir / f"{tid}.toml"
        if not path.exists():
            return None
        moved = await self.disk.run(_move, path, self.dir / "retried", tid)
        self.journal.write("dead-letter", None, task=tid, action="retry", moved=str(moved), via=via)
        return str(moved)

    async def op_drop(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        path = self._path(req["task"])
        moved = await self.disk.run(_move, path, self.dir / "dropped", req["task"])
        self.journal.write("dead-letter", None, task=req["task"], action="drop", moved=str(moved), via=client.kind)
        return {"letter": str(moved)}

    def _path(self, tid: Any) -> Path:
        name = str(tid)
        path = self.dir / f"{name}.toml"
        if "/" in name or name.startswith(".") or not path.exists():
            known = ", ".join(sorted(p.stem for p in self.dir.glob("*.toml"))) if self.dir.exists() else ""
            raise RequestError(f"no dead letter {name!r} (letters: {known or 'none'})")
        return path


def _errors(path: Path) -> list[dict[str, Any]]:
    out = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return out
    for line in lines:
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _tail(worker_dir: Path) -> str:
    try:
        reader = TranscriptReader(worker_dir)
        return plain_text(reader.read(max(0, reader.size - TAIL_BYTES), reader.size)).replace("\r", "")
    except OSError:
        return ""


def _move(path: Path, directory: Path, tid: str) -> Path:
    """To `directory` as <id>-<n>.toml (the n-th time), never over another."""
    directory.mkdir(parents=True, exist_ok=True)
    n = 1
    while (directory / f"{tid}-{n}.toml").exists():
        n += 1
    target = directory / f"{tid}-{n}.toml"
    os.rename(path, target)
    return target
