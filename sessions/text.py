"""Worker output made safe to show: the one place that knows which escape sequences and
control characters exist, which of them may reach a person's real terminal (none), and
how a transcript's bytes become plain or styled text.

Everything podium shows that a worker wrote (a pane row, a transcript line, a journal
entry, an inbox card, `podium logs`) goes through one of these functions.
"""

from __future__ import annotations

import re

# CSI, OSC (BEL or ST terminated), DCS/PM/APC strings, other two-byte escapes, and lone
# C0 controls but \t \n \r.
_ESCAPES = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"
    r"|\x1b[P^_][^\x1b\n]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]"
)
ANSI_RE = re.compile((_ESCAPES + r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]").encode())
# Every escape sequence but SGR (colours), for text that keeps its colours.
NON_SGR_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-ln-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[P^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-Z\\-~]"
)

_BIDI = (0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069)
_C1 = range(0x80, 0xA0)
# On a screen row every control becomes a space (the columns stay where they were).
_SCREEN_UNSAFE = {c: " " for c in [*range(0, 32), 0x7F, *_C1, *_BIDI]}
# In text (logs, result, journal) controls go, but newline and tab stay; a lone carriage
# return too (on a terminal it would let later text hide what came before it).
_TEXT_UNSAFE = {c: None for c in [*range(0, 9), 0x0B, 0x0C, 0x0D, *range(0x0E, 0x20), 0x7F, *_C1, *_BIDI]}
# In a styled line: as text, but ESC stays for the SGR sequences left in it.
_STYLED_UNSAFE = {c: None for c in [*range(0, 9), *range(10, 27), *range(28, 32), 0x7F, *_C1, *_BIDI]}


def strip_ansi(data: bytes) -> bytes:
    """Remove escape sequences and control bytes (keeps \\n, \\t and \\r)."""
    return ANSI_RE.sub(b"", data)


def safe_text(text: str) -> str:
    """Text from a worker's screen made safe to put on a real terminal: no C0/C1 controls
    (an 8-bit CSI or a stray ESC could drive the person's terminal), no bidi overrides."""
    return text.translate(_SCREEN_UNSAFE)


def plain_text(data: bytes) -> str:
    """Transcript bytes as text safe for a real terminal: escape sequences, controls (but
    newline and tab) and bidi overrides removed, invalid UTF-8 replaced, CRLF made LF."""
    text = strip_ansi(data).decode("utf-8", "replace").replace("\r\n", "\n")
    return text.translate(_TEXT_UNSAFE)


def sgr_only(raw: bytes) -> str:
    """A transcript line keeping only its colours: what follows the last carriage return
    wins (as on a terminal), every other escape sequence and control is removed."""
    text = raw.decode("utf-8", "replace").rstrip("\r")
    if "\r" in text:
        text = text.rsplit("\r", 1)[-1]
    return NON_SGR_RE.sub("", text).translate(_STYLED_UNSAFE)


# NAME=value where NAME says it is a secret (…KEY, …TOKEN, SECRET, PASSWORD…): masked in
# what the journal keeps of a command or an agent's arguments.
SECRET = re.compile(r"\b([A-Za-z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)[A-Za-z0-9_]*)=(\"[^\"]*\"?|'[^']*'?|\S*)", re.IGNORECASE)


def masked(text: str) -> str:
    """`text` with the values of NAME=value secrets replaced by ***."""
    return SECRET.sub(r"\1=***", text)
