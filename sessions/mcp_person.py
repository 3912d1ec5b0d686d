"""The tools through which `podium mcp`'s orchestrating agent meets the person: promote a
worker's message into the curated result and read it, ask the person a question (a
decision card in their inbox, with options, a recommended one, a default and its
timeout) and wait for the answer in calls short enough for an MCP client's timeout, and
plans: write one from a preset, see how it runs, and run it, which waits for the person's
yes in the inbox unless they have set the orchestrators' plan tier lower (the supervisor
keeps that gate: `orchestrators.py`).
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
from .states import EscalationState
from .text import plain_text

LETTERS = "ABCDEFGHI"
CARD_SEEN_TIMEOUT = 15.0  # the inbox looks at decisions/pending/ once a second
MAX_ASK_S = 86_400.0
DEFAULT_WAIT_S = 50.0  # one call waits this long for the person: under codex's default tool timeout (60 s)
MAX_WAIT_S = 3600.0
PRESET_AGENTS = Literal[tuple(a for a in AGENTS if a != "shell")]  # type: ignore[valid-type]
PATTERN_NAMES = ", ".join(f"{p.letter} {p.name}" for p in PATTERNS.values())
WaitS = Annotated[
    float,
    Field(ge=0, le=MAX_WAIT_S, description="how long this call waits for the answer, in seconds (default 50, at most 3600); then it answers answered=false with the escalation id: wait_answer waits again"),
]


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
    # Every line of the agent's text is indented: parse_card reads headings and fields only
    # at the start of a line, so no line of it can become a field, an option or a section.
    safe = "\n".join(f"    {ln}" if ln.strip() else "" for ln in f"{asker}\n\n{body}".splitlines())
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
    NAMES = ("promote", "read_result", "ask_person", "wait_answer", "plan_new", "plan_status", "plan_run")

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
        timeout_s: Annotated[float | None, Field(ge=1, le=MAX_ASK_S, description="with default (and only with it): after how many seconds the default applies")] = None,
        wait_s: WaitS = DEFAULT_WAIT_S,
    ) -> Answer:
        """Ask the person: a decision card in podium's inbox. Waits up to wait_s for their
        answer (or the default); without one by then it answers answered=false with the
        escalation id, the question stays in the inbox, and wait_answer(escalation) waits
        again (never ask twice). Use it before anything costly, risky or irreversible.
        Answers the chosen letter and its label, who answered and how."""
        for field, letter in (("recommended", recommended), ("default", default)):
            if letter is not None and LETTERS.index(letter) >= len(options):
                raise ToolFailure(f"{field}: {letter} is not one of the options A–{LETTERS[len(options) - 1]}")
        if default is not None and timeout_s is None:
            raise ToolFailure("timeout_s: a default needs the timeout after which it applies")
        if default is None and timeout_s is not None:
            raise ToolFailure("timeout_s: it says when the default applies; give a default, or wait_s for how long this call waits")
        escalation = await self._raise_card(question, options, context, recommended, default, timeout_s)
        return await self.wait_answer(escalation, wait_s)

    async def wait_answer(
        self,
        escalation: Annotated[str, Field(min_length=1, max_length=64, description="the escalation id an earlier ask_person answered with")],
        wait_s: WaitS = DEFAULT_WAIT_S,
    ) -> Answer:
        """Wait again for the person's answer to an earlier ask_person (its escalation id),
        up to wait_s seconds: the answer, or answered=false if it has not come yet."""
        out = await self.line.request("decision_wait", deadline=wait_s + REQUEST_TIMEOUT, escalation=escalation, timeout=wait_s)
        return self._answer(escalation, out)

    async def _raise_card(self, question: str, options: list[str], context: str, recommended: str | None, default: str | None, timeout_s: float | None) -> str:
        await self.line.client()  # subscribed first: the card's escalation event cannot be missed
        path = self.bb.root / "decisions" / "pending" / f"mcp-{secrets.token_hex(4)}.md"
        atomic_write(path, card_text(question, options, context, recommended, default, timeout_s, self.line.caller()), mode=0o644)

        def taken() -> dict[str, Any] | None:
            return next((e for e in self.line.escalations.values() if (e.get("card") or {}).get("path") == str(path)), None)

        found = await self.line.wait_until(taken, CARD_SEEN_TIMEOUT)
        if not found:
            raise ToolFailure(f"the inbox did not take the question ({path}) within {CARD_SEEN_TIMEOUT:.0f} s (podium decisions)")
        if found.get("state") == EscalationState.MALFORMED:
            path.unlink(missing_ok=True)  # nobody can answer it: it leaves the inbox
            raise ToolFailure(f"the inbox could not read the question as a decision card: {found.get('note')}")
        return str(found["id"])

    @staticmethod
    def _answer(escalation: str, out: dict[str, Any]) -> Answer:
        answer = out.get("answer")
        esc = out.get("escalation") or {}
        if not answer:
            return {"answered": False, "choice": None, "label": None, "by": None, "how": None, "escalation": escalation, "note": "no answer yet: the question stays in the person's inbox (wait_answer with this escalation waits again)"}
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
        timeout_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S, description="how long to wait for the person's yes before answering started=false (default 50)")] = DEFAULT_WAIT_S,
        escalation: Annotated[str | None, Field(description="wait again for the person's answer to an earlier plan_run of the same file (its escalation id)")] = None,
    ) -> PlanStart:
        """Run a plan. At the gate tier (the default) the person is asked in the inbox first
        and the plan starts only on their yes, and only as the file was when they were
        asked; the person may set the orchestrators' plan tier lower (podium mcp
        --plan-tier notify|autonomous) to let plans start at once. Refused while the
        person has paused orchestrators."""
        plan_file = self._plan_path(path)
        try:
            load_plan(plan_file)
        except PlanError as exc:
            raise ToolFailure(f"path: {plan_file} is not a plan podium can run:\n{exc}") from None
        out = await self.line.request(
            "mcp_plan_run", deadline=timeout_s + REQUEST_TIMEOUT, path=str(plan_file), escalation=escalation, timeout=timeout_s, env=dict(os.environ), caller=self.line.caller()
        )
        return {**out, "status": plan_status(out["status"]) if out.get("status") else None}  # type: ignore[typeddict-item]
