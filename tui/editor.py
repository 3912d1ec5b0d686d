"""$EDITOR from inside the app: the app steps aside (suspend), the person's editor opens
a temporary copy, and the text comes back only when the editor exits 0. One place for
the result screen's document, a task's envelope and the plan file."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from textual.app import App


def edit_text(app: App[object], text: str, suffix: str = ".md", prefix: str = "podium-") -> str | None:
    """The text as the person left it in $VISUAL/$EDITOR (vi when neither is set), or None
    when the editor could not run or did not exit 0 (a toast says which)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w", suffix=suffix, prefix=prefix, delete=False) as f:
        f.write(text)
        tmp = f.name
    try:
        with app.suspend():
            code = subprocess.call([*shlex.split(editor), tmp])
        new = Path(tmp).read_text()
    except OSError as exc:
        app.notify(f"could not run {editor}: {exc}", severity="error")
        return None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    if code != 0:
        app.notify(f"{editor} exited with {code}: nothing saved", severity="warning")
        return None
    return new
