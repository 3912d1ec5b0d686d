"""The live screen: correct drawing, skip-ahead that equals a full emulation, containment."""

from __future__ import annotations

import random

import pyte
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from podium.sessions.screen import MAX_REPLAY, LiveScreen


def full_emulation(data: bytes, columns: int, lines: int) -> list[str]:
    screen = pyte.Screen(columns, lines)
    pyte.ByteStream(screen).feed(data)
    return list(screen.display)


def through_live_screen(data: bytes, columns: int, lines: int, chunks: list[int], bound: int) -> LiveScreen:
    live = LiveScreen(columns, lines, bound=bound)
    pos = 0
    for size in chunks:
        live.write(data[pos : pos + size])
        pos += size
        live.pump()
    live.write(data[pos:])
    live.pump()
    return live


line_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=300)
colour = st.sampled_from(["", "\x1b[31m", "\x1b[1;32m", "\x1b[38;5;208m", "\x1b[0m"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines_=st.lists(st.tuples(colour, line_text), min_size=1, max_size=400),
    columns=st.integers(20, 132),
    rows=st.integers(3, 50),
    bound=st.integers(16, 4096),
    seed=st.integers(0, 2**16),
    trailing=st.booleans(),
)
# Found by hypothesis: a backlog too short to cover the screen must not reset it.
@example(
    lines_=[("\x1b[31m", "00000"), ("\x1b[31m", "00000"), ("\x1b[38;5;208m", "000"), ("\x1b[38;5;208m", "0000")],
    columns=20, rows=3, bound=16, seed=20626, trailing=False,
)
def test_skip_ahead_equals_full_emulation_for_line_output(lines_, columns, rows, bound, seed, trailing):
    text = "\r\n".join(c + t for c, t in lines_) + ("\r\n" if trailing else "")
    data = text.encode()
    rng = random.Random(seed)
    chunks = [rng.randint(1, 5000) for _ in range(rng.randint(0, 20))]
    live = through_live_screen(data, columns, rows, chunks, bound)
    assert live.text_lines() == full_emulation(data, columns, rows)


def test_one_long_line_wraps_where_a_full_emulation_wraps():
    rng = random.Random(3)
    data = b"header\r\n" + bytes(rng.choice(b"abcdefghij") for _ in range(300_000))
    for columns in (80, 97, 120):
        live = through_live_screen(data, columns, 24, [1000, 77_777, 150_000], bound=1024)
        assert live.skips > 0
        assert live.text_lines() == full_emulation(data, columns, 24)


def test_a_flood_is_skipped_not_emulated_byte_for_byte():
    data = b"".join(b"\x1b[3%dmline %d of the flood\x1b[0m\r\n" % (i % 8, i) for i in range(200_000))
    live = LiveScreen(80, 24)
    for i in range(0, len(data), 1 << 20):
        live.write(data[i : i + (1 << 20)])
        live.pump()
    assert live.skips >= 1
    assert live.bytes_fed == len(data)
    assert live.text_lines()[-2].startswith("line 199999 of the flood")
    # Equal to a full emulation of the last megabyte (the beginning cannot be visible).
    assert live.text_lines() == full_emulation(data[-(1 << 20):], 80, 24)


def test_skip_ahead_replays_a_bounded_tail(monkeypatch):
    live = LiveScreen(80, 24, bound=1024)
    fed: list[int] = []
    real_feed = live._feed
    monkeypatch.setattr(live, "_feed", lambda data: (fed.append(len(data)), real_feed(data)))
    live.write(b"x" * 10_000_000)
    live.pump()
    assert live.skips == 1
    assert fed and max(fed) <= MAX_REPLAY
    assert live.bytes_fed == 10_000_000


def test_wide_characters_and_cursor():
    live = LiveScreen(20, 4)
    live.write("漢字 ok\r\nab".encode())
    live.pump()
    assert live.text_lines()[0].rstrip() == "漢字 ok"
    assert live.cursor[:2] == (2, 1)


def test_titles_clipboard_and_bells_stay_inside_the_screen():
    live = LiveScreen(40, 5)
    live.write(b"\x1b]0;evil title\x07\x1b]52;c;aGVsbG8=\x07\x07\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ after")
    live.pump()
    assert live.screen.title == "evil title"
    assert live.text_lines()[0].rstrip() == "link after"


def test_device_status_queries_are_answered():
    replies: list[str] = []
    live = LiveScreen(40, 5, reply=replies.append)
    live.write(b"abc\x1b[6n")  # cursor position report: a TUI waits for this
    live.write(b"\x1b[c")  # primary device attributes
    assert replies == ["\x1b[1;4R", "\x1b[?6c"]


def test_dirty_rows_are_tracked():
    live = LiveScreen(20, 6)
    live.pump()
    live.take_dirty()
    live.write(b"\x1b[3;1Hhello")
    live.pump()
    assert live.take_dirty() == {2}
    assert live.take_dirty() == set()


def test_rebuild_from_a_transcript_tail():
    lines_ = [f"row {i}" for i in range(500)]
    data = "\r\n".join(lines_).encode()
    live = LiveScreen(30, 10)
    live.rebuild(data[-4000:], stream_offset=len(data) - 4000)
    assert live.text_lines() == full_emulation(data, 30, 10)
    assert live.bytes_fed == len(data)


def test_shrinking_keeps_a_prompt_near_the_top():
    live = LiveScreen(80, 24)
    live.write(b"line one\r\nline two\r\nApply? [y/N] ")
    live.pump()
    live.resize(60, 10)
    assert live.text_lines()[:3] == ["line one".ljust(60), "line two".ljust(60), "Apply? [y/N]".ljust(60)]
    assert live.cursor[:2] == (13, 2)


def test_shrinking_keeps_the_cursor_line_when_output_fills_the_screen():
    live = LiveScreen(40, 20)
    live.write("\r\n".join(f"row {i}" for i in range(30)).encode())
    live.pump()
    live.resize(40, 5)
    assert [r.rstrip() for r in live.text_lines()] == [f"row {i}" for i in range(25, 30)]
    assert live.cursor[1] == 4


def test_encoded_rows_match_the_screen():
    live = LiveScreen(30, 4)
    live.write("a\x1b[31mred\x1b[0m \x1b[10Gx 漢字\x1b[44m \x1b[0m\r\n\x1b[2;20Hfar".encode())
    live.pump()
    for y in range(4):
        encoded = "".join(str(r[0]) for r in live.encode_row(y))
        assert encoded.rstrip() == live.text_lines()[y].rstrip(), (y, encoded)
    # Colours as the protocol carries them: None is the default, 0-15 the ANSI palette.
    assert live.encode_row(0)[1] == ["red", 1, None, 0]
    assert live.encode_row(0)[-1] == [" ", None, 4, 0]
