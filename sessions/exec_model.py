"""The rules of the exec_command / write_stdin model (codex's unified exec): an answer
carries the output produced since the last read, a `session_id` while the process runs
and its `exit_code` once it has exited; output over `max_output_tokens` is cut in the
middle with a marker that says how much was left out and where every byte is (the
transcript keeps them all). The supervisor's exec and write requests follow them.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_EXEC_YIELD_MS = 10_000
DEFAULT_WRITE_YIELD_MS = 250
DEFAULT_MAX_OUTPUT_TOKENS = 10_000
BYTES_PER_TOKEN = 4
# Unread output kept in memory per session beyond which only head and tail are kept
# (the middle is only ever shown as "omitted" anyway; the transcript has it).
UNREAD_CAP = 8 * 1024 * 1024


def _char_start(data: bytes | bytearray, i: int) -> int:
    """Move i forward past UTF-8 continuation bytes so a cut never splits a character."""
    while i < len(data) and 0x80 <= data[i] < 0xC0:
        i += 1
    return i


def _char_end(data: bytes | bytearray, i: int) -> int:
    """Move i back so that data[:i] ends on a character boundary."""
    j = i
    while j > 0 and j > i - 4 and 0x80 <= data[j - 1] < 0xC0:
        j -= 1
    if j > 0 and data[j - 1] >= 0xC0:  # a lead byte whose sequence may not be complete
        lead = data[j - 1]
        need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if i - (j - 1) < need:
            return j - 1
    return i


class UnreadOutput:
    """Output not yet returned to the caller. A listener on the reading path: appends only."""

    def __init__(self, cap: int = UNREAD_CAP):
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def __call__(self, data: bytes) -> None:
        if len(self.head) < self.cap // 2:
            room = self.cap // 2 - len(self.head)
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            excess = len(self.tail) - self.cap // 2
            if excess > 0:
                del self.tail[:excess]
                self.dropped += excess

    def __len__(self) -> int:
        return len(self.head) + self.dropped + len(self.tail)

    def take(self, max_bytes: int, final: bool, note: str = "") -> str:
        """Everything unread as text, cut in the middle to `max_bytes`; a trailing
        incomplete UTF-8 character is held back for the next read unless `final`."""
        head, tail, dropped = self.head, self.tail, self.dropped
        if not dropped:
            head, tail = head + tail, bytearray()
        last = tail if dropped else head
        keep_back = bytearray()
        if not final:
            end = _char_end(last, len(last))
            keep_back = last[end:]
            del last[end:]
        self.head, self.tail, self.dropped = keep_back, bytearray(), 0
        total = len(head) + dropped + len(tail)
        if total <= max_bytes and not dropped:
            return head.decode("utf-8", "replace")
        half = max(0, max_bytes // 2)
        front = head[: _char_end(head, min(half, len(head)))]
        rest = tail if dropped else head
        back = rest[_char_start(rest, max(len(rest) - half, 0 if dropped else len(front))) :]
        omitted = total - len(front) - len(back)
        marker = (
            f"\n…[podium: {omitted} bytes (~{-(-omitted // BYTES_PER_TOKEN)} tokens) of output "
            f"omitted{note}]…\n"
        )
        return front.decode("utf-8", "replace") + marker + back.decode("utf-8", "replace")


def exec_answer(
    unread: UnreadOutput,
    exited: bool,
    exit_code: int | None,
    session_id: int | str,
    max_output_tokens: int | None,
    transcript_path: Path | str,
) -> dict[str, object]:
    """The model's answer: output since the last read, then exit_code or session_id."""
    tokens = DEFAULT_MAX_OUTPUT_TOKENS if max_output_tokens is None else max(0, max_output_tokens)
    output = unread.take(tokens * BYTES_PER_TOKEN, final=exited, note=f"; every byte is in {transcript_path}")
    if exited:
        return {"output": output, "exit_code": exit_code}
    return {"output": output, "session_id": session_id}
