"""podium's engine: PTY sessions, transcripts, live screens, and the exec_command /
write_stdin model. Never imports textual (tests/test_import_hygiene.py proves it)."""

from .pty_session import PtySession, SpawnError
from .screen import LiveScreen
from .transcript import LineIndex, TranscriptReader, TranscriptWriter, strip_ansi
from .unified_exec import UnifiedExec, UnknownSession

__all__ = [
    "LineIndex",
    "LiveScreen",
    "PtySession",
    "SpawnError",
    "TranscriptReader",
    "TranscriptWriter",
    "UnifiedExec",
    "UnknownSession",
    "strip_ansi",
]
