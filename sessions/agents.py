"""Agents: what codex and claude workers are doing, whether they really succeeded, what
they said last, and how to continue their conversation.

Owns one adapter per kind of worker — codex exec (`--json` JSONL), claude print mode
(`stream-json`), the interactive codex and claude (screen only), and plain shell — each
fed the worker's bytes, turning JSON lines into events and keeping the signals a verdict
needs. A verdict is never a guess: codex exec is `done` only when exit code 0, a
`turn.completed` event and a non-empty last-message file agree.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .text import plain_text

LAST_MESSAGE = "last-message.md"
REPORT_FIRST_LINE = re.compile(r"^\s*(COMPLETED|FAILED|BLOCKED):\s*(.*)$", re.MULTILINE)
REPORT_STATUS = re.compile(r"^\s*Status:\s*(Done|Blocked|Needs review)\b", re.MULTILINE | re.IGNORECASE)
REPORT_FIELDS = ("Status", "Summary", "Files or artifacts changed", "Verification", "Open issues", "Recommended next action")


def agent_mode(kind: str, argv: list[str]) -> str:
    """codex-exec | codex | claude-p | claude | shell, from the kind and the command."""
    prog = os.path.basename(argv[0]) if argv else ""
    if kind == "codex" or prog == "codex":
        return "codex-exec" if _exec_index(argv) is not None else "codex"
    if kind == "claude" or prog == "claude":
        return "claude-p" if any(a in ("-p", "--print") for a in argv[1:]) else "claude"
    return "shell"


def _exec_index(argv: list[str]) -> int | None:
    """Where the `exec` subcommand stands (`codex exec`, or a wrapper's `... exec`)."""
    for i, arg in enumerate(argv[1:5], start=1):
        if arg in ("exec", "e"):
            return i
    return None


# codex exec's options that take a value (`codex exec --help`); the rest are flags
CODEX_EXEC_VALUED = {"-c", "--config", "--enable", "--disable", "-i", "--image", "-m", "--model", "--local-provider", "-p", "--profile", "-s", "--sandbox", "-C", "--cd", "--add-dir", "--thread-source", "--cyber-access-program", "--output-schema", "--color", "-o", "--output-last-message"}
# what a resumed claude -p is given anew, and so is not carried over from the run it continues
CLAUDE_RESUME_OWN = {"--resume": 1, "-r": 1, "--session-id": 1, "--continue": 0, "-c": 0, "--output-format": 1, "--verbose": 0, "-p": 0, "--print": 0}


def _codex_exec_options(args: list[str]) -> list[str]:
    """exec's own options from what follows `exec`: all of it but its prompt (the last word
    that is neither an option nor the value of one that takes a value; or what follows a
    `--`), and an earlier `resume …` left out. An option podium does not know keeps the
    word after it unless that word is the last one."""
    if "resume" in args:
        return args[: args.index("resume")]
    if "--" in args:
        return args[: args.index("--")]
    prompt, i = None, 0
    while i < len(args):
        if args[i] in CODEX_EXEC_VALUED:
            i += 2
            continue
        if args[i] == "-" or not args[i].startswith("-"):
            prompt = i
        i += 1
    return [a for j, a in enumerate(args) if j != prompt]


def _claude_print_options(argv: list[str]) -> list[str] | None:
    """claude -p's own options (its permission mode, tools, model…) without its prompt and
    what a resume gives anew; None when the prompt cannot be told apart from them."""
    args = argv[1:]
    at = next((i for i, a in enumerate(args) if a in ("-p", "--print")), None)
    if at is not None and at + 1 < len(args) and not args[at + 1].startswith("-"):
        args = args[: at + 1] + args[at + 2 :]  # claude -p PROMPT …
    elif args and not args[0].startswith("-"):
        args = args[1:]  # claude PROMPT -p …
    else:
        return None
    kept: list[str] = []
    i = 0
    while i < len(args):
        skip = CLAUDE_RESUME_OWN.get(args[i])
        if skip is None:
            kept.append(args[i])
        i += 1 + (skip or 0)
    return kept


def resume_argv(mode: str, argv: list[str], session_id: str, prompt: str) -> list[str]:
    """The command that continues conversation `session_id` with `prompt`, from the command
    that began it (codex exec or claude -p: the agents whose runs end). The options it was
    started with stay (a resumed run keeps its sandbox, permission mode, tools and model);
    its prompt goes."""
    if mode == "codex-exec":
        index = _exec_index(argv) or 1
        return [*argv[:index], "exec", *_codex_exec_options(argv[index + 1 :]), "resume", session_id, prompt]
    if mode == "claude-p":
        kept = _claude_print_options(argv) or []
        return [argv[0], "-p", prompt, "--resume", session_id, "--output-format", "stream-json", "--verbose", *kept]
    raise ValueError(f"a {mode} worker's conversation is not resumed by a new run")


def prepare_codex_exec(argv: list[str], worker_dir: Path) -> list[str]:
    """What podium adds to a codex exec it launches: JSON events and the last-message file."""
    out = list(argv)
    index = _exec_index(out)
    if index is None:
        return out
    at = index + 1  # right after `exec`
    if "--json" not in out:
        out.insert(at, "--json")
    if not any(a in ("-o", "--output-last-message") or a.startswith("--output-last-message=") for a in out):
        out[at + 1 : at + 1] = ["-o", str(worker_dir / LAST_MESSAGE)]
    if "--skip-git-repo-check" not in out:
        out.insert(at, "--skip-git-repo-check")
    return out


@dataclass
class Report:
    """A completion report parsed from a final message."""

    outcome: str | None = None  # COMPLETED | FAILED | BLOCKED
    headline: str = ""
    status: str | None = None  # Done | Blocked | Needs review
    fields: dict[str, str] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "headline": self.headline, "status": self.status, "fields": self.fields}


def parse_report(text: str) -> Report | None:
    first = REPORT_FIRST_LINE.search(text)
    status = REPORT_STATUS.search(text)
    if first is None and status is None:
        return None
    report = Report()
    if first is not None:
        report.outcome, report.headline = first.group(1), first.group(2).strip()
    if status is not None:
        report.status = {"done": "Done", "blocked": "Blocked", "needs review": "Needs review"}[status.group(1).lower()]
    lines = text.splitlines()
    current = None
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip() in REPORT_FIELDS:
            current = key.strip()
            report.fields[current] = value.strip()
        elif current and line.startswith((" ", "-", "*", "\t")) and line.strip():
            report.fields[current] = (report.fields[current] + "\n" + line.strip()).strip()
        elif not line.strip():
            current = None
    return report


def last_report_block(text: str) -> str | None:
    """A shell worker's last report: from its last COMPLETED/FAILED/BLOCKED line on."""
    matches = list(REPORT_FIRST_LINE.finditer(text))
    if not matches:
        return None
    return text[matches[-1].start() :].strip()


class Adapter:
    """Plain shell: the exit code, plus a completion report line when one was printed."""

    mode = "shell"
    structured = False

    def __init__(self, worker_dir: Path):
        self.worker_dir = worker_dir
        self.malformed = 0
        self.unknown = 0
        self.events = 0
        self.tokens_in = 0  # reported at the end of each run (codex: turn.completed; claude: result)
        self.tokens_out = 0
        self.live: dict[str, tuple[int, int]] = {}  # this run's model answers so far, by message id (claude)
        self.cost_usd = 0.0
        self.session_id: str | None = None
        self.actions = 0  # tool calls seen (for the escalation rate)
        self._partial = b""
        self._tail = bytearray()  # the last bytes, for a shell's report block (cleaned when asked)

    # -- bytes in -------------------------------------------------------------------
    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Split into lines; returns the JSON events found (for events.jsonl)."""
        self._tail += data
        if len(self._tail) > 32768:
            del self._tail[: len(self._tail) - 16384]
        if not self.structured:
            return []
        buf = self._partial + data
        lines = buf.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > 64 * 1024 * 1024:  # a runaway line is kept in the raw view only
            self._partial = b""
            self.malformed += 1
        found = []
        for raw in lines:
            line = raw.strip(b"\r").strip()
            if not line.startswith(b"{"):
                continue  # not an event: a warning, a progress line (the raw view has it)
            try:
                event = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.malformed += 1
                continue
            if not isinstance(event, dict):
                self.malformed += 1
                continue
            self.events += 1
            self.handle(event)
            found.append(event)
        return found

    def handle(self, event: dict[str, Any]) -> None:
        pass

    def new_run(self) -> None:
        """A resumed run: its own success signals (token counts go on adding up)."""
        self.tokens_in += sum(a for a, _ in self.live.values())  # a run cut short spent them too
        self.tokens_out += sum(b for _, b in self.live.values())
        self.live = {}
        self._partial = b""
        self._tail = bytearray()

    @property
    def spent_tokens(self) -> int:
        """Every token reported so far, this run's answers included."""
        return self.tokens_in + self.tokens_out + sum(a + b for a, b in self.live.values())

    def tail_text(self) -> str:
        return plain_text(bytes(self._tail[-16384:])).replace("\r", "")

    # -- what it knows ---------------------------------------------------------------
    def last_message(self) -> str | None:
        return last_report_block(self.tail_text())

    def signals(self, exit_code: int | None) -> dict[str, bool]:
        return {"exit_code": exit_code == 0}

    def verdict(self, exit_code: int | None, exit_signal: int | None) -> tuple[str, str] | None:
        """(state, reason) from the agent's own signals, or None to use the exit code."""
        message = self.last_message()
        report = parse_report(message) if message else None
        if report is not None and exit_code == 0:
            if report.status == "Blocked" or report.outcome == "BLOCKED":
                return "blocked", f"report: BLOCKED {report.headline}".strip()
            if report.status == "Needs review":
                return "needs-review", "report: Status: Needs review"
        return None

    def resume_command(self, prompt: str, argv: list[str]) -> list[str]:
        raise ValueError("a shell worker has no conversation to resume; spawn it again instead")

    def public(self, exit_code: int | None) -> dict[str, Any]:
        message = self.last_message()
        report = parse_report(message) if message else None
        return {
            "report": report.public() if report else None,
            "mode": self.mode,
            "session_id": self.session_id,
            "tokens": self.spent_tokens,
            "tokens_in": self.tokens_in + sum(a for a, _ in self.live.values()),
            "tokens_out": self.tokens_out + sum(b for _, b in self.live.values()),
            "cost_usd": round(self.cost_usd, 6),
            "events": self.events,
            "malformed_lines": self.malformed,
            "unknown_events": self.unknown,
            "signals": self.signals(exit_code),
        }


class CodexExecAdapter(Adapter):
    mode = "codex-exec"
    structured = True
    KNOWN = {"thread.started", "turn.started", "turn.completed", "turn.failed", "item.started", "item.updated", "item.completed", "error"}

    def __init__(self, worker_dir: Path):
        super().__init__(worker_dir)
        self.turn_completed = False
        self.turn_failed: str | None = None
        self.agent_message: str | None = None
        self.errors: list[str] = []
        self.files_changed: list[str] = []

    def new_run(self) -> None:
        super().new_run()
        self.turn_completed = False
        self.turn_failed = None
        self.agent_message = None
        try:
            (self.worker_dir / LAST_MESSAGE).unlink()
        except FileNotFoundError:
            pass

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind not in self.KNOWN:
            self.unknown += 1
            return
        if kind == "thread.started":
            self.session_id = str(event.get("thread_id") or self.session_id or "") or None
        elif kind == "turn.completed":
            self.turn_completed = True
            usage = event.get("usage") or {}
            self.tokens_in += int(usage.get("input_tokens") or 0)
            self.tokens_out += int(usage.get("output_tokens") or 0)
        elif kind == "turn.failed":
            self.turn_failed = str((event.get("error") or {}).get("message") or "turn failed")
        elif kind == "error":
            self.errors.append(str(event.get("message") or "error"))
        elif kind == "item.completed":
            item = event.get("item") or {}
            if item.get("type") in ("command_execution", "file_change", "mcp_tool_call"):
                self.actions += 1
            if item.get("type") == "agent_message":
                self.agent_message = str(item.get("text") or "")
            elif item.get("type") == "file_change":
                for change in item.get("changes") or []:
                    path = change.get("path")
                    if path and path not in self.files_changed:
                        self.files_changed.append(str(path))

    def sidecar(self) -> str | None:
        try:
            text = (self.worker_dir / LAST_MESSAGE).read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, IsADirectoryError):
            return None
        return text if text.strip() else None

    def last_message(self) -> str | None:
        return self.sidecar() or self.agent_message

    def signals(self, exit_code: int | None) -> dict[str, bool]:
        return {"exit_code": exit_code == 0, "turn_completed": self.turn_completed, "last_message": self.sidecar() is not None}

    def verdict(self, exit_code: int | None, exit_signal: int | None) -> tuple[str, str] | None:
        s = self.signals(exit_code)
        labels = {"exit_code": "exit", "turn_completed": "turn", "last_message": "msg"}
        marks = " ".join(f"{labels[name]}{'✓' if ok else '✗'}" for name, ok in s.items())
        if self.turn_failed:
            return "failed", f"turn.failed: {self.turn_failed}"
        if all(s.values()):
            reported = super().verdict(exit_code, exit_signal)
            return reported or ("done", marks)
        if not any(s.values()) or (exit_code != 0 and not s["turn_completed"]):
            return "failed", marks
        return "needs-review", f"signals disagree: {marks}"

    def resume_command(self, prompt: str, argv: list[str]) -> list[str]:
        if not self.session_id:
            raise ValueError("this codex exec worker never reported a thread id (no thread.started event): nothing to resume")
        return resume_argv(self.mode, argv, self.session_id, prompt)

    def public(self, exit_code: int | None) -> dict[str, Any]:
        out = super().public(exit_code)
        out.update({"turn_completed": self.turn_completed, "turn_failed": self.turn_failed, "files_changed": self.files_changed})
        return out


class ClaudePrintAdapter(Adapter):
    mode = "claude-p"
    structured = True
    KNOWN = {"system", "assistant", "user", "result", "stream_event"}

    def __init__(self, worker_dir: Path):
        super().__init__(worker_dir)
        self.result: dict[str, Any] | None = None
        self.permission_denials: list[Any] = []

    def new_run(self) -> None:
        super().new_run()
        self.result = None

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind not in self.KNOWN:
            self.unknown += 1
            return
        if event.get("session_id"):
            self.session_id = str(event["session_id"])
        if kind == "assistant":
            message = event.get("message") or {}
            self.actions += sum(1 for b in message.get("content") or [] if isinstance(b, dict) and b.get("type") == "tool_use")
            usage = message.get("usage") or {}
            if usage:  # each answer as it comes (a budget acts before the run ends); the result has the total
                spent = int(usage.get("input_tokens") or 0) + int(usage.get("cache_read_input_tokens") or 0), int(usage.get("output_tokens") or 0)
                self.live[str(message.get("id") or len(self.live))] = spent
        if kind == "result":
            self.result = event
            self.live = {}
            usage = event.get("usage") or {}
            self.tokens_in += int(usage.get("input_tokens") or 0) + int(usage.get("cache_read_input_tokens") or 0)
            self.tokens_out += int(usage.get("output_tokens") or 0)
            self.cost_usd += float(event.get("total_cost_usd") or 0.0)
            self.permission_denials = list(event.get("permission_denials") or [])

    def last_message(self) -> str | None:
        if self.result is not None and isinstance(self.result.get("result"), str):
            return self.result["result"]
        return None

    def signals(self, exit_code: int | None) -> dict[str, bool]:
        return {"exit_code": exit_code == 0, "result": self.result is not None and not self.result.get("is_error", True)}

    def verdict(self, exit_code: int | None, exit_signal: int | None) -> tuple[str, str] | None:
        s = self.signals(exit_code)
        marks = f"exit{'✓' if s['exit_code'] else '✗'} result{'✓' if s['result'] else '✗'}"
        if all(s.values()):
            return super().verdict(exit_code, exit_signal) or ("done", marks)
        if self.result is not None and self.result.get("is_error"):
            return "failed", f"result is_error ({self.result.get('subtype')})"
        if not any(s.values()):
            return "failed", marks
        return "needs-review", f"signals disagree: {marks}"

    def resume_command(self, prompt: str, argv: list[str]) -> list[str]:
        if not self.session_id:
            raise ValueError("this claude worker never reported a session id: nothing to resume")
        return resume_argv(self.mode, argv, self.session_id, prompt)

    def public(self, exit_code: int | None) -> dict[str, Any]:
        out = super().public(exit_code)
        result = self.result or {}
        error = (str(result.get("result") or result.get("subtype") or "is_error")) if result.get("is_error") else None
        out.update({"permission_denials": len(self.permission_denials), "result_subtype": result.get("subtype"), "result_error": error})
        return out


class InteractiveAdapter(Adapter):
    """The interactive codex or claude: screen only; resume with their own commands."""

    def __init__(self, worker_dir: Path, mode: str):
        super().__init__(worker_dir)
        self.mode = mode

    def resume_command(self, prompt: str, argv: list[str]) -> list[str]:
        if self.mode == "codex":
            cmd = [argv[0], "resume", "--last"] if not self.session_id else [argv[0], "resume", self.session_id]
            if "--no-daemon" in argv:
                cmd.append("--no-daemon")
            return cmd + ([prompt] if prompt else [])
        cmd = [argv[0], "--continue"] if not self.session_id else [argv[0], "--resume", self.session_id]
        return cmd + ([prompt] if prompt else [])


def make_adapter(kind: str, argv: list[str], worker_dir: Path) -> Adapter:
    mode = agent_mode(kind, argv)
    if mode == "codex-exec":
        return CodexExecAdapter(worker_dir)
    if mode == "claude-p":
        return ClaudePrintAdapter(worker_dir)
    if mode in ("codex", "claude"):
        return InteractiveAdapter(worker_dir, mode)
    return Adapter(worker_dir)
