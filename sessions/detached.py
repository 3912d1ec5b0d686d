"""What a process podium launches does to become a daemon: leave its launcher (a fork,
the middle process exits, so it is nobody's child and never a zombie), send its stdio to
a log, and report readiness, or why not, as one JSON line on the launcher's pipe.

Only C modules (through `wire`): the holder imports this file by itself.
"""

from __future__ import annotations

import os

if __package__:
    from . import wire
else:  # the holder, run as a file
    import wire  # type: ignore[no-redef]


def detach(log_path: str | None) -> None:
    """In the launched process: fork, let the parent exit, keep going as the grandchild,
    from `/` (a daemon pins no directory; its imports never look in the workspace)."""
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    if log_path:
        try:
            fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError:
            fd = os.open(os.devnull, os.O_WRONLY)  # no log (a full disk): say why on the pipe instead
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def report(fd: int, info: dict[str, object]) -> None:
    """Say ready (or why not) on the launcher's pipe, once."""
    if fd < 0:
        return
    try:
        os.write(fd, (wire.dumps(info) + "\n").encode())
    except OSError:
        pass  # the launcher gave up waiting; the log says what happened
    finally:
        os.close(fd)
