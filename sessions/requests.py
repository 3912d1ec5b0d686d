"""The one table of operations every client reaches the supervisor through (the
dashboard, the command line, and later MCP): each room registers the requests it answers,
with the TypedDict their fields must match, so a capability added for one client is
there for all, and a malformed request is refused with the field named before any room
acts on it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .protocol import BadRequest, NoFields, check_request

log = logging.getLogger("podium")

if TYPE_CHECKING:
    from .clients import ClientConn

Handler = Callable[["ClientConn", dict[str, Any]], Awaitable[Any]]
Notification = Callable[["ClientConn", dict[str, Any]], None]


class RequestError(Exception):
    """A request that cannot be done; the message goes back to the client as is."""


@dataclass
class InternalClient:
    """Who a room of podium's own is when it calls an operation: a kind, and no line."""

    kind: str
    events: bool = False

    def send(self, obj: dict[str, Any]) -> None:
        pass


@dataclass(frozen=True)
class Operation:
    shape: type
    handler: Handler | None = None  # a request: answered
    notification: Notification | None = None  # a notification: handled in order, not answered


class RequestTable:
    def __init__(self) -> None:
        self.ops: dict[str, Operation] = {}

    def add(self, op: str, handler: Handler, shape: type = NoFields) -> None:
        assert op not in self.ops, f"{op} registered twice"
        self.ops[op] = Operation(shape, handler=handler)

    def add_notification(self, op: str, handler: Notification, shape: type) -> None:
        assert op not in self.ops, f"{op} registered twice"
        self.ops[op] = Operation(shape, notification=handler)

    async def call(self, by: str, op: str, **fields: Any) -> Any:
        """A room of podium's own (the scheduler) asks what a client would: the same
        checks, the same journal entries, `by` in place of the client's kind. Raises
        RequestError (or BadRequest) where a client would get an error."""
        entry = self.ops.get(op)
        if entry is None:
            raise RequestError(f"unknown request {op!r}")
        check_request(op, fields, entry.shape)
        if entry.handler is None:
            assert entry.notification is not None
            entry.notification(InternalClient(by), fields)
            return {}
        return await entry.handler(InternalClient(by), fields)  # type: ignore[arg-type]

    def notify(self, client: ClientConn, req: dict[str, Any]) -> None:
        """A message without an id: done now, in arrival order, never answered. A problem
        is reported as an error event (nobody waits for a reply to read it in)."""
        op = req.get("op")
        entry = self.ops.get(op) if isinstance(op, str) else None
        try:
            if entry is None or entry.notification is None:
                raise RequestError(f"unknown notification {op!r}" + (" (it is a request: give it an id)" if entry else ""))
            check_request(str(op), req, entry.shape)
            entry.notification(client, req)
        except (RequestError, BadRequest) as exc:
            client.send({"event": "error", "error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - the connection and its other messages go on
            log.exception(f"{op} notification failed")
            client.send({"event": "error", "error": f"podium: internal error in {op}: {exc!r} (see .podium/supervisor.log)"})

    async def handle(self, client: ClientConn, req: dict[str, Any]) -> None:
        rid = req.get("id")
        op = req.get("op")
        entry = self.ops.get(op) if isinstance(op, str) else None
        try:
            if entry is None:
                raise RequestError(f"unknown request {op!r}")
            check_request(str(op), req, entry.shape)
            if entry.handler is None:  # a notification sent as a request: do it, say so
                assert entry.notification is not None
                entry.notification(client, req)
                result: Any = {}
            else:
                result = await entry.handler(client, req)
            client.send({"id": rid, "ok": True, "result": result})
        except (RequestError, BadRequest) as exc:
            client.send({"id": rid, "ok": False, "error": str(exc)})
        except (KeyError, TypeError, ValueError) as exc:
            log.exception(f"{op} request failed")  # check_request passed it: a bug, or a value out of range
            client.send({"id": rid, "ok": False, "error": f"bad {op} request: {exc!r}"})
        except Exception as exc:  # never leave a client waiting for an answer
            log.exception(f"{op} request failed")
            client.send({"id": rid, "ok": False, "error": f"podium: internal error in {op}: {exc!r} (see .podium/supervisor.log)"})
