"""The holder: the smallest process per worker, and the reason no supervisor's death kills
a worker.

It owns the worker's PTY (forkpty), writes every byte to the transcript first, and relays
bytes to whichever supervisor is connected (one at a time; a newer one replaces an
older). It never waits for the supervisor: when the supervisor is too slow, the holder
stops sending, and when the supervisor has caught up it says which bytes it skipped (a
gap), which are on disk. When the worker exits, the holder writes `exit.json` (so a
supervisor that was away learns how it ended), tells the supervisor, and exits; if
neither could be done it waits for a supervisor to connect, so the exit status is never
lost. A failed write (a full disk) never stops it: it is counted and reported.

A bare interpreter runs this one file (`python -E -s -S holder.py`, see `daemon.py`): one
epoll loop, the interpreter's C modules, and three sibling files that import nothing of
podium (`wire`, `segments`, `detached`). That keeps an idle holder near a bare
interpreter's size (bench/holders.py measures it) and its start at a few ms.
"""

from __future__ import annotations

import _signal as signal  # the C modules: `signal`, `socket` and `selectors` pull in enum
import _socket as socket
import _struct as struct
import fcntl
import os
import select
import sys
import termios
import time

if __package__:  # imported as podium.sessions.holder (tests, the import check)
    from . import detached, wire
    from .segments import TranscriptWriter, disk_fault
else:  # run as a file by a bare interpreter: its directory is the import path
    import detached  # type: ignore[no-redef]
    import wire  # type: ignore[no-redef]
    from segments import TranscriptWriter, disk_fault  # type: ignore[no-redef]

READ = select.EPOLLIN
WRITE = select.EPOLLOUT
READ_CHUNK = 64 * 1024
HIGH_WATER = 4 * 1024 * 1024  # bytes queued for the supervisor before the holder stops sending
LOW_WATER = 256 * 1024
HUP_FIRST = 0.5  # seconds between the hang-up and SIGTERM
LINGER = 24 * 3600.0  # how long an exit status nobody could take waits for a supervisor
WARN_EVERY = 1.0  # seconds between transcript warnings while writes keep failing
RESET_SIGNALS = [signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGTERM, signal.SIGQUIT, signal.SIGTSTP,
                 signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD, signal.SIGXFSZ, signal.SIGWINCH]


now_iso = wire.now_iso


def atomic_write(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    disk_fault()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class SpawnError(Exception):
    """The command could not be started; `exit_code` follows the shell (127 not found,
    126 not runnable or no such working directory)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def check_startable(argv: list[str], cwd: str, env: dict[str, str]) -> None:
    if not argv:
        raise SpawnError("podium: empty command", 127)
    if not os.path.isdir(cwd):
        raise SpawnError(f"podium: working directory does not exist: {cwd}", 126)
    prog = argv[0]
    if os.sep in prog:
        path = prog if os.path.isabs(prog) else os.path.join(cwd, prog)
        if not os.path.exists(path):
            raise SpawnError(f"podium: command not found: {prog}", 127)
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise SpawnError(f"podium: permission denied (not executable): {prog}", 126)
    elif not any(os.access(os.path.join(d, prog), os.X_OK) and not os.path.isdir(os.path.join(d, prog)) for d in os.get_exec_path(env)):
        raise SpawnError(f"podium: command not found: {prog}", 127)


def _drain_pipe(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def status_of(status: int) -> tuple[int, int | None]:
    """(exit code, signal) with the shell's 128+N convention for a signal death."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status), os.WTERMSIG(status)
    return os.WEXITSTATUS(status), None


class Holder:
    def __init__(self, args: dict[str, object]):
        self.worker_dir = str(args["worker_dir"])
        self.socket_path = str(args["socket"])
        self.argv: list[str] = list(args["argv"])  # type: ignore[arg-type]
        self.cwd = str(args["cwd"])
        self.cols, self.rows = int(args["cols"]), int(args["rows"])  # type: ignore[call-overload]
        self.divider = args.get("divider")
        self.poll = select.epoll()
        self.handlers: dict[int, object] = {}  # fd -> callback(events)
        self.transcript: TranscriptWriter
        self.pid = -1
        self.fd = -1  # the PTY master
        self.pidfd = -1
        self.paused = False
        self.started_at = 0.0
        self.last_output_at: float | None = None
        self.to_pty = bytearray()  # input not yet taken by the PTY
        self.server: socket.socket | None = None
        self.link: Link | None = None
        self.exit_info: dict[str, object] | None = None
        self.exit_delivered = False
        self.timers: list[tuple[float, object]] = []
        self.warned_at = 0.0
        self.warnings: list[str] = []
        self.linger_until = 0.0

    # -- the loop's registrations ----------------------------------------------------------------
    def watch(self, fd: int, events: int, callback: object) -> None:
        if fd in self.handlers:
            self.poll.modify(fd, events)
        else:
            self.poll.register(fd, events)
        self.handlers[fd] = callback

    def unwatch(self, fd: int) -> None:
        if self.handlers.pop(fd, None) is not None:
            try:
                self.poll.unregister(fd)
            except (OSError, ValueError):
                pass

    # -- start -------------------------------------------------------------------------------
    def start(self, ready_fd: int) -> bool:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # an inherited SIG_IGN would reap the worker for us
        try:
            self.transcript = TranscriptWriter(self.worker_dir)
        except OSError as exc:
            detached.report(ready_fd, {"error": f"podium: cannot write the transcript in {self.worker_dir}: {exc.strerror}", "exit_code": 126})
            return False
        if self.divider:  # a resumed run goes on in the same transcript, after a divider
            self.transcript.write(f"\r\n\x1b[2m{self.divider}\x1b[0m\r\n".encode())
        env = dict(os.environ)
        try:
            check_startable(self.argv, self.cwd, env)
            self.spawn(env)
        except SpawnError as exc:
            self.transcript.write(f"{exc}\r\n".encode())
            self.transcript.close()
            self.write_exit({"exit_code": exc.exit_code, "signal": None, "ended": now_iso(), "offset": self.transcript.size, "error": str(exc)})
            detached.report(ready_fd, {"error": str(exc), "exit_code": exc.exit_code})
            return False
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # owner-only from the start (the chmod confirms it)
        try:
            self.server.bind(self.socket_path)
        finally:
            os.umask(old)
        os.chmod(self.socket_path, 0o600)
        self.server.listen(4)
        self.server.setblocking(False)
        self.watch(self.server.fileno(), READ, self.accept)
        info = {"pid": os.getpid(), "worker_pid": self.pid, "socket": self.socket_path, "started": now_iso(self.started_at), "protocol": wire.HOLDER_PROTOCOL_VERSION}
        try:
            atomic_write(os.path.join(self.worker_dir, "holder.json"), wire.dumps(info).encode())
        except OSError as exc:  # informational only; the start goes on
            self.warnings.append(f"holder.json: {exc.strerror}")
        detached.report(ready_fd, {"ok": True, **info, "warnings": self.warnings})
        return True

    def spawn(self, env: dict[str, str]) -> None:
        env.update({"TERM": env.get("TERM") or "xterm-256color"})
        size = struct.pack("HHHH", self.rows, self.cols, 0, 0)
        pid, fd = os.forkpty()
        if pid == 0:  # the child: a terminal of its own, default signals, then the command
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, size)
                os.chdir(self.cwd)
                for sig in RESET_SIGNALS:  # ignored signals survive exec: start as from a shell
                    signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                os.execvpe(self.argv[0], self.argv, env)
            except OSError as exc:
                os.write(2, f"podium: cannot start {self.argv[0]}: {exc.strerror}\r\n".encode())
            os._exit(126)
        self.pid, self.fd = pid, fd
        self.started_at = time.time()
        os.set_blocking(fd, False)
        self.watch(fd, READ, self.readable)
        self.pidfd = os.pidfd_open(pid)
        self.watch(self.pidfd, READ, self.child_exited)

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        # A signal wakes the loop (a handler's timers must be seen: epoll retried after
        # EINTR would keep its old, endless timeout).
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        self.watch(wake_r, READ, lambda events: _drain_pipe(wake_r))
        signal.signal(signal.SIGTERM, lambda *_: self.terminate(3.0))
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        while not self.done():
            deadlines = [t for t, _ in self.timers]
            if self.exit_info is not None and not self.exit_delivered:
                deadlines.append(self.linger_until)
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else -1.0
            for fd, events in self.poll.poll(timeout):
                self.call(self.handlers.get(fd), events)
            now = time.monotonic()
            due = [cb for t, cb in self.timers if t <= now]
            self.timers = [(t, cb) for t, cb in self.timers if t > now]
            for cb in due:
                self.call(cb)
        self.finish()

    def call(self, callback: object, *args: object) -> None:
        """Run a callback; whatever it raises is logged, and the loop (and with it the
        worker's terminal) goes on. A holder dies only with its worker."""
        if callback is None:
            return
        try:
            callback(*args)  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - nothing may end the loop
            print(f"{now_iso()} holder: {exc!r} in {getattr(callback, '__qualname__', callback)}", file=sys.stderr, flush=True)

    def done(self) -> bool:
        if self.exit_info is None:
            return False
        if self.exit_delivered:
            return True
        return self.linger_until < time.monotonic()

    def after(self, seconds: float, callback: object) -> None:
        self.timers.append((time.monotonic() + seconds, callback))

    # -- the reading path: transcript first, then the supervisor ---------------------------------
    def readable(self, events: int = READ) -> None:
        if events & WRITE:
            self.flush_input()
        if not events & (READ | select.EPOLLHUP | select.EPOLLERR):
            return
        try:
            data = os.read(self.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave fd closed
            data = b""
        if not data:
            self.unwatch(self.fd)  # the exit (pidfd) follows
            return
        self.deliver(data)

    def deliver(self, data: bytes) -> None:
        before = self.transcript.error
        self.transcript.write(data)
        self.last_output_at = time.time()
        if self.link is not None:
            self.link.data(data, self.transcript.size)
        # After the data: the event's offset counts this chunk (and a marker) already.
        if self.transcript.error != before or (self.transcript.error and time.monotonic() - self.warned_at > WARN_EVERY):
            self.transcript_event()

    def transcript_event(self) -> None:
        """Tell the supervisor that transcript writes fail (or work again)."""
        self.warned_at = time.monotonic()
        t = self.transcript
        event = {"op": "transcript", "error": t.error, "lost": t.lost, "offset": t.size}
        if t.error:
            print(f"{now_iso()} transcript: {t.error}, {t.lost} bytes not written", file=sys.stderr, flush=True)
        if self.link is not None:
            self.link.send(wire.F_EVENT, event)

    def drain(self) -> None:
        """What the PTY still holds once the worker exited (a grandchild may keep the
        slave open, so EOF is not waited for)."""
        while True:
            try:
                data = os.read(self.fd, READ_CHUNK)
            except OSError:
                return
            if not data:
                return
            self.deliver(data)

    # -- input and signals ------------------------------------------------------------------------
    def write_input(self, data: bytes) -> None:
        if self.exit_info is not None:
            return
        self.to_pty += data
        self.flush_input()

    def flush_input(self) -> None:
        while self.to_pty:
            try:
                n = os.write(self.fd, self.to_pty)
            except BlockingIOError:
                break
            except OSError:
                self.to_pty.clear()  # the terminal is gone; the exit follows
                break
            del self.to_pty[:n]
        if self.fd in self.handlers:
            self.watch(self.fd, READ | (WRITE if self.to_pty else 0), self.readable)

    def groups(self) -> set[int]:
        groups = set()
        try:
            groups.add(os.getpgid(self.pid))
        except ProcessLookupError:
            pass
        try:
            fg = os.tcgetpgrp(self.fd)
            if fg > 0:
                groups.add(fg)
        except OSError:
            pass
        return groups

    def signal(self, sig: int) -> None:
        """To the worker's process group and the terminal's foreground group."""
        for group in self.groups():
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass

    def terminate(self, grace: float) -> None:
        """Close the worker the way a closed terminal does: SIGHUP (and SIGCONT, so a paused
        worker can act on it); SIGTERM a moment later for what ignores a hang-up (a shell
        ignores SIGTERM but not SIGHUP; a nohup'd job the reverse); SIGKILL after `grace`."""
        if self.exit_info is not None:
            return
        self.signal(signal.SIGHUP)
        self.signal(signal.SIGCONT)
        self.paused = False
        self.after(min(HUP_FIRST, grace / 2), lambda: self.exit_info is None and self.signal(signal.SIGTERM))
        self.after(grace, lambda: self.exit_info is None and self.signal(signal.SIGKILL))

    def control(self, msg: dict[str, object]) -> None:
        op = msg.get("op")
        if self.exit_info is not None:
            return
        if op == "interrupt":
            self.write_input(b"\x03")  # through the line discipline, as from a keyboard
        elif op == "terminate":
            grace = msg.get("grace", 3.0)
            self.terminate(float(grace) if isinstance(grace, (int, float)) and 0 <= grace < 86400 else 3.0)
        elif op == "pause":
            self.signal(signal.SIGSTOP)
            self.paused = True
        elif op == "continue":
            self.signal(signal.SIGCONT)
            self.paused = False
        elif op == "resize":
            self.cols, self.rows = wire.terminal_size(msg["cols"], msg["rows"])  # type: ignore[arg-type]
            fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        elif op == "signal":
            self.signal(int(msg["signal"]))  # type: ignore[call-overload]
        if self.link is not None:
            self.link.send(wire.F_EVENT, {"op": op, "paused": self.paused, "cols": self.cols, "rows": self.rows})

    # -- the end -----------------------------------------------------------------------------------
    def child_exited(self, events: int = 0) -> None:
        error = None
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError as exc:  # reaped by someone else: the status is unknown, not 0
            pid, status, error = self.pid, -1, f"podium: the worker's exit status was lost ({exc.strerror})"
        if pid == 0:
            return  # a spurious wake-up
        self.unwatch(self.pidfd)
        os.close(self.pidfd)
        code, sig = status_of(status) if status >= 0 else (None, None)
        self.drain()
        self.unwatch(self.fd)
        os.close(self.fd)
        self.transcript.close()
        info: dict[str, object] = {"exit_code": code, "signal": sig, "ended": now_iso(), "offset": self.transcript.size}
        if error:
            info["error"] = error
        if self.transcript.error:
            info["transcript_error"] = self.transcript.error
            info["transcript_lost"] = self.transcript.lost
        written = self.write_exit(info)
        self.exit_info = info
        self.linger_until = time.monotonic() + (0 if written else LINGER)
        if self.link is not None:
            self.exit_delivered = self.link.send_exit(info)
        if not written and not self.exit_delivered:
            print(f"{now_iso()} exit.json could not be written; waiting for a supervisor to take the exit status", file=sys.stderr, flush=True)

    def write_exit(self, info: dict[str, object]) -> bool:
        try:
            atomic_write(os.path.join(self.worker_dir, "exit.json"), wire.dumps(info).encode())
            return True
        except OSError as exc:
            info["exit_file_error"] = exc.strerror
            print(f"{now_iso()} exit.json: {exc.strerror}", file=sys.stderr, flush=True)
            return False

    def finish(self) -> None:
        if self.server is not None:
            self.server.close()
            try:
                os.unlink(self.socket_path)
            except FileNotFoundError:
                pass

    # -- the supervisor's connection ----------------------------------------------------------------
    def accept(self, events: int = 0) -> None:
        try:
            fd, _ = self.server._accept()  # type: ignore[union-attr]
        except (BlockingIOError, InterruptedError):
            return
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fd)
        if wire.peer_uid(conn) != os.getuid():
            conn.close()
            return
        conn.setblocking(False)
        Link(self, conn)

    def hello(self) -> dict[str, object]:
        return {
            "version": wire.HOLDER_PROTOCOL_VERSION,
            "pid": os.getpid(),
            "worker_pid": self.pid,
            "offset": self.transcript.size,
            "cols": self.cols,
            "rows": self.rows,
            "paused": self.paused,
            "started": now_iso(self.started_at),
            "last_output": now_iso(self.last_output_at) if self.last_output_at else None,
            "transcript_error": self.transcript.error,
            "transcript_lost": self.transcript.lost,
        }


class Link:
    """One supervisor's connection: frames in (after its hello), frames out through a
    buffer of our own; past HIGH_WATER the holder stops sending data and later says
    which bytes were skipped (they are on disk)."""

    def __init__(self, holder: Holder, conn: socket.socket):
        self.holder = holder
        self.conn = conn
        self.out = bytearray()
        self.decoder = wire.FrameDecoder()
        self.greeted = False
        self.behind = False
        self.gap_from = 0
        self.closed = False
        self.fd = conn.fileno()
        holder.watch(self.fd, READ, self.ready)
        holder.after(10.0, self.hello_timeout)

    def hello_timeout(self) -> None:
        if not self.greeted:
            self.close()

    def ready(self, events: int) -> None:
        if events & WRITE:
            self.flush()
        if events & (READ | select.EPOLLHUP | select.EPOLLERR) and not self.closed:
            try:
                data = self.conn.recv(READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.close()
                return
            try:
                for kind, payload in self.decoder.feed(data):
                    self.frame(kind, payload)
            except Exception as exc:  # noqa: BLE001 - a bad frame ends this link, never the holder
                print(f"{now_iso()} holder: closing a supervisor link: {exc!r}", file=sys.stderr, flush=True)
                self.close()

    def frame(self, kind: bytes, payload: bytes) -> None:
        holder = self.holder
        if not self.greeted:
            hello = wire.loads(payload) if kind == wire.F_HELLO else {}
            if not isinstance(hello, dict) or hello.get("version") != wire.HOLDER_PROTOCOL_VERSION:
                got = hello.get("version") if isinstance(hello, dict) else hello
                self.send(wire.F_HELLO, {"error": f"holder protocol {wire.HOLDER_PROTOCOL_VERSION}, got {got!r}"})
                self.flush()
                self.close()
                return
            self.greeted = True
            old, holder.link = holder.link, self
            if old is not None:
                old.close()
            self.send(wire.F_HELLO, holder.hello())
            if holder.exit_info is not None:  # it ended while nobody listened
                holder.exit_delivered = self.send_exit(holder.exit_info)
            return
        if kind == wire.F_INPUT:
            holder.write_input(payload)
        elif kind == wire.F_CONTROL:
            holder.control(wire.loads(payload))

    def send(self, kind: bytes, payload: bytes | dict[str, object]) -> None:
        if self.closed:
            return
        self.out += wire.frame(kind, payload)
        self.flush()

    def data(self, data: bytes, transcript_size: int) -> None:
        if self.behind:
            return
        if len(self.out) > HIGH_WATER:  # the supervisor is slow: the bytes are on disk
            self.behind = True
            self.gap_from = transcript_size - len(data)
            return
        self.send(wire.F_DATA, data)

    def flush(self) -> None:
        while self.out and not self.closed:
            try:
                n = self.conn.send(self.out)
            except BlockingIOError:
                break
            except OSError:
                self.close()
                return
            del self.out[:n]
        if self.behind and len(self.out) < LOW_WATER:
            self.behind = False
            self.out += wire.frame(wire.F_GAP, {"from": self.gap_from, "to": self.holder.transcript.size})
            return self.flush()
        if not self.closed:
            self.holder.watch(self.fd, READ | (WRITE if self.out else 0), self.ready)

    def send_exit(self, info: dict[str, object]) -> bool:
        """The exit frame, written out before the holder goes (a few seconds at most)."""
        self.send(wire.F_EXIT, info)
        deadline = time.monotonic() + 5
        self.conn.setblocking(True)
        try:
            while self.out and time.monotonic() < deadline:
                self.conn.settimeout(max(0.01, deadline - time.monotonic()))
                del self.out[: self.conn.send(self.out)]
        except OSError:
            return False
        finally:
            if not self.closed:
                self.conn.setblocking(False)
        return not self.out

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.holder.unwatch(self.fd)
        self.conn.close()
        if self.holder.link is self:
            self.holder.link = None


def parse_args(argv: list[str]) -> dict[str, object]:
    """--worker-dir D --socket S --cwd C --cols N --rows N [--ready-fd FD] [--detach-log L]
    [--divider TEXT] -- COMMAND ARGS... (argparse is too heavy for a holder)."""
    if "--" not in argv:
        raise SystemExit("podium-holder: no command (after --)")
    cut = argv.index("--")
    opts, command = argv[:cut], argv[cut + 1 :]
    args: dict[str, object] = {"cols": 120, "rows": 40, "ready_fd": -1, "detach_log": None, "divider": None, "argv": command}
    for i in range(0, len(opts), 2):
        key = opts[i]
        if not key.startswith("--") or i + 1 >= len(opts):
            raise SystemExit(f"podium-holder: bad option {key!r}")
        args[key[2:].replace("-", "_")] = opts[i + 1]
    for key in ("worker_dir", "socket", "cwd"):
        if key not in args:
            raise SystemExit(f"podium-holder: --{key.replace('_', '-')} is required")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args["detach_log"]:
        detached.detach(str(args["detach_log"]))
    holder = Holder(args)
    try:
        if holder.start(int(args["ready_fd"])):  # type: ignore[call-overload]
            holder.run()
    except Exception as exc:  # the log says why; the supervisor sees the holder gone
        print(f"{now_iso()} holder for {args['worker_dir']} failed: {exc!r}", file=sys.stderr, flush=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
