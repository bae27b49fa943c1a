"""The thesis spec: what a note's frontmatter declares, validated.

A note is a thesis when its frontmatter has a ``rotation-notes`` mapping.
Wikilinks to catalyst notes live in the top-level ``catalysts`` property, as
quoted links one per line, so that Obsidian shows them as links and updates
them when a note is renamed. The full schema is in docs/frontmatter.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rotation_notes.defaults import CHART_DAYS, STALE_AFTER_DAYS
from rotation_notes.errors import SpecError
from rotation_notes.note.text import BOM, NoteText, WikiLink, as_wikilink, key_line

SPEC_KEY = "rotation-notes"
CATALYSTS_KEY = "catalysts"

#: Every key the schema knows, by where it appears (docs/frontmatter.md documents each).
SCHEMA_KEYS: dict[str, frozenset[str]] = {
    SPEC_KEY: frozenset(
        {
            "long",
            "short",
            "names",
            "opened",
            "benchmark",
            "levels",
            "setup",
            "tracking",
            "catalysts",
            "history",
            "charts",
        }
    ),
    "level": frozenset({"name", "kind", "on", "below", "above", "near"}),
    "leg": frozenset({"label", "ticker", "index"}),
    "setup": frozenset({"metrics", "stale_after_days"}),
    "metric": frozenset({"name", "long", "short", "unit", "source", "as_of", "gap"}),
    "tracking": frozenset({"tickers", "compare"}),
    "catalysts": frozenset({"symbols"}),
    "history": frozenset({"symbols", "periods", "since"}),
    "period": frozenset({"label", "start", "end", "setup"}),
    "chart": frozenset({"file", "kind", "tickers", "days"}),
    "catalyst note": frozenset({"event_start", "event_end", "time", "confidence"}),
    "top level": frozenset({SPEC_KEY, "catalysts"}),
}

_SYMBOL = re.compile(r"\^?[A-Za-z0-9][A-Za-z0-9.=\-]{0,19}")
_CHART_FILE = re.compile(r"[^/\\:*?\"<>|#^\[\]]+\.png", re.IGNORECASE)
#: Names Windows reserves for devices, whatever the extension (a vault synced there
#: could not hold the file): CON, PRN, AUX, NUL, COM0-9, LPT0-9 (and superscript digits).
_WINDOWS_RESERVED = re.compile(
    r"(con|prn|aux|nul|conin\$|conout\$|(com|lpt)[0-9\u00b9\u00b2\u00b3])\s*", re.I
)
#: Bidirectional controls: they make a file name display as something else.
_BIDI = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Longest chart file name, in UTF-8 bytes: file systems allow 255, and the hidden temp
#: file a write goes through adds about 40.
MAX_CHART_NAME_BYTES = 200
#: Longest chart window: a century of calendar days.
MAX_CHART_DAYS = 36_525
#: Dates a thesis may name. Older or later dates are typing mistakes, and date arithmetic
#: (a window before a date, a year before it) must stay inside what Python can count.
MIN_DATE = dt.date(1800, 1, 1)
MAX_DATE = dt.date(2199, 12, 31)


def chart_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a chart file in a vault Obsidian (on any system) can use."""
    if not _CHART_FILE.fullmatch(name):
        return "is not a plain .png file name"
    for ch in name:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Zl", "Zp") or ch in _BIDI:
            what = (
                "a line break"
                if ch in "\r\n\u2028\u2029"
                else f"the control character U+{ord(ch):04X}"
            )
            return f"holds {what}"
    if name.startswith("."):
        return "starts with a dot: Obsidian and most file browsers hide such files"
    if _WINDOWS_RESERVED.fullmatch(name.split(".")[0]):
        return "is a device name Windows reserves (a vault synced there could not hold it)"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_CHART_NAME_BYTES:
        return f"is {size} bytes long; a chart file name may be at most {MAX_CHART_NAME_BYTES}"
    return None


#: A date, or a date and time as note templates and Obsidian's date & time property write them.
_DATE_PREFIX = re.compile(r"\s*([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[T ][0-9:.]*(?:Z|[+-][0-9:]+)?)?\s*")


def _shown(value: Any, limit: int = 60) -> str:
    """A value quoted for an error message: one line, and short."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return (
            f"a {len(str(abs(value)))}-digit number"
            if value.bit_length() < 10_000
            else "a huge number"
        )
    text = repr(value) if isinstance(value, str) else f"'{value}'"
    return text if len(text) <= limit else text[: limit - 4] + "...'"


@dataclass(frozen=True)
class Leg:
    label: str
    ticker: str
    index: str


@dataclass(frozen=True)
class HandMetric:
    """A figure no free source has, typed in by the user with its provenance."""

    name: str
    long: float
    short: float
    unit: str
    source: str
    as_of: dt.date
    gap: bool


@dataclass(frozen=True)
class Period:
    label: str
    start: dt.date
    end: dt.date | None  # None: up to the as-of session
    setup: str


#: The kinds of level a thesis can declare, and what reaching one means.
LEVEL_KINDS = ("invalidation", "stop", "target")
#: What a level is measured on besides a ticker's close: the pair's spread (pp) or ratio (%).
PAIR_MEASURES = ("spread", "ratio")
CHART_KINDS = ("price", "ratio")
#: A catalyst note's ``time``: when in the day the event happens. ``after-close`` moves its
#: reaction to the next session; the others leave it on the day.
CATALYST_TIMES = ("before-open", "during", "after-close")
CATALYST_CONFIDENCE = ("confirmed", "estimated")


@dataclass(frozen=True)
class Level:
    """A level that calls the thesis: reached when ``on`` goes ``direction`` ``value``."""

    name: str
    kind: str  # one of LEVEL_KINDS
    on: str  # "spread", "ratio" or a ticker symbol
    direction: str  # "below" or "above"
    value: float
    near: float | None  # how close counts as near (the measure's units); None: the default


@dataclass(frozen=True)
class ChartSpec:
    file: str
    tickers: tuple[str, ...]
    days: int | None  # None: a ratio chart since the open session
    kind: str = "price"  # one of CHART_KINDS


@dataclass(frozen=True)
class ThesisSpec:
    long: Leg
    short: Leg
    names: dict[str, str]
    metrics: tuple[HandMetric, ...]
    stale_after_days: int
    tracking: tuple[str, ...]
    compare: str
    catalyst_symbols: tuple[str, ...]
    catalyst_links: tuple[WikiLink, ...] | None  # None: discover from the note's links
    history_symbols: tuple[str, ...]
    periods: tuple[Period, ...]
    charts: tuple[ChartSpec, ...]
    #: the day the thesis was opened (``opened``, else the note's ``created``), or None
    opened: dt.date | None = None
    #: where ``opened`` came from ("opened" or "created"), or why there is none
    opened_from: str = ""
    benchmark: str | None = None
    levels: tuple[Level, ...] = ()

    def symbols(self) -> list[str]:
        """Every symbol the note needs, in a stable order."""
        seen: dict[str, None] = {}
        for s in (
            self.long.ticker,
            self.short.ticker,
            self.long.index,
            self.short.index,
            *self.tracking,
            self.compare,
            *self.catalyst_symbols,
            *self.history_symbols,
            *(t for c in self.charts for t in c.tickers),
            *((self.benchmark,) if self.benchmark else ()),
            *(lv.on for lv in self.levels if lv.on not in PAIR_MEASURES),
        ):
            seen.setdefault(s, None)
        return list(seen)


def is_thesis(meta: dict[str, Any]) -> bool:
    return SPEC_KEY in meta


class _Reader:
    """Walks the frontmatter, raising SpecError that names the key and its line."""

    def __init__(self, note: NoteText, path: Path | str) -> None:
        self.note, self.path = note, path

    def fail(self, keys: tuple[str | int, ...], message: str, hint: str | None = None) -> SpecError:
        dotted = ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in keys).replace(
            ".[", "["
        )
        return SpecError(
            message, path=self.path, line=key_line(self.note, keys), key=dotted, hint=hint
        )

    def mapping(self, value: Any, keys: tuple[str | int, ...], known: set[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(keys, "must be a mapping of keys to values")
        unknown = [k for k in value if k not in known]
        if unknown:
            raise self.fail(
                (*keys, str(unknown[0])),
                f"unknown key '{unknown[0]}'",
                hint=f"known keys here: {', '.join(sorted(known))}",
            )
        return value

    def text(self, value: Any, keys: tuple[str | int, ...], default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if isinstance(value, bool):  # YAML 1.1 reads yes/no/on/off as true/false
            raise self.fail(
                keys,
                f"is read as {str(value).lower()} (YAML takes yes, no, on and off for true "
                "and false)",
                hint='quote it: "ON"',
            )
        if not isinstance(value, str | int | float) or str(value).strip() == "":
            raise self.fail(keys, "must be a non-empty text value")
        return str(value).strip()

    def unit(self, value: Any, keys: tuple[str | int, ...]) -> str:
        """A unit as written, spaces kept (" USD" is set apart from the figure on purpose)."""
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        return self.text(value, keys)

    def flag(self, value: Any, keys: tuple[str | int, ...]) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(keys, f"{_shown(value)} must be true or false (unquoted)")
        return value

    def symbol(self, value: Any, keys: tuple[str | int, ...]) -> str:
        text = self.text(value, keys)
        if not _SYMBOL.fullmatch(text):
            raise self.fail(keys, f"'{text}' is not a ticker symbol", hint="e.g. IWM or ^RUT")
        return text.upper()

    def symbols(
        self, value: Any, keys: tuple[str | int, ...], default: list[str]
    ) -> tuple[str, ...]:
        if value is None:
            return tuple(default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(keys, "must be a list of ticker symbols, one per line")
        return tuple(dict.fromkeys(self.symbol(v, (*keys, i)) for i, v in enumerate(value)))

    def date(self, value: Any, keys: tuple[str | int, ...]) -> dt.date:
        if isinstance(value, dt.datetime):
            day = value.date()
        elif isinstance(value, dt.date):
            day = value
        elif isinstance(value, str) and (found := _DATE_PREFIX.fullmatch(value)):
            # 2026-02-04, or Obsidian's date & time property 2026-02-04T10:31: its day
            try:
                day = dt.date.fromisoformat(found.group(1))
            except ValueError as exc:  # 2026-02-30: a date in form, not one in fact
                raise self.fail(
                    keys, f"'{value}' is not a valid date ({exc})", hint="check the day and month"
                ) from None
        else:
            raise self.fail(
                keys, f"{_shown(value)} is not a date", hint="write dates as YYYY-MM-DD"
            )
        if not MIN_DATE <= day <= MAX_DATE:
            raise self.fail(
                keys,
                f"{day} is outside the dates rotation-notes handles ({MIN_DATE} to {MAX_DATE})",
                hint="check the year",
            )
        return day

    def number(self, value: Any, keys: tuple[str | int, ...]) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            hint = None
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    float(value)
                    hint = "YAML reads 1.8e1 as text: write 18, 18.0 or 1.8e+1"
            raise self.fail(keys, f"{_shown(value)} is not a number", hint=hint)
        try:
            number = float(value)
        except OverflowError:  # an int past any float; its digits are not echoed back
            raise self.fail(
                keys, f"{_shown(value)} is too large (the largest is about 1.8e308)"
            ) from None
        if not math.isfinite(number):
            raise self.fail(keys, f"{_shown(value)} is not a finite number")
        return number

    def choice(self, value: Any, keys: tuple[str | int, ...], choices: tuple[str, ...]) -> str:
        """One of ``choices`` (case ignored), or an error listing them."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            # YAML 1.1 reads 16:00 as 960 (base 60) and 1e3 as a number
            raise self.fail(
                keys,
                f"'{keys[-1]}' is read as the number {_shown(value)}, not a word (YAML reads "
                "a time such as 16:30 as a number in base 60)",
                hint=f"write one of: {', '.join(choices)}",
            )
        text = self.text(value, keys)
        if text.lower() not in choices:
            raise self.fail(keys, f"{_shown(text)} is not one of: {', '.join(choices)}")
        return text.lower()

    def positive_number(self, value: Any, keys: tuple[str | int, ...]) -> float:
        number = self.number(value, keys)
        if number <= 0:
            raise self.fail(keys, f"{_shown(value)} must be a number above 0")
        return number

    def positive_int(
        self, value: Any, keys: tuple[str | int, ...], default: int, most: int | None = None
    ) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(keys, f"{_shown(value)} must be a whole number above 0")
        if most is not None and value > most:
            raise self.fail(keys, f"{_shown(value)} is more than the largest allowed, {most:,}")
        return value


def parse_spec(
    meta: dict[str, Any], note: NoteText, path: Path | str, stale_after_days: int = STALE_AFTER_DAYS
) -> ThesisSpec:
    """Validate a thesis note's frontmatter into a ThesisSpec."""
    r = _Reader(note, path)
    root = (SPEC_KEY,)
    spec = r.mapping(meta.get(SPEC_KEY), root, set(SCHEMA_KEYS[SPEC_KEY]))
    legs = []
    for side in ("long", "short"):
        if spec.get(side) is None:
            raise r.fail(
                root,
                f"the thesis needs a '{side}' leg",
                hint=f"add '{side}:' with 'label' and 'ticker' under '{SPEC_KEY}:'",
            )
        leg = r.mapping(spec[side], (*root, side), set(SCHEMA_KEYS["leg"]))
        ticker = r.symbol(leg.get("ticker"), (*root, side, "ticker"))
        index = r.symbol(leg["index"], (*root, side, "index")) if leg.get("index") else ticker
        legs.append(Leg(r.text(leg.get("label"), (*root, side, "label"), ticker), ticker, index))
    long, short = legs

    raw_names = spec.get("names")
    names_raw = r.mapping(
        raw_names, (*root, "names"), set(raw_names) if isinstance(raw_names, dict) else set()
    )
    names: dict[str, str] = {}
    for symbol, v in names_raw.items():
        if str(symbol).upper() in names:  # IWM and iwm: one symbol named twice
            raise r.fail(
                (*root, "names", str(symbol)),
                f"'{symbol}' names a symbol already named (symbols ignore case)",
                hint="keep one of the two",
            )
        names[str(symbol).upper()] = r.text(v, (*root, "names", str(symbol)))

    setup = r.mapping(spec.get("setup"), (*root, "setup"), set(SCHEMA_KEYS["setup"]))
    stale = r.positive_int(
        setup.get("stale_after_days"), (*root, "setup", "stale_after_days"), stale_after_days
    )
    metrics = []
    raw_metrics = setup.get("metrics") or []
    if not isinstance(raw_metrics, list):
        raise r.fail((*root, "setup", "metrics"), "must be a list of metrics")
    for i, m in enumerate(raw_metrics):
        k: tuple[str | int, ...] = (*root, "setup", "metrics", i)
        m = r.mapping(m, k, set(SCHEMA_KEYS["metric"]))
        for req in ("name", "long", "short", "source", "as_of"):
            if m.get(req) is None:
                raise r.fail(
                    k,
                    f"metric needs '{req}'",
                    hint="a hand-entered metric needs name, long, short, source and as_of",
                )
        metrics.append(
            HandMetric(
                name=r.text(m["name"], (*k, "name")),
                long=r.number(m["long"], (*k, "long")),
                short=r.number(m["short"], (*k, "short")),
                unit=r.unit(m.get("unit"), (*k, "unit")),
                source=r.text(m["source"], (*k, "source")),
                as_of=r.date(m["as_of"], (*k, "as_of")),
                gap=r.flag(m.get("gap"), (*k, "gap")),
            )
        )

    tracking = r.mapping(spec.get("tracking"), (*root, "tracking"), set(SCHEMA_KEYS["tracking"]))
    compare = (
        r.symbol(tracking["compare"], (*root, "tracking", "compare"))
        if tracking.get("compare")
        else short.ticker
    )
    tickers = r.symbols(
        tracking.get("tickers"), (*root, "tracking", "tickers"), [long.ticker, short.ticker]
    )

    cats = r.mapping(spec.get("catalysts"), (*root, "catalysts"), set(SCHEMA_KEYS["catalysts"]))
    catalyst_symbols = r.symbols(
        cats.get("symbols"), (*root, "catalysts", "symbols"), [long.index, short.index]
    )
    links: tuple[WikiLink, ...] | None = None
    if CATALYSTS_KEY in meta:
        raw_links = meta[CATALYSTS_KEY] or []
        if isinstance(raw_links, str):
            raw_links = [raw_links]
        if not isinstance(raw_links, list):
            raise r.fail((CATALYSTS_KEY,), "must be a list of links to catalyst notes")
        parsed = []
        for i, v in enumerate(raw_links):
            link = as_wikilink(v)
            if link is None:
                raise r.fail(
                    (CATALYSTS_KEY, i),
                    f"'{v}' is not a wikilink",
                    hint='write each catalyst as a quoted link: - "[[Note name]]"',
                )
            parsed.append(link)
        links = tuple(parsed)

    hist = r.mapping(spec.get("history"), (*root, "history"), set(SCHEMA_KEYS["history"]))
    history_symbols = r.symbols(
        hist.get("symbols"), (*root, "history", "symbols"), [long.index, short.index]
    )
    periods = []
    raw_periods = hist.get("periods") or []
    if not isinstance(raw_periods, list):
        raise r.fail((*root, "history", "periods"), "must be a list of periods")
    for i, p in enumerate(raw_periods):
        k = (*root, "history", "periods", i)
        p = r.mapping(p, k, set(SCHEMA_KEYS["period"]))
        start = r.date(p.get("start"), (*k, "start"))
        end = r.date(p["end"], (*k, "end")) if p.get("end") is not None else None
        if end is not None and end < start:
            raise r.fail((*k, "end"), f"period ends ({end}) before it starts ({start})")
        label = r.text(
            p.get("label"), (*k, "label"), f"{start.year}-{end.year}" if end else f"Since {start}"
        )
        setup_text = r.text(p["setup"], (*k, "setup")) if p.get("setup") is not None else ""
        periods.append(Period(label, start, end, setup_text))
    if hist.get("since") is not None:
        since = r.date(hist["since"], (*root, "history", "since"))
        periods.append(Period(f"Current rotation (since {since})", since, None, "This thesis"))

    opened, opened_from = _opened(r, spec, meta)
    benchmark = (
        r.symbol(spec["benchmark"], (*root, "benchmark"))
        if spec.get("benchmark") is not None
        else None
    )
    levels = _levels(r, spec.get("levels"), (*root, "levels"))

    raw_charts = spec.get("charts")
    if raw_charts is None:
        raw_charts = [{}]
    if not isinstance(raw_charts, list):
        raise r.fail((*root, "charts"), "must be a list of charts")
    charts = []
    for i, c in enumerate(raw_charts):
        k = (*root, "charts", i)
        c = r.mapping(c, k, set(SCHEMA_KEYS["chart"]))
        kind = r.choice(c["kind"], (*k, "kind"), CHART_KINDS) if c.get("kind") else "price"
        if kind == "ratio" and c.get("tickers") is not None:
            raise r.fail(
                (*k, "tickers"),
                "a ratio chart draws the thesis's own pair (its long and short legs)",
                hint="remove 'tickers' from this chart",
            )
        chart_tickers = r.symbols(c.get("tickers"), (*k, "tickers"), [long.ticker, short.ticker])
        if len(chart_tickers) < 2:
            raise r.fail((*k, "tickers"), "a chart compares at least two tickers")
        what = "ratio" if kind == "ratio" else "price"
        joiner = "-" if kind == "ratio" else "-vs-"
        default_file = (
            f"{chart_tickers[0]}{joiner}{chart_tickers[1]}-{what}-chart.png".lower().replace(
                "^", ""
            )
        )
        file = r.text(c.get("file"), (*k, "file"), default_file)
        if (problem := chart_name_problem(file)) is not None:
            raise r.fail(
                (*k, "file"),
                f"chart file name {_shown(file)} {problem}",
                hint="use a name like iwm-vs-qqq-price-chart.png, without folders",
            )
        if kind == "ratio":
            days = (
                r.positive_int(c["days"], (*k, "days"), CHART_DAYS, most=MAX_CHART_DAYS)
                if c.get("days") is not None
                else None
            )
        else:
            days = r.positive_int(c.get("days"), (*k, "days"), CHART_DAYS, most=MAX_CHART_DAYS)
        charts.append(ChartSpec(file, chart_tickers, days, kind))
    files = [c.file.lower() for c in charts]
    if len(set(files)) != len(files):
        raise r.fail((*root, "charts"), "two charts have the same file name")

    return ThesisSpec(
        long=long,
        short=short,
        names=names,
        metrics=tuple(metrics),
        stale_after_days=stale,
        tracking=tickers,
        compare=compare,
        catalyst_symbols=catalyst_symbols,
        catalyst_links=links,
        history_symbols=history_symbols,
        periods=tuple(periods),
        charts=tuple(charts),
        opened=opened,
        opened_from=opened_from,
        benchmark=benchmark,
        levels=levels,
    )


def created_date(value: Any) -> dt.date | None:
    """The day a ``created`` property gives, as note templates write it (a date, a datetime,
    ``2026-02-04``, ``2026-02-04T10:31`` or ``2026-02-04 10:31:00``), or None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and (found := _DATE_PREFIX.fullmatch(value)):
        try:
            day = dt.date.fromisoformat(found.group(1))
        except ValueError:
            return None
        return day if MIN_DATE <= day <= MAX_DATE else None
    return None


def _opened(r: _Reader, spec: dict[str, Any], meta: dict[str, Any]) -> tuple[dt.date | None, str]:
    """The day the thesis was opened and where it came from, or None and why there is none.

    ``opened`` under ``rotation-notes`` must be a date (an error otherwise: it is the
    thesis's own key). Without it, an ``opened`` property at the top level (Obsidian's
    properties panel cannot edit a nested key), else the note's ``created`` property: one
    that is not a date leaves the thesis without an opened day, said in its scorecard.
    """
    if spec.get("opened") is not None:
        return r.date(spec["opened"], (SPEC_KEY, "opened")), "opened"
    # a top-level `opened` (Obsidian's panel writes there), else the note's `created`
    for key in ("opened", "created"):
        if meta.get(key) is not None:
            day = created_date(meta[key])
            if day is None:
                return None, (
                    f"the note's '{key}' property ({_shown(meta[key])}) is not a date: add "
                    "'opened: YYYY-MM-DD' under rotation-notes"
                )
            return day, key
    return None, (
        "no opened date: add 'opened: YYYY-MM-DD' under rotation-notes (or a 'created' property)"
    )


def _levels(r: _Reader, raw: Any, keys: tuple[str | int, ...]) -> tuple[Level, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise r.fail(keys, "must be a list of levels", hint="see docs/frontmatter.md, levels")
    out = []
    for i, item in enumerate(raw):
        k = (*keys, i)
        if isinstance(item, dict) and True in item and "on" not in item:
            # YAML 1.1 (PyYAML) reads the key `on` as true; Obsidian reads it as "on"
            item = {("on" if key is True else key): v for key, v in item.items()}
        lv = r.mapping(item, k, set(SCHEMA_KEYS["level"]))
        for req in ("name", "kind", "on"):
            if lv.get(req) is None:
                raise r.fail(
                    k,
                    f"level needs '{req}'",
                    hint="a level needs name, kind, on, and below or above",
                )
        given = [d for d in ("below", "above") if lv.get(d) is not None]
        if len(given) != 1:
            raise r.fail(
                k,
                "level needs exactly one of 'below' or 'above'"
                if not given
                else "level has both 'below' and 'above'",
                hint="a level is crossed one way: write 'below: -5' or 'above: 10'",
            )
        on_raw = lv["on"]
        if isinstance(on_raw, bool):  # on: yes / on: on
            r.text(on_raw, (*k, "on"))  # raises: "is read as true (YAML takes yes, no...)"
        if isinstance(on_raw, str) and on_raw.strip().lower() in PAIR_MEASURES:
            on = on_raw.strip().lower()
        elif isinstance(on_raw, str) and _SYMBOL.fullmatch(on_raw.strip()):
            on = on_raw.strip().upper()
        else:
            raise r.fail(
                (*k, "on"),
                f"{_shown(on_raw)} is not spread, ratio or a ticker symbol",
                hint="on: spread (pp), on: ratio (% since opened) or on: IWM (its close)",
            )
        out.append(
            Level(
                name=r.text(lv["name"], (*k, "name")),
                kind=r.choice(lv["kind"], (*k, "kind"), LEVEL_KINDS),
                on=on,
                direction=given[0],
                value=r.number(lv[given[0]], (*k, given[0])),
                near=r.positive_number(lv["near"], (*k, "near"))
                if lv.get("near") is not None
                else None,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class CatalystWindow:
    note: str  # vault-relative path of the catalyst note
    link: WikiLink
    title: str
    start: dt.date
    end: dt.date
    time: str = ""  # one of CATALYST_TIMES, or "" (not given)
    confidence: str = ""  # one of CATALYST_CONFIDENCE, or ""


def parse_catalyst(
    meta: dict[str, Any], note: NoteText, path: str, link: WikiLink
) -> CatalystWindow:
    """The event window a catalyst note declares (``event_start``/``event_end``)."""
    r = _Reader(note, path)
    if meta.get("event_start") is None:
        raise r.fail(
            ("event_start",),
            "catalyst note has no 'event_start' date",
            hint="add 'event_start: YYYY-MM-DD' (and 'event_end') to its properties",
        )
    start = r.date(meta["event_start"], ("event_start",))
    end = r.date(meta["event_end"], ("event_end",)) if meta.get("event_end") is not None else start
    if end < start:
        raise r.fail(
            ("event_end",),
            f"event ends ({end}) before it starts ({start})",
            hint="swap the two dates, or fix event_end",
        )
    title = Path(path).stem
    # `time: no` or `off` is read as false by YAML: said, not taken for "not given"
    time = r.choice(meta["time"], ("time",), CATALYST_TIMES) if meta.get("time") is not None else ""
    confidence = (
        r.choice(meta["confidence"], ("confidence",), CATALYST_CONFIDENCE)
        if meta.get("confidence") is not None
        else ""
    )
    return CatalystWindow(path, link, title, start, end, time, confidence)


#: A top-level property that is nearly ``rotation-notes``: another case, ``_``, ``-`` or
#: spaces between the words (or none), a trailing ``s`` or none; quoted or not.
_NEAR_SPEC_KEY = re.compile(rb"""^(["']?)(rotation[ _-]*notes?)\1[ \t]*:""", re.I | re.M)
_FRONTMATTER_END = re.compile(rb"(?:\r\n|\r|\n)---[ \t]*(?:\r\n|\r|\n|$)")


def near_spec_key(head: bytes) -> tuple[str, int] | None:
    """A top-level property in the frontmatter at the start of ``head`` that is nearly
    ``rotation-notes`` but not it, as written, and its line in the file (1-based).

    Textual, on the frontmatter block only: a vault scan runs it on every note that is not a
    thesis, so no YAML is parsed.
    """
    head = head[len(BOM) :] if head.startswith(BOM) else head
    if not head.startswith(b"---"):
        return None
    end = _FRONTMATTER_END.search(head, 3)
    if end is None:
        return None  # never closed: no properties (Obsidian shows it as text)
    block = head[: end.start()]
    if b"\r" in block:  # CRLF or lone CR line ends: one kind, for ``^`` and the line count
        block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    for m in _NEAR_SPEC_KEY.finditer(block):
        key = m.group(2).decode()
        if key != SPEC_KEY:
            return key, block.count(b"\n", 0, m.start()) + 1
    return None
