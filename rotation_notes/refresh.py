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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    HEAD_BYTES,
    NoteText,
    decode_note,
    key_line,
    may_be_thesis,
    read_head,
    unified_diff,
)
from rotation_notes.thesis.spec import SPEC_KEY, near_spec_key
from rotation_notes.vault.files import (
    NotRegularFile,
    is_regular,
    kind_of,
    read_regular,
    stays_inside,
)
from rotation_notes.vault.fingerprint import code_key, digest_of, folder_digest
from rotation_notes.vault.index import ScanIndex, sha_of
from rotation_notes.vault.vault import CONFIG_NAME, Vault
from rotation_notes.vault.writer import read_bytes, replace_if_unchanged, sweep_stale_temps

if TYPE_CHECKING:  # the heavy modules are imported only when a note must be computed
    from rotation_notes.prices.marketdata import MarketDataProvider, PriceSet, SymbolSource
    from rotation_notes.thesis.chartplans import ChartPlan
    from rotation_notes.thesis.core import Thesis
    from rotation_notes.thesis.facts import Catalyst
    from rotation_notes.thesis.spec import ThesisSpec

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
    #: Use the scan index (``refresh --full``: False, recompute and redraw everything)
    use_index: bool = True

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


@dataclass(frozen=True)
class SharedWarning:
    """A warning that two or more notes of one run gave, word for word ("Offline run: ...",
    "Data ends ..."): said once for all of them, not once under each."""

    text: str
    notes: tuple[str, ...]  # the notes that gave it, in the run's order
    of: int  # how many notes the run reported

    #: at most this many notes are named; the rest are counted ("--json" lists every one)
    NAMED = 3

    @property
    def scope(self) -> str:
        """Which notes: ``all 100 notes``, ``2 notes: a.md, b.md`` or
        ``12 notes: a.md, b.md, c.md and 9 more``."""
        count = len(self.notes)
        if count == self.of:
            return f"all {count} notes"
        named = ", ".join(self.notes[: self.NAMED])
        more = f" and {count - self.NAMED} more" if count > self.NAMED else ""
        return f"{count} notes: {named}{more}"


def group_warnings(
    notes: list[NoteReport], of: int | None = None
) -> tuple[dict[str, list[str]], list[SharedWarning]]:
    """A run's warnings as a person reads them: each note's own (no other note of the run
    gave it), and each warning two or more notes gave, once, in the order first given.

    A hundred theses on the same offline data give the same two or three warnings each:
    said under every note, that is hundreds of lines that hide the one warning that is a
    note's own (a catalyst link gone bad). ``--json`` keeps every note's full list.
    ``of``: how many notes the run reported (``notes`` may be some of them), for "all"."""
    givers: dict[str, list[str]] = {}
    for n in notes:
        for text in dict.fromkeys(n.warnings):  # a note that says it twice is one giver
            givers.setdefault(text, []).append(n.path)
    own = {n.path: [w for w in dict.fromkeys(n.warnings) if len(givers[w]) == 1] for n in notes}
    shared = [
        SharedWarning(text, tuple(paths), len(notes) if of is None else of)
        for text, paths in givers.items()
        if len(paths) > 1
    ]
    return own, shared


def log_warnings(logger: logging.Logger, notes: list[NoteReport], of: int | None = None) -> None:
    """Log a run's warnings (``group_warnings``) for a log that has no line per note to
    put them under: each as ``<note>: <warning>`` or ``<which notes>: <warning>``."""
    own, shared = group_warnings(notes, of)
    for path, texts in own.items():
        for text in texts:  # some name their note already ("t.md: catalyst [[X]] is n/a")
            logger.warning("%s", text if text.startswith(f"{path}: ") else f"{path}: {text}")
    for w in shared:
        logger.warning("%s: %s", w.scope, w.text)


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
        return self.run.call("resolve", target, source)

    def read(self, path: str) -> tuple[NoteText, dict[str, Any]]:
        return self.run.read_linked(path)

    def not_a_note(self, target: str) -> str:
        special = self.run.call("special", target)
        if special:
            return f"{special[0]} is {special[1]}, not a note"
        return f"no note named '{target}' in the vault"


#: Each vault question a note's output may depend on, as the scan index replays it.
_ASK: dict[str, Callable[..., Any]] = {
    "resolve": lambda vault, target, source: vault.resolve_link(target, source),
    # the same question, asked for a chart's file: only its answer may be updated after the
    # run (``_calls_after``); a catalyst link of that name was answered for what it read
    "chart": lambda vault, target, source: vault.resolve_link(target, source),
    "special": lambda vault, target: (
        list(found) if (found := vault.special_named(target)) else None
    ),
    "attach": lambda vault, note: _attachment_dir(vault, note),
}


def _attachment_dir(vault: Vault, note: str) -> str | dict[str, str]:
    try:
        return vault.attachment_dir(note)
    except UsageError as exc:
        return {"error": str(exc)}


class _Run:
    def __init__(self, vault: Vault, options: RefreshOptions) -> None:
        self.vault, self.options = vault, options
        self._linked: dict[str, tuple[NoteText, dict[str, Any]]] = {}
        #: linked note -> how the index knows it again; the near misses it holds
        self._records: dict[str, list[Any] | None] = {}
        self._misses: dict[str, list[NearMiss]] = {}
        #: thesis -> warnings found while reading the notes it links to
        self.warnings: dict[str, list[str]] = {}
        #: chart file's real path -> (the note that drew it this run, its fingerprint, its path)
        self.charts: dict[str, tuple[str, str, str]] = {}
        #: notes skipped for a property that is nearly ``rotation-notes``
        self.near_misses: list[NearMiss] = []
        self.index: ScanIndex | None = None
        #: (note, chart) whose file _write_one found as the index recorded it, so left alone
        self.kept: set[tuple[str, str]] = set()
        #: where in the run's notes it is (near misses are said in the order of the notes)
        self.pos = 0
        self._said: list[tuple[int, int, NearMiss]] = []
        #: thesis -> what its output was made from, beyond its own bytes (vault questions
        #: asked and their answers, linked notes read), for the scan index
        self.trace: dict[str, dict[str, Any]] = {}
        self.current: str | None = None

    # -- what a note's output depends on ------------------------------------------------

    @contextlib.contextmanager
    def tracing(self, rel: str) -> Any:
        self.trace.setdefault(rel, {"calls": [], "reads": {}, "misses": []})
        before, self.current = self.current, rel
        try:
            yield
        finally:
            self.current = before

    def call(self, name: str, *args: str) -> Any:
        """Ask the vault (see ``_ASK``), noting question and answer for the traced note."""
        answer = _ASK[name](self.vault, *args)
        if self.current is not None:
            self.trace[self.current]["calls"].append([name, list(args), answer])
        return answer

    def note_miss(self, miss: NearMiss) -> None:
        self._said.append((self.pos, len(self._said), miss))

    def flush_misses(self) -> list[NearMiss]:
        """The near misses found, each once, in the order of the notes that led to them
        (whether a note was read this run or replayed from the index), said now."""
        seen = set()
        for _, _, miss in sorted(self._said, key=lambda t: (t[0], t[1])):
            if (miss.path, miss.key) not in seen:
                seen.add((miss.path, miss.key))
                log.warning("%s", miss.message)
                self.near_misses.append(miss)
        self._said = []
        return self.near_misses

    def not_a_thesis(self, rel: str, head: bytes, explicit: bool) -> Any:
        """A note that is not a thesis: an error if it was asked for; else skipped, with a
        warning when a property is nearly ``rotation-notes`` (a typo must not go unseen).
        Returns what the scan index keeps of it: 0, or the near miss's line and key."""
        near = near_spec_key(head)
        miss = (
            NearMiss(rel, near[1], near[0], SPEC_KEY, "this note is not refreshed as a thesis")
            if near
            else None
        )
        if explicit:
            raise _not_a_thesis(rel, miss)
        if miss is not None:
            self.note_miss(miss)
            return [miss.line, miss.key]
        return 0

    def read_linked(self, rel: str) -> tuple[NoteText, dict[str, Any]]:
        """A linked note's properties (only its head is read: the frontmatter fits in it)."""
        path = self.vault.abs(rel)
        if self.current is not None and self.index is not None:
            trace = self.trace[self.current]
            if rel not in self._records:  # read or not, the note's output depends on it
                try:
                    self._records[rel] = self.index.file_record(path, read_head(path)[0])
                except OSError:
                    self._records[rel] = None
            trace["reads"][rel] = self._records[rel]
        if rel not in self._linked:
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
            from rotation_notes.thesis.core import linked_properties

            self._linked[rel] = (note, linked_properties(note, rel))
            self._misses[rel] = self.near_catalyst_keys(rel, *self._linked[rel])
        if self.current is not None:
            self.trace[self.current]["misses"].extend(
                [m.path, m.line, m.key, m.meant, m.skipped] for m in self._misses[rel]
            )
        return self._linked[rel]

    def near_catalyst_keys(self, rel: str, note: NoteText, meta: dict[str, Any]) -> list[NearMiss]:
        """Warn about a linked note's property that is nearly ``event_start`` (or, with
        ``event_start``, ``event_end``): a typo there silently drops the catalyst's row."""
        found = []
        for meant, follows in _CATALYST_KEYS:
            if meant in meta or (meant == "event_end" and "event_start" not in meta):
                continue
            for key in meta:
                if isinstance(key, str) and _squashed(key) in (
                    _squashed(meant),
                    f"{_squashed(meant)}s",
                ):
                    miss = NearMiss(rel, key_line(note, (key,)) or 0, key, meant, follows)
                    self.note_miss(miss)
                    found.append(miss)
                    break
        return found

    def scan(self, rel: str, explicit: bool) -> bytes | None:
        """The note's bytes if it may be a thesis; None (skipped, or an error if it was
        asked for) if it is not. Cheap: a note the index knows unchanged is not opened."""
        index, state = self.index, self.vault.states.get(rel)
        if index is not None and not explicit:
            verdict = index.verdict(rel, state)
            if verdict is not None:
                if verdict != 0:
                    self.note_miss(NearMiss(rel, verdict[0], verdict[1], SPEC_KEY,
                                            "this note is not refreshed as a thesis"))  # fmt: skip
                return None
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
            verdict = self.not_a_thesis(rel, head, explicit)
            if index is not None:
                index.set_verdict(rel, state, verdict)
            return None
        if index is not None:
            index.forget_verdict(rel)
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
        return head if len(head) == size else read_regular(path)

    def prepare(self, rel: str, explicit: bool, raw: bytes | None = None) -> _Prepared | None:
        """The thesis read and its catalysts found (None: not a thesis). Imports the core."""
        if raw is None:
            raw = self.scan(rel, explicit)
            if raw is None:
                return None
        from rotation_notes.thesis.core import catalyst_windows, read_thesis

        with self.tracing(rel):
            thesis = read_thesis(
                decode_note(raw),
                rel,
                stale_after_days=self.vault.config.stale_after_days,
                init=self.options.init,
            )
            if thesis is None:
                verdict = self.not_a_thesis(rel, raw, explicit)
                if self.index is not None:
                    self.index.set_verdict(rel, self.vault.states.get(rel), verdict)
                return None
            catalysts, warnings = catalyst_windows(thesis, _VaultLinks(self))
        if warnings:
            self.warnings.setdefault(rel, []).extend(warnings)
        return _Prepared(rel, raw, thesis, catalysts)

    def chart_paths(self, p: _Prepared) -> dict[str, tuple[str, str]]:
        """Where each chart the note shows goes: (vault-relative path, embed text)."""
        out = {}
        with self.tracing(p.rel):
            for chart in p.thesis.charts_shown():
                existing = self.call("chart", chart.file, p.rel)
                if existing is not None:
                    rel = existing
                else:
                    folder = self.call("attach", p.rel)
                    if isinstance(folder, dict):
                        raise NoteError(folder["error"], path=p.rel)
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


def _own_chart_bytes(
    path: Path,
    rel: str,
    note: str,
    where: Callable[[], int | None],
    is_own_chart: Callable[[bytes], bool],
) -> bytes | None:
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
            line=where(),
            hint="give the chart another file name in the note's properties (charts: file:)",
        ) from None
    if current is not None and not is_own_chart(current):
        raise NoteError(
            f"the chart file {rel} already exists and was not drawn by rotation-notes, "
            "so it is not overwritten",
            path=note,
            line=where(),
            hint=f"give the chart another file name in the note's properties (charts: file:); "
            f"if {rel} is a chart an earlier version of rotation-notes drew, delete it "
            "and refresh again",
        )
    return current


def _fresh_key(vault: Vault, rel: str) -> tuple[int, int] | None:
    try:
        st = vault.abs(rel).stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _one_per_file(vault: Vault, targets: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Each real file once. A note reached through a symlink (or a second hard link) is the
    same note: refreshing it twice would write it twice, and the second write would see the
    first as a concurrent edit. The path that is not a symlink is kept."""
    out: list[tuple[str, bool]] = []
    where: dict[tuple[int, int], int] = {}
    for rel, explicit in targets:
        state = vault.states.get(rel)  # as the walk saw it: no second stat of each note
        key = (state[4], state[3]) if state is not None else _fresh_key(vault, rel)
        if key is None:
            out.append((rel, explicit))  # reading it will say what is wrong
            continue
        if key not in where:
            where[key] = len(out)
            out.append((rel, explicit))
            continue
        i = where[key]
        # One file twice, or a state that is no longer its file's? A vault kept from run to
        # run (the watcher's) may know a note by the inode of the file it was before a save
        # by rename, which the filesystem has since given to another note: the two are
        # compared as they are now.
        now = _fresh_key(vault, rel)
        if now is None or now != _fresh_key(vault, out[i][0]):
            if now is not None:
                where.setdefault(now, len(out))
            out.append((rel, explicit))
            continue
        kept, kept_explicit = out[i]
        if vault.abs(kept).is_symlink() and not vault.abs(rel).is_symlink():
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
    run.flush_misses()
    return vault, list(symbols), failed


# --- what an output is made from (the scan index) ------------------------------------------

#: ``ROTATION_NOTES_INDEX=off`` (or ``refresh --full``): recompute and redraw everything.
INDEX_ENV = "ROTATION_NOTES_INDEX"
#: The one environment variable that changes what a note shows (``prices.cache.ENV_VAR``);
#: ``ROTATION_NOTES_NOW`` moves the clock, which is in the key by ``clock_key``.
CACHE_ENV = "ROTATION_NOTES_CACHE"
#: Instants of a UTC day at which the NYSE's last settled session can change (``SETTLE``
#: after a 13:00 or 16:00 New York close, summer or winter time): 17:30, 18:30, 20:30, 21:30.
_SETTLE_MINUTES = (17 * 60 + 30, 18 * 60 + 30, 20 * 60 + 30, 21 * 60 + 30)


def clock_key(now: dt.datetime) -> str:
    """What of ``now`` a note may show: the day, and which of the day's possible settle
    instants have passed. Two instants with one key have the same last settled session
    and the same date, so a note rendered at one is the note rendered at the other."""
    now = now.astimezone(dt.UTC)
    minute = now.hour * 60 + now.minute
    return f"{now.date().isoformat()}/{sum(minute >= m for m in _SETTLE_MINUTES)}"


def _file_digest(path: Path, limit: int = 4 * 1024 * 1024) -> str | None:
    try:
        return sha_of(read_regular(path, limit))
    except OSError as exc:
        return f"error {exc.errno}"


def _global_key(
    vault: Vault, options: RefreshOptions, templates: Path | None, now: dt.datetime
) -> str:
    """Everything every note's output depends on besides its own bytes, links and data."""
    return digest_of(
        (
            "notes",
            code_key(),
            str(vault.root),
            options.as_of,
            options.offline,
            options.init,
            str(options.data_dir.resolve()) if options.data_dir else None,
            str(options.cache_dir) if options.cache_dir else None,
            os.environ.get(CACHE_ENV),  # which cache (the clock is in the key by clock_key)
            _file_digest(vault.root / CONFIG_NAME),
            _file_digest(vault.root / ".obsidian" / "app.json"),
            folder_digest(templates, vault.root),
            sorted(vault.special.items()),
            clock_key(now),
        )
    )


def _data_key(vault: Vault, options: RefreshOptions) -> str:
    """What decides which provider a run reads its prices from (not the prices themselves)."""
    return digest_of(
        (
            "data",
            code_key(),
            options.offline,
            str(options.data_dir.resolve()) if options.data_dir else None,
            str(options.cache_dir) if options.cache_dir else None,
            os.environ.get(CACHE_ENV),  # which cache (the clock is in the key by clock_key)
            _file_digest(vault.root / CONFIG_NAME),
        )
    )


#: SQLite's side files: they come and go with connections, and say nothing of the data
_SIDE_FILES = ("-wal", "-shm", "-journal")


def _dep_record(index: ScanIndex, kind: str, path: str) -> Any:
    """How a file the prices were read from is known again: a folder by its listing (SQLite's
    side files left out), a journal by its bytes when it holds any, a file by
    ``ScanIndex.file_record``."""
    if kind == "dir":
        try:
            return digest_of(sorted(n for n in os.listdir(path) if not n.endswith(_SIDE_FILES)))
        except OSError as exc:
            return f"error {exc.errno}"
    if kind == "journal":
        try:
            return sha_of(read_regular(path)) if os.path.getsize(path) else None
        except OSError:
            return None
    return index.file_record(path)


def _same_dep(index: ScanIndex, kind: str, path: str, record: Any) -> bool:
    if kind in ("dir", "journal"):
        return bool(_dep_record(index, kind, path) == record)
    return index.same_file(path, record)


def _symbol_key(prices: PriceSet, symbol: str) -> str:
    """Everything a note may show of ``symbol``'s prices: the closes, where they came from,
    why they are missing, their warnings, their name."""
    src = prices.sources.get(symbol)
    return digest_of(
        (
            prices.closes.get(symbol),
            None
            if src is None
            else (src.provider, src.kind, src.last_session, src.message, src.status),  # fmt: skip
            prices.missing.get(symbol),
            prices.unknown.get(symbol),
            prices.warnings.get(symbol),
            prices.names.get(symbol),
        )
    )


def _shape(raw: bytes) -> str | None:
    """A digest of all a thesis's refresh reads of its own bytes, None if its regions do not
    parse (it is then computed, and fails as it would): the properties, whether the bytes
    are UTF-8 and begin with a BOM, each region with its marker lines (its content is
    compared with what is rendered; a marker's own line ending is the one rendered lines
    get), and every wikilink of the body in order (catalysts come from the links when the
    properties list none; the charts shown, from the embeds when no region shows all).

    Two versions of a thesis with the same shape are refreshed to the same regions: an
    edit of the prose alone leaves a thesis as recorded (the editor's autosave, as a user
    types, costs the watcher nothing, and ``--note`` after it no computing). Line numbers
    of the body are not in it: nothing a refresh says names a line below the properties."""
    from rotation_notes.errors import MarkerError
    from rotation_notes.note.regions import find_regions
    from rotation_notes.note.text import find_wikilinks

    note = decode_note(raw)
    try:
        regions = find_regions(note, "", None)
    except MarkerError:
        return None
    body = "".join(note.lines[note.body_start :])
    return digest_of(
        (
            note.bom,
            note.undecodable,
            note.frontmatter_src,
            [(r.name, note.lines[r.begin : r.end + 1]) for r in regions],
            list(find_wikilinks(body)),
        )
    )


def _still_valid(run: _Run, entry: dict[str, Any]) -> bool:
    """Whether everything a thesis's recorded output was made from, beyond its own bytes
    and the data, is as it was: the vault's answers, the linked notes, the charts on disk."""
    vault, index = run.vault, run.index
    assert index is not None
    try:
        for name, args, answer in entry["calls"]:
            if _ASK[name](vault, *args) != answer:
                return False
        for rel, record in entry["reads"].items():
            if not index.same_file(vault.abs(rel), record, HEAD_BYTES):
                return False
        for rel, (record, _) in entry["charts"].items():
            if not index.same_file(vault.abs(rel), record):
                return False
    except (KeyError, TypeError, ValueError):  # an entry from elsewhere: recompute
        return False
    return True


def _replay(run: _Run, rel: str, entry: dict[str, Any]) -> NoteReport:
    """The report of a thesis whose inputs are all as they were: what the run that made its
    output reported, nothing recomputed, nothing drawn, nothing written."""
    r = entry["report"]
    for path, line, key, meant, skipped in entry["misses"]:
        run.note_miss(NearMiss(path, line, key, meant, skipped))
    return NoteReport(
        rel,
        "unchanged",
        as_of=r["as_of"],
        charts=r["charts"],
        tickers=r["tickers"],
        catalysts=r["catalysts"],
        scorecard=r["scorecard"],
        levels=r["levels"],
        warnings=r["warnings"],
        no_regions=r["no_regions"],
    )


# --- drawing charts ---------------------------------------------------------------------------

#: Charts drawn in one run from which a process pool pays for itself (each worker starts in
#: a fraction of a second; a chart takes a tenth of one).
POOL_FROM = 6


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _draw_in_worker(job: Any) -> tuple[bytes | None, int, int]:
    """A chart's PNG, or None if drawing it failed (the note draws it again itself, and
    fails with the error as it would have without a pool)."""
    import resource

    from rotation_notes.thesis.chartplans import draw_job

    try:
        png: bytes | None = draw_job(job)
    except Exception:  # noqa: BLE001 - said by the note that draws it again
        png = None
    return png, os.getpid(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _worker_start(parent: int) -> None:
    """A chart worker's first step. Stopping is its run's to do: Ctrl-C (which a terminal
    sends to the workers too) is ignored, the run then stops the pool; and a worker ends
    as soon as its run is gone, whatever killed it (it holds the vault lock's inherited fd,
    and the run's stdout and stderr)."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=orphaned, name="run-gone", daemon=True).start()


class _Drawer:
    """Draws the run's chart jobs (by fingerprint, each once) as the notes are composed.

    Once ``POOL_FROM`` jobs are known, and the machine has two cores or more, a process pool
    sized to the cores is started (forked: the process must run no other thread, so it is
    started before any) and each job is handed to it as soon as its note is composed, so the
    workers draw while this process composes the next notes. With fewer jobs, or no pool,
    the charts are drawn here at the end. The bytes are the same whichever process draws
    them; a job a worker could not draw (an error, a worker killed) is left out of
    ``results``, and its note draws it again itself, failing as it would without a pool."""

    def __init__(self) -> None:
        self.jobs: dict[str, Any] = {}
        self.futures: dict[str, Any] = {}
        self.pool: Any = None
        self.workers = _cores()
        self.pooled = self.workers >= 2

    def add(self, fingerprint: str, job: Any) -> None:
        if fingerprint in self.jobs:
            return
        self.jobs[fingerprint] = job
        if self.pool is None and self.pooled and len(self.jobs) >= POOL_FROM:
            self._start()
        if self.pool is not None:
            self._submit(fingerprint, job)

    def _submit(self, fingerprint: str, job: Any) -> None:
        try:
            self.futures[fingerprint] = self.pool.submit(_draw_in_worker, job)
        except Exception:  # noqa: BLE001 - a broken pool: the notes draw their own
            log.debug("chart %s: the pool did not draw it", fingerprint[:12], exc_info=True)

    def _start(self) -> None:
        import threading

        if threading.active_count() > 1:  # a lock another thread holds would stay held
            self.pooled = False
            return
        import multiprocessing
        import signal
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        # the workers are forked (at the first submit) with Ctrl-C and SIGTERM blocked: one
        # that comes meanwhile is not lost in a fork hook (it is this process's, once the
        # mask is back), and none reaches a worker before it ignores it
        stops = {signal.SIGINT, signal.SIGTERM}
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        try:
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_worker_start,
                initargs=(os.getpid(),),
            )
            for fingerprint, job in self.jobs.items():
                self._submit(fingerprint, job)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def results(self) -> dict[str, bytes]:
        """Each job's PNG, by fingerprint: those left to draw are drawn now."""
        out: dict[str, bytes] = {}
        if self.pool is None:
            for fp, job in self.jobs.items():
                try:
                    out[fp] = job.draw()
                except Exception:  # noqa: BLE001 - its note draws it again, and fails alone
                    log.debug("chart %s not drawn", fp[:12], exc_info=True)
            return out
        peaks: dict[int, int] = {}
        try:
            for fp, future in self.futures.items():
                try:
                    png, pid, peak = future.result()
                except Exception:  # noqa: BLE001 - a broken pool: the notes draw their own
                    log.debug("chart %s: the pool did not draw it", fp[:12], exc_info=True)
                    continue
                if png is not None:
                    out[fp] = png
                peaks[pid] = max(peaks.get(pid, 0), peak)
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
        log.debug(
            "drew %d charts in %d worker processes (peak RSS %s MB, %d MB in all)",
            len(self.jobs),
            len(peaks),
            " + ".join(str(kb // 1024) for kb in peaks.values()),
            sum(peaks.values()) // 1024,
        )
        return out


# --- the run ----------------------------------------------------------------------------------


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

    A thesis whose inputs are all as the scan index recorded them (its bytes, the notes it
    links to, the vault's answers to its links, its data, the templates, the settings, the
    code and the day) is not recomputed: its report is the one recorded, and it is unchanged.
    """
    started = now_utc()
    vault = vault if vault is not None else Vault.open(vault_path)
    if not options.dry_run and options.candidates is None:
        # a killed run's temp files (the watcher: at start-up), as the walk saw them
        sweep_stale_temps(vault.root, candidates=vault.temps)
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
    index = None
    if os.environ.get(INDEX_ENV, "").lower() not in ("off", "0", "no", "false"):
        # --full: nothing recorded is believed, and the index is written afresh
        index = (ScanIndex.load if options.use_index else ScanIndex.fresh)(vault.root, code_key())
        index.now_ns = int(started.timestamp() * 1e9)
        run.index = index
    key = _global_key(vault, options, templates, started) if index is not None else ""

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

    # 1. the scan: which notes are theses, and which of them may be as they were
    clock0 = time.monotonic()
    slots: list[NoteReport | tuple[str, bool, bytes] | None] = []  # None: not a thesis
    for pos, (rel, explicit) in enumerate(_one_per_file(vault, targets)):
        run.pos = pos
        try:
            raw = run.scan(rel, explicit)
        except RotationNotesError as exc:
            slots.append(NoteReport(rel, "failed", error=_error_text(rel, exc)))
            continue
        except OSError as exc:
            if explicit:
                slots.append(NoteReport(rel, "failed", error=f"{rel}: cannot read: {exc}"))
            continue
        slots.append((rel, explicit, raw) if raw is not None else None)
    theses = [(pos, slot) for pos, slot in enumerate(slots) if isinstance(slot, tuple)]
    tentative: dict[str, dict[str, Any]] = {}
    if index is not None:
        for _, (rel, _, raw) in theses:
            entry = index.theses.get(rel)
            try:
                if not (isinstance(entry, dict) and entry.get("g") == key):
                    continue
                sha = sha_of(raw)
                if entry.get("sha") != sha:
                    # edited since: as recorded all the same if only its prose changed
                    if options.init or not entry.get("shape") or entry["shape"] != _shape(raw):
                        continue
                    entry = {**entry, "sha": sha}
                if _still_valid(run, entry):
                    tentative[rel] = entry
            except (KeyError, TypeError, ValueError, AttributeError, IndexError):
                log.debug("scan index entry of %s not used", rel, exc_info=True)

    # 2. the data: known from the index while the files it came from are as they were
    data_key = _data_key(vault, options) if index is not None else ""
    held = index.data if index is not None else {}
    data_valid = bool(
        index is not None
        and (provider is None or getattr(provider, "as_files", False))
        and held.get("g") == data_key
        and all(_same_dep(index, kind, path, rec) for kind, path, rec in held.get("deps", []))
    )
    keys: dict[str, str] = dict(held.get("keys", {})) if data_valid else {}
    hits: dict[str, NoteReport] = {}

    def hit(pos: int, rel: str) -> bool:
        entry = tentative[rel]
        try:
            if all(keys.get(s) == k for s, k in entry["data"].items()):
                run.pos = pos
                hits[rel] = _replay(run, rel, entry)
                if index is not None and not options.dry_run:
                    index.set_thesis(rel, entry)  # a prose edit's new bytes (else a no-op)
                return True
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            log.debug("scan index entry of %s not used", rel, exc_info=True)
        return False

    if data_valid:
        for pos, (rel, _, _) in theses:
            if rel in tentative:
                hit(pos, rel)
    log.debug(
        "scan index: %d of %d theses as recorded (data %s), %d notes scanned in %.2f s",
        len(hits),
        len(theses),
        "as recorded" if data_valid else "to load",
        len(slots),
        time.monotonic() - clock0,
    )
    report_all = RefreshReport(vault.root, [], dry_run=options.dry_run)

    def note_symbols(rel: str) -> list[str]:
        got = outcome.get(rel)
        if isinstance(got, _Prepared):
            return got.spec.symbols()
        if rel in tentative and (rel in hits or rel not in outcome):
            return list(tentative[rel]["data"])
        return []

    def symbol_order() -> list[str]:
        """Every symbol the run's theses use, in the order a run computing them all sees
        them (the ``--json`` data keeps that order, whatever was recorded)."""
        return list(dict.fromkeys(s for _, (rel, _, _) in theses for s in note_symbols(rel)))

    outcome: dict[str, NoteReport | _Prepared | None] = {}
    if len(hits) == len(theses):  # nothing to compute: no heavy import
        _fill_data(report_all, None, held, symbol_order())
        _finish(run, report_all, slots, hits, {}, options)
        return report_all

    # 3. everything else is computed: the heavy modules are imported from here on only
    def prepare(pos: int, rel: str, explicit: bool, raw: bytes) -> None:
        run.pos = pos
        try:
            outcome[rel] = run.prepare(rel, explicit, raw)
        except RotationNotesError as exc:
            outcome[rel] = NoteReport(rel, "failed", error=_error_text(rel, exc))
        except OSError as exc:
            outcome[rel] = (
                NoteReport(rel, "failed", error=f"{rel}: cannot read: {exc}") if explicit else None
            )
        except Exception as exc:  # noqa: BLE001 - one note's surprise must not stop the others
            log.debug("internal error preparing %s", rel, exc_info=True)
            outcome[rel] = NoteReport(
                rel, "failed", error=f"{rel}: internal error: {type(exc).__name__}: {exc}"
            )

    for pos, (rel, explicit, raw) in theses:
        if rel not in tentative:
            prepare(pos, rel, explicit, raw)

    from rotation_notes.output.templates import make_env
    from rotation_notes.prices.marketdata import PriceSet, mark_asked
    from rotation_notes.prices.sources import make_provider

    env = make_env(templates, vault.root)
    # what must be loaded: every symbol not vouched for by the index (all, when it is not)
    need = {s for _, (rel, _, _) in theses if rel not in hits for s in note_symbols(rel)}
    symbols = [s for s in symbol_order() if not data_valid or s in need]
    prices = PriceSet()
    if symbols:
        chosen = provider or make_provider(
            vault,
            offline=options.offline,
            data_dir=options.data_dir,
            cache_dir=options.cache_dir,
            as_of=options.as_of,  # data already held to that session is not fetched
        )
        found = None
        if index is not None and provider is None and hasattr(chosen, "dependencies"):
            found = chosen.dependencies(symbols)
        # recorded before the load: a file changed while it is read is read again next time
        before = {(k, p): _dep_record(index, k, p) for k, p in found or ()} if index else {}
        prices = chosen.load(symbols)
        mark_asked(prices, started)  # a note whose data ends far before the run says so
        keys = {**(keys if data_valid else {}), **{s: _symbol_key(prices, s) for s in symbols}}
        if index is not None and found is not None:
            if hasattr(chosen, "close"):
                chosen.close()
            old = dict(held) if data_valid else {}
            records = {(k, p): r for k, p, r in old.get("deps", [])}
            records.update(before)
            index.set_data(
                {
                    "g": data_key,
                    "deps": [[k, p, r] for (k, p), r in records.items()],
                    "keys": {**old.get("keys", {}), **keys},
                    "sources": {
                        **old.get("sources", {}),
                        **{s: list(_source_fields(prices, s)) for s in symbols},
                    },
                }
            )
        elif index is not None:
            index.set_data({})
    for pos, (rel, explicit, raw) in theses:
        if rel in tentative and rel not in hits and not hit(pos, rel):
            prepare(pos, rel, explicit, raw)
    _fill_data(report_all, prices, held if data_valid else {}, symbol_order())

    prepared: list[tuple[_Prepared, NoteReport]] = []
    reports: dict[str, NoteReport] = {}
    for slot in slots:
        if isinstance(slot, tuple) and isinstance(got := outcome.get(slot[0]), _Prepared):
            reports[got.rel] = NoteReport(got.rel, "unchanged")
            prepared.append((got, reports[got.rel]))

    # 4. compose each note, its charts whose inputs changed drawn meanwhile (``_Drawer``),
    # then write note by note
    composed: dict[str, tuple[_Prepared, NoteReport, Any]] = {}
    drawer = _Drawer()
    clock0 = time.monotonic()
    try:
        for done, (p, report) in enumerate(prepared):
            if progress:
                progress(done, len(prepared), p.rel)
            try:
                composed[p.rel] = (p, report, _compose_one(run, p, report, prices, env))
            except Exception as exc:  # noqa: BLE001 - one note's failure must not stop the others
                _failed(run, p, report, exc)
                continue
            for c in composed[p.rel][2].charts:
                if not _chart_as_recorded(run, p.rel, c):
                    drawer.add(c.job.fingerprint, c.job)
        log.debug(
            "composed %d theses in %.2f s (%d charts to draw, %s)",
            len(composed),
            time.monotonic() - clock0,
            len(drawer.jobs),
            "drawn meanwhile by a pool" if drawer.pool else "none drawn yet",
        )
        clock0 = time.monotonic()
        pngs = drawer.results()
    finally:
        if drawer.pool is not None:  # an interrupt: no worker is left drawing
            drawer.pool.shutdown(wait=False, cancel_futures=True)
    log.debug("drew %d charts in %.2f s more", len(drawer.jobs), time.monotonic() - clock0)
    clock0 = time.monotonic()
    for slot in slots:  # in the order of the notes: the first to draw a chart file owns it
        if not isinstance(slot, tuple):
            continue
        rel = slot[0]
        if rel in hits:
            hits[rel] = _claim_recorded(run, rel, tentative[rel], hits[rel])
            continue
        if rel not in composed:
            continue
        p, report, done = composed[rel]
        for c in done.charts:
            if c.job.fingerprint in pngs:
                c.drawn(pngs[c.job.fingerprint])
        try:
            written = _write_one(run, p, report, done)
        except Exception as exc:  # noqa: BLE001 - one note's failure must not stop the others
            _failed(run, p, report, exc)
        else:
            if index is not None and not options.dry_run:
                index.set_thesis(p.rel, _entry(run, p, report, done, key, keys, written))
    log.debug("wrote in %.2f s", time.monotonic() - clock0)
    if index is not None:
        for rel, report in [*reports.items(), *hits.items()]:
            if report.status == "failed":
                index.set_thesis(rel, None)
    outcome_reports = {
        rel: got if isinstance(got, NoteReport) else reports.get(rel)
        for rel, got in outcome.items()
    }
    _finish(run, report_all, slots, hits, outcome_reports, options)
    return report_all


def _finish(
    run: _Run,
    report: RefreshReport,
    slots: list[NoteReport | tuple[str, bool, bytes] | None],
    hits: dict[str, NoteReport],
    outcome: dict[str, NoteReport | None],
    options: RefreshOptions,
) -> None:
    """The run's notes in the order they were found, its warnings said once each in that
    order, the index saved."""
    for slot in slots:
        if slot is None:
            continue
        if isinstance(slot, NoteReport):
            report.notes.append(slot)
        elif slot[0] in hits:
            report.notes.append(hits[slot[0]])
        elif (got := outcome.get(slot[0])) is not None:
            report.notes.append(got)
    report.near_misses = run.flush_misses()
    _save(run.index, options)


def _claim_recorded(run: _Run, rel: str, entry: dict[str, Any], report: NoteReport) -> NoteReport:
    """A thesis as recorded claims its chart files as a recomputed one would, at its place in
    the run: a file an earlier note draws differently fails it, with that note's error."""
    try:
        for chart_rel, (_, fingerprint) in entry["charts"].items():
            _claim(run, rel, chart_rel, fingerprint)
    except DataError as exc:
        report.status, report.error = "failed", _error_text(rel, exc)
        report.error_type = DataError
        report.no_regions = False
    return report


def _claim(run: _Run, note: str, chart_rel: str, fingerprint: str) -> str:
    """Note that ``note`` draws ``chart_rel`` (keyed by the real file: two chart paths may be
    one file through a symlink); DataError if an earlier note draws it otherwise."""
    real = os.path.realpath(run.vault.abs(chart_rel))
    owner = run.charts.setdefault(real, (note, fingerprint, chart_rel))
    if owner[1] != fingerprint:
        same = "" if owner[2] == chart_rel else f" (the same file as {owner[2]})"
        raise DataError(
            f"chart {chart_rel}{same} is also drawn by {owner[0]}, with different data or settings",
            path=note,
            hint="give one of the two charts another file name",
        )
    return real


def _fill_data(
    report: RefreshReport, prices: PriceSet | None, held: dict[str, Any], order: list[str]
) -> None:
    """The report's data: where each symbol's prices came from, loaded this run or as the
    index holds them, in the order of a run that loads them all (sources, then the missing,
    then the unknown)."""
    from rotation_notes.prices.source import SymbolSource

    missing: dict[str, str] = {}
    unknown: dict[str, str] = {}
    for s in order:
        if prices is not None and (s in prices.sources or s in prices.missing or s in
                                   prices.unknown):  # fmt: skip
            if s in prices.sources:
                report.sources[s] = prices.sources[s]
            if s in prices.missing:
                missing[s] = prices.missing[s]
            if s in prices.unknown:
                unknown[s] = prices.unknown[s]
            continue
        fields = held.get("sources", {}).get(s)
        if not fields:
            continue
        if fields[0] == "source":
            report.sources[s] = SymbolSource(*fields[1:])
        elif fields[0] == "unknown":
            unknown[s] = fields[1]
        else:
            missing[s] = fields[1]
    report.data = {s: src.to_json() for s, src in report.sources.items()}
    for s, why in {**missing, **unknown}.items():
        report.data[s] = {"provider": None, "kind": "missing", "last_session": None,
                          "message": why}  # fmt: skip


def _source_fields(prices: PriceSet, symbol: str) -> tuple[Any, ...]:
    src = prices.sources.get(symbol)
    if src is not None:
        return ("source", src.provider, src.kind, src.last_session, src.message, src.status)
    if symbol in prices.unknown:
        return ("unknown", prices.unknown[symbol])
    return ("missing", prices.missing.get(symbol, "no data"))


def _save(index: ScanIndex | None, options: RefreshOptions) -> None:
    if index is not None and not options.dry_run:
        index.save()


def _failed(run: _Run, p: _Prepared, report: NoteReport, exc: Exception) -> None:
    if isinstance(exc, RotationNotesError):
        report.status, report.error = "failed", _error_text(p.rel, exc)
        report.error_type = type(exc)
    elif isinstance(exc, OSError):
        report.status, report.error = "failed", _os_error_text(p.rel, exc, run.vault.root)
    else:
        log.debug("internal error on %s", p.rel, exc_info=(type(exc), exc, exc.__traceback__))
        report.status = "failed"
        report.error = f"{p.rel}: internal error: {type(exc).__name__}: {exc}"
    report.changed = list(report.written)  # a chart written before the failure


def _chart_as_recorded(run: _Run, note: str, c: ChartPlan) -> bool:
    """Whether the chart file holds what this chart's job would draw: the last run drew it
    from the same inputs (its fingerprint) and the file is as that run left it."""
    if run.index is None:
        return False
    entry = run.index.theses.get(note)
    if not entry:
        return False
    recorded = entry.get("charts", {}).get(c.rel)
    return bool(
        recorded
        and recorded[1] == c.job.fingerprint
        and run.index.same_file(run.vault.abs(c.rel), recorded[0])
    )


def _calls_after(run: _Run, calls: list[Any], charts: list[ChartPlan]) -> list[Any]:
    """The note's questions to the vault as the next run will ask them: a chart file the
    note's link found nowhere, and that this run created where the note puts a new chart,
    is now found there. The next run computing the note would put the chart at that same
    path, so it answers as recorded; recorded as first answered, the run after a first
    refresh would compute every thesis again, for nothing."""
    made = {c.file: c.rel for c in charts}
    out = []
    for name, args, answer in calls:
        if name == "chart" and answer is None and args[0] in made:
            now = _ASK[name](run.vault, *args)
            if now == made[args[0]]:
                answer = now
        out.append([name, args, answer])
    return out


def _entry(
    run: _Run,
    p: _Prepared,
    report: NoteReport,
    done: Any,
    key: str,
    keys: dict[str, str],
    raw: bytes,
) -> dict[str, Any] | None:
    """What the scan index keeps of a thesis refreshed without error: ``raw`` is the note as
    this run computed it (a save that lands meanwhile differs from it, and is seen next run),
    each chart as this run drew or found it."""
    index = run.index
    assert index is not None
    if report.status == "failed":
        return None
    charts = {}
    old = index.theses.get(p.rel) or {}
    for c in done.charts:
        if (p.rel, c.rel) in run.kept:  # found as recorded by _write_one, not written
            charts[c.rel] = old["charts"][c.rel]
            continue
        record = index.file_record(run.vault.abs(c.rel), c.png)
        if record is None:
            return None
        charts[c.rel] = [record, c.job.fingerprint]
    trace = run.trace.get(p.rel, {"calls": [], "reads": {}, "misses": []})
    return {
        "g": key,
        "sha": sha_of(raw),
        "shape": _shape(raw),
        "calls": _calls_after(run, trace["calls"], done.charts),
        "reads": trace["reads"],
        "misses": trace["misses"],
        "charts": charts,
        "data": {s: keys[s] for s in p.spec.symbols() if s in keys},
        "report": {
            "as_of": report.as_of,
            "charts": report.charts,
            "tickers": report.tickers,
            "catalysts": report.catalysts,
            "scorecard": report.scorecard,
            "levels": report.levels,
            "warnings": report.warnings,
            "no_regions": report.no_regions,
        },
    }


def _compose_one(run: _Run, p: _Prepared, report: NoteReport, prices: PriceSet, env: Any) -> Any:
    from rotation_notes.thesis.core import compose, hand_copies

    options = run.options
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
    return done


def _write_one(run: _Run, p: _Prepared, report: NoteReport, done: Any) -> bytes:
    """Write what changed of one composed note; returns the note's bytes as they now are
    (as this run computed them: what the scan index records)."""
    from rotation_notes.output.charts import is_own_chart

    options, vault = run.options, run.vault
    new_text = done.text
    new_raw = p.note.encode(new_text)

    reals = {c.rel: _claim(run, p.rel, c.rel, c.job.fingerprint) for c in done.charts}
    chart_writes: list[tuple[ChartPlan, Path, bytes | None]] = []
    for c in done.charts:
        if any(reals[w.rel] == reals[c.rel] for w, _, _ in chart_writes):
            continue  # one file, drawn once
        if _chart_as_recorded(run, p.rel, c):
            run.kept.add((p.rel, c.rel))  # what _entry records of it: the record it had
            continue  # the file holds what this job draws: not drawn, not read
        path = vault.abs(c.rel)
        index = next(i for i, spec in enumerate(p.spec.charts) if spec.file == c.file)
        keys = (SPEC_KEY, "charts", index, "file")
        where = lambda keys=keys: key_line(p.note, keys)  # noqa: E731 - only for an error
        current = _own_chart_bytes(path, c.rel, p.rel, where, is_own_chart)
        if current != c.png:
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
        return new_raw
    for c, path, current in chart_writes:
        replace_if_unchanged(path, current, c.png)
        report.written[c.rel] = hashlib.sha256(c.png).hexdigest()
        vault.add_file(c.rel)  # a new chart: later notes resolve links to it
    if note_changes:
        replace_if_unchanged(vault.abs(p.rel), p.raw, new_raw)
        report.written[p.rel] = hashlib.sha256(new_raw).hexdigest()
        # a new file (inode) under the old name: the state the walk saw is no longer it (a
        # vault kept for later runs, the watcher's, must not know the note by a freed inode)
        vault.add_file(p.rel)
    return new_raw
