"""sessions/ is the engine: it must import without textual (the TUI is a client of it)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_sessions_never_imports_textual():
    code = (
        "import json, sys, pkgutil, importlib, podium.sessions as sessions\n"
        "for m in pkgutil.walk_packages(sessions.__path__, 'podium.sessions.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(k for k in sys.modules if k == 'textual' or k.startswith('textual.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd='/', capture_output=True, text=True)
    assert out.returncode == 0, f"importing every sessions module failed:\n{out.stderr}"
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"sessions pulled in textual modules: {loaded[:5]}"


def test_no_textual_import_statement_in_sessions():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "sessions").rglob("*.py")
        if any(line.lstrip().startswith(("import textual", "from textual")) for line in p.read_text().splitlines())
    ]
    assert offenders == []


def test_import_contracts_hold():
    """The layers go one way (tui over widgets and themes over sessions), the engine
    imports neither textual nor rich, and its rooms import each other without a cycle:
    the contracts in pyproject.toml, checked by import-linter itself."""
    linter = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(linter), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 kept, 0 broken" in out.stdout, out.stdout


def test_no_module_is_a_great_hall():
    """No module holds more than about 15 % of its package's lines (the demo's workers are
    not the engine): a capability arrives as a room of its own."""
    for package in ("sessions", "tui"):
        files = [p for p in (ROOT / package).rglob("*.py") if "demo" not in p.parts]
        lines = {p: len(p.read_text().splitlines()) for p in files}
        total = sum(lines.values())
        biggest = max(lines, key=lines.__getitem__)
        share = lines[biggest] / total
        assert share <= 0.16, f"{biggest.relative_to(ROOT)} holds {lines[biggest]} of {total} lines of {package}/ ({share:.0%})"
