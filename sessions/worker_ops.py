"""The requests about workers: list and status, watching screens and following output,
spawn, the exec_command / write_stdin model, typed keys, signals, resize, the last
message, resume, stop. Each handler checks what it is given and asks the supervisor (seen
through the narrow `Room` protocol) to act.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from .blackboard import Journal
from .exec_model import DEFAULT_EXEC_YIELD_MS, DEFAULT_WRITE_YIELD_MS, UnreadOutput, exec_answer
from .protocol import Exec, Input, Kill, NoFields, Resize, Resume, Spawn, Stop, Subscribe, Unsubscribe, Write, WorkerRef, unpack_bytes
from .launch import shell_argv
from .orchestrators import MCP_KIND as ORCHESTRATOR
from .requests import InternalClient, RequestError, RequestTable
from .states import ACTIVE, ENDED
from .wire import terminal_size
from .worker import Worker

TYPING_BURST = 1.0  # keys typed within this many seconds are one journal entry


class Room(Protocol):
    """What the worker requests need of the supervisor."""

    workers: dict[str, Worker]
    journal: Journal

    def describe(self, worker: Worker) -> dict[str, Any]: ...
    def hello_info(self) -> dict[str, Any]: ...
    def watch(self, client: Any, names: list[str]) -> None: ...
    def typed(self, name: str) -> None: ...
    def resized(self, worker: Worker) -> None: ...
    def signal_sent(self, worker: Worker, op: str, signal: str, by: str) -> None: ...
    def exec_name(self) -> tuple[int, str]: ...
    async def spawn(self, name: str, argv: list[str], **options: Any) -> Worker: ...
    async def resume(self, worker: Worker, prompt: str, env: dict[str, str] | None) -> Worker: ...
    def stop_soon(self) -> None: ...


async def wait_ms(event: asyncio.Event, ms: Any) -> None:
    try:
        await asyncio.wait_for(event.wait(), max(0.0, float(ms)) / 1000)
    except asyncio.TimeoutError:
        pass


def held_back(client: Any, op: str) -> None:
    """An orchestrating agent's connection starts, resumes and types into workers only
    through mcp_spawn / mcp_exec / mcp_resume / mcp_write, where the person's pause and cap
    apply (orchestrators.py calls this op as a room)."""
    if client.kind == ORCHESTRATOR and not isinstance(client, InternalClient):
        raise RequestError(f"an orchestrator's {op} goes through mcp_{op} (the person's pause and cap apply)")


def find_worker(workers: Mapping[str, Worker], name: Any) -> Worker:
    """The worker called `name`, or a RequestError that names the ones there are."""
    worker = workers.get(str(name))
    if worker is None:
        raise RequestError(f"unknown worker {name!r} (workers: {', '.join(sorted(workers)) or 'none'})")
    return worker


class WorkerOps:
    def __init__(self, room: Room):
        self.room = room
        self._typing: dict[tuple[str, str], list[int]] = {}  # (worker, via) -> [bytes, writes]

    def register(self, table: RequestTable) -> None:
        add = table.add
        add("ls", self.op_ls, NoFields)
        add("status", self.op_status, NoFields)
        add("subscribe", self.op_subscribe, Subscribe)
        add("unsubscribe", self.op_unsubscribe, Unsubscribe)
        add("screen", self.op_screen, WorkerRef)
        add("follow", self.op_follow, WorkerRef)
        add("spawn", self.op_spawn, Spawn)
        add("exec", self.op_exec, Exec)
        add("write", self.op_write, Write)
        add("last", self.op_last, WorkerRef)
        add("resume", self.op_resume, Resume)
        add("interrupt", self.op_interrupt, WorkerRef)
        add("kill", self.op_kill, Kill)
        add("pause", self.op_pause, WorkerRef)
        add("continue", self.op_continue, WorkerRef)
        add("stop", self.op_stop, Stop)
        table.add_notification("input", self.input, Input)
        table.add_notification("resize", self.resize, Resize)

    # -- finding workers ----------------------------------------------------------------------
    def worker(self, name: Any) -> Worker:
        return find_worker(self.room.workers, name)

    def live(self, name: Any) -> Worker:
        worker = self.worker(name)
        if not worker.live:
            raise RequestError(f"worker {worker.name} is not running ({worker.state}: {worker.reason})")
        return worker

    # -- looking ---------------------------------------------------------------------------------
    async def op_ls(self, client: Any, req: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.room.describe(w) for w in self.room.workers.values()]

    async def op_status(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for w in self.room.workers.values():
            counts[w.state] = counts.get(w.state, 0) + 1
        return {**self.room.hello_info(), "workers": len(self.room.workers), "counts": counts}

    async def op_subscribe(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("events", True):
            client.events = True
        names = req.get("screens", [])
        if names == "*" or names == ["*"]:
            names = list(self.room.workers)
        elif isinstance(names, str):  # one worker's name
            names = [names]
        self.room.watch(client, [n for n in names if n in self.room.workers])
        return {"workers": [self.room.describe(w) for w in self.room.workers.values()]}

    async def op_unsubscribe(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        client.screens.difference_update(req["screens"])
        return {}

    async def op_screen(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req["worker"])
        worker.screen.pump()
        return worker.screen.snapshot()

    async def op_follow(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req["worker"])
        client.events = True  # a follower hears when the worker ends
        client.follows.add(worker.name)
        return {"offset": worker.offset, "state": worker.state}

    async def op_last(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.worker(req["worker"])
        text = worker.adapter.last_message()
        if text is None:
            raise RequestError(f"{worker.name} has no last message yet ({worker.state}: {worker.reason})")
        return {"worker": worker.name, "text": text, "mode": worker.mode, "run": len(worker.runs) or 1}

    # -- starting --------------------------------------------------------------------------------
    async def op_spawn(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        held_back(client, "spawn")
        cols, rows = terminal_size(req.get("cols", 120), req.get("rows", 40))
        worker = await self.room.spawn(
            req["name"],
            list(req["argv"]),
            kind=req.get("kind"),
            cwd=req.get("cwd"),
            env=req.get("env"),
            cols=cols,
            rows=rows,
            by=client.kind,
        )
        return self.room.describe(worker)

    async def op_resume(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        held_back(client, "resume")
        worker = self.worker(req["worker"])
        await self.room.resume(worker, str(req.get("prompt") or "continue"), req.get("env"))
        return self.room.describe(worker)

    # -- the exec_command / write_stdin model -------------------------------------------------------
    async def op_exec(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        held_back(client, "exec")
        cmd = req["cmd"]
        argv = shell_argv(cmd) if isinstance(cmd, str) else list(cmd)
        exec_id, name = self.room.exec_name()
        worker = await self.room.spawn(name, argv, kind=req.get("kind"), cwd=req.get("workdir"), env=req.get("env"), exec_id=exec_id, unread=True, by=client.kind)
        await wait_ms(worker.ended_event, req.get("yield_time_ms", DEFAULT_EXEC_YIELD_MS))
        return self._exec_answer(worker, req)

    async def op_write(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        held_back(client, "write")
        target = req["session_id"]
        name = f"exec-{target}" if isinstance(target, int) or str(target).isdigit() else str(target)
        worker = self.room.workers.get(name)
        if worker is None:
            raise RequestError(f"no exec session {target} (podium ls lists the workers)")
        if client.kind == ORCHESTRATOR and worker.by != ORCHESTRATOR:
            raise RequestError(f"session_id: {name} is not a session an orchestrator started (started by {worker.by or 'the person'}); an orchestrator types only into its own")
        if worker.unread is None:
            if worker.state in ENDED:
                raise RequestError(f"session {target} has exited ({worker.reason}) and its output was read")
            worker.unread = UnreadOutput()  # output from now on
        data = str(req.get("chars", "")).encode("utf-8", "surrogateescape")
        if data and worker.send_keys(data):
            self.room.journal.write("input", worker.name, bytes=len(data), via="write")
        await wait_ms(worker.ended_event, req.get("yield_time_ms", DEFAULT_WRITE_YIELD_MS))
        return self._exec_answer(worker, req)

    def _exec_answer(self, worker: Worker, req: dict[str, Any]) -> dict[str, Any]:
        assert worker.unread is not None
        exited = worker.state in ENDED
        sid: int | str = worker.exec_id if worker.exec_id is not None else worker.name
        answer = exec_answer(worker.unread, exited, worker.exit_code, sid, req.get("max_output_tokens"), worker.dir / "transcript.log")
        if exited:
            worker.unread = None  # read to the end: a further write is an error, as in codex
        return answer

    # -- keys, signals, size (notifications are handled in order and never answered) ----------------
    def input(self, client: Any, req: dict[str, Any]) -> None:
        worker = self.live(req["worker"])
        data = unpack_bytes(req["data_b64"])
        if data and worker.send_keys(data):
            self.room.typed(worker.name)
            self._journal_typing(worker.name, client.kind, len(data))

    def _journal_typing(self, worker: str, via: str, nbytes: int) -> None:
        """Keys typed in interactive mode go into the journal as one entry per burst."""
        key = (worker, via)
        if key not in self._typing:
            self._typing[key] = [0, 0]
            asyncio.get_running_loop().call_later(TYPING_BURST, self._flush_typing, key)
        self._typing[key][0] += nbytes
        self._typing[key][1] += 1

    def _flush_typing(self, key: tuple[str, str]) -> None:
        nbytes, writes = self._typing.pop(key, (0, 0))
        if writes:
            self.room.journal.write("input", key[0], bytes=nbytes, writes=writes, via=key[1])

    def resize(self, client: Any, req: dict[str, Any]) -> None:
        worker = self.worker(req["worker"])
        cols, rows = terminal_size(req["cols"], req["rows"])
        if (cols, rows) == (worker.screen.columns, worker.screen.lines):
            return
        worker.screen.resize(cols, rows)
        if worker.live:
            worker.link.control("resize", cols=cols, rows=rows)  # type: ignore[union-attr]
        self.room.resized(worker)

    async def op_interrupt(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.live(req["worker"])
        worker.interrupt_requested = True
        worker.link.control("interrupt")  # type: ignore[union-attr]
        self.room.signal_sent(worker, "interrupt", "SIGINT", client.kind)
        return {}

    async def op_kill(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.live(req["worker"])
        grace = float(req.get("grace", 3.0))
        worker.kill_requested = True
        worker.link.control("terminate", grace=grace)  # type: ignore[union-attr]
        self.room.signal_sent(worker, "kill", "SIGHUP", client.kind)
        if req.get("wait"):
            await wait_ms(worker.ended_event, grace * 1000 + 5000)
        return self.room.describe(worker)

    async def op_pause(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.live(req["worker"])
        worker.link.control("pause")  # type: ignore[union-attr]
        self.room.signal_sent(worker, "pause", "SIGSTOP", client.kind)
        return {}

    async def op_continue(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        worker = self.live(req["worker"])
        worker.link.control("continue")  # type: ignore[union-attr]
        self.room.signal_sent(worker, "continue", "SIGCONT", client.kind)
        return {}

    async def op_stop(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        grace = float(req.get("grace", 3.0))
        running = [w for w in self.room.workers.values() if w.state in ACTIVE and w.link is not None]
        for w in running:
            w.kill_requested = True
            w.link.control("terminate", grace=grace)  # type: ignore[union-attr]
        self.room.journal.write("stop", None, workers=[w.name for w in running], via=client.kind)
        await asyncio.gather(*(wait_ms(w.ended_event, grace * 1000 + 5000) for w in running))
        self.room.stop_soon()
        return {"stopped": [w.name for w in running]}
