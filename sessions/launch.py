"""What a new worker runs: the command for each kind of worker, and the worker preambles
of the orchestration guides that a template puts before the task."""

from __future__ import annotations

from .pty_session import shell_argv

# The five kinds the new-worker dialog offers: (label, supervisor kind).
KINDS = {
    "shell": ("shell command", "shell"),
    "codex-exec": ("codex exec", "codex"),
    "codex": ("codex (interactive)", "codex"),
    "claude-p": ("claude -p", "claude"),
    "claude": ("claude (interactive)", "claude"),
}

_REPORT = (
    "When you finish, report back with evidence. Start your final message with one line: "
    "COMPLETED: … or FAILED: … or BLOCKED: …, then:\n"
    "Status: Done | Blocked | Needs review\nSummary:\nFiles or artifacts changed:\n"
    "Verification: (commands you ran and what they showed)\nOpen issues:\nRecommended next action:\n"
)

TEMPLATES = {
    "none": "",
    "scout": (
        "CONTEXT: WORKER (scout). You are one worker of several, directed by an orchestrator. "
        "Do only the assigned task: find and read what is asked about; change nothing. "
        "Quote file paths and line numbers for every claim. " + _REPORT
    ),
    "reviewer": (
        "CONTEXT: WORKER (reviewer). You are one worker of several, directed by an orchestrator. "
        "Do only the assigned task: review the named change for correctness, failure modes and "
        "tests; do not rewrite it. Rank findings by severity, each with the evidence. " + _REPORT
    ),
    "researcher": (
        "CONTEXT: WORKER (researcher). You are one worker of several, directed by an orchestrator. "
        "Do only the assigned task: answer the question with sources you actually read; say what "
        "you could not verify. " + _REPORT
    ),
    "implementer": (
        "CONTEXT: WORKER (implementer). You are one worker of several, directed by an orchestrator. "
        "Do only the assigned task, in the smallest change that does it; touch no unrelated files; "
        "run the tests that cover what you changed. " + _REPORT
    ),
    "verifier": (
        "CONTEXT: WORKER (verifier). You are one worker of several, directed by an orchestrator. "
        "Do only the assigned task: check the claim by running it; trust nothing you did not see "
        "pass. " + _REPORT
    ),
}


def with_template(template: str, task: str) -> str:
    preamble = TEMPLATES.get(template, "")
    return f"{preamble}\n\nTASK: {task}" if preamble else task


def build_command(kind: str, text: str, template: str = "none") -> tuple[list[str], str]:
    """argv and supervisor kind for a worker of `kind` given a command (shell) or a prompt."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    agent_kind = KINDS[kind][1]
    if kind == "shell":
        return shell_argv(with_template(template, text) if template != "none" else text), agent_kind
    prompt = with_template(template, text)
    if kind == "codex-exec":
        return ["codex", "exec", "--skip-git-repo-check", prompt], agent_kind
    if kind == "codex":
        return ["codex", "--no-daemon", prompt] if prompt else ["codex", "--no-daemon"], agent_kind
    if kind == "claude-p":
        return ["claude", "-p", prompt, "--output-format", "stream-json", "--verbose"], agent_kind
    return (["claude", prompt] if prompt else ["claude"]), agent_kind
