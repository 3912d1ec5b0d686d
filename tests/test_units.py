"""Direct tests of podium's pure functions: keys to terminal bytes, the config loader's
errors, the wire's frame and line limits, text safety, durations, atomic writes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from pathlib import Path

import pytest

from podium.sessions import protocol, wire
from podium.sessions.config import Config, config_path, load_config
from podium.sessions.escalations import load_recognisers, parse_duration
from podium.sessions.fsutil import atomic_write
from podium.sessions.text import plain_text, safe_text, sgr_only, strip_ansi
from podium.widgets.terminal_pane import key_to_bytes


# -- key_to_bytes: what a terminal sends for a key ------------------------------------------------
@pytest.mark.parametrize(
    "key, normal, application",
    [("up", b"\x1b[A", b"\x1bOA"), ("down", b"\x1b[B", b"\x1bOB"), ("right", b"\x1b[C", b"\x1bOC"), ("left", b"\x1b[D", b"\x1bOD")],
)
def test_arrows_follow_the_application_cursor_mode(key, normal, application):
    assert key_to_bytes(key, None) == normal
    assert key_to_bytes(key, None, app_cursor=False) == normal
    assert key_to_bytes(key, None, app_cursor=True) == application


@pytest.mark.parametrize(
    "key, expected",
    [
        ("shift+up", b"\x1b[1;2A"),
        ("alt+down", b"\x1b[1;3B"),
        ("shift+alt+right", b"\x1b[1;4C"),
        ("ctrl+left", b"\x1b[1;5D"),
        ("shift+ctrl+up", b"\x1b[1;6A"),
        ("ctrl+shift+up", b"\x1b[1;6A"),
        ("alt+ctrl+down", b"\x1b[1;7B"),
        ("ctrl+alt+down", b"\x1b[1;7B"),
        ("ctrl+home", b"\x1b[1;5H"),
        ("shift+end", b"\x1b[1;2F"),
    ],
)
def test_modified_arrows_home_and_end_are_xterm_sequences(key, expected):
    assert key_to_bytes(key, None) == expected
    # A modified arrow is the same in application cursor mode (as xterm sends it).
    assert key_to_bytes(key, None, app_cursor=True) == expected


@pytest.mark.parametrize(
    "key, expected",
    [
        ("enter", b"\r"),
        ("tab", b"\t"),
        ("shift+tab", b"\x1b[Z"),
        ("backspace", b"\x7f"),
        ("ctrl+h", b"\x08"),
        ("escape", b"\x1b"),
        ("home", b"\x1b[H"),
        ("end", b"\x1b[F"),
        ("pageup", b"\x1b[5~"),
        ("pagedown", b"\x1b[6~"),
        ("insert", b"\x1b[2~"),
        ("delete", b"\x1b[3~"),
        ("ctrl+space", b"\x00"),
        ("ctrl+@", b"\x00"),
        ("f1", b"\x1bOP"),
        ("f2", b"\x1bOQ"),
        ("f3", b"\x1bOR"),
        ("f4", b"\x1bOS"),
        ("f5", b"\x1b[15~"),
        ("f6", b"\x1b[17~"),
        ("f7", b"\x1b[18~"),
        ("f8", b"\x1b[19~"),
        ("f9", b"\x1b[20~"),
        ("f10", b"\x1b[21~"),
        ("f11", b"\x1b[23~"),
        ("f12", b"\x1b[24~"),
    ],
)
def test_named_keys_and_function_keys(key, expected):
    assert key_to_bytes(key, None) == expected
    assert key_to_bytes(key, None, app_cursor=True) == expected


def test_ctrl_letters_are_c0_controls():
    assert key_to_bytes("ctrl+a", None) == b"\x01"
    assert key_to_bytes("ctrl+c", None) == b"\x03"
    assert key_to_bytes("ctrl+d", None) == b"\x04"
    assert key_to_bytes("ctrl+z", None) == b"\x1a"
    assert key_to_bytes("ctrl+A", None) == b"\x01"  # the letter's case does not matter
    assert [key_to_bytes(f"ctrl+{c}", None) for c in "bcdefgijklmnopqrstuvwxy"] == [bytes([ord(c) - 96]) for c in "bcdefgijklmnopqrstuvwxy"]
    assert key_to_bytes("ctrl+backslash", None) == b"\x1c"
    assert key_to_bytes("ctrl+right_square_bracket", None) == b"\x1d"
    assert key_to_bytes("ctrl+circumflex_accent", None) == b"\x1e"
    assert key_to_bytes("ctrl+underscore", None) == b"\x1f"


def test_alt_and_a_character_is_escape_then_the_character():
    assert key_to_bytes("alt+x", "x") == b"\x1bx"
    assert key_to_bytes("alt+X", "X") == b"\x1bX"
    assert key_to_bytes("alt+é", "é") == b"\x1b\xc3\xa9"  # UTF-8 after the escape


def test_plain_characters_are_their_utf8():
    assert key_to_bytes("a", "a") == b"a"
    assert key_to_bytes("space", " ") == b" "
    assert key_to_bytes("question_mark", "?") == b"?"
    assert key_to_bytes("ä", "ä") == "ä".encode()
    assert key_to_bytes("漢", "漢") == "漢".encode()
    assert key_to_bytes("😀", "😀") == "😀".encode()
    # A byte that was not UTF-8 (kept as a lone surrogate) goes out as that byte.
    assert key_to_bytes("\udcff", "\udcff") == b"\xff"


@pytest.mark.parametrize("key", ["shift", "ctrl+shift", "super+a", "hyper+up", "f24"])
def test_keys_that_send_nothing(key):
    # Modifiers alone, and keys a terminal has no bytes for: nothing goes to the worker.
    assert key_to_bytes(key, None) is None
    assert key_to_bytes(key, "") is None


# -- the config file -------------------------------------------------------------------------------
BUILTIN_RECOGNISERS = [r.name for r in load_recognisers()]


def defaults_stand(cfg: Config) -> None:
    assert cfg.theme is None and cfg.keys == {} and cfg.bell is True and cfg.desktop_notify is True
    assert [r.name for r in cfg.recognisers] == BUILTIN_RECOGNISERS and cfg.rules == []


def config_from(tmp_path: Path, text: str | bytes) -> tuple[Path, Config]:
    path = tmp_path / "config.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path, load_config(path)


def test_a_good_config_is_read(tmp_path):
    path, cfg = config_from(
        tmp_path,
        '[ui]\ntheme = "podium-light"\n[keys]\n"podium.zoom" = " x "\n[escalations]\nbell = false\ndesktop_notify = false\n'
        '[[escalations.recogniser]]\nname = "mine"\nmatch = "Proceed\\\\?"\n'
        '[[escalations.rule]]\nrecogniser = "mine"\ntier = "notify"\n[policies]\n',
    )
    assert cfg.problems == []
    assert (cfg.path, cfg.theme, cfg.keys, cfg.bell, cfg.desktop_notify) == (path, "podium-light", {"podium.zoom": "x"}, False, False)
    assert [r.name for r in cfg.recognisers] == ["mine", *BUILTIN_RECOGNISERS]  # the person's first
    assert [(r.tier, r.recogniser) for r in cfg.rules] == [("notify", "mine")]


def test_a_missing_file_gives_the_defaults_and_no_problems(tmp_path):
    cfg = load_config(tmp_path / "nowhere" / "config.toml")
    assert cfg.problems == [] and cfg.path == tmp_path / "nowhere" / "config.toml"
    defaults_stand(cfg)


def test_podium_config_names_the_file_and_empty_means_none(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text('[ui]\ntheme = "podium-light"\n')
    monkeypatch.setenv("PODIUM_CONFIG", str(path))
    assert config_path() == path and load_config().theme == "podium-light"
    monkeypatch.setenv("PODIUM_CONFIG", "")
    assert config_path() is None
    cfg = load_config()
    assert cfg.path is None and cfg.problems == []
    defaults_stand(cfg)


def test_malformed_toml_names_the_file_and_the_line(tmp_path):
    path, cfg = config_from(tmp_path, '[ui]\ntheme = "dark"\n\n[keys\n"podium.zoom" = "x"\n')
    (problem,) = cfg.problems
    assert problem.startswith(f"{path}: ") and problem.endswith("; using defaults")
    assert "line 4" in problem
    defaults_stand(cfg)


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path):
    data = b'[ui]\ntheme = "caf\xe9"\n'
    path, cfg = config_from(tmp_path, data)
    at = data.index(b"\xe9")
    assert at == 17 and cfg.problems == [f"{path}: not UTF-8 at byte {at}; using defaults"]
    defaults_stand(cfg)


def test_a_config_that_cannot_be_read_says_why(tmp_path):
    path = tmp_path / "config.toml"
    path.mkdir()  # a directory where the file should be
    cfg = load_config(path)
    (problem,) = cfg.problems
    assert problem.startswith(f"{path}: ") and problem.endswith("; using defaults")
    defaults_stand(cfg)


def test_wrong_types_name_the_field(tmp_path):
    path, cfg = config_from(
        tmp_path,
        '[ui]\ntheme = 3\n[keys]\n"podium.zoom" = ""\n"podium.help" = 7\n"podium.inbox" = "i"\n[escalations]\nbell = "yes"\ndesktop_notify = 1\n',
    )
    assert cfg.problems == [
        f"{path}: ui.theme must be a string, not int",
        f'{path}: keys.podium.zoom must be a non-empty string like "ctrl+k"',
        f'{path}: keys.podium.help must be a non-empty string like "ctrl+k"',
        f"{path}: escalations.bell must be true or false",
        f"{path}: escalations.desktop_notify must be true or false",
    ]
    # What was good is taken, what was not keeps its default.
    assert (cfg.theme, cfg.keys, cfg.bell, cfg.desktop_notify) == (None, {"podium.inbox": "i"}, True, True)


def test_sections_that_are_not_tables_and_unknown_sections(tmp_path):
    path, cfg = config_from(tmp_path, 'ui = "dark"\nkeys = 1\nescalations = []\n[colours]\nred = 1\n')
    assert cfg.problems == [
        f"{path}: [ui] must be a table",
        f"{path}: [keys] must be a table",
        f"{path}: [escalations] must be a table",
        f"{path}: unknown section [colours] ignored",
    ]
    defaults_stand(cfg)


def test_a_bad_recogniser_regex_keeps_the_built_in_ones(tmp_path):
    path, cfg = config_from(tmp_path, '[[escalations.recogniser]]\nname = "mine"\nmatch = "Proceed (y/n"\n')
    (problem,) = cfg.problems
    assert problem.startswith(f"{path}: recogniser 'mine': match is not a valid regex: ")
    assert problem.endswith("; using the built-in recognisers only")
    assert [r.name for r in cfg.recognisers] == BUILTIN_RECOGNISERS


def test_recognisers_without_a_match_or_not_tables(tmp_path):
    path, cfg = config_from(tmp_path, '[[escalations.recogniser]]\nname = "nomatch"\ncommand = "x"\n')
    assert cfg.problems == [f"{path}: recogniser 'nomatch' has no match; using the built-in recognisers only"]
    path, cfg = config_from(tmp_path, '[escalations]\nrecogniser = "Proceed?"\n')
    assert cfg.problems == [
        f"{path}: escalations.recogniser must be an array of tables ([[escalations.recogniser]]); using the built-in recognisers only"
    ]
    path, cfg = config_from(tmp_path, "[escalations]\nrecogniser = [1]\n")
    assert cfg.problems == [f"{path}: recogniser #1 is not a table; using the built-in recognisers only"]
    assert [r.name for r in cfg.recognisers] == BUILTIN_RECOGNISERS


def test_a_bad_tier_and_rules_that_are_not_an_array(tmp_path):
    path, cfg = config_from(tmp_path, '[[escalations.rule]]\ntier = "gate"\n[[escalations.rule]]\ntier = "sometimes"\n')
    assert cfg.problems == [
        f"{path}: escalations.rule #2: tier must be one of autonomous, notify, gate, not 'sometimes'; every escalation is a gate"
    ]
    assert cfg.rules == []  # none of them: a half-read rule list could let something through
    path, cfg = config_from(tmp_path, '[escalations.rule]\ntier = "gate"\n')
    assert cfg.problems == [f"{path}: escalations.rule must be an array of tables ([[escalations.rule]]); every escalation is a gate"]
    path, cfg = config_from(tmp_path, '[escalations]\nrule = ["gate"]\n')
    assert cfg.problems == [f"{path}: escalations.rule #1 is not a table; every escalation is a gate"]


# -- the wire: holder frames, client lines --------------------------------------------------------
def reader_with(data: bytes, limit: int = protocol.MAX_LINE) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_frames_round_trip():
    reader = reader_with(wire.frame(wire.F_DATA, b"\x00\xffraw bytes") + wire.frame(wire.F_EXIT, {"exit_code": 3, "signal": None}))
    assert await wire.read_frame(reader) == (wire.F_DATA, b"\x00\xffraw bytes")
    kind, payload = await wire.read_frame(reader)
    assert kind == wire.F_EXIT and json.loads(payload) == {"exit_code": 3, "signal": None}
    with pytest.raises(asyncio.IncompleteReadError):  # the peer went away
        await wire.read_frame(reader)


async def test_a_frame_over_max_frame_is_refused_before_it_is_read():
    header = wire._HEADER.pack(wire.F_DATA, wire.MAX_FRAME + 1)
    with pytest.raises(wire.ProtocolError, match=f"frame of {wire.MAX_FRAME + 1} bytes is over the limit"):
        await wire.read_frame(reader_with(header))  # no payload is needed to refuse it
    # MAX_FRAME itself is allowed: the reader goes on to read the payload.
    with pytest.raises(asyncio.IncompleteReadError):
        await wire.read_frame(reader_with(wire._HEADER.pack(wire.F_DATA, wire.MAX_FRAME) + b"short"))


def test_the_holders_frame_decoder_has_the_same_limit():
    decoder = wire.FrameDecoder()
    both = wire.frame(wire.F_INPUT, b"keys") + wire.frame(wire.F_CONTROL, {"op": "resize", "cols": 80, "rows": 24})
    assert decoder.feed(both[:3]) == []  # a frame in pieces waits for the rest
    assert decoder.feed(both[3:]) == [(wire.F_INPUT, b"keys"), (wire.F_CONTROL, b'{"op":"resize","cols":80,"rows":24}')]
    with pytest.raises(wire.ProtocolError, match=f"frame of {wire.MAX_FRAME + 1} bytes is over the limit"):
        wire.FrameDecoder().feed(wire._HEADER.pack(wire.F_INPUT, wire.MAX_FRAME + 1))


async def test_lines_round_trip_and_eof_is_none():
    reader = reader_with(protocol.encode_line({"op": "hello", "text": "漢字 ☃"}) + b'{"id": 1}\n')
    assert protocol.encode_line({"a": "é"}) == '{"a":"é"}\n'.encode()
    assert await protocol.read_line(reader) == {"op": "hello", "text": "漢字 ☃"}
    assert await protocol.read_line(reader) == {"id": 1}
    assert await protocol.read_line(reader) is None


async def test_a_line_over_the_stream_limit_is_refused():
    with pytest.raises(protocol.LineError, match="line over the limit"):
        await protocol.read_line(reader_with(b'{"x": "' + b"a" * 200 + b'"}\n', limit=100))
    with pytest.raises(protocol.LineError, match="line over the limit"):
        await protocol.read_line(reader_with(b"a" * 200, limit=100))  # no newline at all


async def test_an_unterminated_line_of_max_line_is_refused():
    # A peer that sends MAX_LINE bytes and closes without a newline (the reader's limit is
    # larger, so only read_line's own check stands in the way).
    reader = reader_with(b"[" * protocol.MAX_LINE, limit=2 * protocol.MAX_LINE)
    with pytest.raises(protocol.LineError, match=f"line over the limit of {protocol.MAX_LINE} bytes"):
        await protocol.read_line(reader)


@pytest.mark.parametrize(
    "line, message",
    [
        (b"not json\n", "not JSON: "),
        (b'{"op": "hello"\n', "not JSON: "),
        (b"\xff\xfe\n", "not JSON: "),
        (b"[1, 2]\n", "not a JSON object but list"),
        (b'"hello"\n', "not a JSON object but str"),
        (b"42\n", "not a JSON object but int"),
        (b"null\n", "not a JSON object but NoneType"),
        pytest.param(b"[" * 100_000 + b"\n", "nested too deeply", id="nested-100000-deep"),
    ],
)
async def test_lines_that_are_not_json_objects_are_refused(line, message):
    with pytest.raises(protocol.LineError, match="^" + re.escape(message)):
        await protocol.read_line(reader_with(line))


# -- text safety -------------------------------------------------------------------------------------
def test_safe_text_blanks_every_control_and_keeps_the_columns():
    hostile = "a\x1b[31mb\x07c\x00d\x7fe\x9b31mf\x85g\u202eh\u2066i\tj\rk\nl"
    shown = safe_text(hostile)
    assert shown == "a [31mb c d e 31mf g h i j k l"
    assert len(shown) == len(hostile)  # a screen row keeps its width
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in shown)
    assert safe_text("漢字 wide ✓ and ümlauts") == "漢字 wide ✓ and ümlauts"


def test_strip_ansi_removes_sequences_and_controls_but_newline_tab_and_cr():
    data = (
        b"\x1b[1;31mred\x1b[0m "
        b"\x1b]0;a title\x07\x1b]2;title by ST\x1b\\"
        b"\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: a clipboard write
        b"\x1bP+q544e\x1b\\"  # DCS
        b"\x1b7\x1b8\x1b(0\x1b[?1049h\x1b[2J\x1b[5n"
        b"\x07\x00\x08\x7fplain\ttext\r\nnext\n"
    )
    assert strip_ansi(data) == b"red plain\ttext\r\nnext\n"


def test_plain_text_is_safe_for_a_real_terminal():
    data = (
        b"\x1b[32mok\x1b[0m\r\n"
        b"\x1b]52;c;cm0gLXJmIH4=\x07copied?\r\n"
        b"\x1b]0;pwned\x07title?\r\n"
        b"\x1bP1$r0m\x1b\\dcs?\r\n"
        b"\x9b31m eight-bit CSI\r\n"  # not UTF-8: replaced, never sent as a C1 control
        + "\u009b31m C1 as a character \u202eevil\u202c bidi\r\n".encode()
        + b"tab\tkept\r\n"
    )
    text = plain_text(data)
    assert text == (
        "ok\ncopied?\ntitle?\ndcs?\n\ufffd31m eight-bit CSI\n31m C1 as a character evil bidi\ntab\tkept\n"
    )
    assert not any(ord(c) < 32 and c not in "\n\t" or 0x7F <= ord(c) < 0xA0 for c in text)


def test_plain_text_drops_a_lone_carriage_return():
    """On a terminal a lone CR lets later text hide what came before it."""
    assert plain_text(b"rm -rf ~\rls -l   \r\n") == "rm -rf ~ls -l   \n"


def test_sgr_only_keeps_colours_and_nothing_else():
    raw = "\x1b[1;31mred\x1b[0m \x1b[2J\x1b[H\x1b]0;title\x07\x1b]52;c;aGk=\x07\x1bP+q\x1b\\\x07plain\x9b\u202e".encode() + b"\r"
    assert sgr_only(raw) == "\x1b[1;31mred\x1b[0m plain"
    # What follows the last carriage return wins, as on a terminal.
    assert sgr_only(b"progress 10%\rprogress 100%\r") == "progress 100%"
    assert sgr_only(b"\x1b[32mstep 1\r\x1b[33mstep 2") == "\x1b[33mstep 2"


# -- durations (decision-card defaults) -------------------------------------------------------------
@pytest.mark.parametrize(
    "text, seconds",
    [
        ("30m", 1800.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("90 seconds", 90.0),
        ("45s", 45.0),
        ("1 sec", 1.0),
        ("2 hrs", 7200.0),
        ("1 hour", 3600.0),
        ("5 mins", 300.0),
        ("B after 2s", 2.0),
        ("10 MINUTES", 600.0),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "m", "after lunch", "5", "5 parsecs", "3days"])
def test_parse_duration_without_an_amount_and_unit_is_none(text):
    assert parse_duration(text) is None


# -- atomic writes --------------------------------------------------------------------------------------
def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_writes_all_of_it_with_the_mode(tmp_path):
    path = tmp_path / "deep" / "er" / "meta.toml"  # missing directories are made
    atomic_write(path, "state = \"done\"\n")
    assert path.read_text() == 'state = "done"\n'
    assert path.stat().st_mode & 0o777 == 0o600  # private by default
    big = os.urandom(3 * 1024 * 1024)
    atomic_write(path, big, mode=0o644)
    assert path.read_bytes() == big
    assert path.stat().st_mode & 0o777 == 0o644
    assert leftovers(path.parent) == []


@pytest.mark.parametrize("fail_in", ["replace", "fsync", "chmod"])
def test_a_failed_atomic_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "result.md"
    atomic_write(path, "the old text\n", mode=0o644)

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, fail_in, broken)
    with pytest.raises(OSError, match="No space left on device"):
        atomic_write(path, "the new text, never seen\n" * 1000)
    monkeypatch.undo()
    assert path.read_text() == "the old text\n"
    assert path.stat().st_mode & 0o777 == 0o644
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.md"]


def test_a_reader_never_sees_a_partial_file(tmp_path):
    path = tmp_path / "session.toml"
    versions = [bytes([c]) * (512 * 1024) for c in b"ab"]
    atomic_write(path, versions[0])
    seen: set[bytes] = set()
    bad: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            if data in versions:
                seen.add(data[:1])
            else:
                bad.append(len(data))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(60):
            atomic_write(path, versions[i % 2])
    finally:
        stop.set()
        reader.join()
    assert bad == [], f"a reader saw partial files of these sizes: {bad[:10]}"
    assert seen, "the reader never read"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "key, sent",
    [
        ("ctrl+delete", b"\x1b[3;5~"),
        ("shift+insert", b"\x1b[2;2~"),
        ("alt+pageup", b"\x1b[5;3~"),
        ("ctrl+pagedown", b"\x1b[6;5~"),
        ("shift+f5", b"\x1b[15;2~"),
        ("ctrl+f12", b"\x1b[24;5~"),
        ("shift+f1", b"\x1b[1;2P"),
        ("ctrl+f4", b"\x1b[1;5S"),
    ],
)
def test_modified_editing_and_function_keys_send_what_xterm_sends(key, sent):
    assert key_to_bytes(key, None) == sent


@pytest.mark.parametrize(
    "mode, argv, expected",
    [
        ("codex-exec", ["codex", "exec", "-s", "danger-full-access", "fix it"], ["codex", "exec", "-s", "danger-full-access", "resume", "SID", "again"]),
        ("codex-exec", ["codex", "exec", "--json", "-o", "/w/last.md", "resume", "OLD", "p"], ["codex", "exec", "--json", "-o", "/w/last.md", "resume", "SID", "again"]),
        ("codex-exec", ["codex", "exec", "--", "-a prompt that starts with a dash"], ["codex", "exec", "resume", "SID", "again"]),
        ("codex-exec", ["codex", "exec", "fix it", "-m", "o3"], ["codex", "exec", "-m", "o3", "resume", "SID", "again"]),
        ("codex-exec", ["codex", "exec", "-m", "o3", "-"], ["codex", "exec", "-m", "o3", "resume", "SID", "again"]),
        ("codex-exec", ["python", "-m", "fake.agent", "exec", "--pace", "0.05", "-o", "/w/l.md", "count"], ["python", "-m", "fake.agent", "exec", "--pace", "0.05", "-o", "/w/l.md", "resume", "SID", "again"]),
        ("claude-p", ["claude", "-p", "fix it", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits"], ["claude", "-p", "again", "--resume", "SID", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits"]),
        ("claude-p", ["claude", "fix it", "-p", "--model", "opus", "--resume", "OLD"], ["claude", "-p", "again", "--resume", "SID", "--output-format", "stream-json", "--verbose", "--model", "opus"]),
    ],
)
def test_a_resumed_run_keeps_the_options_it_began_with_and_not_its_prompt(mode, argv, expected):
    from podium.sessions.agents import resume_argv

    assert resume_argv(mode, argv, "SID", "again") == expected
