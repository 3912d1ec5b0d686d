"""The circuit breaker: N failures of the same class in a row, across the plan (a retry
storm, a rate limit hitting every worker, a broken command in every task), open it; the
scheduler then starts nothing and asks the person through a gate escalation: resume
(half-open: one task at a time until one succeeds, then closed), skip the failing tasks,
or stop the plan. A success closes it and clears the count.

This module is the state machine only; the scheduler feeds it and acts on what it says.
Its state is a plain dict the scheduler keeps in run.toml, so it survives a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .failures import FailureClass

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
NOT_COUNTED = frozenset({FailureClass.VERIFY_FAILED, FailureClass.STALE})  # the loop's own work, and a warning
EVIDENCE_KEPT = 5

# The person's answers (the inbox's option letters, or y / n on the escalation).
RESUME, SKIP, STOP = "A", "B", "C"
OPTIONS = [
    {"key": RESUME, "label": "resume: one task at a time until one succeeds"},
    {"key": SKIP, "label": "skip the tasks that failed this way, and go on"},
    {"key": STOP, "label": "stop the plan"},
]
ANSWERS = {RESUME: RESUME, "approve": RESUME, "y": RESUME, SKIP: SKIP, STOP: STOP, "deny": STOP, "n": STOP}


@dataclass
class Breaker:
    threshold: int = 3  # 0: never opens
    state: str = CLOSED
    cls: str | None = None  # the class counted now
    count: int = 0
    evidence: list[str] = field(default_factory=list)  # "task: evidence", the last few
    escalation: str | None = None  # the gate asking the person, while open

    def failed(self, cls: FailureClass, task: str, evidence: str) -> bool:
        """Count a failure; True when this one opens the breaker."""
        if cls in NOT_COUNTED or not self.threshold:
            return False
        if cls != self.cls:
            self.cls, self.count, self.evidence = str(cls), 0, []
        self.count += 1
        self.evidence = [*self.evidence, f"{task}: {evidence[:300]}"][-EVIDENCE_KEPT:]
        if self.state == HALF_OPEN or (self.state == CLOSED and self.count >= self.threshold):
            self.state = OPEN
            return True
        return False

    def succeeded(self) -> bool:
        """A task succeeded: the count starts over; True when that closes a half-open breaker.
        An open breaker keeps its count and evidence: a task that was already running when
        it opened does not answer the question the person is being asked."""
        if self.state == OPEN:
            return False
        closing = self.state == HALF_OPEN
        self.cls, self.count, self.evidence = None, 0, []
        if closing:
            self.state = CLOSED
        return closing

    def question(self, title: str) -> str:
        lines = "\n".join(f"  {e}" for e in self.evidence)
        return f"Plan {title!r}: {self.count} tasks in a row failed with {self.cls}; nothing new starts until you decide.\n{lines}"

    def record(self) -> dict[str, Any]:
        return {"state": self.state, "class": self.cls, "count": self.count, "evidence": self.evidence, "escalation": self.escalation}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None, threshold: int) -> Breaker:
        r = record if isinstance(record, dict) else {}
        state = r.get("state") if r.get("state") in (CLOSED, OPEN, HALF_OPEN) else CLOSED
        evidence = [str(e) for e in r.get("evidence") or [] if isinstance(e, str)]
        return cls(threshold, state, r.get("class"), int(r.get("count") or 0), evidence, None)  # the gate is asked again
