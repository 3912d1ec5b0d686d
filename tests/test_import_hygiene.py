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
    out = subprocess.run([sys.executable, "-c", code], cwd='/', capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"sessions pulled in textual modules: {loaded[:5]}"


def test_no_textual_import_statement_in_sessions():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "sessions").rglob("*.py")
        if any(line.lstrip().startswith(("import textual", "from textual")) for line in p.read_text().splitlines())
    ]
    assert offenders == []
