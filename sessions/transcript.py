"""The transcript, read: random access by byte offset across every segment, and the line
index that scrollback and search read from. (The files' layout and their one writer, the
holder's, are in `segments.py`.) Nothing here parses terminal state; lines are bytes
until somebody asks.
"""

from __future__ import annotations

import bisect
import re
from array import array
from dataclasses import dataclass
from pathlib import Path

from .segments import TranscriptWriter, segment_paths
from .text import strip_ansi

__all__ = ["LineIndex", "TranscriptReader", "TranscriptWriter", "segment_paths"]

INDEX_BLOCK = 64 * 1024

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
