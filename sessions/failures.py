"""Failure classes: how a worker or a task ended badly, named one way everywhere (the
scheduler's error events in the journal and in `.podium/tasks/<id>/errors.jsonl`, the
worker list, the plan screen), so nothing is shown as just "failed". `classify` reads what
podium already knows of a worker (its state and reason, exit code and signal, the agent's
`turn.failed` or `is_error` result) and names the class with its evidence; the scheduler
names the classes only it can see (time cap, stale, verify failed, spawn failed, a report).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any


class FailureClass(StrEnum):
    EXIT_CODE = "exit-code"  # the process exited non-zero
    SIGNAL = "signal"  # killed by a signal it did not expect
    LOST = "lost"  # its holder is gone; podium cannot tell how it ended
    AGENT_ERROR = "agent-error"  # turn.failed, or a result with is_error
    RATE_LIMIT = "rate-limit"  # too many requests: worth retrying after a wait
    USAGE_LIMIT = "usage-limit"  # quota, billing or plan limits: a person must act
    CONTEXT_WINDOW = "context-window"  # the conversation outgrew the model's window
    SPAWN_FAILED = "spawn-failed"  # it never started (command not found, refused)
    TIME_CAP = "time-cap"  # interrupted at the task's time cap
    STALE = "stale"  # printed nothing for longer than the plan's stale_after
    VERIFY_FAILED = "verify-failed"  # its verify command, or a verifier, found it wanting
    REPORTED_FAILED = "reported-failed"  # its own report says FAILED
    BLOCKED = "blocked"  # its report says it is blocked
    NO_REPORT = "no-report"  # an agent that ended without the report it was asked for
    BUDGET = "budget"  # its spend reached a ceiling and the person said stop


# The agents' own words, first match wins (codex's turn.failed messages and claude's
# results, as the pinned CLIs print them; checked against the fake model in the tests).
AGENT_PATTERNS = [
    (FailureClass.CONTEXT_WINDOW, re.compile(r"context window|context_length_exceeded|maximum context length|prompt is too long|ran out of room", re.I)),
    (FailureClass.USAGE_LIMIT, re.compile(r"quota|usage limit|billing|credit balance|insufficient_quota", re.I)),
    (FailureClass.RATE_LIMIT, re.compile(r"rate.?limit|too many requests|\b429\b|overloaded|try again in", re.I)),
]
NOT_FOUND = (126, 127)  # the shell's "cannot execute" and "command not found"


def agent_class(message: str) -> FailureClass:
    for cls, pattern in AGENT_PATTERNS:
        if pattern.search(message):
            return cls
    return FailureClass.AGENT_ERROR


def classify(worker: dict[str, Any]) -> tuple[FailureClass, str] | None:
    """(class, evidence) for a worker that ended badly (failed, interrupted, lost); None
    for one that did not."""
    state = worker.get("state")
    if state not in ("failed", "interrupted", "lost"):
        return None
    agent = worker.get("agent") or {}
    message = agent.get("turn_failed") or agent.get("result_error")
    if message:
        return agent_class(str(message)), str(message)
    if state == "lost":
        return FailureClass.LOST, str(worker.get("reason") or "its holder is gone")
    if worker.get("exit_signal"):
        return FailureClass.SIGNAL, str(worker.get("reason") or f"signal {worker['exit_signal']}")
    code = worker.get("exit_code")
    if code in NOT_FOUND:
        return FailureClass.SPAWN_FAILED, str(worker.get("reason") or f"exit code {code}")
    return FailureClass.EXIT_CODE, str(worker.get("reason") or f"exit code {code}")


_AFTER = re.compile(r"try again in\s+(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|sec|seconds?|m|min|minutes?|h|hours?)\b", re.I)


def retry_after(evidence: str) -> float | None:
    """The wait an agent's limit message names ("Please try again in 20s"), in seconds."""
    m = _AFTER.search(evidence)
    if not m:
        return None
    unit = m.group(2).lower()
    scale = 0.001 if unit.startswith(("ms", "milli")) else 60 if unit.startswith("m") else 3600 if unit.startswith("h") else 1
    return float(m.group(1)) * scale


def error_event(cls: FailureClass, evidence: str, **where: Any) -> dict[str, Any]:
    """One error as it is journaled and appended to errors.jsonl."""
    return {"class": str(cls), "evidence": evidence[:2000], **{k: v for k, v in where.items() if v is not None}}
