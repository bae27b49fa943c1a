"""Property tests: bytes outside generated regions never change; a second refresh is a no-op."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE_DATA, THESIS_FRONTMATTER
from rotation_notes.note.regions import find_regions, replace_regions
from rotation_notes.note.text import BOM, decode_note
from rotation_notes.prices.marketdata import CsvDirectoryProvider
from rotation_notes.refresh import RefreshOptions, refresh
from rotation_notes.thesis.registry import NAMES as REGION_NAMES

#: One provider for every example: the sample's CSVs are read once, not per example.
PROVIDER = CsvDirectoryProvider(SAMPLE_DATA, label="bundled CSV")


def _plain(line: str) -> bool:
    s = line.strip().lstrip(">").strip()
    return not s.startswith(("```", "~~~", "---", "%%")) and "rotation-notes" not in line


plain_line = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
    max_size=30,
).filter(_plain)
#: A lone CR ends a line too (CommonMark; Obsidian's editor), so it is an ending here, and
#: never part of a line's text.
ending = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def lines_block(draw) -> str:
    lines = draw(st.lists(plain_line, max_size=4))
    return "".join(line + draw(ending) for line in lines)


@st.composite
def fenced_lookalike(draw) -> str:
    fence = draw(st.sampled_from(["```", "~~~", "````"]))
    name = draw(st.sampled_from(REGION_NAMES))
    nl = draw(ending)
    marker = draw(
        st.sampled_from([f"%% rotation-notes:{name} %%", f"%% /rotation-notes:{name} %%"])
    )
    return f"{fence}md{nl}{marker}{nl}{fence}{nl}"


@st.composite
def note_parts(draw):
    """A note as (segments, names): text segments around regions with old content."""
    names = draw(st.lists(st.sampled_from(REGION_NAMES), unique=True, max_size=4))
    segments: list[tuple[str, str]] = []  # (kind, text): kind "out" or region name
    for name in names:
        segments.append(("out", draw(st.one_of(lines_block(), fenced_lookalike()))))
        nl = draw(ending)
        segments.append(("out", f"%% rotation-notes:{name} %%{nl}"))
        segments.append((name, draw(lines_block())))
        segments.append(("out", f"%% /rotation-notes:{name} %%{draw(ending)}"))
    tail = draw(st.one_of(lines_block(), fenced_lookalike()))
    if draw(st.booleans()):  # no trailing newline
        tail += draw(plain_line.filter(lambda s: s != ""))
    segments.append(("out", tail))
    return _no_split_crlf(segments), names


def _no_split_crlf(segments: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A segment ending in a lone CR before one starting with LF would read as one CRLF
    ending, not the two lines the model means: end that segment with LF instead."""
    out = list(segments)
    for i in range(len(out) - 1):
        nxt = next((t for _, t in out[i + 1 :] if t), "")
        if out[i][1].endswith("\r") and nxt.startswith("\n"):
            out[i] = (out[i][0], out[i][1][:-1] + "\n")
    return out


def outside(text: str) -> str:
    """The note with every region's content lines removed (markers kept)."""
    note = decode_note(text.encode("utf-8", "surrogateescape"))
    regions = find_regions(note, "n")
    keep = [True] * len(note.lines)
    for r in regions:
        for i in range(r.begin + 1, r.end):
            keep[i] = False
    return "".join(line for line, k in zip(note.lines, keep, strict=True) if k)


@settings(max_examples=300, deadline=None)
@given(note_parts(), st.data())
def test_replace_never_changes_bytes_outside_regions(parts, data):
    segments, names = parts
    text = "".join(t for _, t in segments)
    bom = data.draw(st.booleans())
    raw = (BOM if bom else b"") + text.encode()
    note = decode_note(raw)
    contents = {n: data.draw(lines_block()) for n in names}
    new = replace_regions(note, find_regions(note, "n"), contents)
    expected_outside = "".join(t for kind, t in segments if kind == "out")
    assert outside(new) == expected_outside
    assert note.encode(new).startswith(BOM) == bom
    # applying the same contents again changes nothing
    again = decode_note(note.encode(new))
    assert replace_regions(again, find_regions(again, "n"), contents) == new


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(note_parts(), st.booleans(), ending)
def test_refresh_keeps_user_bytes_and_second_run_is_a_no_op(parts, bom, fm_nl):
    segments, _ = parts
    body = "".join(t for _, t in segments)
    front = THESIS_FRONTMATTER.replace("\n", fm_nl)
    raw = (BOM if bom else b"") + (front + body).encode()
    with tempfile.TemporaryDirectory() as tmp:
        vault = Path(tmp)
        (vault / ".obsidian").mkdir()
        note = vault / "thesis.md"
        note.write_bytes(raw)
        first = refresh(vault, RefreshOptions(as_of=None), provider=PROVIDER)
        assert [n.status for n in first.notes] != ["failed"], first.notes[0].error
        new_raw = note.read_bytes()
        assert new_raw.startswith(BOM) == bom
        new_text = decode_note(new_raw).text
        assert outside(new_text) == front + "".join(t for k, t in segments if k == "out")
        before = {
            p: (p.read_bytes(), p.stat().st_mtime_ns) for p in vault.rglob("*") if p.is_file()
        }
        second = refresh(vault, RefreshOptions(), provider=PROVIDER)
        assert [n.status for n in second.notes] == ["unchanged"]
        after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in vault.rglob("*") if p.is_file()}
        assert after == before
