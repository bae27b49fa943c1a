"""The parser fuzz target (tests/fuzz_target.py), run for a bounded number of inputs in CI.

The fuzzer tries ``ROTATION_NOTES_FUZZ_INPUTS`` inputs (default 1,000), and goes on (up
to 20 times as many) until it has reached every kind of outcome: a count, never a time, so
a slow machine runs the same test. The inputs tried and the outcomes seen are printed in
the test summary. For a longer run by hand: ``python bench/fuzz_parser.py --seconds 600``.
"""

from __future__ import annotations

import os
import random

from fuzz_target import SEEN, check_note, fuzz_one, region_contents
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIGURES

INPUTS = int(os.environ.get("ROTATION_NOTES_FUZZ_INPUTS", "1000"))
KINDS = ("frontmatter-ok", "frontmatter-error", "marker-error", "init-refused")


def reached_every_kind() -> bool:
    kinds = " ".join(SEEN)
    return all(kind in kinds for kind in KINDS) and any(
        k.endswith(("2-regions", "3-regions", "4-regions", "5-regions")) for k in SEEN
    )


def test_parser_fuzz_for_a_bounded_number_of_inputs():
    SEEN.clear()
    seed = int(os.environ.get("ROTATION_NOTES_FUZZ_SEED", str(random.randrange(2**32))))
    rng = random.Random(seed)
    tried = 0
    while tried < INPUTS or (not reached_every_kind() and tried < 20 * INPUTS):
        fuzz_one.hypothesis.fuzz_one_input(rng.randbytes(rng.choice((64, 256, 1024, 4096))))
        tried += 1
    FIGURES.append(
        f"parser fuzz: {tried:,} inputs (seed {seed}); "
        + ", ".join(f"{k} {v}" for k, v in SEEN.most_common())
    )
    # The generator reaches every kind of outcome, or the fuzzing is shallow.
    assert reached_every_kind(), SEEN


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), region_contents)
def test_parser_on_raw_bytes(raw, contents):
    check_note(raw, contents)
