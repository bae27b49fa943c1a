"""Charts: rebased price lines drawn to PNG bytes.

Uses matplotlib's object-oriented API on a private Figure (never pyplot, whose
global state would leak between notes and threads), matplotlib's default
style whatever the user's matplotlibrc says, and PNG metadata with no
software version or time, so the same data always gives the same bytes. The divergence
label goes where the laid-out figure has room for it (``_place_label``): a rule on measured
geometry, so it too depends on the data alone.

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
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import matplotlib
import matplotlib.dates as mdates
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import Bbox

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


@contextmanager
def _chart_style() -> Iterator[None]:
    """matplotlib's defaults, whatever the user's matplotlibrc says, for one chart."""
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update({"svg.hashsalt": "rotation-notes", "path.simplify": True})
        yield


def _summary(lines: list[ChartLine]) -> tuple[dt.date, dt.date, dict[str, float], float]:
    """First and last session, each line's move and the divergence of the first two."""
    if len(lines) < 2 or any(ln.rebased.empty for ln in lines):
        raise ValueError("a chart needs at least two series with data in the window")
    first = min(ln.rebased.index[0] for ln in lines).date()
    last = max(ln.rebased.index[-1] for ln in lines).date()
    moves = {ln.symbol: float(ln.rebased.iloc[-1]) for ln in lines}
    return first, last, moves, moves[lines[0].symbol] - moves[lines[1].symbol]


def draw_chart(lines: list[ChartLine], days: int) -> ChartResult:
    """Draw the rebased lines; annotate the gap between the first two."""
    first, last, moves, divergence = _summary(lines)

    with warnings.catch_warnings(record=True) as caught, _chart_style():
        warnings.simplefilter("always")
        fig = chart_figure(lines, days)
        buf = io.BytesIO()
        mark = f"chart of {' vs '.join(ln.symbol for ln in lines)}, last {days} days"
        fig.savefig(buf, format="png", metadata={"Software": None, MARK_KEY: mark})
    for w in caught:
        log.debug(
            "chart of %s: %s: %s",
            ", ".join(ln.symbol for ln in lines),
            w.category.__name__,
            w.message,
        )
    return ChartResult(buf.getvalue(), first, last, moves, divergence)


def chart_figure(lines: list[ChartLine], days: int) -> Figure:
    """The chart's laid-out Figure (``draw_chart`` saves it; tests read its geometry)."""
    first, last, moves, divergence = _summary(lines)
    a, b = lines[0], lines[1]
    with _chart_style():
        fig = Figure(figsize=(8, 4.5), dpi=100)
        canvas = FigureCanvasAgg(fig)
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
        ax.set_title(
            f"{' vs '.join(ln.label for ln in lines)}: last {days} days, rebased to 0%"
            f" ({first} to {last})",
            fontsize=11,
        )
        ax.set_ylabel("change since start (%)")
        ax.yaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 5, 10]))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+g}%" if v else "0%"))
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.legend(loc="upper left", frameon=False)
        fig.autofmt_xdate()
        fig.tight_layout()
        label = ax.annotate(
            f"{divergence:+.1f} pp",
            xy=(end_x, (ya + yb) / 2),
            fontsize=10,
            fontweight="bold",
            color="#333333",
            gid=LABEL_GID,
        )
        _place_label(canvas, ax, label, float(mdates.date2num(end_x)), ya, yb)
    return fig


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
    fig.draw_without_rendering()  # limits, ticks and legend as they will be saved
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
    fig.tight_layout()  # the label is part of the layout: the axes narrow to make room
