"""Budgets: ceilings on what the agents spend, in tokens and in dollars, per task, per plan
and per workspace, counted from the usage the agents report (codex at the end of each
turn, claude with every answer, and its cost in its result; an agent that reports no cost
is priced at `usd_per_mtok` when one is set). At 80 % of a ceiling podium says so (a
notify escalation); at 100 % it interrupts the workers spending against it, nothing new
of that scope starts, and a gate escalation asks the person for more (half the ceiling
again) or a stop.

This room owns `.podium/budget.toml` (the ceilings the person raised, the warnings already
given, the question open): a restart neither forgets a raise nor warns twice, and asks
again what was being asked. It reads the workers through a read-only mapping and the plan
through `PlanSide`; it acts through the request table and that side's two callbacks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .blackboard import BlackboardError, DiskThread, Journal, read_toml_or_empty, write_toml
from .requests import RequestError
from .states import ACTIVE
from .units import tokens as tokens_text

log = logging.getLogger("podium")

WARN_AT = 0.8  # a notify escalation at this share of a ceiling
RAISE_BY = 0.5  # "more" adds this share of the ceiling
CHECK_AFTER = 0.2  # seconds: usage reports that come together are counted once
MORE, STOP = "A", "B"
OPTIONS = [
    {"key": MORE, "label": "allow half the ceiling again, from what is spent now; the interrupted work carries on in its own conversation"},
    {"key": STOP, "label": "stop: what ran out stays stopped"},
]


@dataclass
class Scope:
    """What one ceiling covers: whose spend counts and which tasks it holds back."""

    key: str  # "workspace", "plan#3", "task#3:impl" (a new plan run starts its own)
    label: str  # as people read it: "the workspace", "plan 'x'", "task impl"
    tokens: int | None
    usd: float | None
    workers: list[str]
    tasks: list[str] = field(default_factory=list)
    usd_per_mtok: float | None = None


@dataclass
class Spend:
    tokens: int = 0
    usd: float = 0.0
    unpriced: int = 0  # tokens of agents that report no cost, with no price set

    def public(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "usd": round(self.usd, 4), "unpriced": self.unpriced}


def spend_of(agents: Iterable[dict[str, Any]], usd_per_mtok: float | None) -> Spend:
    """What these agents spent (their `agent` records, as the workers publish them)."""
    out = Spend()
    for agent in agents:
        n = int(agent.get("tokens") or 0)
        out.tokens += n
        cost = float(agent.get("cost_usd") or 0.0)
        if cost:
            out.usd += cost
        elif n and usd_per_mtok:
            out.usd += n * usd_per_mtok / 1e6
        elif n:
            out.unpriced += n
    return out


def share(spend: Spend, tokens: float | None, usd: float | None) -> float:
    """How much of the tighter ceiling is spent (0 with no ceiling)."""
    return max(spend.tokens / tokens if tokens else 0.0, spend.usd / usd if usd else 0.0)


def describe(spend: Spend, tokens: float | None, usd: float | None) -> str:
    parts = []
    if tokens:
        parts.append(f"{tokens_text(spend.tokens)} of {tokens_text(int(tokens))} tokens")
    if usd:
        parts.append(f"${spend.usd:.2f} of ${usd:.2f}" + (f" (+{tokens_text(spend.unpriced)} tokens unpriced)" if spend.unpriced else ""))
    return ", ".join(parts)


class PlanSide(Protocol):
    """What budgets need of the plan (the scheduler has it)."""

    def budget_scopes(self) -> list[Scope]: ...

    def over_budget(self, key: str, tasks: list[str], evidence: str) -> list[str]: ...  # the tasks it holds

    def budget_answered(self, key: str, tasks: list[str], more: bool, by: str) -> None: ...


class Budgets:
    def __init__(
        self,
        path: Path,
        journal: Journal,
        disk: DiskThread,
        call: Callable[..., Awaitable[Any]],
        workers: Mapping[str, Any],
        workspace: dict[str, float],
        changed: Callable[[], None],
    ):
        self.path = path
        self.journal = journal
        self.disk = disk
        self._call = call
        self.workers = workers
        self.workspace = workspace  # the person's [budget]: workspace_tokens, workspace_usd, usd_per_mtok
        self.changed = changed
        self.side: PlanSide | None = None
        self.levels: dict[str, int] = {}  # scope key -> 80 or 100: what was said already
        self.extra: dict[str, dict[str, float]] = {}  # scope key -> {tokens, usd} the person added
        self.asking: dict[str, dict[str, Any]] = {}  # scope key -> {escalation, tasks}: a question open
        self.spent: dict[str, dict[str, Any]] = {}  # scope key -> its spend and ceilings, for the clients
        self._due: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def call(self, op: str, **fields: Any) -> Any:
        return await self._call("budget", op, **fields)

    # -- start and restart ------------------------------------------------------------------------
    async def restore(self) -> None:
        try:
            data = await self.disk.run(read_toml_or_empty, self.path)
        except (OSError, BlackboardError) as exc:
            self.journal.write("budget", None, problem=f"{exc}; warnings may be given again")
            data = {}
        self.levels = {str(k): int(v) for k, v in (data.get("levels") or {}).items() if isinstance(v, int)}
        self.extra = {str(k): {n: float(x) for n, x in v.items() if isinstance(x, (int, float))} for k, v in (data.get("extra") or {}).items() if isinstance(v, dict)}
        for key, open_ in (data.get("asking") or {}).items():
            if isinstance(open_, dict):  # the gate did not survive the restart: ask again
                self._soon(self._ask(str(key), list(open_.get("tasks") or []), str(open_.get("evidence") or ""), str(open_.get("label") or key)))
        self.check_soon()

    def stop(self) -> None:
        if self._due is not None:
            self._due.cancel()

    def save(self) -> None:
        self.disk.write_toml(self.path, {"levels": self.levels, "extra": self.extra, "asking": self.asking})

    def _soon(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception() is None or log.error("budget: %r", t.exception(), exc_info=t.exception()))

    # -- counting ---------------------------------------------------------------------------------
    def check_now(self) -> None:
        """A worker ended: count before the plan starts the next task (a codex reports its
        usage as it ends; the next start must not slip in before it is counted)."""
        if self._due is not None:
            self._due.cancel()
        self._check()

    def check_soon(self) -> None:
        """An agent reported usage: count once the reports that come with it are in."""
        if self._due is None:
            self._due = asyncio.get_running_loop().call_later(CHECK_AFTER, self._check)

    def scopes(self) -> list[Scope]:
        out = []
        ws = self.workspace
        if ws.get("workspace_tokens") or ws.get("workspace_usd"):
            out.append(Scope("workspace", "the workspace", _int(ws.get("workspace_tokens")), ws.get("workspace_usd"), list(self.workers), usd_per_mtok=ws.get("usd_per_mtok")))
        out += self.side.budget_scopes() if self.side else []
        for scope in out:
            scope.usd_per_mtok = scope.usd_per_mtok or ws.get("usd_per_mtok")
        return out

    def _check(self) -> None:
        self._due = None
        spent: dict[str, dict[str, Any]] = {}
        for scope in self.scopes():
            spend = self.spend(scope)
            tokens, usd = self.ceilings(scope)
            used = share(spend, tokens, usd)
            spent[scope.key] = {"label": scope.label, **spend.public(), "ceiling_tokens": tokens, "ceiling_usd": usd, "share": round(used, 4)}
            level = 100 if used >= 1.0 else 80 if used >= WARN_AT else 0
            if level > self.levels.get(scope.key, 0) and scope.key not in self.asking:
                self.levels[scope.key] = level
                self.save()
                self._crossed(scope, level, describe(spend, tokens, usd))
        if spent != self.spent:
            self.spent = spent
            self.changed()

    def spend(self, scope: Scope) -> Spend:
        agents = ((self.workers[w].public().get("agent") or {}) for w in dict.fromkeys(scope.workers) if w in self.workers)
        return spend_of(agents, scope.usd_per_mtok)

    def ceilings(self, scope: Scope) -> tuple[float | None, float | None]:
        more = self.extra.get(scope.key, {})
        tokens = scope.tokens + more.get("tokens", 0.0) if scope.tokens else None
        usd = scope.usd + more.get("usd", 0.0) if scope.usd else None
        return tokens, usd

    def _crossed(self, scope: Scope, level: int, said: str) -> None:
        self.journal.write("budget", None, scope=scope.key, level=level, spent=said)
        if level == 80:
            self._soon(self._notify(f"{scope.label} has spent {said} ({int(WARN_AT * 100)} % of its budget): at 100 % its workers are interrupted"))
            return
        running = [w for w in dict.fromkeys(scope.workers) if w in self.workers and self.workers[w].state in ACTIVE and (self.workers[w].public().get("agent") or {}).get("mode", "shell") != "shell"]
        evidence = f"{scope.label} has spent {said}"
        held = self.side.over_budget(scope.key, scope.tasks, evidence) if self.side is not None else []  # (no tasks named: every open one)
        for name in running:
            self._soon(self._interrupt(name, scope.key))
        if not running and not held:  # its work had ended: nothing to stop, nothing to ask
            self.journal.write("budget", None, scope=scope.key, note="reached as its last work ended; nothing runs or waits under it")
            self._soon(self._notify(f"{evidence}: its ceiling was reached as its work ended"))
            return
        self._soon(self._ask(scope.key, scope.tasks, evidence, scope.label))

    async def _notify(self, text: str) -> None:
        try:
            await self.call("escalate", question=text, tier="notify", options=[{"key": "y", "label": "seen"}])
        except RequestError as exc:
            log.warning("budget: %s", exc)

    async def _interrupt(self, name: str, key: str) -> None:
        self.journal.write("budget", name, scope=key, action="interrupt")
        try:
            await self.call("interrupt", worker=name)
        except RequestError as exc:  # it ended meanwhile
            self.journal.write("budget", name, note=f"interrupt: {exc}")

    # -- the question -----------------------------------------------------------------------------
    async def _ask(self, key: str, tasks: list[str], evidence: str, label: str) -> None:
        self.asking[key] = {"tasks": tasks, "evidence": evidence, "label": label}
        await self.disk.run(write_toml, self.path, {"levels": self.levels, "extra": self.extra, "asking": self.asking})
        question = f"Budget reached: {evidence}. Its workers were interrupted and nothing of it starts. Allow more, or stop?"
        esc = await self.call("escalate", question=question, tier="gate", options=OPTIONS)
        self.asking[key]["escalation"] = esc["id"]
        self.save()
        out = await self.call("decision_wait", escalation=esc["id"])
        answer = out.get("answer") or {}
        more, by = str(answer.get("choice")) != STOP, str(answer.get("by", "?"))
        self.asking.pop(key, None)
        if more:
            scope = next((s for s in self.scopes() if s.key == key), None)
            if scope is not None:
                self._raise(scope)
            self.levels[key] = 0  # the raised ceiling is warned about again
        self.journal.write("budget", None, scope=key, answer="more" if more else "stop", by=by, extra=self.extra.get(key))
        self.save()
        if self.side is not None:
            self.side.budget_answered(key, tasks, more, by)
        self.check_soon()

    def _raise(self, scope: Scope) -> None:
        """Half the ceiling again, from what is spent now (a run that overshot its ceiling
        would else be over the raised one at once)."""
        spent = self.spend(scope).public()
        add = self.extra.setdefault(scope.key, {})
        for unit, base in (("tokens", scope.tokens), ("usd", scope.usd)):
            if base:
                ceiling = base + add.get(unit, 0.0)
                add[unit] = max(ceiling, float(spent.get(unit) or 0.0)) + base * RAISE_BY - base

    def public(self) -> dict[str, Any]:
        return {"budgets": {k: {**v, "asking": k in self.asking} for k, v in self.spent.items()}}


def _int(value: float | None) -> int | None:
    return int(value) if value else None
