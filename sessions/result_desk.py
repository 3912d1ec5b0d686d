"""The curated result's requests: promote a worker's last message, read the result,
change it (reorder, edit, remove, replace) from a named version. The document itself is
`result.py`; this room does its disk work on the disk thread, journals every change, and
tells every client that the result moved on. It reaches workers only through the
`last_message` callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .blackboard import DiskThread, Journal
from .protocol import NoFields, Promote, ResultChange
from .requests import RequestError, RequestTable
from .result import CuratedResult, ResultConflict, ResultUnreadable

# worker name -> (its last message, its provenance); raises RequestError if it has none
LastMessage = Callable[[str], "tuple[str, dict[str, Any]]"]


class ResultDesk:
    def __init__(self, result: CuratedResult, disk: DiskThread, journal: Journal, last_message: LastMessage, changed: Callable[[dict[str, Any]], None]):
        self.result = result
        self.disk = disk
        self.journal = journal
        self.last_message = last_message
        self.changed = changed  # a result event for every client
        self._promoted: tuple[tuple[int, int], dict[str, list[str]]] = ((0, 0), {})

    def register(self, table: RequestTable) -> None:
        table.add("promote", self.op_promote, Promote)
        table.add("result", self.op_result, NoFields)
        table.add("result_change", self.op_result_change, ResultChange)

    def promoted_runs(self) -> dict[str, list[str]]:
        """worker -> runs promoted, from result.md (re-read only when the file changed)."""
        try:
            st = self.result.path.stat()
            key = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            key = (0, 0)
        if key != self._promoted[0]:
            try:
                _, doc = self.result.read()
            except ResultUnreadable:
                return self._promoted[1]
            runs: dict[str, list[str]] = {}
            for sec in doc.sections:
                runs.setdefault(sec.worker, []).append(sec.run)
            self._promoted = (key, runs)
        return self._promoted[1]

    async def _on_disk(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return await self.disk.run(lambda: fn(*args, **kw))
        except ResultConflict as exc:
            raise RequestError(f"conflict: {exc}") from None
        except ResultUnreadable as exc:
            raise RequestError(str(exc)) from None
        except KeyError as exc:
            raise RequestError(str(exc.args[0])) from None

    async def op_promote(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        text, provenance = self.last_message(req["worker"])
        outcome = await self._on_disk(self.result.promote, provenance, text, force=bool(req.get("force")))
        if not outcome["duplicate"]:
            self.journal.write("promote", provenance["worker"], run=provenance["run"], section=outcome["section"], via=client.kind)
            self.changed({"event": "result", "version": outcome["version"], "by": client.kind, "what": f"promoted {provenance['worker']} run {provenance['run']}"})
        return outcome

    async def op_result(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        return await self._on_disk(self.result.as_json)

    async def op_result_change(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        op = req["change"]
        fields = {k: v for k, v in req.items() if k in ("by", "body", "text")}
        version = await self._on_disk(self.result.change, req.get("base"), op, req.get("section"), **fields)
        self.journal.write("result", None, change=op, section=req.get("section"), via=client.kind)
        self.changed({"event": "result", "version": version, "by": client.kind, "what": op})
        return {"version": version}

