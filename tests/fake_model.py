"""A scripted model server on 127.0.0.1 for the real codex and claude CLIs.

codex: `POST /v1/responses` answered with Responses-API SSE. claude: `POST /v1/messages`
answered with Messages-API SSE. Each request takes the next scripted turn; the requests
are kept so a test can check what the agent sent back (a command's output, say).
Nothing here talks to anything but the loopback interface.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A turn: output items; "fail"; {"code", "message"}: an API error in the stream; {"status":
# 429, "message"}: an HTTP error before any stream; {"hang": seconds}: a stream that starts
# and then says nothing (a hung API call); {"items": [...], "slow": seconds, "usage": (in,
# out)}: each event of the answer that long after the one before, reporting that usage.
Turn = list[dict[str, Any]] | str | dict[str, Any]

_ids = itertools.count(1)


def shell_call(cmd: str, escalate: str | None = None) -> dict[str, Any]:
    """codex's exec_command tool call (escalate: a justification asking for approval)."""
    args: dict[str, Any] = {"cmd": cmd}
    if escalate:
        args.update({"sandbox_permissions": "require_escalated", "justification": escalate})
    return {"type": "function_call", "call_id": f"call_{next(_ids)}", "name": "exec_command", "arguments": json.dumps(args)}


def message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "id": f"msg_{next(_ids)}",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


class FakeModel:
    def __init__(
        self,
        codex_turns: list[Turn] | None = None,
        claude_turns: list[Turn] | None = None,
        claude_handler: Callable[[dict[str, Any]], Turn] | None = None,
        codex_handler: Callable[[dict[str, Any]], Turn] | None = None,
        usage: tuple[int, int] | None = None,  # (input, output) tokens each answer reports
    ):
        self.usage = usage
        self.codex_turns: list[Turn] = list(codex_turns or [])
        self.claude_turns: list[Turn] = list(claude_turns or [])
        self.claude_handler = claude_handler
        self.codex_handler = codex_handler  # answers each codex request by what it asks, not in order
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.hung = threading.Event()  # set at the end: hung and slow streams let go
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                body = b'{"data": [], "models": []}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"raw": raw.decode(errors="replace")}
                path = self.path.split("?")[0]
                with model.lock:
                    model.requests.append((path, body))
                if path.endswith("/responses"):
                    turn = model.codex_handler(body) if model.codex_handler else model._next(model.codex_turns)
                    self._answer(turn, model._codex_events)
                elif path.endswith("/messages"):
                    turn = model.claude_handler(body) if model.claude_handler else model._next(model.claude_turns)
                    self._answer(turn, model._claude_events)
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def _answer(self, turn: Turn, events: Callable[..., list[tuple[str, dict[str, Any]]]]) -> None:
                if isinstance(turn, dict) and "status" in turn:  # an HTTP error, as the APIs send one
                    kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(int(turn["status"]), "api_error")
                    body = json.dumps({"type": "error", "error": {"type": kind, "code": kind, "message": turn.get("message", "")}}).encode()
                    self.send_response(int(turn["status"]))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    if turn.get("retry_after"):
                        self.send_header("Retry-After", str(turn["retry_after"]))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if isinstance(turn, dict) and "hang" in turn:  # it starts, then says nothing
                    self._stream(events([])[:1], pause=0.0)
                    model.hung.wait(float(turn["hang"]))
                    self.close_connection = True
                    return
                if isinstance(turn, dict) and "items" in turn:  # {"items", "slow"?, "usage"?}
                    self._stream(events(turn["items"], turn.get("usage")), pause=float(turn.get("slow", 0)))
                    return
                self._stream(events(turn))

            def _stream(self, events: list[tuple[str, dict[str, Any]]], pause: float = 0.0) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for name, data in events:
                    if pause and model.hung.wait(pause):
                        break  # the test is over
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeModel:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hung.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _next(self, turns: list[Turn]) -> Turn:
        with self.lock:
            return turns.pop(0) if turns else [message("(the fake model has nothing more to say)")]

    # -- codex: the Responses API ---------------------------------------------------
    def _codex_events(self, turn: Turn, usage: tuple[int, int] | None = None) -> list[tuple[str, dict[str, Any]]]:
        rid = f"resp_{next(_ids)}"
        events: list[tuple[str, dict[str, Any]]] = [
            ("response.created", {"type": "response.created", "response": {"id": rid}})
        ]
        if turn == "fail" or isinstance(turn, dict):  # {"code": ..., "message": ...}: an API error of that kind
            error = turn if isinstance(turn, dict) else {"code": "server_error", "message": "the fake model failed this turn"}
            events.append(("response.failed", {"type": "response.failed", "response": {"id": rid, "error": error}}))
            return events
        assert isinstance(turn, list)
        for index, item in enumerate(turn):
            events.append(("response.output_item.added", {"type": "response.output_item.added", "output_index": index, "item": item}))
            if item.get("type") == "message":
                text = item["content"][0]["text"]
                events.append(("response.output_text.delta", {"type": "response.output_text.delta", "output_index": index, "delta": text}))
            events.append(("response.output_item.done", {"type": "response.output_item.done", "output_index": index, "item": item}))
        tin, tout = usage or self.usage or (1200, 80)
        usage = {
            "input_tokens": tin,
            "input_tokens_details": {"cached_tokens": 200},
            "output_tokens": tout,
            "output_tokens_details": {"reasoning_tokens": 10},
            "total_tokens": tin + tout,
        }
        events.append(("response.completed", {"type": "response.completed", "response": {"id": rid, "usage": usage}}))
        return events

    # -- claude: the Messages API ---------------------------------------------------
    def _claude_events(self, turn: Turn, usage: tuple[int, int] | None = None) -> list[tuple[str, dict[str, Any]]]:
        mid = f"msg_{next(_ids)}"
        tin, tout = usage or self.usage or (900, 40)
        usage = {"input_tokens": tin, "output_tokens": tout, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {"type": "message_start", "message": {"id": mid, "type": "message", "role": "assistant", "model": "claude-fake", "content": [], "stop_reason": None, "usage": usage}},
            )
        ]
        assert isinstance(turn, list)
        stop = "end_turn"
        for index, block in enumerate(turn):
            if block["type"] == "text":
                events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}))
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": block["text"]}}))
            else:  # tool_use
                stop = "tool_use"
                events.append(
                    (
                        "content_block_start",
                        {"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}},
                    )
                )
                events.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}},
                    )
                )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": tout}}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def outputs_sent_back(self) -> list[str]:
        """What codex sent back as function_call_output (the commands' output)."""
        found = []
        for path, body in self.requests:
            for item in body.get("input", []) if isinstance(body, dict) else []:
                if isinstance(item, dict) and item.get("type") == "function_call_output":
                    out = item.get("output")
                    found.append(out if isinstance(out, str) else json.dumps(out))
        return found


def claude_text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def claude_tool(name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{next(_ids)}", "name": name, "input": tool_input}


def codex_home(directory, port: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A throwaway CODEX_HOME pointing codex at the fake model; returns the env to use."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.toml").write_text(
        f'''model = "gpt-5.5"
model_provider = "fake"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false
unbounded_connection_retries = false

[notice.model_migrations]
"gpt-5.5" = "gpt-6-sol"

[model_providers.fake]
name = "fake"
base_url = "http://127.0.0.1:{port}/v1"
wire_api = "responses"
env_key = "FAKE_API_KEY"
supports_websockets = false
request_max_retries = 0
stream_max_retries = 0
'''
    )
    return {"CODEX_HOME": str(directory), "FAKE_API_KEY": "sk-fake-key-for-tests"}


def last_user_text(body: dict[str, Any]) -> str:
    """The newest user message's text (claude's requests carry other context too)."""
    for msg in reversed(body.get("messages") or []):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            return content
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def has_tool_result(body: dict[str, Any]) -> bool:
    last = (body.get("messages") or [{}])[-1]
    content = last.get("content")
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
