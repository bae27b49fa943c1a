"""Issue 14 from a user's side: the new properties' mistakes, where the regions go, what a
note without an opened date says, and the warnings for a benchmark or level ticker with no data.

The figures themselves are recomputed from the CSVs in ``test_thesis_figures.py``; here each
test is about a message or a place in the note a user reads.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import ALL_REGIONS, THESIS_FRONTMATTER, run_main, snapshot

AS_OF = "2026-08-21"


def thesis(extra: str = "", top: str = "", body: str = "# Thesis\n\n" + ALL_REGIONS) -> str:
    """The small test thesis with ``extra`` lines under ``rotation-notes:`` and ``top`` lines
    at the top level of its properties."""
    head = THESIS_FRONTMATTER.replace("rotation-notes:\n", top + "rotation-notes:\n" + extra, 1)
    return head + body


def refresh_json(vault, *args: str) -> dict:
    result = run_main("refresh", vault, "--json", "--offline", "--as-of", AS_OF, *args)
    assert result.returncode in (0, 1, 2), result.stderr
    (note,) = json.loads(result.stdout)["notes"]
    return note


def region(text: str, name: str) -> str:
    found = re.search(
        rf"%% rotation-notes:{name} %%\n(.*?)%% /rotation-notes:{name} %%", text, re.S
    )
    assert found, f"no {name} region"
    return found.group(1)


# --- mistakes in the new keys: an error naming the key and its line, the note untouched ------

LEVEL = "  levels:\n    - name: Stop\n      kind: stop\n      on: IWM\n      below: 240\n"

BAD_SPECS = {
    "level without kind": (
        LEVEL.replace("      kind: stop\n", ""),
        "rotation-notes.levels[0]",
        "level needs 'kind'",
    ),
    "both below and above": (
        LEVEL + "      above: 300\n",
        "rotation-notes.levels[0]",
        "level has both 'below' and 'above'",
    ),
    "neither below nor above": (
        LEVEL.replace("      below: 240\n", ""),
        "rotation-notes.levels[0]",
        "level needs exactly one of 'below' or 'above'",
    ),
    "unknown kind": (
        LEVEL.replace("kind: stop", "kind: exit"),
        "rotation-notes.levels[0].kind",
        "'exit' is not one of: invalidation, stop, target",
    ),
    "on a phrase": (
        LEVEL.replace("on: IWM", "on: the spread"),
        "rotation-notes.levels[0].on",
        "'the spread' is not spread, ratio or a ticker symbol",
    ),
    "level as text": (
        LEVEL.replace("below: 240", "below: two forty"),
        "rotation-notes.levels[0].below",
        "'two forty' is not a number",
    ),
    "near zero": (
        LEVEL + "      near: 0\n",
        "rotation-notes.levels[0].near",
        "must be a number above 0",
    ),
    "levels not a list": ("  levels: spread below -5\n", "rotation-notes.levels", "list of levels"),
    "opened not a date": (
        "  opened: last spring\n",
        "rotation-notes.opened",
        "'last spring' is not a date",
    ),
    "ratio chart with tickers": (
        "  charts:\n    - kind: ratio\n      tickers: [IWM, SPY]\n",
        "rotation-notes.charts[0].tickers",
        "a ratio chart draws the thesis's own pair",
    ),
    "unknown chart kind": (
        "  charts:\n    - kind: candles\n",
        "rotation-notes.charts[0].kind",
        "'candles' is not one of: price, ratio",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_a_mistake_in_the_new_keys_names_key_and_line(make_vault, case):
    extra, key, message = BAD_SPECS[case]
    text = thesis(extra)
    vault = make_vault({"t.md": text})
    before = snapshot(vault)
    result = run_main("refresh", vault, "--offline")
    assert result.returncode == 2
    assert message in result.stderr and f"(key: {key})" in result.stderr, result.stderr
    # the line given is the key's own line in the file
    line = int(re.search(r"t\.md:(\d+):", result.stderr).group(1))
    at = text.splitlines()[line - 1]
    if key.endswith("]"):  # a list item: its first line
        assert re.match(r"\s*- ", at), (line, key)
    else:
        assert re.match(rf"\s*(- )?{key.rsplit('.', 1)[-1]}:", at), (line, key)
    assert snapshot(vault) == before


def test_the_yaml_key_on_is_read_as_obsidian_reads_it(make_vault):
    """PyYAML (YAML 1.1) reads the key `on` as true; the level must still find its `on`."""
    vault = make_vault({"t.md": thesis("  opened: 2026-02-04\n" + LEVEL)})
    (level,) = refresh_json(vault)["levels"]
    assert level["on"] == "IWM" and level["status"] == "hit"


def test_a_catalyst_time_of_16_00_is_named_as_a_number(make_vault):
    event = "---\nevent_start: 2026-02-03\ntime: 16:00\n---\n"
    vault = make_vault({"t.md": thesis(top='catalysts:\n  - "[[Event]]"\n'), "Event.md": event})
    note = refresh_json(vault)
    assert note["status"] in ("updated", "would_update")
    assert any(
        "Event.md:3: 'time' is read as the number '960', not a word" in w
        and "write one of: before-open, during, after-close" in w
        for w in note["warnings"]
    ), note["warnings"]


# --- opened: default, missing, unusable created -----------------------------------------------


@pytest.mark.parametrize(
    "created, opened",
    [
        ("2026-02-04", "2026-02-04"),
        ("2026-02-04T10:31", "2026-02-04"),  # Templater's default
        ('"2026-02-04 10:31:00"', "2026-02-04"),
    ],
)
def test_opened_defaults_to_the_created_property(make_vault, created, opened):
    vault = make_vault({"t.md": thesis(top=f"created: {created}\n")})
    card = refresh_json(vault)["scorecard"]
    assert card["opened"] == opened and card["open_session"] == "2026-02-04"
    assert card["sessions"] > 100


@pytest.mark.parametrize(
    "top, why",
    [
        ("", "no opened date: add 'opened: YYYY-MM-DD' under rotation-notes"),
        (
            'created: "[[2026-02-04]]"\n',
            "the note's 'created' property ('[[2026-02-04]]') is not a date",
        ),
    ],
)
def test_no_usable_opened_date_is_said_in_the_scorecard_and_levels(make_vault, top, why):
    body = "# Thesis\n\n" + ALL_REGIONS.replace(
        "%% rotation-notes:setup",
        "%% rotation-notes:status %%\n%% /rotation-notes:status %%\n"
        "%% rotation-notes:scorecard %%\n%% /rotation-notes:scorecard %%\n%% rotation-notes:setup",
    )
    vault = make_vault({"t.md": thesis(LEVEL, top=top, body=body)})
    note = refresh_json(vault, "--check")
    assert note["status"] == "would_update" and note["error"] is None
    assert why in note["scorecard"]["reason"] and note["scorecard"]["spread_pp"] is None
    assert note["levels"][0]["status"] is None and why in note["levels"][0]["reason"]
    run_main("refresh", vault, "--offline", "--as-of", AS_OF)
    text = (vault / "t.md").read_text()
    assert region(text, "scorecard").startswith(f"*No scorecard: {why}")
    assert region(text, "status").startswith("> [!warning] Stop: not checked\n")


# --- --init: where the new regions go -----------------------------------------------------------


def test_init_puts_status_after_updated_and_scorecard_under_its_heading(make_vault):
    body = "# Thesis\n\nWhy I hold it.\n\n## Scorecard\n\nMy words.\n\n## Setup\n"
    vault = make_vault({"t.md": thesis("  opened: 2026-02-04\n" + LEVEL, body=body)})
    result = run_main("refresh", vault, "--offline", "--as-of", AS_OF, "--init")
    assert result.returncode == 0, result.stderr
    text = (vault / "t.md").read_text()
    order = re.findall(r"^%% rotation-notes:(\w+) %%$", text, re.M)
    assert order[:3] == ["headline", "updated", "status"]
    assert text.index("## Scorecard\n\n%% rotation-notes:scorecard %%") < text.index("My words.")
    assert "> [!danger] Stop: stop hit\n> IWM close below 240.00: first crossed 2026-03-30" in text
    # a thesis with neither levels nor an opened date gets neither region
    plain = make_vault({"t.md": thesis(body="# Thesis\n")}, name="plain")
    run_main("refresh", plain, "--offline", "--as-of", AS_OF, "--init")
    order = re.findall(r"^%% rotation-notes:(\w+) %%$", (plain / "t.md").read_text(), re.M)
    assert "status" not in order and "scorecard" not in order


# --- symbols without data ------------------------------------------------------------------


def test_a_benchmark_or_level_ticker_without_data_is_a_warning(make_vault):
    extra = "  opened: 2026-02-04\n  benchmark: NOPE\n" + LEVEL.replace("on: IWM", "on: ZZZZ")
    vault = make_vault({"t.md": thesis(extra)})
    note = refresh_json(vault)
    warnings = "\n".join(note["warnings"])
    assert "no market data for NOPE (no NOPE.csv in" in warnings
    assert "so its figures are n/a in the scorecard table" in warnings
    assert "no market data for ZZZZ (no ZZZZ.csv in" in warnings
    assert "n/a in the status region's levels" in warnings
    assert note["scorecard"]["benchmark_pct"] is None
    assert "no NOPE.csv" in note["scorecard"]["reason"]
    assert note["levels"][0]["status"] is None and "ZZZZ" in note["levels"][0]["reason"]


def test_a_level_ticker_whose_data_starts_after_the_open_says_so(make_vault, tmp_path):
    """IWM's data cut to start in March: a crossing in February could not be seen."""
    vault = make_vault({"t.md": thesis("  opened: 2026-02-04\n" + LEVEL.replace("IWM", "IWX"))})
    rows = (vault / "Data/market-data/IWM.csv").read_text().splitlines()
    kept = [rows[0]] + [r for r in rows[1:] if r >= "2026-03-02"]
    (vault / "Data/market-data/IWX.csv").write_text("\n".join(kept) + "\n")
    (level,) = refresh_json(vault)["levels"]
    assert level["status"] == "hit"
    assert level["reason"].startswith(
        "IWX: data starts 2026-03-02, after the open session 2026-02-04"
    )


def test_a_level_already_past_at_the_open_says_so(make_vault):
    vault = make_vault(
        {"t.md": thesis("  opened: 2026-02-04\n" + LEVEL.replace("below: 240", "below: 300"))}
    )
    run_main("refresh", vault, "--offline", "--as-of", AS_OF, "--init")
    status = region((vault / "t.md").read_text(), "status")
    assert "IWM close below 300.00: already past it at the open session, 2026-02-04" in status


# --- the attack round's smaller findings --------------------------------------------------


def test_dates_with_a_time_are_read_as_their_day(make_vault):
    """Obsidian's date & time property writes 2026-02-04T10:31: `opened` and a catalyst's
    `event_start` take its day instead of failing the note or the row."""
    event = "---\nevent_start: 2026-02-03T14:00\nevent_end: 2026-02-04T16:00\n---\n"
    vault = make_vault(
        {
            "t.md": thesis("  opened: 2026-02-04T10:31\n", top='catalysts:\n  - "[[Event]]"\n'),
            "Event.md": event,
        }
    )
    note = refresh_json(vault)
    assert note["scorecard"]["opened"] == "2026-02-04"
    (cat,) = note["catalysts"]
    assert (cat["start"], cat["end"]) == ("2026-02-03", "2026-02-04") and cat["moves"]["^RUT"]


@pytest.mark.parametrize("value", ["no", "off"])
def test_a_catalyst_time_yaml_reads_as_false_is_said(make_vault, value):
    event = f"---\nevent_start: 2026-02-03\ntime: {value}\n---\n"
    vault = make_vault({"t.md": thesis(top='catalysts:\n  - "[[Event]]"\n'), "Event.md": event})
    note = refresh_json(vault)
    assert any("Event.md:3: is read as false" in w for w in note["warnings"]), note["warnings"]


def test_a_level_on_yes_is_said_as_yaml_reads_it(make_vault):
    vault = make_vault({"t.md": thesis(LEVEL.replace("on: IWM", "on: yes"))})
    result = run_main("refresh", vault, "--offline")
    assert result.returncode == 2
    assert "is read as true (YAML takes yes, no, on and off" in result.stderr
    assert "(key: rotation-notes.levels[0].on)" in result.stderr


def test_upcoming_catalysts_are_listed_by_date(make_vault):
    links = 'catalysts:\n  - "[[Later]]"\n  - "[[Sooner]]"\n'
    vault = make_vault(
        {
            "t.md": thesis(top=links),
            "Later.md": "---\nevent_start: 2026-10-28\n---\n",
            "Sooner.md": "---\nevent_start: 2026-09-12\nconfidence: confirmed\n---\n",
        }
    )
    run_main("refresh", vault, "--offline", "--as-of", AS_OF)
    catalysts = region((vault / "t.md").read_text(), "catalysts")
    # 2026-09-12 is a Saturday: its first session is Monday 09-14
    assert (
        "**Upcoming:**\n- [[Sooner]]: 2026-09-12 (confirmed) (first session 2026-09-14), in 15 "
        "sessions.\n- [[Later]]: 2026-10-28, in 47 sessions.\n"
    ) in catalysts


def test_a_ratio_chart_with_days_says_where_it_starts(make_vault):
    extra = "  opened: 2026-02-04\n  charts:\n    - kind: ratio\n      days: 30\n"
    vault = make_vault({"t.md": thesis(extra)})
    run_main("refresh", vault, "--offline", "--as-of", AS_OF)
    charts = region((vault / "t.md").read_text(), "charts")
    assert "![[iwm-qqq-ratio-chart.png]]" in charts
    assert "*IWM/QQQ ratio from 2026-07-22 (100 at 2026-02-04): " in charts


def test_init_without_a_scorecard_heading_makes_it_the_first_section(make_vault):
    """Not under the note's footer: a new '## Scorecard' just before the first section."""
    body = "# Thesis\n\nWhy I hold it.\n## Setup\n\nText.\n\n## Notes\n\n*Created 2026-02-04*\n"
    vault = make_vault({"t.md": thesis("  opened: 2026-02-04\n", body=body)})
    run_main("refresh", vault, "--offline", "--as-of", AS_OF, "--init")
    text = (vault / "t.md").read_text()
    assert (
        "Why I hold it.\n\n## Scorecard\n\n%% rotation-notes:scorecard %%\nSince 2026-02-04:"
    ) in text
    assert text.index("## Scorecard") < text.index("## Setup") < text.index("*Created")
    assert text.count("## Scorecard") == 1  # not also appended after the footer
    # a note with no section below its title: appended at the end, as before
    flat = make_vault({"t.md": thesis("  opened: 2026-02-04\n", body="# T\n\nWords.\n")}, name="f")
    run_main("refresh", flat, "--offline", "--as-of", AS_OF, "--init")
    text = (flat / "t.md").read_text()
    assert text.index("Words.") < text.index("## Scorecard\n\n%% rotation-notes:scorecard %%")


def test_a_top_level_opened_property_wins_over_created(make_vault):
    top = "created: 2026-02-04\nopened: 2026-03-02\n"
    vault = make_vault({"t.md": thesis(top=top)})
    card = refresh_json(vault)["scorecard"]
    assert (card["opened"], card["open_session"]) == ("2026-03-02", "2026-03-02")
    # rotation-notes' own opened wins over both
    own = make_vault({"t.md": thesis("  opened: 2026-04-01\n", top=top)}, name="own")
    assert refresh_json(own)["scorecard"]["opened"] == "2026-04-01"
