"""``rotation-notes adopt``: a note kept by hand becomes a thesis, and nothing in it is lost.

Day one for a user is their own note, not the sample. These tests adopt the shared hand-kept
note (tests/fixtures/hand-notes/, a copy of ../shared/hand-notes/) and notes of other shapes
in temp vaults, through the real CLI, then refresh them and check what the user would: every
table once, one chart embed, each of their own lines still there, a ``.trash/`` copy of the
note as it was, and a second refresh that writes nothing.

Regenerate the golden file after an intended change with:
    UPDATE_GOLDEN=1 python -m pytest tests/test_adopt.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE_DATA, SHARED, run_cli, run_main, snapshot

FIXTURES = Path(__file__).parent / "fixtures" / "hand-notes"
HAND = FIXTURES / "Small cap rotation 2026.md"
GOLDEN = Path(__file__).parent / "golden" / "Small cap rotation 2026 adopted.md"
NAME = "Small cap rotation 2026.md"
CATALYST = "Claude Cowork disruption February 2026.md"


def vault_with(tmp_path: Path, files: dict[str, bytes], *, data: bool = True) -> Path:
    root = tmp_path / "vault"
    (root / ".obsidian").mkdir(parents=True)
    if data:
        shutil.copytree(SAMPLE_DATA, root / "Data" / "market-data")
        (root / "rotation-notes.toml").write_text('data_dir = "Data/market-data"\n')
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return root


def own_lines(text: str) -> list[str]:
    """The user's own lines that must survive: headings, bullets, prose (not table rows,
    the chart embed or its figure caption, which regions replace)."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("|") or s.startswith("![[") or s == "---":
            continue
        if s.startswith("*IWM (blue)") or s.startswith("_SPY (blue)"):
            continue  # the hand caption: its own sentence is kept, checked separately
        out.append(line)
    return out


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def test_fixture_is_the_shared_hand_note():
    shared = SHARED / "hand-notes" / NAME
    if not shared.exists():
        pytest.skip("../shared is not beside this checkout")
    assert HAND.read_bytes() == shared.read_bytes()


def test_adopt_proposes_and_changes_nothing_without_write(tmp_path):
    root = vault_with(tmp_path, {NAME: HAND.read_bytes()})
    before = snapshot(root)
    result = run_cli("adopt", root / NAME)
    assert result.returncode == 0, result.stderr
    assert snapshot(root) == before  # not a byte, not an mtime, no .trash/
    assert result.stdout.startswith(f"--- a/{NAME}\n+++ b/{NAME}\n")
    added = [ln[1:] for ln in result.stdout.splitlines() if ln.startswith("+")]
    assert "rotation-notes:" in added and "    ticker: IWM" in added and "    ticker: QQQ" in added
    assert not [ln for ln in result.stdout.splitlines() if ln.startswith("-") and ln[:4] != "--- "]
    assert "nothing written: run again with --write" in result.stderr
    assert "catalyst [[Claude Cowork disruption February 2026]]: no such note yet" in result.stderr


def test_adopting_the_shared_hand_note_then_refreshing(tmp_path):
    original = HAND.read_bytes()
    root = vault_with(tmp_path, {NAME: original})
    result = run_cli("adopt", root / NAME, "--write", "--create-catalysts")
    assert result.returncode == 0, result.stderr
    assert f"saved as .trash/{NAME}" in result.stderr
    assert (root / ".trash" / NAME).read_bytes() == original
    adopted = (root / NAME).read_text(encoding="utf-8")
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(adopted, encoding="utf-8")
    assert adopted == GOLDEN.read_text(encoding="utf-8")
    # the catalyst note it linked to now exists, with the documented properties and nothing else
    assert (root / CATALYST).read_bytes() == b"---\nevent_start:\nevent_end:\n---\n"

    # the owner fills in the event dates, then refreshes
    (root / CATALYST).write_bytes(b"---\nevent_start: 2026-02-03\nevent_end: 2026-02-04\n---\n")
    result = run_cli("refresh", root, "--offline")
    assert result.returncode == 0, result.stderr
    note = (root / NAME).read_text(encoding="utf-8")
    for header in ("| Metric |", "| Catalyst |", "| Period |", "| Ticker |"):
        assert note.count(header) == 1, header
    assert len(re.findall(r"!\[\[[^\]]+\.png", note)) == 1
    for stale in ("| Forward P/E | 18x | 26x |", "| Nasdaq | -1.7% |", "R2K +80%, S&P +15%"):
        assert stale not in note  # hand tables are gone: each table appears once
    lines = note.splitlines()
    assert is_subsequence(own_lines(original.decode()), lines)
    assert "*SaaSpocalypse week hit QQQ but small caps held.*" in lines
    assert "- Rate sensitivity — Small caps (R2K): High; Large caps (S&P): Low" in lines
    assert "- 2016-2017 — Outcome: R2K led for 6 months" in lines
    assert (root / "iwm-vs-qqq-price-chart.png").exists()
    assert "| [[Claude Cowork disruption February 2026]] | 2026-02-03 → 2026-02-04 |" in note

    before = snapshot(root)
    again = run_main("refresh", root, "--offline")
    assert again.returncode == 0, again.stderr
    assert snapshot(root) == before
    assert "0 updated, 1 unchanged" in again.stderr


def test_the_adopted_properties_are_a_valid_thesis_with_what_the_note_said(tmp_path):
    root = vault_with(tmp_path, {NAME: HAND.read_bytes()})
    result = run_main("adopt", root / NAME, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "proposed" and report["backup"] is None
    props = yaml.safe_load(report["properties"])
    spec = props["rotation-notes"]
    assert props["catalysts"] == ["[[Claude Cowork disruption February 2026]]"]
    assert spec["long"] == {"label": "Small caps (R2K)", "ticker": "IWM", "index": "^RUT"}
    # QQQ's own description says "Nasdaq 100": its index, though the prose says "Nasdaq"
    assert spec["short"] == {"label": "Large caps (S&P)", "ticker": "QQQ", "index": "^NDX"}
    assert spec["tracking"]["tickers"] == ["IWM", "IWO", "IWN", "QQQ"]
    assert spec["names"]["IWO"] == "iShares Russell 2000 Growth"
    (metric,) = spec["setup"]["metrics"]
    assert (metric["name"], metric["long"], metric["short"], metric["unit"]) == (
        "Forward P/E",
        18,
        26,
        "x",
    )
    assert str(metric["as_of"]) == "2026-02-04"  # "*Created 2026-02-04*"
    assert [(p["label"], str(p["start"]), str(p["end"])) for p in spec["history"]["periods"]] == [
        ("2000-2006", "2000-01-01", "2006-12-31"),
        ("2016-2017", "2016-01-01", "2017-12-31"),
    ]
    assert str(spec["history"]["since"]) == "2026-01-01"
    assert spec["history"]["symbols"] == ["^RUT", "^GSPC"]
    assert spec["catalysts"]["symbols"] == ["^RUT", "^IXIC"]
    assert spec["charts"] == [
        {"file": "iwm-vs-qqq-price-chart.png", "tickers": ["IWM", "QQQ"], "days": 90}
    ]
    assert [r["region"] for r in report["regions"]] == [
        "setup",
        "catalysts",
        "history",
        "charts",
        "tracking",
    ]
    assert report["missing_catalysts"] == ["Claude Cowork disruption February 2026"]
    assert report["placeholders"] == []


# --- notes of other shapes -----------------------------------------------------------------

VALUE_GROWTH = """\
---
tags:
  - thesis
  - value   # a comment the tool must never drop
aliases: [Value over growth]
created: 2026-03-02
---
#thesis

# Value over growth

Value has started to lead: $IWN over $IWO since March.

## Tracking

| Symbol | Name | Why |
|---|---|---|
| IWN | iShares Russell 2000 Value | core long |
| IWO | iShares Russell 2000 Growth | the other side |
| SPY | S&P 500 ETF (benchmark) | |

## Valuation

| Measure | Value | Growth |
|---|---:|---:|
| P/B | 1.4x | 4.1x |
| Dividend yield | 2.1% | 0.6% |
| Quality | lower | higher |

## Catalysts

- [[Rate cut September]] — cheaper money helps value
- [[Q3 earnings]]

## Notes

Keep an eye on banks.
"""

SPY_QQQ = """\
# Equal weight or not

Watching SPY against QQQ.

![[spy-vs-qqq.png|600]]
_SPY (blue) vs QQQ (red), last 30 days. Breadth is narrowing again._

## History

| Years | Context | Result |
|---|---|---|
| 1999–2000 | Dot-com top | S&P 500 -9%, Nasdaq -39% |
| 2008 | GFC | both fell |

## Catalysts

See [[FOMC December]].
"""


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("bom", [False, True])
def test_a_note_with_frontmatter_and_tags_keeps_every_byte_of_it(tmp_path, crlf, bom):
    text = VALUE_GROWTH.replace("\n", "\r\n") if crlf else VALUE_GROWTH
    raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    root = vault_with(tmp_path, {"Theses/Value over growth.md": raw})
    path = root / "Theses" / "Value over growth.md"
    result = run_main("adopt", path, "--write", "--create-catalysts")
    assert result.returncode == 0, result.stderr
    new = path.read_bytes()
    assert (root / ".trash" / "Value over growth.md").read_bytes() == raw
    assert new.startswith(b"\xef\xbb\xbf") == bom
    nl = b"\r\n" if crlf else b"\n"
    body = new[3:] if bom else new
    assert body.replace(nl, b"").count(b"\n") == 0 and body.replace(nl, b"").count(b"\r") == 0
    old_lines = raw.split(nl)
    new_lines = new.split(nl)
    # the old frontmatter lines are there, in order, before the closing ---; nothing changed
    close = old_lines.index(b"---", 1)
    assert new_lines[:close] == old_lines[:close]
    assert is_subsequence(old_lines, new_lines)  # adopt only inserts lines
    meta = yaml.safe_load(new.decode("utf-8-sig").split("---")[1])
    assert meta["tags"] == ["thesis", "value"] and meta["aliases"] == ["Value over growth"]
    assert b"  - value   # a comment the tool must never drop" in new
    spec = meta["rotation-notes"]
    assert (spec["long"]["ticker"], spec["short"]["ticker"]) == ("IWN", "IWO")
    assert (spec["long"]["label"], spec["short"]["label"]) == ("Value", "Growth")
    assert spec["tracking"] == {"tickers": ["IWN", "IWO", "SPY"], "compare": "SPY"}
    assert [m["name"] for m in spec["setup"]["metrics"]] == ["P/B", "Dividend yield"]
    assert str(spec["setup"]["metrics"][0]["as_of"]) == "2026-03-02"  # its 'created' property
    assert meta["catalysts"] == ["[[Rate cut September]]", "[[Q3 earnings]]"]
    assert "charts" not in spec
    decoded = new.decode("utf-8-sig")
    assert "- Quality — Value: lower; Growth: higher" in decoded  # a row no metric carries
    assert "- IWN — Why: core long" in decoded

    for name, day in (("Rate cut September", "2026-03-18"), ("Q3 earnings", "2026-04-14")):
        created = root / f"{name}.md"  # where Obsidian puts new notes by default: the root
        assert created.read_bytes() == b"---\nevent_start:\nevent_end:\n---\n"
        created.write_text(f"---\nevent_start: {day}\nevent_end:\n---\n")
    result = run_main("refresh", root)
    assert result.returncode == 0, result.stderr
    refreshed = path.read_bytes()
    assert refreshed.startswith(b"\xef\xbb\xbf") == bom
    after = refreshed.decode("utf-8-sig").replace("\r\n", "\n")
    for line in ("Keep an eye on banks.", "- [[Rate cut September]] — cheaper money helps value"):
        assert line in after.splitlines()
    assert after.count("| Measure |") == 0 and after.count("| Metric |") == 1


def test_an_embed_with_a_size_an_underscore_caption_and_year_tables(tmp_path):
    root = vault_with(tmp_path, {"Equal weight.md": SPY_QQQ.encode()})
    result = run_main("adopt", root / "Equal weight.md", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    spec = yaml.safe_load(report["properties"])["rotation-notes"]
    assert (spec["long"]["ticker"], spec["short"]["ticker"]) == ("SPY", "QQQ")
    assert spec["long"]["index"] == "^GSPC"
    assert spec["charts"] == [{"file": "spy-vs-qqq.png", "tickers": ["SPY", "QQQ"], "days": 30}]
    periods = spec["history"]["periods"]
    assert [(p["label"], str(p["start"]), str(p["end"])) for p in periods] == [
        ("1999–2000", "1999-01-01", "2000-12-31"),
        ("2008", "2008-01-01", "2008-12-31"),
    ]
    assert [p["setup"] for p in periods] == ["Dot-com top", "GFC"]
    assert spec["history"]["symbols"] == ["^GSPC", "^IXIC"]
    charts = next(r for r in report["regions"] if r["region"] == "charts")
    assert charts["kept"] == ["_Breadth is narrowing again._"]
    history = next(r for r in report["regions"] if r["region"] == "history")
    assert history["kept"] == ["- 2008 — Result: both fell"]
    assert report["missing_catalysts"] == ["FOMC December"]
    assert "properties" in report and "diff" in report


def test_a_chart_the_user_made_is_left_alone_and_the_thesis_gets_its_own(tmp_path):
    own_png = b"\x89PNG\r\n\x1a\n" + b"a screenshot the user pasted"
    root = vault_with(
        tmp_path, {NAME: HAND.read_bytes(), "Attachments/iwm-vs-qqq-price-chart.png": own_png}
    )
    result = run_main("adopt", root / NAME, "--write")
    assert result.returncode == 0, result.stderr
    assert "was not drawn by rotation-notes; it is left as it is" in result.stderr
    note = (root / NAME).read_text(encoding="utf-8")
    assert "file: iwm-vs-qqq-price-chart-rotation-notes.png" in note
    (root / CATALYST).write_text("---\nevent_start: 2026-02-03\n---\n")
    result = run_main("refresh", root)
    assert result.returncode == 0, result.stderr
    assert (root / "Attachments" / "iwm-vs-qqq-price-chart.png").read_bytes() == own_png
    assert (root / "iwm-vs-qqq-price-chart-rotation-notes.png").exists()


def test_what_it_cannot_infer_is_a_placeholder_a_refresh_names(tmp_path):
    note = "# Gold miners\n\nLong $GDX here.\n"
    root = vault_with(tmp_path, {"Gold.md": note.encode()})
    result = run_main("adopt", root / "Gold.md", "--write")
    assert result.returncode == 0, result.stderr
    assert 'placeholder: rotation-notes.short.ticker is "?"' in result.stderr
    text = (root / "Gold.md").read_text()
    line = next(
        i for i, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith('ticker: "?"')
    )
    assert "# adopt: the short leg's ticker" in text.splitlines()[line - 1]
    result = run_main("refresh", root)
    assert result.returncode == 2
    assert f"Gold.md:{line}: '?' is not a ticker symbol (key: rotation-notes.short.ticker)" in (
        result.stderr
    )


# --- refusals ----------------------------------------------------------------------------------

REFUSALS = {
    "already a thesis": (
        b"---\nrotation-notes:\n  long: {ticker: IWM}\n  short: {ticker: QQQ}\n---\n# T\n",
        "is already a thesis",
        "rotation-notes refresh VAULT --note",
    ),
    "near-miss key": (
        b"---\nrotation_notes:\n  long: {ticker: IWM}\n---\n| Ticker |\n|---|\n| IWM |\n",
        "has a 'rotation_notes' property, a misspelling of 'rotation-notes'",
        "rename it to 'rotation-notes:'",
    ),
    "markers": (
        b"# T\n\n%% rotation-notes:setup %%\n%% /rotation-notes:setup %%\n$IWM $QQQ\n",
        "T.md:3: already holds rotation-notes markers",
        "add the rotation-notes properties by hand",
    ),
    "not UTF-8": (
        b"# T\n\n$IWM vs $QQQ \xff\n",
        "T.md:3: note is not valid UTF-8: the first bad byte is at offset 18 (line 3)",
        "re-save it as UTF-8",
    ),
    "no tickers": (
        b"# Musings\n\nSmall caps might do well.\n",
        "found no tickers in the note",
        "add a table with a Ticker column",
    ),
    "flow frontmatter": (
        b"---\n{tags: [a]}\n---\n$IWM vs $QQQ\n",
        "cannot add the properties as text to this note's frontmatter",
        "add the rotation-notes properties by hand",
    ),
    "catalysts used otherwise": (
        b"---\ncatalysts: earnings and the Fed\n---\n$IWM vs $QQQ\n",
        "its 'catalysts' property holds something other than links to notes",
        "rename that property",
    ),
    "bad YAML": (
        b"---\ntags: [a\n---\n$IWM vs $QQQ\n",
        "T.md:",
        "",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_note_it_cannot_adopt_is_refused_with_the_reason(tmp_path, case):
    raw, message, hint = REFUSALS[case]
    root = vault_with(tmp_path, {"T.md": raw}, data=False)
    before = snapshot(root)
    for write in ([], ["--write"]):
        result = run_main("adopt", root / "T.md", *write)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and hint in result.stderr
        assert "internal error" not in result.stderr
        assert snapshot(root) == before  # nothing written, no .trash/ copy


def test_a_failed_write_leaves_no_trash_copy(tmp_path):
    root = vault_with(tmp_path, {NAME: HAND.read_bytes()}, data=False)
    (root / NAME).chmod(0o444)
    try:
        result = run_main("adopt", root / NAME, "--write")
    finally:
        (root / NAME).chmod(0o644)
    if os.geteuid() == 0 and result.returncode == 0:
        pytest.skip("root writes read-only files")
    assert result.returncode == 2
    assert "read-only" in result.stderr and "make it writable to adopt it" in result.stderr
    assert not (root / ".trash").exists()
    assert (root / NAME).read_bytes() == HAND.read_bytes()


def test_a_second_adopt_keeps_the_first_backup(tmp_path):
    root = vault_with(tmp_path, {NAME: HAND.read_bytes()}, data=False)
    (root / ".trash").mkdir()
    (root / ".trash" / NAME).write_bytes(b"an older deleted note")
    result = run_main("adopt", root / NAME, "--write")
    assert result.returncode == 0, result.stderr
    assert (root / ".trash" / NAME).read_bytes() == b"an older deleted note"
    assert (root / ".trash" / "Small cap rotation 2026 1.md").read_bytes() == HAND.read_bytes()
    assert "saved as .trash/Small cap rotation 2026 1.md" in result.stderr


def test_adopt_usage_errors(tmp_path):
    root = vault_with(tmp_path, {"a.txt": b"x"}, data=False)
    for target, message in (
        (root / "missing.md", "no such note"),
        (root / "a.txt", "is not a markdown note"),
        (tmp_path / "outside.md", "not inside an Obsidian vault"),
    ):
        if target.name == "outside.md":
            target.write_text("$IWM vs $QQQ\n")
        result = run_main("adopt", target)
        assert result.returncode == 2 and message in result.stderr, result.stderr


# --- the class: adopt only ever inserts lines ---------------------------------------------------

_words = st.text(st.sampled_from("abc XYZ$|*_-[]#:!.%+0123456789\t"), min_size=0, max_size=30)
_blocks = st.one_of(
    _words,
    st.builds(lambda w: f"# {w}", _words),
    st.builds(lambda w: f"## The setup {w}", _words),
    st.just("## Catalysts"),
    st.builds(lambda w: f"- [[{w.strip('[]|#^') or 'x'}]]", _words),
    st.just("| Ticker | Description |\n|---|---|\n| IWM | small |\n| QQQ | big |"),
    st.just("| Metric | A | B |\n|---|---|---|\n| P/E | 18x | 26x |\n| Mood | calm | — |"),
    st.just("| Period | Setup | Outcome |\n|---|---|---|\n| 2000-2006 | x | +1% |"),
    st.just("| Index | Move |\n|---|---|\n| Nasdaq | -1% |\n| Russell 2000 | +1% |"),
    st.builds(lambda w: f"![[iwm-vs-qqq.png]]\n*IWM vs QQQ, last 9 days. {w}*", _words),
    st.just("```\n| Ticker |\n|---|\n| SPY |\n```"),
    st.just("$IWM vs $QQQ"),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(_blocks, min_size=1, max_size=10),
    nl=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    frontmatter=st.sampled_from(["", "---\ntags: [a]\n---\n", "---\ntitle: x  # c\n---\n"]),
    end=st.sampled_from(["", "\n"]),
)
def test_adopt_keeps_every_line_in_order_or_refuses(blocks, nl, bom, frontmatter, end):
    from rotation_notes.adopt import adopted_text, check_adoptable, propose
    from rotation_notes.errors import NoteError
    from rotation_notes.note.text import decode_note, parse_frontmatter, split_lines
    from rotation_notes.thesis.spec import SPEC_KEY

    text = (frontmatter + "\n\n".join(blocks) + end).replace("\n", nl)
    raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    note = decode_note(raw)
    try:
        meta = check_adoptable(note, "T.md")
        proposal = propose(note, "T.md")
        new_text = adopted_text(note, proposal, "T.md")
    except NoteError:
        return  # refused, with a message (the tests above check the messages)
    assert is_subsequence(split_lines(note.text), split_lines(new_text)) or (
        # a last line without an ending gains one when a region closes after it
        is_subsequence([*split_lines(note.text)[:-1], split_lines(note.text)[-1] + note.newline],
                       split_lines(new_text))
    )  # fmt: skip
    if note.text:  # a final line ending is kept, and so is its absence
        assert new_text.endswith(("\n", "\r")) == note.text.endswith(("\n", "\r"))
    new = decode_note(note.encode(new_text))
    assert new.raw.startswith(b"\xef\xbb\xbf") == bom
    new_meta = parse_frontmatter(new, "T.md")
    assert SPEC_KEY in new_meta
    assert {k: v for k, v in new_meta.items() if k not in (SPEC_KEY, "catalysts")} == meta


# --- a stranger's notes: the second round ------------------------------------------------------

CATALYST_TABLE = """\
# Banks vs tech

![[kre-vs-xlk.png]]

## Catalysts

| Event | When | Note |
|---|---|---|
| [[Stress test results]] | 2026-06-27 | capital buffers cut |
| [[Fed: cut]] | 2026-09-17 | +25bp |

## History

| Period | Outcome |
|---|---|
| 1999-00 | KRE +12% |
| 2016-2015 | typo row |
"""


def test_a_table_of_catalyst_links_becomes_the_catalyst_region(tmp_path):
    root = vault_with(tmp_path, {"Banks.md": CATALYST_TABLE.encode()}, data=False)
    result = run_main("adopt", root / "Banks.md", "--write", "--create-catalysts", "--json")
    report = json.loads(result.stdout)
    props = yaml.safe_load(report["properties"])
    assert props["catalysts"] == ["[[Stress test results]]", "[[Fed: cut]]"]
    assert "catalysts" not in props["rotation-notes"]  # no index columns: the legs' default
    regions = {r["region"]: r for r in report["regions"]}
    assert regions["catalysts"]["kept"] == ["- [[Stress test results]] — Note: capital buffers cut"]
    (period,) = props["rotation-notes"]["history"]["periods"]
    assert (period["label"], str(period["start"]), str(period["end"])) == (
        "1999-00",
        "1999-01-01",
        "2000-12-31",
    )
    assert regions["history"]["kept"] == ["- 2016-2015 — typo row"]
    # a note named 'Fed: cut.md' cannot exist on Windows or sync there: named, not created
    assert report["created_catalysts"] == ["Stress test results.md"]
    assert report["failed_catalysts"][0].startswith("[[Fed: cut]]: ")
    assert "character notes cannot have" in report["failed_catalysts"][0]
    assert result.returncode == 2  # adopted, but something asked for was not done
    assert report["status"] == "written"
    assert "catalyst [[Fed: cut]]" in result.stderr and "not created" in result.stderr


@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_trash_that_is_not_a_folder_stops_adopt_before_any_write(tmp_path, kind):
    root = vault_with(tmp_path, {NAME: HAND.read_bytes()}, data=False)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    if kind == "file":
        (root / ".trash").write_bytes(b"not a folder")
    else:
        (root / ".trash").symlink_to(outside)
    before = snapshot(root)
    result = run_main("adopt", root / NAME, "--write")
    assert result.returncode == 2
    assert ".trash in the vault is not a folder" in result.stderr
    assert snapshot(root) == before
    assert list(outside.iterdir()) == []  # nothing saved outside the vault through the link


def test_json_says_why_a_note_was_refused(tmp_path):
    root = vault_with(tmp_path, {"T.md": b"# Musings\n"}, data=False)
    result = run_main("adopt", root / "T.md", "--json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["status"] == "refused" and "found no tickers" in report["error"]


def test_catalyst_notes_are_created_where_obsidian_creates_new_notes(tmp_path):
    root = vault_with(tmp_path, {"Theses/" + NAME: HAND.read_bytes()}, data=False)
    app = {"newFileLocation": "folder", "newFileFolderPath": "Inbox/Events"}
    (root / ".obsidian" / "app.json").write_text(json.dumps(app))
    result = run_main("adopt", root / "Theses" / NAME, "--write", "--create-catalysts")
    assert result.returncode == 0, result.stderr
    assert (root / "Inbox" / "Events" / CATALYST).read_bytes() == (
        b"---\nevent_start:\nevent_end:\n---\n"
    )
    app["newFileLocation"] = "current"
    (root / ".obsidian" / "app.json").write_text(json.dumps(app))
    (root / "Other.md").write_bytes(HAND.read_bytes().replace(b"Claude Cowork", b"Another"))
    result = run_main("adopt", root / "Other.md", "--write", "--create-catalysts")
    assert result.returncode == 0, result.stderr
    assert (root / "Another disruption February 2026.md").exists()  # the note's own folder


def test_the_readme_your_own_note_block_works_as_written(tmp_path):
    """README's third quick-start block, run as written, in a temp folder instead of /tmp/try."""
    import subprocess
    import sys

    from conftest import NO_NETWORK, ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Your own note", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    assert block.count(".venv/bin/rotation-notes ") == 3  # two adopts, one refresh
    try_dir = tmp_path / "try"
    script = block.replace("/tmp/try", str(try_dir)).replace(
        ".venv/bin/rotation-notes", f'"{sys.executable}" -m rotation_notes'
    )
    env = {**os.environ, **NO_NETWORK}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert (try_dir / ".trash" / NAME).read_bytes() == HAND.read_bytes()
    note = (try_dir / NAME).read_text(encoding="utf-8")
    assert "| Ticker | Description | Last close |" in note
    assert "| [[Claude Cowork disruption February 2026]] |" in note  # the row, n/a until dated
    assert "1 updated, 0 unchanged, 0 failed" in done.stderr


# --- the attack round: each defect a stranger's note found, as a class ---------------------------


def adopt_json(tmp_path: Path, note: str, files: dict[str, bytes] | None = None) -> dict:
    root = vault_with(tmp_path, {"N.md": note.encode(), **(files or {})}, data=False)
    result = run_main("adopt", root / "N.md", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    report["spec"] = yaml.safe_load(report["properties"])["rotation-notes"]
    report["kept"] = [k for r in report["regions"] for k in r["kept"]]
    return report


def test_figures_no_price_can_give_are_never_dropped(tmp_path):
    report = adopt_json(
        tmp_path,
        "# R\n\nLong $IWM short $QQQ.\n\n## Setup\n\n"
        "| Metric | IWM | QQQ | Source |\n|---|---|---|---|\n"
        "| Forward P/E | 18x | 26x | FactSet |\n| EPS growth | +12% | TBD | |\n"
        "| Dividend yield | 1.5% | 0.6% | |\n|  | 1 | 2 | |\n\n## Tracking\n\n"
        "| Ticker | Name | Weight | Role |\n|---|---|---|---|\n"
        "| IWM | Russell 2000 | 35% | core |\n| QQQ | Nasdaq 100 | -20% | hedge |\n"
        "| Cash | Dry powder for dips | | |\n| iwn | value tilt, maybe later | | |\n"
        "| IWM | again | | |\n",
    )
    metrics = {m["name"]: m for m in report["spec"]["setup"]["metrics"]}
    assert metrics["Forward P/E"]["source"] == "FactSet"
    assert (metrics["Dividend yield"]["long"], metrics["Dividend yield"]["unit"]) == (1.5, "%")
    assert "- EPS growth — IWM: +12%; QQQ: TBD" in report["kept"]
    assert "- IWM — Weight: 35%; Role: core" in report["kept"]
    assert "- QQQ — Weight: -20%; Role: hedge" in report["kept"]
    assert "- Cash — Name: Dry powder for dips" in report["kept"]
    assert "- iwn — Name: value tilt, maybe later" in report["kept"]
    assert "- IWM — Name: again" in report["kept"]  # a second row for a ticker
    assert report["spec"]["tracking"]["tickers"] == ["IWM", "QQQ"]
    assert "- 1; 2" not in report["kept"] and any("1" in k for k in report["kept"])


def test_tickers_written_as_links_or_with_a_flag_are_tickers(tmp_path):
    report = adopt_json(
        tmp_path,
        "# R\n\n| Ticker | Description |\n|---|---|\n| [[IWM]] | Russell 2000, my core |\n"
        "| [QQQ](https://finance.yahoo.com/quote/QQQ) | Nasdaq hedge |\n"
        "| SPY 🇺🇸 | S&P benchmark |\n",
    )
    assert report["spec"]["tracking"]["tickers"] == ["IWM", "QQQ", "SPY"]
    assert (report["spec"]["long"]["ticker"], report["spec"]["short"]["ticker"]) == ("IWM", "QQQ")
    assert report["spec"]["names"]["IWM"] == "Russell 2000, my core"


def test_tables_hidden_in_comments_are_not_adopted(tmp_path):
    note = (
        "# R\n\nLong $IWM short $QQQ.\n\n%%\nOld draft, hidden:\n| Ticker | Description |\n"
        "|---|---|\n| IWM | old idea |\n%%\n\n## Setup\n\n<!--\n| Metric | A | B |\n|---|---|---|\n"
        "| P/E | 1x | 2x |\n-->\n"
    )
    report = adopt_json(tmp_path, note)
    assert report["regions"] == []
    assert "setup" not in report["spec"] and "tracking" not in report["spec"]
    added = "\n".join(ln for ln in report["diff"].splitlines() if ln.startswith("+"))
    assert "old idea" not in added and "P/E" not in added  # nothing in a comment is read


def test_another_theses_chart_or_the_users_picture_is_never_taken(tmp_path):
    root = vault_with(tmp_path, {}, data=True)
    shutil.copytree(SAMPLE_DATA.parent.parent, root, dirs_exist_ok=True)  # the sample thesis
    (root / "Second idea.md").write_text(
        "# Second idea\n\n![[iwm-vs-qqq-price-chart.png]]\n*IWM vs QQQ, last 30 days.*\n\n"
        "Long $IWM short $QQQ.\n"
    )
    result = run_main("adopt", root / "Second idea.md", "--write")
    assert result.returncode == 0, result.stderr
    assert "is the chart of Small cap rotation 2026.md" in result.stderr
    text = (root / "Second idea.md").read_text()
    assert "![[iwm-vs-qqq-price-chart.png]]\n*IWM vs QQQ, last 30 days.*" in text  # left alone
    assert "file: iwm-vs-qqq-price-chart-rotation-notes.png" in text
    result = run_main("refresh", root, "--offline")
    assert result.returncode == 0, result.stderr  # the sample thesis still refreshes

    shot = b"\x89PNG\r\n\x1a\n" + b"a Koyfin screenshot"
    (root / "Third.md").write_text(
        "# Third\n\n![[iwm-vs-qqq.png|500]]\n*My Koyfin screenshot from January.*\n\n"
        "Long $IWM short $QQQ.\n"
    )
    (root / "Attachments" / "iwm-vs-qqq.png").write_bytes(shot)
    result = run_main("adopt", root / "Third.md", "--write")
    assert result.returncode == 0, result.stderr
    text = (root / "Third.md").read_text()
    assert "![[iwm-vs-qqq.png|500]]\n*My Koyfin screenshot from January.*" in text
    assert (root / "Attachments" / "iwm-vs-qqq.png").read_bytes() == shot


def test_legs_follow_the_notes_own_words(tmp_path):
    def legs(note: str, files: dict[str, bytes] | None = None) -> tuple[str, str]:
        spec = adopt_json(tmp_path / str(len(list(tmp_path.iterdir()))), note, files)["spec"]
        return spec["long"]["ticker"], spec["short"]["ticker"]

    assert legs("# R\n\nShort $QQQ, long $IWM.\n") == ("IWM", "QQQ")
    assert legs("# R\n\nLong $IWM short $SPY.\n\n![[spy-vs-iwm-chart.png]]\n") == ("IWM", "SPY")
    assert legs(
        "# R\n\n| Ticker | Description |\n|---|---|\n| SPY | S&P (benchmark) |\n"
        "| IWM | small |\n| QQQ | big |\n"
    ) == ("IWM", "QQQ")
    assert legs("# R\n\n![[small-caps-vs-tech.png]]\n\nLong $IWM short $QQQ.\n") == ("IWM", "QQQ")
    assert legs("# R\n\n`$TSLA` is an example.\n\n$IWM vs $QQQ\n") == ("IWM", "QQQ")


def test_setup_columns_are_matched_to_the_legs_they_name(tmp_path):
    report = adopt_json(
        tmp_path,
        "# R\n\n![[iwm-vs-qqq-price-chart.png]]\n\n## Setup\n\n"
        "| Metric | Large caps (QQQ) | Small caps (IWM) |\n|---|---|---|\n"
        "| Forward P/E | 26x | 18x |\n",
    )
    spec = report["spec"]
    assert spec["long"]["label"] == "Small caps (IWM)" and spec["short"]["ticker"] == "QQQ"
    (m,) = spec["setup"]["metrics"]
    assert (m["long"], m["short"]) == (18, 26)


def test_small_inferences_a_user_would_check(tmp_path):
    report = adopt_json(
        tmp_path,
        "---\ncreated: 2026-03-01\n---\n# R\n\n![[iwm-vs-qqq.png]]\n"
        "*IWM vs QQQ over 6 months. Note the 3-day selloff in Feb.*\n\n## Setup\n\n"
        "| Metric | IWM | QQQ |\n|---|---|---|\n| P/E | 18x | 26x |\n| EV/S | 2x | 6x |\n"
        "| Valuation gap | wide | — |\n\n## History\n\n| Period | Setup |\n|---|---|\n"
        "| 2000-2006 | dot-com |\n| 2030 | a guess |\n",
    )
    spec = report["spec"]
    assert "days" not in spec.get("charts", [{}])[0]  # "3-day selloff" is not the window
    assert "label" not in spec["long"]  # a column head that is the ticker is no label
    assert not any(m.get("gap") for m in spec["setup"]["metrics"])  # which metric? unsure
    assert "since" not in spec["history"]  # 2030 is not this thesis's year
    assert "- 2030 — a guess" in report["kept"]


def test_background_links_and_an_existing_catalysts_property(tmp_path):
    report = adopt_json(
        tmp_path,
        "# R\n\nLong $IWM short $QQQ.\n\n## Catalysts\n\n- [[Events/FOMC June|June FOMC]] cut\n"
        "- [[Fed policy]] background reading\n",
        {"Fed policy.md": b"# Fed policy\n\nNotes.\n"},
    )
    assert yaml.safe_load(report["properties"])["catalysts"] == ["[[Events/FOMC June]]"]
    assert any("[[Fed policy]]" in n and "no event_start" in n for n in report["notes"])
    report = adopt_json(
        tmp_path / "b",
        '---\ncatalysts:\n  - "[[FOMC]]"\n---\n# R\n\n$IWM $QQQ\n\n## Catalysts\n\n- [[CPI]]\n',
    )
    assert "catalysts" not in yaml.safe_load(report["properties"])
    assert any("add these links to it" in n and "[[CPI]]" in n for n in report["notes"])


def test_escaped_pipes_are_pipes_in_properties(tmp_path):
    report = adopt_json(
        tmp_path,
        "# R\n\n| Ticker | Description |\n|---|---|\n| IWM | Russell 2000 \\| small caps |\n"
        "| QQQ | Nasdaq |\n",
    )
    assert report["spec"]["names"]["IWM"] == "Russell 2000 | small caps"


def test_a_link_to_a_note_outside_the_vault_is_refused(tmp_path):
    root = vault_with(tmp_path, {}, data=False)
    outside = tmp_path / "elsewhere.md"
    outside.write_text("$IWM vs $QQQ\n")
    (root / "link.md").symlink_to(outside)
    result = run_main("adopt", root / "link.md", "--json")
    assert result.returncode == 2
    assert "is a link to a file outside the vault" in result.stderr
    assert json.loads(result.stdout)["status"] == "refused"


def test_create_catalysts_never_writes_into_hidden_folders(tmp_path):
    root = vault_with(tmp_path, {"N.md": b"$IWM $QQQ\n\n## Catalysts\n\n- [[.obsidian/app]]\n"})
    result = run_main("adopt", root / "N.md", "--write", "--create-catalysts")
    assert result.returncode == 2
    assert "hidden folder" in result.stderr
    assert not (root / ".obsidian" / "app.md").exists()


def test_init_on_a_hand_kept_note_says_which_hand_tables_are_now_twice(tmp_path):
    """Properties added by hand, then --init: the hand tables stay (their figures may not be in
    the properties), and the run names each, at its line in the note as written."""
    props = b"---\nrotation-notes:\n  long:\n    ticker: IWM\n  short:\n    ticker: QQQ\n---\n"
    root = vault_with(tmp_path, {NAME: props + HAND.read_bytes()})
    result = run_main("refresh", root, "--init", "--offline")
    assert result.returncode == 0, result.stderr
    lines = (root / NAME).read_text(encoding="utf-8").splitlines()
    said = re.findall(
        r"line (\d+): the (.+?) is still there beside the new (\w+) region", (result.stderr)
    )
    assert [(what, region) for _, what, region in said] == [
        ("setup table", "setup"),
        ("catalyst table", "catalysts"),
        ("history table", "history"),
        ("chart embed", "charts"),
        ("Ticker table", "tracking"),
    ]
    starts = [lines[int(n) - 1] for n, _, _ in said]
    assert starts == [
        "| Metric | Small caps (R2K) | Large caps (S&P) |",
        "| Index | Feb 3-4 move |",
        "| Period | Setup | Outcome |",
        "![[iwm-vs-qqq-price-chart.png]]",
        "| Ticker | Description |",
    ]
    again = run_main("refresh", root, "--offline")
    assert "is still there" not in again.stderr  # said once, when --init made it so


def test_quiet_adopt_still_prints_the_diff_and_its_errors(tmp_path):
    root = vault_with(tmp_path, {"Banks.md": CATALYST_TABLE.encode()}, data=False)
    result = run_main("-q", "adopt", root / "Banks.md", "--write", "--create-catalysts")
    assert result.returncode == 2
    assert result.stdout.startswith("--- a/Banks.md\n")
    assert result.stderr.startswith("rotation-notes: error: catalyst [[Fed: cut]]: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("command", [["adopt", "--write"], ["refresh", "--init", "--offline"]])
def test_a_note_without_a_final_line_ending_keeps_it(tmp_path, command):
    """Regions inserted at the end (adopt, --init) end without a line ending when the note did."""
    body = (
        "# T\r\n\r\nlong $IWM, short $QQQ\r\n\r\n| Ticker | Name |\r\n|---|---|\r\n"
        "| IWM | a |\r\nend words"
    )
    if command[0] == "refresh":
        body = (
            "---\r\nrotation-notes:\r\n  long: {ticker: IWM}\r\n  short: {ticker: QQQ}\r\n---\r\n"
            + body
        )
    raw = b"\xef\xbb\xbf" + body.encode()
    root = vault_with(tmp_path, {"crlf.md": raw})
    target = root / "crlf.md" if command[0] == "adopt" else root
    result = run_main(command[0], target, *command[1:])
    assert result.returncode == 0, result.stderr
    new = (root / "crlf.md").read_bytes()
    assert new != raw and new.startswith(b"\xef\xbb\xbf")
    assert (
        not new.endswith((b"\n", b"\r"))
        and b"\r\n" in new
        and b"\n" not in new.replace(b"\r\n", b"")
    )


def test_catalyst_names_windows_or_sync_would_refuse_are_not_created(tmp_path):
    note = "# R\n\nLong $IWM short $QQQ.\n\n## Catalysts\n\n- [[CON]]\n- [[trail. ]]\n- [[Fine]]\n"
    root = vault_with(tmp_path, {"N.md": note.encode()}, data=False)
    result = run_main("adopt", root / "N.md", "--write", "--create-catalysts")
    assert result.returncode == 2
    assert (root / "Fine.md").exists()
    assert not (root / "CON.md").exists() and not list(root.glob("trail*"))
    assert "device name Windows reserves" in result.stderr
    assert "no such note yet" not in result.stderr.split("[[CON]]")[1].split("\n")[0]


def test_a_note_in_a_hidden_folder_is_not_adopted(tmp_path):
    root = vault_with(tmp_path, {".obsidian/snippets/n.md": b"$IWM vs $QQQ\n"}, data=False)
    result = run_main("adopt", root / ".obsidian" / "snippets" / "n.md")
    assert result.returncode == 2 and "hidden folder" in result.stderr


def test_json_and_diff_together_is_a_usage_error(tmp_path):
    root = vault_with(tmp_path, {"n.md": b"# n\n"}, data=False)
    result = run_main("refresh", root, "--json", "--diff")
    assert result.returncode == 2 and result.stdout == ""
    assert "--json and --diff cannot be combined" in result.stderr


OTHER_ORDER = """\
---
tags: [thesis, rates]
---
# Equal weight over cap weight

Long $RSP, short $SPY: breadth should come back.

## Tracking

![[rsp-vs-spy.png]]
*RSP (blue) vs SPY (red), last 60 days. Breadth still narrow.*

| Ticker | Description |
|---|---|
| RSP | Invesco S&P 500 Equal Weight |
| SPY | SPDR S&P 500 |

## Catalysts

| Event | Note |
|---|---|
| [[CPI cools]] | the first soft print |

## The setup

| Metric | Equal weight | Cap weight |
|---|---|---|
| Forward P/E | 16x | 22x |
| Top-10 weight | 2% | 38% |
| Mood | hopeful | crowded |

## Historical parallels

| Period | Setup | Outcome |
|---|---|---|
| 2001-2006 | after the bubble | RSP led |
"""


@pytest.mark.parametrize(
    "name, text",
    [
        ("Value over growth.md", VALUE_GROWTH),
        ("Equal weight or not.md", SPY_QQQ),
        ("Equal weight.md", OTHER_ORDER),
        ("Banks.md", CATALYST_TABLE.replace("[[Fed: cut]]", "[[Fed cut]]")),
    ],
)
def test_notes_of_other_shapes_adopted_then_refreshed(tmp_path, name, text):
    """What the issue asks of every note: after adopt --write and a refresh, each table once,
    one chart embed at most, every line of the user's own, and a .trash copy as it was."""
    csv = (SAMPLE_DATA / "SPY.csv").read_text()
    root = vault_with(
        tmp_path,
        {name: text.encode(), "Data/market-data/RSP.csv": csv.encode()},  # RSP: SPY's bars
    )
    for symbol in ("KRE", "XLK"):
        (root / "Data" / "market-data" / f"{symbol}.csv").write_text(csv)
    result = run_main("adopt", root / name, "--write", "--create-catalysts")
    assert result.returncode == 0, result.stderr
    assert (root / ".trash" / name).read_bytes() == text.encode()
    for created in re.findall(r"catalyst \[\[(.+?)\]\]: created", result.stderr):
        (root / f"{created}.md").write_text("---\nevent_start: 2026-03-10\nevent_end:\n---\n")
    result = run_main("refresh", root, "--offline")
    assert result.returncode == 0, result.stderr
    note = (root / name).read_text(encoding="utf-8")
    lines = note.splitlines()
    heads = [ln for ln in lines if ln.startswith("| ") and lines.index(ln) + 1 < len(lines)]
    table_heads = [h for i, h in enumerate(lines) if h in heads and i + 1 < len(lines)
                   and lines[i + 1].startswith("|--")]  # fmt: skip
    assert len(table_heads) == len(set(table_heads)), table_heads  # no table twice
    for generated in ("| Metric |", "| Catalyst |", "| Period |", "| Ticker |"):
        assert sum(h.startswith(generated) for h in table_heads) <= 1
    assert len(re.findall(r"!\[\[[^\]]+\.png", note)) <= 1
    mine = [ln for ln in own_lines(text) if not ln.startswith(("*RSP (blue)", "_SPY (blue)"))]
    body = mine[mine.index("---") + 1 :] if "---" in mine else mine
    assert is_subsequence([ln for ln in body if not ln.startswith(("tags:", "created:"))], lines)
    before = snapshot(root)
    again = run_main("refresh", root, "--offline")
    assert again.returncode == 0, again.stderr
    assert snapshot(root) == before


def test_a_metric_dated_after_the_data_is_not_minus_days_old(make_vault):
    from conftest import THESIS_FRONTMATTER

    props = THESIS_FRONTMATTER.replace(
        "  history:",
        "  setup:\n    metrics:\n      - {name: P/E, long: 1, short: 2, source: me, "
        "as_of: 2026-12-01}\n  history:",
    )
    root = make_vault(
        {"t.md": props + "# T\n\n%% rotation-notes:setup %%\n%% /rotation-notes:setup %%\n"}
    )
    result = run_main("refresh", root, "--offline")
    assert result.returncode == 0, result.stderr
    text = (root / "t.md").read_text()
    assert "*P/E: me, as of 2026-12-01 (dated after the last session used).*" in text
    assert "days old" not in text
