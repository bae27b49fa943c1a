"""Fuzz the note parser and region writer for longer than CI does, and print the figures.

    python bench/fuzz_parser.py --seconds 600 [--seed N]

The target and the input generator are tests/fuzz_target.py (the same ones the
test suite runs for 20 s). A failure prints the input that broke a guarantee.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzz_target import SEEN, fuzz_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=random.randrange(2**32))
    args = parser.parse_args()
    started = time.monotonic()
    tried = fuzz_for(args.seconds, args.seed)
    elapsed = time.monotonic() - started
    print(f"parser fuzz: {tried:,} inputs in {elapsed:.0f} s (seed {args.seed}), no failure")
    for kind, count in SEEN.most_common():
        print(f"  {count:8,}  {kind}")


if __name__ == "__main__":
    main()
