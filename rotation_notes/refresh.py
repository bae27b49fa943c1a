"""The refresh job: find thesis notes, load data once, render, write what changed.

This is the I/O edge around the pure core in ``thesis.core``: it scans the vault,
loads the prices once, hands each thesis to the core, compares and writes. One broken note
never stops the others: each note's failure is caught, reported with its
reason, and that note is left untouched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rotation_notes.clock import now_utc
from rotation_notes.errors import (
    EXIT_CHANGES,
    EXIT_FAILED,
    EXIT_OK,
    DataError,
    LinkError,
    NoteError,
    RotationNotesError,
    UsageError,
)
from rotation_notes.note.text import (
    NoteText,
    decode_note,
    key_line,
    may_be_thesis,
    read_head,
    unified_diff,
)
from rotation_notes.output.charts import is_own_chart
from rotation_notes.output.templates import make_env
from rotation_notes.prices.marketdata import (
    MarketDataProvider,
    PriceSet,
    SymbolSource,
    mark_asked,
)
from rotation_notes.prices.sources import make_provider
from rotation_notes.thesis.chartplans import ChartPlan
from rotation_notes.thesis.core import (
    Thesis,
    catalyst_windows,
    compose,
    hand_copies,
    linked_properties,
    read_thesis,
)
from rotation_notes.thesis.facts import Catalyst
from rotation_notes.thesis.spec import (
    SPEC_KEY,
    ThesisSpec,
    near_spec_key,
)
from rotation_notes.vault.files import (
    NotRegularFile,
    is_regular,
    kind_of,
    read_regular,
    stays_inside,
)
from rotation_notes.vault.vault import Vault
from rotation_notes.vault.writer import read_bytes, replace_if_unchanged, sweep_stale_temps

log = logging.getLogger(__name__)

#: Thesis notes larger than this are refused (a refresh would take seconds and
#: hundreds of MB each time); other notes are never read whole.
MAX_NOTE_BYTES = 16_000_000


@dataclass(frozen=True)
class NearMiss:
    """A property that is nearly a key rotation-notes reads: the note is skipped for it."""

    path: str
    line: int
    key: str  # as written
    meant: str  # the key it is nearly
    skipped: str  # what follows: "this note is not refreshed as a thesis"

    @property
    def message(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return (
            f"{where}: the property `{self.key}:` is not `{self.meant}:`, so {self.skipped}; "
            f"rename it to `{self.meant}:`"
        )

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "key": self.key, "message": self.message}


#: A catalyst note's properties, and what follows when one is misspelt.
_CATALYST_KEYS = (
    ("event_start", "this note is not read as a catalyst"),
    ("event_end", "its event is taken to end the day it starts"),
)


def _squashed(key: str) -> str:
    """A key without case, spaces, ``_`` or ``-``: ``Event-Start`` and ``event_start`` alike."""
    return re.sub(r"[\s_-]+", "", key.lower())


@dataclass
class RefreshOptions:
    notes: list[Path] | None = None
    as_of: dt.date | None = None
    offline: bool = False
    check: bool = False
    diff: bool = False
    init: bool = False
    data_dir: Path | None = None
    cache_dir: Path | None = None
    #: Vault-relative notes to look at as a full scan would (non-theses skipped
    #: silently): what the watcher passes after a change.
    candidates: list[str] | None = None

    @property
    def dry_run(self) -> bool:
        return self.check or self.diff


@dataclass
class NoteReport:
    """One note's outcome. ``status`` is about the note's own file, never its charts:
    "updated" (its bytes were written), "would_update" (``--check``/``--diff``: they would
    be), "unchanged" (its bytes are as they were) or "failed". Every file written, or that
    would be, the note's charts included, is in ``changed``."""

    path: str
    status: str  # "updated" | "would_update" | "unchanged" | "failed"
    error: str | None = None
    as_of: str | None = None
    charts: list[str] = field(default_factory=list)
    tickers: dict[str, dict[str, Any]] = field(default_factory=dict)
    catalysts: list[dict[str, Any]] = field(default_factory=list)
    #: the scorecard since the thesis was opened (None until the note is composed)
    scorecard: dict[str, Any] | None = None
    levels: list[dict[str, Any]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # files that changed / would change
    warnings: list[str] = field(default_factory=list)
    diff: str = ""
    #: vault-relative path -> sha256 of the bytes this run wrote there (for the watcher)
    written: dict[str, str] = field(default_factory=dict)
    #: the type of the error that failed the note (what decisions read, never ``error``)
    error_type: type[Exception] | None = None
    #: the note has no rotation-notes region at all, so only its charts can change
    no_regions: bool = False

    @property
    def charts_changed(self) -> list[str]:
        """The chart files written (or, in a dry run, that would be)."""
        return [rel for rel in self.changed if rel != self.path]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "error": self.error,
            "as_of": self.as_of,
            "charts": self.charts,
            "tickers": self.tickers,
            "catalysts": self.catalysts,
            "scorecard": self.scorecard,
            "levels": self.levels,
            "changed": self.changed,
            "warnings": self.warnings,
        }


@dataclass
class RefreshReport:
    vault: Path
    notes: list[NoteReport]
    data: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    #: symbol -> where its prices came from, with ``status`` (not in the JSON report)
    sources: dict[str, SymbolSource] = field(default_factory=dict)
    #: notes skipped for a property that is nearly the one meant (``rotation_notes:``)
    near_misses: list[NearMiss] = field(default_factory=list)

    def exit_code(self, check: bool) -> int:
        if any(n.status == "failed" for n in self.notes):
            return EXIT_FAILED
        if check and any(n.changed for n in self.notes):
            return EXIT_CHANGES
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "vault": str(self.vault),
            "dry_run": self.dry_run,
            "notes": [n.to_json() for n in self.notes],
            "data": self.data,
            "warnings": [m.to_json() for m in self.near_misses],
        }


@dataclass
class _Prepared:
    rel: str
    raw: bytes
    thesis: Thesis
    catalysts: list[Catalyst]

    @property
    def note(self) -> NoteText:
        return self.thesis.note

    @property
    def spec(self) -> ThesisSpec:
        return self.thesis.spec


class _VaultLinks:
    """The core's view of linked notes: Obsidian's link rules, notes inside the vault."""

    def __init__(self, run: _Run) -> None:
        self.run = run

    def resolve(self, target: str, source: str) -> str | None:
        return self.run.vault.resolve_link(target, source)

    def read(self, path: str) -> tuple[NoteText, dict[str, Any]]:
        return self.run.read_linked(path)

    def not_a_note(self, target: str) -> str:
        special = self.run.vault.special_named(target)
        if special:
            return f"{special[0]} is {special[1]}, not a note"
        return f"no note named '{target}' in the vault"


class _Run:
    def __init__(self, vault: Vault, options: RefreshOptions) -> None:
        self.vault, self.options = vault, options
        self._linked: dict[str, tuple[NoteText, dict[str, Any]]] = {}
        #: thesis -> warnings found while reading the notes it links to
        self.warnings: dict[str, list[str]] = {}
        #: chart file's real path -> (the note that drew it this run, its bytes, its path)
        self.charts: dict[str, tuple[str, bytes, str]] = {}
        #: notes skipped for a property that is nearly ``rotation-notes``
        self.near_misses: list[NearMiss] = []

    def not_a_thesis(self, rel: str, head: bytes, explicit: bool) -> None:
        """A note that is not a thesis: an error if it was asked for; else skipped, with a
        warning when a property is nearly ``rotation-notes`` (a typo must not go unseen)."""
        near = near_spec_key(head)
        miss = (
            NearMiss(rel, near[1], near[0], SPEC_KEY, "this note is not refreshed as a thesis")
            if near
            else None
        )
        if explicit:
            raise _not_a_thesis(rel, miss)
        if miss is not None:
            log.warning("%s", miss.message)
            self.near_misses.append(miss)

    def read_linked(self, rel: str) -> tuple[NoteText, dict[str, Any]]:
        """A linked note's properties (only its head is read: the frontmatter fits in it)."""
        if rel not in self._linked:
            path = self.vault.abs(rel)
            if not stays_inside(path, self.vault.root):
                raise LinkError(
                    f"linked note {rel} is a link to a file outside the vault; not read",
                    path=rel,
                    hint="rotation-notes reads notes inside the vault only",
                )
            head, size = read_head(path)
            note = decode_note(head)
            if note.frontmatter_src is None and size > len(head) and head.startswith(b"---"):
                raise LinkError(
                    f"linked note {rel}: its frontmatter is not closed within its first "
                    f"{len(head):,} bytes; not read",
                    path=rel,
                    hint="keep a note's properties short (under 256 KiB)",
                )
            self._linked[rel] = (note, linked_properties(note, rel))
            self.near_catalyst_keys(rel, *self._linked[rel])
        return self._linked[rel]

    def near_catalyst_keys(self, rel: str, note: NoteText, meta: dict[str, Any]) -> None:
        """Warn about a linked note's property that is nearly ``event_start`` (or, with
        ``event_start``, ``event_end``): a typo there silently drops the catalyst's row."""
        for meant, follows in _CATALYST_KEYS:
            if meant in meta or (meant == "event_end" and "event_start" not in meta):
                continue
            for key in meta:
                if isinstance(key, str) and _squashed(key) in (
                    _squashed(meant),
                    f"{_squashed(meant)}s",
                ):
                    miss = NearMiss(rel, key_line(note, (key,)) or 0, key, meant, follows)
                    log.warning("%s", miss.message)
                    self.near_misses.append(miss)
                    break

    def prepare(self, rel: str, explicit: bool) -> _Prepared | None:
        path = self.vault.abs(rel)
        head, size = read_head(path)
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = head[: 64 * 1024].decode("utf-16", "replace")
            if text.lstrip("\ufeff").startswith("---") and SPEC_KEY in text:
                raise NoteError(
                    "note is UTF-16; rotation-notes reads notes in UTF-8, as Obsidian writes them",
                    path=rel,
                    hint="re-save it as UTF-8; it was left untouched",
                )
        if not may_be_thesis(head, SPEC_KEY):
            self.not_a_thesis(rel, head, explicit)
            return None
        if size > MAX_NOTE_BYTES:
            raise NoteError(
                f"note is {size / 1e6:.1f} MB; rotation-notes refreshes thesis notes "
                f"up to {MAX_NOTE_BYTES / 1e6:.0f} MB; left untouched",
                path=rel,
                hint="move bulk material (pasted data, logs) into a linked note",
            )
        if not stays_inside(path, self.vault.root):
            raise NoteError(
                f"note is a link to a file outside the vault ({path.resolve()}); not changed",
                path=rel,
                hint="rotation-notes writes inside the vault only",
            )
        raw = head if len(head) == size else read_regular(path)
        thesis = read_thesis(
            decode_note(raw),
            rel,
            stale_after_days=self.vault.config.stale_after_days,
            init=self.options.init,
        )
        if thesis is None:
            self.not_a_thesis(rel, raw, explicit)
            return None
        catalysts, warnings = catalyst_windows(thesis, _VaultLinks(self))
        if warnings:
            self.warnings.setdefault(rel, []).extend(warnings)
        return _Prepared(rel, raw, thesis, catalysts)

    def chart_paths(self, p: _Prepared) -> dict[str, tuple[str, str]]:
        """Where each chart the note shows goes: (vault-relative path, embed text)."""
        out = {}
        for chart in p.thesis.charts_shown():
            existing = self.vault.resolve_link(chart.file, p.rel)
            if existing is not None:
                rel = existing
            else:
                try:
                    folder = self.vault.attachment_dir(p.rel)
                except UsageError as exc:
                    raise NoteError(str(exc), path=p.rel) from exc
                rel = f"{folder}/{chart.file}" if folder else chart.file
            real = self.vault.abs(rel).resolve()
            if not stays_inside(real, self.vault.root):
                raise LinkError(
                    f"chart {chart.file} resolves outside the vault ({real})",
                    path=p.rel,
                    hint="chart files are written inside the vault only",
                )
            out[chart.file] = (rel, chart.file)
        return out


def _not_a_thesis(rel: str, near: NearMiss | None = None) -> NoteError:
    if near is not None:
        return NoteError(
            f"not a thesis note: its property `{near.key}:` is not `{SPEC_KEY}:`",
            path=rel,
            line=near.line,
            hint=f"rename it to `{SPEC_KEY}:`",
        )
    return NoteError(
        f"not a thesis note (no '{SPEC_KEY}' property)",
        path=rel,
        hint="see docs/frontmatter.md for the thesis properties",
    )


def no_thesis_message(vault: Path, near_misses: list[NearMiss]) -> str:
    """What a run that found no thesis says: what a thesis is, and how to make one."""
    lines = [f"no thesis notes in {vault} (a thesis is a note with a `{SPEC_KEY}:` property)"]
    if near_misses:
        n = len(near_misses)
        names = ", ".join(f"{m.path}:{m.line} (`{m.key}:`)" for m in near_misses[:5])
        more = f" and {n - 5} more" if n > 5 else ""
        lines.append(
            f"{n} note{'s have' if n != 1 else ' has'} a property that is nearly it: "
            f"{names}{more}; rename it to `{SPEC_KEY}:`"
        )
    lines.append(
        "to turn a note you keep by hand into one: rotation-notes adopt NOTE.md "
        "(docs/adopt.md); the schema is in docs/frontmatter.md"
    )
    return "\n".join(lines)


def _error_text(rel: str, exc: RotationNotesError | OSError) -> str:
    """The error as reported for note ``rel``: it names the note even when the error is
    about another file (a template, a linked note)."""
    text = str(exc)
    return text if getattr(exc, "path", None) == rel else f"{rel}: {text}"


def _os_error_text(rel: str, exc: OSError, root: Path) -> str:
    """An OS error while refreshing ``rel``, said as what failed on which file."""
    name = exc.filename
    if name is not None:
        with contextlib.suppress(ValueError, TypeError):
            name = Path(os.fsdecode(name)).relative_to(root).as_posix()
    what = exc.strerror or type(exc).__name__
    return (
        f"{rel}: cannot write {name if name is not None else 'a file'}: {what}; nothing of it "
        "was changed. Check that file's name and folder, its permissions and the free space"
    )


def _own_chart_bytes(path: Path, rel: str, note: str, line: int | None) -> bytes | None:
    """The chart file's bytes, if it is ours to overwrite (None: no file there yet).

    Only a PNG rotation-notes drew (``charts.is_own_chart``) is ever replaced: a chart name
    can resolve to a user's own image anywhere in the vault, as Obsidian resolves links.
    """
    try:
        current = read_bytes(path)
    except NotRegularFile as exc:
        raise NoteError(
            f"the chart file {rel} is {exc.kind}, not an image; not touched",
            path=note,
            line=line,
            hint="give the chart another file name in the note's properties (charts: file:)",
        ) from None
    if current is not None and not is_own_chart(current):
        raise NoteError(
            f"the chart file {rel} already exists and was not drawn by rotation-notes, "
            "so it is not overwritten",
            path=note,
            line=line,
            hint=f"give the chart another file name in the note's properties (charts: file:); "
            f"if {rel} is a chart an earlier version of rotation-notes drew, delete it "
            "and refresh again",
        )
    return current


def _one_per_file(vault: Vault, targets: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Each real file once. A note reached through a symlink (or a second hard link) is the
    same note: refreshing it twice would write it twice, and the second write would see the
    first as a concurrent edit. The path that is not a symlink is kept."""
    out: list[tuple[str, bool]] = []
    where: dict[tuple[int, int], int] = {}
    for rel, explicit in targets:
        path = vault.abs(rel)
        try:
            st = path.stat()
        except OSError:
            out.append((rel, explicit))  # reading it will say what is wrong
            continue
        key = (st.st_dev, st.st_ino)
        if key not in where:
            where[key] = len(out)
            out.append((rel, explicit))
            continue
        i = where[key]
        kept, kept_explicit = out[i]
        if vault.abs(kept).is_symlink() and not path.is_symlink():
            kept, rel = rel, kept
        out[i] = (kept, explicit or kept_explicit)
        log.info("%s is the same file as %s; refreshed once, as %s", rel, kept, kept)
    return out


def thesis_symbols(vault_path: Path) -> tuple[Vault, list[str], list[NoteReport]]:
    """Every symbol the vault's thesis notes need, and the notes that could not be read."""
    vault = Vault.open(vault_path)
    run = _Run(vault, RefreshOptions())
    symbols: dict[str, None] = {}
    failed = []
    for rel, _ in _one_per_file(vault, [(rel, False) for rel in vault.markdown_files()]):
        try:
            p = run.prepare(rel, explicit=False)
        except (RotationNotesError, OSError) as exc:
            failed.append(NoteReport(rel, "failed", error=_error_text(rel, exc)))
            continue
        if p is not None:
            symbols.update(dict.fromkeys(p.spec.symbols()))
    return vault, list(symbols), failed


def refresh(
    vault_path: Path,
    options: RefreshOptions,
    provider: MarketDataProvider | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    vault: Vault | None = None,
) -> RefreshReport:
    """Refresh every thesis note of the vault (or the ``options.notes``).

    ``vault``: the vault as already scanned and kept current by the caller (the watcher
    updates it event by event), so this run walks no folder; default: scanned now.
    """
    started = now_utc()
    vault = vault if vault is not None else Vault.open(vault_path)
    if not options.dry_run and options.candidates is None:
        sweep_stale_temps(vault.root)  # a killed run's temp files (the watcher: at start-up)
    run = _Run(vault, options)
    templates = None
    if vault.config.templates_dir:
        templates = vault.abs(vault.inside(vault.config.templates_dir, what="templates_dir"))
        if not templates.is_dir():  # a typo would silently fall back to the shipped ones
            raise UsageError(
                f"templates_dir '{vault.config.templates_dir}' in rotation-notes.toml is not a "
                "vault folder",
                hint="create it, or fix the name",
            )
    env = make_env(templates, vault.root)

    if options.notes:
        targets = []
        for given in options.notes:
            path = given if given.is_absolute() else (Path.cwd() / given)
            if not path.exists() and not given.is_absolute():
                path = vault.root / given
            try:
                rel = vault.rel(path)
            except ValueError:
                raise UsageError(f"--note {given}: not inside the vault {vault.root}") from None
            if not is_regular(path):
                what = "no such note"
                with contextlib.suppress(OSError):
                    what = f"it is {kind_of(path.stat().st_mode)}, not a note"
                raise UsageError(f"--note {given}: {what}")
            targets.append((rel, True))
    elif options.candidates is not None:
        present = set(vault.files)
        targets = [(rel, False) for rel in options.candidates if rel in present]
    else:
        targets = [(rel, False) for rel in vault.markdown_files()]

    reports: list[NoteReport] = []
    prepared: list[tuple[_Prepared, NoteReport]] = []
    for rel, explicit in _one_per_file(vault, targets):
        try:
            p = run.prepare(rel, explicit)
        except RotationNotesError as exc:
            reports.append(NoteReport(rel, "failed", error=_error_text(rel, exc)))
            continue
        except OSError as exc:
            if explicit:
                reports.append(NoteReport(rel, "failed", error=f"{rel}: cannot read: {exc}"))
            continue
        except Exception as exc:  # noqa: BLE001 - one note's surprise must not stop the others
            log.debug("internal error preparing %s", rel, exc_info=True)
            reports.append(
                NoteReport(
                    rel, "failed", error=f"{rel}: internal error: {type(exc).__name__}: {exc}"
                )
            )
            continue
        if p is not None:
            report = NoteReport(rel, "unchanged")
            reports.append(report)
            prepared.append((p, report))

    symbols = list(dict.fromkeys(s for p, _ in prepared for s in p.spec.symbols()))
    prices = PriceSet()
    if prepared:
        provider = provider or make_provider(
            vault,
            offline=options.offline,
            data_dir=options.data_dir,
            cache_dir=options.cache_dir,
            as_of=options.as_of,  # data already held to that session is not fetched
        )
        prices = provider.load(symbols)
        mark_asked(prices, started)  # a note whose data ends far before the run says so
    report_all = RefreshReport(vault.root, reports, dry_run=options.dry_run)
    report_all.near_misses = run.near_misses
    report_all.sources = dict(prices.sources)
    report_all.data = {s: src.to_json() for s, src in prices.sources.items()}
    for s, why in {**prices.missing, **prices.unknown}.items():
        report_all.data[s] = {
            "provider": None,
            "kind": "missing",
            "last_session": None,
            "message": why,
        }

    for done, (p, report) in enumerate(prepared):
        if progress:
            progress(done, len(prepared), p.rel)
        try:
            _refresh_one(run, p, report, prices, env)
        except RotationNotesError as exc:
            report.status, report.error = "failed", _error_text(p.rel, exc)
            report.error_type = type(exc)
            report.changed = list(report.written)  # a chart written before the failure
        except OSError as exc:
            report.status, report.error = "failed", _os_error_text(p.rel, exc, vault.root)
            report.changed = list(report.written)
        except Exception as exc:  # noqa: BLE001 - one note's bug must not stop the others
            log.debug("internal error on %s", p.rel, exc_info=True)
            report.status = "failed"
            report.error = f"{p.rel}: internal error: {type(exc).__name__}: {exc}"
            report.changed = list(report.written)
    return report_all


def _refresh_one(run: _Run, p: _Prepared, report: NoteReport, prices: PriceSet, env: Any) -> None:
    options, vault = run.options, run.vault
    done = compose(
        p.thesis, prices, p.catalysts, env, requested=options.as_of, chart_paths=run.chart_paths(p)
    )
    report.as_of = done.as_of.isoformat()
    report.tickers = done.tickers
    report.catalysts = done.catalysts
    report.scorecard = done.scorecard
    report.levels = done.levels
    report.charts = [c.rel for c in done.charts]
    missing = p.thesis.missing_regions()
    if missing:
        report.warnings.append(f"no region for {', '.join(missing)}; 'refresh --init' inserts them")
    report.warnings.extend(
        f"{p.rel}: {w}" for w in hand_copies(done.text, p.rel, p.thesis.inserted)
    )
    report.warnings.extend(done.warnings)
    report.warnings.extend(run.warnings.get(p.rel, []))

    new_text = done.text
    new_raw = p.note.encode(new_text)

    reals = {}
    for c in done.charts:
        # keyed by the real file: two chart paths may be one file through a symlink
        reals[c.rel] = os.path.realpath(vault.abs(c.rel))
        owner = run.charts.setdefault(reals[c.rel], (p.rel, c.result.png, c.rel))
        if owner[1] != c.result.png:
            same = "" if owner[2] == c.rel else f" (the same file as {owner[2]})"
            raise DataError(
                f"chart {c.rel}{same} is also drawn by {owner[0]}, with different data or settings",
                path=p.rel,
                hint="give one of the two charts another file name",
            )
    chart_writes: list[tuple[ChartPlan, Path, bytes | None]] = []
    for c in done.charts:
        if any(reals[w.rel] == reals[c.rel] for w, _, _ in chart_writes):
            continue  # one file, drawn once
        path = vault.abs(c.rel)
        index = next(i for i, spec in enumerate(p.spec.charts) if spec.file == c.file)
        keys = (SPEC_KEY, "charts", index, "file")
        current = _own_chart_bytes(path, c.rel, p.rel, key_line(p.note, keys))
        if current != c.result.png:
            chart_writes.append((c, path, current))
    note_changes = new_raw != p.raw

    report.changed = [c.rel for c, _, _ in chart_writes] + ([p.rel] if note_changes else [])
    if options.diff:
        parts = [f"Binary chart {c.rel} would change\n" for c, _, _ in chart_writes]
        if note_changes:
            parts.append(unified_diff(decode_note(p.raw).text, new_text, p.rel))
        report.diff = "".join(parts)
    report.no_regions = not p.thesis.regions
    # the note's own outcome: a chart written beside an unchanged note leaves it "unchanged"
    if not note_changes:
        report.status = "unchanged"
    else:
        report.status = "would_update" if options.dry_run else "updated"
    if options.dry_run:
        return
    for c, path, current in chart_writes:
        replace_if_unchanged(path, current, c.result.png)
        report.written[c.rel] = hashlib.sha256(c.result.png).hexdigest()
        if current is None:
            vault.add_file(c.rel)  # a new chart: later notes resolve links to it
    if note_changes:
        replace_if_unchanged(vault.abs(p.rel), p.raw, new_raw)
        report.written[p.rel] = hashlib.sha256(new_raw).hexdigest()
