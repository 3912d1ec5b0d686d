"""The blackboard: a workspace's `.podium/` directory, the source of truth on disk.

Owns where everything lives (paths), how it is written (atomically: temp file, fsync,
rename), the per-worker `meta.toml`, `session.toml`, and the append-only `journal.jsonl`.
Only the supervisor writes global state; a holder writes only its own worker's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from .fsutil import atomic_write, now_iso

__all__ = ["atomic_write", "now_iso"]  # re-exported: callers import them from here

WORKER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class BlackboardError(Exception):
    """A file of the blackboard is missing, unreadable or malformed (the message names it)."""


def _toml_clean(value: Any) -> Any:
    """TOML has no null: drop None values (recursively)."""
    if isinstance(value, dict):
        return {k: _toml_clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_toml_clean(v) for v in value if v is not None]
    return value


def write_toml(path: Path, data: dict[str, Any]) -> None:
    atomic_write(path, tomli_w.dumps(_toml_clean(data)))


class BackgroundWriter:
    """Atomic writes done by one thread, so the event loop never waits on fsync. Only the
    newest content of a path is written; `flush()` waits for everything queued."""

    def __init__(self) -> None:
        self._pending: dict[Path, bytes] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="blackboard-writer", daemon=True)
        self._thread.start()

    def write_toml(self, path: Path, data: dict[str, Any]) -> None:
        raw = tomli_w.dumps(_toml_clean(data)).encode()
        with self._cond:
            self._pending[path] = raw
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                path, raw = next(iter(self._pending.items()))
                del self._pending[path]
                self._busy = True
            try:
                atomic_write(path, raw)
            except OSError as exc:  # the log says so; the journal still has the change
                print(f"{now_iso()} could not write {path}: {exc}", flush=True)

    def flush(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise BlackboardError(f"{path}: missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise BlackboardError(f"{path}: malformed TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise BlackboardError(f"{path}: not UTF-8: {exc}") from None


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def runtime_root() -> Path:
    """Owner-only directory for sockets (a Unix socket path must stay under ~108 bytes)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base or not os.path.isdir(base) or not os.access(base, os.W_OK):
        base = tempfile.gettempdir()
    return Path(base) / f"podium-{os.getuid()}"


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.getuid():
        raise BlackboardError(f"{path}: owned by uid {st.st_uid}, not by you; refusing to use it")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


class Blackboard:
    """Paths of one workspace's `.podium/`."""

    def __init__(self, workspace: Path | str):
        self.workspace = Path(workspace).resolve()
        self.root = self.workspace / ".podium"
        digest = hashlib.sha256(str(self.workspace).encode()).hexdigest()[:16]
        self.run_dir = runtime_root() / digest

    # -- paths -------------------------------------------------------------------
    @property
    def session_toml(self) -> Path:
        return self.root / "session.toml"

    @property
    def journal(self) -> Path:
        return self.root / "journal.jsonl"

    @property
    def lock_path(self) -> Path:
        return self.root / "supervisor.lock"

    @property
    def log_path(self) -> Path:
        return self.root / "supervisor.log"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "supervisor.sock"

    @property
    def workers_dir(self) -> Path:
        return self.root / "workers"

    def worker_dir(self, name: str) -> Path:
        return self.workers_dir / name

    def holder_socket(self, name: str) -> Path:
        return self.run_dir / f"w-{name}.sock"

    def prepare(self) -> None:
        """Create `.podium/` and the private socket directory, or say clearly why not."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.workers_dir.mkdir(exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise BlackboardError(f"workspace {self.workspace} is not writable: {exc.strerror}") from None
        ensure_private_dir(runtime_root())
        ensure_private_dir(self.run_dir)

    # -- workers -----------------------------------------------------------------
    def worker_names(self) -> list[str]:
        if not self.workers_dir.is_dir():
            return []
        return sorted(p.name for p in self.workers_dir.iterdir() if (p / "meta.toml").exists())

    def read_meta(self, name: str) -> dict[str, Any]:
        return read_toml(self.worker_dir(name) / "meta.toml")

    def write_meta(self, name: str, meta: dict[str, Any]) -> None:
        write_toml(self.worker_dir(name) / "meta.toml", meta)


class Journal:
    """`journal.jsonl`: one JSON object a line, appended, never rewritten."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def write(self, entry_type: str, worker: str | None = None, /, **fields: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"ts": now_iso(), "type": entry_type}
        if worker is not None:
            entry["worker"] = worker
        entry.update(fields)
        os.write(self._fd, (json.dumps(entry, ensure_ascii=False) + "\n").encode())
        return entry

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_journal(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Entries and, for every line that is not a JSON object, an error naming it."""
    entries: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return entries, errors
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
            if not isinstance(obj, dict):
                raise ValueError("not an object")
            entries.append(obj)
        except (ValueError, UnicodeDecodeError) as exc:
            errors.append(f"{path}:{n}: bad journal line ({exc})")
    return entries, errors
