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
import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rotation_notes.errors import FrontmatterError, NoteError, RotationNotesError, UsageError
from rotation_notes.note.regions import (
    HEADING,
    begin_marker,
    end_marker,
    find_regions,
    heading_key,
    insert_missing,
)
from rotation_notes.note.text import (
    NoteText,
    decode_note,
    line_body,
    parse_frontmatter,
    parse_wikilink,
    unified_diff,
)
from rotation_notes.thesis.spec import (
    CATALYSTS_KEY,
    SPEC_KEY,
    chart_name_problem,
    created_date,
    near_spec_key,
)

#: The one value a placeholder has: not a symbol, not a date, so a refresh names its key.
PLACEHOLDER = "?"

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
        return heading_key(self.text)  # as --init matches headings: "The Setup" is "setup"


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
            cur += "|"  # a table's escaped pipe is a pipe in the cell's text
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
    comment: str | None = None  # "%%" (Obsidian) or "-->" (HTML): hidden, never adopted
    region: str | None = None  # inside generated lines: not the user's
    i = note.body_start
    while i < len(lines):
        text = lines[i]
        if region is not None:
            if text.strip() == end_marker(region):
                region = None
            i += 1
            continue
        if fence is None and (m := _REGION_BEGIN.fullmatch(text.strip())):
            region = m.group(1)
            i += 1
            continue
        if comment is not None:
            if (comment == "%%" and text.count("%%") % 2) or (comment != "%%" and "-->" in text):
                comment = None
            i += 1
            continue
        if fence is None and text.count("%%") % 2:
            comment = "%%"
            i += 1
            continue
        if fence is None and "<!--" in text and "-->" not in text.split("<!--", 1)[1]:
            comment = "-->"
            i += 1
            continue
        if fence is not None:
            if text.strip().startswith(fence):
                fence = None
            i += 1
            continue
        if m := _FENCE.match(text):
            fence = m.group(1)[0] * 3
            i += 1
            continue
        if m := HEADING.fullmatch(text):
            h = Heading(i, len(m.group(1)), m.group(2))
            section = [s for s in section if s.level < h.level] + [h]
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
    """The ticker a cell names: ``IWM``, ``$IWM``, ``[[IWM]]``, ``[IWM](url)``, ``SPY 🇺🇸``."""
    text = plain(cell)
    link = re.fullmatch(r"\[\[([^\]|#]+)(?:[|#][^\]]*)?\]\]", text) or re.fullmatch(
        r"\[([^\]]+)\]\([^)]*\)", text
    )
    if link:
        text = link.group(1)
    first, _, rest = text.strip().lstrip("$").partition(" ")
    if any(ch.isalnum() for ch in rest):
        return None
    return first if _TICKER.fullmatch(first) else None


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
    #: things the user should know that are not inferences (links left out, ...)
    notes: list[str] = field(default_factory=list)


class _Reasoner:
    """Collects what the note says, then decides the properties."""

    def __init__(self, note: NoteText, meta: dict[str, Any], rel: str) -> None:
        self.note, self.meta, self.rel = note, meta, rel
        self.body = read_body(note)
        self.inferred: list[str] = []
        self.comments: dict[str, str] = {}
        self.placeholders: list[str] = []
        self.notes: list[str] = []

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
            metric_like = plain(t.header[0]).lower() in ("metric", "measure", "valuation", "")
            rows_like = any(
                len(row) >= 3
                and plain(row[0])
                and (
                    (_number_cell(row[1]) is not None and _number_cell(row[2]) is not None)
                    or _COMPUTED_ROW.search(plain(row[0]))
                )
                for row in t.rows
            )
            if (t.under("setup") and rows_like) or (metric_like and rows_like):
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


_LEG_WORD = re.compile(
    r"\b(long|short)(?:ing)?\s+(?:on\s+|the\s+)?\$?(\^?[A-Z][A-Z0-9.]{0,9})\b", re.IGNORECASE
)
_DAYS = re.compile(r"\b(?:last|past|over(?: the last)?)\s+(\d{1,5})\s+(?:trading\s+)?days?\b", re.I)
_REGION_BEGIN = re.compile(r"%%\s*rotation-notes:([A-Za-z0-9_.-]+)\s*%%")
_INLINE_CODE = re.compile(r"`[^`]*`")


def propose(note: NoteText, rel: str, vault: Any = None) -> Proposal:
    """The properties and conversions that adopt ``note`` (``rel``: its vault path)."""
    meta = parse_frontmatter(note, rel) if note.frontmatter_src is not None else {}
    r = _Reasoner(note, meta, rel)
    body = r.body
    spec: dict[str, Any] = {}
    conversions: list[Conversion] = []
    taken: set[int] = set()
    prose = [(i, _INLINE_CODE.sub(" ", text)) for i, text in body.prose]
    as_of, as_of_why = _figures_date(note, meta, body, vault, rel)
    this_year = as_of.year

    # -- tickers: a Ticker column, cashtags, the chart embed's name --------------------------
    tracking = r.tracking_table()
    tracked: list[str] = []
    names: dict[str, str] = {}
    compare: str | None = None
    tracking_conv: Conversion | None = None
    if tracking is not None:
        taken.add(tracking.start)
        desc = tracking.column("description", "name", "what", "fund")
        tracking_conv = Conversion(
            "tracking", tracking.start, tracking.end, f"the Ticker table ({r.line(tracking.start)})"
        )
        for row in tracking.rows:
            sym = _symbol(row[0]) if row else None
            if sym is None or sym in tracked:  # not a ticker it can track: the row stays as text
                tracking_conv.kept.extend(
                    _kept_row(row, tracking.header, [], figures_go=False, whole=True)
                )
                continue
            tracked.append(sym)
            if desc is not None and desc < len(row) and plain(row[desc]):
                text = plain(row[desc])
                names[sym] = text
                if re.search(r"\b(comparison|benchmark|compare)\b", text, re.I):
                    compare = sym
            rest = [c if i not in (0, desc) else "" for i, c in enumerate(row)]
            tracking_conv.kept.extend(
                _kept_row(rest, tracking.header, [], key=row[0], figures_go=False)
            )
        r.inferred.append(
            f"tracked tickers {', '.join(tracked)} from the Ticker table ({r.line(tracking.start)})"
        )
    cashtags = list(dict.fromkeys(m.group(1) for _, text in prose for m in _CASHTAG.finditer(text)))
    if cashtags:
        r.inferred.append(f"tickers {', '.join(cashtags)} from $TICKER mentions")
    words = set(re.findall(r"\b[A-Z]{2,5}\b", " ".join(t for _, t in prose)))
    evidence = {*tracked, *cashtags, *words, *_FUND_INDEX}

    # the chart: an embed whose name says "X-vs-Y" with X and Y tickers the note names (or,
    # in a note that names no ticker anywhere else, any X and Y: flagged to check)
    embed: Embed | None = None
    chart_tickers: list[str] = []
    unsure = not (tracked or cashtags)
    for trusted in (True, False) if unsure else (True,):
        for e in body.embeds:
            stem = posixpath.basename(e.target).rsplit(".", 1)[0]
            tokens = re.split(r"[-_ ]+", stem)
            found: list[str] = []
            for i, tok in enumerate(tokens):
                if tok.lower() not in ("vs", "v", "versus"):
                    continue
                for t in (tokens[i - 1] if i else "", tokens[i + 1] if i + 1 < len(tokens) else ""):
                    sym = t.upper()
                    ok = sym in evidence or (not trusted and len(sym) <= 5 and sym.isalpha())
                    if t and _TICKER.fullmatch(sym) and ok and sym not in found:
                        found.append(sym)
            if len(found) >= 2:
                embed, chart_tickers = e, found
                break
        if embed is not None:
            if not trusted:
                for side, sym in zip(("long", "short"), chart_tickers, strict=False):
                    r.comments[f"{SPEC_KEY}.{side}.ticker"] = (
                        f"read from the chart's name {posixpath.basename(embed.target)}: "
                        f"check {sym} is the ticker you mean"
                    )
            break
    if embed is not None:
        r.inferred.append(
            f"chart {embed.target} compares {' and '.join(chart_tickers)} "
            f"(its name, {r.line(embed.index)})"
        )

    # -- legs ----------------------------------------------------------------------------------
    said: dict[str, str] = {}
    for _, text in prose:
        for m in _LEG_WORD.finditer(text):
            side, sym = m.group(1).lower(), m.group(2).upper()
            if sym in evidence and side not in said and sym not in said.values():
                said[side] = sym
    pool = list(dict.fromkeys([*said.values(), *chart_tickers, *cashtags, *tracked]))
    if not pool:
        raise NoteError(
            "found no tickers in the note: no Ticker column in a table, no $TICKER, and no "
            "chart embed named like iwm-vs-qqq-price-chart.png",
            path=rel,
            hint="add a table with a Ticker column (or write the properties by hand: "
            "docs/frontmatter.md), then run adopt again",
        )
    others = [t for t in pool if t != compare] or pool
    long_t = said.get("long") or (chart_tickers[0] if chart_tickers else others[0])
    short_t = said.get("short") or (
        chart_tickers[1]
        if len(chart_tickers) > 1 and chart_tickers[1] != long_t
        else next((t for t in others if t != long_t), compare if compare != long_t else None)
    )
    if short_t == long_t:
        short_t = None
    how = (
        "the note's own 'long'/'short' words"
        if said
        else "the chart's name"
        if chart_tickers
        else "the order the note names them"
    )

    # indexes: the one the ticker's own description names, else one the note names for the
    # fund's family, else the fund's usual one
    mentioned = index_in(" ".join(t for _, t in prose) + " " + _all_table_text(body))
    legs: dict[str, Any] = {}
    for side, ticker in (("long", long_t), ("short", short_t)):
        leg: dict[str, Any] = {}
        if ticker is None:
            leg["ticker"] = PLACEHOLDER
            r.placeholders.append(f"{SPEC_KEY}.{side}.ticker")
            r.comments[f"{SPEC_KEY}.{side}.ticker"] = (
                f"the {side} leg's ticker: the note names only one ({long_t})"
            )
        else:
            leg["ticker"] = ticker
            family = _FUND_INDEX.get(ticker, ())
            own = index_in(names.get(ticker, ""))
            idx = next(
                (s for s in [*own, *mentioned] if s in family), family[0] if family else None
            )
            if idx:
                leg["index"] = idx
        legs[side] = leg

    # the setup table: its column heads are the legs' labels, matched to the legs
    setup = r.setup_table(taken)
    col = {"long": 1, "short": 2}
    if setup is not None:
        heads = [plain(setup.header[1]), plain(setup.header[2])]

        def names_leg(head: str, side: str) -> bool:
            leg = legs[side]
            return bool(
                re.search(rf"\b{re.escape(leg['ticker'])}\b", head, re.I)
                or ("index" in leg and leg["index"] in index_in(head))
            )

        if (names_leg(heads[0], "short") or names_leg(heads[1], "long")) and not (
            names_leg(heads[0], "long") or names_leg(heads[1], "short")
        ):
            col = {"long": 2, "short": 1}
        for side in ("long", "short"):
            label = heads[col[side] - 1]
            if label and label.upper() != legs[side]["ticker"]:
                legs[side] = {"label": label, **legs[side]}
    spec["long"], spec["short"] = legs["long"], legs["short"]
    r.inferred.append(
        f"long {long_t}, short {short_t or '(not found)'} from {how}"
        + (
            f"; leg labels from the setup table's columns ({r.line(setup.start)})"
            if setup is not None
            else ""
        )
    )
    for side in ("long", "short"):
        idx = spec[side].get("index")
        if idx and idx not in names and (n := index_name(idx)):
            names[idx] = n
    pool_set = set(pool)

    # -- setup metrics ------------------------------------------------------------------------
    if setup is not None:
        taken.add(setup.start)
        metrics: list[dict[str, Any]] = []
        conv = Conversion(
            "setup", setup.start, setup.end, f"the setup table ({r.line(setup.start)})"
        )
        src_col = setup.column("source", "sources", "from")
        date_col = setup.column("as of", "as_of", "date", "updated")
        gap_rows = [plain(row[0]).lower() for row in setup.rows if row and "gap" in row[0].lower()]
        for row in setup.rows:
            if not row:
                continue
            name = plain(row[0])
            cells = [row[c] if c < len(row) else "" for c in (col["long"], col["short"])]
            if _COMPUTED_ROW.search(name) and all(is_figures(c, pool_set) for c in cells):
                continue  # the setup region computes returns
            nums = [_number_cell(c) for c in cells]
            if name and nums[0] and nums[1] and nums[0][1] == nums[1][1]:
                metric: dict[str, Any] = {
                    "name": name,
                    "long": _num(nums[0][0]),
                    "short": _num(nums[1][0]),
                }
                if nums[0][1]:
                    metric["unit"] = nums[0][1]
                source = plain(row[src_col]) if src_col is not None and src_col < len(row) else ""
                metric["source"] = (
                    source or "hand-entered in the note (before rotation-notes adopt)"
                )
                day = (
                    _date_in(row[date_col])
                    if date_col is not None and date_col < len(row)
                    else None
                )
                metric["as_of"] = day or as_of
                if any(name.lower() in g for g in gap_rows):  # "Forward P/E gap"
                    metric["gap"] = True
                if day is None:
                    r.comments[f"{SPEC_KEY}.setup.metrics[{len(metrics)}].as_of"] = as_of_why
                metrics.append(metric)
                rest = [
                    c if i not in (0, col["long"], col["short"], src_col, date_col) else ""
                    for i, c in enumerate(row)
                ]
                conv.kept.extend(_kept_row(rest, setup.header, [], key=row[0], figures_go=False))
                continue
            conv.kept.extend(_kept_row(row, setup.header, [], figures_go=False, whole=True))
        if metrics:
            if gap_rows and len(metrics) == 1:  # "Valuation gap" beside one metric: its gap
                metrics[0]["gap"] = True
            spec["setup"] = {"metrics": metrics}
            r.inferred.append(
                f"hand metrics {', '.join(m['name'] for m in metrics)} from the setup table"
            )
        conversions.append(conv)

    # -- tracking ------------------------------------------------------------------------------
    if tracked and tracking_conv is not None:
        spec["tracking"] = {"tickers": tracked}
        if compare and compare != spec["short"]["ticker"]:
            spec["tracking"]["compare"] = compare
        conversions.append(tracking_conv)

    # -- catalysts ------------------------------------------------------------------------------
    links: list[str] = []
    for _, inner, section in body.links:
        if any(h.key.startswith("catalyst") for h in section):
            target = parse_wikilink(inner).target
            image = target.lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf"))
            if target and not image and target not in links:
                links.append(target)
    not_events: list[str] = []
    if vault is not None:  # a linked note that exists but is no event is background reading
        for target in list(links):
            found_rel = vault.resolve_link(target, rel)
            if found_rel is not None and not _is_event_note(vault, found_rel):
                links.remove(target)
                not_events.append(target)
    if not_events:
        r.notes.append(
            "not catalysts (their notes have no event_start): "
            + ", ".join(f"[[{t}]]" for t in not_events)
        )
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
            conv.kept.extend(_kept_row(row, cat_table.header, pool, figures_go=True))
        conversions.append(conv)
    if links and CATALYSTS_KEY in meta:
        r.notes.append(
            f"your '{CATALYSTS_KEY}' property is kept as it is; add these links to it if they "
            "are catalysts: " + ", ".join(f"[[{t}]]" for t in links)
        )
        links = []
    elif links:
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
        for row in hist.rows:
            if not row:
                continue
            first = plain(row[0])
            setup_text = (
                plain(row[setup_col]) if setup_col is not None and setup_col < len(row) else ""
            )
            yr = _YEAR_RANGE.fullmatch(first)
            if yr is None:  # one year: the current period if it is this year, else that year
                year = int(first)
                if year == this_year and since is None:
                    since = dt.date(year, 1, 1)
                    conv.kept.extend(_kept_row(row, hist.header, pool, figures_go=True))
                    continue
                if year > this_year:
                    conv.kept.extend(_kept_row(row, hist.header, pool, figures_go=False))
                    continue
                start, stop = dt.date(year, 1, 1), dt.date(year, 12, 31)
            else:
                y1 = int(yr.group(1))
                y2s = yr.group(2)
                y2 = int(y2s) if len(y2s) == 4 else (y1 // 100) * 100 + int(y2s)
                if len(y2s) == 2 and y2 < y1:  # 1999-00
                    y2 += 100
                if y2 < y1 or y1 > this_year:  # not a period it can measure: kept as text
                    conv.kept.extend(
                        _kept_row(row, hist.header, pool, key=row[0], figures_go=False)
                    )
                    continue
                start, stop = dt.date(y1, 1, 1), dt.date(y2, 12, 31)
            for i, cell in enumerate(row):
                if i not in (0, setup_col):
                    hist_syms.extend(index_in(plain(cell)))
            period: dict[str, Any] = {"label": first}
            if setup_text:
                period["setup"] = setup_text
            period["start"], period["end"] = start, stop
            r.comments[f"{SPEC_KEY}.history.periods[{len(periods)}].start"] = (
                f"from the row '{first}': whole years; set the exact dates"
            )
            periods.append(period)
            rest = [c if i not in (0, setup_col) else "" for i, c in enumerate(row)]
            conv.kept.extend(_kept_row(rest, hist.header, pool, key=row[0], figures_go=True))
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
    chart: dict[str, Any] = {}
    default_file = f"{long_t}-vs-{short_t or 'x'}-price-chart.png".lower().replace("^", "")
    file = posixpath.basename(embed.target) if embed is not None else default_file
    if chart_name_problem(file) is not None:
        file = default_file
    if vault is not None:
        existing = vault.resolve_link(file, rel)
        owner = _chart_owner(vault, file, rel) if existing is not None else None
        if existing is not None and (owner is not None or not _is_own_chart(vault.abs(existing))):
            # a picture of the user's, or another thesis's chart: never overwritten
            foreign = existing
            if embed is not None:
                r.notes.append(
                    f"{existing} is "
                    + (f"the chart of {owner}" if owner else "not a chart rotation-notes drew")
                    + f"; its embed on {r.line(embed.index)} is left as it is"
                )
            embed = None
            file = _free_chart_name(vault, file)
    if embed is not None or file != default_file:
        chart["file"] = file
    chart["tickers"] = chart_tickers if chart_tickers else [long_t, short_t or PLACEHOLDER]
    if short_t is None and not chart_tickers:
        chart.pop("tickers")
    if embed is not None and embed.caption and (dm := _DAYS.search(embed.caption)):
        chart["days"] = int(dm.group(1))
    if chart.get("file") or chart.get("days") or chart.get("tickers") != [long_t, short_t]:
        spec["charts"] = [chart]  # else the default chart: the legs, named after them
    if embed is not None:
        last = (embed.caption_index + 1) if embed.caption_index is not None else embed.index + 1
        conv = Conversion("charts", embed.index, last, f"the chart embed ({r.line(embed.index)})")
        if embed.caption:
            mark = embed.caption[0]
            inner = embed.caption.strip(mark + " ")
            sentences = re.split(r"(?<=[.!?])\s+", inner)
            keep = [s for s in sentences if s.strip() and not is_figures(s, pool_set)]
            if keep:
                conv.kept.append(f"{mark}{' '.join(keep)}{mark}")
        conversions.append(conv)

    if names:
        spec["names"] = names
    opened = _opened_date(meta, body)
    if opened is not None:
        spec["opened"] = opened[0]
        r.comments[f"{SPEC_KEY}.opened"] = opened[1]
    else:
        r.notes.append(
            "no opened date (no 'created' property or 'Created' line): add 'opened: "
            "YYYY-MM-DD' under rotation-notes for the scorecard and levels"
        )
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
        notes=r.notes,
    )


def _date_in(cell: str) -> dt.date | None:
    m = re.search(r"\d{4}-\d{2}-\d{2}", cell)
    if m:
        try:
            return dt.date.fromisoformat(m.group(0))
        except ValueError:
            return None
    return None


def _is_event_note(vault: Any, rel: str) -> bool:
    """Whether the note at ``rel`` declares an event (an ``event_start`` property)."""
    from rotation_notes.note.text import read_head

    try:
        head, _ = read_head(vault.abs(rel))
    except OSError:
        return True  # unreadable: leave it to refresh to say so, on its own row
    text = head.decode("utf-8", "replace")
    return bool(re.search(r"(?m)^event_start\s*:", text))


def _chart_owner(vault: Any, file: str, rel: str) -> str | None:
    """Another thesis of the vault that declares the chart ``file``, if any."""
    from rotation_notes.note.text import may_be_thesis, read_head

    want = file.lower().encode()
    for other in vault.markdown_files():
        if other == rel:
            continue
        try:
            head, _ = read_head(vault.abs(other))
        except OSError:
            continue
        if may_be_thesis(head, SPEC_KEY) and want in head.lower():
            return other
    return None


def _all_table_text(body: Body) -> str:
    return " ".join(" ".join([*t.header, *(" ".join(r) for r in t.rows)]) for t in body.tables)


def _num(value: float) -> int | float:
    return int(value) if value == int(value) and abs(value) < 1e15 else value


def _kept_row(
    row: list[str],
    header: list[str],
    symbols: list[str],
    key: str | None = None,
    *,
    figures_go: bool,
    whole: bool = False,
) -> list[str]:
    """A table row's words the region does not carry, as a bullet (none when nothing is left).

    ``figures_go``: figures the region recomputes from prices (a move, a return) are dropped;
    otherwise every non-empty cell is kept, figures included. ``whole``: a row whose only
    text is its first cell is kept too.
    """
    key = plain(key if key is not None else row[0]) if row else ""
    parts = []
    for i, cell in enumerate(row[1:], start=1):
        text = cell.strip()
        if not plain(text) or plain(text) in ("—", "-", "–"):
            continue
        if figures_go and is_figures(text, set(symbols)):
            continue
        head = plain(header[i]) if i < len(header) else ""
        parts.append(f"{head}: {text}" if head and len(header) > 2 else text)
    if not parts:
        return [f"- {key}"] if key and whole else []
    return [f"- {key} — {'; '.join(parts)}" if key else f"- {'; '.join(parts)}"]


def _figures_date(
    note: NoteText, meta: dict[str, Any], body: Body, vault: Any, rel: str
) -> tuple[dt.date, str]:
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
    if vault is not None:
        with contextlib.suppress(OSError):
            mtime = vault.abs(rel).stat().st_mtime
            return (
                dt.date.fromtimestamp(mtime),
                "the day the note was last saved: set when these figures were typed",
            )
    return dt.date.today(), "today (the note gives no date): set when these figures were typed"


_CREATED_LINE = re.compile(r"\bcreated\b[^0-9]{0,12}(\d{4}-\d{2}-\d{2})", re.IGNORECASE)


def _opened_date(meta: dict[str, Any], body: Body) -> tuple[dt.date, str] | None:
    """The day the thesis was opened, as the note gives it: its ``created`` property, else a
    "Created 2026-02-04" line; and why (a comment beside ``opened``)."""
    what = "the scorecard and levels count from this day"
    if (day := created_date(meta.get("created"))) is not None:
        return day, f"the note's 'created' property: {what}"
    for _, text in body.prose:
        if (found := _CREATED_LINE.search(text)) is not None:
            with contextlib.suppress(ValueError):
                day = dt.date.fromisoformat(found.group(1))
                return day, f"from '{found.group(0).strip('* ')}' in the note: {what}"
    return None


def _ordered(spec: dict[str, Any]) -> dict[str, Any]:
    order = (
        "opened", "long", "short", "names", "setup", "tracking", "catalysts", "history", "charts"
    )  # fmt: skip
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
    # every region the adopted spec calls for (as --init would); adopt proposes no levels, so
    # no status region. The scorecard goes in even without an opened date: it says what to add.
    wanted = [name for name in registry.NAMES if name != "status" or p.spec[SPEC_KEY].get("levels")]
    text = insert_missing(new, regions, registry.placements(wanted), rel)
    if note.text and not note.text.endswith(("\n", "\r")) and text.endswith(nl):
        text = text[: -len(nl)]  # a note without a final line ending keeps it that way
    return text


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
            "notes": p.notes,
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
        failed = {f.split("]]:", 1)[0] + "]]" for f in self.failed_catalysts}
        for target in p.missing_catalysts:
            if f"[[{target}]]" in failed:
                continue  # said below, with why it was not created
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
        for note in p.notes:
            out.append(f"  note: {note}")
        if p.figures_in_prose:
            shown = [str(i + 1) for i in p.figures_in_prose[:10]]
            more = len(p.figures_in_prose) - len(shown)
            lines = ", ".join(shown) + (f" and {more:,} more" if more > 0 else "")
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
    near = near_spec_key(note.raw)
    if near is not None:
        raise _refuse(
            f"has a '{near[0]}' property, a misspelling of '{SPEC_KEY}'",
            rel,
            line=near[1],
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


def adopt(
    note_path: Path,
    *,
    write: bool = False,
    create_catalysts: bool = False,
    lock_wait: float = 60.0,
) -> AdoptReport:
    from rotation_notes.thesis.core import read_thesis
    from rotation_notes.vault.files import NotRegularFile, read_regular, stays_inside
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
    real = note_path.resolve()
    if not stays_inside(real, vault.root):
        raise UsageError(
            f"{note_path} is a link to a file outside the vault ({vault.root})",
            hint="adopt the note where it is, in its own vault",
        )
    note_path = real  # a link inside the vault: the file it points to is the note
    rel = vault.rel(real)
    if any(part.startswith(".") for part in rel.split("/")):
        raise UsageError(
            f"{rel} is in a hidden folder (or hidden itself): refresh never reads notes there",
            hint="move the note into the vault's visible folders, then adopt it",
        )
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
        diff=unified_diff(note.text, text, rel),
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
        except BaseException as exc:  # the note is as it was: the copy would only mislead
            (vault.root / backup).unlink(missing_ok=True)
            if not trash_existed:
                with contextlib.suppress(OSError):
                    (vault.root / ".trash").rmdir()
            if isinstance(exc, NoteError) and exc.hint and "refresh" in exc.hint:
                exc.hint = exc.hint.replace("let rotation-notes refresh it", "adopt it")
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
    if any(part.startswith(".") for part in rel.split("/")):
        raise NoteError(
            f"cannot create a note at {rel!r}: a hidden folder or name (Obsidian does not "
            "show it, and .obsidian/ is its settings)",
            path=source,
            hint="rename the link in the note",
        )
    from rotation_notes.thesis.spec import _WINDOWS_RESERVED

    stem = posixpath.basename(rel)[: -len(".md")]
    if (
        any(ord(ch) < 32 for ch in rel)
        or any(ch in rel for ch in '<>:"|?*')
        or stem != stem.rstrip(". ")
        or _WINDOWS_RESERVED.fullmatch(stem.split(".")[0])
    ):
        raise NoteError(
            f"cannot create a note named {rel!r}: the name holds a character notes cannot have, "
            "ends in a dot or a space, or is a device name Windows reserves",
            path=source,
            hint="rename the link in the note",
        )
    path = vault.abs(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_if_unchanged(path, None, b"---\nevent_start:\nevent_end:\n---\n")
    return rel
