"""A codex-exec look-alike: streams `codex exec --json` events and writes the last message
to the `-o` file, at a human pace. No model, no network."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid

LAST_MESSAGE = """COMPLETED: counted the Python files and checked the tests

Status: Done
Summary: The repository has {count} Python files; the smoke test passes.
Files or artifacts changed: none
Verification: `find . -name '*.py' | wc -l` -> {count}; `python3 -c 'print(1+1)'` -> 2
Open issues: none
Recommended next action: promote this result
"""


def emit(event: dict) -> None:
    print(json.dumps(event), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(prog="demo-agent", description="codex exec, as far as podium can tell")
    ap.add_argument("exec", nargs="?", choices=["exec"])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--skip-git-repo-check", action="store_true")
    ap.add_argument("-o", "--output-last-message")
    ap.add_argument("--pace", type=float, default=0.6)
    ap.add_argument("words", nargs="*", help="PROMPT, or: resume THREAD_ID PROMPT")
    args = ap.parse_intermixed_args()
    pace = args.pace
    thread = str(uuid.uuid4())
    if args.words[:1] == ["resume"] and len(args.words) >= 2:
        thread = args.words[1]
        args.prompt = " ".join(args.words[2:]) or "continue"
    else:
        args.prompt = " ".join(args.words) or "count the python files"
    emit({"type": "thread.started", "thread_id": thread})
    emit({"type": "turn.started"})
    time.sleep(pace)
    emit({"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": f"**Planning** {args.prompt}"}})
    time.sleep(pace)
    commands = ["find . -name '*.py' | wc -l", "python3 -c 'print(1+1)'"]
    outputs = []
    for n, cmd in enumerate(commands, start=1):
        item = {"id": f"item_{n}", "type": "command_execution", "command": cmd, "aggregated_output": "", "exit_code": None, "status": "in_progress"}
        emit({"type": "item.started", "item": item})
        time.sleep(pace)
        run = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True)
        outputs.append(run.stdout.strip())
        emit({"type": "item.completed", "item": {**item, "aggregated_output": run.stdout, "exit_code": run.returncode, "status": "completed"}})
    time.sleep(pace)
    message = LAST_MESSAGE.format(count=outputs[0] or "0")
    emit({"type": "item.completed", "item": {"id": "item_9", "type": "agent_message", "text": message}})
    emit({"type": "turn.completed", "usage": {"input_tokens": 2310, "cached_input_tokens": 1024, "output_tokens": 187, "reasoning_output_tokens": 64}})
    if args.output_last_message:
        os.makedirs(os.path.dirname(os.path.abspath(args.output_last_message)), exist_ok=True)
        with open(args.output_last_message, "w") as f:
            f.write(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
