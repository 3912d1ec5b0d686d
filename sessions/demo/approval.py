"""A worker that stops at a `[y/N]` approval prompt, like a migration script would."""

from __future__ import annotations

import sys
import time


def main() -> int:
    print("\x1b[1mmigrate\x1b[0m: 3 pending migrations for db=staging")
    for name in ("0007_add_index", "0008_backfill_owner", "0009_drop_legacy"):
        time.sleep(0.3)
        print(f"  - {name}")
    while True:
        try:
            answer = input("Apply 3 migrations to staging? [y/N] ").strip().lower()
        except EOFError:
            print()
            return 1
        if answer in ("y", "yes"):
            for name in ("0007_add_index", "0008_backfill_owner", "0009_drop_legacy"):
                time.sleep(0.4)
                print(f"\x1b[32mapplied\x1b[0m {name}")
            print("COMPLETED: applied 3 migrations")
            return 0
        if answer in ("", "n", "no"):
            print("\x1b[33mskipped\x1b[0m: nothing applied")
            print("BLOCKED: the person declined the migration")
            return 3
        print("please answer y or n")


if __name__ == "__main__":
    sys.exit(main())
