"""A worker that floods a build log: bursts of coloured compiler output, then a pause."""

from __future__ import annotations

import argparse
import random
import sys
import time

MODULES = ["core", "net", "ui", "db", "auth", "cache", "render", "sched", "io", "util"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=0, help="0: for ever")
    ap.add_argument("--lines", type=int, default=20000)
    args = ap.parse_args()
    rng = random.Random(1)
    out = sys.stdout
    n = 0
    while args.rounds == 0 or n < args.rounds:
        n += 1
        out.write(f"\x1b[1m==> build round {n}\x1b[0m\n")
        for i in range(args.lines):
            mod = MODULES[i % len(MODULES)]
            if i % 997 == 0:
                out.write(f"\x1b[33mwarning\x1b[0m: {mod}/file_{i}.c:{rng.randint(1, 900)}: unused variable 'tmp{i}'\n")
            else:
                pct = 100 * i // args.lines
                out.write(f"[{pct:3d}%] \x1b[32mCC\x1b[0m {mod}/file_{i}.o\n")
        out.write(f"\x1b[1;32m==> round {n} ok\x1b[0m ({args.lines} objects)\n")
        out.flush()
        time.sleep(4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
