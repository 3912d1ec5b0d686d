"""The holder by itself, driven the way the supervisor drives it (`daemon.launch`, then a
`HolderLink`), with what a supervisor must never do to it: a sink that raises, sizes no
terminal has, a control frame that makes no sense, SIGTERM to a worker that ignores it.
The worker outlives each of them, or ends the way the person asked."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from conftest import eventually, kill_everything_under

from podium.sessions import daemon, wire
from podium.sessions.holder_link import HolderLink
from podium.sessions.transcript import TranscriptReader


class Sink:
    """A HolderSink that keeps what arrives; `fail_first` raises on the first output, as a
    bug in the worker's handlers would."""

    def __init__(self, fail_first: bool = False):
        self.fail_first = fail_first
        self.output = bytearray()
        self.exit: dict[str, Any] | None = None
        self.gone = False

    def on_output(self, data: bytes) -> None:
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("a bug in a handler")
        self.output += data

    def on_gap(self, end: int) -> None:
        pass

    def on_exit(self, info: dict[str, Any]) -> None:
        self.exit = info

    def on_paused(self, paused: bool) -> None:
        pass

    def on_transcript(self, error: str | None, lost: int, offset: int) -> None:
        pass

    def on_holder_gone(self) -> None:
        self.gone = True


@pytest.fixture
def holder_dir(tmp_path: Path):
    yield tmp_path
    kill_everything_under(tmp_path)


async def start_holder(where: Path, argv: list[str]) -> tuple[dict[str, Any], Path]:
    worker_dir, sock = where / "w", where / "h.sock"
    worker_dir.mkdir()
    args = ["--worker-dir", str(worker_dir), "--socket", str(sock), "--cwd", str(where), "--cols", "80", "--rows", "24", "--", *argv]
    info = await daemon.launch(daemon.holder_program(), args, log_path=worker_dir / "holder.log", what="a holder")
    assert "error" not in info, info
    return info, sock


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_handler_that_raises_costs_one_chunk_not_the_worker(holder_dir):
    _, sock = await start_holder(holder_dir, ["sh", "-c", "read x; echo first; read y; echo second-$y"])
    link, _ = await HolderLink.connect(sock)
    sink = Sink(fail_first=True)
    link.start(sink)
    link.send_input(b"go\r")
    await eventually(lambda: not sink.fail_first, what="the handler to raise once")
    link.send_input(b"on\r")
    await eventually(lambda: b"second-on" in sink.output, what="output after the failing chunk", show=lambda: bytes(sink.output))
    await eventually(lambda: sink.exit is not None, what="the exit frame")
    assert sink.exit["exit_code"] == 0 and not sink.gone


async def test_a_size_no_terminal_has_is_clamped_and_the_worker_lives_on(holder_dir):
    _, sock = await start_holder(holder_dir, ["sh", "-c", "read x; stty size; read y"])
    link, _ = await HolderLink.connect(sock)
    sink = Sink()
    link.start(sink)
    link.control("resize", cols=10**9, rows=0)
    link.send_input(b"\r")
    want = f"2 {wire.TERMINAL_MAX}".encode()  # stty prints rows, then columns
    await eventually(lambda: want in sink.output, what=f"stty size to say {want!r}", show=lambda: bytes(sink.output))
    link.send_input(b"\r")
    await eventually(lambda: sink.exit is not None, what="the exit frame")
    assert sink.exit["exit_code"] == 0


async def test_a_senseless_control_ends_that_link_and_the_next_supervisor_finds_the_worker(holder_dir):
    info, sock = await start_holder(holder_dir, ["sh", "-c", "read x; echo after-$x"])
    link, _ = await HolderLink.connect(sock)
    sink = Sink()
    link.start(sink)
    link.writer.write(wire.frame(wire.F_CONTROL, {"op": "resize", "cols": "wide"}))  # no rows; cols not a number
    await eventually(lambda: sink.gone, what="the holder to close that link")
    assert alive(int(info["worker_pid"])), "the worker died with the link"
    link2, hello = await HolderLink.connect(sock)
    sink2 = Sink()
    link2.start(sink2)
    link2.send_input(b"again\r")
    await eventually(lambda: sink2.exit is not None, what="the exit frame on the new link")
    transcript = TranscriptReader(holder_dir / "w")
    assert b"after-again" in transcript.read(0, transcript.size)


async def test_sigterm_to_the_holder_hangs_up_then_terminates_then_kills(holder_dir):
    # The worker ignores SIGHUP and SIGTERM: the holder must still end it, by SIGKILL.
    info, sock = await start_holder(holder_dir, ["sh", "-c", "trap '' HUP TERM; read x; echo ready; while :; do sleep 0.1; done"])
    link, _ = await HolderLink.connect(sock)
    sink = Sink()
    link.start(sink)
    link.send_input(b"\r")
    await eventually(lambda: b"ready" in sink.output, what="the worker to set its traps")
    os.kill(int(info["pid"]), signal.SIGTERM)
    await eventually(lambda: sink.exit is not None, what="the exit frame", timeout=15)
    assert sink.exit["signal"] == signal.SIGKILL, sink.exit
    await eventually(lambda: not alive(int(info["pid"])), what="the holder to exit after delivering it")


async def test_a_hello_in_another_protocol_is_refused_by_name(holder_dir):
    _, sock = await start_holder(holder_dir, ["sh", "-c", "read x"])
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(wire.frame(wire.F_HELLO, {"version": 1}))
    kind, payload = await wire.read_frame(reader)
    assert kind == wire.F_HELLO and f"holder protocol {wire.HOLDER_PROTOCOL_VERSION}, got 1" in wire.loads(payload)["error"]
    writer.close()
    link, _ = await HolderLink.connect(sock)  # the right one still gets in
    sink = Sink()
    link.start(sink)
    link.send_input(b"\r")
    await eventually(lambda: sink.exit is not None, what="the exit frame")
