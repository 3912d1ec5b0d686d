"""Transcripts: every byte, in order, rotated but never edited; the line index and search."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from podium.sessions.transcript import LineIndex, TranscriptReader, TranscriptWriter, segment_paths


def test_rotation_keeps_every_byte_in_order(tmp_path):
    w = TranscriptWriter(tmp_path, segment_bytes=1000)
    payload = bytes(range(256)) * 40  # 10 240 bytes
    for i in range(0, len(payload), 333):
        w.write(payload[i : i + 333])
    w.close()
    paths = segment_paths(tmp_path)
    assert [p.name for p in paths][:2] == ["transcript.log.000001", "transcript.log.000002"]
    assert paths[-1].name == "transcript.log"
    assert all(p.stat().st_size <= 1000 for p in paths)
    assert b"".join(p.read_bytes() for p in paths) == payload
    r = TranscriptReader(tmp_path)
    assert r.size == len(payload)
    assert r.read(990, 2010) == payload[990:2010]
    # A writer reopened on the same directory appends after what is there.
    w2 = TranscriptWriter(tmp_path, segment_bytes=1000)
    assert w2.size == len(payload)
    w2.write(b"more")
    w2.close()
    assert TranscriptReader(tmp_path).read(len(payload), len(payload) + 4) == b"more"


@settings(max_examples=80, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"")), max_size=30),
    segment=st.integers(7, 500),
)
def test_line_index_agrees_with_split(tmp_path_factory, chunks, segment):
    d = tmp_path_factory.mktemp("t")
    w = TranscriptWriter(d, segment_bytes=segment)
    idx = LineIndex(d)
    for c in chunks:
        w.write(c)
        idx.refresh()  # incremental: grows as the writer appends
    w.close()
    data = b"".join(chunks)
    expected = data.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert idx.refresh() == len(expected)
    assert [idx.line(n) for n in range(len(expected))] == expected
    assert idx.lines(0, len(expected)) == expected


def test_line_index_across_index_blocks(tmp_path):
    w = TranscriptWriter(tmp_path, segment_bytes=100_000)
    lines = [f"line {i} " + "x" * (i % 97) for i in range(30_000)]
    w.write(("\n".join(lines) + "\n").encode())
    w.close()
    idx = LineIndex(tmp_path)
    assert idx.line_count == 30_000
    for n in (0, 1, 999, 12_345, 29_999):
        assert idx.line(n).decode() == lines[n]
    assert [b.decode() for b in idx.lines(20_000, 3)] == lines[20_000:20_003]


def test_search_sees_through_colour_and_goes_both_ways(tmp_path):
    w = TranscriptWriter(tmp_path)
    rows = [f"row {i}" for i in range(5000)]
    rows[1234] = "the \x1b[1;31mNeedle\x1b[0m is here"
    rows[4321] = "another needle"
    w.write(("\r\n".join(rows) + "\r\n").encode())
    w.close()
    idx = LineIndex(tmp_path)
    assert idx.search("needle") == 1234  # lower case: case-insensitive
    assert idx.search("needle", from_line=1235) == 4321
    assert idx.search("Needle", from_line=1235) is None  # upper case: exact case
    assert idx.search("needle", from_line=4999, backwards=True) == 4321
    assert idx.search("needle", from_line=4321, backwards=True) == 1234
    assert idx.search("needle", chunk_bytes=100) == 1234  # chunk edges do not hide hits
    assert idx.search("needle", from_line=4999, backwards=True, chunk_bytes=64) == 4321
    assert idx.search("absent") is None


def test_large_transcript_opens_without_loading(tmp_path):
    """50 MB: the index is a few hundred entries, lines are read only when asked for."""
    w = TranscriptWriter(tmp_path, segment_bytes=16 * 1024 * 1024)
    block = b"".join(b"%08d some build output line\n" % i for i in range(100_000))
    for _ in range(18):
        w.write(block)
    w.write(b"FINAL MARKER\n")
    w.close()
    idx = LineIndex(tmp_path)
    assert idx.line_count == 1_800_001
    assert len(idx._block_newlines) < 1000
    assert idx.line(1_800_000) == b"FINAL MARKER"
    assert idx.search("final marker") == 1_800_000
    digest = hashlib.sha256()
    for p in segment_paths(tmp_path):
        digest.update(p.read_bytes())
    assert digest.hexdigest() == hashlib.sha256(block * 18 + b"FINAL MARKER\n").hexdigest()
