"""One worker process in a real PTY, driven by the asyncio event loop.

Owns the pexpect spawn, the PTY master's place in the event loop, the reading path
(read -> transcript -> listeners), the exit status, and the signals a person sends
(interrupt, terminate, pause/continue, resize). It does no terminal emulation: listeners
(a LiveScreen, an output buffer, a socket to a client) get the bytes after the transcript
has them, and none of them can make the reader wait.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import shutil
import signal
import struct
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pexpect

from .transcript import TranscriptWriter

READ_CHUNK = 64 * 1024
DEFAULT_COLUMNS = 120
DEFAULT_LINES = 40

Listener = Callable[[bytes], None]


class SpawnError(Exception):
    """The command could not be started. `exit_code` follows the shell's habit
    (127: not found, 126: found but not runnable or no such working directory)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def shell_argv(cmd: str) -> list[str]:
    """A command string runs the way codex runs it: through the user's shell."""
    shell = os.environ.get("SHELL") or ""
    if not shell or not os.access(shell, os.X_OK) or Path(shell).name not in ("bash", "zsh", "sh", "dash", "fish"):
        shell = shutil.which("bash") or "/bin/sh"
    return [shell, "-c", cmd]


def worker_env(env: Mapping[str, str] | None) -> dict[str, str]:
    merged = dict(os.environ)
    # A worker inherits none of podium's own test or terminal plumbing.
    for key in ("TMUX", "TMUX_PANE", "TEXTUAL", "COLUMNS", "LINES"):
        merged.pop(key, None)
    merged["TERM"] = "xterm-256color"
    merged.setdefault("LANG", "C.UTF-8")
    if env:
        merged.update(env)
    return merged


_RESET_SIGNALS = [s for s in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGTERM, signal.SIGQUIT,
                                signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD, signal.SIGXFSZ, signal.SIGWINCH)]


def _default_signals() -> None:
    """In the child before exec: ignored signals stay ignored across exec, and Python (and
    the holder) ignore SIGPIPE, SIGXFSZ and more. A worker starts as from a shell."""
    for sig in _RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _describe_status(status: int) -> tuple[int, int | None]:
    """(exit code, signal) with the shell's 128+N convention for a signal death."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.WEXITSTATUS(status), None


class PtySession:
    """A process in a PTY whose master is read by the running event loop."""

    def __init__(
        self,
        argv: Sequence[str],
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        columns: int = DEFAULT_COLUMNS,
        lines: int = DEFAULT_LINES,
        transcript: TranscriptWriter | None = None,
    ):
        if not argv:
            raise SpawnError("podium: empty command", 127)
        self.argv = list(argv)
        self.cwd = str(cwd) if cwd is not None else os.getcwd()
        self.env = worker_env(env)
        self.columns, self.lines = columns, lines
        self.transcript = transcript
        self.listeners: list[Listener] = []
        self.pid: int | None = None
        self.fd = -1
        self.bytes_read = 0
        self.exit_code: int | None = None
        self.exit_signal: int | None = None
        self.paused = False
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.last_output_at: float | None = None
        self.exited = asyncio.Event()
        self._eof = False
        self._reaped_status: int | None = None
        self._child: pexpect.spawn | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pidfd = -1
        self._kill_timer: asyncio.TimerHandle | None = None
        self._outbuf = bytearray()
        self._writing = False

    # -- start ------------------------------------------------------------------
    def _check_startable(self) -> None:
        if not os.path.isdir(self.cwd):
            raise SpawnError(f"podium: working directory does not exist: {self.cwd}", 126)
        prog = self.argv[0]
        if os.sep in prog:
            path = prog if os.path.isabs(prog) else os.path.join(self.cwd, prog)
            if not os.path.exists(path):
                raise SpawnError(f"podium: command not found: {prog}", 127)
            if os.path.isdir(path) or not os.access(path, os.X_OK):
                raise SpawnError(f"podium: permission denied (not executable): {prog}", 126)
        elif shutil.which(prog, path=self.env.get("PATH")) is None:
            raise SpawnError(f"podium: command not found: {prog}", 127)

    def start(self) -> None:
        """Spawn the process and put the PTY master into the running loop."""
        self._loop = asyncio.get_running_loop()
        self._check_startable()
        try:
            child = pexpect.spawn(
                self.argv[0],
                self.argv[1:],
                cwd=self.cwd,
                env=self.env,
                dimensions=(self.lines, self.columns),
                echo=True,
                use_poll=True,
                preexec_fn=_default_signals,
            )
        except pexpect.ExceptionPexpect as exc:
            raise SpawnError(f"podium: cannot start {self.argv[0]}: {exc}", 127) from None
        except OSError as exc:
            raise SpawnError(f"podium: cannot start {self.argv[0]}: {exc.strerror}", 126) from None
        self._child = child
        self.pid = child.pid
        self.fd = child.child_fd
        self.started_at = time.time()
        os.set_blocking(self.fd, False)
        self._loop.add_reader(self.fd, self._on_readable)
        self._watch_exit()

    def _watch_exit(self) -> None:
        assert self._loop is not None and self.pid is not None
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._pidfd = -1
        if self._pidfd >= 0:
            self._loop.add_reader(self._pidfd, self._on_child_exit)
            return
        # No pidfd (old kernel): one thread blocks in waitpid for this child; no polling.
        loop, pid = self._loop, self.pid

        def wait() -> None:
            _, status = os.waitpid(pid, 0)
            loop.call_soon_threadsafe(self._reaped, status)

        threading.Thread(target=wait, name=f"waitpid-{pid}", daemon=True).start()

    # -- the reading path -------------------------------------------------------
    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EBADF):  # every slave fd closed
                self._on_eof()
                return
            raise
        if not data:
            self._on_eof()
            return
        self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        if self.transcript is not None:
            self.transcript.write(data)
        self.bytes_read += len(data)
        self.last_output_at = time.time()
        for listener in self.listeners:
            listener(data)

    def _drain(self) -> None:
        """Read what the PTY still holds (after the process exited)."""
        while not self._eof and self.fd >= 0:
            try:
                data = os.read(self.fd, READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                self._on_eof()
                return
            if not data:
                self._on_eof()
                return
            self._deliver(data)

    def _on_eof(self) -> None:
        if self._eof:
            return
        self._eof = True
        if self._loop is not None and self.fd >= 0:
            self._loop.remove_reader(self.fd)
        self._maybe_finish()

    # -- exit -------------------------------------------------------------------
    def _on_child_exit(self) -> None:
        assert self._loop is not None and self.pid is not None
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid == 0:
            return  # spurious wake-up
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        self._reaped(status)

    def _reaped(self, status: int) -> None:
        self._reaped_status = status
        self.exit_code, self.exit_signal = _describe_status(status)
        if self._kill_timer is not None:
            self._kill_timer.cancel()
        # Whatever the process wrote before it died is in the PTY buffer: take it now.
        # A grandchild may still hold the slave open, so EOF is not waited for.
        self._drain()
        self._finish()

    def _maybe_finish(self) -> None:
        if self._reaped_status is not None:
            self._finish()

    def _finish(self) -> None:
        if self.exited.is_set():
            return
        self.ended_at = time.time()
        self._close_fd()
        if self.transcript is not None:
            self.transcript.sync()
        self.exited.set()

    def _close_fd(self) -> None:
        if self.fd < 0:
            return
        if self._loop is not None and not self._eof:
            self._loop.remove_reader(self.fd)
        if self._loop is not None and self._writing:
            self._loop.remove_writer(self.fd)
            self._writing = False
        child = self._child
        if child is not None:
            # Tell ptyprocess the child is gone so it never waits or kills on cleanup.
            proc = child.ptyproc
            proc.terminated = True
            proc.status = self._reaped_status
            try:
                proc.fileobj.close()
            except OSError:
                pass
            proc.closed = True
            child.closed = True
            child.child_fd = -1
        else:
            os.close(self.fd)
        self.fd = -1

    @property
    def running(self) -> bool:
        return self.pid is not None and not self.exited.is_set()

    async def wait(self, timeout: float | None = None) -> int | None:
        try:
            await asyncio.wait_for(self.exited.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return self.exit_code

    # -- input and signals ------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue input for the program's terminal, in order. What the PTY does not take at
        once is sent when it has room (the loop watches for that); nothing is dropped."""
        if self.fd < 0:
            raise ProcessLookupError("the session has exited")
        self._outbuf += data
        if not self._writing:
            self._flush_input()

    def _flush_input(self) -> None:
        while self._outbuf and self.fd >= 0:
            try:
                n = os.write(self.fd, self._outbuf)
            except BlockingIOError:
                break
            except OSError:
                self._outbuf.clear()  # the terminal is gone; exit handling follows
                break
            del self._outbuf[:n]
        want = bool(self._outbuf) and self.fd >= 0
        if want != self._writing and self._loop is not None:
            if want:
                self._loop.add_writer(self.fd, self._flush_input)
            else:
                self._loop.remove_writer(self.fd)
            self._writing = want

    @property
    def pending_input(self) -> int:
        return len(self._outbuf)

    def interrupt(self) -> None:
        """Ctrl+C through the line discipline: the foreground process group gets SIGINT
        (exactly as from a keyboard), or a program in raw mode reads a 0x03."""
        self.write(b"\x03")

    def _groups(self) -> set[int]:
        groups: set[int] = set()
        if self.pid is None:
            return groups
        try:
            groups.add(os.getpgid(self.pid))
        except ProcessLookupError:
            pass
        if self.fd >= 0:
            try:
                fg = os.tcgetpgrp(self.fd)
                if fg > 0:
                    groups.add(fg)
            except OSError:
                pass
        return groups

    def signal(self, sig: int) -> None:
        """Send `sig` to the worker's process group and the terminal's foreground group."""
        for group in self._groups():
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass

    def terminate(self, grace: float = 3.0) -> None:
        """SIGTERM (and SIGCONT, so a paused worker can act on it), SIGKILL after `grace`."""
        if not self.running:
            return
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)
        self.paused = False
        if self._loop is not None and self._kill_timer is None:
            self._kill_timer = self._loop.call_later(grace, self._kill)

    def _kill(self) -> None:
        if self.running:
            self.signal(signal.SIGKILL)

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
        self.paused = False

    def resize(self, columns: int, lines: int) -> None:
        """Set the PTY size; the kernel sends SIGWINCH to the foreground group."""
        self.columns, self.lines = columns, lines
        if self.fd >= 0:
            fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))

    def close(self) -> None:
        """Forget the session without waiting (the process gets SIGHUP from the kernel)."""
        if self._loop is not None and self._pidfd >= 0:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        self._close_fd()
