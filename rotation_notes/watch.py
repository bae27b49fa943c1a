"""Watch mode: keep a vault's thesis notes current while the user works.

The watcher knows nothing about rendering: it is handed a ``render`` callable
(a refresh of some notes) and decides only *when* to call it and for which
notes. File events are debounced per note (re-rendered ``debounce`` seconds
after the last event), a note the tool itself just wrote is recognised by the
hash of the bytes it wrote (so there is no timing window in which a real edit
could be mistaken for ours), and a note that changed between read and write is
not written: the user's save produced an event of its own, so the note is
rendered again after it. A failing render is logged and the loop goes on.

``run_watch`` is the command: it builds the render callable (a locked refresh with prices held
in memory by ``MemoryPrices``), refreshes every thesis once and runs the watcher.

The vault is walked once, at start-up: one ``Vault`` serves the watcher's whole life and every
render (``refresh(..., vault=...)``). Events only queue the paths they name; the main thread
(the one that renders) brings the vault's file list up to date for those paths alone before
it renders, so a created, renamed or deleted note costs a ``stat``, never a walk, and the
vault is never read while it changes.
``PriceRefresh`` reloads the held prices after each NYSE close (the one market clock).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from rotation_notes.clock import last_closed_session, now_utc
from rotation_notes.errors import ConcurrentEditError, RotationNotesError
from rotation_notes.note.text import decode_note, find_wikilinks
from rotation_notes.vault.files import kind_of, read_regular
from rotation_notes.vault.lock import vault_lock
from rotation_notes.vault.vault import (
    CONFIG_NAME,
    Vault,
    _load_app_json,
    _load_config,
    ignored_name,
    walk_vault,
)
from rotation_notes.vault.writer import TEMP_MARK

if TYPE_CHECKING:  # the render (and its heavy imports) is loaded by run_watch
    from rotation_notes.prices.marketdata import MarketDataProvider, PriceSet
    from rotation_notes.refresh import NoteReport, RefreshReport

log = logging.getLogger(__name__)

Render = Callable[[list[str]], "RefreshReport"]


class MemoryPrices:
    """The run's prices kept in memory: edits re-render without asking the network.

    A symbol not seen yet (a ticker just added to a note) is loaded once from
    the underlying provider; ``reload`` refreshes everything (after a close).
    """

    name = "memory"

    def __init__(self, inner: MarketDataProvider | Callable[[], MarketDataProvider]) -> None:
        self._inner = inner
        #: what is held, made on the first load: ``PriceSet``'s module imports pandas, which a
        #: watcher whose notes are all as the scan index recorded them need not import before
        #: it watches (a quarter of a second of its start)
        self.prices: PriceSet | None = None
        self._lock = threading.Lock()
        #: called as each render asks for prices (between reading notes and writing them)
        self.on_load: Callable[[], None] | None = None

    @property
    def inner(self) -> MarketDataProvider:
        """The provider underneath, made on first use (a watcher whose notes are all as the
        scan index recorded them imports no price code before it watches)."""
        if callable(self._inner) and not hasattr(self._inner, "load"):
            self._inner = self._inner()
        return self._inner  # type: ignore[return-value]

    @property
    def as_files(self) -> bool:
        """Whether a load now reads just what a refresh's own provider would (nothing is held
        in memory yet): the scan index may then vouch for the data by its files."""
        return not self._known()

    def _known(self) -> set[str]:
        p = self.prices
        if p is None:
            return set()
        return set(p.closes) | set(p.missing) | set(p.unknown)

    def _held(self) -> PriceSet:
        if self.prices is None:
            from rotation_notes.prices.marketdata import PriceSet

            self.prices = PriceSet()
        return self.prices

    def _merge(self, new: PriceSet) -> None:
        held = self._held()
        for name in ("closes", "sources", "missing", "warnings", "unknown", "names"):
            getattr(held, name).update(getattr(new, name))

    def load(self, symbols: Sequence[str]) -> PriceSet:
        if self.on_load is not None:
            self.on_load()
        with self._lock:
            todo = [s for s in symbols if s not in self._known()]
            if todo:
                self._merge(self.inner.load(todo))
            p, want = self._held(), set(symbols)
            return type(p)(
                **{
                    name: {s: v for s, v in getattr(p, name).items() if s in want}
                    for name in ("closes", "sources", "missing", "warnings", "unknown", "names")
                }
            )

    def reload(self) -> int:
        with self._lock:
            symbols = sorted(self._known())
            from rotation_notes.prices.marketdata import PriceSet

            fresh = self.inner.load(symbols) if symbols else PriceSet()
            self.prices = None
            self._merge(fresh)
            return len(symbols)


class PriceRefresh:
    """When the watcher reloads the prices it holds: after each NYSE session has closed and
    settled (holidays and early closes from the one market clock), or every ``every_minutes``.

    ``tick()`` returns ``["prices"]`` when it reloaded them, so every thesis is re-rendered.
    """

    def __init__(
        self,
        prices: MemoryPrices,
        *,
        every_minutes: float | None = None,
        now: Callable[[], dt.datetime] = now_utc,
    ) -> None:
        self.prices, self.every, self.now = prices, every_minutes, now
        self.session = last_closed_session(now()) if every_minutes is None else None

    @property
    def tick_every(self) -> float:
        """How often (seconds) to call ``tick``."""
        return 60.0 if self.every is None else self.every * 60

    def tick(self) -> list[str]:
        if self.session is not None:
            latest = last_closed_session(self.now())
            if latest <= self.session:
                return []
            self.session = latest
            why = f"after the close of {latest}"
        else:
            why = f"every {self.every:g} min"
        try:
            count = self.prices.reload()
        except Exception as exc:  # noqa: BLE001 - keep watching with the prices held
            logging.getLogger("rotation_notes").debug("price reload failed", exc_info=True)
            log.info("prices not refreshed (%s): %s; keeping the ones held", why, exc)
            return []
        log.info("prices refreshed (%s): %d symbols", why, count)
        return ["prices"]


#: Tests only: ``STEP`` or ``STEP:FILE`` stops the watcher at that step (``start``: before
#: the vault is opened; ``first-refresh`` and ``render``: in the first refresh, or in a
#: later render, after the notes were read and before anything is written), logging
#: "test hook: at STEP", until FILE exists or the watcher is told to stop.
HOOK_ENV = "ROTATION_NOTES_TEST_HOOK"


def pause_at(step: str, stopping: Callable[[], bool] = lambda: False) -> None:
    spec = os.environ.get(HOOK_ENV)
    if not spec or spec.partition(":")[0] != step:
        return
    release = spec.partition(":")[2]
    log.info("test hook: at %s", step)
    while not (release and os.path.exists(release)) and not stopping():
        time.sleep(0.01)  # a signal's KeyboardInterrupt ends it before the watcher runs


@dataclass
class _Pending:
    due: float
    #: events on the note's own file ("saved", "created", ...)
    own_events: set[str] = field(default_factory=set)
    #: anything else: a linked note, a template, new prices
    external: set[str] = field(default_factory=set)


def _unresolved(name: str) -> str:
    """The key a not-yet-existing link target is remembered by: its file name, lower case."""
    base = name.rsplit("/", 1)[-1].lower()
    return "?" + (base[:-3] if base.endswith(".md") else base)


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(read_regular(path)).hexdigest()
    except OSError:
        return None


def _exists_as_named(path: Path, case_blind: bool) -> bool:
    """Whether ``path`` is there under exactly this name (a.md is not A.md, even where the
    file system ignores case: a case-only rename must drop the old spelling)."""
    if not os.path.lexists(path):
        return False
    if not case_blind:
        return True
    try:
        return path.name in os.listdir(path.parent)
    except OSError:
        return False


def _not_regular(path: Path) -> str | None:
    """None for a regular file (or a link to one); else what it is, in words (as a scan says)."""
    try:
        if path.is_file():
            return None
        return kind_of(os.stat(path).st_mode)
    except FileNotFoundError:
        return "a link to nothing (its target is gone)"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"


class Watcher:
    def __init__(
        self,
        vault: Vault | Path,
        render: Render,
        *,
        debounce: float = 0.5,
        poll: bool = False,
        templates_dir: str | None = None,
        on_tick: Callable[[], Iterable[str]] | None = None,
        tick_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: the one vault of the watcher's life (run_watch's, also every render's): walked
        #: once, then kept current path by path (``_apply_changes``), in the main thread only
        self.vault = vault if isinstance(vault, Vault) else Vault.open(vault)
        self.root = self.vault.root
        self.render = render
        self.debounce = debounce
        self.poll = poll
        self.templates_dir = templates_dir.strip("/") + "/" if templates_dir else None
        self.on_tick = on_tick
        self.tick_every = tick_every
        self.clock = clock
        #: whether this file system matches names regardless of case (macOS, Windows)
        self.case_blind = os.path.isdir(self.root / ".OBSIDIAN")
        #: thesis note -> the notes it links to (a change there re-renders it)
        self.theses: dict[str, set[str]] = {}
        #: path -> sha256 of the bytes we last wrote there
        self.written: dict[str, str] = {}
        self.pending: dict[str, _Pending] = {}
        #: paths that events named (created, renamed, deleted), in order, with the event and
        #: whether it was about a folder: the vault's list is brought up to date for them
        self.changes: dict[str, tuple[str, bool]] = {}
        #: special files already warned about (once each, as a scan does)
        self._warned: set[tuple[str, str]] = set()
        #: guards pending, changes and theses, shared by watchdog's thread and the main one
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stop_signal: int | None = None
        self.deferred = 0
        self.renders = 0
        #: thesis -> the warnings its last render gave (``say_warnings``: said when new);
        #: forgotten with the thesis (deleted, or no longer one), so one back says them again
        self.said: dict[str, frozenset[str]] = {}
        #: called once watching, before the first event is handled (``run_watch``: imports)
        self.warm_up: Callable[[], None] | None = None

    # -- what depends on what -------------------------------------------------

    def _links(self, rel: str) -> set[str]:
        try:
            note = decode_note(read_regular(self.vault.abs(rel)))
        except OSError:
            return set()
        out = set()
        for link in find_wikilinks(note.text):
            target = self.vault.resolve_link(link.target, rel)
            if target is None:  # not there yet: a note of that name appearing later counts
                out.add(_unresolved(link.target))
            elif target.lower().endswith(".md") and target != rel:
                out.add(target)
        return out

    def _record(self, report: RefreshReport, looked_at: Iterable[str]) -> None:
        seen = {n.path for n in report.notes}
        links = {rel: self._links(rel) for rel in looked_at if rel in seen}
        with self.lock:
            for rel in looked_at:
                if rel in links:
                    self.theses[rel] = links[rel]
                else:
                    self.theses.pop(rel, None)
                    self.said.pop(rel, None)
            self.written.update({p: h for n in report.notes for p, h in n.written.items()})

    def _dependents(self, rel: str) -> list[str]:
        keys = {rel, _unresolved(rel)}
        with self.lock:
            return [t for t, deps in self.theses.items() if keys & deps and t != rel]

    # -- events (watchdog's thread) -------------------------------------------

    def _rel(self, path: str | bytes) -> str | None:
        p = Path(path.decode() if isinstance(path, bytes) else path)
        try:
            rel = p.relative_to(self.root).as_posix()
        except ValueError:
            return None
        parts = rel.split("/")
        if any(ignored_name(part) for part in parts):
            return None  # .obsidian/, .trash/, .git/ and our own hidden temp files
        if TEMP_MARK in parts[-1]:
            return None
        return rel

    def on_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write"):
            return
        what = {"modified": "saved", "closed": "saved"}.get(kind, kind)
        paths = [(event.src_path, what)]
        if kind == "moved":
            paths = [
                (event.src_path, "renamed away"),
                (event.dest_path, "saved (renamed into place)"),
            ]
        for path, what in paths:
            rel = self._rel(path)
            if rel is None:
                continue
            self._handle(rel, what, event.is_directory)

    def _handle(self, rel: str, what: str, is_dir: bool) -> None:
        gone = what in ("deleted", "renamed away")
        if gone or what in ("created", "saved (renamed into place)"):
            with self.lock:  # the main thread updates the vault's list for this path alone
                self.changes.pop(rel, None)
                self.changes[rel] = (what, is_dir)
            self.wake.set()
        if is_dir:  # a folder's own "saved" only says an entry changed: that entry's event came
            return
        self._react(rel, what)

    def _react(self, rel: str, what: str) -> None:
        """Which renders an event on the file ``rel`` calls for."""
        gone = what in ("deleted", "renamed away")
        if rel == CONFIG_NAME or (self.templates_dir and rel.startswith(self.templates_dir)):
            with self.lock:
                theses = list(self.theses)
            self._schedule(theses, f"{rel} changed")
            return
        if not rel.lower().endswith(".md"):
            return
        dependents = self._dependents(rel)
        if gone and _exists_as_named(self.root / rel, self.case_blind):
            # Polling observers report our os.replace as deleted + created: the note is still
            # there, so it stays watched (and the "created" half is recognised as our write).
            return
        if gone:
            with self.lock:
                was = self.theses.pop(rel, None)
                self.said.pop(rel, None)
            if was is not None:
                log.info("stopped watching %s (%s)", rel, what)
            self._schedule(dependents, f"linked note {rel} {what}")
            return
        digest = _sha(self.root / rel)
        if digest is not None and self.written.get(rel) == digest:
            return  # the event our own write caused
        self._schedule([rel], what, external=False)
        self._schedule(dependents, f"linked note {rel} {what}")

    def _schedule(self, rels: Iterable[str], trigger: str, *, external: bool = True) -> None:
        due = self.clock() + self.debounce
        with self.lock:
            for rel in rels:
                entry = self.pending.setdefault(rel, _Pending(due))
                entry.due = due
                (entry.external if external else entry.own_events).add(trigger)
        self.wake.set()

    # -- the vault's file list (main thread) ----------------------------------

    def _apply_changes(self) -> None:
        """Bring the vault's file list up to date for the paths events named: a file is
        added or dropped as it now is on disk; a folder that appeared is walked (that folder
        only) and what it holds is handled as new; one that went drops every file under it.
        Never a walk of the vault. Called by the main thread, the vault's only user."""
        with self.lock:
            changes, self.changes = self.changes, {}
        for rel, (what, _) in changes.items():
            path = self.vault.abs(rel)
            if os.path.isdir(path) and not os.path.islink(path):
                for f in self._add_folder(rel):
                    self._react(f, "created" if what in ("deleted", "renamed away") else what)
            elif _exists_as_named(path, self.case_blind):
                self._add(rel)
            else:
                for f in self._remove(rel):
                    self._react(f, what if what in ("deleted", "renamed away") else "deleted")

    def _add(self, rel: str) -> bool:
        """One path that is there now: a regular file is recorded; anything else (a pipe, a
        dangling link) is skipped with a warning once, as a scan of the vault does."""
        path = self.vault.abs(rel)
        what = _not_regular(path)
        with self.lock:
            if what is None:
                self.vault.add_file(rel)
                return True
            self.vault.remove_file(rel)
            self.vault.special[rel] = what
        if (rel, what) not in self._warned:
            self._warned.add((rel, what))
            log.warning("skipped %s: it is %s, not a regular file", rel, what)
        return False

    def _add_folder(self, rel: str) -> list[str]:
        """Walk the folder ``rel`` (just created or renamed into place) and record its files."""
        added = []
        for sub, entries in walk_vault(self.vault.abs(rel)):
            folder = f"{rel}/{sub}" if sub else rel
            for entry in entries:
                if entry.name.startswith("."):
                    continue  # hidden, as in a scan: our temp files among them
                f = f"{folder}/{entry.name}"
                if self._add(f):
                    added.append(f)
        return added

    def _remove(self, rel: str) -> list[str]:
        """Forget ``rel``, and every file under it if it was a folder; returns what was
        forgotten under a folder (the file itself has had its own event)."""
        under = rel + "/"
        with self.lock:
            self.vault.remove_file(rel)
            gone = [f for f in self.vault.files if f.startswith(under)]
            for f in gone:
                self.vault.remove_file(f)
            for f in [f for f in self.vault.special if f.startswith(under)]:
                del self.vault.special[f]
        return gone

    # -- the loop (main thread) -----------------------------------------------

    def _due(self) -> dict[str, set[str]]:
        now = self.clock()
        with self.lock:
            due = {r: p for r, p in self.pending.items() if p.due <= now}
            for r in due:
                del self.pending[r]
        # Our write's own event can arrive before the render that wrote it has
        # returned and recorded the hash; so it is checked again here, after it has.
        ready = {}
        for r, p in due.items():
            ours = self.written.get(r) is not None and _sha(self.root / r) == self.written[r]
            triggers = p.external | (set() if ours else p.own_events)
            if triggers:
                ready[r] = triggers
        return ready

    def _next_wait(self) -> float:
        with self.lock:
            if not self.pending:
                return 0.25
            return max(0.0, min(0.25, min(p.due for p in self.pending.values()) - self.clock()))

    def render_now(self, rels: list[str], triggers: dict[str, set[str]]) -> None:
        started = time.perf_counter()
        self._apply_changes()  # the render sees every file the events so far named
        try:
            report = self.render(rels)
        except RotationNotesError as exc:  # e.g. another run holds the vault lock
            log.info("waiting (%s); will try again", exc)
            for rel in rels:
                self._schedule([rel], "retry")
            return
        except Exception as exc:  # noqa: BLE001 - a render's bug must never stop the watcher
            log.exception("failed %s: internal error: %s", ", ".join(rels), exc)
            return
        took = time.perf_counter() - started
        self.renders += 1
        self._record(report, rels)
        for n in report.notes:
            why = ", ".join(sorted(triggers.get(n.path, {"refresh"})))
            if n.error_type is not None and issubclass(n.error_type, ConcurrentEditError):
                self.deferred += 1
                log.info(
                    "deferred %s (trigger: %s): edited during the render; "
                    "rendering again after the edit",
                    n.path,
                    why,
                )
            elif n.status == "failed":  # an error: shown with -q too
                log.error("failed %s (trigger: %s) in %.2f s: %s", n.path, why, took, n.error)
            else:
                log.info("%s %s (trigger: %s) in %.2f s%s", n.status, n.path, why, took, _charts(n))
        self.say_warnings(report.notes)

    def say_warnings(self, notes: list[NoteReport], of: int | None = None) -> None:
        """Log the notes' warnings that their last render did not give: a warning is said
        when it comes (a catalyst link gone bad on this save, the network down since the last
        prices), not again on every save while it holds. Several notes giving the same one
        (``refresh.group_warnings``) say it once. ``of``: how many theses are watched (by
        default, as recorded): a render of some of them never says "all"."""
        from dataclasses import replace

        from rotation_notes.refresh import log_warnings

        new = []
        with self.lock:  # a deletion, on watchdog's thread, forgets what a note said
            for n in notes:
                if n.status == "failed" and not n.warnings:  # failed before its warnings were
                    continue  # known (one that fails at its write has them): keep the last
                before = self.said.get(n.path, frozenset())
                self.said[n.path] = frozenset(n.warnings)
                fresh = [w for w in n.warnings if w not in before]
                if fresh:
                    new.append(replace(n, warnings=fresh))
            if of is None:
                of = len(self.theses)
        log_warnings(log, new, of=of)

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signum
        # Not self.wake.set() here: the handler runs in the main thread, which may be inside
        # wake.wait() or wake.clear() holding the event's lock (a plain Lock), and set() would
        # wait for that lock forever: the watcher would never stop. A thread of its own sets it
        # once the main thread lets go of the lock.
        threading.Thread(target=self.wake.set, name="stop-signal", daemon=True).start()

    def run(self, initial: RefreshReport) -> int:
        """Watch until SIGINT/SIGTERM; returns 130 then (after any write in progress)."""
        # Stopping is a flag from here on: a write in progress finishes first.
        previous = {s: signal.signal(s, self._signal) for s in (signal.SIGINT, signal.SIGTERM)}
        observer = PollingObserver(timeout=1.0) if self.poll else Observer()
        try:
            self._record(initial, self.vault.markdown_files())
            observer.schedule(_Handler(self), str(self.root), recursive=True)
            observer.start()
        except BaseException:
            for s, h in previous.items():
                signal.signal(s, h)
            raise
        log.info(
            "watching %d thesis notes in %s%s",
            len(self.theses),
            self.root,
            " (polling)" if self.poll else "",
        )
        next_tick = self.clock() + self.tick_every
        try:
            if self.warm_up is not None:
                self.warm_up()
            while self.stop_signal is None:
                self.wake.wait(self._next_wait())
                self.wake.clear()
                if self.stop_signal is not None:
                    break
                self._apply_changes()
                ready = self._due()
                if ready:
                    self.render_now(sorted(ready), ready)
                if self.on_tick and self.clock() >= next_tick:
                    next_tick = self.clock() + self.tick_every
                    changed = list(self.on_tick())
                    if changed:
                        self._schedule(list(self.theses), "prices refreshed")
        finally:
            observer.stop()
            observer.join(timeout=5)
            for s, h in previous.items():
                signal.signal(s, h)
        log.info(
            "stopped: %d renders, %d deferred because of a concurrent edit",
            self.renders,
            self.deferred,
        )
        return 130


def _charts(n: NoteReport) -> str:
    """The charts written beside a note: its status is about the note's own file only."""
    count = len(n.charts_changed)
    return f"; {count} chart{'s' if count != 1 else ''} written" if count else ""


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self.watcher.on_event(event)
        except Exception:  # noqa: BLE001 - an event must never kill the observer thread
            log.exception("error handling %s", event)


class _Settings:
    """The vault's settings (rotation-notes.toml, .obsidian/app.json) read again when either
    file changes, as a run that opens the vault afresh would: the watcher's one vault is
    never reopened. Two ``stat`` calls per render."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.paths = (vault.root / CONFIG_NAME, vault.root / ".obsidian" / "app.json")
        self.seen = self._stamps()

    def _stamps(self) -> tuple[tuple[int, int, int] | None, ...]:
        out: list[tuple[int, int, int] | None] = []
        for path in self.paths:
            try:
                st = os.stat(path)
            except OSError:
                out.append(None)
            else:
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)

    def reload_if_changed(self) -> None:
        now = self._stamps()
        if now == self.seen:
            return
        # A broken file raises here, every render until it is fixed, as Vault.open would
        self.vault.config = _load_config(self.vault.root)
        self.vault.app = _load_app_json(self.vault.root)
        self.seen = now


def run_watch(
    vault_path: Path,
    *,
    offline: bool = False,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    poll: bool = False,
    debounce: float = 0.5,
    prices_every: float | None = None,
) -> int:
    """``rotation-notes watch``: refresh every thesis once, then watch until stopped (130).

    The caller installs a SIGINT/SIGTERM handler that raises KeyboardInterrupt before calling
    this (before its slow imports), so a signal at any moment stops it; once the watcher
    runs, a signal lets the write in progress finish.
    """
    from rotation_notes.refresh import RefreshOptions, refresh

    pause_at("start")
    vault = Vault.open(vault_path)  # the one walk of the vault: events keep it current
    settings = _Settings(vault)

    def provider() -> MarketDataProvider:
        from rotation_notes.prices.sources import make_provider

        return make_provider(vault, offline=offline, data_dir=data_dir, cache_dir=cache_dir)

    prices = MemoryPrices(provider)
    if not (offline or data_dir or vault.config.provider == "bundled"):
        prices.inner  # noqa: B018 - a live provider's settings are checked before watching

    def render(rels: list[str] | None) -> RefreshReport:
        options = RefreshOptions(
            candidates=rels, offline=offline, data_dir=data_dir, cache_dir=cache_dir
        )
        settings.reload_if_changed()
        with vault_lock(vault.root, wait=10.0):  # one writer: a scheduled run may be at work
            return refresh(vault.root, options, provider=prices, vault=vault)

    live = not (offline or data_dir or vault.config.provider == "bundled")
    refresher = PriceRefresh(prices, every_minutes=prices_every) if live else None
    if os.environ.get(HOOK_ENV):
        prices.on_load = lambda: pause_at("first-refresh")
    log.info("refreshing every thesis note in %s", vault.root)
    initial = render(None)
    for n in initial.notes:
        if n.status == "failed":
            log.error("failed %s (trigger: start): %s", n.path, n.error)
        else:
            log.info("%s %s (trigger: start)%s", n.status, n.path, _charts(n))
    watcher = Watcher(
        vault,
        render,
        debounce=debounce,
        poll=poll,
        templates_dir=vault.config.templates_dir,
        on_tick=refresher.tick if refresher else None,
        tick_every=refresher.tick_every if refresher else 60.0,
    )
    watcher.say_warnings(initial.notes, of=len(initial.notes))  # every thesis
    if os.environ.get(HOOK_ENV):
        prices.on_load = lambda: pause_at("render", lambda: watcher.stop_signal is not None)
    # The first save should not pay for importing what renders it: imported once watching
    # (on the main thread: imports racing in two threads have deadlocked C extensions)
    watcher.warm_up = _warm_up
    return watcher.run(initial)


def _warm_up() -> None:
    """Import the modules a render needs (pandas, matplotlib, the core); events that come
    meanwhile wait in the queue."""
    try:
        import rotation_notes.output.charts  # noqa: F401
        import rotation_notes.prices.sources  # noqa: F401
        import rotation_notes.thesis.core  # noqa: F401
    except Exception:  # noqa: BLE001 - the render imports them again and reports any error
        log.debug("warm-up import failed", exc_info=True)
