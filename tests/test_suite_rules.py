"""Rules the test suite keeps, checked on its own source: every wait is awaited (an
un-awaited `eventually(...)` would wait for nothing and pass), and no test drives the
removed in-process exec engine."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def sources() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(TESTS.glob("*.py"))]


def test_every_eventually_is_awaited():
    loose = []
    for path, tree in sources():
        awaited = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Await)}
        awaited |= {  # asyncio.run(eventually(...)) runs it to the end too
            id(node.args[0]) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "run" and node.args
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "eventually":
                if id(node) not in awaited:
                    loose.append(f"{path.name}:{node.lineno}")
    assert loose == [], f"eventually(...) called without await (it would never wait): {loose}"


def test_no_test_uses_the_in_process_exec_engine():
    users = []
    for path, tree in sources():
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [a.name for a in node.names] + [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            elif isinstance(node, ast.Name):
                names = [node.id]
            if any(n in ("UnifiedExec", "UnknownSession") or n.endswith("unified_exec") for n in names):
                users.append(f"{path.name}:{node.lineno}")
    assert users == [], f"tests still use the in-process exec engine: {users}"
