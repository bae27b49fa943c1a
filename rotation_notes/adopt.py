"""``rotation-notes adopt NOTE``: turn a thesis note kept by hand into one the tool keeps.

A hand-kept note already says most of what the ``rotation-notes`` properties need: a
Ticker column names the tracked tickers and what they are, a chart embed named
``iwm-vs-qqq-...png`` names the two legs, the column heads of the setup table are the
legs' labels, a Catalysts section links the catalyst notes and a table of year ranges
lists the historical parallels. ``propose`` reads the note and returns the properties it
would add (as YAML *text*, inserted before the closing ``---`` or in a new frontmatter
block: existing properties are never re-serialised), and the hand tables and chart embed
that regions replace, wrapped in region markers so that the next refresh renders them.

Nothing the user wrote is dropped: a row or caption sentence whose words the region
cannot carry (a "Rate sensitivity: High / Low" row, "SaaSpocalypse week hit QQQ but
small caps held.") is kept as text right below its region; only figures the data
recomputes (``+5.8%``, ``~12pp``) go, and the note as it was is saved under the vault's
``.trash/`` folder first. What cannot be inferred is written as a ``"?"`` placeholder
with a ``# adopt:`` comment, which a refresh reports by key and line until it is filled.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rotation_notes.errors import FrontmatterError, NoteError, RotationNotesError, UsageError
from rotation_notes.note.regions import begin_marker, end_marker, find_regions, insert_missing
from rotation_notes.note.text import (
    NoteText,
    decode_note,
    line_body,
    parse_frontmatter,
    parse_wikilink,
)
from rotation_notes.thesis.spec import CATALYSTS_KEY, SPEC_KEY, chart_name_problem

#: The one value a placeholder has: not a symbol, not a date, so a refresh names its key.
PLACEHOLDER = "?"
#: What a refresh's region replaces, and the region it becomes.
TABLE_REGIONS = ("setup", "catalysts", "history", "tracking")

# Index names people write, the symbol Yahoo has for each, and its display name. The
# first pattern that matches a phrase wins, so "Nasdaq 100" is tried before "Nasdaq".
_INDEXES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), sym, name)
    for p, sym, name in (
        (r"\bnasdaq[\s-]*100\b|\bndx\b", "^NDX", "Nasdaq-100"),
        (r"\bnasdaq(\s+composite)?\b|\bixic\b", "^IXIC", "Nasdaq Composite"),
        (r"\brussell\s*2000\b|\br2k\b|\brut\b", "^RUT", "Russell 2000"),
        (r"\brussell\s*1000\b", "^RUI", "Russell 1000"),
        (r"\bs\s*&\s*p\s*500\b|\bs\s*&\s*p\b|\bspx\b", "^GSPC", "S&P 500"),
        (r"\bs\s*&\s*p\s*600\b", "^SP600", "S&P SmallCap 600"),
        (r"\bdow(\s+jones)?\b|\bdjia\b", "^DJI", "Dow Jones Industrial Average"),
    )
)
#: Funds whose index is well known: the symbols their leg's ``index`` may be (first: default).
_FUND_INDEX: dict[str, tuple[str, ...]] = {
    "IWM": ("^RUT",),
    "VTWO": ("^RUT",),
    "QQQ": ("^NDX", "^IXIC"),
    "QQQM": ("^NDX", "^IXIC"),
    "ONEQ": ("^IXIC",),
    "SPY": ("^GSPC",),
    "VOO": ("^GSPC",),
    "IVV": ("^GSPC",),
    "DIA": ("^DJI",),
    "IJR": ("^SP600",),
    "IWB": ("^RUI",),
}

_TICKER = re.compile(r"\^?[A-Z][A-Z0-9.=\-]{0,9}")
_CASHTAG = re.compile(r"(?<![\w$])\$(\^?[A-Z][A-Z0-9.]{0,9})\b")
_HEADING = re.compile(r" {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_DELIM_CELL = re.compile(r":?-{1,}:?")
_EMBED = re.compile(r"\s*!\[\[([^\]|#]+?\.png)(?:[|#][^\]]*)?\]\]\s*", re.IGNORECASE)
_WIKILINK = re.compile(r"(!?)\[\[([^\]]+)\]\]")
_YEAR_RANGE = re.compile(r"((?:18|19|20|21)\d\d)\s*(?:-|–|—|to)\s*((?:18|19|20|21)?\d\d)")
_YEAR = re.compile(r"(?:18|19|20|21)\d\d")
_NUMBER = re.compile(
    r"(?P<sign>[+\-−])?\$?(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>x|×|%|pp|bps?|[kmb]n?|pts?)?",
    re.IGNORECASE,
)
_NUMBER_CELL = re.compile(
    r"[~≈]?\s*(?P<sign>[+\-−])?\$?(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>x|×|%)?", re.IGNORECASE
)
_DATE_LINE = re.compile(
    r"\b(?:created|written|updated|last updated|as of|date)\b[^0-9]{0,12}(\d{4}-\d{2}-\d{2})",
    re.IGNORECASE,
)
#: Setup rows the tracking data computes (returns): replaced, not carried as metrics.
_COMPUTED_ROW = re.compile(
    r"\b(ytd|year[- ]to[- ]date|return|performance|\d+[- ]?(day|week|month|year)|"
    r"1y|3m|1m|52[- ]week|from high|drawdown)\b",
    re.IGNORECASE,
)
#: Words that only describe figures (a caption's "last 90 days", a column's "move").
_FIGURE_WORDS = {
    "vs", "v", "versus", "ytd", "tbd", "n/a", "na", "flat", "unchanged", "last", "days", "day",
    "weeks", "week", "months", "month", "years", "year", "over", "the", "divergence", "spread",
    "ahead", "behind", "gap", "move", "moves", "change", "return", "returns", "and", "of",
    "blue", "red", "green", "purple", "orange", "brown", "black", "grey", "gray", "line",
    "lines", "chart", "since", "up", "down", "pp", "bp", "bps", "x", "to", "from", "in", "on",
    "at", "approx", "about", "roughly", "outperformed", "underperformed", "led", "lagged",
}  # fmt: skip


# --- reading the note's body ---------------------------------------------------------------


@dataclass
class Heading:
    index: int
    level: int
    text: str

    @property
    def key(self) -> str:
        text = re.sub(r"[*_`]", "", self.text).strip().lower()
        text = re.sub(r"^[0-9.]+\s*", "", text)
        return text[4:] if text.startswith("the ") else text


@dataclass
class Table:
    start: int  # line index of the header row
    end: int  # line index after the last row
    header: list[str]
    rows: list[list[str]]
    section: list[Heading]  # the headings it sits under, outermost first

    def under(self, *keys: str) -> bool:
        return any(h.key.startswith(k) for h in self.section for k in keys)

    def column(self, *names: str) -> int | None:
        for i, cell in enumerate(self.header):
            if plain(cell).lower() in names:
                return i
        return None


@dataclass
class Embed:
    index: int
    target: str
    caption_index: int | None
    caption: str | None
    section: list[Heading]


@dataclass
class Body:
    headings: list[Heading] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    embeds: list[Embed] = field(default_factory=list)
    #: (line index, text) of every line outside code blocks and tables
    prose: list[tuple[int, str]] = field(default_factory=list)
    #: wikilinks (not embeds) per line index, with the headings they sit under
    links: list[tuple[int, str, list[Heading]]] = field(default_factory=list)


def plain(cell: str) -> str:
    """A cell's text without emphasis marks."""
    return re.sub(r"(\*\*|__|\*|_|`|~~)", "", cell).strip()


def _cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    cells, cur, in_link = [], "", 0
    i = 0
    while i < len(row):  # a | inside [[link|alias]] or escaped \| does not split
        ch = row[i]
        if row.startswith("[[", i):
            in_link += 1
        elif row.startswith("]]", i) and in_link:
            in_link -= 1
        if ch == "\\" and i + 1 < len(row) and row[i + 1] == "|":
            cur += "\\|"
            i += 2
            continue
        if ch == "|" and not in_link:
            cells.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    cells.append(cur.strip())
    return cells


def _is_delimiter(row: str) -> bool:
    cells = _cells(row)
    return "|" in row and bool(cells) and all(_DELIM_CELL.fullmatch(c.strip()) for c in cells)


def read_body(note: NoteText) -> Body:
    body = Body()
    lines = [line_body(ln) for ln in note.lines]
    section: list[Heading] = []
    fence: str | None = None
    i = note.body_start
    while i < len(lines):
        text = lines[i]
        if fence is not None:
            if text.strip().startswith(fence):
                fence = None
            i += 1
            continue
        if m := _FENCE.match(text):
            fence = m.group(1)[0] * 3
            i += 1
            continue
        if m := _HEADING.fullmatch(text):
            h = Heading(i, len(m.group(1)), m.group(2))
            section = [s for s in section if s.level < h.level] + [h]
            body.headings.append(h)
            i += 1
            continue
        if "|" in text and i + 1 < len(lines) and _is_delimiter(lines[i + 1]):
            header = _cells(text)
            j = i + 2
            rows = []
            while j < len(lines) and "|" in lines[j] and lines[j].strip():
                rows.append(_cells(lines[j]))
                j += 1
            body.tables.append(Table(i, j, header, rows, list(section)))
            for k, row in enumerate(rows):  # a table of catalysts links them in its cells
                for cell in row:
                    for lm in _WIKILINK.finditer(cell):
                        if not lm.group(1):
                            body.links.append((i + 2 + k, lm.group(2), list(section)))
            i = j
            continue
        if m := _EMBED.fullmatch(text):
            cap_i = i + 1 if i + 1 < len(lines) else None
            caption = None
            if cap_i is not None:
                c = lines[cap_i].strip()
                if len(c) > 2 and c[0] in "*_" and c[-1] == c[0]:
                    caption = c
            body.embeds.append(
                Embed(i, m.group(1).strip(), cap_i if caption else None, caption, list(section))
            )
            i += 2 if caption else 1
            continue
        body.prose.append((i, text))
        for lm in _WIKILINK.finditer(text):
            if not lm.group(1):
                body.links.append((i, lm.group(2), list(section)))
        i += 1
    return body


# --- what the words mean -----------------------------------------------------------------


def index_in(text: str) -> list[str]:
    """The index symbols a phrase names, in the order it names them."""
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for pattern, sym, _ in _INDEXES:
        for m in pattern.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append((m.start(), sym))
    return list(dict.fromkeys(sym for _, sym in sorted(found)))


def index_name(symbol: str) -> str | None:
    return next((name for _, sym, name in _INDEXES if sym == symbol), None)


def is_figures(text: str, symbols: set[str]) -> bool:
    """Whether ``text`` holds only figures the data recomputes (no words of the user's own)."""
    rest = plain(text)
    for pattern, _, _ in _INDEXES:
        rest = pattern.sub(" ", rest)
    rest = _NUMBER.sub(" ", rest)
    words = re.findall(r"[A-Za-z^][A-Za-z0-9^./&'-]*", rest)
    return all(w.lower().strip(".") in _FIGURE_WORDS or w.upper() in symbols for w in words)


def _number_cell(cell: str) -> tuple[float, str] | None:
    m = _NUMBER_CELL.fullmatch(plain(cell))
    if not m:
        return None
    value = float(m.group("num").replace(",", ""))
    if not value < 1e12:  # the spec's sane size; a longer number is not a figure to carry
        return None
    if m.group("sign") in ("-", "−"):
        value = -value
    unit = (m.group("unit") or "").lower().replace("×", "x")
    return value, unit


def _symbol(cell: str) -> str | None:
    text = plain(cell).strip("$")
    return text.upper() if _TICKER.fullmatch(text.upper()) and text.upper() == text else None


# --- the proposal ----------------------------------------------------------------------------


@dataclass
class Conversion:
    """Lines [start, end) of the note that a region replaces, and lines kept below it."""

    region: str
    start: int
    end: int
    what: str
    kept: list[str] = field(default_factory=list)


@dataclass
class Proposal:
    path: str
    spec: dict[str, Any]
    catalyst_links: list[str]
    #: dotted key -> why it is a placeholder or a guess to check
    comments: dict[str, str]
    placeholders: list[str]
    conversions: list[Conversion]
    inferred: list[str]
    #: catalyst links that resolve to no note in the vault
    missing_catalysts: list[str]
    #: a chart the note embedded that is not one rotation-notes drew, left in place
    foreign_chart: str | None = None
    figures_in_prose: list[int] = field(default_factory=list)


class _Reasoner:
    """Collects what the note says, then decides the properties."""

    def __init__(self, note: NoteText, meta: dict[str, Any], rel: str) -> None:
        self.note, self.meta, self.rel = note, meta, rel
        self.body = read_body(note)
        self.inferred: list[str] = []
        self.comments: dict[str, str] = {}
        self.placeholders: list[str] = []

    def line(self, index: int) -> str:
        return f"line {index + 1}"

    # tables by role
    def tracking_table(self) -> Table | None:
        for t in self.body.tables:
            if t.column("ticker", "symbol", "tickers", "symbols") == 0 and any(
                _symbol(r[0]) for r in t.rows if r
            ):
                return t
        return None

    def history_table(self, taken: set[int]) -> Table | None:
        for t in self.body.tables:
            if t.start in taken:
                continue
            firsts = [plain(r[0]) for r in t.rows if r]
            if (
                firsts
                and any(_YEAR_RANGE.fullmatch(f) for f in firsts)
                and all(_YEAR_RANGE.fullmatch(f) or _YEAR.fullmatch(f) for f in firsts)
            ):
                return t
        return None

    def setup_table(self, taken: set[int]) -> Table | None:
        for t in self.body.tables:
            if t.start in taken or len(t.header) < 3:
                continue
            if t.under("setup") or plain(t.header[0]).lower() in ("metric", "measure"):
                return t
        return None

    def catalyst_table(self, taken: set[int]) -> Table | None:
        for t in self.body.tables:
            if t.start in taken or not t.under("catalyst"):
                continue
            firsts = [plain(r[0]) for r in t.rows if r]
            if firsts and all(index_in(f) or _symbol(f) or _WIKILINK.fullmatch(f) for f in firsts):
                return t
        return None


def _order_like(symbols: list[str], first: str) -> list[str]:
    return sorted(symbols, key=lambda s: s != first)


def propose(note: NoteText, rel: str, vault: Any = None) -> Proposal:
    """The properties and conversions that adopt ``note`` (``rel``: its vault path)."""
    meta = parse_frontmatter(note, rel) if note.frontmatter_src is not None else {}
    r = _Reasoner(note, meta, rel)
    body = r.body
    spec: dict[str, Any] = {}
    conversions: list[Conversion] = []
    taken: set[int] = set()

    # -- tickers: a Ticker column, cashtags, the chart embed's name --------------------------
    tracking = r.tracking_table()
    tracked: list[str] = []
    names: dict[str, str] = {}
    compare: str | None = None
    if tracking is not None:
        taken.add(tracking.start)
        desc = tracking.column("description", "name", "what", "fund")
        for row in tracking.rows:
            sym = _symbol(row[0]) if row else None
            if sym is None:
                continue
            tracked.append(sym)
            if desc is not None and desc < len(row) and plain(row[desc]):
                text = plain(row[desc])
                names[sym] = text
                if re.search(r"\b(comparison|benchmark|compare)\b", text, re.I):
                    compare = sym
        r.inferred.append(
            f"tracked tickers {', '.join(tracked)} from the Ticker table ({r.line(tracking.start)})"
        )
    cashtags = list(
        dict.fromkeys(m.group(1) for _, text in body.prose for m in _CASHTAG.finditer(text))
    )
    if cashtags:
        r.inferred.append(f"tickers {', '.join(cashtags)} from $TICKER mentions")
    embed = next((e for e in body.embeds if re.search(r"[-_ ]vs[-_ ]", e.target, re.I)), None) or (
        body.embeds[0] if body.embeds else None
    )
    chart_tickers: list[str] = []
    if embed is not None:
        stem = posixpath.basename(embed.target).rsplit(".", 1)[0]
        tokens = re.split(r"[-_ ]+", stem)
        for i, tok in enumerate(tokens):
            if tok.lower() in ("vs", "v", "versus"):
                for t in (tokens[i - 1] if i else "", tokens[i + 1] if i + 1 < len(tokens) else ""):
                    if t and _TICKER.fullmatch(t.upper()) and t.upper() not in chart_tickers:
                        chart_tickers.append(t.upper())
        if len(chart_tickers) < 2 and embed.caption:
            chart_tickers = [
                s for s in dict.fromkeys(re.findall(r"\b[A-Z]{2,5}\b", embed.caption))
                if s in tracked or s in cashtags
            ]  # fmt: skip
        if chart_tickers:
            r.inferred.append(
                f"chart {embed.target} compares {' and '.join(chart_tickers)} "
                f"(its name{' and caption' if embed.caption else ''}, {r.line(embed.index)})"
            )

    # -- legs ----------------------------------------------------------------------------------
    pool = list(dict.fromkeys([*chart_tickers, *cashtags, *tracked]))
    if not pool:
        raise NoteError(
            "found no tickers in the note: no Ticker column in a table, no $TICKER, and no "
            "chart embed named like iwm-vs-qqq-price-chart.png",
            path=rel,
            hint="add a table with a Ticker column (or write the properties by hand: "
            "docs/frontmatter.md), then run adopt again",
        )
    long_t = pool[0]
    # the short leg: the chart's second ticker, else the next one named that is not the
    # benchmark a tracking table marks "(comparison)", else that benchmark
    short_t = (
        chart_tickers[1]
        if len(chart_tickers) > 1
        else next((t for t in pool[1:] if t != compare), compare if compare != long_t else None)
    )
    setup = r.setup_table(taken)
    labels: tuple[str, str] | None = None
    if setup is not None and len(setup.header) >= 3:
        labels = (plain(setup.header[1]), plain(setup.header[2]))
    legs: dict[str, Any] = {}
    for side, ticker, label in (
        ("long", long_t, labels[0] if labels else None),
        ("short", short_t, labels[1] if labels else None),
    ):
        leg: dict[str, Any] = {}
        if label:
            leg["label"] = label
        if ticker is None:
            leg["ticker"] = PLACEHOLDER
            r.placeholders.append(f"{SPEC_KEY}.{side}.ticker")
            r.comments[f"{SPEC_KEY}.{side}.ticker"] = (
                f"the {side} leg's ticker: the note names only one ({long_t})"
            )
        else:
            leg["ticker"] = ticker
        legs[side] = leg
    spec["long"], spec["short"] = legs["long"], legs["short"]
    r.inferred.append(
        f"long {long_t}, short {short_t or '(not found)'}"
        + (
            f"; leg labels from the setup table's columns ({r.line(setup.start)})"
            if setup is not None and labels
            else ""
        )
    )

    # indexes: the one the note itself names for a fund's family, else the fund's usual one
    mentioned = index_in(" ".join(t for _, t in body.prose) + " " + _all_table_text(body))
    for side in ("long", "short"):
        t = spec[side]["ticker"]
        family = _FUND_INDEX.get(t, ())
        idx = next((s for s in mentioned if s in family), family[0] if family else None)
        if idx:
            spec[side]["index"] = idx

    # -- names ------------------------------------------------------------------------------
    for side in ("long", "short"):
        idx = spec[side].get("index")
        if idx and idx not in names and (n := index_name(idx)):
            names[idx] = n

    # -- setup metrics ------------------------------------------------------------------------
    as_of, as_of_why = _figures_date(note, meta, body)
    if setup is not None:
        taken.add(setup.start)
        metrics = []
        conv = Conversion(
            "setup", setup.start, setup.end, f"the setup table ({r.line(setup.start)})"
        )
        has_gap = any("gap" in plain(row[0]).lower() for row in setup.rows if row)
        for row in setup.rows:
            if not row:
                continue
            name = plain(row[0])
            cells = row[1:3] + [""] * (2 - len(row[1:3]))
            if _COMPUTED_ROW.search(name) and all(is_figures(c, set(pool)) for c in cells):
                continue  # the setup region computes returns
            nums = [_number_cell(c) for c in cells]
            if nums[0] and nums[1] and nums[0][1] == nums[1][1] and len(row) <= 3:
                metric: dict[str, Any] = {
                    "name": name,
                    "long": _num(nums[0][0]),
                    "short": _num(nums[1][0]),
                }
                if nums[0][1]:
                    metric["unit"] = nums[0][1]
                metric["source"] = "hand-entered in the note (before rotation-notes adopt)"
                metric["as_of"] = as_of
                if has_gap:
                    metric["gap"] = True
                metrics.append(metric)
                continue
            conv.kept.extend(_kept_row(row, setup.header, pool))
        if metrics:
            spec["setup"] = {"metrics": metrics}
            r.comments[f"{SPEC_KEY}.setup.metrics[0].as_of"] = as_of_why
            r.inferred.append(
                f"hand metrics {', '.join(m['name'] for m in metrics)} from the setup table"
            )
        conversions.append(conv)

    # -- tracking ------------------------------------------------------------------------------
    if tracked:
        spec["tracking"] = {"tickers": tracked}
        if compare and compare != spec["short"]["ticker"]:
            spec["tracking"]["compare"] = compare
        assert tracking is not None
        conv = Conversion(
            "tracking", tracking.start, tracking.end, f"the Ticker table ({r.line(tracking.start)})"
        )
        desc = tracking.column("description", "name", "what", "fund")
        for row in tracking.rows:
            rest = [c if i not in (0, desc) else "" for i, c in enumerate(row)]
            if any(plain(c) for c in rest):
                conv.kept.extend(_kept_row(rest[:1] + rest[1:], tracking.header, pool, key=row[0]))
        conversions.append(conv)

    # -- catalysts ------------------------------------------------------------------------------
    links: list[str] = []
    for _, inner, section in body.links:
        if any(h.key.startswith("catalyst") for h in section):
            target = parse_wikilink(inner).target
            image = target.lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".svg"))
            if target and not image and target not in links:
                links.append(target)
    cat_table = r.catalyst_table(taken)
    if cat_table is not None:
        taken.add(cat_table.start)
        syms: list[str] = []
        for row in cat_table.rows:
            if row and not _WIKILINK.fullmatch(plain(row[0])):
                syms.extend(index_in(plain(row[0])) or [s for s in [_symbol(row[0])] if s])
        syms = list(dict.fromkeys(syms))
        long_idx = spec["long"].get("index", spec["long"]["ticker"])
        syms = _order_like(syms, long_idx)
        if syms:
            spec["catalysts"] = {"symbols": syms}
        for s in syms:
            if s.startswith("^") and s not in names and (n := index_name(s)):
                names[s] = n
        conv = Conversion(
            "catalysts",
            cat_table.start,
            cat_table.end,
            f"the catalyst table ({r.line(cat_table.start)})",
        )
        for row in cat_table.rows:
            conv.kept.extend(_kept_row(row, cat_table.header, pool))
        conversions.append(conv)
    if links:
        r.inferred.append(f"catalysts {', '.join(links)} from the links under Catalysts")

    # -- history --------------------------------------------------------------------------------
    hist = r.history_table(taken)
    if hist is not None:
        taken.add(hist.start)
        setup_col = hist.column("setup", "context", "what", "backdrop", "why", "description")
        periods: list[dict[str, Any]] = []
        since: dt.date | None = None
        hist_syms: list[str] = []
        conv = Conversion(
            "history", hist.start, hist.end, f"the history table ({r.line(hist.start)})"
        )
        this_year = as_of.year if isinstance(as_of, dt.date) else dt.date.today().year
        for n_row, row in enumerate(hist.rows):
            if not row:
                continue
            first = plain(row[0])
            for i, cell in enumerate(row):
                if i not in (0, setup_col):
                    hist_syms.extend(index_in(plain(cell)))
            yr = _YEAR_RANGE.fullmatch(first)
            setup_text = (
                plain(row[setup_col]) if setup_col is not None and setup_col < len(row) else ""
            )
            if yr is None:  # one year: the current period if it is this thesis's, else that year
                year = int(first)
                if year >= this_year:
                    since = dt.date(year, 1, 1)
                    conv.kept.extend(_kept_row(row, hist.header, pool))
                    continue
                start, stop = dt.date(year, 1, 1), dt.date(year, 12, 31)
            else:
                y1 = int(yr.group(1))
                y2s = yr.group(2)
                y2 = int(y2s) if len(y2s) == 4 else (y1 // 100) * 100 + int(y2s)
                if len(y2s) == 2 and y2 < y1:  # 1999-00
                    y2 += 100
                if y2 < y1:  # "2016-2015": not a period it can measure; the row is kept
                    conv.kept.extend(_kept_row(row, hist.header, pool, key=row[0]))
                    continue
                start, stop = dt.date(y1, 1, 1), dt.date(y2, 12, 31)
            period: dict[str, Any] = {"label": first}
            if setup_text:
                period["setup"] = setup_text
            period["start"], period["end"] = start, stop
            n_period = len(periods)
            periods.append(period)
            r.comments[f"{SPEC_KEY}.history.periods[{n_period}].start"] = (
                f"from the row '{first}': whole years; set the exact dates"
            )
            rest = [c if i not in (0, setup_col) else "" for i, c in enumerate(row)]
            conv.kept.extend(_kept_row(rest, hist.header, pool, key=row[0]))
            del n_row
        hist_syms = list(dict.fromkeys(hist_syms))
        history: dict[str, Any] = {}
        if len(hist_syms) >= 2:
            history["symbols"] = _order_like(hist_syms, spec["long"].get("index", long_t))
            for s in hist_syms:
                if s not in names and (n := index_name(s)):
                    names[s] = n
        if periods:
            history["periods"] = periods
        if since is not None:
            history["since"] = since
        if history:
            spec["history"] = history
            r.inferred.append(
                f"{len(periods)} historical period(s){' and since ' + str(since) if since else ''} "
                f"from the table of years ({r.line(hist.start)})"
            )
        conversions.append(conv)

    # -- chart ----------------------------------------------------------------------------------
    foreign: str | None = None
    if embed is not None:
        file = posixpath.basename(embed.target)
        if chart_name_problem(file) is not None:
            file = ""
        if vault is not None and file:
            existing = vault.resolve_link(embed.target, rel)
            if existing is not None and not _is_own_chart(vault.abs(existing)):
                foreign = existing
                file = _free_chart_name(vault, file)
        chart: dict[str, Any] = {}
        if file:
            chart["file"] = file
        tickers = chart_tickers if len(chart_tickers) >= 2 else []
        if tickers:
            chart["tickers"] = tickers
        if embed.caption and (
            dm := re.search(r"(\d{1,5})[- ]?(?:trading[- ])?days?\b", embed.caption)
        ):
            chart["days"] = int(dm.group(1))
        spec["charts"] = [chart]
        last = (embed.caption_index + 1) if embed.caption_index is not None else embed.index + 1
        conv = Conversion("charts", embed.index, last, f"the chart embed ({r.line(embed.index)})")
        if embed.caption:
            mark = embed.caption[0]
            inner = embed.caption.strip(mark + " ")
            sentences = re.split(r"(?<=[.!?])\s+", inner)
            keep = [s for s in sentences if s.strip() and not is_figures(s, set(pool))]
            if keep:
                conv.kept.append(f"{mark}{' '.join(keep)}{mark}")
        conversions.append(conv)

    if names:
        spec["names"] = names
    # a hand table that is left (unrecognised) stays as it is
    conversions.sort(key=lambda c: c.start)
    figures = [
        i for i, text in body.prose
        if re.search(r"[+\-−]\d[\d.,]*\s*%", text) and not _EMBED.fullmatch(text)
    ]  # fmt: skip
    spec_out = {SPEC_KEY: _ordered(spec)}
    return Proposal(
        path=rel,
        spec=spec_out,
        catalyst_links=links,
        comments=r.comments,
        placeholders=r.placeholders,
        conversions=conversions,
        inferred=r.inferred,
        missing_catalysts=[
            t for t in links if vault is not None and vault.resolve_link(t, rel) is None
        ],
        foreign_chart=foreign,
        figures_in_prose=figures,
    )


def _all_table_text(body: Body) -> str:
    return " ".join(" ".join([*t.header, *(" ".join(r) for r in t.rows)]) for t in body.tables)


def _num(value: float) -> int | float:
    return int(value) if value == int(value) and abs(value) < 1e15 else value


def _kept_row(
    row: list[str], header: list[str], symbols: list[str], key: str | None = None
) -> list[str]:
    """A table row's words the region does not carry, as a bullet (none if only figures)."""
    key = plain(key if key is not None else row[0]) if row else ""
    parts = []
    for i, cell in enumerate(row[1:], start=1):
        text = cell.strip()
        if not plain(text) or plain(text) in ("—", "-", "–") or is_figures(text, set(symbols)):
            continue
        head = plain(header[i]) if i < len(header) else ""
        parts.append(f"{head}: {text}" if head and len(header) > 2 else text)
    if not parts:
        return []
    return [f"- {key} — {'; '.join(parts)}" if key else f"- {'; '.join(parts)}"]


def _figures_date(note: NoteText, meta: dict[str, Any], body: Body) -> tuple[dt.date, str]:
    """When the hand figures were typed: a date the note gives, else its file's date."""
    for key in ("updated", "modified", "date", "created"):
        value = meta.get(key)
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value.strip()[:10])
            except ValueError:
                continue
        if isinstance(value, dt.date):
            return value, f"the note's '{key}' property; check it is when these figures were typed"
    for _, text in reversed(body.prose):
        if m := _DATE_LINE.search(text):
            try:
                return (
                    dt.date.fromisoformat(m.group(1)),
                    f"from '{m.group(0).strip('* ')}' in the note; check it is when these "
                    "figures were typed",
                )
            except ValueError:
                continue
    return dt.date.today(), "today (the note gives no date): set when these figures were typed"


def _ordered(spec: dict[str, Any]) -> dict[str, Any]:
    order = ("long", "short", "names", "setup", "tracking", "catalysts", "history", "charts")
    return {k: spec[k] for k in order if k in spec}


def _is_own_chart(path: Path) -> bool:
    from rotation_notes.output.charts import is_own_chart
    from rotation_notes.vault.files import read_if_exists

    try:
        data = read_if_exists(path)
    except OSError:
        return False
    return data is not None and is_own_chart(data)


def _free_chart_name(vault: Any, file: str) -> str:
    stem = file.rsplit(".", 1)[0]
    for n in range(1, 100):
        name = f"{stem}-rotation-notes{'' if n == 1 else f'-{n}'}.png"
        if vault.resolve_link(name, "") is None:
            return name
    raise NoteError(f"no free chart file name near {file}")


# --- properties as text ------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    import yaml

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | dt.date):
        return str(value)
    text = str(value)
    if text == PLACEHOLDER:
        return '"?"'
    plain_ok = (
        text
        and text == text.strip()
        and not re.search(r"[:#]\s|\s#|^[-?:,\[\]{}#&*!|>'\"%@`]|[\x00-\x1f\x7f]|:$", text)
    )
    if plain_ok:
        try:
            plain_ok = yaml.safe_load(text) == text
        except yaml.YAMLError:
            plain_ok = False
    return text if plain_ok else json.dumps(text, ensure_ascii=False)


def properties_text(p: Proposal, has_catalysts_key: bool) -> list[str]:
    """The properties to add, as YAML lines (no line endings), comments included."""
    out: list[str] = []

    def emit(value: Any, indent: int, path: str, lead: str) -> None:
        pad = " " * indent
        note = p.comments.get(path)
        tail = f"  # adopt: {note}" if note else ""
        if isinstance(value, dict):
            if lead:
                out.append(f"{pad}{lead}{tail}")
            for k, v in value.items():
                key = _scalar(k)
                sub = f"{path}.{k}" if path else str(k)
                if isinstance(v, dict | list) and v:
                    emit(v, indent + 2 if lead else indent, sub, f"{key}:")
                else:
                    inner_pad = " " * (indent + 2 if lead else indent)
                    c = p.comments.get(sub)
                    out.append(f"{inner_pad}{key}: {_scalar(v)}" + (f"  # adopt: {c}" if c else ""))
        elif isinstance(value, list):
            out.append(f"{pad}{lead}{tail}")
            for i, item in enumerate(value):
                sub = f"{path}[{i}]"
                if isinstance(item, dict):
                    first = True
                    for k, v in item.items():
                        prefix = f"{pad}  - " if first else f"{pad}    "
                        first = False
                        c = p.comments.get(f"{sub}.{k}")
                        tail_c = f"  # adopt: {c}" if c else ""
                        if isinstance(v, list):
                            out.append(f"{prefix}{_scalar(k)}:{tail_c}")
                            out.extend(f"{pad}      - {_scalar(x)}" for x in v)
                        else:
                            out.append(f"{prefix}{_scalar(k)}: {_scalar(v)}{tail_c}")
                else:
                    out.append(f"{pad}  - {_scalar(item)}")

    if p.catalyst_links and not has_catalysts_key:
        out.append(f"{CATALYSTS_KEY}:")
        out.extend(
            f"  - {json.dumps('[[' + t + ']]', ensure_ascii=False)}" for t in p.catalyst_links
        )
    emit(p.spec[SPEC_KEY], 0, SPEC_KEY, f"{SPEC_KEY}:")
    return out


# --- applying it -------------------------------------------------------------------------------


def adopted_text(note: NoteText, p: Proposal, rel: str) -> str:
    """The note with the properties added as text and hand tables/embeds turned into regions."""
    from rotation_notes.thesis import registry

    nl = note.newline
    meta = parse_frontmatter(note, rel) if note.frontmatter_src is not None else {}
    props = [line + nl for line in properties_text(p, CATALYSTS_KEY in meta)]
    lines = list(note.lines)
    starts = {c.start: c for c in p.conversions}
    out: list[str] = []
    i = 0
    while i < len(lines):
        c = starts.get(i)
        if c is None:
            out.append(lines[i])
            i += 1
            continue
        block = lines[c.start : c.end]
        if not block[-1].endswith(("\n", "\r")):
            block[-1] += nl
        out.append(begin_marker(c.region) + nl)
        out.extend(block)  # the hand version stays visible until the first refresh
        out.append(end_marker(c.region) + nl)
        if c.kept:
            out.append(nl)
            out.extend(k + nl for k in c.kept)
            nxt = lines[c.end] if c.end < len(lines) else ""
            if line_body(nxt).strip():
                out.append(nl)
        i = c.end
    if note.frontmatter_src is None:
        text = "---" + nl + "".join(props) + "---" + nl + "".join(out)
    else:
        close = note.body_start - 1  # the closing '---' line
        head = out[:close]
        if head and not head[-1].endswith(("\n", "\r")):
            head[-1] += nl
        text = "".join([*head, *props, *out[close:]])
    new = decode_note(note.encode(text))
    regions = find_regions(new, rel, registry.NAMES)
    wanted = [
        k.name for k in registry.REGIONS if k.name != "charts" or "charts" in p.spec[SPEC_KEY]
    ]
    return insert_missing(new, regions, registry.placements(wanted), rel)


# --- the command -----------------------------------------------------------------------------


@dataclass
class AdoptReport:
    note: str
    vault: str
    written: bool
    diff: str
    properties: list[str]
    proposal: Proposal
    backup: str | None = None
    created_catalysts: list[str] = field(default_factory=list)
    failed_catalysts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        p = self.proposal
        return {
            "note": self.note,
            "vault": self.vault,
            "status": "written" if self.written else "proposed",
            "properties": "\n".join(self.properties),
            "regions": [
                {"region": c.region, "line": c.start + 1, "replaces": c.what, "kept": c.kept}
                for c in p.conversions
            ],
            "inferred": p.inferred,
            "placeholders": p.placeholders,
            "missing_catalysts": p.missing_catalysts,
            "created_catalysts": self.created_catalysts,
            "failed_catalysts": self.failed_catalysts,
            "foreign_chart": p.foreign_chart,
            "figures_in_prose": [i + 1 for i in p.figures_in_prose],
            "backup": self.backup,
            "diff": self.diff,
        }

    def summary(self) -> list[str]:
        """What a person needs to read after the diff, one line each (stderr)."""
        p = self.proposal
        out = []
        for c in p.conversions:
            out.append(f"  region {c.region:<9} replaces {c.what}")
            for k in c.kept:
                out.append(f"    kept below it: {k}")
        for line in p.inferred:
            out.append(f"  inferred: {line}")
        for key in p.placeholders:
            out.append(f'  placeholder: {key} is "?": fill it in before refreshing')
        for target in p.missing_catalysts:
            made = any(
                c.endswith(target.rsplit("/", 1)[-1] + ".md") for c in self.created_catalysts
            )
            out.append(
                f"  catalyst [[{target}]]: "
                + (
                    "created, with empty event_start/event_end: fill them in"
                    if made
                    else "no such note yet (--create-catalysts makes it)"
                )
            )
        for failure in self.failed_catalysts:
            out.append(f"  catalyst {failure}: not created")
        if p.foreign_chart:
            out.append(
                f"  chart: {p.foreign_chart} was not drawn by rotation-notes; it is left as it is "
                f"and the note now embeds {p.spec[SPEC_KEY]['charts'][0].get('file')}"
            )
        if p.figures_in_prose:
            lines = ", ".join(str(i + 1) for i in p.figures_in_prose)
            out.append(
                f"  note: line(s) {lines} quote figures in your own words; they are left as "
                "written (the headline region shows the live ones)"
            )
        if self.written:
            out.append(f"adopted {self.note}; the note as it was is saved as {self.backup}")
            out.append(f'next: rotation-notes refresh "{self.vault}" --note "{self.note}"')
        else:
            out.append(f"nothing written: run again with --write to adopt {self.note}")
        return out


def _refuse(message: str, rel: str, hint: str | None = None, line: int | None = None) -> NoteError:
    return NoteError(message, path=rel, line=line, hint=hint)


def check_adoptable(note: NoteText, rel: str) -> dict[str, Any]:
    """The note's properties, or a NoteError saying why it cannot be adopted."""
    from rotation_notes.thesis.core import first_bad_utf8

    if note.undecodable:
        offset, line = first_bad_utf8(note.raw)
        raise _refuse(
            f"note is not valid UTF-8: the first bad byte is at offset {offset:,} (line {line})",
            rel,
            line=line,
            hint="re-save it as UTF-8 and run adopt again",
        )
    meta = parse_frontmatter(note, rel) if note.frontmatter_src is not None else {}
    if not isinstance(meta, dict):
        raise _refuse("its properties are not a mapping of keys to values", rel)
    if SPEC_KEY in meta:
        raise _refuse(
            "is already a thesis (it has rotation-notes properties)",
            rel,
            hint=f'refresh it instead: rotation-notes refresh VAULT --note "{rel}"',
        )
    near = [k for k in meta if isinstance(k, str) and _near_miss(k)]
    if near:
        raise _refuse(
            f"has a '{near[0]}' property, a misspelling of '{SPEC_KEY}'",
            rel,
            hint=f"rename it to '{SPEC_KEY}:' and refresh the note",
        )
    for ln in find_regions(note, rel):
        raise _refuse(
            "already holds rotation-notes markers",
            rel,
            line=ln.begin + 1,
            hint="add the rotation-notes properties by hand (docs/frontmatter.md) and refresh",
        )
    if CATALYSTS_KEY in meta:
        from rotation_notes.note.text import as_wikilink

        value = meta[CATALYSTS_KEY]
        items = value if isinstance(value, list) else [value]
        if not all(as_wikilink(v) is not None for v in items if v is not None):
            raise _refuse(
                f"its '{CATALYSTS_KEY}' property holds something other than links to notes; "
                "rotation-notes reads that property as the list of catalyst notes",
                rel,
                hint='rename that property, or make it a list of quoted links: - "[[Note]]"',
            )
    return meta


def _near_miss(key: str) -> bool:
    k = re.sub(r"[\s_\-]+", "", key.lower())
    return key != SPEC_KEY and k in ("rotationnotes", "rotationnote")


def _unified(before: str, after: str, rel: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{rel}",
            tofile=f"b/{rel}",
        )
    )


def adopt(
    note_path: Path,
    *,
    write: bool = False,
    create_catalysts: bool = False,
    lock_wait: float = 60.0,
) -> AdoptReport:
    from rotation_notes.thesis.core import read_thesis
    from rotation_notes.vault.files import NotRegularFile, read_regular
    from rotation_notes.vault.vault import Vault

    if note_path.suffix.lower() != ".md":
        raise UsageError(f"{note_path} is not a markdown note (.md)")
    try:
        raw = read_regular(note_path)
    except FileNotFoundError:
        raise UsageError(f"no such note: {note_path}") from None
    except NotRegularFile as exc:
        raise UsageError(f"{note_path} is {exc.kind}, not a note") from None
    except IsADirectoryError:
        raise UsageError(f"{note_path} is a folder, not a note") from None
    vault = Vault.open(note_path.parent)
    rel = vault.rel(note_path)
    note = decode_note(raw)
    meta = check_adoptable(note, rel)
    proposal = propose(note, rel, vault)
    text = adopted_text(note, proposal, rel)
    new = decode_note(note.encode(text))
    # the result must be a thesis whose other properties are exactly the ones it had
    try:
        new_meta = parse_frontmatter(new, rel)
    except FrontmatterError:
        new_meta = {}
    lost = [k for k in meta if k not in new_meta or new_meta[k] != meta[k]]
    if lost or SPEC_KEY not in new_meta or set(new_meta) - set(meta) - {SPEC_KEY, CATALYSTS_KEY}:
        raise _refuse(
            "cannot add the properties as text to this note's frontmatter without changing "
            f"what it says (key {lost[0] if lost else '?'!r}): it is not plain block-style YAML",
            rel,
            line=1,
            hint="add the rotation-notes properties by hand (docs/frontmatter.md)",
        )
    if not proposal.placeholders:
        read_thesis(new, rel)  # raises if the proposal is not a valid thesis: a bug here
    props = properties_text(proposal, CATALYSTS_KEY in meta)
    report = AdoptReport(
        note=rel,
        vault=str(vault.root),
        written=False,
        diff=_unified(note.text, text, rel),
        properties=props,
        proposal=proposal,
    )
    if not write:
        return report

    from rotation_notes.vault.lock import vault_lock
    from rotation_notes.vault.writer import replace_if_unchanged

    with vault_lock(vault.root, wait=lock_wait):
        trash_existed = (vault.root / ".trash").is_dir()
        backup = _trash_copy(vault.root, note_path, raw)
        try:
            replace_if_unchanged(note_path, raw, new.raw)
        except BaseException:  # the note is as it was: the copy would only mislead
            (vault.root / backup).unlink(missing_ok=True)
            if not trash_existed:
                with contextlib.suppress(OSError):
                    (vault.root / ".trash").rmdir()
            raise
        report.backup = backup
        report.written = True
        if create_catalysts:
            for target in proposal.missing_catalysts:
                try:
                    report.created_catalysts.append(_create_catalyst(vault, target, rel))
                except (RotationNotesError, OSError) as exc:  # the note is adopted already
                    report.failed_catalysts.append(f"[[{target}]]: {exc}")
    return report


def _trash_copy(root: Path, note_path: Path, raw: bytes) -> str:
    """Save ``raw`` as ``.trash/NAME.md`` (``NAME 1.md``... if taken); the vault path."""
    trash = root / ".trash"
    if trash.is_symlink() or (trash.exists() and not trash.is_dir()):
        raise NoteError(
            ".trash in the vault is not a folder (a file or a link), so the note as it was "
            "cannot be saved there; nothing was changed",
            path=str(note_path),
            hint="move .trash aside (Obsidian recreates it), then run adopt again",
        )
    trash.mkdir(exist_ok=True)
    stem, suffix = note_path.stem, note_path.suffix
    for n in range(0, 1000):
        name = f"{stem}{'' if n == 0 else f' {n}'}{suffix}"
        target = trash / name
        try:
            fd = os.open(
                target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644
            )
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return f".trash/{name}"
    raise NoteError(".trash/ holds 1,000 copies of this note already", path=str(note_path))


def _create_catalyst(vault: Any, target: str, source: str) -> str:
    """A catalyst note for link ``target`` holding only the documented properties."""
    from rotation_notes.vault.writer import replace_if_unchanged

    name = target if target.lower().endswith(".md") else target + ".md"
    if "/" in target:
        rel = vault.inside(name, what="catalyst link")
    else:
        where = vault.app.get("newFileLocation")
        folder = ""
        if where == "current":
            folder = posixpath.dirname(source)
        elif where == "folder" and isinstance(vault.app.get("newFileFolderPath"), str):
            folder = vault.inside(vault.app["newFileFolderPath"], what="newFileFolderPath")
        rel = posixpath.join(folder, name) if folder else name
    if any(ord(ch) < 32 for ch in rel) or any(ch in rel for ch in '<>:"|?*'):
        raise NoteError(
            f"cannot create a note named {rel!r}: the name holds a character notes cannot have",
            path=source,
            hint="rename the link in the note",
        )
    path = vault.abs(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_if_unchanged(path, None, b"---\nevent_start:\nevent_end:\n---\n")
    return rel
