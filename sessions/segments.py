"""The transcript's files and their one writer. A worker's transcript is the live file
`transcript.log` and closed segments `transcript.log.000001`, `.000002`… in the order
they were written (rotated at `SEGMENT_BYTES`; a segment is never changed once closed).
The holder writes them, first, before anything else sees a byte; the supervisor and the
dashboard read them (`transcript.py`).

The writer never raises on the reading path: a write that fails (a full disk) is
counted, the holder reports it, and once writing works again a marker line says how much
is missing and why, so nothing is lost silently.

Standard library only and no relative import (no pathlib either): the holder, a bare
interpreter, imports this file by itself.
"""

from __future__ import annotations

import _thread
import errno
import os

TYPE_CHECKING = False  # (the typing module costs a holder 1.8 MB)
if TYPE_CHECKING:
    from pathlib import Path

LIVE_NAME = "transcript.log"
SEGMENT_BYTES = 64 * 1024 * 1024
# Tests set this to a path: while that file exists, every write a holder makes (the
# transcript, exit.json, holder.json) fails with ENOSPC: a full disk, without root or a
# small filesystem. Nothing else sets it.
_FAULT = os.environ.get("PODIUM_FAULT_DISK")


def disk_fault() -> None:
    """Raise what a full disk raises, while the test's fault file exists."""
    if _FAULT and os.path.exists(_FAULT):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def segment_name(number: int) -> str:
    return f"{LIVE_NAME}.{number:06d}"


def closed_segments(directory: str) -> list[str]:
    """Names of the closed segments in write order."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    prefix = LIVE_NAME + "."
    return sorted(n for n in names if n.startswith(prefix) and n[len(prefix) :].isdigit())


def segment_paths(directory: Path) -> list[Path]:
    """Closed segments in write order, then the live one (if present)."""
    paths = [directory / n for n in closed_segments(str(directory))]
    live = directory / LIVE_NAME
    return paths + ([live] if live.exists() else [])


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


class TranscriptWriter:
    """Append-only: `write` is one `os.write` to the page cache on the holder's reading
    path; it never fsyncs there (`sync` hands that to a thread)."""

    def __init__(self, directory: str | Path, segment_bytes: int = SEGMENT_BYTES):
        self.directory = str(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._limit = segment_bytes  # live bytes at which it rotates
        closed = closed_segments(self.directory)
        self._next_segment = int(closed[-1].rsplit(".", 1)[1]) + 1 if closed else 1
        self._closed_bytes = sum(os.stat(os.path.join(self.directory, n)).st_size for n in closed)
        self._fd = -1
        self._live_bytes = 0
        self._open_live()  # raises OSError: a transcript that cannot be opened stops the start
        self.lost = 0  # bytes not written since writing last failed
        self.error: str | None = None  # why, while it fails

    def _open_live(self) -> None:
        path = os.path.join(self.directory, LIVE_NAME)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._live_bytes = os.fstat(self._fd).st_size

    @property
    def size(self) -> int:
        """Total bytes across every segment: the offset the next byte will have."""
        return self._closed_bytes + self._live_bytes

    def write(self, data: bytes | memoryview) -> None:
        if self.lost:
            amount = human_bytes(self.lost) + (f" ({self.lost} bytes)" if self.lost >= 1024 else "")
            marker = f"\r\n[podium: {amount} of output could not be written to the transcript here: {self.error}]\r\n".encode()
            if not self._write(marker):
                self.lost += len(data)
                return
            self.lost, self.error = 0, None
        self._write(data)

    def _write(self, data: bytes | memoryview) -> bool:
        """Write it all, rotating as needed; on failure count what was not written."""
        view = memoryview(data)
        try:
            while view:
                if _FAULT:
                    disk_fault()
                if self._fd < 0:  # a rotation failed half-way: the live file again, or a new one
                    self._open_live()
                room = self._limit - self._live_bytes
                if room <= 0:
                    self._rotate()
                    continue
                written = os.write(self._fd, view[:room])
                self._live_bytes += written
                view = view[written:]
        except OSError as exc:
            self.lost += len(view)
            self.error = exc.strerror or str(exc)
            return False
        return True

    def _rotate(self) -> None:
        """Close the full live file as the next segment and open a new one. If the rename
        fails the live file goes on growing (output is kept, segments are only a size) and
        the next segment's worth tries again; if the open fails, the next write does."""
        live = os.path.join(self.directory, LIVE_NAME)
        try:
            os.rename(live, os.path.join(self.directory, segment_name(self._next_segment)))
        except OSError:
            self._limit = self._live_bytes + self.segment_bytes
            return
        self._limit = self.segment_bytes
        _sync_and_close_later(self._fd)  # the closed segment is made durable off the reading path
        self._fd = -1
        self._next_segment += 1
        self._closed_bytes += self._live_bytes
        self._live_bytes = 0
        self._open_live()

    def sync(self) -> None:
        """Make what was written durable, without making the caller wait for the disk."""
        if self._fd >= 0:
            _sync_and_close_later(os.dup(self._fd))

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            except OSError:
                pass  # a full disk: what the page cache has is what there is
            finally:
                os.close(self._fd)
                self._fd = -1


def _sync_and_close_later(fd: int) -> None:
    def work() -> None:
        try:
            os.fdatasync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    _thread.start_new_thread(work, ())
