"""Drive podium the way a person does: in tmux, with send-keys and capture-pane."""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_count = itertools.count()


class Tmux:
    def __init__(self, width: int = 140, height: int = 42):
        self.socket = f"podium-test-{os.getpid()}-{next(_count)}"
        self.width, self.height = width, height
        # A placeholder window keeps the server alive while podium windows come and go.
        self.run("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), "sleep 100000")
        # New windows of a detached session otherwise get 80x24.
        self.run("set-option", "-g", "default-size", f"{width}x{height}")

    def run(self, *args: str) -> str:
        r = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def podium_window(self, name: str, *podium_args: str, env: dict[str, str] | None = None) -> str:
        env = {
            "XDG_RUNTIME_DIR": os.environ["XDG_RUNTIME_DIR"],
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            **(env or {}),
        }
        cmd = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        cmd = f"env -u COLUMNS -u LINES {cmd} {shlex.quote(sys.executable)} -m podium.tui.cli {' '.join(shlex.quote(a) for a in podium_args)}"
        self.run("new-window", "-t", "t:", "-n", name, cmd)
        self.run("resize-window", "-t", f"t:{name}", "-x", str(self.width), "-y", str(self.height))
        return f"t:{name}"

    def pane_pid(self, target: str) -> int:
        return int(self.run("display-message", "-p", "-t", target, "#{pane_pid}").strip())

    def capture(self, target: str, escapes: bool = False) -> str:
        """The pane's text (with `escapes`, its attributes too: `\x1b[7m` is reverse video)."""
        return self.run("capture-pane", "-p", *(["-e"] if escapes else []), "-t", target)

    def windows(self) -> list[str]:
        return self.run("list-windows", "-t", "t", "-F", "#{window_name}").split()

    def keys(self, target: str, *keys: str) -> None:
        self.run("send-keys", "-t", target, *keys)

    def wait_for(self, target: str, text: str, timeout: float = 20.0, escapes: bool = False) -> str:
        """The pane's text once `text` is on it; AssertionError (with the screen) if it never is."""
        return self._wait(target, lambda screen: text in screen, f"{text!r} never appeared in {target}", timeout, escapes)

    def wait_gone(self, target: str, text: str, timeout: float = 20.0) -> str:
        """The pane's text once `text` is no longer on it; AssertionError if it stays."""
        return self._wait(target, lambda screen: bool(screen) and text not in screen, f"{text!r} never left {target}", timeout, False)

    def wait_window_closed(self, name: str, timeout: float = 20.0) -> None:
        """Until the window's program has exited (tmux closes the window with it)."""
        deadline = time.monotonic() + timeout
        while name in self.windows():
            if time.monotonic() > deadline:
                raise AssertionError(f"window {name} still open after {timeout} s:\n{self.capture('t:' + name)}")
            time.sleep(0.1)

    def _wait(self, target: str, done, failure: str, timeout: float, escapes: bool) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while True:
            try:
                screen = self.capture(target, escapes)
            except RuntimeError:
                screen = ""
            if done(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{failure} (waited {timeout} s):\n{screen}")
            time.sleep(0.1)

    def settle(self, target: str, quiet: float = 0.6, timeout: float = 10.0) -> str:
        """The pane's text once it stopped changing for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        last, since = self.capture(target), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.capture(target)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return now
        raise AssertionError(f"{target} never stayed unchanged for {quiet} s within {timeout} s:\n{last}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
