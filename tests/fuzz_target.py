"""A fuzz target for the note parser: frontmatter, markers, regions, and the region writer.

``check_note(raw, contents)`` runs one input through everything a refresh does
to a note before rendering, and asserts what must hold for *any* bytes:

- decoding never fails, and encoding the decoded text gives back the exact bytes;
- the frontmatter parses to a mapping or fails with ``FrontmatterError`` (never
  another exception, never a constructed Python object);
- the markers give regions or fail with ``MarkerError`` naming a line;
- replacing the regions with any contents leaves every byte outside them as it
  was, and replacing again with the same contents changes nothing;
- ``--init``'s insertion adds lines and removes none, and what it adds parses.

``notes()`` draws inputs built from the pieces that make parsers trip (fences,
callouts, frontmatter fences, markers of every shape, CR/LF/CRLF, BOM, invalid
UTF-8, NULs, U+2028) mixed with raw bytes. The CI test drives it through
hypothesis for a bounded time; ``bench/fuzz_parser.py`` runs it for longer and
prints how many inputs were tried.
"""

from __future__ import annotations

import random
import time
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from rotation_notes.errors import FrontmatterError, MarkerError
from rotation_notes.note.regions import find_regions, insert_missing, replace_regions
from rotation_notes.note.text import BOM, decode_note, parse_frontmatter
from rotation_notes.thesis.registry import NAMES as REGION_NAMES
from rotation_notes.thesis.registry import placements

NAMES = [*REGION_NAMES, "setupx", "Setup", ""]

_PIECES = [
    "---",
    "--- ",
    "----",
    "```",
    "````md",
    "~~~",
    "> ",
    "> [!note]",
    ">> ",
    "    ",
    "\t",
    "# Heading",
    "## The setup",
    "## Tracking",
    "rotation-notes:",
    "  long: {ticker: IWM}",
    "key: [unclosed",
    "a: &x [1, 2]",
    "b: *x",
    "!!python/object/apply:os.system ['true']",
    "'quote",
    "%%",
    "%% %%",
    "| a | b |",
    "|---|---|",
    "[[Link]]",
    "![[chart.png]]",
    "\u2028",
    "\u00a0",
    "\x00",
    "é",
    "\ufeff",
]


@st.composite
def marker(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(NAMES))
    slash = draw(st.sampled_from(["", "/", " /"]))
    left = draw(st.sampled_from(["%%", "%% ", "%%  ", "> %%", " %%", "%%%"]))
    right = draw(st.sampled_from([" %%", "%%", " %% ", "", " %% x"]))
    return f"{left} {slash}rotation-notes:{name}{right}".replace("  ", " ", draw(st.integers(0, 1)))


_YAML = [
    "rotation-notes:",
    "  long: {ticker: IWM}",
    "  short: {ticker: QQQ}",
    "tags: [a, b]",
    "tags:",
    "  - x",
    "title: 'a: b'",
    "key: [unclosed",
    "a: &x [1, 2]",
    "b: *x",
    "c: *missing",
    "date: 2026-13-01",
    "x: !!python/object/apply:os.system ['true']",
    "x: !!binary aGVsbG8=",
    "- a list",
    "'quote",
    "\tindented",
    "? complex",
    "k: |",
    "  block",
    "%YAML 1.1",
    "",
]


@st.composite
def region(draw: st.DrawFn) -> list[str]:
    """A well-formed region: begin marker, some lines, end marker (maybe quoted/fenced)."""
    name = draw(st.sampled_from(REGION_NAMES))
    body = draw(
        st.lists(st.sampled_from(["| a | b |", "|---|---|", "text", "", "```"]), max_size=3)
    )
    return [f"%% rotation-notes:{name} %%", *body, f"%% /rotation-notes:{name} %%"]


@st.composite
def notes(draw: st.DrawFn) -> bytes:
    """Note bytes: frontmatter and body built from tricky pieces, sometimes raw bytes spliced in."""
    line = st.one_of(
        marker(),
        st.sampled_from(_PIECES),
        st.text(max_size=12),
        st.builds(lambda a, b: a + b, st.sampled_from(_PIECES), st.text(max_size=6)),
    )
    parts: list[str] = []
    if draw(st.integers(0, 2)):  # a frontmatter block, most of the time
        parts.append(draw(st.sampled_from(["---", "---", "--- ", "----"])))
        parts.extend(draw(st.lists(st.sampled_from(_YAML), max_size=8)))
        if draw(st.integers(0, 5)):
            parts.append("---")
    for chunk in draw(st.lists(st.one_of(region(), st.lists(line, max_size=5)), max_size=8)):
        parts.extend(chunk)
    ending = draw(st.sampled_from(["\n", "\r\n"]))  # the note's usual ending...
    odd = st.sampled_from([ending, ending, ending, "\n", "\r\n", "\r", ""])  # ...mostly
    text = "".join(part + draw(odd) for part in parts)
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        raw = BOM + raw
    if draw(st.integers(0, 4)) == 0:  # splice raw bytes (invalid UTF-8, lone bytes) in
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=8)) + raw[at:]
    return raw


region_contents = st.dictionaries(
    st.sampled_from(REGION_NAMES),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    max_size=len(REGION_NAMES),
)


def _outside(lines: list[str], regions: list) -> list[str]:
    inside = {i for r in regions for i in range(r.begin + 1, r.end)}
    return [line for i, line in enumerate(lines) if i not in inside]


def check_note(raw: bytes, contents: dict[str, str]) -> str:
    """Run one input through the parser and writer; returns the outcome's kind."""
    note = decode_note(raw)
    assert note.encode(note.text) == raw, "decode/encode is not byte-exact"
    assert "".join(note.lines) == note.text

    outcome = "no-frontmatter"
    if note.frontmatter_src is not None:
        try:
            meta = parse_frontmatter(note, "fuzz.md")
        except FrontmatterError as exc:
            assert exc.path == "fuzz.md"
            outcome = "frontmatter-error"
        else:
            assert isinstance(meta, dict)
            outcome = "frontmatter-ok"

    try:
        regions = find_regions(note, "fuzz.md")
    except MarkerError as exc:
        assert exc.line is not None and str(exc).startswith(f"fuzz.md:{exc.line}: "), str(exc)
        return outcome + "+marker-error"

    new_text = replace_regions(note, regions, contents)
    new_note = decode_note(note.encode(new_text))
    new_regions = find_regions(new_note, "fuzz.md")
    assert [r.name for r in new_regions] == [r.name for r in regions]
    assert _outside(new_note.lines, new_regions) == _outside(note.lines, regions), (
        "bytes outside regions changed"
    )
    again = replace_regions(new_note, new_regions, contents)
    assert again == new_text, "a second write with the same contents changed the note"

    try:
        inserted = insert_missing(note, regions, placements(REGION_NAMES), "fuzz.md")
    except MarkerError as exc:  # only for a code block left open at the end
        assert "never closed" in str(exc), str(exc)
        return outcome + "+init-refused"
    if inserted != note.text:
        init_note = decode_note(note.encode(inserted))
        init_regions = find_regions(init_note, "fuzz.md")
        assert {r.name for r in init_regions} == set(REGION_NAMES), "--init lost a region"
        again_init = insert_missing(init_note, init_regions, placements(REGION_NAMES), "fuzz.md")
        assert again_init == init_note.text, "a second --init changed the note"
        # Insertion only adds lines: the old lines are a subsequence of the new ones.
        it = iter(init_note.lines)
        old_lines = [line if line.endswith("\n") else None for line in note.lines]
        for line in old_lines:
            if line is not None:
                assert any(line == candidate for candidate in it), "--init removed a line"
    return outcome + f"+{len(regions)}-regions"


@given(notes(), region_contents)
@settings(database=None, deadline=None)
def fuzz_one(raw, contents):
    SEEN[check_note(raw, contents)] += 1


SEEN: Counter[str] = Counter()


def fuzz_for(seconds: float, seed: int) -> int:
    """Feed random buffers to the target (hypothesis decodes each into a note) until time is up."""
    rng = random.Random(seed)
    stop = time.monotonic() + seconds
    tried = 0
    while time.monotonic() < stop:
        buffer = rng.randbytes(rng.choice((64, 256, 1024, 4096)))
        fuzz_one.hypothesis.fuzz_one_input(buffer)
        tried += 1
    return tried
