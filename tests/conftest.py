"""Shared fixtures: a throwaway workspace and an exec engine bound to it."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sessions import UnifiedExec  # noqa: E402

PY = sys.executable


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
async def ux(workspace: Path):
    engine = UnifiedExec(workspace, columns=80, lines=24)
    yield engine
    await engine.close(grace=0.5)


@pytest.fixture
def script(tmp_path: Path):
    """Write a Python script into tmp_path and return the argv that runs it."""

    def make(name: str, body: str) -> list[str]:
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(body))
        return [PY, "-u", str(path)]

    return make


def proc_state(pid: int) -> str:
    """The kernel's one-letter state of a process (R, S, T for stopped, Z...)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
