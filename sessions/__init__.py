"""podium's engine: PTY sessions, transcripts, live screens, the exec_command /
write_stdin model, the supervisor and its holders. Never imports textual
(tests/test_import_hygiene.py proves it).

Names are imported lazily, so that a holder (one per worker) loads only what it uses.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LiveScreen": "screen",
    "LineIndex": "transcript",
    "TranscriptReader": "transcript",
    "TranscriptWriter": "transcript",
    "strip_ansi": "text",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sessions' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
