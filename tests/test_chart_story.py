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
import hashlib
import itertools
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from conftest import SAMPLE_DATA, digests_in_a_fresh_process
from rotation_notes import load_prices
from rotation_notes.output.charts import (
    _LEVEL_SPACE,
    CROSSING_GID,
    LABEL_GID,
    LEVEL_GID,
    LEVEL_LABEL_GID,
    OPENED_GID,
    SPAN_GID,
    TAG_GID,
    ChartLine,
    LevelLine,
    Marks,
    Panel,
    Span,
    chart_figure,
    draw_chart,
    draw_ratio_chart,
    is_own_chart,
    ratio_figure,
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


# --- the ratio chart ---------------------------------------------------------------------


def since_open() -> tuple[pd.Series, pd.Series]:
    """IWM/QQQ rebased to 100 at the open and IWM minus QQQ in pp, 2026-02-04 to 2026-08-21."""
    iwm, qqq = (PRICES[s].loc["2026-02-04":"2026-08-21"] for s in ("IWM", "QQQ"))
    ratio = (iwm / qqq) / float(iwm.iloc[0] / qqq.iloc[0]) * 100
    spread = (iwm / float(iwm.iloc[0]) - qqq / float(qqq.iloc[0])) * 100
    return ratio, spread


def crossed_below(series: pd.Series, level: float) -> dt.date:
    return series[series < level].index[0].date()


def story_panels(*, ratio_levels: tuple[LevelLine, ...] | None = None) -> list[Panel]:
    ratio, spread = since_open()
    if ratio_levels is None:
        ratio_levels = (
            LevelLine(110.0, "Target: ratio 110", False, None),
            LevelLine(90.0, "Thesis invalidated: ratio below 90", False, None),
        )
    return [
        Panel(ratio, "IWM/QQQ ratio (open = 100)", "index", 100.0, ratio_levels),
        Panel(
            spread,
            "IWM minus QQQ since open",
            "pp",
            0.0,
            (
                LevelLine(-15.0, "Stop: below -15 pp", False, None),
                LevelLine(-10.0, "Warning: below -10 pp", True, crossed_below(spread, -10.0)),
            ),
        ),
    ]


TITLE = "IWM vs QQQ since the thesis opened (2026-02-04 to 2026-08-21)"


def levels(fig: Figure, ax: Axes) -> list[Line2D]:
    return [ln for ln in ax.lines if ln.get_gid() == LEVEL_GID]


def level_labels(fig: Figure) -> list[Text]:
    return with_gid(fig, LEVEL_LABEL_GID, "texts")


def test_the_ratio_chart_draws_each_level_at_its_value_and_labels_it_in_the_margin():
    fig = ratio_figure(story_panels(), TITLE, STORY)
    drawn(fig)
    top, bottom = fig.axes
    assert top.bbox.height > bottom.bbox.height  # the ratio is the main panel
    assert fig.get_figwidth() == 8

    assert [ln.get_ydata()[0] for ln in levels(fig, top)] == [110.0, 90.0]
    assert [ln.get_ydata()[0] for ln in levels(fig, bottom)] == [-15.0, -10.0]
    low, high = top.get_ylim()
    assert low < 90 and high > 110  # both outside the ratio's range, both visible
    stop, warning = levels(fig, bottom)
    assert warning.get_linewidth() > stop.get_linewidth()  # the level crossed stands out
    assert warning.get_color() != stop.get_color()

    labels = level_labels(fig)
    assert [t.get_text() for t in labels] == [
        "Target: ratio 110",
        "Thesis invalidated: ratio below 90",
        "Stop: below -15 pp",
        "Warning: below -10 pp",
    ]
    assert_outside_every_data_area(fig, labels)
    assert_apart(fig, labels)
    for ax, label, line in zip(
        (top, top, bottom, bottom),
        labels,
        [*levels(fig, top), *levels(fig, bottom)],
        strict=True,
    ):
        box = extent(fig, label)
        _, y = ax.transData.transform((0, line.get_ydata()[0]))
        assert box.y0 < y < box.y1, f"{label.get_text()!r} is not level with its line"
        assert ax.bbox.x1 < box.x0  # right of the plot


def test_the_first_crossing_is_a_dot_on_the_series_at_that_session():
    panels = story_panels()
    fig = ratio_figure(panels, TITLE)
    drawn(fig)
    spread = panels[1].series
    when = crossed_below(spread, -10.0)
    assert when == D("2026-05-15")  # the sample data's first close below -10 pp
    (dot,) = with_gid(fig, CROSSING_GID, "lines")
    assert dot.axes is fig.axes[1]
    assert list(dot.get_xdata()) == [pd.Timestamp(when)]
    assert list(dot.get_ydata()) == [pytest.approx(float(spread.loc[pd.Timestamp(when)]))]


def test_close_levels_get_labels_pushed_apart_in_their_order():
    close = tuple(
        LevelLine(v, f"Level at {v:.1f}", False, None) for v in (99.6, 100.0, 100.4, 100.8)
    )
    fig = ratio_figure(story_panels(ratio_levels=close), TITLE)
    drawn(fig)
    labels = level_labels(fig)[:4]
    assert_outside_every_data_area(fig, labels)
    assert_apart(fig, labels)
    heights = [extent(fig, t).y0 for t in labels]
    assert heights == sorted(heights)  # the highest level keeps the highest label
    top = fig.axes[0].bbox
    for label in labels:
        box = extent(fig, label)
        assert top.y0 <= box.y0 and box.y1 <= top.y1  # within its panel's height


def test_a_far_level_is_drawn_at_the_edge_with_its_value_said():
    """A level 5 times the data's range away gets no line (a line where the axis reads another
    value would mislead, as the second attack round found): a marker at the panel's top edge and
    a label that gives its value and says it is off the chart; the data keeps its height."""
    from rotation_notes.output.charts import LEVEL_EDGE_GID

    ratio, _ = since_open()
    far = 100 + 5 * float(ratio.max() - ratio.min())  # 5 times the data's range above
    fig = ratio_figure(story_panels(ratio_levels=(LevelLine(far, "Target", False, None),)), TITLE)
    drawn(fig)
    top = fig.axes[0]
    assert levels(fig, top) == []
    (edge,) = [ln for ln in top.lines if ln.get_gid() == LEVEL_EDGE_GID]
    low, high = top.get_ylim()
    assert low < edge.get_ydata()[0] <= high and edge.get_ydata()[0] < far
    # the data keeps at least a quarter of the height
    assert float(ratio.max() - ratio.min()) > 0.2 * (high - low)
    (label, *_) = level_labels(fig)
    assert label.get_text() == f"Target (↑ {far:.1f}, off the chart)"
    assert_outside_every_data_area(fig, [label])


def test_a_level_within_reach_is_a_line_at_its_value():
    """Within 3 times the data's range the axis stretches: the line is at the level's value."""
    ratio, _ = since_open()
    near = 100 + 2.5 * float(ratio.max() - ratio.min())
    fig = ratio_figure(story_panels(ratio_levels=(LevelLine(near, "Target", False, None),)), TITLE)
    drawn(fig)
    (line,) = levels(fig, fig.axes[0])
    assert line.get_ydata()[0] == pytest.approx(near)
    low, high = fig.axes[0].get_ylim()
    assert low < near < high


def test_the_ratio_chart_marks_the_open_and_the_catalyst_window_on_every_panel():
    fig = ratio_figure(story_panels(), TITLE, STORY)
    drawn(fig)
    for ax in fig.axes:
        assert [ln.get_xdata()[0] for ln in ax.lines if ln.get_gid() == OPENED_GID] == [day(OPENED)]
        assert len([p for p in ax.patches if p.get_gid() == SPAN_GID]) == 1
    found = tags(fig)
    assert sorted(t.get_text() for t in found) == ["Claude Cowork disruption Feb…", "opened"]
    assert_outside_every_data_area(fig, found)
    assert_apart(fig, found + level_labels(fig))
    top = fig.axes[0]
    panel_label = extent(fig, top._left_title)  # the panel's label, left above its plot
    for tag in found:
        box = extent(fig, tag)
        assert top.bbox.y1 <= box.y0 and box.y1 <= panel_label.y0


def test_the_ratio_chart_is_byte_identical_for_identical_inputs_and_marked_as_ours():
    title = "IWM → QQQ ratio… since open"  # not Latin-1: the mark must still be a tEXt
    first = draw_ratio_chart(story_panels(), title, STORY)
    assert first.png == draw_ratio_chart(story_panels(), title, STORY).png
    assert is_own_chart(first.png)
    assert b"Software" not in first.png.split(b"IDAT")[0]
    assert (first.first_session, first.last_session) == (D("2026-02-04"), D("2026-08-21"))


@pytest.mark.parametrize("points", [0, 1])
def test_a_panel_with_fewer_than_two_points_is_refused_by_name(points):
    ratio, _ = since_open()
    short = Panel(ratio.iloc[:points], "IWM close", "price", None)
    with pytest.raises(ValueError, match="'IWM close'"):
        draw_ratio_chart([story_panels()[0], short], TITLE)
    with pytest.raises(ValueError, match="'IWM close'"):
        ratio_figure([story_panels()[0], short], TITLE)


def test_a_panel_that_never_moves_still_draws():
    ratio, _ = since_open()
    flat = pd.Series(np.full(len(ratio), 250.0), index=ratio.index)
    panels = [story_panels()[0], Panel(flat, "IWM close", "price", None, ())]
    result = draw_ratio_chart(panels, TITLE)
    assert is_own_chart(result.png)


@pytest.fixture(scope="module")
def fresh_digests() -> list[str]:
    """``digests()`` as a new interpreter draws them (once for the module: it costs seconds)."""
    return digests_in_a_fresh_process("test_chart_story")


def test_another_process_draws_the_same_bytes(fresh_digests):
    """Placement depends on nothing but the data: a fresh interpreter draws the same."""
    assert fresh_digests == digests()


#: A user's matplotlib style in the process that starts a pool: a forked worker inherits it.
USER_STYLE = {"font.size": 14, "lines.linewidth": 3.0, "axes.facecolor": "#eeeeee"}


@pytest.mark.parametrize("context", ["spawn", "fork"])
def test_a_pool_worker_draws_the_bytes_of_this_process_and_of_a_fresh_one(context, fresh_digests):
    """The entry points and their arguments pickle, so charts can be drawn in a process pool
    (issue 15): a worker, started either way, draws each chart byte for byte as this process
    and a fresh interpreter do, whatever it drew before (a ratio chart, then a price chart
    twice) and whatever matplotlib style the process that forked it had."""
    make, days, marks = PRICE_CHARTS["crowded"]
    price = (draw_chart, (make(), days, marks))
    ratio = (draw_ratio_chart, (story_panels(), TITLE, STORY))
    jobs = [ratio, price, price]
    assert pickle.loads(pickle.dumps(jobs))[1][1][0][0].rebased.equals(make()[0].rebased)
    here = {name: fn(*args).png for name, (fn, args) in {"price": price, "ratio": ratio}.items()}

    with (
        matplotlib.rc_context(USER_STYLE),
        ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(context)) as pool,
    ):
        futures = [pool.submit(fn, *args) for fn, args in jobs]  # one worker: in this order
        drawn = [f.result().png for f in futures]

    assert drawn == [here["ratio"], here["price"], here["price"]]
    assert [hashlib.sha256(drawn[i]).hexdigest() for i in (1, 0)] == fresh_digests


def digests() -> list[str]:
    """SHA-256 of a staggered price chart and of the story's ratio chart."""
    make, days, marks = PRICE_CHARTS["crowded"]
    pngs = [draw_chart(make(), days, marks).png, draw_ratio_chart(story_panels(), TITLE, STORY).png]
    return [hashlib.sha256(png).hexdigest() for png in pngs]


def test_crowded_levels_and_crowded_tags_settle_together():
    """Five staggered tag rows shorten the first panel after its labels were first placed:
    the labels are placed again on the final layout, still apart and level-ordered."""
    close = tuple(
        LevelLine(v, f"Level at {v:.1f}", v == 100.4, None) for v in (99.6, 100.0, 100.4, 100.8)
    )
    fig = ratio_figure(story_panels(ratio_levels=close), TITLE, CROWDED)
    drawn(fig)
    labels = level_labels(fig)
    assert_outside_every_data_area(fig, labels + tags(fig))
    assert_apart(fig, labels + tags(fig))
    boxes = [extent(fig, t) for t in labels[:4]]
    assert [b.y0 for b in boxes] == sorted(b.y0 for b in boxes)
    for box in boxes:
        assert fig.axes[0].bbox.y0 <= box.y0 and box.y1 <= fig.axes[0].bbox.y1
    # pushed apart just enough, on the final layout (not one the tags' rows then changed)
    space = _LEVEL_SPACE * fig.dpi / 72
    gaps = [upper.y0 - lower.y1 for lower, upper in itertools.pairwise(boxes)]
    assert gaps == [pytest.approx(space, abs=0.25)] * 3
    _, lowest = fig.axes[0].transData.transform((0, 99.6))
    assert boxes[0].y0 < lowest < boxes[0].y1  # the lowest label is not pushed at all


def test_labels_of_levels_at_both_edges_stay_within_their_panel():
    """Levels far above and below a small panel's data are drawn at its edges: their labels
    stay within the panel's height, clear of the panel above and the dates below."""
    ratio, spread = since_open()
    edges = tuple(
        LevelLine(v, f"Far level {v:+.0f} pp", False, None) for v in (-900, -800, 800, 900)
    )
    panels = [story_panels()[0], Panel(spread, "IWM minus QQQ", "pp", 0.0, edges)]
    fig = ratio_figure(panels, TITLE)
    drawn(fig)
    labels = [t for t in level_labels(fig) if t.get_text().startswith("Far level")]
    assert len(labels) == 4
    assert_outside_every_data_area(fig, labels)
    assert_apart(fig, labels)
    small = fig.axes[1].bbox
    for label in labels:
        box = extent(fig, label)
        assert small.y0 <= box.y0 and box.y1 <= small.y1, label.get_text()


def count_draws(monkeypatch) -> list[bool]:
    """Each ``Figure.draw`` call from now on: True when it renders pixels, False when drawing
    is disabled (a measuring draw: ``draw_without_rendering``, or the one ``savefig`` makes
    first when a layout engine is left on the figure)."""
    calls: list[bool] = []
    real = Figure.draw

    def draw(fig, renderer):
        calls.append("draw_path" not in vars(renderer))  # _draw_disabled patches the instance
        return real(fig, renderer)

    monkeypatch.setattr(Figure, "draw", draw)
    return calls


@pytest.mark.parametrize("name", [*PRICE_CHARTS, "ratio", "ratio, crowded"])
def test_each_chart_is_drawn_once(name, monkeypatch):
    """Issue 15: drawing was three quarters of a refresh, and each chart was drawn four times
    (two measuring draws for the legend and the label, then savefig's extra draw for the
    layout engine tight_layout leaves, then the PNG). Placement measures without drawing,
    and the PNG is the one draw; the laid-out figure carries no layout engine."""
    if name.startswith("ratio"):
        close = tuple(LevelLine(v, f"Level at {v:.1f}", False, None) for v in (99.6, 100.0, 100.4))
        marks = CROWDED if "crowded" in name else STORY
        calls = count_draws(monkeypatch)
        assert (
            ratio_figure(story_panels(ratio_levels=close), TITLE, marks).get_layout_engine() is None
        )
        assert calls == []
        png = draw_ratio_chart(story_panels(ratio_levels=close), TITLE, marks).png
    else:
        make, days, marks = PRICE_CHARTS[name]
        calls = count_draws(monkeypatch)
        assert chart_figure(make(), days, marks).get_layout_engine() is None
        assert calls == []
        png = draw_chart(make(), days, marks).png
    assert is_own_chart(png)
    assert calls == [True]
