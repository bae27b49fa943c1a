"""The chart's divergence label (``+1.0 pp``) never sits on a line, the arrow or the legend.

Issue 13: on a 3-ticker chart (``-5.6 pp``) and on a 30-day chart (``+1.0 pp``) the label,
always drawn beside the arrow, lay across the lines there and was hard to read. Charts of
the sample data in several shapes are drawn for real, and the label's box, as the renderer
measures it, is checked against each line's path in display space (matplotlib's own
geometry, ``Path.intersects_bbox``), the arrow and the legend, and kept inside the figure.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

from conftest import SAMPLE_DATA, digests_in_a_fresh_process
from rotation_notes import load_prices
from rotation_notes.output.charts import ARROW_GID, LABEL_GID, ChartLine, chart_figure, draw_chart
from rotation_notes.thesis import metrics as m

SYMBOLS = ("IWM", "QQQ", "SPY", "^RUT", "^IXIC", "^GSPC", "IWO", "IWN")
PRICES = load_prices(SAMPLE_DATA, SYMBOLS).closes


def sample_lines(tickers: tuple[str, ...], days: int, as_of: str) -> list[ChartLine]:
    """The lines ``refresh`` draws for these tickers (as ``thesis/chartplans.py`` builds them)."""
    day = dt.date.fromisoformat(as_of)
    for sym in tickers:
        assert m.chart_problem(PRICES[sym], day, days) is None, sym
    return [ChartLine(sym, sym, m.rebased(PRICES[sym], day, days)) for sym in tickers]


def flat_lines() -> list[ChartLine]:
    """Two quotes that never move: both lines lie on the 0% line, the arrow has no length."""
    days = pd.bdate_range("2026-05-25", "2026-08-21")
    return [ChartLine(s, s, pd.Series(np.zeros(len(days)), index=days)) for s in ("A", "B")]


def crowded_lines() -> list[ChartLine]:
    """Lines swinging across the whole height every session: no spot inside is free."""
    days = pd.bdate_range("2026-05-25", "2026-08-21")
    swing = np.where(np.arange(len(days)) % 2 == 0, -10.0, 10.0)
    swing[0] = 0.0
    return [
        ChartLine("A", "A", pd.Series(swing, index=days)),
        ChartLine("B", "B", pd.Series(-swing, index=days)),
        ChartLine("C", "C", pd.Series(swing * 0.5, index=days)),
    ]


#: name -> (lines, days, the label's text)
CHARTS = {
    # the two reports
    "3 tickers, -5.6 pp": (
        lambda: sample_lines(("SPY", "IWM", "QQQ"), 90, "2026-06-15"),
        90,
        "-5.6 pp",
    ),
    "30 days, +1.0 pp": (lambda: sample_lines(("IWM", "QQQ"), 30, "2026-08-21"), 30, "+1.0 pp"),
    # the sample vault's own chart (its label touched the QQQ line too)
    "2 tickers, 90 days": (lambda: sample_lines(("IWM", "QQQ"), 90, "2026-08-21"), 90, "+5.7 pp"),
    "3 tickers, 365 days": (
        lambda: sample_lines(("SPY", "QQQ", "IWM"), 365, "2026-08-21"),
        365,
        "-5.6 pp",
    ),
    # IWM and QQQ cross on the last session: the arrow is a dot where both lines meet
    "a crossing pair": (lambda: sample_lines(("IWM", "QQQ"), 30, "2026-08-06"), 30, "-0.0 pp"),
    "flat lines": (flat_lines, 90, "+0.0 pp"),
    "8 tickers": (lambda: sample_lines(SYMBOLS, 90, "2026-07-31"), 90, "+2.7 pp"),
    "no free spot inside": (crowded_lines, 90, "-20.0 pp"),
}


def label_of(fig: Figure) -> Annotation:
    (label,) = [t for t in fig.axes[0].texts if t.get_gid() == LABEL_GID]
    assert isinstance(label, Annotation)
    return label


def geometry(fig: Figure) -> tuple[Bbox, list, Bbox, Bbox]:
    """The label's box, each line's display-space path, the arrow's and the legend's boxes,
    as drawn (the same renderer ``savefig`` uses)."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    ax = fig.axes[0]
    box = label_of(fig).get_window_extent(renderer)
    paths = [
        (
            "the 0% line" if ln.get_label().startswith("_") else ln.get_label(),
            ln.get_transform().transform_path(ln.get_path()),
        )
        for ln in ax.lines
    ]
    (arrow,) = [t for t in ax.texts if t.get_gid() == ARROW_GID]
    assert isinstance(arrow, Annotation) and arrow.arrow_patch is not None
    arrow_box = arrow.arrow_patch.get_window_extent(renderer)
    legend = ax.get_legend()
    assert legend is not None
    return box, paths, arrow_box, legend.get_window_extent(renderer)


@pytest.mark.parametrize("name", CHARTS)
def test_the_label_is_clear_of_every_line_the_arrow_and_the_legend(name):
    make, days, text = CHARTS[name]
    fig = chart_figure(make(), days)
    assert label_of(fig).get_text() == text
    box, paths, arrow_box, legend_box = geometry(fig)

    crossed = [label for label, path in paths if path.intersects_bbox(box, filled=False)]
    assert crossed == [], f"the label {text} lies on {crossed}"
    assert not box.overlaps(arrow_box), (box, arrow_box)
    assert not box.overlaps(legend_box), (box, legend_box)
    assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1), box


@pytest.mark.parametrize("name", CHARTS)
def test_the_legend_covers_no_line_of_data(name):
    """Issue 14: labels never cover the data. The legend, always upper left, lay across the
    QQQ line of the crossing pair and across four lines of the 8-ticker chart; it now moves
    to a clear spot inside, else outside the plot, and stays inside the figure."""
    make, days, _ = CHARTS[name]
    fig = chart_figure(make(), days)
    _, paths, _, legend_box = geometry(fig)
    series = [(label, p) for label, p in paths if label != "the 0% line"]
    covered = [label for label, path in series if path.intersects_bbox(legend_box, filled=False)]
    assert covered == [], f"the legend covers {covered}"
    assert fig.bbox.contains(legend_box.x0, legend_box.y0)
    assert fig.bbox.contains(legend_box.x1, legend_box.y1), legend_box


def test_a_legend_that_covers_nothing_upper_left_stays_there():
    """The sample's own chart kept its legend where it was: its PNG did not change."""
    fig = chart_figure(sample_lines(("IWM", "QQQ"), 90, "2026-08-21"), 90)
    _, _, _, legend_box = geometry(fig)
    ax_box = fig.axes[0].bbox
    assert abs(legend_box.x0 - ax_box.x0) < 20 and abs(legend_box.y1 - ax_box.y1) < 20


def test_the_label_stays_beside_the_arrow_when_there_is_room():
    """The usual case is unchanged: level with the middle of the arrow, just left of it
    (this chart's label was clear there before the fix too: the test pins that it stays)."""
    fig = chart_figure(sample_lines(("SPY", "IWM", "QQQ"), 90, "2026-02-27"), 90)
    box, _, arrow_box, _ = geometry(fig)
    assert label_of(fig).get_text() == "-5.6 pp"
    assert arrow_box.x0 - 15 < box.x1 <= arrow_box.x0
    assert box.y0 < (arrow_box.y0 + arrow_box.y1) / 2 < box.y1


def test_with_no_free_spot_inside_the_label_goes_in_the_right_margin():
    fig = chart_figure(crowded_lines(), 90)
    box, *_ = geometry(fig)
    ax = fig.axes[0].bbox
    assert ax.x1 < box.x0 and box.x1 <= fig.bbox.x1  # right of the plot, inside the figure
    assert ax.y0 < box.y0 and box.y1 < ax.y1


@pytest.mark.parametrize("name", CHARTS)
def test_the_same_lines_give_the_same_bytes(name):
    make, days, _ = CHARTS[name]
    assert draw_chart(make(), days).png == draw_chart(make(), days).png


def test_another_process_draws_the_same_bytes():
    """Placement depends on nothing but the data: a fresh interpreter draws the same charts
    byte for byte (what lets a second refresh write nothing)."""
    assert digests_in_a_fresh_process("test_chart_label") == digests()


def digests() -> list[str]:
    """The SHA-256 of a chart placed beside the arrow, in a corner and in the margin."""
    names = ("3 tickers, -5.6 pp", "30 days, +1.0 pp", "no free spot inside")
    return [hashlib.sha256(draw_chart(CHARTS[n][0](), CHARTS[n][1]).png).hexdigest() for n in names]


@pytest.mark.parametrize("name", CHARTS)
def test_each_chart_is_drawn_once(name, monkeypatch):
    """Issue 15: placing the label and the legend (inside, or in the margin with the layout
    redone) measures without drawing; the PNG is the chart's only draw."""
    from test_chart_story import count_draws

    make, days, _ = CHARTS[name]
    calls = count_draws(monkeypatch)
    assert chart_figure(make(), days).get_layout_engine() is None
    assert calls == []
    draw_chart(make(), days)
    assert calls == [True]


#: What a user may type in a label, a catalyst's title or a level's name: dollar amounts, and
#: a pair of ``$`` around what is not valid TeX.
DOLLARS = ("From $5 to $4", r"Bad $\frac{$ TeX")


@pytest.mark.parametrize("words", DOLLARS)
def test_a_users_dollar_signs_are_drawn_as_typed_in_every_chart_text(words):
    """matplotlib reads text between two ``$`` as mathtext: a user's "$5 to $4" came out as
    math, and "$\\frac{$" raised, failing the note. Every text of both charts (legend, title,
    tags, level labels, panel titles) is drawn as written, and both charts draw."""
    from matplotlib.text import Text

    from rotation_notes.output.charts import (
        LevelLine,
        Marks,
        Panel,
        Span,
        draw_ratio_chart,
        is_own_chart,
        ratio_figure,
    )

    day = dt.date.fromisoformat
    drawn = sample_lines(("IWM", "QQQ"), 90, "2026-08-21")
    lines = [ChartLine(ln.symbol, f"{ln.symbol} {words}", ln.rebased) for ln in drawn]
    marks = Marks(day("2026-06-01"), (Span(day("2026-07-01"), day("2026-07-02"), words),))
    ratio = lines[0].rebased + 100
    panels = [
        Panel(ratio, f"Ratio {words}", "index", 100.0, (LevelLine(101.0, words, False, None),))
    ]
    figs = [chart_figure(lines, 90, marks), ratio_figure(panels, words, marks)]
    for fig in figs:
        fig.draw_without_rendering()
        texts = [t for t in fig.findobj(Text) if t.get_text()]
        assert sum(words in t.get_text() for t in texts) >= 2
        for t in texts:
            assert t._preprocess_math(t.get_text())[1] is False, t.get_text()
    assert is_own_chart(draw_chart(lines, 90, marks).png)
    assert is_own_chart(draw_ratio_chart(panels, words, marks).png)
