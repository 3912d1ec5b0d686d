"""How a task's next run carries on from the runs before it. The same conversation when
that is safe: the agent's session is intact, and only its run was cut short (a rate limit,
a lost holder, an interrupt by the watchdog or a budget). A fresh session otherwise, told
what came before in a digest: after the context window filled up (its resume would return
the same full session), or at a checkpoint before the time cap, where the agent itself
wrote the digest. Owns the words podium sends for each: the prompt that continues, the
question that asks for a digest, and the digest's place in a fresh envelope.
"""

from __future__ import annotations

from typing import Any

from .agents import resume_argv
from .failures import FailureClass

# A cut-short run whose conversation is worth continuing (the session is not the problem).
RESUMABLE = frozenset(
    {
        FailureClass.RATE_LIMIT,
        FailureClass.USAGE_LIMIT,
        FailureClass.AGENT_ERROR,
        FailureClass.LOST,
        FailureClass.SIGNAL,
        FailureClass.STALE,
        FailureClass.BUDGET,
    }
)
RESUMED_AGENTS = ("codex-exec", "claude-p")  # whose runs end, and are continued by a new run
DIGEST_CHARS = 8000  # of an earlier run's last words, in a fresh envelope

CONTINUE = (
    "podium: your previous run of this task was cut short ({why}). Carry on from where you "
    "were: the task is unchanged. Check what is already done before you redo anything, and "
    "end with the completion report the task asks for."
)
DIGEST_QUESTION = (
    "podium checkpoint: this session ends now (its time cap is near) and a fresh session "
    "will continue your task from what you write here. Do no more work. Write a digest:\n"
    "1. DONE: what is finished, with the files changed.\n"
    "2. LEARNED: what you found out that the next session must know.\n"
    "3. REMAINING: what is left, in order.\n"
    "4. NEXT STEP: the first thing to do, with any command to run.\n"
)


def continue_argv(agent: str, argv: list[str], prior: dict[str, Any] | None, why: str) -> list[str] | None:
    """The command that continues `prior`'s conversation (a worker's public record), or
    None when there is none to continue (another kind of agent, no session id)."""
    session = ((prior or {}).get("agent") or {}).get("session_id")
    if agent not in RESUMED_AGENTS or not session:
        return None
    return resume_argv(agent, argv, str(session), CONTINUE.format(why=why))


def with_flags(agent: str, argv: list[str], flags: list[str]) -> list[str]:
    """A continuing run keeps the task's own flags: codex's right after `exec`, claude's last."""
    if not flags:
        return argv
    if any(argv[i : i + len(flags)] == flags for i in range(len(argv))):
        return argv  # kept from the run it continues (resume_argv keeps the options it began with)
    if agent == "codex-exec" and "exec" in argv:
        at = argv.index("exec") + 1
        return [*argv[:at], *flags, *argv[at:]]
    return [*argv, *flags]


def digest_argv(agent: str, argv: list[str], prior: dict[str, Any] | None) -> list[str] | None:
    """The run that asks `prior`'s conversation for a checkpoint digest, or None."""
    session = ((prior or {}).get("agent") or {}).get("session_id")
    if agent not in RESUMED_AGENTS or not session:
        return None
    return resume_argv(agent, argv, str(session), DIGEST_QUESTION)


def with_digest(text: str, digest: str) -> str:
    """The envelope of a fresh session that continues earlier ones."""
    body = digest.strip()
    if len(body) > DIGEST_CHARS:
        body = body[:DIGEST_CHARS] + f"\n[… {len(body) - DIGEST_CHARS} more characters]"
    return f"{text.rstrip()}\n\n{body}\n"


def checkpoint_digest(n: int, digest: str) -> str:
    return f"CHECKPOINT {n}: an earlier session worked on this task and wrote this digest. Continue from it; do not redo what it says is done.\n\n{digest.strip()}"


def failure_digest(cls: str, evidence: str, last_words: str | None) -> str:
    said = f"\n\nWhat it said last:\n{last_words.strip()}" if last_words and last_words.strip() else ""
    return f"AN EARLIER ATTEMPT ENDED ({cls}: {evidence.strip()[:500]}). This is a fresh session.{said}"
