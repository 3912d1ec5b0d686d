"""A plan: the work scope split into tasks, read from `plan.toml` and checked before
anything starts. Owns the file's format (documented in docs/plan.example.toml), every
check a plan must pass (each problem names the file, the line and the field), and the
task envelope: the exact prompt a task's worker is given, built from the plan.

Nothing here runs a worker; the scheduler does (scheduler.py).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .escalations import parse_duration
from .failures import FailureClass
from .launch import TEMPLATES

ROLES = ("scout", "reviewer", "researcher", "implementer", "verifier")
AGENTS = ("codex-exec", "claude-p", "codex", "claude", "shell")
TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")  # a worker name too (with a suffix)

DEFAULT_MAX_PARALLEL = 3  # the guides' number
DEFAULT_TIME_CAP = 30 * 60.0  # the guides' cap per run
DEFAULT_HEARTBEAT = 10 * 60.0
DEFAULT_STALE_AFTER = 10 * 60.0
DEFAULT_FOLLOW_UP_ROUNDS = 2
DEFAULT_RETRY_ON = ("rate-limit", "agent-error", "lost")  # transient: worth another attempt
DEFAULT_BACKOFF = 10.0  # the first retry's wait; it doubles per attempt, with jitter
DEFAULT_BACKOFF_MAX = 10 * 60.0
DEFAULT_BREAKER = 3  # failures of one class in a row that stop new starts (0: never)
DEFAULT_CHECKPOINT_BEFORE = 5 * 60.0  # before a run's cap: ask for a digest, go on in a fresh session
DEFAULT_CHECKPOINTS = 2  # fresh sessions a task may be given that way
WATCHDOG_STEPS = ("esc", "ctrl-c", "restart", "dead-letter")  # what a stale worker is given, in turn
DEFAULT_WATCHDOG_EVERY = 2 * 60.0  # between the watchdog's steps
UPSTREAM_CHARS = 6000  # of each earlier task's report, in a dependent's envelope

TOP_KEYS = {"title", "scope", "defaults", "budget", "task"}
DEFAULT_KEYS = {
    "agent", "role", "max_parallel", "time_cap", "retries", "retry_on", "backoff", "backoff_max", "breaker", "follow_up_rounds",
    "heartbeat", "stale_after", "flags", "cwd", "checkpoint_before", "checkpoints", "watchdog", "watchdog_every", "worktrees",
    "worktree_base",
}  # fmt: skip
BUDGET_KEYS = {"tokens", "usd", "task_tokens", "task_usd", "usd_per_mtok"}
TASK_KEYS = {"id", "goal", "role", "agent", "command", "after", "done", "verify", "touches", "time_cap", "retries", "flags", "fixes", "context", "budget_tokens", "budget_usd"}
CONTEXT_KEYS = {"non_goals", "constraints", "pointers", "success"}


class PlanError(ValueError):
    """Everything wrong with a plan, each problem naming file:line and the field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__("\n".join(problems) if len(problems) <= 12 else "\n".join(problems[:12]) + f"\n…{more}")


@dataclass
class Context:
    non_goals: str = ""
    constraints: str = ""
    pointers: list[str] = field(default_factory=list)
    success: str = ""


@dataclass
class Task:
    id: str
    goal: str
    role: str = "implementer"
    agent: str = "codex-exec"
    command: str | None = None  # agent = "shell": the command it runs
    after: list[str] = field(default_factory=list)
    done: str = ""  # the definition of done, in the task's words
    verify: str | None = None  # a command that must exit 0 for the task to be done
    touches: list[str] = field(default_factory=list)  # globs: tasks that overlap never run at once
    time_cap: float = DEFAULT_TIME_CAP
    retries: int = 0
    flags: list[str] = field(default_factory=list)  # extra arguments for the agent's CLI
    fixes: str | None = None  # a verifier's follow-ups go to this task
    context: Context = field(default_factory=Context)
    budget_tokens: int | None = None  # this task's ceilings, over all its runs (None: none)
    budget_usd: float | None = None
    line: int = 0  # where its [[task]] starts in the file
    # Set on follow-ups podium creates (never read from a plan file):
    follow_up_of: str | None = None  # the task it continues (its first round's id)
    round: int = 1
    findings: str = ""  # what the verifier (or the verify command) found

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "goal": self.goal,
            "role": self.role,
            "agent": self.agent,
            "command": self.command,
            "after": list(self.after),
            "done": self.done,
            "verify": self.verify,
            "touches": list(self.touches),
            "time_cap": self.time_cap,
            "retries": self.retries,
            "flags": list(self.flags),
            "fixes": self.fixes,
            "budget_tokens": self.budget_tokens,
            "budget_usd": self.budget_usd,
            "follow_up_of": self.follow_up_of,
            "round": self.round,
        }

    def follow_up(self, new_id: str, findings: str, after: list[str]) -> Task:
        """The next round of this task, told what was found."""
        return replace(self, id=new_id, after=after, follow_up_of=self.follow_up_of or self.id, round=self.round + 1, findings=findings, line=0)


@dataclass
class Plan:
    title: str
    scope: str
    tasks: dict[str, Task]  # in the file's order
    path: str = "plan.toml"
    max_parallel: int = DEFAULT_MAX_PARALLEL
    follow_up_rounds: int = DEFAULT_FOLLOW_UP_ROUNDS
    heartbeat: float = DEFAULT_HEARTBEAT
    stale_after: float = DEFAULT_STALE_AFTER
    cwd: str | None = None
    worktrees: str = "agents"  # which writers (implementers) get a git worktree of their own: agents | all | off
    worktree_base: str | None = None  # what a first writer's branch starts from (default: HEAD then)
    retry_on: tuple[str, ...] = DEFAULT_RETRY_ON  # failure classes a task's `retries` apply to
    backoff: float = DEFAULT_BACKOFF
    backoff_max: float = DEFAULT_BACKOFF_MAX
    breaker: int = DEFAULT_BREAKER
    checkpoint_before: float = DEFAULT_CHECKPOINT_BEFORE  # 0: no checkpoints
    checkpoints: int = DEFAULT_CHECKPOINTS
    watchdog: tuple[str, ...] = WATCHDOG_STEPS
    watchdog_every: float = DEFAULT_WATCHDOG_EVERY
    budget_tokens: int | None = None  # the plan's ceilings, over every run of every task
    budget_usd: float | None = None
    usd_per_mtok: float | None = None  # the price of a million tokens, for agents that report no cost

    def public(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "scope": self.scope,
            "path": self.path,
            "max_parallel": self.max_parallel,
            "follow_up_rounds": self.follow_up_rounds,
            "heartbeat": self.heartbeat,
            "stale_after": self.stale_after,
            "cwd": self.cwd,
            "worktrees": self.worktrees,
            "worktree_base": self.worktree_base,
            "retry_on": list(self.retry_on),
            "backoff": self.backoff,
            "backoff_max": self.backoff_max,
            "breaker": self.breaker,
            "checkpoint_before": self.checkpoint_before,
            "checkpoints": self.checkpoints,
            "watchdog": list(self.watchdog),
            "watchdog_every": self.watchdog_every,
            "budget_tokens": self.budget_tokens,
            "budget_usd": self.budget_usd,
            "usd_per_mtok": self.usd_per_mtok,
        }


# -- where each key stands in the file ------------------------------------------------------------
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")


class Lines:
    """file:line for a key of the top level, [defaults], the n-th [[task]] or its context.
    TOML's parser gives positions for syntax errors only; this scan finds the rest."""

    def __init__(self, text: str):
        self.keys: dict[tuple[str, int, str], int] = {}
        self.tasks: list[int] = []
        section, index = "", -1
        quote: str | None = None
        for n, line in enumerate(text.splitlines(), start=1):
            if quote is not None:  # inside a multi-line string: nothing here is a key
                if line.count(quote) % 2 == 1:
                    quote = None
                continue
            header = _HEADER.match(line)
            if header:
                name = header.group(2).replace(" ", "")
                if header.group(1) == "[[" and name == "task":
                    self.tasks.append(n)
                    section, index = "task", len(self.tasks) - 1
                elif name == "task.context":
                    section = "context"  # of the [[task]] above
                else:
                    section, index = name, -1
                self.keys.setdefault((section, index, ""), n)
                continue
            key = _KEY.match(line)
            if key:
                self.keys.setdefault((section, index, key.group(1).strip('"')), n)
                for q in ('"""', "'''"):
                    if line.count(q) % 2 == 1:
                        quote = q
                        break

    def of(self, section: str, key: str = "", index: int = -1) -> int:
        return self.keys.get((section, index, key)) or self.keys.get((section, index, "")) or (self.tasks[index] if 0 <= index < len(self.tasks) else 1)


# -- reading and checking -----------------------------------------------------------------------------
def load_plan(path: Path) -> Plan:
    """Read and check `path`; raises PlanError naming every problem."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PlanError([f"{path}: no such plan (podium plan new --pattern … writes one)"]) from None
    except OSError as exc:
        raise PlanError([f"{path}: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PlanError([f"{path}:{line}: not UTF-8 (byte {exc.start})"]) from None
    return parse_plan(text, str(path))


def parse_plan(text: str, where: str = "plan.toml") -> Plan:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        at = f"{where}:{m.group(1)}:{m.group(2)}" if m else where
        raise PlanError([f"{at}: TOML syntax: {str(exc).split(' (at line')[0]}"]) from None
    return _Checker(data, Lines(text), where).plan()


class _Checker:
    def __init__(self, data: dict[str, Any], lines: Lines, where: str):
        self.data = data
        self.lines = lines
        self.where = where
        self.problems: list[str] = []

    def bad(self, line: int, what: str) -> None:
        self.problems.append(f"{self.where}:{line}: {what}")

    # typed getters: a wrong type is a problem, and the default stands
    def get(self, table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, line: int, name: str) -> Any:
        if key not in table:
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            want = " or ".join({str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table", bool: "true or false"}[k] for k in kinds)
            self.bad(line, f"{name} must be {want}, not {type(value).__name__} {value!r}")
            return default
        return value

    def worktrees(self, table: dict[str, Any], line: int) -> str:
        value = self.get(table, "worktrees", (bool, str), "agents", line, "defaults.worktrees")
        if value is True or value is False:
            return "all" if value else "off"
        if value not in ("agents", "all", "off"):
            self.bad(line, f'defaults.worktrees must be true, false or "agents", not {value!r}')
            return "agents"
        return str(value)

    def strings(self, table: dict[str, Any], key: str, line: int, name: str) -> list[str]:
        value = self.get(table, key, list, [], line, name)
        if not all(isinstance(v, str) for v in value):
            self.bad(line, f"{name} must be a list of strings")
            return []
        return list(value)

    def duration(self, table: dict[str, Any], key: str, default: float, line: int, name: str) -> float:
        value = self.get(table, key, (str, int, float), None, line, name)
        if value is None:
            return default
        seconds = parse_duration(value) if isinstance(value, str) and not value.strip().startswith("-") else None if isinstance(value, str) else float(value)
        if seconds is None or seconds <= 0:
            self.bad(line, f"{name} must be a positive duration like \"30m\", \"90s\" or \"1h\", not {value!r}")
            return default
        return seconds

    def classes(self, table: dict[str, Any], key: str, line: int, name: str) -> tuple[str, ...]:
        if key not in table:
            return DEFAULT_RETRY_ON
        value = self.strings(table, key, line, name)
        unknown = [v for v in value if v not in {str(c) for c in FailureClass}]
        if unknown:
            self.bad(line, f"{name}: {', '.join(map(repr, unknown))} is not a failure class (one of {', '.join(FailureClass)})")
            return DEFAULT_RETRY_ON
        return tuple(value)

    def ceiling(self, table: dict[str, Any], key: str, default: Any, line: int, name: str, kind: type) -> Any:
        """A budget: a positive number of tokens (an integer) or of dollars."""
        value = self.get(table, key, (int, float) if kind is float else int, None, line, name)
        if value is None:
            return default
        if value <= 0:
            self.bad(line, f"{name} must be more than 0, not {value!r} (leave it out for no ceiling)")
            return default
        return kind(value)

    def steps(self, table: dict[str, Any], key: str, line: int, name: str) -> tuple[str, ...]:
        if key not in table:
            return WATCHDOG_STEPS
        value = self.strings(table, key, line, name)
        unknown = [v for v in value if v not in WATCHDOG_STEPS]
        if unknown:
            self.bad(line, f"{name}: {', '.join(map(repr, unknown))} is not a watchdog step (steps: {', '.join(WATCHDOG_STEPS)})")
            return WATCHDOG_STEPS
        if "dead-letter" in value[:-1]:
            self.bad(line, f"{name}: \"dead-letter\" ends the task, so it can only be the last step")
            return WATCHDOG_STEPS
        return tuple(value)

    def optional_duration(self, table: dict[str, Any], key: str, default: float, line: int, name: str) -> float:
        """A duration, or false / 0 for never."""
        if table.get(key) is False or table.get(key) == 0:
            return 0.0
        return self.duration(table, key, default, line, name)

    def count(self, table: dict[str, Any], key: str, default: int, line: int, name: str, least: int) -> int:
        value = self.get(table, key, int, default, line, name)
        if value < least:
            self.bad(line, f"{name} must be at least {least}, not {value}")
            return default
        return value

    def unknown(self, table: dict[str, Any], known: set[str], section: str, index: int, name: str) -> None:
        for key in table:
            if key not in known:
                self.bad(self.lines.of(section, key, index), f"{name}{key}: unknown key (known: {', '.join(sorted(known))})")

    def plan(self) -> Plan:
        d, L = self.data, self.lines
        self.unknown(d, TOP_KEYS, "", -1, "")  # (a key after [defaults] is the table's: TOML's rule)
        title = self.get(d, "title", str, "", L.of("", "title"), "title")
        if not title.strip():
            self.bad(L.of("", "title"), "title is missing (one line that names the plan)")
        scope = self.get(d, "scope", str, "", L.of("", "scope"), "scope")
        defaults = self.get(d, "defaults", dict, {}, L.of("defaults"), "[defaults]")
        self.unknown(defaults, DEFAULT_KEYS, "defaults", -1, "defaults.")

        def at(key: str) -> int:
            return L.of("defaults", key)

        plan = Plan(
            title=title.strip(),
            scope=scope.strip(),
            tasks={},
            path=self.where,
            max_parallel=self.count(defaults, "max_parallel", DEFAULT_MAX_PARALLEL, at("max_parallel"), "defaults.max_parallel", 1),
            follow_up_rounds=self.count(defaults, "follow_up_rounds", DEFAULT_FOLLOW_UP_ROUNDS, at("follow_up_rounds"), "defaults.follow_up_rounds", 0),
            heartbeat=self.duration(defaults, "heartbeat", DEFAULT_HEARTBEAT, at("heartbeat"), "defaults.heartbeat"),
            stale_after=self.duration(defaults, "stale_after", DEFAULT_STALE_AFTER, at("stale_after"), "defaults.stale_after"),
            cwd=self.get(defaults, "cwd", str, None, at("cwd"), "defaults.cwd"),
            worktrees=self.worktrees(defaults, at("worktrees")),
            worktree_base=self.get(defaults, "worktree_base", str, None, at("worktree_base"), "defaults.worktree_base"),
            retry_on=self.classes(defaults, "retry_on", at("retry_on"), "defaults.retry_on"),
            backoff=self.duration(defaults, "backoff", DEFAULT_BACKOFF, at("backoff"), "defaults.backoff"),
            backoff_max=self.duration(defaults, "backoff_max", DEFAULT_BACKOFF_MAX, at("backoff_max"), "defaults.backoff_max"),
            breaker=self.count(defaults, "breaker", DEFAULT_BREAKER, at("breaker"), "defaults.breaker", 0),
            checkpoint_before=self.optional_duration(defaults, "checkpoint_before", DEFAULT_CHECKPOINT_BEFORE, at("checkpoint_before"), "defaults.checkpoint_before"),
            checkpoints=self.count(defaults, "checkpoints", DEFAULT_CHECKPOINTS, at("checkpoints"), "defaults.checkpoints", 0),
            watchdog=self.steps(defaults, "watchdog", at("watchdog"), "defaults.watchdog"),
            watchdog_every=self.duration(defaults, "watchdog_every", DEFAULT_WATCHDOG_EVERY, at("watchdog_every"), "defaults.watchdog_every"),
        )
        budget = self.get(d, "budget", dict, {}, L.of("budget"), "[budget]")
        self.unknown(budget, BUDGET_KEYS, "budget", -1, "budget.")

        def bat(key: str) -> int:
            return L.of("budget", key)

        plan.budget_tokens = self.ceiling(budget, "tokens", None, bat("tokens"), "budget.tokens", int)
        plan.budget_usd = self.ceiling(budget, "usd", None, bat("usd"), "budget.usd", float)
        plan.usd_per_mtok = self.ceiling(budget, "usd_per_mtok", None, bat("usd_per_mtok"), "budget.usd_per_mtok", float)
        base = Task(
            id="",
            goal="",
            role=self.choice(defaults, "role", ROLES, "implementer", at("role"), "defaults.role"),
            agent=self.choice(defaults, "agent", AGENTS, "codex-exec", at("agent"), "defaults.agent"),
            time_cap=self.duration(defaults, "time_cap", DEFAULT_TIME_CAP, at("time_cap"), "defaults.time_cap"),
            retries=self.count(defaults, "retries", 0, at("retries"), "defaults.retries", 0),
            flags=self.strings(defaults, "flags", at("flags"), "defaults.flags"),
            budget_tokens=self.ceiling(budget, "task_tokens", None, bat("task_tokens"), "budget.task_tokens", int),
            budget_usd=self.ceiling(budget, "task_usd", None, bat("task_usd"), "budget.task_usd", float),
        )
        tasks = self.get(d, "task", list, [], L.of("task", "", 0), "task")
        if not tasks:  # (`task = []` too: a plan of nothing would run forever)
            self.bad(1, "no tasks: add at least one [[task]] with an id and a goal")
        for index, raw in enumerate(tasks):
            task = self.task(raw, index, base)
            if task is None:
                continue
            if task.id in plan.tasks:
                self.bad(task.line, f"task {task.id!r}: the id is used twice (first at line {plan.tasks[task.id].line})")
                continue
            plan.tasks[task.id] = task
        self.links(plan)
        if self.problems:
            raise PlanError(sorted(self.problems, key=_line_of))
        return plan

    def choice(self, table: dict[str, Any], key: str, allowed: tuple[str, ...], default: str, line: int, name: str) -> str:
        value = self.get(table, key, str, default, line, name)
        if value not in allowed:
            self.bad(line, f"{name} {value!r} is not one of {', '.join(allowed)}")
            return default
        return value

    def task(self, raw: Any, index: int, base: Task) -> Task | None:
        L = self.lines
        start = L.tasks[index] if index < len(L.tasks) else L.of("task", "", index)
        if not isinstance(raw, dict):
            self.bad(start, f"task {index + 1} must be a [[task]] table")
            return None

        def at(key: str) -> int:
            return L.of("task", key, index)

        tid = self.get(raw, "id", str, "", at("id"), f"task {index + 1}: id")
        name = f"task {tid!r}" if tid else f"task {index + 1}"
        if not tid:
            self.bad(start, f"{name}: id is missing")
            return None
        if not TASK_ID.match(tid):
            self.bad(at("id"), f"{name}: id must be letters, digits, '_' and '-' (at most 48), starting with a letter or digit")
            return None
        self.unknown(raw, TASK_KEYS, "task", index, f"{name}.")
        goal = self.get(raw, "goal", str, "", at("goal"), f"{name}.goal").strip()
        if not goal:
            self.bad(at("goal") if "goal" in raw else start, f"{name}: goal is missing (what this task must achieve, in one or two sentences)")
        agent = self.choice(raw, "agent", AGENTS, base.agent, at("agent"), f"{name}.agent")
        command = self.get(raw, "command", str, None, at("command"), f"{name}.command")
        if agent == "shell" and not (command or "").strip():
            self.bad(at("agent") if "agent" in raw else start, f"{name}: agent = \"shell\" needs a command")
        if agent != "shell" and command is not None:
            self.bad(at("command"), f"{name}.command is for agent = \"shell\"; a {agent} task is given its envelope as the prompt")
        ctx_raw = self.get(raw, "context", dict, {}, at("context"), f"{name}.context")
        self.unknown(ctx_raw, CONTEXT_KEYS, "context", index, f"{name}.context.")

        def cat(key: str) -> int:
            return L.of("context", key, index)

        context = Context(
            non_goals=self.get(ctx_raw, "non_goals", str, "", cat("non_goals"), f"{name}.context.non_goals").strip(),
            constraints=self.get(ctx_raw, "constraints", str, "", cat("constraints"), f"{name}.context.constraints").strip(),
            pointers=self.strings(ctx_raw, "pointers", cat("pointers"), f"{name}.context.pointers"),
            success=self.get(ctx_raw, "success", str, "", cat("success"), f"{name}.context.success").strip(),
        )
        verify = self.get(raw, "verify", str, None, at("verify"), f"{name}.verify")
        return Task(
            id=tid,
            goal=goal,
            role=self.choice(raw, "role", ROLES, base.role, at("role"), f"{name}.role"),
            agent=agent,
            command=command.strip() if command else None,
            after=self.strings(raw, "after", at("after"), f"{name}.after"),
            done=self.get(raw, "done", str, "", at("done"), f"{name}.done").strip(),
            verify=verify.strip() if verify and verify.strip() else None,
            touches=self.strings(raw, "touches", at("touches"), f"{name}.touches"),
            time_cap=self.duration(raw, "time_cap", base.time_cap, at("time_cap"), f"{name}.time_cap"),
            retries=self.count(raw, "retries", base.retries, at("retries"), f"{name}.retries", 0),
            flags=base.flags + self.strings(raw, "flags", at("flags"), f"{name}.flags"),
            fixes=self.get(raw, "fixes", str, None, at("fixes"), f"{name}.fixes"),
            context=context,
            budget_tokens=self.ceiling(raw, "budget_tokens", base.budget_tokens, at("budget_tokens"), f"{name}.budget_tokens", int),
            budget_usd=self.ceiling(raw, "budget_usd", base.budget_usd, at("budget_usd"), f"{name}.budget_usd", float),
            line=start,
        )

    def links(self, plan: Plan) -> None:
        """`after` and `fixes` name tasks of this plan, and `after` has no cycle."""
        ids = list(plan.tasks)
        index = {tid: i for i, tid in enumerate(ids)}
        for task in plan.tasks.values():
            i = index[task.id]
            for dep in task.after:
                if dep == task.id:
                    self.bad(self.lines.of("task", "after", i), f"task {task.id!r}.after names the task itself")
                elif dep not in plan.tasks:
                    self.bad(self.lines.of("task", "after", i), f"task {task.id!r}.after: {dep!r} names no task (tasks: {', '.join(ids)})")
            if task.fixes is not None and task.fixes not in plan.tasks:
                self.bad(self.lines.of("task", "fixes", i), f"task {task.id!r}.fixes: {task.fixes!r} names no task")
        cycle = find_cycle({t.id: [d for d in t.after if d in plan.tasks and d != t.id] for t in plan.tasks.values()})
        if cycle:
            order = list(plan.tasks)
            at = min(range(len(cycle)), key=lambda k: order.index(cycle[k]))
            cycle = cycle[at:] + cycle[:at]  # named where the file first reaches it
            first = cycle[0]
            self.bad(self.lines.of("task", "after", index[first]), f"task {first!r}.after: a dependency cycle: {' → '.join(cycle + [first])}")


def _line_of(problem: str) -> int:
    m = re.match(r"^.*?:(\d+):", problem)
    return int(m.group(1)) if m else 0


def find_cycle(after: dict[str, list[str]]) -> list[str] | None:
    """One cycle in the dependency graph (in order), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in after.get(node, []):
            if state.get(dep) == 1:
                return path[path.index(dep) :]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in after:
        if node not in state:
            found = visit(node)
            if found:
                return list(reversed(found))
    return None


# -- touches ------------------------------------------------------------------------------------------
def _literal_prefix(glob: str) -> list[str]:
    """The path components before the first wildcard: `src/auth/**/*.py` -> [src, auth]."""
    parts = []
    for part in glob.strip("/").split("/"):
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    return parts


def touches_overlap(a: list[str], b: list[str]) -> tuple[str, str] | None:
    """A pair of globs that may name the same file (conservative: two globs overlap when
    the literal part of one is a leading part of the other's), or None."""
    for ga in a:
        for gb in b:
            pa, pb = _literal_prefix(ga), _literal_prefix(gb)
            n = min(len(pa), len(pb))
            if pa[:n] == pb[:n]:
                exact_a, exact_b = len(pa) == len(ga.strip("/").split("/")), len(pb) == len(gb.strip("/").split("/"))
                if exact_a and exact_b and pa != pb:
                    continue  # two different plain files
                return ga, gb
    return None


# -- the envelope -----------------------------------------------------------------------------------------
def envelope(plan: Plan, task: Task, upstream: dict[str, str] | None = None, where: str = "") -> str:
    """The prompt a task's worker is given: the worker preamble of its role, the plan's
    scope, the task and its context pack, the definition of done, the verification podium
    will run, what earlier tasks reported, (for a follow-up) what was found, and (for a writer
    in a worktree of its own) where it works and that it commits there."""
    out = [TEMPLATES[task.role].strip(), ""]
    out += [f"PLAN: {plan.title}"]
    if plan.scope:
        out += ["WORK SCOPE:", plan.scope, ""]
    rnd = f" (round {task.round}: a follow-up of {task.follow_up_of})" if task.follow_up_of else ""
    out += [f"TASK {task.id}{rnd}: {task.goal}", ""]
    ctx = task.context
    if ctx.non_goals:
        out += ["NON-GOALS (do not do these):", ctx.non_goals, ""]
    if ctx.constraints:
        out += ["CONSTRAINTS:", ctx.constraints, ""]
    if ctx.pointers:
        out += ["POINTERS (start here):", *[f"- {p}" for p in ctx.pointers], ""]
    if task.touches:
        out += ["FILES YOU MAY CHANGE (nothing outside these):", *[f"- {g}" for g in task.touches], ""]
    if ctx.success:
        out += ["SUCCESS CHECK:", ctx.success, ""]
    if where:
        out += ["WHERE YOU WORK:", where, ""]
    out += ["DEFINITION OF DONE:", task.done or "Your report says Status: Done, with the evidence for it.", ""]
    if task.verify:
        out += ["VERIFICATION: when you finish, podium runs this command; the task is done only if it exits 0:", f"    {task.verify}", ""]
    if task.findings:
        out += ["FINDINGS TO ADDRESS (this round exists because of them):", task.findings.strip(), ""]
    for dep, text in (upstream or {}).items():
        body = text.strip()
        if len(body) > UPSTREAM_CHARS:
            body = body[:UPSTREAM_CHARS] + f"\n[… {len(body) - UPSTREAM_CHARS} more characters in .podium/tasks/{dep}/]"
        out += [f"RESULT OF EARLIER TASK {dep}:", body, ""]
    return "\n".join(out).rstrip() + "\n"
