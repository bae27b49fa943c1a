"""Issue 15: each thread keeps a spare figure per chart size and draws the next chart of that
size on it (``charts._spare_figure``), which makes a chart a third cheaper (its canvas's text
metrics are cached). A chart must still be the same bytes whatever was drawn before it in the
process: every chart of a varied set, drawn in any order on the spares, is byte for byte the
chart a new figure gives; a chart that fails half way leaves nothing behind for the next."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_chart_label import CHARTS as LABEL_CHARTS
from test_chart_story import CROWDED, PRICE_CHARTS, STORY, TITLE, since_open, story_panels

from rotation_notes.output import charts
from rotation_notes.output.charts import LevelLine, Marks, Panel, draw_chart, draw_ratio_chart

NONE = Marks()


def _ratio(panels, marks=NONE):
    return lambda: draw_ratio_chart(panels(), TITLE, marks).png


def _price(make, days, marks=NONE):
    return lambda: draw_chart(make(), days, marks).png


def _one_panel():
    return story_panels()[:1]


def _three_panels():
    ratio, spread = since_open()
    far = (LevelLine(-900.0, "Far below", False, None), LevelLine(900.0, "Far above", True, None))
    return [*story_panels(), Panel(spread * 2, "Twice the spread", "pp", 0.0, far)]


def _close_levels():
    close = tuple(LevelLine(v, f"Level at {v:.1f}", v == 100.4, None) for v in (99.6, 100.0, 100.4))
    return story_panels(ratio_levels=close)


#: name -> a chart's PNG bytes; price charts with tags, the legend moved or the label in the
#: margin, and ratio charts of one, two and three panels (three figure sizes).
JOBS = {
    **{f"price {name}": _price(*spec) for name, spec in PRICE_CHARTS.items()},
    **{f"label {name}": _price(make, days) for name, (make, days, _) in LABEL_CHARTS.items()},
    "ratio story": _ratio(story_panels, STORY),
    "ratio crowded": _ratio(_close_levels, CROWDED),
    "ratio one panel": _ratio(_one_panel),
    "ratio three panels": _ratio(_three_panels, STORY),
}


def _on_new_figures(job) -> bytes:
    charts._spares.figures.clear()
    try:
        return job()
    finally:
        charts._spares.figures.clear()


@pytest.fixture(scope="module")
def fresh() -> dict[str, bytes]:
    """Each chart drawn on a figure of its own, as before spares existed."""
    return {name: _on_new_figures(job) for name, job in JOBS.items()}


def test_a_spare_is_reused_for_charts_of_its_size(monkeypatch):
    """What the other tests rely on: the next chart of a size is drawn on the same figure."""
    made = []
    real = charts._new_figure
    monkeypatch.setattr(charts, "_new_figure", lambda size: made.append(size) or real(size))
    charts._spares.figures.clear()
    names = ("price 90 days", "ratio story", "price crowded", "ratio crowded", "label 8 tickers")
    for name in names:
        JOBS[name]()
    assert made == [charts._PRICE_SIZE, charts._ratio_size(2)]


@pytest.mark.parametrize("order", ["as listed", "reversed"])
def test_every_chart_is_the_bytes_of_a_new_figure_after_any_other(order, fresh):
    names = list(JOBS) if order == "as listed" else list(reversed(JOBS))
    charts._spares.figures.clear()
    drawn = {name: JOBS[name]() for name in names}
    for name in names:
        assert drawn[name] == fresh[name], f"{name} differs after the charts drawn before it"


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(sorted(JOBS)), min_size=2, max_size=6))
def test_any_sequence_of_charts_gives_each_its_own_bytes(fresh, names):
    for name in names:
        assert JOBS[name]() == fresh[name], name


def test_a_chart_that_fails_half_way_leaves_no_trace_on_the_next(monkeypatch, fresh):
    """An exception mid-chart (here in the label's placement, after the layout) drops that
    figure: the next chart of its size is drawn on a new one, and is its own bytes."""
    charts._spares.figures.clear()
    JOBS["price 90 days"]()
    spare = charts._spares.figures[charts._PRICE_SIZE]

    def boom(*args):
        raise RuntimeError("placement failed")

    monkeypatch.setattr(charts, "_place_label", boom)
    with pytest.raises(RuntimeError, match="placement failed"):
        JOBS["price crowded"]()
    assert charts._PRICE_SIZE not in charts._spares.figures
    monkeypatch.undo()
    assert JOBS["label no free spot inside"]() == fresh["label no free spot inside"]
    assert charts._spares.figures[charts._PRICE_SIZE] is not spare


def test_threads_draw_on_spares_of_their_own(fresh):
    """The watcher and a refresh may draw at once in one process: each thread has its own
    spares, so two threads drawing the same size never share a figure."""
    names = ["price crowded", "ratio story", "label 3 tickers, -5.6 pp", "ratio one panel"] * 2
    out: dict[int, list[bytes]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            out[i] = [JOBS[name]() for name in names[i:] + names[:i]]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    for i, pngs in out.items():
        assert pngs == [fresh[name] for name in names[i:] + names[:i]]
