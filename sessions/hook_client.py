"""`podium hook EVENT`: the program an agent's hook runs. It reads the hook's JSON from
stdin, hands it to the supervisor with the worker's identity (PODIUM_HOOK_WORKER and its
token PODIUM_HOOK_TOKEN, given to that worker's run only), and prints what the supervisor
answers (a PermissionRequest's decision) or nothing. It is run by a bare interpreter
(`python -I -S`), imports nothing of podium and nothing beyond the standard library, and
never keeps the agent waiting: a supervisor that is gone, slow or refuses costs at most
PODIUM_HOOK_WAIT seconds (a PermissionRequest: the person's time to answer), and then the
agent goes on as if there were no hook (its own prompt appears).
"""

import json
import os
import socket
import sys

PROTOCOL_VERSION = 2  # (sessions/protocol.py; a test checks they agree)
MAX_PAYLOAD = 1024 * 1024  # bytes of hook JSON passed on; more is cut and marked
QUICK = 2.0  # seconds for an event that only informs


def main() -> int:
    event = sys.argv[1] if len(sys.argv) > 1 else ""
    raw = sys.stdin.buffer.read(MAX_PAYLOAD + 1)
    path, worker, token = os.environ.get("PODIUM_HOOK_SOCKET"), os.environ.get("PODIUM_HOOK_WORKER"), os.environ.get("PODIUM_HOOK_TOKEN")
    if not (path and worker and token):
        return 0  # not a run podium started: no hook
    try:
        payload = json.loads(raw[:MAX_PAYLOAD].decode("utf-8", "replace")) if len(raw) <= MAX_PAYLOAD else {"oversized": len(raw)}
    except ValueError:
        payload = {"malformed": raw[:200].decode("utf-8", "replace")}
    if not isinstance(payload, dict):
        payload = {"malformed": str(payload)[:200]}
    wait = float(os.environ.get("PODIUM_HOOK_WAIT") or 600) if event == "PermissionRequest" else QUICK
    try:
        answer = ask(path, {"op": "hook", "id": 1, "worker": worker, "token": token, "event": event, "payload": payload, "wait": wait}, wait)
    except (OSError, ValueError):
        return 0  # podium is not there (or too slow): the agent carries on without it
    out = answer.get("result", {}).get("stdout") if answer.get("ok") else None
    if out:
        sys.stdout.write(out if isinstance(out, str) else json.dumps(out))
        sys.stdout.flush()
    return 0


def ask(path: str, request: dict, wait: float) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(min(wait, QUICK))
        s.connect(path)
        s.sendall(json.dumps({"op": "hello", "id": 0, "version": PROTOCOL_VERSION, "client": "hook"}).encode() + b"\n")
        s.sendall(json.dumps(request).encode() + b"\n")
        s.settimeout(wait)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise ValueError("the supervisor closed the connection")
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                if msg.get("id") == 1:
                    return msg


if __name__ == "__main__":
    sys.exit(main())
