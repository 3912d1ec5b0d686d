"""The `podium` command line: parses arguments and hands off to the engine or the app."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path




def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="podium", description="A control room for coding-agent workers in real PTYs.")
    ap.add_argument("--workspace", "-w", type=Path, default=None, help="workspace directory (default: the current one)")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="run the demo session (real processes, no API key needed)")
    demo.add_argument("--plain", action="store_true", help="plain terminal view")
    sub.add_parser("version", help="print the version")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    workspace = (args.workspace or Path.cwd()).resolve()
    if args.command == "version":
        from importlib.metadata import version

        print(f"podium {version('podium')}")
        return 0
    if args.command in (None, "demo"):
        from .plain_demo import run_plain_demo

        demo_ws = workspace if args.command is None else workspace
        return run_plain_demo(demo_ws)
    return 2


if __name__ == "__main__":
    sys.exit(main())
