"""The transcript: every byte a worker's PTY produced, on disk, in order, never edited.

This module owns the files `transcript.log` (the live segment) and `transcript.log.NNNNNN`
(closed segments, numbered in the order they were written) in a worker's directory, the
append-only writer that the reading path calls first, and the line index that scrollback and
search read from. Nothing here parses terminal state; lines are bytes until somebody asks.
"""

from __future__ import annotations

import bisect
import os
import re
import threading
from array import array
from dataclasses import dataclass
from pathlib import Path

from .text import strip_ansi

LIVE_NAME = "transcript.log"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
INDEX_BLOCK = 64 * 1024

def segment_paths(directory: Path) -> list[Path]:
    """Closed segments in write order, then the live one (if present)."""
    closed = sorted(
        p for p in directory.glob(LIVE_NAME + ".*") if p.suffix[1:].isdigit()
    )
    live = directory / LIVE_NAME
    return closed + ([live] if live.exists() else [])


class TranscriptWriter:
    """Append-only writer. `write` is on the hot path: one `os.write` to the page cache.

    It never fsyncs on the reading path; `sync()` is for whoever owns the cadence.
    Rotation renames the live file to the next closed-segment number and opens a fresh one,
    so a segment's bytes are never changed after they are written.
    """

    def __init__(self, directory: Path | str, segment_bytes: int = DEFAULT_SEGMENT_BYTES):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        closed = [p for p in segment_paths(self.directory) if p.name != LIVE_NAME]
        self._next_segment = (int(closed[-1].suffix[1:]) + 1) if closed else 1
        self._closed_bytes = sum(p.stat().st_size for p in closed)
        self._fd = -1
        self._open_live()

    def _open_live(self) -> None:
        path = self.directory / LIVE_NAME
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._live_bytes = os.fstat(self._fd).st_size

    @property
    def size(self) -> int:
        """Total bytes across every segment: the offset the next byte will have."""
        return self._closed_bytes + self._live_bytes

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            room = self.segment_bytes - self._live_bytes
            if room <= 0:
                self._rotate()
                continue
            chunk = view[:room]
            written = os.write(self._fd, chunk)
            self._live_bytes += written
            view = view[written:]

    def _rotate(self) -> None:
        # The closed segment is made durable off the reading path.
        _sync_and_close_later(self._fd)
        live = self.directory / LIVE_NAME
        os.rename(live, self.directory / f"{LIVE_NAME}.{self._next_segment:06d}")
        self._next_segment += 1
        self._closed_bytes += self._live_bytes
        self._open_live()

    def sync(self) -> None:
        """Make what was written durable, without making the caller wait for the disk."""
        if self._fd >= 0:
            _sync_and_close_later(os.dup(self._fd))

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1


def _sync_and_close_later(fd: int) -> None:
    def work() -> None:
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    threading.Thread(target=work, name="transcript-sync", daemon=True).start()


@dataclass(frozen=True)
class _Segment:
    path: Path
    start: int
    size: int


class TranscriptReader:
    """Random access to the concatenation of every segment, by global byte offset."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        self._segments: list[_Segment] = []
        self.refresh()

    def refresh(self) -> int:
        segments: list[_Segment] = []
        start = 0
        for path in segment_paths(self.directory):
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # rotated under us; the next refresh sees it
                continue
            segments.append(_Segment(path, start, size))
            start += size
        self._segments = segments
        return start

    @property
    def size(self) -> int:
        return self._segments[-1].start + self._segments[-1].size if self._segments else 0

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) across segments (short if the transcript is shorter)."""
        out = bytearray()
        for seg in self._segments:
            if seg.start + seg.size <= start or seg.start >= end:
                continue
            lo = max(start, seg.start) - seg.start
            hi = min(end, seg.start + seg.size) - seg.start
            try:
                with open(seg.path, "rb") as f:
                    f.seek(lo)
                    out += f.read(hi - lo)
            except FileNotFoundError:
                # The live segment was just rotated: find it under its new name.
                self.refresh()
                return self.read(start, end)
        return bytes(out)

    def tail(self, nbytes: int) -> tuple[int, bytes]:
        """The last `nbytes` bytes and the offset they start at."""
        size = self.refresh()
        start = max(0, size - nbytes)
        return start, self.read(start, size)


class LineIndex:
    """An incrementally built index of line starts over a transcript.

    Stores, per 64 KiB block, how many newlines precede it: a 500 MB transcript costs
    about 64 KB of index and is counted at memory speed (`bytes.count`). A line is found
    by bisecting the blocks and scanning one of them. Lines are bytes; turning them into
    styled text is the viewer's business, and only for the lines it shows.
    """

    def __init__(self, directory: Path | str):
        self.reader = TranscriptReader(directory)
        self._block_newlines = array("Q", [0])  # newlines before block i
        self._indexed = 0  # bytes counted so far
        self._newlines = 0
        self._ends_with_newline = True
        self.refresh()

    def refresh(self) -> int:
        """Count what was appended since the last call; returns the number of lines."""
        size = self.reader.refresh()
        while self._indexed < size:
            block = self._indexed // INDEX_BLOCK
            block_end = min((block + 1) * INDEX_BLOCK, size)
            data = self.reader.read(self._indexed, block_end)
            if not data:
                break
            self._newlines += data.count(b"\n")
            self._indexed += len(data)
            self._ends_with_newline = data.endswith(b"\n")
            if self._indexed % INDEX_BLOCK == 0:
                self._block_newlines.append(self._newlines)
        return self.line_count

    @property
    def line_count(self) -> int:
        if self._indexed == 0:
            return 0
        return self._newlines + (0 if self._ends_with_newline else 1)

    def _newline_offset(self, j: int) -> int:
        """Offset of the j-th newline (0-based)."""
        block = bisect.bisect_right(self._block_newlines, j) - 1
        pos = block * INDEX_BLOCK
        need = j - self._block_newlines[block] + 1
        while True:
            data = self.reader.read(pos, min(pos + INDEX_BLOCK, self._indexed))
            if not data:
                raise IndexError(j)
            here = data.count(b"\n")
            if here >= need:
                idx = -1
                for _ in range(need):
                    idx = data.index(b"\n", idx + 1)
                return pos + idx
            need -= here
            pos += len(data)

    def line_span(self, n: int) -> tuple[int, int]:
        """[start, end) of line n, the end excluding its newline."""
        if not 0 <= n < self.line_count:
            raise IndexError(n)
        start = 0 if n == 0 else self._newline_offset(n - 1) + 1
        end = self._newline_offset(n) if n < self._newlines else self._indexed
        return start, end

    def line(self, n: int, max_bytes: int = 64 * 1024) -> bytes:
        """Line n's bytes (cut at max_bytes; a 10 MB line does not come back whole)."""
        start, end = self.line_span(n)
        return self.reader.read(start, min(end, start + max_bytes))

    def lines(self, first: int, count: int, max_bytes: int = 64 * 1024) -> list[bytes]:
        """Consecutive lines read in one pass where they are short."""
        first = max(0, first)
        last = min(self.line_count, first + count)
        if first >= last:
            return []
        start, _ = self.line_span(first)
        _, end = self.line_span(last - 1)
        if end - start <= 4 * 1024 * 1024:
            chunk = self.reader.read(start, end)
            return [part[:max_bytes] for part in chunk.split(b"\n")]
        return [self.line(n, max_bytes) for n in range(first, last)]

    def line_of_offset(self, offset: int) -> int:
        """The line that holds byte `offset`."""
        block = min(offset // INDEX_BLOCK, len(self._block_newlines) - 1)
        base = block * INDEX_BLOCK
        return self._block_newlines[block] + self.reader.read(base, offset).count(b"\n")

    def search(
        self,
        pattern: str,
        from_line: int = 0,
        backwards: bool = False,
        chunk_bytes: int = 4 * 1024 * 1024,
    ) -> int | None:
        """The first line at or after (or, backwards, before) `from_line` whose text,
        escape sequences removed, matches `pattern` (a literal; smart case: any upper case
        letter makes it case-sensitive). Reads the transcript a chunk at a time."""
        self.refresh()
        flags = 0 if any(c.isupper() for c in pattern) else re.IGNORECASE
        needle = re.compile(re.escape(pattern.encode("utf-8", "surrogateescape")), flags)
        total = self.line_count
        if total == 0 or not pattern:
            return None
        if not backwards:
            n = max(0, min(from_line, total - 1))
            start, _ = self.line_span(n)
            while start < self._indexed:
                end = min(start + chunk_bytes, self._indexed)
                data = self.reader.read(start, end)
                if end < self._indexed:  # end the chunk on a line boundary
                    cut = data.rfind(b"\n")
                    if cut >= 0:
                        data = data[: cut + 1]
                hit = self._first_hit(needle, data)
                if hit is not None:
                    return self.line_of_offset(start) + hit
                start += len(data)
            return None
        n = max(0, min(from_line, total))
        end = self.line_span(n)[0] if n < total else self._indexed
        while end > 0:
            start = max(0, end - chunk_bytes)
            data = self.reader.read(start, end)
            if start > 0:  # begin the chunk on a line boundary
                cut = data.find(b"\n")
                if cut >= 0:
                    data = data[cut + 1 :]
                    start += cut + 1
            hit = self._last_hit(needle, data)
            if hit is not None:
                return self.line_of_offset(start) + hit
            if start == end:
                break
            end = start
        return None

    @staticmethod
    def _first_hit(needle: re.Pattern[bytes], data: bytes) -> int | None:
        clean = strip_ansi(data)
        m = needle.search(clean)
        return None if m is None else clean.count(b"\n", 0, m.start())

    @staticmethod
    def _last_hit(needle: re.Pattern[bytes], data: bytes) -> int | None:
        clean = strip_ansi(data)
        last = None
        for m in needle.finditer(clean):
            last = m
        return None if last is None else clean.count(b"\n", 0, last.start())
