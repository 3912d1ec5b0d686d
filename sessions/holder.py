"""The holder: the smallest process per worker, and the reason no supervisor's death kills
a worker.

It owns the worker's PTY master (a `PtySession`), writes every byte to the transcript
first, and relays bytes to whichever supervisor is connected (one at a time; a newer one
replaces an older). It never waits for the supervisor: when the supervisor is too slow,
the holder stops sending, and when the supervisor has caught up it says which bytes it
skipped (a gap), which are on disk. When the worker exits, the holder writes `exit.json`
(so a supervisor that was away learns how it ended), tells the supervisor, and exits.

Run as `python -m podium.sessions.holder ...` by the supervisor, detached (see `daemon.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from . import wire
from .fsutil import atomic_write, now_iso
from .daemon import detach
from .pty_session import PtySession, SpawnError
from .transcript import TranscriptWriter

HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 256 * 1024


class Holder:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.worker_dir = Path(args.worker_dir)
        self.socket_path = Path(args.socket)
        self.transcript = TranscriptWriter(self.worker_dir)
        self.pty = PtySession(
            args.argv, cwd=args.cwd, env=None, columns=args.cols, lines=args.rows, transcript=self.transcript
        )
        self.link: asyncio.StreamWriter | None = None
        self.behind = False
        self.gap_from = 0
        self.server: asyncio.base_events.Server | None = None

    # -- lifecycle ---------------------------------------------------------------
    async def run(self, ready_fd: int) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        loop.add_signal_handler(signal.SIGTERM, lambda: self.pty.terminate(3.0))
        if self.args.divider:
            # A resumed run goes on in the same transcript, after a visible divider.
            self.transcript.write(f"\r\n\x1b[2m{self.args.divider}\x1b[0m\r\n".encode())
        try:
            self.pty.start()
        except SpawnError as exc:
            self.transcript.write(f"{exc}\r\n".encode())
            self.transcript.close()
            self._write_exit(exc.exit_code, None, error=str(exc))
            _report(ready_fd, {"error": str(exc), "exit_code": exc.exit_code})
            return 0
        self.pty.listeners.append(self._on_data)
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass
        self.server = await asyncio.start_unix_server(self._on_connect, path=str(self.socket_path))
        os.chmod(self.socket_path, 0o600)
        info = {
            "pid": os.getpid(),
            "worker_pid": self.pty.pid,
            "socket": str(self.socket_path),
            "started": now_iso(self.pty.started_at),
            "protocol": wire.HOLDER_PROTOCOL_VERSION,
        }
        atomic_write(self.worker_dir / "holder.json", json.dumps(info))
        _report(ready_fd, {"ok": True, **info})
        await self.pty.exited.wait()
        self._write_exit(self.pty.exit_code, self.pty.exit_signal)
        self.transcript.close()
        if self.link is not None:
            try:
                self.link.write(wire.frame(wire.F_EXIT, self._exit_info()))
                await asyncio.wait_for(self.link.drain(), 5)
            except (ConnectionError, asyncio.TimeoutError):
                pass
        self.server.close()
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass
        return 0

    def _exit_info(self) -> dict[str, object]:
        return {"exit_code": self.pty.exit_code, "signal": self.pty.exit_signal, "ended": now_iso(self.pty.ended_at)}

    def _write_exit(self, code: int | None, sig: int | None, error: str | None = None) -> None:
        info = {"exit_code": code, "signal": sig, "ended": now_iso(), "offset": self.transcript.size}
        if error:
            info["error"] = error
        atomic_write(self.worker_dir / "exit.json", json.dumps(info))

    # -- output to the supervisor ----------------------------------------------
    def _on_data(self, data: bytes) -> None:
        link = self.link
        if link is None or self.behind:
            return
        if link.transport.get_write_buffer_size() > HIGH_WATER:
            # The supervisor is slow: stop sending; the bytes are in the transcript.
            self.behind = True
            self.gap_from = self.transcript.size - len(data)
            asyncio.get_running_loop().create_task(self._catch_up(link))
            return
        link.write(wire.frame(wire.F_DATA, data))

    async def _catch_up(self, link: asyncio.StreamWriter) -> None:
        try:
            await link.drain()
        except ConnectionError:
            return
        if link is self.link:
            link.write(wire.frame(wire.F_GAP, {"from": self.gap_from, "to": self.transcript.size}))
            self.behind = False

    # -- the supervisor's connection --------------------------------------------
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not wire.same_user(writer):
            writer.close()
            return
        try:
            kind, payload = await asyncio.wait_for(wire.read_frame(reader), 10)
            hello = json.loads(payload) if kind == wire.F_HELLO else {}
            if hello.get("version") != wire.HOLDER_PROTOCOL_VERSION:
                writer.write(wire.frame(wire.F_HELLO, {"error": f"holder protocol {wire.HOLDER_PROTOCOL_VERSION}, got {hello.get('version')}"}))
                writer.close()
                return
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, wire.ProtocolError, ValueError, ConnectionError):
            writer.close()
            return
        old, self.link = self.link, writer
        if old is not None:
            old.close()
        writer.transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        self.behind = False
        writer.write(
            wire.frame(
                wire.F_HELLO,
                {
                    "version": wire.HOLDER_PROTOCOL_VERSION,
                    "pid": os.getpid(),
                    "worker_pid": self.pty.pid,
                    "offset": self.transcript.size,
                    "cols": self.pty.columns,
                    "rows": self.pty.lines,
                    "paused": self.pty.paused,
                    "started": now_iso(self.pty.started_at),
                    "last_output": now_iso(self.pty.last_output_at) if self.pty.last_output_at else None,
                },
            )
        )
        try:
            while True:
                kind, payload = await wire.read_frame(reader)
                if kind == wire.F_INPUT:
                    if self.pty.running:
                        self.pty.write(payload)
                elif kind == wire.F_CONTROL:
                    self._control(json.loads(payload), writer)
        except (asyncio.IncompleteReadError, ConnectionError, wire.ProtocolError, ValueError):
            pass
        finally:
            if self.link is writer:
                self.link = None
            writer.close()

    def _control(self, msg: dict[str, object], writer: asyncio.StreamWriter) -> None:
        op = msg.get("op")
        pty = self.pty
        if not pty.running:
            return
        if op == "interrupt":
            pty.interrupt()
        elif op == "terminate":
            pty.terminate(float(msg.get("grace", 3.0)))
        elif op == "pause":
            pty.pause()
        elif op == "resume":
            pty.resume()
        elif op == "resize":
            pty.resize(int(msg["cols"]), int(msg["rows"]))
        elif op == "signal":
            pty.signal(int(msg["signal"]))
        writer.write(wire.frame(wire.F_EVENT, {"op": op, "paused": pty.paused, "cols": pty.columns, "rows": pty.lines}))


def _report(fd: int, info: dict[str, object]) -> None:
    if fd < 0:
        return
    try:
        os.write(fd, (json.dumps(info) + "\n").encode())
    finally:
        os.close(fd)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="podium-holder")
    ap.add_argument("--worker-dir", required=True)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--cwd", required=True)
    ap.add_argument("--cols", type=int, default=120)
    ap.add_argument("--rows", type=int, default=40)
    ap.add_argument("--ready-fd", type=int, default=-1)
    ap.add_argument("--detach-log", default=None)
    ap.add_argument("--divider", default=None, help="a line written to the transcript before this run")
    ap.add_argument("argv", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    if args.argv and args.argv[0] == "--":
        args.argv = args.argv[1:]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.detach_log:
        detach(args.detach_log)
    started = time.time()
    try:
        return asyncio.run(Holder(args).run(args.ready_fd))
    except Exception as exc:  # the log says why; the supervisor sees the holder gone
        print(f"{now_iso()} holder for {args.worker_dir} failed after {time.time() - started:.1f}s: {exc!r}", file=sys.stderr)
        raise


if __name__ == "__main__":
    sys.exit(main())
