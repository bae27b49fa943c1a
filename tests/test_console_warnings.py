"""Mistakes that used to pass in silence (issue 13): each now costs a warning, not the note.

- a property that is nearly ``rotation-notes`` (``rotation_notes:``, ``Rotation-Notes:``...);
  or, in a linked catalyst note, nearly ``event_start``;
- a vault with no thesis at all: say what a thesis is and how to make one;
- data that ends far before the run (old ``--data`` CSVs): the note and the console say so;
- a data folder outside the vault: the note names it, never this machine's paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SAMPLE_DATA, SAMPLE_NOTE, THESIS, run_cli, run_main, snapshot
from rotation_notes.clock import NOW_ENV

NEAR_MISS = """---
tags: [idea]
{key}:
  long:
    label: Small caps
    ticker: IWM
    index: ^RUT
  short:
    label: Large caps
    ticker: QQQ
    index: ^IXIC
---
# An idea

%% rotation-notes:headline %%
%% /rotation-notes:headline %%
"""


def warned(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "is not `rotation-notes:`" in line]


@pytest.mark.parametrize(
    "key",
    [
        "rotation_notes",
        "rotation-note",
        "Rotation-Notes",
        "ROTATION_NOTES",
        "rotationnotes",
        "rotation notes",
        "rotation__note",
        '"rotation_notes"',
        "'Rotation Notes'",
    ],
)
def test_a_near_miss_key_is_a_warning_naming_note_line_and_fix(make_vault, key):
    text = NEAR_MISS.format(key=key)
    vault = make_vault({"t.md": THESIS, "Ideas/idea.md": text})
    result = run_main("refresh", vault, "--json")
    assert result.returncode == 0, result.stderr  # the other notes refreshed: not a failure
    as_written = key.strip("\"'")
    message = (
        f"Ideas/idea.md:3: the property `{as_written}:` is not `rotation-notes:`, so this note "
        "is not refreshed as a thesis; rename it to `rotation-notes:`"
    )
    assert warned(result.stderr) == [f"rotation-notes: WARNING: {message}"]
    report = json.loads(result.stdout)
    assert report["warnings"] == [
        {"path": "Ideas/idea.md", "line": 3, "key": as_written, "message": message}
    ]
    assert [n["path"] for n in report["notes"]] == ["t.md"]
    assert (vault / "Ideas" / "idea.md").read_text() == text  # never written


def test_the_line_is_the_file_line_with_crlf_bom_and_lone_cr(make_vault):
    body = NEAR_MISS.format(key="rotation_notes").replace("tags: [idea]\n", "a: 1\nb: 2\n")
    vault = make_vault(
        {
            "crlf.md": body.replace("\n", "\r\n"),
            "bom.md": b"\xef\xbb\xbf" + body.encode(),
            "cr.md": body.replace("\n", "\r"),
        },
        data=False,
    )
    result = run_main("refresh", vault, "--json")
    assert result.returncode == 0, result.stderr
    lines = {w["path"]: w["line"] for w in json.loads(result.stdout)["warnings"]}
    assert lines == {"bom.md": 4, "cr.md": 4, "crlf.md": 4}


def test_no_warning_for_notes_without_such_a_key(make_vault):
    vault = make_vault(
        {
            "t.md": THESIS,
            "plain.md": "rotation_notes: not frontmatter, just text\n",
            "other.md": "---\nrotation: small caps\nnotes: many\ntitle: rotation notes\n---\n",
            "nested.md": "---\nmeta:\n  rotation_notes: x\n---\n",
            "value.md": "---\ntags: [rotation-notes]\n---\nrotation_notes: in the body\n",
            "unclosed.md": "---\nrotation_notes:\n  long: x\n",
            "near-but-not.md": "---\nrotation-notebook: x\nmy_rotation_notes: y\n---\n",
        }
    )
    result = run_main("refresh", vault, "--json")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr
    assert json.loads(result.stdout)["warnings"] == []


def test_a_near_miss_note_asked_for_by_name_fails_saying_what_to_rename(make_vault):
    vault = make_vault({"idea.md": NEAR_MISS.format(key="rotation_notes")})
    result = run_main("refresh", vault, "--note", vault / "idea.md")
    assert result.returncode == 2
    assert (
        "failed     idea.md:3: not a thesis note: its property `rotation_notes:` is not "
        "`rotation-notes:`. rename it to `rotation-notes:`"
    ) in result.stderr


def test_a_vault_without_theses_says_how_to_make_one(make_vault):
    vault = make_vault({"a.md": "# just a note\n"}, data=False)
    result = run_cli("refresh", vault)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"no thesis notes in {vault} (a thesis is a note with a `rotation-notes:` property)",
        "to turn a note you keep by hand into one: rotation-notes adopt NOTE.md "
        "(docs/adopt.md); the schema is in docs/frontmatter.md",
    ]


def test_no_theses_but_near_misses_points_to_them(make_vault):
    vault = make_vault(
        {"a.md": NEAR_MISS.format(key="Rotation_Notes"), "b/c.md": NEAR_MISS.format(key="x")},
        data=False,
    )
    result = run_main("refresh", vault)
    assert result.returncode == 0, result.stderr
    assert (
        "1 note has a property that is nearly it: a.md:3 (`Rotation_Notes:`); "
        "rename it to `rotation-notes:`"
    ) in result.stderr.splitlines()
    fetch = run_main("data", "fetch", vault)  # the same scan, the same words
    assert "rotation-notes adopt NOTE.md" in fetch.stderr
    assert "a.md:3: the property `Rotation_Notes:` is not `rotation-notes:`" in fetch.stderr


@pytest.mark.parametrize("key", ["event-start", "Event_Start", "eventstart", "event start"])
def test_a_near_miss_event_start_in_a_linked_note_is_a_warning(make_vault, key):
    catalyst = f"---\n{key}: 2026-02-03\nevent_end: 2026-02-04\n---\n"
    vault = make_vault({"t.md": THESIS + "See [[Selloff]].\n", "Catalysts/Selloff.md": catalyst})
    result = run_main("refresh", vault, "--json")
    assert result.returncode == 0, result.stderr
    message = (
        f"Catalysts/Selloff.md:2: the property `{key}:` is not `event_start:`, so this note is "
        "not read as a catalyst; rename it to `event_start:`"
    )
    assert f"rotation-notes: WARNING: {message}" in result.stderr
    assert [w["message"] for w in json.loads(result.stdout)["warnings"]] == [message]


def updated_region(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return text.split("%% rotation-notes:updated %%", 1)[1].split("%% /rotation-notes:updated")[0]


OLD = (
    "> [!warning] Old data\n"
    "> Data ends 2026-08-21, more than 5 sessions before this run: "
    "update the CSV files in the data folder.\n"
)


def test_data_far_behind_the_run_is_said_in_the_note_and_on_the_console(sample_vault, monkeypatch):
    monkeypatch.setenv(NOW_ENV, "2026-12-02T12:00:00Z")  # the sample data ends 2026-08-21
    result = run_main("refresh", sample_vault, "--data", SAMPLE_DATA)
    assert result.returncode == 0, result.stderr
    assert OLD in updated_region(sample_vault / SAMPLE_NOTE)
    assert (
        "  warning: Data ends 2026-08-21, more than 5 sessions before this run: "
        "update the CSV files in the data folder."
    ) in result.stderr.splitlines()

    # A week on, no new data: the note does not change (it carries no count, no date of run).
    before = snapshot(sample_vault)
    monkeypatch.setenv(NOW_ENV, "2026-12-09T12:00:00Z")
    again = run_main("refresh", sample_vault, "--data", SAMPLE_DATA)
    assert again.returncode == 0, again.stderr
    assert "Data ends 2026-08-21, more than 5 sessions before this run" in again.stderr
    assert snapshot(sample_vault) == before


@pytest.mark.parametrize(
    ("now", "as_of", "behind"),
    [
        ("2026-08-28T23:00:00Z", None, None),  # 5 sessions after the data: not yet
        ("2026-08-31T23:00:00Z", None, "this run"),  # the 6th
        ("2026-12-02T12:00:00Z", "2026-08-21", None),  # the date asked for is in the data
        ("2026-12-02T12:00:00Z", "2026-08-30", None),  # a Sunday, 5 sessions on
        ("2026-12-02T12:00:00Z", "2026-09-30", "2026-09-30, the date asked for"),
    ],
)
def test_behind_counts_sessions_to_the_run_or_to_the_date_asked_for(
    sample_vault, monkeypatch, now, as_of, behind
):
    monkeypatch.setenv(NOW_ENV, now)
    args = ("--as-of", as_of) if as_of else ()
    result = run_main("refresh", sample_vault, "--data", SAMPLE_DATA, "--json", *args)
    assert result.returncode == 0, result.stderr
    region = updated_region(sample_vault / SAMPLE_NOTE)
    (note,) = json.loads(result.stdout)["notes"]
    if behind is None:
        assert "Old data" not in region and "sessions before" not in result.stderr
    else:
        assert f"Data ends 2026-08-21, more than 5 sessions before {behind}:" in region
        assert any(w.startswith("Data ends 2026-08-21, more than") for w in note["warnings"])


def test_a_data_folder_outside_the_vault_leaves_no_local_path_in_the_note(make_vault, tmp_path):
    data = tmp_path / "elsewhere" / "market-data"
    data.mkdir(parents=True)
    for symbol in ("IWM", "QQQ", "^RUT", "^IXIC"):
        (data / f"{symbol}.csv").write_bytes((SAMPLE_DATA / f"{symbol}.csv").read_bytes())
    (data / "IWO.csv").mkdir()  # unreadable: its n/a reason is rendered into the note
    thesis = THESIS.replace("  history:", "  tracking:\n    tickers: [IWM, IWO, QQQ]\n  history:")
    vault = make_vault({"t.md": thesis}, data=False)
    result = run_main("refresh", vault, "--data", data)
    assert result.returncode == 0, result.stderr
    text = (vault / "t.md").read_text(encoding="utf-8")
    assert "Data: CSV (market-data/)." in text
    assert "cannot read IWO.csv: is a folder" in text
    for local in (str(tmp_path), str(Path.home()), "/tmp", "elsewhere"):
        assert local not in text


def test_a_data_folder_inside_the_vault_is_named_from_the_vault(make_vault):
    vault = make_vault({"t.md": THESIS})
    result = run_main("refresh", vault, "--data", vault / "Data" / "market-data")
    assert result.returncode == 0, result.stderr
    assert "Data: CSV (Data/market-data/)." in (vault / "t.md").read_text(encoding="utf-8")


def test_the_price_cache_is_named_without_its_path(make_vault, tmp_path):
    from test_data_cli import fill_cache

    cache = tmp_path / "somewhere" / "price-cache"
    fill_cache(cache, until="2026-08-19")
    vault = make_vault({"t.md": THESIS}, data=False)
    result = run_main("refresh", vault, "--offline", "--cache", cache)
    assert result.returncode == 0, result.stderr
    text = (vault / "t.md").read_text(encoding="utf-8")
    assert "Data: cache (price-cache/)." in text
    assert str(tmp_path) not in text and "somewhere" not in text
