"""Every bad input gets a clear error naming file, line or key, and the note is left as it was."""

from __future__ import annotations

import pytest

from conftest import THESIS, THESIS_FRONTMATTER, run_main
from rotation_notes.refresh import RefreshOptions, refresh


def refresh_one(vault, rel="t.md"):
    report = refresh(vault, RefreshOptions())
    (note,) = [n for n in report.notes if n.path == rel]
    return note


@pytest.mark.parametrize(
    "frontmatter, expect",
    [
        (
            "rotation-notes:\n  long:\n    ticker: IWM\n  short: [oops\n",
            "t.md:5: frontmatter is not valid YAML",
        ),
        ("rotation-notes:\n  long:\n    ticker: IWM\n", "the thesis needs a 'short' leg"),
        (
            "rotation-notes:\n  long:\n    ticker: IWM\n  short:\n    ticker: QQQ\n  shrot: 1\n",
            "t.md:7: unknown key 'shrot' (key: rotation-notes.shrot)",
        ),
        (
            "rotation-notes:\n  long:\n    ticker: I W M\n  short:\n    ticker: QQQ\n",
            "t.md:4: 'I W M' is not a ticker symbol (key: rotation-notes.long.ticker)",
        ),
        (
            "rotation-notes:\n  long:\n    ticker: IWM\n  short:\n    ticker: QQQ\n  history:\n"
            "    periods:\n      - start: last spring\n",
            "'last spring' is not a date (key: rotation-notes.history.periods[0].start)",
        ),
        (
            "rotation-notes:\n  long:\n    ticker: IWM\n  short:\n    ticker: QQQ\n  setup:\n"
            "    metrics:\n      - name: P/E\n        long: 18\n        short: 26\n",
            "metric needs 'source'",
        ),
        (
            "rotation-notes:\n  long:\n    ticker: IWM\n  short:\n    ticker: QQQ\n"
            "catalysts:\n  - Not a link\n",
            "t.md:8: 'Not a link' is not a wikilink (key: catalysts[0])",
        ),
        (
            "rotation-notes:\n  long:\n    ticker: ZZZZ\n  short:\n    ticker: QQQ\n",
            "no market data for ZZZZ (live fetch failed: network unreachable; "
            "not in the cache or the bundled data)",
        ),
        (
            "rotation-notes:\n  long:\n    ticker: IWM\n  short:\n    ticker: QQQ\n  charts:\n"
            "    - file: ../escape.png\n",
            "is not a plain .png file name",
        ),
        ("rotation-notes: yes\n", "must be a mapping of keys to values (key: rotation-notes)"),
        (
            "rotation-notes:\n  long:\n    ticker: IWM\n  short:\n    ticker: QQQ\n  setup:\n"
            "    metrics:\n      - name: Market cap\n        long: " + "9" * 400 + "\n"
            "        short: 26\n        source: typed in\n        as_of: 2026-02-04\n",
            "t.md:10: a 400-digit number is too large (the largest is about 1.8e308) "
            "(key: rotation-notes.setup.metrics[0].long)",
        ),
    ],
)
def test_spec_errors_are_named_and_note_untouched(make_vault, frontmatter, expect):
    text = "---\n" + frontmatter + "---\n%% rotation-notes:setup %%\n%% /rotation-notes:setup %%\n"
    vault = make_vault({"t.md": text})
    note = refresh_one(vault)
    assert note.status == "failed"
    assert expect in note.error
    assert (vault / "t.md").read_text() == text


def test_catalyst_note_without_window_names_that_note(make_vault):
    thesis = THESIS_FRONTMATTER.replace(
        "---\nrotation-notes:", '---\ncatalysts:\n  - "[[Event]]"\nrotation-notes:'
    )
    vault = make_vault(
        {
            "t.md": thesis + "%% rotation-notes:catalysts %%\n%% /rotation-notes:catalysts %%\n",
            "Events/Event.md": "---\nevent_start: 2026-13-01\n---\n",
        }
    )
    note = refresh_one(vault)
    assert note.status == "updated"  # the catalyst's mistake costs its row (issue 13)
    assert (
        "t.md: catalyst [[Event]] is n/a: Events/Event.md:2: '2026-13-01' is not a valid date "
        "(month must be in 1..12) (key: event_start)" in note.warnings[-1]
    )


def test_catalysts_discovered_from_body_links(make_vault):
    vault = make_vault(
        {
            "t.md": THESIS + "See [[Event]] and [[Other]].\n",
            "Event.md": "---\nevent_start: 2026-02-03\nevent_end: 2026-02-04\n---\n",
            "Other.md": "---\ntags: [x]\n---\n",
        }
    )
    note = refresh_one(vault)
    assert note.status == "updated", note.error
    assert [c["note"] for c in note.catalysts] == ["Event.md"]
    assert "| [[Event]] | 2026-02-03 → 2026-02-04 |" in (vault / "t.md").read_text()


def test_invalid_utf8_thesis_is_refused_and_other_notes_ignored(make_vault):
    vault = make_vault(
        {"t.md": THESIS.encode() + b"\xff\xfe bad\n", "latin1.md": "caf\xe9 \n".encode("latin-1")}
    )
    report = refresh(vault, RefreshOptions())
    assert [(n.path, n.status) for n in report.notes] == [("t.md", "failed")]
    assert "not valid UTF-8" in report.notes[0].error


def test_missing_data_for_a_tracked_ticker_shows_na_with_reason(make_vault):
    thesis = THESIS_FRONTMATTER.replace(
        "  history:", "  tracking:\n    tickers: [IWM, NOPE]\n  history:"
    )
    vault = make_vault(
        {"t.md": thesis + "%% rotation-notes:tracking %%\n%% /rotation-notes:tracking %%\n"}
    )
    note = refresh_one(vault)
    assert note.status == "updated", note.error
    text = (vault / "t.md").read_text()
    assert "| NOPE | NOPE | n/a | n/a |" in text
    assert (
        "*NOPE: n/a, live fetch failed: network unreachable; not in the cache or the bundled data.*"
        in text
    )


def test_stale_hand_metric_is_flagged(make_vault):
    thesis = THESIS_FRONTMATTER.replace(
        "  history:",
        (
            "  setup:\n    stale_after_days: 30\n    metrics:\n      - name: Forward P/E\n"
            "        long: 18\n        short: 26\n        unit: x\n        source: FactSet\n"
            "        as_of: 2026-01-02\n        gap: true\n  history:"
        ),
    )
    vault = make_vault(
        {"t.md": thesis + "%% rotation-notes:setup %%\n%% /rotation-notes:setup %%\n"}
    )
    result = run_main("refresh", vault, "--as-of", "2026-02-04")
    assert result.returncode == 0, result.stderr
    text = (vault / "t.md").read_text()
    assert "| Forward P/E ⚠ stale | 18x | 26x |" in text
    assert "| Forward P/E gap | -30.8% vs QQQ | — |" in text
    assert "as of 2026-01-02 (33 days old, older than 30 days" in text
    fresh = run_main("refresh", vault, "--as-of", "2026-01-20")
    assert fresh.returncode == 0
    assert "| Forward P/E | 18x | 26x |" in (vault / "t.md").read_text()


def test_as_of_before_any_data_fails_clearly(make_vault):
    vault = make_vault({"t.md": THESIS})
    result = run_main("refresh", vault, "--as-of", "1990-01-01")
    assert result.returncode == 2
    assert "no market data for IWM on or before 1990-01-01; it starts 2000-05-26" in result.stderr


def test_no_network_and_no_data_fails_clearly(make_vault):
    vault = make_vault({"t.md": THESIS}, data=False)
    result = run_main("refresh", vault)
    assert result.returncode == 2
    assert (
        "t.md: no market data for IWM (live fetch failed: network unreachable; "
        "not in the cache or the bundled data)" in result.stderr
    )


@pytest.mark.parametrize("names", ["5", "yes", "\n    - IWM: iShares"])
def test_bad_names_value_fails_only_that_note(make_vault, names):
    bad = THESIS.replace("  history:", f"  names: {names}\n  history:", 1)
    vault = make_vault({"bad.md": bad, "good.md": THESIS})
    result = run_main("refresh", vault)
    assert result.returncode == 2
    assert "failed     bad.md:" in result.stderr and "must be a mapping" in result.stderr
    assert "updated    good.md" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_linked_note_is_said_visibly(make_vault):
    thesis = THESIS.replace(
        "---\nrotation-notes:", '---\ncatalysts:\n  - "[[Ev]]"\nrotation-notes:', 1
    )
    vault = make_vault({"t.md": thesis})
    (vault / "Ev.md").symlink_to(vault / "nowhere.md")  # a dangling link: listed, unreadable
    report = refresh(vault, RefreshOptions())
    assert [(n.path, n.status) for n in report.notes] == [("t.md", "updated")]
    (warning,) = [w for w in report.notes[0].warnings if "[[Ev]]" in w]
    assert warning.startswith("t.md: catalyst [[Ev]] is n/a: Ev.md is a link to nothing")


def test_two_theses_drawing_one_chart_differently_is_an_error(make_vault):
    other = THESIS.replace("  history:", "  charts:\n    - days: 30\n  history:", 1)
    vault = make_vault({"a.md": THESIS, "b.md": other})
    first = run_main("refresh", vault)
    assert first.returncode == 2
    assert (
        "b.md: chart iwm-vs-qqq-price-chart.png is also drawn by a.md, with different data or "
        "settings. give one of the two charts another file name" in first.stderr
    )
    before = (vault / "iwm-vs-qqq-price-chart.png").read_bytes()
    again = run_main("refresh", vault)  # no ping-pong: the shared file is not rewritten
    assert "0 updated, 1 unchanged, 1 failed" in again.stderr
    assert (vault / "iwm-vs-qqq-price-chart.png").read_bytes() == before
