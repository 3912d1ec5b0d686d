"""The tools through which `podium mcp`'s orchestrating agent meets the person: promote a
worker's message into the curated result and read it, ask the person a question (a
decision card in their inbox, with options, a recommended one, a default and its
timeout), and plans: write one from a preset, see how it runs, and run it, which waits for
the person's yes in the inbox unless they have set the orchestrators' plan tier lower.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict  # pydantic reads nested TypedDicts only from here on 3.11

from .blackboard import Blackboard
from .fsutil import atomic_write
from .mcp_link import REQUEST_TIMEOUT, SupervisorLine, ToolFailure
from .plan import AGENTS, PlanError, load_plan
from .presets import PATTERNS, pattern_named, preset
from .states import Tier
from .text import plain_text

LETTERS = "ABCDEFGHI"
CARD_SEEN_TIMEOUT = 15.0  # the inbox looks at decisions/pending/ once a second
MAX_ASK_S = 86_400.0
PRESET_AGENTS = Literal[tuple(a for a in AGENTS if a != "shell")]  # type: ignore[valid-type]
PATTERN_NAMES = ", ".join(f"{p.letter} {p.name}" for p in PATTERNS.values())
RUN, DONT = "A", "B"
YES = {RUN, "approve", "approve_session", "y"}


class Promoted(TypedDict):
    worker: str
    section: str
    duplicate: bool
    result: str


class ResultDoc(TypedDict):
    path: str
    version: str
    sections: list[dict[str, Any]]
    markdown: str


class Answer(TypedDict):
    answered: bool
    choice: str | None
    label: str | None
    by: str | None
    how: str | None
    escalation: str
    note: str


class NewPlan(TypedDict):
    path: str
    title: str
    tasks: list[dict[str, Any]]
    text: str


class TaskLine(TypedDict):
    id: str
    role: str
    state: str
    worker: str | None
    reason: str
    next: str


class PlanStatus(TypedDict):
    state: str
    title: str | None
    counts: dict[str, int]
    tasks: list[TaskLine]
    problems: list[str]


class PlanStart(TypedDict):
    started: bool
    tier: str
    escalation: str | None
    answer: dict[str, Any] | None
    note: str
    status: PlanStatus | None


def card_text(question: str, options: list[str], context: str, recommended: str | None, default: str | None, timeout_s: float | None, caller: str | None) -> str:
    """A decision card in the guides' format (`escalations.parse_card` reads it)."""
    first, _, rest = question.strip().partition("\n")
    body = "\n".join(part for part in (rest.strip(), context.strip()) if part)
    asker = f"Asked by the orchestrating agent{f' ({caller})' if caller else ''} through podium mcp."
    # A line of the agent's text that looks like a heading or a field would change the card.
    safe = "\n".join(("    " + ln if ln.lstrip().startswith("#") or ":" in ln.split(" ", 1)[0] else ln) for ln in f"{asker}\n\n{body}".splitlines())
    lines = [f"# Decision: {' '.join(first.split())}", "", "## Context", "", safe, "", "## Options", ""]
    lines += [f"{LETTERS[i]}. {' '.join(label.split())}" for i, label in enumerate(options)]
    if recommended:
        lines += ["", f"Recommended: {recommended}"]
    if default:
        lines += ["", f"Default: {default} after {max(1, round(timeout_s or 0))} seconds"]
    return "\n".join(lines) + "\n"


def plan_status(plan: dict[str, Any]) -> PlanStatus:
    return {
        "state": plan.get("state", "none"),
        "title": plan.get("title"),
        "counts": plan.get("counts") or {},
        "tasks": [
            {"id": t["id"], "role": t.get("role", ""), "state": t["state"], "worker": t.get("worker"), "reason": t.get("reason", ""), "next": t.get("next", "")}
            for t in plan.get("tasks") or []
        ],
        "problems": list(plan.get("problems") or []),
    }


class PersonTools:
    NAMES = ("promote", "read_result", "ask_person", "plan_new", "plan_status", "plan_run")

    def __init__(self, line: SupervisorLine, workspace: Path):
        self.line = line
        self.workspace = workspace
        self.bb = Blackboard(workspace)

    # -- the curated result -------------------------------------------------------------------------
    async def promote(
        self,
        name: Annotated[str, Field(min_length=1, description="the worker whose last message goes into the result")],
        force: Annotated[bool, Field(description="add it even if this run was promoted before")] = False,
    ) -> Promoted:
        """Put a worker's last message into the curated result (.podium/result.md) as a
        section with its provenance (worker, kind, thread, run, time, signals, files). The
        person sees, edits and reorders it; never forward raw worker output, curate it."""
        r = await self.line.request("promote", worker=name, force=force)
        return {"worker": name, "section": r["section"], "duplicate": r["duplicate"], "result": str(self.bb.root / "result.md")}

    async def read_result(self) -> ResultDoc:
        """The curated result as it stands (the person may have edited it): its sections
        with their provenance, and the whole Markdown."""
        r = await self.line.request("result")
        return {"path": r["path"], "version": r["version"], "sections": r["sections"], "markdown": r["markdown"]}

    # -- asking the person ---------------------------------------------------------------------------
    async def ask_person(
        self,
        question: Annotated[str, Field(min_length=1, max_length=2000, description="the decision, in one line (more lines become context)")],
        options: Annotated[list[Annotated[str, Field(min_length=1, max_length=500)]], Field(min_length=2, max_length=9, description="the choices; they become A, B, C… in this order")],
        context: Annotated[str, Field(max_length=8000, description="what the person needs to decide: evidence, cost, risk")] = "",
        recommended: Annotated[str | None, Field(pattern="^[A-I]$", description="the option letter you recommend")] = None,
        default: Annotated[str | None, Field(pattern="^[A-I]$", description="the option applied when timeout_s passes without an answer")] = None,
        timeout_s: Annotated[float | None, Field(ge=1, le=MAX_ASK_S, description="with default: when the default applies; without: how long this call waits (the question stays in the inbox)")] = None,
        escalation: Annotated[str | None, Field(description="wait again for the answer to an earlier ask_person (its escalation id) instead of asking anew")] = None,
    ) -> Answer:
        """Ask the person and block until they answer in podium's inbox, or the default
        applies. Use it before anything costly, risky or irreversible. Answers the chosen
        letter and its label, who answered and how."""
        if escalation is None:
            for field, letter in (("recommended", recommended), ("default", default)):
                if letter is not None and LETTERS.index(letter) >= len(options):
                    raise ToolFailure(f"{field}: {letter} is not one of the options A–{LETTERS[len(options) - 1]}")
            if default is not None and timeout_s is None:
                raise ToolFailure("timeout_s: a default needs the timeout after which it applies")
            escalation = await self._raise_card(question, options, context, recommended, default, timeout_s)
        wait = (timeout_s or MAX_ASK_S) + (5.0 if default else 0.0)
        out = await self.line.request("decision_wait", deadline=wait + REQUEST_TIMEOUT, escalation=escalation, timeout=wait)
        return self._answer(escalation, out)

    async def _raise_card(self, question: str, options: list[str], context: str, recommended: str | None, default: str | None, timeout_s: float | None) -> str:
        await self.line.client()  # subscribed first: the card's escalation event cannot be missed
        path = self.bb.root / "decisions" / "pending" / f"mcp-{secrets.token_hex(4)}.md"
        atomic_write(path, card_text(question, options, context, recommended, default, timeout_s, self.line.caller()), mode=0o644)

        def taken() -> str | None:
            return next((e["id"] for e in self.line.escalations.values() if (e.get("card") or {}).get("path") == str(path)), None)

        found = await self.line.wait_until(taken, CARD_SEEN_TIMEOUT)
        if not found:
            raise ToolFailure(f"the inbox did not take the question ({path}) within {CARD_SEEN_TIMEOUT:.0f} s; it may be malformed (podium decisions)")
        return str(found)

    @staticmethod
    def _answer(escalation: str, out: dict[str, Any]) -> Answer:
        answer = out.get("answer")
        esc = out.get("escalation") or {}
        if not answer:
            return {"answered": False, "choice": None, "label": None, "by": None, "how": None, "escalation": escalation, "note": "no answer yet: the question stays in the person's inbox (ask_person with escalation= waits again)"}
        labels = {o["key"]: o["label"] for o in esc.get("options", [])}
        choice = answer.get("choice")
        return {
            "answered": True,
            "choice": choice,
            "label": answer.get("label") or labels.get(choice),
            "by": answer.get("by"),
            "how": answer.get("how"),
            "escalation": escalation,
            "note": plain_text(str(esc.get("note") or "").encode()),
        }

    # -- plans ------------------------------------------------------------------------------------------
    def _plan_path(self, given: str | None) -> Path:
        if not given:
            return self.bb.root / "plan.toml"
        path = Path(given).expanduser()
        return path if path.is_absolute() else self.workspace / path

    async def plan_new(
        self,
        pattern: Annotated[str, Field(description=f"the preset, by letter or name: {PATTERN_NAMES}")],
        scope: Annotated[str, Field(min_length=1, description="the work scope: what to do, where, what done means")],
        agent: Annotated[PRESET_AGENTS, Field(description="the agent every task runs")] = "codex-exec",
        n: Annotated[int | None, Field(ge=2, le=4, description="reviewers, sections, questions or options (patterns A, D, E, F)")] = None,
        title: Annotated[str | None, Field(max_length=200, description="the plan's title")] = None,
        path: Annotated[str | None, Field(description="where to write it (default .podium/plan.toml); relative to the workspace")] = None,
        replace: Annotated[bool, Field(description="overwrite an existing plan file")] = False,
    ) -> NewPlan:
        """Write a plan from one of the orchestration patterns (nothing starts). Edit the
        file if you need to, then plan_run; the person sees it on the plan screen."""
        try:
            pattern_named(pattern)
            text = preset(pattern, scope, agent=agent, n=n, title=title)
        except ValueError as exc:
            raise ToolFailure(f"pattern: {exc}") from None
        out = self._plan_path(path)
        if out.exists() and not replace:
            raise ToolFailure(f"path: {out} exists (a plan someone may have edited); replace=true overwrites it, or give another path")
        atomic_write(out, text, mode=0o644)
        plan = load_plan(out)
        return {"path": str(out), "title": plan.title, "tasks": [{k: t.public()[k] for k in ("id", "role", "agent", "after", "goal")} for t in plan.tasks.values()], "text": text}

    async def plan_status(self) -> PlanStatus:
        """The plan the scheduler runs: its state, and each task's state, worker, why and
        what podium does next."""
        return plan_status(await self.line.request("plan_show"))

    async def plan_run(
        self,
        path: Annotated[str | None, Field(description="the plan file (default .podium/plan.toml)")] = None,
        timeout_s: Annotated[float, Field(ge=0, le=MAX_ASK_S, description="how long to wait for the person's yes before answering started=false")] = 600.0,
        escalation: Annotated[str | None, Field(description="wait again for the person's answer to an earlier plan_run (its escalation id)")] = None,
    ) -> PlanStart:
        """Run a plan. At the gate tier (the default) the person is asked in the inbox first
        and the plan starts only on their yes; the person may set the orchestrators' plan
        tier lower (podium mcp --plan-tier notify|autonomous) to let plans start at once."""
        plan_file = self._plan_path(path)
        try:
            plan = load_plan(plan_file)
        except PlanError as exc:
            raise ToolFailure(f"path: {plan_file} is not a plan podium can run:\n{exc}") from None
        policy = await self.line.request("mcp_policy")
        tier = policy["plan_tier"]
        answer = None
        if tier == Tier.GATE:
            if escalation is None:
                tasks = ", ".join(plan.tasks)
                question = f"The orchestrating agent ({self.line.caller() or 'podium mcp'}) asks to run plan {plan.title!r} ({len(plan.tasks)} tasks: {tasks}) from {plan_file}"
                options = [{"key": RUN, "label": "run it"}, {"key": DONT, "label": "do not run it"}]
                escalation = (await self.line.request("escalate", question=question, options=options, tier=Tier.GATE))["id"]
            out = await self.line.request("decision_wait", deadline=timeout_s + REQUEST_TIMEOUT, escalation=escalation, timeout=timeout_s)
            answer = out.get("answer")
            if not answer:
                return {"started": False, "tier": tier, "escalation": escalation, "answer": None, "note": "the person has not answered yet (plan_run with escalation= waits again)", "status": None}
            if answer.get("choice") not in YES:
                return {"started": False, "tier": tier, "escalation": escalation, "answer": answer, "note": "the person said no: the plan does not run", "status": None}
        started = await self.line.request("plan_run", path=str(plan_file), env=dict(os.environ))
        return {"started": True, "tier": tier, "escalation": escalation, "answer": answer, "note": f"plan {plan.title!r} runs", "status": plan_status(started)}
