"""A mistake costs one row, not the note (issue 13).

A catalyst note that cannot give an event window (there is no such note, it cannot be read,
its properties are broken, a date is bad) is that catalyst's mistake: its row shows the link
and n/a with the reason under the table, the refresh warns naming the thesis and the link,
and the rest of the thesis is refreshed. A ticker the tables show that has no data at all is
n/a in the note and a warning on the console too.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import rotation_notes.refresh as refresh_module
from conftest import THESIS_FRONTMATTER, run_cli, run_main

REGIONS = "".join(
    f"%% rotation-notes:{n} %%\n%% /rotation-notes:{n} %%\n"
    for n in ("headline", "updated", "setup", "catalysts", "history", "tracking")
)


def thesis(links: list[str], *, spec: str = "", body: str = "") -> str:
    """THESIS_FRONTMATTER listing ``links`` as its catalysts, ``spec`` lines added."""
    top = "catalysts:\n" + "".join(f'  - "[[{link}]]"\n' for link in links) if links else ""
    front = THESIS_FRONTMATTER.replace("---\n", "---\n" + top, 1)
    front = front.replace("  history:", spec + "  history:", 1)
    return front + "# Thesis\n\nMy words.\n\n" + body + REGIONS + "\nMore words.\n"


GOOD_EVENT = "---\nevent_start: 2026-02-03\nevent_end: 2026-02-04\n---\n# Good\n"
#: the good catalyst's row, as a run over the bundled data renders it
GOOD_ROW = "| [[Good]] | 2026-02-03 → 2026-02-04 | -0.6% | -2.9% | +2.3 pp |"
BAD_ROW = "| [[Bad]] | n/a | n/a | n/a | n/a |"


def refresh(vault: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``rotation-notes refresh --offline --json`` as a user runs it (in this process)."""
    return run_main("refresh", vault, "--offline", "--json", *args)


def files_outside(vault: Path, skip: set[str]) -> dict[str, object]:
    """Every entry of the vault but ``skip``: a regular file's bytes, else what it is."""
    out: dict[str, object] = {}
    for dirpath, dirs, names in os.walk(vault):
        for name in names + dirs:
            p = Path(dirpath) / name
            rel = p.relative_to(vault).as_posix()
            if rel in skip or rel.endswith(".png"):
                continue
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = p.read_bytes()
            else:
                out[rel] = ("not a file", p.stat().st_mode)
    return out


def _symlink(target: Callable[[Path], Path]) -> Callable[[Path], None]:
    def make(vault: Path) -> None:
        (vault / "Bad.md").symlink_to(target(vault))

    return make


def _write(content: str | bytes) -> Callable[[Path], None]:
    def make(vault: Path) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        (vault / "Bad.md").write_bytes(data)

    return make


def _outside(vault: Path) -> Path:
    diary = vault.parent / "diary.md"
    diary.write_text("---\nevent_start: 'private: dinner at 8'\n---\n")
    return diary


#: Each way a catalyst note can be bad: how to make it, and the reason its row gives.
BAD_CATALYSTS: dict[str, tuple[Callable[[Path], None] | None, str]] = {
    "no such note": (
        None,
        "no note named 'Bad' in the vault; a catalyst is a note with event_start (and "
        "event_end) properties: create it, or fix the link",
    ),
    "no properties": (
        _write("# Bad\n\nJust prose.\n"),
        "Bad.md: catalyst note has no 'event_start' date (key: event_start). add "
        "'event_start: YYYY-MM-DD' (and 'event_end') to its properties",
    ),
    "no event_start": (
        _write("---\nevent_end: 2026-02-04\n---\n"),
        "Bad.md: catalyst note has no 'event_start' date (key: event_start)",
    ),
    "not a date": (
        _write("---\nevent_start: next week\n---\n"),
        "Bad.md:2: 'next week' is not a date (key: event_start). write dates as YYYY-MM-DD",
    ),
    "no such day": (
        _write("---\nevent_start: 2026-02-30\n---\n"),
        "Bad.md:2: '2026-02-30' is not a valid date (day is out of range for month) "
        "(key: event_start). check the day and month",
    ),
    "month 13": (
        _write("---\nevent_start: 2026-13-01\n---\n"),
        "Bad.md:2: '2026-13-01' is not a valid date (month must be in 1..12) (key: event_start)",
    ),
    "out of range": (
        _write("---\nevent_start: 1700-01-01\n---\n"),
        "Bad.md:2: 1700-01-01 is outside the dates rotation-notes handles (1800-01-01 to "
        "2199-12-31) (key: event_start). check the year",
    ),
    "bad event_end": (
        _write("---\nevent_start: 2026-02-03\nevent_end: [2026-02-04]\n---\n"),
        "Bad.md:3: '['2026-02-04']' is not a date (key: event_end)",
    ),
    "end before start": (
        _write("---\nevent_start: 2026-02-04\nevent_end: 2026-02-03\n---\n"),
        "Bad.md:3: event ends (2026-02-03) before it starts (2026-02-04) (key: event_end)",
    ),
    "bad yaml": (
        _write("---\nevent_start: 2026-02-03\nevent_end: [oops\n---\n"),
        "Bad.md:3: frontmatter is not valid YAML: while parsing a flow sequence",
    ),
    "duplicate key": (
        _write("---\nevent_start: 2026-02-03\nevent_start: 2026-02-04\n---\n"),
        "Bad.md:3: key 'event_start' appears twice in one mapping (lines 2 and 3)",
    ),
    "properties not a mapping": (
        _write("---\n- 2026-02-03\n---\n"),
        "Bad.md:2: frontmatter must be a mapping of properties",
    ),
    "invalid utf-8": (
        _write(b"---\nevent_start: 2026-02-03\ntitle: caf\xe9\n---\n"),
        "Bad.md:3: its properties are not valid UTF-8: the first bad byte is at offset 38 "
        "(line 3). re-save it as UTF-8",
    ),
    "properties past the head": (
        _write("---\nevent_start: 2026-02-03\npad: " + "x" * 1_200_000 + "\n---\n"),
        "linked note Bad.md: its frontmatter is not closed within its first",
    ),
    "dangling link": (
        _symlink(lambda vault: vault / "gone.md"),
        "Bad.md is a link to nothing (its target is gone), not a note; a catalyst is a note",
    ),
    "link loop": (
        _symlink(lambda vault: vault / "Bad.md"),
        "Bad.md is unreadable (Too many levels of symbolic links), not a note",
    ),
    "link outside the vault": (
        _symlink(_outside),
        "linked note Bad.md is a link to a file outside the vault; not read. rotation-notes "
        "reads notes inside the vault only",
    ),
    "a folder": (
        lambda vault: (vault / "Bad.md").mkdir(),
        "no note named 'Bad' in the vault",
    ),
    "a pipe": (
        lambda vault: os.mkfifo(vault / "Bad.md"),
        "Bad.md is a named pipe (FIFO), not a note; a catalyst is a note with event_start",
    ),
    "unreadable": (
        lambda vault: (_write(GOOD_EVENT)(vault), (vault / "Bad.md").chmod(0)),
        "Bad.md: cannot read it: Permission denied",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_CATALYSTS))
def test_a_bad_catalyst_note_costs_its_row_not_the_thesis(make_vault, monkeypatch, kind):
    make, reason = BAD_CATALYSTS[kind]
    if kind == "unreadable" and os.geteuid() == 0:  # root reads it whatever its permissions
        real = refresh_module.read_head

        def read_head(path: Path, *args: int) -> tuple[bytes, int]:
            if path.name == "Bad.md":
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *args)

        monkeypatch.setattr(refresh_module, "read_head", read_head)
    vault = make_vault({"t.md": thesis(["Good", "Bad"]), "Good.md": GOOD_EVENT})
    if make is not None:
        make(vault)
    before = files_outside(vault, {"t.md"})

    # a pipe in the vault: a subprocess, so that a bug that opens it fails on a timeout
    run = run_cli if kind == "a pipe" else run_main
    result = run("refresh", vault, "--offline", "--json")

    assert result.returncode == 0, result.stderr
    assert "updated    t.md (as of 2026-08-21)" in result.stderr
    warnings = [ln for ln in result.stderr.splitlines() if "catalyst [[Bad]]" in ln]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith("  warning: t.md: catalyst [[Bad]] is n/a: "), warnings
    assert reason in warnings[0]
    text = (vault / "t.md").read_text(encoding="utf-8")
    assert GOOD_ROW in text  # the other row as it always is
    assert BAD_ROW in text
    (footnote,) = [ln for ln in text.splitlines() if ln.startswith("*Bad: n/a, ")]
    assert reason in footnote
    assert "**IWM +22.1% YTD vs QQQ +16.3%**" in text  # the rest of the thesis refreshed
    assert "| IWM | IWM | 299.96 |" in text
    assert text.startswith(thesis(["Good", "Bad"]).split("# Thesis")[0])
    assert "dinner" not in text + result.stderr + result.stdout
    assert files_outside(vault, {"t.md"}) == before  # the catalyst note untouched

    (note,) = json.loads(result.stdout)["notes"]
    assert note["status"] == "updated"
    assert warnings[0][len("  warning: ") :] in note["warnings"]
    good, bad = note["catalysts"]
    assert good["start"] == "2026-02-03" and good["reasons"] == {}
    assert bad["start"] is None and bad["end"] is None
    assert bad["moves"] == {"^RUT": None, "^IXIC": None}
    assert all(reason in why for why in bad["reasons"].values()), bad

    again = run("refresh", vault, "--offline")
    assert again.returncode == 0
    assert "unchanged  t.md" in again.stderr  # n/a with a reason is stable: nothing rewritten
    assert again.stderr.count("catalyst [[Bad]] is n/a") == 1


def test_a_catalyst_linked_to_a_file_that_is_not_a_note(make_vault):
    vault = make_vault({"t.md": thesis(["Good", "Bad.pdf"]), "Good.md": GOOD_EVENT})
    (vault / "Bad.pdf").write_bytes(b"%PDF-1.4\n")
    result = refresh(vault)
    assert result.returncode == 0, result.stderr
    assert (
        "warning: t.md: catalyst [[Bad.pdf]] is n/a: [[Bad.pdf]] links to Bad.pdf, which is not "
        "a note; a catalyst is a note" in result.stderr
    )
    text = (vault / "t.md").read_text(encoding="utf-8")
    assert GOOD_ROW in text and "| [[Bad.pdf]] | n/a | n/a | n/a | n/a |" in text
    assert (vault / "Bad.pdf").read_bytes() == b"%PDF-1.4\n"


def test_a_discovered_catalyst_with_a_bad_date_costs_its_row(make_vault):
    """Without a ``catalysts`` list, a linked note with ``event_start`` is a catalyst: a bad
    date in it is that row's n/a, as for a listed one."""
    body = "Around [[Good]] and [[Bad]], see also [[Plain]].\n\n"
    vault = make_vault(
        {
            "t.md": thesis([], body=body),
            "Good.md": GOOD_EVENT,
            "Bad.md": "---\nevent_start: 2026-02-30\n---\n",
            "Plain.md": "---\ntags: [x]\n---\n",
        }
    )
    result = refresh(vault)
    assert result.returncode == 0, result.stderr
    assert (
        "  warning: t.md: catalyst [[Bad]] is n/a: Bad.md:2: '2026-02-30' is not a valid date"
        in result.stderr
    )
    text = (vault / "t.md").read_text(encoding="utf-8")
    assert GOOD_ROW in text and BAD_ROW in text and "[[Plain]] |" not in text


def test_one_bad_catalyst_linked_from_two_theses_names_each(make_vault):
    vault = make_vault(
        {
            "a.md": thesis(["Good", "Bad"]),
            "Theses/b.md": thesis(["Bad"]),
            "Good.md": GOOD_EVENT,
            "Bad.md": "---\nevent_start: soon\n---\n",
        }
    )
    result = refresh(vault)
    assert result.returncode == 0, result.stderr
    assert "2 updated, 0 unchanged, 0 failed" in result.stderr
    for rel in ("a.md", "Theses/b.md"):
        line = f"  warning: {rel}: catalyst [[Bad]] is n/a: Bad.md:2: 'soon' is not a date"
        assert result.stderr.count(line) == 1, result.stderr
        assert BAD_ROW in (vault / rel).read_text(encoding="utf-8")
    notes = {n["path"]: n for n in json.loads(result.stdout)["notes"]}
    assert any("a.md: catalyst [[Bad]]" in w for w in notes["a.md"]["warnings"])
    assert any("Theses/b.md: catalyst [[Bad]]" in w for w in notes["Theses/b.md"]["warnings"])
    assert (vault / "Bad.md").read_text() == "---\nevent_start: soon\n---\n"


# --- a ticker with no data at all ---------------------------------------------------------


NO_DATA = (
    "no market data for {s} (no {s}.csv in bundled CSV (Data/market-data/) (offline run)), "
    "so its figures are n/a in the {tables}. Check the symbol on Yahoo Finance, or add "
    "{s}.csv (Date, Close) to the vault's data folder (data_dir in rotation-notes.toml)"
)


def test_a_ticker_without_data_is_a_warning_naming_the_note(make_vault):
    spec = (
        "  tracking:\n    tickers: [IWM, QQQ, ZZZZ, IWO]\n"
        "  catalysts:\n    symbols: [^RUT, YYYY]\n"
        "  charts:\n    - tickers: [IWM, XXXX]\n"
    )
    other = thesis([], spec="  tracking:\n    tickers: [IWM, ZZZZ]\n").replace(
        "history:", "history:\n    symbols: [^RUT, ZZZZ]", 1
    )
    charts = "%% rotation-notes:charts %%\n%% /rotation-notes:charts %%\n"
    vault = make_vault(
        {
            "t.md": thesis(["Good"], spec=spec, body=charts),
            "Theses/other.md": other,
            "Good.md": GOOD_EVENT,
        }
    )
    result = refresh(vault)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    expect = {
        "t.md": [("ZZZZ", "tracking table"), ("YYYY", "catalysts table")],
        "Theses/other.md": [("ZZZZ", "tracking and history tables")],
    }
    notes = {n["path"]: n for n in json.loads(result.stdout)["notes"]}
    for rel, missing in expect.items():
        for symbol, tables in missing:
            warning = f"{rel}: " + NO_DATA.format(s=symbol, tables=tables)
            assert err.count(f"  warning: {warning}\n") == 1, err
            assert warning in notes[rel]["warnings"]
    assert err.count("no market data for") == 3
    # a chart missing a ticker says so once, as it did: not redrawn
    assert "warning: Chart iwm-vs-xxxx-price-chart.png not redrawn for 2026-08-21, XXXX: " in err
    # partial data (IWO ends 2026-07-31) is said as before: the data it has, and to when
    assert "IWO from bundled CSV (Data/market-data/), data to 2026-07-31." in err
    text = (vault / "t.md").read_text(encoding="utf-8")
    assert "| ZZZZ | ZZZZ | n/a | n/a | n/a | n/a | n/a | n/a |" in text
    assert "| IWO | IWO (data to 2026-07-31) |" in text


def test_a_leg_index_without_data_warns_only_where_a_table_shows_it(make_vault):
    """A symbol no table shows (a leg's index, with no catalysts and no history) is not
    worth a warning; the same index under a catalyst is."""
    plain = (
        THESIS_FRONTMATTER.replace("index: ^RUT", "index: ^NONE").split("  history:")[0]
        + "---\n# T\n\n"
        + REGIONS
    )
    with_catalyst = plain.replace("---\n", '---\ncatalysts:\n  - "[[Good]]"\n', 1)
    vault = make_vault({"plain.md": plain, "cat.md": with_catalyst, "Good.md": GOOD_EVENT})
    result = refresh(vault)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("no market data for ^NONE") == 1
    assert "  warning: cat.md: no market data for ^NONE" in result.stderr


def test_reversed_event_dates_say_what_to_do():
    from rotation_notes.errors import SpecError
    from rotation_notes.note.text import decode_note, parse_frontmatter, parse_wikilink
    from rotation_notes.thesis.spec import parse_catalyst

    note = decode_note(b"---\nevent_start: 2026-03-05\nevent_end: 2026-03-01\n---\n")
    with pytest.raises(SpecError) as err:
        parse_catalyst(parse_frontmatter(note, "R.md"), note, "R.md", parse_wikilink("R"))
    assert str(err.value) == (
        "R.md:3: event ends (2026-03-01) before it starts (2026-03-05) (key: event_end). "
        "swap the two dates, or fix event_end"
    )
