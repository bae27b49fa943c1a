"""Issue 14 attacked a second time, as a user follows the README and the docs: defects found,
each fixed; every test fails on the code before its fix.

Ranked by harm: a chart that draws the thesis's own invalidation line at a value the axis
says it is not; a top-level ``opened:`` property silently ignored; the scorecard appended
below the note's footer; a ratio level's distance in points written as percent.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import pytest

from conftest import ROOT, SAMPLE, SAMPLE_NOTE, run_main


def region(text: str, name: str) -> str:
    found = re.search(
        rf"%% rotation-notes:{name} %%\n(.*?)%% /rotation-notes:{name} %%", text, re.S
    )
    assert found, f"no {name} region"
    return found.group(1)


# --- 1. a level line drawn at a value the axis says it is not ------------------------------


def test_the_sample_invalidation_line_sits_where_the_axis_says_minus_15(monkeypatch):
    """The sample note a month after opening (``--as-of 2026-03-06``): its ratio chart's spread
    panel draws 'Thesis invalidated: below -15 pp (↓ -15.0 pp)' as a full-width line at about
    -9.7 pp, right beside the axis's '-10.0 pp' tick. Read off the chart, the thesis is 7 pp from
    invalidation; it is 12.4 pp away. The same for the ratio target (+10%, drawn at ~109).
    docs/frontmatter.md says each level is 'a labelled horizontal line at 100 + level'. Early in
    a thesis the data's range is small, so every level is drawn at a false value.

    Expected: every level line is drawn at its level's value (extend the axis while the data
    keeps a fair share of the height); a level truly far off is an edge marker, not a line across
    the panel at a value the ticks contradict."""
    from rotation_notes import load_prices, render_thesis, symbols_of
    from rotation_notes.output.charts import LEVEL_GID, ratio_figure
    from rotation_notes.thesis import chartplans

    drawn: list[tuple] = []
    real = chartplans.draw_ratio_chart

    def recording(panels, title, marks=None, *args, **kwargs):
        drawn.append((panels, title, marks))
        return real(panels, title, marks, *args, **kwargs)

    monkeypatch.setattr(chartplans, "draw_ratio_chart", recording)
    text = (SAMPLE / SAMPLE_NOTE).read_text(encoding="utf-8")
    prices = load_prices(SAMPLE / "Data" / "market-data", symbols_of(text))
    render_thesis(text, prices, as_of=dt.date(2026, 3, 6))
    (panels, title, marks), *_ = drawn
    fig = ratio_figure(panels, title, marks)
    fig.draw_without_rendering()
    checked = 0
    for ax, panel in zip(fig.axes, panels, strict=True):
        lines = [ln for ln in ax.lines if ln.get_gid() == LEVEL_GID]
        for line, level in zip(lines, panel.levels, strict=False):
            checked += 1
            y = float(line.get_ydata()[0])
            assert y == pytest.approx(level.value), (
                f"{level.label!r} is drawn at {y:.2f} on an axis reading "
                f"{ax.get_ylim()[0]:.1f}..{ax.get_ylim()[1]:.1f}"
            )
    assert checked  # the sample has three levels, each drawn on its panel


# --- 2. a top-level opened: property, silently ignored ---------------------------------------


def test_a_top_level_opened_property_is_used_or_said(make_vault):
    """Obsidian's Properties panel adds a property at the top level (it cannot edit a key nested
    under ``rotation-notes``), next to ``created`` and the top-level ``catalysts`` the docs ask
    for. A user who opened the trade on 2026-03-02 and adds ``opened: 2026-03-02`` there gets a
    scorecard, levels and first crossings measured from ``created`` (2026-02-04): spread -2.6 pp
    over 137 sessions instead of the trade's own figures, and no warning on stderr, in --json or
    in the note (the misspelt-``rotation-notes`` warnings show the tool does warn for near
    misses). Expected: use it, or warn naming the line and the fix ('move opened: under
    rotation-notes:')."""
    vault = make_vault(
        {
            "T.md": "---\ncreated: 2026-02-04\nopened: 2026-03-02\nrotation-notes:\n"
            "  long:\n    ticker: IWM\n  short:\n    ticker: QQQ\n---\n# T\n\n"
            "%% rotation-notes:scorecard %%\n%% /rotation-notes:scorecard %%\n"
        }
    )
    result = run_main("refresh", vault, "--offline", "--json", "--as-of", "2026-08-21")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (note,) = report["notes"]
    said = [
        str(w)
        for w in [*note["warnings"], *report["warnings"]]
        if "opened" in str(w) and "rotation-notes" in str(w)
    ]
    assert note["scorecard"]["opened"] == "2026-03-02" or said, note["scorecard"]


# --- 3. the scorecard appended after the note's footer ---------------------------------------


def test_readme_your_own_note_puts_the_scorecard_near_the_top(tmp_path):
    """README quick start, "Your own note": adopt the hand-kept sample note with ``--write
    --create-catalysts``, then refresh. The scorecard (the issue's 'is the thesis working?')
    is appended as '## Scorecard' after '## Related' and after the note's last line, '*Created
    2026-02-04*', its footer. ``refresh --init`` on a thesis without the region does the same.
    The committed sample note has it right under the intro, before '## The setup', as the status
    callouts are near the top. Expected: the scorecard lands near the top (after the status /
    updated regions, or before the note's first section), not below the footer."""
    vault = tmp_path / "try"
    (vault / ".obsidian").mkdir(parents=True)
    note = vault / SAMPLE_NOTE
    shutil.copy(ROOT / "tests" / "fixtures" / "hand-notes" / SAMPLE_NOTE, note)
    adopted = run_main("adopt", note, "--write", "--create-catalysts")
    assert adopted.returncode == 0, adopted.stderr
    result = run_main("refresh", vault, "--data", SAMPLE / "Data" / "market-data")
    assert result.returncode == 0, result.stderr
    text = note.read_text(encoding="utf-8")
    assert "Since 2026-02-04: IWM/QQQ spread -2.6 pp over 137 sessions" in region(text, "scorecard")
    scorecard = text.index("%% rotation-notes:scorecard %%")
    assert scorecard < text.index("*Created 2026-02-04*"), "below the note's footer"
    assert scorecard < text.index("## The setup"), "not near the top"


# --- 4. a ratio level's distance in points written as percent --------------------------------


def test_a_ratio_levels_distance_is_what_the_ratio_must_move(sample_vault):
    """The sample's status as of 2026-08-21: 'IWM/QQQ ratio above +10%: now -2.2%, 12.2% away'.
    The ratio (97.81 rebased) must rise to 110, a move of +12.5%: a reader computing 'how far'
    from the ratio gets 12.5%, not 12.2%. The 12.2 is ``level - ratio_pct``, percentage points
    (docs/frontmatter.md: near is 'in the level's units', '2 points for spread and ratio').
    The same holds for '(near: within 2.0%)'. Expected: say points ('12.2 pts away') or give
    the ratio's own move (12.5%)."""
    result = run_main("refresh", sample_vault, "--offline", "--as-of", "2026-08-21")
    assert result.returncode == 0, result.stderr
    status = region((sample_vault / SAMPLE_NOTE).read_text(encoding="utf-8"), "status")
    line = next(ln for ln in status.splitlines() if "ratio above +10%" in ln)
    found = re.search(r"now ([-+]?[\d.]+)%, ([\d.]+)(%|\s*pts?\b|\s*points?\b) away", line)
    assert found, line
    now, distance, unit = float(found[1]), float(found[2]), found[3].strip()
    if unit == "%":
        assert distance == pytest.approx((110 / (100 + now) - 1) * 100, abs=0.06), line
