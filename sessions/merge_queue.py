"""The merge queue: several writers' branches merged into the target in the order given,
each checked against the target as the ones before it left it. A branch that conflicts
stops the queue (what merged stays merged, nothing is half-merged) and, when asked, is sent
back to its worker as a follow-up in its own conversation: rebase onto the target and
resolve. A branch with nothing the target lacks (or merged and removed) is passed over;
one with uncommitted changes, or that a worker still works in, stops the queue, naming them. Merging itself is worktrees.py's (`worktree_merge`,
through the request table, so every check and merge is journaled there); this room only
orders the merges and says where the queue stopped. It writes no file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .protocol import MergeQueue
from .requests import RequestError, RequestTable


def send_back_prompt(branch: str, target: str, conflicts: list[str]) -> str:
    return (
        f"Your branch {branch} no longer merges cleanly into {target}: conflicts in {', '.join(conflicts)}. "
        f"Rebase onto {target} (git rebase {target}), resolve them, run the tests, commit, and end with your report."
    )


class MergeQueueRoom:
    def __init__(self, call: Callable[..., Awaitable[Any]]):
        self._call = call

    def register(self, table: RequestTable) -> None:
        table.add("merge_queue", self.op_queue, MergeQueue)

    async def op_queue(self, client: Any, req: dict[str, Any]) -> dict[str, Any]:
        names = [str(n) for n in req["names"]]
        if not names:
            raise RequestError("the queue is empty: name at least one writer")
        how = {"how": req["how"]} if req.get("how") else {}
        out: dict[str, Any] = {"merged": [], "clean": [], "passed": [], "stopped": None}
        for n, name in enumerate(names, 1):
            check = await self._call(client.kind, "worktree_merge", name=name, check=True)
            if not check["clean"] or check["uncommitted"] or check["busy"]:
                stop = {"name": name, "at": n, "of": len(names), "branch": check["branch"], "target": check["target"], "conflicts": check["conflicts"], "uncommitted": check["uncommitted"], "busy": check["busy"]}
                if check["conflicts"] and req.get("send_back"):
                    stop["sent_back"] = await self._send_back(client, check, req.get("env"))
                out["stopped"] = stop
                return out
            if not check["commits"]:
                why = "merged, and its worktree removed" if check.get("removed") else f"{check['branch']} has nothing {check['target']} lacks"
                out["passed"].append({"name": name, "why": why})
                continue
            if req.get("check"):
                out["clean"].append(check)
                continue
            done = await self._call(client.kind, "worktree_merge", name=name, **how)
            out["merged"].append({"name": name, **done["merged"]})
        return out

    async def _send_back(self, client: Any, check: dict[str, Any], env: dict[str, str] | None) -> str:
        """'' when its worker was asked; else why not (the person rebases it by hand)."""
        prompt = send_back_prompt(check["branch"], check["target"], check["conflicts"])
        try:
            await self._call(client.kind, "resume", worker=check["worker"], prompt=prompt, env=env)
        except RequestError as exc:
            return str(exc)
        return ""
