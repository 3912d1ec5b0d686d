"""The client <-> supervisor protocol: every message both ends exchange, typed once.

JSON lines over the owner-only Unix socket. A client says hello (with `PROTOCOL_VERSION`),
then sends requests and notifications; the supervisor answers requests and pushes events.

- A *request* has an `id` and gets exactly one reply `{id, ok, result | error}`.
- A *notification* has no `id` and gets no reply (keys typed in interactive mode, pane
  resizes): sent in order, handled in order, never answered and ignored.
- An *event* has an `event` field (a worker changed, a screen frame, an escalation...).
- A malformed or oversized line gets one `{"event": "error"}` line, and the connection
  closes: the client learns why instead of hanging.

Bytes travel as bytes: keys and output are base64 (`data_b64`), never a str that was
bytes once. Colours in screen frames are normalised here, so every renderer maps them
the same way: `None` (the default), an int 0-15 (the ANSI palette) or "#rrggbb".

`check_request` validates a request against its TypedDict (fields, types), so a bad one
is refused with the field named, before any room acts on it.
"""

# No `from __future__ import annotations` here: TypedDict needs NotRequired evaluated.
import asyncio
import base64
import json
import math
import os
import types
import typing
from typing import Any, Literal, NotRequired, TypedDict, Union

from . import wire

PROTOCOL_VERSION = 2

Colour = int | str | None
# One run of a screen row: text, foreground, background, flags (1 bold, 2 italic,
# 4 underline, 8 strike, 16 reverse, 32 blink).
Run = tuple[str, Colour, Colour, int]


# -- what the supervisor describes -----------------------------------------------------
class WorkerInfo(TypedDict):
    name: str
    kind: str
    mode: str
    state: str
    reason: str
    pid: int | None
    holder_pid: int | None
    exit_code: int | None
    exit_signal: int | None
    command: list[str]
    cwd: str
    created: str
    started: str | None
    ended: str | None
    last_output: str | None
    exec_id: int | None
    by: NotRequired[str | None]  # who asked for it: a client's kind (cli, app, plan, mcp…)
    size: list[int]
    runs: int
    session_id: str | None
    tokens: int
    cost_usd: float
    signals: dict[str, bool] | None
    agent: dict[str, Any]
    promoted: list[str]
    escalations: int
    escalation_rate: float | None
    warnings: list[str]


class ScreenFrame(TypedDict):
    cols: int
    rows: int
    cursor: list[Any]  # [x, y, visible]
    full: bool
    lines: dict[str, list[Run]]
    title: str
    bracketed_paste: bool
    app_cursor: bool


class EscalationInfo(TypedDict):
    id: str
    worker: str | None
    tier: str
    source: str
    recogniser: str | None
    question: str
    command: str | None
    reason: str | None
    file: str | None
    options: list[dict[str, str]]
    lines: list[str]
    card: dict[str, Any] | None
    state: str
    created: str
    answer: dict[str, Any] | None
    note: str


# -- events (supervisor -> client) ----------------------------------------------------
class WorkerEvent(TypedDict):
    event: Literal["worker"]
    worker: WorkerInfo


class ScreenEvent(ScreenFrame):
    event: Literal["screen"]
    worker: str


class EscalationEvent(TypedDict):
    event: Literal["escalation"]
    escalation: EscalationInfo


class SignalEvent(TypedDict):
    event: Literal["signal"]
    worker: str
    signal: str
    by: str


class OutputEvent(TypedDict):
    event: Literal["output"]
    worker: str
    data_b64: str


class ResultEvent(TypedDict):
    event: Literal["result"]
    version: str
    by: str
    what: str


class ByeEvent(TypedDict):
    event: Literal["bye"]
    reason: str


class ErrorEvent(TypedDict):
    event: Literal["error"]
    error: str


Event = Union[WorkerEvent, ScreenEvent, EscalationEvent, SignalEvent, OutputEvent, ResultEvent, ByeEvent, ErrorEvent]


# -- requests (client -> supervisor) ----------------------------------------------------
class Hello(TypedDict):
    op: Literal["hello"]
    version: int
    client: NotRequired[str]


class WorkerRef(TypedDict):
    worker: str


class Spawn(TypedDict):
    name: str
    argv: list[str]
    kind: NotRequired[str | None]
    cwd: NotRequired[str | None]
    env: NotRequired[dict[str, str] | None]
    cols: NotRequired[int]
    rows: NotRequired[int]


class Exec(TypedDict):
    cmd: str | list[str]
    workdir: NotRequired[str | None]
    env: NotRequired[dict[str, str] | None]
    kind: NotRequired[str | None]
    yield_time_ms: NotRequired[int | float]
    max_output_tokens: NotRequired[int | None]


class Write(TypedDict):
    session_id: int | str
    chars: NotRequired[str]
    yield_time_ms: NotRequired[int | float]
    max_output_tokens: NotRequired[int | None]


class Input(TypedDict):
    worker: str
    data_b64: str


class Resize(TypedDict):
    worker: str
    cols: int
    rows: int


class Subscribe(TypedDict):
    screens: NotRequired[list[str] | str]
    events: NotRequired[bool]


class Unsubscribe(TypedDict):
    screens: list[str]


class Kill(TypedDict):
    worker: str
    grace: NotRequired[int | float]
    wait: NotRequired[bool]


class Resume(TypedDict):
    worker: str
    prompt: NotRequired[str | None]
    env: NotRequired[dict[str, str] | None]


class Promote(TypedDict):
    worker: str
    force: NotRequired[bool]


class ResultChange(TypedDict):
    change: str
    base: NotRequired[str | None]
    section: NotRequired[str | None]
    by: NotRequired[int]
    body: NotRequired[str]
    text: NotRequired[str]


class Decisions(TypedDict):
    states: NotRequired[list[str] | str | None]


class Answer(TypedDict):
    escalation: str
    choice: str
    by: NotRequired[str | None]
    message: NotRequired[str | None]  # a deny's words for the agent (a hook's answer carries them)


class Hook(TypedDict):
    """An agent's hook event (hook_client.py), as the worker, with its run's token."""

    worker: str
    token: str
    event: str
    payload: dict[str, Any]
    wait: NotRequired[int | float]  # how long the hook itself waits (a permission request gives up then)


class WorktreeSpawn(TypedDict):
    name: str
    argv: list[str]
    kind: NotRequired[str | None]
    base: NotRequired[str | None]  # a branch, tag or commit (default: HEAD)
    env: NotRequired[dict[str, str] | None]


class WorktreeMerge(TypedDict):
    name: str
    check: NotRequired[bool]  # only say whether it merges cleanly
    how: NotRequired[str]  # ff | merge | squash
    commit: NotRequired[bool]  # commit what its worktree left uncommitted first (the person said yes)


class WorktreeDiscard(TypedDict):
    name: str
    force: NotRequired[bool]  # the person said yes to losing what it holds


class MergeQueue(TypedDict):
    names: list[str]  # in the order they merge
    check: NotRequired[bool]  # only say, each against the target as it is now
    how: NotRequired[str]  # ff | merge | squash
    send_back: NotRequired[bool]  # a conflict is sent to its worker: rebase onto the target and resolve
    env: NotRequired[dict[str, str] | None]  # the sent-back run's environment (a client's own)


class ReviewDiff(TypedDict):
    worker: str
    since: NotRequired[str]  # the digest the asker has: only {unchanged, digest} when it is still so


class ReviewComment(TypedDict):
    worker: str
    file: str
    line: int
    text: str
    code: NotRequired[str]  # the lines it was made on (a comment whose lines left the diff is stale)


class ReviewSend(TypedDict):
    worker: str
    env: NotRequired[dict[str, str] | None]  # the resumed run's environment (a client's own)

class Withdraw(TypedDict):
    escalation: str
    note: NotRequired[str]


class Escalate(TypedDict):
    question: str
    worker: NotRequired[str | None]
    tier: NotRequired[str | None]
    options: NotRequired[list[dict[str, str]] | None]
    source: NotRequired[Literal["podium", "hook"] | None]  # hook: an agent's PermissionRequest
    command: NotRequired[str | None]  # what it asks to run or change (tier rules match on it)
    file: NotRequired[str | None]
    reason: NotRequired[str | None]


class DecisionWait(TypedDict):
    escalation: str
    timeout: NotRequired[int | float | None]  # seconds; none: until it is answered


class Stop(TypedDict):
    grace: NotRequired[int | float]


class NoFields(TypedDict):
    pass


# -- plans (scheduler.py) ------------------------------------------------------------------
class PlanRun(TypedDict):
    path: NotRequired[str | None]  # the plan file (default: .podium/plan.toml)
    env: NotRequired[dict[str, str] | None]  # the environment its workers start with


class PlanStop(TypedDict):
    grace: NotRequired[int | float]


class TaskRef(TypedDict):
    task: str


class PlanEnvelope(TypedDict):
    task: str
    text: NotRequired[str]  # the new envelope; without it, the answer is the envelope as it stands


# -- validation ---------------------------------------------------------------------------
class BadRequest(ValueError):
    """A request whose fields do not match its type (the message names the field)."""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin is list and typing.get_args(tp):
        return f"a list (each: {_type_name(typing.get_args(tp)[0])})"
    if origin is dict and typing.get_args(tp):
        return f"an object (each value: {_type_name(typing.get_args(tp)[1])})"
    if origin is not None:
        return {list: "a list", dict: "an object"}.get(origin, str(origin))
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, getattr(tp, "__name__", str(tp)))


def _matches(value: Any, tp: Any) -> bool:
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin is NotRequired:
        return _matches(value, typing.get_args(tp)[0])
    if tp is type(None):
        return value is None
    if tp is float:  # JSON has no NaN or infinity; Python's parser lets them in
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        _, item = typing.get_args(tp) or (str, Any)
        return isinstance(value, dict) and all(isinstance(k, str) and _matches(v, item) for k, v in value.items())
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def check_request(op: str, req: dict[str, Any], shape: type) -> None:
    """Raise BadRequest naming the first field of `req` that `shape` does not allow."""
    hints = typing.get_type_hints(shape)
    for key in shape.__required_keys__:  # type: ignore[attr-defined]
        if key not in req:
            raise BadRequest(f"bad {op} request: {key!r} is missing ({_type_name(hints[key])})")
    for key, value in req.items():
        if key in ("op", "id") or key not in hints:
            continue  # unknown fields are ignored: a newer client may send more
        if not _matches(value, hints[key]):
            raise BadRequest(f"bad {op} request: {key!r} must be {_type_name(hints[key])}, not {type(value).__name__}")


# -- JSON lines ------------------------------------------------------------------------------
MAX_LINE = 16 * 1024 * 1024


class LineError(ValueError):
    """A line that is not one JSON object, or too long (the message says which)."""


def same_user(writer: asyncio.StreamWriter) -> bool:
    """Is the peer of this connection the supervisor's own user?"""
    sock = writer.get_extra_info("socket")
    return sock is not None and wire.peer_uid(sock) == os.getuid()


def encode_line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


async def read_line(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """One JSON object, or None at EOF."""
    try:
        line = await reader.readline()
    except ValueError as exc:  # over the stream's limit
        raise LineError(f"line over the limit: {exc}") from None
    if not line:
        return None
    if not line.endswith(b"\n") and len(line) >= MAX_LINE:
        raise LineError(f"line over the limit of {MAX_LINE} bytes")
    return parse_line(line)


def parse_line(line: bytes) -> dict[str, Any]:
    """One JSON object from one line; anything else (not JSON, nested past the parser's
    depth, not an object) is a LineError saying which."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LineError(f"not JSON: {exc}") from None
    except RecursionError:
        raise LineError("nested too deeply") from None
    if not isinstance(obj, dict):
        raise LineError(f"not a JSON object but {type(obj).__name__}")
    return obj


# -- bytes on a text wire ---------------------------------------------------------------------
def pack_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unpack_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise BadRequest("data_b64 is not base64") from None
