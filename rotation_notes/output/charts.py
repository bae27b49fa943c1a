"""Charts: rebased price lines drawn to PNG bytes.

Uses matplotlib's object-oriented API on a private Figure (never pyplot, whose
global state would leak between notes and threads), matplotlib's default
style whatever the user's matplotlibrc says, and PNG metadata with no
software version or time, so the same data always gives the same bytes. The divergence
label goes where the laid-out figure has room for it (``_place_label``): a rule on measured
geometry, so it too depends on the data alone. Each chart is drawn once, for its PNG:
placement measures the laid-out figure without drawing it (``_lay_out``, ``_settle``).

Whatever matplotlib (or numpy under it) warns about while drawing is recorded
and logged at debug level (shown with ``-v``), never printed raw to the user's
terminal: the data reaching a chart is cleaned and checked first
(``marketdata.clean_closes``, ``metrics.chart_problem``), so a warning here is
about looks (a cramped layout), not a wrong line.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import matplotlib
import matplotlib.dates as mdates
import pandas as pd
import PIL.Image
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter, MaxNLocator
from matplotlib.transforms import Bbox
from PIL.PngImagePlugin import PngInfo

#: The PNG ``tEXt`` keyword that marks a chart as rotation-notes' own. The tool overwrites
#: an existing PNG only when it carries this mark (or is byte-identical to the new chart):
#: a user's image that happens to have the chart's file name is never touched.
MARK_KEY = "rotation-notes"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_own_chart(data: bytes) -> bool:
    """Whether ``data`` is a PNG that rotation-notes drew (its ``tEXt`` mark, before IDAT)."""
    if not data.startswith(_PNG_SIGNATURE):
        return False
    pos = len(_PNG_SIGNATURE)
    want = MARK_KEY.encode("latin-1") + b"\0"
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"tEXt" and body.startswith(want):
            return True
        if kind in (b"IDAT", b"IEND") or len(body) < length:
            return False  # matplotlib writes its text chunks before the image data
        pos += 12 + length
    return False


log = logging.getLogger(__name__)

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
#: The ``gid`` of the divergence label (``+1.0 pp``) and of its arrow, to find them on the figure.
LABEL_GID = "divergence"
ARROW_GID = "divergence-arrow"
COLOR_NAMES = ("blue", "red", "green", "purple", "orange", "brown")


@dataclass(frozen=True)
class ChartLine:
    symbol: str
    label: str
    rebased: pd.Series  # percent since the window's first session


@dataclass(frozen=True)
class ChartResult:
    png: bytes
    first_session: dt.date
    last_session: dt.date
    moves: dict[str, float]  # symbol -> percent over the window
    divergence: float  # first minus second, percentage points


@dataclass(frozen=True)
class Span:
    """A catalyst window to shade on a price chart."""

    start: dt.date  # the window's first session
    end: dt.date  # its last session (== start for a one-day event)
    label: str  # the catalyst's title; the chart shortens it (``TAG_CHARS`` + "…")


@dataclass(frozen=True)
class Marks:
    """What a chart marks on its time axis besides the data. ``Marks()``: nothing, and the
    chart is byte for byte the one drawn before marks existed."""

    opened: dt.date | None = None  # the thesis's open session: a vertical line tagged "opened"
    spans: tuple[Span, ...] = ()


#: The ``gid`` of the "opened" line, of each span's shading and of each tag above the plot.
OPENED_GID = "opened"
SPAN_GID = "span"
TAG_GID = "mark-tag"
#: A span's label is cut to this many characters (plus "…") in its tag.
TAG_CHARS = 28
_TAG_SIZE = 8  # points
_TAG_GAP = 3.0  # points between the axes' top edge and the first row of tags
_TAG_ROW = 11.0  # points from one row of tags to the next
_TAG_SPACE = 4.0  # points kept between two tags of a row
_OPENED_STYLE = {"color": "#444444", "linewidth": 1.0, "linestyle": ":"}
_SPAN_COLOR = "#f0a202"
#: The narrowest a span is shaded, as a share of the x axis (about 4 pixels).
_SPAN_LEAST = 0.006
#: Every axes title sits at the top of its axes (plus its pad), where matplotlib's automatic
#: placement puts it when no tick labels are on top (none are here, and the y formatters
#: give no offset text). Said explicitly, matplotlib skips that placement's measuring of
#: every axis on each draw and layout: the same pixels, for less work.
_TITLE_Y = 1.0


@contextmanager
def _chart_style() -> Iterator[None]:
    """matplotlib's defaults, whatever the user's matplotlibrc says, for one chart; and text
    drawn as written: a chart's words are a user's (labels, catalyst titles, level names),
    where a pair of ``$`` ("from $5 to $4") would otherwise be read as mathtext: shown as
    math, or, not valid TeX ("$\\frac{$"), an error that fails the note."""
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(
            {"svg.hashsalt": "rotation-notes", "path.simplify": True, "text.parse_math": False}
        )
        yield


_PRICE_SIZE = (8.0, 4.5)  # inches, at 100 dpi


def _new_figure(size: tuple[float, float]) -> Figure:
    """A blank figure of ``size`` with its Agg canvas (under ``_chart_style``)."""
    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig


#: At most this many spare figures (one per size: the price chart's, and the ratio chart's
#: per number of panels) kept by each thread.
_SPARES = 4


class _Spares(threading.local):
    def __init__(self) -> None:
        self.figures: dict[tuple[float, float], Figure] = {}


_spares = _Spares()


@contextmanager
def _spare_figure(size: tuple[float, float]) -> Iterator[Figure]:
    """A blank figure of ``size``: this thread's spare one, emptied, else a new one; kept
    as the spare again once the chart is saved (under ``_chart_style``).

    What makes a spare worth keeping is its canvas: the renderer is the same one from chart
    to chart, and matplotlib caches text metrics per renderer, so the labels every chart
    shares ("0%", "Jul", the unit ticks) are laid out once per process rather than once per
    chart: 17-35% of a chart's cost. The axes are never reused: each chart gets new ones,
    so nothing of one chart (its ticks, limits, locators, shared axes) reaches the next,
    and the pixels are the ones a new figure gives (``tests/test_chart_spares.py``, byte for
    byte across orders of charts)."""
    figures = _spares.figures
    fig = figures.pop(size, None)
    if fig is None:
        fig = _new_figure(size)
    else:
        _empty(fig)
    yield fig  # an exception leaves the figure out of the spares
    if len(figures) >= _SPARES:
        del figures[next(iter(figures))]
    figures[size] = fig


def _empty(fig: Figure) -> None:
    """``fig`` as ``_new_figure`` makes it, with its canvas and renderer kept: its axes
    removed without first clearing each (``Figure.clear`` does that, at the cost of making
    all their parts again only to drop them), then the figure's own contents and subplot
    parameters reset."""
    for ax in tuple(fig.axes):
        fig.delaxes(ax)
    fig.clear()


def _lay_out(fig: Figure) -> None:
    """``tight_layout``, then no layout engine left on the figure: the layout is done here,
    where the placement code can measure it, and ``savefig`` draws the figure once (with an
    engine, even tight_layout's placeholder, it runs a whole extra draw first)."""
    fig.tight_layout()
    fig.set_layout_engine(None)


def _settle(fig: Figure) -> None:
    """What placement measures, as ``savefig`` will draw it, without drawing: each axes'
    autoscaled limits (matplotlib settles them lazily). The axes' positions are the layout's
    (``_lay_out``), text sizes come from the renderer, an annotation places itself when its
    extent is asked for, and a legend's box is computed from its axes' box: none of these
    needs a draw, which costs as much as the draw that saves the PNG."""
    for ax in fig.axes:
        ax.get_xlim()
        ax.get_ylim()


def _freeze_ticks(fig: Figure) -> None:
    """Fix each axis's ticks and their labels as its locator and formatter give them now.

    Called once the data is drawn and the limits are final (nothing added later moves them):
    the ticks are then what every later layout and the draw would compute again, and again
    (the date locator is the costliest step of a layout); the locators here (dates, and
    ``MaxNLocator`` with fixed ``nbins``) depend on the limits alone, not on the axes' size."""
    _settle(fig)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            locs = [float(x) for x in axis.get_majorticklocs()]
            labels = axis.get_major_formatter().format_ticks(locs)
            axis.set_major_locator(FixedLocator(locs))
            axis.set_major_formatter(FixedFormatter(labels))


#: zlib's level for the PNG: 3 costs a third less time than Pillow's default 6 for these
#: charts (flat colours, long runs) and the files are within a few percent of its size.
_PNG_LEVEL = 3


def _png(fig: Figure, mark: str) -> bytes:
    """The laid-out figure as PNG bytes: drawn once, saved as RGB (the figure is opaque: an
    alpha channel of 255 everywhere is a quarter of the pixels to filter and compress for
    nothing), with ``mark`` in a ``tEXt`` chunk and no software version or time.

    What ``savefig`` does under the default style, minus its RGBA: Agg's pixels, then Pillow's
    PNG writer, as ``matplotlib.image.imsave`` calls it."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg) and fig.get_layout_engine() is None
    canvas.draw()
    width, height = canvas.get_width_height(physical=True)
    image = PIL.Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    info = PngInfo()
    # A tEXt chunk holds Latin-1 only (else Pillow writes iTXt, which is_own_chart ignores).
    info.add_text(MARK_KEY, mark.encode("latin-1", "replace").decode("latin-1"))
    buf = io.BytesIO()
    image.convert("RGB").save(
        buf, format="png", pnginfo=info, dpi=(fig.dpi, fig.dpi), compress_level=_PNG_LEVEL
    )
    return buf.getvalue()


def _summary(lines: list[ChartLine]) -> tuple[dt.date, dt.date, dict[str, float], float]:
    """First and last session, each line's move and the divergence of the first two."""
    if len(lines) < 2 or any(ln.rebased.empty for ln in lines):
        raise ValueError("a chart needs at least two series with data in the window")
    first = min(ln.rebased.index[0] for ln in lines).date()
    last = max(ln.rebased.index[-1] for ln in lines).date()
    moves = {ln.symbol: float(ln.rebased.iloc[-1]) for ln in lines}
    return first, last, moves, moves[lines[0].symbol] - moves[lines[1].symbol]


def draw_chart(lines: list[ChartLine], days: int, marks: Marks = Marks()) -> ChartResult:
    """Draw the rebased lines; annotate the gap between the first two; mark ``marks``."""
    first, last, moves, divergence = _summary(lines)

    with warnings.catch_warnings(record=True) as caught, _chart_style():
        warnings.simplefilter("always")
        with _spare_figure(_PRICE_SIZE) as fig:
            _price_chart(fig, lines, days, marks)
            png = _png(fig, f"chart of {' vs '.join(ln.symbol for ln in lines)}, last {days} days")
    for w in caught:
        log.debug(
            "chart of %s: %s: %s",
            ", ".join(ln.symbol for ln in lines),
            w.category.__name__,
            w.message,
        )
    return ChartResult(png, first, last, moves, divergence)


def chart_figure(lines: list[ChartLine], days: int, marks: Marks = Marks()) -> Figure:
    """The chart's laid-out Figure, a new one (``draw_chart`` draws the same chart on a spare
    figure and saves it; tests read its geometry)."""
    with _chart_style():
        fig = _new_figure(_PRICE_SIZE)
        _price_chart(fig, lines, days, marks)
    return fig


def _price_chart(fig: Figure, lines: list[ChartLine], days: int, marks: Marks) -> None:
    """Lay out the price chart on ``fig``, blank (``_new_figure``, ``_spare_figure``)."""
    first, last, moves, divergence = _summary(lines)
    marks = _in_range(marks, first, last)
    a, b = lines[0], lines[1]
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    ax = fig.add_subplot()
    for i, ln in enumerate(lines):
        ax.plot(
            ln.rebased.index,
            ln.rebased.to_numpy(),
            color=COLORS[i % len(COLORS)],
            linewidth=1.8,
            label=f"{ln.label} {moves[ln.symbol]:+.1f}%",
        )
    ax.axhline(0, color="#888888", linewidth=0.8, linestyle="--")
    end_x = max(a.rebased.index[-1], b.rebased.index[-1])
    ya, yb = moves[a.symbol], moves[b.symbol]
    ax.annotate(
        "",
        gid=ARROW_GID,
        xy=(end_x, ya),
        xytext=(end_x, yb),
        arrowprops={"arrowstyle": "<->", "color": "#333333", "linewidth": 1.2},
    )
    title = (
        f"{' vs '.join(ln.label for ln in lines)}: last {days} days, rebased to 0%"
        f" ({first} to {last})"
    )
    ax.set_title(title, fontsize=11, y=_TITLE_Y)
    ax.set_ylabel("change since start (%)")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+g}%" if v else "0%"))
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.legend(loc="upper left", frameon=False)
    fig.autofmt_xdate()
    tags = _draw_marks([ax], marks, first, last)
    _freeze_ticks(fig)
    _lay_out(fig)
    rows = 0
    if tags:
        rows = _layout_tags(
            canvas, ax, tags, lambda pad: ax.set_title(title, fontsize=11, y=_TITLE_Y, pad=pad)
        )
    _place_legend(canvas, ax)
    label = ax.annotate(
        f"{divergence:+.1f} pp",
        xy=(end_x, (ya + yb) / 2),
        fontsize=10,
        fontweight="bold",
        color="#333333",
        gid=LABEL_GID,
    )
    _place_label(canvas, ax, label, float(mdates.date2num(end_x)), ya, yb)
    if tags:  # the label may have narrowed the axes (the right margin): tags follow
        _layout_tags(
            canvas,
            ax,
            tags,
            lambda pad: ax.set_title(title, fontsize=11, y=_TITLE_Y, pad=pad),
            rows,
        )


def _shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters plus "…" when longer."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _in_range(marks: Marks, first: dt.date, last: dt.date) -> Marks:
    """``marks`` without what lies wholly outside ``first``..``last`` (the chart's sessions)."""
    opened = marks.opened if marks.opened and first <= marks.opened <= last else None
    spans = tuple(s for s in marks.spans if s.start <= last and s.end >= first)
    return Marks(opened, spans)


def _day(day: dt.date) -> float:
    return float(mdates.date2num(pd.Timestamp(day)))


def _draw_marks(axes: list[Axes], marks: Marks, first: dt.date, last: dt.date) -> list[Annotation]:
    """Draw the opened line and shade each span on every one of ``axes`` (they share their
    x axis); return the tags, made on the first axes and not yet placed (``_layout_tags``).

    Spans are clipped to the sessions drawn; a one-day span is a session wide. The x limits
    are frozen first, so nothing here moves them. Nothing at all is drawn, and the figure
    is the one drawn without marks, when ``marks`` is empty."""
    if marks.opened is None and not marks.spans:
        return []
    top = axes[0]
    top.set_xlim(top.get_xlim())
    lo, hi = _day(first) - 0.5, _day(last) + 0.5
    left, right = top.get_xlim()
    least = _SPAN_LEAST * (right - left)  # a day is under a pixel wide on a long chart
    tags: list[Annotation] = []
    for span in sorted(marks.spans, key=lambda s: (s.start, s.end, s.label)):
        x0, x1 = _day(span.start) - 0.5, _day(span.end) + 0.5
        if x1 - x0 < least:
            x0, x1 = (x0 + x1 - least) / 2, (x0 + x1 + least) / 2
        x0, x1 = max(x0, lo), min(x1, hi)
        for ax in axes:
            ax.axvspan(x0, x1, color=_SPAN_COLOR, alpha=0.22, linewidth=0, zorder=0, gid=SPAN_GID)
        tags.append(_tag(top, _shorten(span.label, TAG_CHARS), (x0 + x1) / 2, "#9a6300"))
    if marks.opened is not None:
        x = _day(marks.opened)
        for ax in axes:
            ax.axvline(x, zorder=1.5, gid=OPENED_GID, **_OPENED_STYLE)  # type: ignore[arg-type]
        tags.insert(0, _tag(top, "opened", x, "#333333"))
    return tags


def _tag(ax: Axes, text: str, x: float, color: str) -> Annotation:
    return ax.annotate(
        text,
        xy=(x, 1),
        xycoords=("data", "axes fraction"),
        xytext=(0, _TAG_GAP),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=_TAG_SIZE,
        color=color,
        annotation_clip=False,
        gid=TAG_GID,
    )


def _layout_tags(
    canvas: FigureCanvasAgg,
    ax: Axes,
    tags: list[Annotation],
    set_pad: Callable[[float], object],
    rows: int = 0,
) -> int:
    """Put the tags in rows above ``ax`` (``_stagger``) and the title above the rows, redoing
    the layout until the rows it gives are the rows it was made for; return their number.
    ``rows``: the number the current layout was made for (0: none yet)."""
    fig = canvas.figure
    renderer = canvas.get_renderer()
    for _ in range(5):  # a row more shortens the axes, never widens them: this settles
        _settle(fig)
        need = _stagger(renderer, ax, tags)
        if need == rows:
            break
        rows = need
        set_pad(_TAG_GAP + rows * _TAG_ROW + 3)
        _lay_out(fig)
    return rows


def _stagger(renderer: RendererBase, ax: Axes, tags: list[Annotation]) -> int:
    """Each tag above its x, kept within the axes' width, in the lowest row where it
    overlaps no other tag (left to right); return the number of rows."""
    points = 72 / ax.figure.dpi  # type: ignore[union-attr]
    space = _TAG_SPACE / points
    inside = ax.bbox
    placed: list[list[Bbox]] = []
    order = sorted(range(len(tags)), key=lambda i: (float(tags[i].xy[0]), i))
    for i in order:
        tag = tags[i]
        tag.xyann = (0, _TAG_GAP)
        box = tag.get_window_extent(renderer)
        shift = max(inside.x0 - box.x0, 0.0) + min(inside.x1 - box.x1, 0.0)
        row = 0
        while True:
            tag.xyann = (shift * points, _TAG_GAP + row * _TAG_ROW)
            box = tag.get_window_extent(renderer)
            if row == len(placed):
                placed.append([])
            if not any(
                box.padded(space / 2).overlaps(other.padded(space / 2)) for other in placed[row]
            ):
                placed[row].append(box)
                break
            row += 1
    return len(placed)


#: Where the divergence label may go: (xy, xycoords, offset in points, ha, va). First beside
#: the arrow it measures, in this order (level with its middle, above it, below it; ``end``
#: is the arrow's x, ``mid``, ``top`` and ``bottom`` its heights), then the corners and edges
#: inside the axes, nearest the arrow first.
_Spot = tuple[
    tuple[str | float, str | float],
    str,
    tuple[float, float],
    Literal["left", "center", "right"],
    Literal["bottom", "center", "top"],
]
_SPOTS: tuple[_Spot, ...] = (
    (("end", "mid"), "data", (-8, 0), "right", "center"),
    (("end", "top"), "data", (-8, 4), "right", "bottom"),
    (("end", "bottom"), "data", (-8, -4), "right", "top"),
    *(((x, 1), "axes fraction", (0, -6), "center", "top") for x in (0.25, 0.5, 0.75)),
    *(((x, 0), "axes fraction", (0, 6), "center", "bottom") for x in (0.25, 0.5, 0.75)),
    *(((1, y), "axes fraction", (-6, 0), "right", "center") for y in (0.25, 0.5, 0.75)),
    *(((0, y), "axes fraction", (6, 0), "left", "center") for y in (0.25, 0.5, 0.75)),
    ((1, 1), "axes fraction", (-6, -6), "right", "top"),
    ((1, 0), "axes fraction", (-6, 6), "right", "bottom"),
    ((0, 1), "axes fraction", (6, -6), "left", "top"),
    ((0, 0), "axes fraction", (6, 6), "left", "bottom"),
)
_BESIDE = 3  # the first three spots are beside the arrow
#: Clearance kept between the label and any line, the arrow or the legend, in points.
_CLEARANCE = 2.5


def _place_label(
    canvas: FigureCanvasAgg, ax: Axes, label: Annotation, end_x: float, ya: float, yb: float
) -> None:
    """Put the divergence label where it is clear of every line, the arrow and the legend:
    the first such spot of ``_SPOTS`` beside the arrow, else the nearest such corner or edge;
    if there is none, in the right margin level with the arrow (the layout is redone to make
    room for it). Measured with the renderer, so the same chart always gets the same spot."""
    fig = canvas.figure
    renderer = canvas.get_renderer()
    _settle(fig)  # limits as they will be saved
    pad = _CLEARANCE * fig.dpi / 72
    paths = [ln.get_transform().transform_path(ln.get_path()) for ln in ax.get_lines()]
    (ax0, y0), (_, y1) = ax.transData.transform([(end_x, ya), (end_x, yb)])
    head = 5 * fig.dpi / 72  # half the width of the arrow's heads
    obstacles = [Bbox.from_extents(ax0 - head, min(y0, y1), ax0 + head, max(y0, y1))]
    legend = ax.get_legend()
    if legend is not None:
        obstacles.append(legend.get_window_extent(renderer))
    inside = ax.bbox
    ends = {"end": end_x, "mid": (ya + yb) / 2, "top": max(ya, yb), "bottom": min(ya, yb)}

    def clear() -> bool:
        box = label.get_window_extent(renderer).padded(pad)
        return (
            inside.x0 <= box.x0
            and box.x1 <= inside.x1
            and inside.y0 <= box.y0
            and box.y1 <= inside.y1
            and not any(box.overlaps(other) for other in obstacles)
            and not any(path.intersects_bbox(box, filled=False) for path in paths)
        )

    def put(spot: _Spot) -> None:
        (x, y), coords, offset, ha, va = spot
        label.xy = (ends[x] if isinstance(x, str) else x, ends[y] if isinstance(y, str) else y)
        label.xycoords = coords
        label.set_anncoords("offset points")
        label.xyann = offset
        label.set_horizontalalignment(ha)
        label.set_verticalalignment(va)

    # Beside the arrow if there is room; else the clear corner or edge nearest the arrow.
    best: tuple[float, _Spot] | None = None
    for rank, spot in enumerate(_SPOTS):
        put(spot)
        if not clear():
            continue
        if rank < _BESIDE:
            return
        box = label.get_window_extent(renderer)
        distance = math.hypot((box.x0 + box.x1) / 2 - ax0, (box.y0 + box.y1) / 2 - (y0 + y1) / 2)
        if best is None or distance < best[0]:
            best = (distance, spot)
    if best is not None:
        put(best[1])
        return
    low, high = sorted(ax.get_ylim())
    label.xy = (1, min(max(ends["mid"], low), high))
    label.xycoords = ("axes fraction", "data")
    label.xyann = (6, 0)
    label.set_horizontalalignment("left")
    label.set_verticalalignment("center")
    _lay_out(fig)  # the label is part of the layout: the axes narrow to make room
    if legend is not None and legend.get_bbox_to_anchor().x0 > ax.bbox.x0:  # outside, right
        _settle(fig)
        box, taken = label.get_window_extent(renderer), legend.get_window_extent(renderer)
        if box.overlaps(taken):  # below the legend instead
            label.xy = (1, ax.transAxes.inverted().transform((0, taken.y0))[1])
            label.xycoords = "axes fraction"
            label.xyann = (6, -4)
            label.set_verticalalignment("top")


#: Where the legend may go inside the plot, in this order; ``upper left`` first (where it
#: always was, so a chart it did not cover keeps its bytes).
_LEGEND_SPOTS = (
    "upper left",
    "upper right",
    "lower left",
    "lower right",
    "center left",
    "center right",
    "upper center",
    "lower center",
)


def _place_legend(canvas: FigureCanvasAgg, ax: Axes) -> None:
    """Put the legend where it covers no line of data: the first clear spot of
    ``_LEGEND_SPOTS``, else outside the plot, at its top right (the axes narrow to make room).
    Measured with the renderer, so the same chart always gets the same spot."""
    fig = canvas.figure
    renderer = canvas.get_renderer()
    series = [ln for ln in ax.get_lines() if not str(ln.get_label()).startswith("_")]

    def clear() -> bool:
        _settle(fig)
        legend = ax.get_legend()
        assert legend is not None
        box = legend.get_window_extent(renderer)
        paths = [ln.get_transform().transform_path(ln.get_path()) for ln in series]
        return not any(path.intersects_bbox(box, filled=False) for path in paths)

    if clear():
        return
    for loc in _LEGEND_SPOTS[1:]:
        ax.legend(loc=loc, frameon=False)  # type: ignore[call-overload]
        if clear():
            return
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    _lay_out(fig)


@dataclass(frozen=True)
class LevelLine:
    """A level drawn across a ratio-chart panel, labelled in the right margin."""

    value: float  # in the panel's units (ratio: 100 + the level's %; spread: pp; close: price)
    label: str  # e.g. "Thesis invalidated: below -5 pp"
    hit: bool  # crossed at some session: drawn in a stronger colour
    first_crossed: dt.date | None  # a dot on the panel's series at that session


@dataclass(frozen=True)
class Panel:
    """One stacked axes of a ratio chart."""

    series: pd.Series  # DatetimeIndex -> value, from the open session to the as-of session
    label: str  # shown above the panel, e.g. "IWM/QQQ ratio (open = 100)"
    unit: Literal["index", "pp", "price"]  # tick format: 100.0 / +1.5 pp / 250.00
    baseline: float | None  # dashed reference line (100 for the ratio, 0 for a spread)
    levels: tuple[LevelLine, ...] = ()


@dataclass(frozen=True)
class RatioResult:
    png: bytes
    first_session: dt.date
    last_session: dt.date


#: The ``gid`` of each level's line, its label in the right margin and its crossing dot, and
#: of the edge marker of a level off the chart.
LEVEL_GID = "level"
LEVEL_LABEL_GID = "level-label"
CROSSING_GID = "crossing"
LEVEL_EDGE_GID = "level-off-chart"
#: A level's label is cut to this many characters (plus "…").
LEVEL_CHARS = 40
#: The axis stretches to show a level up to this many times the data's range beyond the data
#: (the data keeps at least a quarter of the panel's height), and the level's line is drawn at
#: its value. A level further off gets no line (a line where the axis reads another value would
#: mislead): a marker at the panel's edge and a label saying its value and "off the chart".
LEVEL_REACH = 3.0
_LEVEL_SIZE = 8  # points
_LEVEL_SPACE = 2.0  # points kept between two level labels
_PANEL_COLORS = ("#1f77b4", "#9467bd", "#2ca02c", "#8c564b")
_HIT_COLOR = "#d62728"
_LEVEL_COLOR = "#b07000"
_FIRST_HEIGHT, _OTHER_HEIGHT = 3.2, 1.5  # inches of the first panel, of each other one


def _unit_format(unit: str) -> Callable[[float], str]:
    if unit == "pp":
        return lambda v: f"{v:+.1f} pp" if round(v, 1) else "0 pp"
    if unit == "price":
        return lambda v: f"{v:.2f}"
    return lambda v: f"{v:.1f}"


def _panel_values(panels: list[Panel]) -> list[pd.Series]:
    """Each panel's finite values; ValueError naming the panel when it has fewer than two."""
    if not panels:
        raise ValueError("a ratio chart needs at least one panel")
    out = []
    for panel in panels:
        s = panel.series[pd.notna(panel.series)]
        s = s[s.abs() != float("inf")]
        if len(s) < 2:
            raise ValueError(
                f"the panel {panel.label!r} has {len(s)} session(s) of data: a chart needs two"
            )
        out.append(s)
    return out


def _ratio_sessions(values: list[pd.Series]) -> tuple[dt.date, dt.date]:
    return min(s.index[0] for s in values).date(), max(s.index[-1] for s in values).date()


def draw_ratio_chart(panels: list[Panel], title: str, marks: Marks = Marks()) -> RatioResult:
    """Draw the stacked panels with their levels; mark ``marks`` as on the price chart."""
    first, last = _ratio_sessions(_panel_values(panels))
    with warnings.catch_warnings(record=True) as caught, _chart_style():
        warnings.simplefilter("always")
        with _spare_figure(_ratio_size(len(panels))) as fig:
            _ratio_chart(fig, panels, title, marks)
            png = _png(fig, f"ratio chart: {title}")
    for w in caught:
        log.debug("ratio chart %r: %s: %s", title, w.category.__name__, w.message)
    return RatioResult(png, first, last)


def ratio_figure(panels: list[Panel], title: str, marks: Marks = Marks()) -> Figure:
    """The ratio chart's laid-out Figure: one axes per panel, stacked on a shared x axis
    (the first taller), each level a line across its panel labelled in the right margin,
    the marks' tags above the first panel and the title above them. A new Figure
    (``draw_ratio_chart`` draws the same chart on a spare figure)."""
    with _chart_style():
        fig = _new_figure(_ratio_size(len(panels)))
        _ratio_chart(fig, panels, title, marks)
    return fig


def _ratio_size(panels: int) -> tuple[float, float]:
    return (8, _FIRST_HEIGHT + _OTHER_HEIGHT * (panels - 1) + 1.3)


def _ratio_chart(fig: Figure, panels: list[Panel], title: str, marks: Marks) -> None:
    """Lay out the ratio chart on ``fig``, blank (``_new_figure``, ``_spare_figure``)."""
    values = _panel_values(panels)
    first, last = _ratio_sessions(values)
    marks = _in_range(marks, first, last)
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    heights = [_FIRST_HEIGHT] + [_OTHER_HEIGHT] * (len(panels) - 1)
    axes = list(
        fig.subplots(len(panels), 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]
    )
    labels: list[list[Annotation]] = []
    for i, (ax, panel, s) in enumerate(zip(axes, panels, values, strict=True)):
        labels.append(_draw_panel(ax, panel, s, _PANEL_COLORS[i % len(_PANEL_COLORS)], i))
    fig.suptitle(title, fontsize=11)
    fig.autofmt_xdate()
    top = axes[0]
    top_label = panels[0].label
    tags = _draw_marks(axes, marks, first, last)
    _freeze_ticks(fig)
    # The level labels (right margin) and the tags' rows (above) each change the layout,
    # which moves the lines they follow: place both until a layout leaves them as they are.
    # They are placed first on matplotlib's default margins, a guess that usually holds
    # (a label beside its line, tags in the rows they take), so that one layout (the
    # costly step: it measures every axis) most often settles it.
    renderer = canvas.get_renderer()
    rows = 0
    laid_out = False
    for _ in range(7):
        _settle(fig)
        changed = _place_levels(renderer, axes, labels)
        if tags and (need := _stagger(renderer, top, tags)) != rows:
            rows = need
            top.set_title(
                top_label,
                loc="left",
                fontsize=9,
                y=_TITLE_Y,
                pad=_TAG_GAP + rows * _TAG_ROW + 3,
            )
            changed = True
        if laid_out and not changed:
            break
        _lay_out(fig)
        laid_out = True


def _draw_panel(ax: Axes, panel: Panel, s: pd.Series, color: str, index: int) -> list[Annotation]:
    """Draw one panel's series, baseline and levels; return the levels' labels (unplaced)."""
    fmt = _unit_format(panel.unit)
    ax.plot(s.index, s.to_numpy(), color=color, linewidth=1.6)
    lo, hi = float(s.min()), float(s.max())
    if panel.baseline is not None:
        lo, hi = min(lo, panel.baseline), max(hi, panel.baseline)
        ax.axhline(panel.baseline, color="#888888", linewidth=0.8, linestyle="--")
    size = hi - lo if hi > lo else max(abs(hi) * 0.02, 1.0)
    floor, ceiling = lo - LEVEL_REACH * size, hi + LEVEL_REACH * size
    ys = [lo, hi]
    labels = []
    for level in panel.levels:
        y = min(max(level.value, floor), ceiling)
        ys.append(y)
        text = _shorten(level.label, LEVEL_CHARS)
        tint = _HIT_COLOR if level.hit else _LEVEL_COLOR
        if y != level.value:  # off the chart: a marker at the edge, never a line at y
            text += f" ({'↑' if level.value > y else '↓'} {fmt(level.value)}, off the chart)"
            ax.plot(
                [1.0],
                [y],
                transform=ax.get_yaxis_transform(),
                marker="^" if level.value > y else "v",
                markersize=7,
                color=tint,
                linestyle="none",
                clip_on=False,
                zorder=3,
                gid=LEVEL_EDGE_GID,
            )
        else:
            ax.axhline(
                y,
                color=tint,
                linewidth=1.5 if level.hit else 1.0,
                linestyle="-" if level.hit else "-.",
                zorder=1.8,
                gid=LEVEL_GID,
            )
        labels.append(
            ax.annotate(
                text,
                xy=(1, y),
                xycoords=("axes fraction", "data"),
                xytext=(6, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=_LEVEL_SIZE,
                color=tint,
                fontweight="bold" if level.hit else "normal",
                annotation_clip=False,
                gid=LEVEL_LABEL_GID,
            )
        )
        if level.first_crossed is not None:
            upto = s.loc[: pd.Timestamp(level.first_crossed)]
            if not upto.empty:
                ax.plot(
                    [upto.index[-1]],
                    [float(upto.iloc[-1])],
                    marker="o",
                    markersize=6,
                    color=tint,
                    linestyle="none",
                    zorder=3,
                    gid=CROSSING_GID,
                )
    low, high = min(ys), max(ys)
    pad = 0.06 * (high - low)
    ax.set_ylim(low - pad, high + pad)
    ax.set_title(panel.label, loc="left", fontsize=9, y=_TITLE_Y)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=7 if index == 0 else 4, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    ax.grid(True, color="#dddddd", linewidth=0.6)
    return labels


def _place_levels(renderer: RendererBase, axes: list[Axes], labels: list[list[Annotation]]) -> bool:
    """Level each label with its line in the right margin, within its panel's height, labels
    that would overlap pushed apart; return whether any label moved (measured on the layout
    as it is)."""
    points = 72 / axes[0].figure.dpi  # type: ignore[union-attr]
    space = _LEVEL_SPACE / points
    moved = False
    for ax, group in zip(axes, labels, strict=True):
        if not group:
            continue
        wanted = []
        for label in group:
            _, y = ax.transData.transform((0, label.xy[1]))
            wanted.append((float(y), label.get_window_extent(renderer).height))
        for label, shift in zip(group, _spread(wanted, ax.bbox.y0, ax.bbox.y1, space), strict=True):
            new = (6.0, round(shift * points, 2))
            if tuple(label.xyann) != new:
                label.xyann = new
                moved = True
    return moved


def _spread(
    wanted: list[tuple[float, float]], low: float, high: float, space: float
) -> list[float]:
    """Offsets that move boxes of (centre, height) apart by ``space`` and into ``low``..``high``,
    each as little as the others allow (bottom-up, then top-down), in the input's order."""
    order = sorted(range(len(wanted)), key=lambda i: (wanted[i][0], i))
    centre = {}
    below = None
    for i in order:  # up: clear of the bottom and of the label below
        y, h = wanted[i]
        y = max(y, low + h / 2)
        if below is not None:
            y = max(y, centre[below] + (wanted[below][1] + h) / 2 + space)
        centre[i], below = y, i
    above = None
    for i in reversed(order):  # down: clear of the top and of the label above
        y, h = centre[i], wanted[i][1]
        y = min(y, high - h / 2)
        if above is not None:
            y = min(y, centre[above] - (wanted[above][1] + h) / 2 - space)
        centre[i], above = y, i
    return [centre[i] - wanted[i][0] for i in range(len(wanted))]
