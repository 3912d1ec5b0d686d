"""The blackboard: a workspace's `.podium/` directory, the source of truth on disk.

Owns where everything lives (paths), how it is written (atomically: temp file, fsync,
rename), the per-worker `meta.toml`, `session.toml`, and the append-only `journal.jsonl`.
Only the supervisor writes global state; a holder writes only its own worker's files.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from .fsutil import atomic_write, now_iso, read_json

log = logging.getLogger("podium")

__all__ = ["atomic_write", "now_iso", "read_json"]  # re-exported: callers import them from here

T = TypeVar("T")
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


class DiskThread:
    """The supervisor's one idiom for disk work: it happens on this one thread, in order,
    and the event loop never waits on a disk. `write_latest` coalesces (only the newest
    content of a path is written: meta.toml on every state change); `run` is awaited when
    the loop needs the answer (result.md, decision cards); `flush` waits for everything."""

    def __init__(self, on_error: Callable[[Path, str], None] | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blackboard-disk")
        self._on_error = on_error  # called on the disk thread
        self._latest: dict[Path, bytes] = {}
        self._lock = threading.Lock()

    def write_latest(self, path: Path, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        with self._lock:
            queued = path in self._latest
            self._latest[path] = raw
        if not queued:
            self._pool.submit(self._write, path)

    def write_toml(self, path: Path, data: dict[str, Any]) -> None:
        self.write_latest(path, tomli_w.dumps(_toml_clean(data)))

    def _write(self, path: Path) -> None:
        with self._lock:
            raw = self._latest.pop(path, None)
        if raw is None:
            return
        try:
            atomic_write(path, raw)
        except OSError as exc:  # the journal still has the change; the owner says so
            log.warning(f"could not write {path}: {exc.strerror}")
            if self._on_error is not None:
                self._on_error(path, exc.strerror or str(exc))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait (blocking) until everything queued so far is on disk."""
        self._pool.submit(lambda: None).result(timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


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


def read_toml_or_empty(path: Path) -> dict[str, Any]:
    """A room's own state file: nothing yet is {}; unreadable is a BlackboardError naming it."""
    try:
        return read_toml(path)
    except BlackboardError:
        if not path.exists():
            return {}
        raise


# The longest socket path podium makes under the runtime root (see holder_socket).
_LONGEST_SOCKET = len("/0123456789abcdef/w-0123456789ab.sock")
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL


def runtime_root() -> Path:
    """Owner-only directory for sockets: $XDG_RUNTIME_DIR/podium-UID, or under the temp
    directory when that is unset, unusable, or so deep a socket path would not fit."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    root = f"{base}/podium-{os.getuid()}"
    if not base or not os.path.isdir(base) or not os.access(base, os.W_OK) or len(os.fsencode(root)) + _LONGEST_SOCKET > SOCKET_PATH_MAX:
        root = f"{tempfile.gettempdir()}/podium-{os.getuid()}"
    return Path(root)


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

    def recorded_supervisor(self) -> tuple[int, Path] | None:
        """The pid and socket the running supervisor wrote beside its lock: clients find
        it there, whatever their own $XDG_RUNTIME_DIR says (an ssh login, `sudo -u`, a
        multiplexer started before login)."""
        try:
            pid_line, socket_line, *_ = self.lock_path.read_text().splitlines() + ["", ""]
            return int(pid_line), Path(socket_line) if socket_line else self.socket_path
        except (OSError, ValueError):
            return None

    def worker_dir(self, name: str) -> Path:
        return self.workers_dir / name

    def holder_socket(self, name: str) -> Path:
        """A hash of the name, not the name: a 64-character worker name must not push the
        path past what a Unix socket takes (108 bytes)."""
        return self.run_dir / f"w-{hashlib.sha256(name.encode()).hexdigest()[:12]}.sock"

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


class Journal:
    """`journal.jsonl`: one JSON object a line, appended, never rewritten."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.lost = 0  # entries a full disk did not take

    def write(self, entry_type: str, worker: str | None = None, /, **fields: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"ts": now_iso(), "type": entry_type}
        if worker is not None:
            entry["worker"] = worker
        entry.update(fields)
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        try:
            os.write(self._fd, line)
        except OSError as exc:  # a full disk stops nothing; the log says what is missing
            self.lost += 1
            if self.lost == 1 or self.lost % 1000 == 0:
                log.warning(f"journal: {exc.strerror}; {self.lost} entries not written, the last: {line.decode(errors='replace').strip()}")
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
