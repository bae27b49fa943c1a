"""The pure thesis core: a note's text and prices in; its new text, charts and report out.

:func:`render_thesis` is the public entry point (``from rotation_notes import
render_thesis``). The refresh job uses the same steps (:func:`read_thesis`,
:func:`catalyst_windows`, :func:`compose`) with the vault's files and links around them.
Nothing here opens a file or the network: linked notes come through a :class:`Links`
object, chart PNGs are returned as bytes, and templates come from a Jinja environment
(the shipped templates unless one is given).
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from jinja2.sandbox import SandboxedEnvironment

from rotation_notes.defaults import STALE_AFTER_DAYS
from rotation_notes.errors import DataError, FrontmatterError, NoteError, SpecError
from rotation_notes.note.regions import (
    Region,
    check_rendered,
    check_same_regions,
    find_regions,
    insert_missing,
    replace_regions,
)
from rotation_notes.note.text import (
    BOM,
    NoteText,
    WikiLink,
    decode_note,
    find_wikilinks,
    parse_frontmatter,
)
from rotation_notes.output.templates import make_env, one_line, one_line_values, render_template
from rotation_notes.prices.marketdata import PriceSet, symbol_file_name
from rotation_notes.thesis import registry
from rotation_notes.thesis.builders import build_base, na_notes
from rotation_notes.thesis.chartplans import ChartPlan, plan_charts
from rotation_notes.thesis.context import fields_of
from rotation_notes.thesis.facts import Catalyst, CatalystProblem, Facts, session_as_of
from rotation_notes.thesis.report import (
    catalysts_report,
    levels_report,
    scorecard_report,
    tickers_report,
)
from rotation_notes.thesis.spec import (
    SPEC_KEY,
    ChartSpec,
    ThesisSpec,
    is_thesis,
    parse_catalyst,
    parse_spec,
)

# --- reading a thesis -----------------------------------------------------------------------


@dataclass
class Thesis:
    """A thesis note as read: its text, properties, spec and regions."""

    path: str
    note: NoteText
    meta: dict[str, Any]
    spec: ThesisSpec
    regions: list[Region]
    #: with ``init``: the regions inserted into ``note``
    inserted: frozenset[str] = frozenset()

    def missing_regions(self) -> list[str]:
        """The regions its spec calls for that the note lacks (``--init`` inserts them)."""
        present = {r.name for r in self.regions}
        return [k.name for k in registry.wanted(self.spec) if k.name not in present]

    def charts_shown(self) -> list[ChartSpec]:
        """The charts the note shows: all of them with a charts region, else those embedded."""
        if any(registry.BY_NAME[r.name].draws_all_charts for r in self.regions):
            return list(self.spec.charts)
        body = "".join(self.note.lines[self.note.body_start :])
        embedded = {link.target.lower() for link in find_wikilinks(body) if link.embed}
        return [c for c in self.spec.charts if c.file.lower() in embedded]


def read_thesis(
    note: NoteText,
    path: str,
    *,
    stale_after_days: int = STALE_AFTER_DAYS,
    init: bool = False,
) -> Thesis | None:
    """The note as a thesis (None when it has no ``rotation-notes`` property).

    With ``init``, every region the spec calls for and the note lacks is inserted (empty)
    into the returned note's text.
    """
    if note.frontmatter_src is None or SPEC_KEY not in note.frontmatter_src:
        return None
    meta = parse_frontmatter(note, path)
    if not is_thesis(meta):
        return None
    if note.undecodable:
        offset, line = first_bad_utf8(note.raw)
        raise NoteError(
            f"note is not valid UTF-8: the first bad byte is at offset {offset:,} (line {line})",
            path=path,
            line=line,
            hint="re-save it as UTF-8; it was left untouched",
        )
    spec = parse_spec(meta, note, path, stale_after_days)
    regions = find_regions(note, path, registry.NAMES)
    inserted: frozenset[str] = frozenset()
    if init:
        wanted = registry.placements(k.name for k in registry.wanted(spec))
        text = insert_missing(note, regions, wanted, path)
        if text != note.text:
            inserted = frozenset(name for name, _ in wanted) - {r.name for r in regions}
            note = decode_note(note.encode(text))
            regions = find_regions(note, path, registry.NAMES)
    return Thesis(path, note, meta, spec, regions, inserted)


def hand_copies(text: str, path: str, inserted: frozenset[str]) -> list[str]:
    """What ``--init`` leaves twice in ``text`` (the note as written): a hand table (or
    chart embed) of a region it inserted, each named by its line.

    Only said, never changed: the properties were written by hand, so a hand table may hold
    figures they do not (``adopt``, for a note without properties, converts them).
    """
    if not inserted:
        return []
    from rotation_notes.adopt import propose

    try:
        found = propose(decode_note(text.encode("utf-8", "surrogateescape")), path).conversions
    except NoteError:
        return []
    return [
        f"line {c.start + 1}: {c.what.split(' (line')[0]} is still there beside the new "
        f"{c.region} region, so the note shows both; delete it once the region shows its "
        "figures (move any words of yours out of it first)"
        for c in found
        if c.region in inserted
    ]


def first_bad_utf8(raw: bytes) -> tuple[int, int]:
    """The byte offset of the first byte that is not UTF-8, and its 1-based line."""
    payload = raw[len(BOM) :] if raw.startswith(BOM) else raw
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(raw) - len(payload))
        return offset, len(re.findall(rb"\r\n?|\n", raw[:offset])) + 1
    return 0, 1


# --- linked notes ---------------------------------------------------------------------------


def linked_properties(note: NoteText, path: str) -> dict[str, Any]:
    """A linked note's properties; a frontmatter that is not UTF-8 is said to be that
    (YAML would only call the bad byte an "unacceptable character")."""
    try:
        return parse_frontmatter(note, path)
    except FrontmatterError:
        src = note.frontmatter_src or ""
        if note.undecodable and any("\udc80" <= ch <= "\udcff" for ch in src):
            offset, line = first_bad_utf8(note.raw)
            raise NoteError(
                f"its properties are not valid UTF-8: the first bad byte is at offset "
                f"{offset:,} (line {line})",
                path=path,
                line=line,
                hint="re-save it as UTF-8",
            ) from None
        raise


class Links(Protocol):
    """How the core reaches the notes a thesis links to (the vault, or a dict)."""

    def resolve(self, target: str, source: str) -> str | None:
        """The path of the file the wikilink ``target`` in note ``source`` points to."""

    def read(self, path: str) -> tuple[NoteText, dict[str, Any]]:
        """That note and its properties; OSError or NoteError when it cannot be read."""

    def not_a_note(self, target: str) -> str:
        """Why ``target`` names no note ("no note named ... in the vault", "X is a pipe")."""


#: What a catalyst row that names no note tells the user to do.
CREATE_CATALYST = (
    "a catalyst is a note with event_start (and event_end) properties: create it, or fix the link"
)


def _link_title(link_target: str, path: str | None) -> str:
    """A catalyst's name in the lines under its table: its note's name, else the link's."""
    name = posixpath.basename((path or link_target).replace("\\", "/"))
    return name[:-3] if name.lower().endswith(".md") else name


def _read_failure(path: str, exc: OSError | NoteError) -> str:
    """Why the catalyst note ``path`` could not be read, naming it (never an absolute path)."""
    if isinstance(exc, NoteError):
        return str(exc) if exc.path else f"{path}: {exc}"
    return f"{path}: cannot read it: {exc.strerror or type(exc).__name__}"


def catalyst_windows(thesis: Thesis, links: Links) -> tuple[list[Catalyst], list[str]]:
    """The catalysts of the thesis, each with its event window or why it has none, and
    warnings about linked notes.

    With ``catalysts.links`` in the spec, each listed note must be a catalyst; otherwise
    every note the body links to that declares ``event_start`` is one. A catalyst note
    that cannot give a window (it does not exist, cannot be read, has a bad date) is the
    catalyst's mistake, not the thesis's: it is a :class:`CatalystProblem`, its row is
    n/a with the reason, and a warning names the thesis and the link.
    """
    rel, spec = thesis.path, thesis.spec
    out: list[Catalyst] = []
    warnings: list[str] = []

    def problem(link: WikiLink, path: str | None, reason: str) -> None:
        reason = one_line(reason)  # it is printed as one warning line, too
        out.append(CatalystProblem(path, link, _link_title(link.target, path), reason))
        warnings.append(f"{rel}: catalyst [[{link.target}]] is n/a: {reason}")

    def window(link: WikiLink, path: str, cnote: NoteText, cmeta: dict[str, Any]) -> None:
        try:
            out.append(parse_catalyst(cmeta, cnote, path, link))
        except SpecError as exc:  # no event_start, a bad or out-of-range date, end < start
            problem(link, path, str(exc))

    if spec.catalyst_links is not None:
        for link in spec.catalyst_links:
            target = links.resolve(link.target, rel)
            if target is None or not target.lower().endswith(".md"):
                why = links.not_a_note(link.target) if target is None else ""
                why = why or f"[[{link.target}]] links to {target}, which is not a note"
                problem(link, None, f"{why}; {CREATE_CATALYST}")
                continue
            try:
                cnote, cmeta = links.read(target)
            except (OSError, NoteError) as exc:  # unreadable, bad YAML, outside the vault
                problem(link, target, _read_failure(target, exc))
                continue
            window(link, target, cnote, cmeta)
        return out, warnings
    seen = set()
    note = thesis.note
    for link in find_wikilinks("".join(note.lines[note.body_start :])):
        target = links.resolve(link.target, rel)
        if not target or not target.lower().endswith(".md") or target in seen:
            continue
        seen.add(target)
        try:
            cnote, cmeta = links.read(target)
        except (OSError, NoteError) as exc:
            # a linked note we cannot read may be a catalyst: say so, do not guess
            warnings.append(f"linked note {target} not checked for an event window: {exc}")
            continue
        if cmeta.get("event_start") is not None:
            window(link, target, cnote, cmeta)
    return out, warnings


class NoLinks:
    """A thesis rendered on its own: no wikilink resolves."""

    def resolve(self, target: str, source: str) -> str | None:
        return None

    def read(self, path: str) -> tuple[NoteText, dict[str, Any]]:
        raise FileNotFoundError(path)

    def not_a_note(self, target: str) -> str:
        return "no linked notes were given (render_thesis's links)"


class TextLinks:
    """Linked notes given as texts, keyed by name (``"FOMC June"``) or path (``"Events/FOMC"``).

    A wikilink finds a note by its path or, as in Obsidian, by its file name alone; case
    is ignored and the name keeps the case it was given in.
    """

    def __init__(self, notes: Mapping[str, str | bytes]) -> None:
        self._notes: dict[str, NoteText] = {}
        self._by_path: dict[str, str] = {}
        self._by_name: dict[str, str] = {}
        for name, text in notes.items():
            raw = text.encode("utf-8") if isinstance(text, str) else text
            path = name if name.lower().endswith(".md") else f"{name}.md"
            self._notes[path] = decode_note(raw)
            self._by_path.setdefault(path.lower(), path)
            self._by_name.setdefault(posixpath.basename(path).lower(), path)

    def resolve(self, target: str, source: str) -> str | None:
        key = target.strip().lower()
        key = key if key.endswith(".md") else f"{key}.md"
        return self._by_path.get(key) or self._by_name.get(posixpath.basename(key))

    def read(self, path: str) -> tuple[NoteText, dict[str, Any]]:
        note = self._notes[path]
        return note, linked_properties(note, path)

    def not_a_note(self, target: str) -> str:
        return f"no note named '{target}' among the linked notes given"


# --- composing ------------------------------------------------------------------------------


@dataclass
class Composition:
    """A thesis at one session: its new text, its charts and its report."""

    as_of: dt.date
    text: str
    charts: list[ChartPlan]
    #: per-note report for scripts (the ``--json`` shape)
    tickers: dict[str, dict[str, Any]]
    catalysts: list[dict[str, Any]]
    scorecard: dict[str, Any]
    levels: list[dict[str, Any]]
    #: data warnings (not live, bad rows dropped, charts not redrawn), as the CLI shows them
    warnings: list[str]


def check_symbols(spec: ThesisSpec, prices: PriceSet, path: str) -> None:
    """A symbol the provider says does not exist fails the note, naming it."""
    unknown = [s for s in spec.symbols() if s in prices.unknown]
    if unknown:
        raise DataError(
            f"unknown symbol {', '.join(unknown)}: {prices.unknown[unknown[0]]}",
            path=path,
            hint="check the ticker in the note's properties (Yahoo spells indices ^RUT, ^GSPC)",
        )


def build_context(facts: Facts) -> dict[str, Any]:
    """What every template sees: the base names and each region builder's names."""
    context = fields_of(build_base(facts))
    for kind in registry.REGIONS:
        context.update(fields_of(kind.build(facts)))
    context["notes"] = na_notes(facts)
    return context


def compose(
    thesis: Thesis,
    prices: PriceSet,
    catalysts: list[Catalyst],
    env: SandboxedEnvironment,
    *,
    requested: dt.date | None = None,
    chart_paths: Mapping[str, tuple[str, str]] | None = None,
) -> Composition:
    """The thesis rendered at the last session both legs have, up to ``requested``.

    ``chart_paths``: chart file -> (vault-relative path, embed text) for each chart to
    draw (default: every chart the note shows, at its own file name).
    """
    path, spec = thesis.path, thesis.spec
    check_symbols(spec, prices, path)
    as_of = session_as_of(spec, prices, requested, path)
    if chart_paths is None:
        chart_paths = {c.file: (c.file, c.file) for c in thesis.charts_shown()}
    facts = Facts(spec, prices, as_of, requested, catalysts)
    facts.charts, facts.charts_skipped = plan_charts(facts, chart_paths)
    context = build_context(facts)
    text = render_regions(thesis.note, thesis.regions, env, context, path)
    return Composition(
        as_of=as_of,
        text=text,
        charts=facts.charts,
        tickers=tickers_report(facts),
        catalysts=catalysts_report(facts),
        scorecard=scorecard_report(facts),
        levels=levels_report(facts),
        warnings=list(context["data"].warnings) + no_data_warnings(facts, path),
    )


def no_data_warnings(facts: Facts, path: str) -> list[str]:
    """A warning for each symbol a table shows that has no data at all (its cells are n/a).

    Data that is there but old or partial is said by the data warnings (``not_live``,
    ``problems``), and a chart missing a ticker by its own "not redrawn" warning.
    """

    def where(uses: list[str]) -> str:
        tables = [u for u in uses if u != "status"]
        out = (
            [f"the {' and '.join(tables)} table{'s' if len(tables) > 1 else ''}"] if tables else []
        )
        if "status" in uses:  # a level on the symbol: "not checked"
            out.append("the status region's levels")
        return " and ".join(out)

    return [
        f"{path}: no market data for {symbol} ({facts.missing(symbol)}), so its figures are "
        f"n/a in {where(uses)}. Check the "
        f"symbol on Yahoo Finance, or add {symbol_file_name(symbol)} (Date, Close) to the "
        "vault's data folder (data_dir in rotation-notes.toml)"
        for symbol, uses in facts.no_data().items()
    ]


def render_regions(
    note: NoteText,
    regions: list[Region],
    env: SandboxedEnvironment,
    context: Mapping[str, Any],
    path: str = "",
) -> str:
    """The note's new text: every region present re-rendered, all else as it was.

    Nothing rendered can break the note's markers: each region's text is checked, and
    the whole note must read back with the regions it had (MarkerError otherwise).
    """
    context = one_line_values(context)
    contents = {}
    for r in regions:
        contents[r.name] = render_template(env, registry.BY_NAME[r.name].template, context)
        check_rendered(r.name, contents[r.name], path)
    text = replace_regions(note, regions, contents)
    if text != note.text:
        check_same_regions(regions, text, path)
    return text


# --- the public API -------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedChart:
    file: str  # the chart's file name, as the note's properties give it
    png: bytes
    caption: str


@dataclass(frozen=True)
class Rendered:
    """What :func:`render_thesis` returns. Nothing has been written anywhere."""

    text: str  # the note's new text (every byte outside its regions as it was)
    data: bytes  # the same, encoded as the note was (BOM and line endings kept)
    as_of: dt.date  # the session the figures are from
    charts: tuple[RenderedChart, ...]
    #: per-note figures for scripts: ``as_of``, ``tickers``, ``catalysts``, ``scorecard``,
    #: ``levels``, ``charts``, ``warnings`` (the shape of one note in ``refresh --json``)
    report: dict[str, Any]
    changed: bool  # whether ``text`` differs from the note given


_SHIPPED: SandboxedEnvironment | None = None


def symbols_of(note: str | bytes, path: str = "thesis.md") -> list[str]:
    """Every symbol a thesis note needs prices for (its legs, tracking, catalysts, charts)."""
    raw = note.encode("utf-8") if isinstance(note, str) else note
    thesis = read_thesis(decode_note(raw), path)
    if thesis is None:
        raise NoteError(
            f"not a thesis note (no '{SPEC_KEY}' property)",
            path=path,
            hint="see docs/frontmatter.md for the thesis properties",
        )
    return thesis.spec.symbols()


def render_thesis(
    note: str | bytes,
    prices: PriceSet,
    *,
    as_of: dt.date | None = None,
    links: Mapping[str, str | bytes] | None = None,
    path: str = "thesis.md",
    init: bool = False,
    env: SandboxedEnvironment | None = None,
    stale_after_days: int = STALE_AFTER_DAYS,
) -> Rendered:
    """Render a thesis note: its regions re-rendered from ``prices``, its charts drawn.

    ``note``: the note's text (or bytes, read as Obsidian reads a file). ``prices``: a
    :class:`PriceSet` (``load_prices`` reads a folder of CSVs). ``as_of``: render as of
    this day (default: the latest session both legs have). ``links``: the notes it links
    to (catalyst notes), by the name a wikilink uses. ``init``: insert the regions the note
    lacks. ``env``: a Jinja environment from ``make_env`` for template overrides.

    Raises a :class:`rotation_notes.errors.NoteError` subclass naming ``path`` (and the
    line or key) for anything wrong with the note or its data.
    """
    global _SHIPPED
    if not isinstance(note, str | bytes):
        raise TypeError(
            f"note must be the note's text (str) or its bytes, not {type(note).__name__}; "
            "read the file first"
        )
    if not isinstance(prices, PriceSet):
        raise TypeError(f"prices must be a PriceSet (see load_prices), not {type(prices).__name__}")
    if isinstance(as_of, dt.datetime):  # a datetime or a pandas Timestamp: its day
        as_of = as_of.date()
    raw = note.encode("utf-8") if isinstance(note, str) else note
    decoded = decode_note(raw)
    thesis = read_thesis(decoded, path, stale_after_days=stale_after_days, init=init)
    if thesis is None:
        raise NoteError(
            f"not a thesis note (no '{SPEC_KEY}' property)",
            path=path,
            hint="see docs/frontmatter.md for the thesis properties",
        )
    resolver: Links = TextLinks(links) if links else NoLinks()
    catalysts, link_warnings = catalyst_windows(thesis, resolver)
    if env is None:
        _SHIPPED = _SHIPPED or make_env(None)
        env = _SHIPPED
    done = compose(thesis, prices, catalysts, env, requested=as_of)
    charts = tuple(RenderedChart(c.file, c.png, c.caption) for c in done.charts)
    missing = thesis.missing_regions()
    warnings = [f"no region for {', '.join(missing)}; 'init=True' inserts them"] if missing else []
    warnings += hand_copies(done.text, path, thesis.inserted)
    report = {
        "as_of": done.as_of.isoformat(),
        "charts": [c.file for c in charts],
        "tickers": done.tickers,
        "catalysts": done.catalysts,
        "scorecard": done.scorecard,
        "levels": done.levels,
        "warnings": warnings + done.warnings + link_warnings,
    }
    data = decoded.encode(done.text)
    return Rendered(
        text=done.text,
        data=data,
        as_of=done.as_of,
        charts=charts,
        report=report,
        changed=data != raw,
    )
