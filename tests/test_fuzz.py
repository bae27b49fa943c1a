"""The parser fuzz target (tests/fuzz_target.py), run for a bounded time in CI.

``ROTATION_NOTES_FUZZ_SECONDS`` sets the budget (default 20); the number of
inputs tried and the outcomes seen are printed in the test summary. For a
longer run by hand: ``python bench/fuzz_parser.py --seconds 600``.
"""

from __future__ import annotations

import os
import random

from fuzz_target import SEEN, check_note, fuzz_for, region_contents
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIGURES

SECONDS = float(os.environ.get("ROTATION_NOTES_FUZZ_SECONDS", "20"))


def test_parser_fuzz_for_a_bounded_time():
    SEEN.clear()
    seed = int(os.environ.get("ROTATION_NOTES_FUZZ_SEED", str(random.randrange(2**32))))
    tried = fuzz_for(SECONDS, seed)
    FIGURES.append(
        f"parser fuzz: {tried:,} inputs in {SECONDS:g} s (seed {seed}); "
        + ", ".join(f"{k} {v}" for k, v in SEEN.most_common())
    )
    # The generator reaches every kind of outcome, or the fuzzing is shallow.
    kinds = " ".join(SEEN)
    for kind in ("frontmatter-ok", "frontmatter-error", "marker-error", "init-refused"):
        assert kind in kinds, SEEN
    assert any(k.endswith(("2-regions", "3-regions", "4-regions", "5-regions")) for k in SEEN), SEEN


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), region_contents)
def test_parser_on_raw_bytes(raw, contents):
    check_note(raw, contents)
