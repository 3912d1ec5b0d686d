"""The demo's plan: a review → fix → verify loop of shell workers that behave like agents
(they print what they look at and end with a report), one verification failing once so
the follow-up round shows. Written to the demo workspace's `.podium/plan.toml`; nothing
runs until the person starts it (`P`, then `s`, on the dashboard)."""

from __future__ import annotations

from pathlib import Path

DEMO_PLAN = r'''# The demo's plan (podium plan check / podium plan run, or P then s on the dashboard).
# Every worker is a small shell script that acts like an agent: it says what it does,
# then reports "COMPLETED: ..." and "Status: Done", which is what podium reads. The demo's
# workspace is a git repository: the implementers write in worktrees of their own and
# commit there; m on the plan screen merges them once the plan has ended.
title = "Demo: the importer drops the last row"
scope = """The CSV importer (importer/read.py) drops the last row when the file has no
trailing newline. Find why, fix it with a test, and verify."""

[defaults]
agent = "shell"
worktrees = true  # these shell "agents" are writers too: each implementer in a worktree of its own
max_parallel = 3
time_cap = "2m"
stale_after = "4s"  # quiet this long: stale; then the watchdog's steps, one every 2 s
watchdog_every = "2s"  # (Esc, Ctrl+C, restart, dead letter: the "stuck" task below meets them)

[[task]]
id = "scout"
role = "scout"
goal = "Map how importer/read.py reads rows; change nothing."
command = """for f in read.py rows.py tests/test_read.py; do echo "reading importer/$f"; sleep 0.6; done
printf 'COMPLETED: the last row is lost in rows.py split()\n\nStatus: Done\nSummary: split() drops a final line without a newline\n'"""

[[task]]
id = "fix-rows"
role = "implementer"
goal = "Make rows.py keep a final line without a newline."
after = ["scout"]
touches = ["importer/rows.py"]
command = """echo "editing importer/rows.py"; sleep 1.5; mkdir -p importer
printf 'def split_rows(text):\n    return text.splitlines()\n' > importer/rows.py
git add -A >/dev/null 2>&1 && git commit -qm 'rows.py keeps the last row' >/dev/null 2>&1
printf 'COMPLETED: rows.py keeps the last line\n\nStatus: Done\nFiles or artifacts changed: importer/rows.py\n'"""
verify = "test -e importer/.second-look || { touch importer/.second-look; echo 'FINDING: a file ending in \\r\\n still loses its last row'; exit 1; }"

[[task]]
id = "test-rows"
role = "implementer"
goal = "Add a test for a file without a trailing newline."
after = ["scout"]
touches = ["tests/test_read.py"]
command = """echo "writing tests/test_read.py"; sleep 2; mkdir -p tests
printf '\n\ndef test_last_row_without_newline():\n    assert split_rows("a\\\\nb") == ["a", "b"]\n' >> tests/test_read.py
git add -A >/dev/null 2>&1 && git commit -qm 'a test for a file without a trailing newline' >/dev/null 2>&1
printf 'COMPLETED: added test_last_row_without_newline\n\nStatus: Done\n'"""

[[task]]
id = "stuck"
role = "researcher"
goal = "Find which callers pass files without a trailing newline."
after = ["scout"]
command = """if [ ! -e .podium/.stuck-once ]; then touch .podium/.stuck-once; echo "asking the model…"; sleep 600; fi
echo "grep -rn read_rows callers/"; sleep 1
printf 'COMPLETED: two callers pass such files

Status: Done
'"""

[[task]]
id = "verify"
role = "verifier"
goal = "Run the importer's tests; trust nothing you did not see pass."
after = ["fix-rows", "test-rows"]
command = """echo "running pytest tests/test_read.py"; sleep 1
printf 'COMPLETED: 12 passed, the last row is kept\n\nStatus: Done\nVerification: pytest tests/test_read.py -> 12 passed\n'"""
'''


def write_demo_plan(root: Path) -> None:
    """The demo plan into `root` (the demo's `.podium/`), unless one is there already."""
    path = root / "plan.toml"
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        path.write_text(DEMO_PLAN, "utf-8")
