"""Issue 14's charts tell the thesis's story: the price chart marks the opened session and
shades each catalyst window; the ratio chart draws the pair's ratio since the open with every
level as a labelled line, the first crossing as a dot.

Charts of the sample data are drawn for real and checked on the renderer's geometry (window
extents in display space, paths in data space): what is marked is where its dates are, no tag
or label lies inside any axes' data area or on another tag, the divergence label still keeps
clear of every line (the opened line too), and the same inputs give the same bytes, in this
process and in a fresh one. A chart that marks nothing is the chart drawn before marks existed.
"""

from __future__ import annotations

import datetime as dt
import itertools

import matplotlib.dates as mdates
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from conftest import SAMPLE_DATA
from rotation_notes import load_prices
from rotation_notes.output.charts import (
    LABEL_GID,
    OPENED_GID,
    SPAN_GID,
    TAG_GID,
    ChartLine,
    Marks,
    Span,
    chart_figure,
    draw_chart,
    is_own_chart,
)
from rotation_notes.thesis import metrics as m

D = dt.date.fromisoformat
PRICES = load_prices(SAMPLE_DATA, ("IWM", "QQQ")).closes
OPENED = D("2026-02-04")
COWORK = Span(D("2026-02-03"), D("2026-02-04"), "Claude Cowork disruption February 2026")
STORY = Marks(OPENED, (COWORK,))
#: Five windows in nine sessions: their tags cannot all share one row.
CROWDED = Marks(
    D("2026-03-02"),
    tuple(
        Span(D(f"2026-03-{day:02d}"), D(f"2026-03-{day + 1:02d}"), f"Catalyst number {day} ahead")
        for day in (2, 4, 6, 9, 11)
    ),
)


def pair(days: int, as_of: str) -> list[ChartLine]:
    """IWM and QQQ as ``refresh`` draws them (``thesis/chartplans.py``)."""
    day = D(as_of)
    return [ChartLine(s, s, m.rebased(PRICES[s], day, days)) for s in ("IWM", "QQQ")]


#: name -> (lines, days, marks)
PRICE_CHARTS = {
    "365 days": (lambda: pair(365, "2026-08-21"), 365, STORY),
    "90 days": (lambda: pair(90, "2026-04-30"), 90, STORY),
    "crowded": (lambda: pair(90, "2026-04-15"), 90, CROWDED),
}


def day(value: dt.date | str) -> float:
    return float(mdates.date2num(pd.Timestamp(value)))


def drawn(fig: Figure) -> None:
    fig.draw_without_rendering()  # limits, ticks and layout as savefig has them


def extent(fig: Figure, artist) -> Bbox:
    return artist.get_window_extent(fig.canvas.get_renderer())  # type: ignore[attr-defined]


def with_gid(fig: Figure, gid: str, kind: str) -> list:
    """Every artist of ``kind`` (lines, patches, texts) with ``gid``, on every axes."""
    return [a for ax in fig.axes for a in getattr(ax, kind) if a.get_gid() == gid]


def tags(fig: Figure) -> list[Text]:
    return with_gid(fig, TAG_GID, "texts")


def assert_outside_every_data_area(fig: Figure, texts: list[Text]) -> None:
    for text in texts:
        box = extent(fig, text)
        for ax in fig.axes:
            assert not box.overlaps(ax.bbox), f"{text.get_text()!r} lies in a plot: {box}"
        inside = fig.bbox
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1, f"{text.get_text()!r} is cut off"
        assert inside.y0 <= box.y0 and box.y1 <= inside.y1, f"{text.get_text()!r} is cut off"


def assert_apart(fig: Figure, texts: list[Text]) -> None:
    for a, b in itertools.combinations(texts, 2):
        assert not extent(fig, a).overlaps(extent(fig, b)), (a.get_text(), b.get_text())


# --- the price chart ---------------------------------------------------------------------


def test_marking_nothing_draws_the_chart_as_before():
    """Marks() and marks wholly outside the window change no byte: a user who declares
    nothing new gets no chart rewritten by an upgrade."""
    lines = pair(90, "2026-08-21")  # 2026-05-23 to 2026-08-21: the story's marks lie before
    plain = draw_chart(lines, 90)
    assert draw_chart(lines, 90, Marks()).png == plain.png
    assert draw_chart(lines, 90, STORY).png == plain.png
    fig = chart_figure(lines, 90, STORY)
    assert fig.axes[0].get_autoscalex_on()  # nothing drawn for marks, not even their limits
    assert with_gid(fig, OPENED_GID, "lines") == []
    assert with_gid(fig, SPAN_GID, "patches") == []
    assert tags(fig) == []


@pytest.mark.parametrize("name", ["365 days", "90 days"])
def test_the_opened_line_and_the_catalyst_window_are_at_their_dates(name):
    make, days, marks = PRICE_CHARTS[name]
    fig = chart_figure(make(), days, marks)
    drawn(fig)
    ax = fig.axes[0]

    (opened,) = with_gid(fig, OPENED_GID, "lines")
    assert list(opened.get_xdata()) == [day(OPENED)] * 2
    assert tuple(opened.get_ydata()) == (0, 1)  # the plot's full height

    (patch,) = with_gid(fig, SPAN_GID, "patches")
    box = extent(fig, patch).transformed(ax.transData.inverted())
    assert box.x0 <= day(COWORK.start) - 0.5 + 1e-6
    assert box.x1 >= day(COWORK.end) + 0.5 - 1e-6
    assert box.x1 - box.x0 < 5  # the window, not a stretch of the chart
    assert sorted(t.get_text() for t in tags(fig)) == ["Claude Cowork disruption Feb…", "opened"]


def test_a_one_day_window_is_shaded_a_session_wide_and_a_partial_one_is_clipped():
    lines = pair(90, "2026-04-30")  # first session 2026-01-30
    marks = Marks(
        None,
        (
            Span(D("2026-03-10"), D("2026-03-10"), "CPI"),
            Span(D("2026-01-01"), D("2026-02-02"), "Q4 earnings season"),
            Span(D("2026-04-29"), D("2026-06-30"), "Russell reconstitution"),
        ),
    )
    fig = chart_figure(lines, 90, marks)
    drawn(fig)
    inverse = fig.axes[0].transData.inverted()
    boxes = [extent(fig, p).transformed(inverse) for p in with_gid(fig, SPAN_GID, "patches")]
    early, cpi, late = sorted(boxes, key=lambda b: b.x0)
    assert cpi.x0 == pytest.approx(day("2026-03-10") - 0.5)
    assert cpi.x1 == pytest.approx(day("2026-03-10") + 0.5)
    first, last = lines[0].rebased.index[0], lines[0].rebased.index[-1]
    assert early.x0 == pytest.approx(day(first) - 0.5)  # clipped to the sessions drawn
    assert early.x1 == pytest.approx(day("2026-02-02") + 0.5)
    assert late.x0 == pytest.approx(day("2026-04-29") - 0.5)
    assert late.x1 == pytest.approx(day(last) + 0.5)


@pytest.mark.parametrize("name", PRICE_CHARTS)
def test_tags_sit_above_the_plot_clear_of_each_other_and_of_the_title(name):
    make, days, marks = PRICE_CHARTS[name]
    fig = chart_figure(make(), days, marks)
    drawn(fig)
    ax = fig.axes[0]
    found = tags(fig)
    assert len(found) == (marks.opened is not None) + len(marks.spans)
    assert_outside_every_data_area(fig, found)
    assert_apart(fig, found)
    title = extent(fig, ax.title)
    for tag in found:
        box = extent(fig, tag)
        assert ax.bbox.y1 <= box.y0, f"{tag.get_text()!r} is not above the plot"
        assert box.y1 <= title.y0, f"{tag.get_text()!r} runs into the title"
        assert ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1  # over the plot it belongs to
    if name == "crowded":
        assert len({round(extent(fig, t).y0) for t in found}) >= 3  # staggered onto rows


def test_a_tag_stands_over_its_mark_when_there_is_room():
    make, days, marks = PRICE_CHARTS["crowded"]
    fig = chart_figure(make(), days, marks)
    drawn(fig)
    (opened,) = [t for t in tags(fig) if t.get_text() == "opened"]
    box = extent(fig, opened)
    x, _ = fig.axes[0].transData.transform((day("2026-03-02"), 0))
    assert box.x0 < x < box.x1


def test_the_divergence_label_keeps_clear_of_the_opened_line():
    """The label's first choice, left of the arrow on the last session, is where an opened
    line two sessions earlier runs: it goes elsewhere, clear of every line."""
    lines = pair(90, "2026-02-27")
    bare = chart_figure(lines, 90)
    drawn(bare)
    (label,) = with_gid(bare, LABEL_GID, "texts")
    beside = extent(bare, label).transformed(bare.axes[0].transData.inverted())
    opened = lines[0].rebased.index[-3].date()
    assert beside.x0 < day(opened) < beside.x1  # the opened line would cross it there

    fig = chart_figure(lines, 90, Marks(opened))
    drawn(fig)
    (label,) = with_gid(fig, LABEL_GID, "texts")
    box = extent(fig, label)
    for line in fig.axes[0].lines:
        path = line.get_transform().transform_path(line.get_path())
        assert not path.intersects_bbox(box, filled=False), (line.get_gid(), line.get_label())


@pytest.mark.parametrize("name", PRICE_CHARTS)
def test_the_same_marks_give_the_same_bytes(name):
    make, days, marks = PRICE_CHARTS[name]
    first = draw_chart(make(), days, marks).png
    assert first == draw_chart(make(), days, marks).png
    assert is_own_chart(first)
    assert first != draw_chart(make(), days).png
