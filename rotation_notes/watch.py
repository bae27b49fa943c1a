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

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from rotation_notes.clock import last_closed_session, now_utc
from rotation_notes.errors import ConcurrentEditError, RotationNotesError
from rotation_notes.note.text import decode_note, find_wikilinks
from rotation_notes.prices.marketdata import MarketDataProvider, PriceSet
from rotation_notes.refresh import NoteReport, RefreshOptions, RefreshReport, refresh
from rotation_notes.vault.files import read_regular
from rotation_notes.vault.lock import vault_lock
from rotation_notes.vault.vault import CONFIG_NAME, Vault, ignored_name
from rotation_notes.vault.writer import TEMP_MARK

log = logging.getLogger(__name__)

Render = Callable[[list[str]], RefreshReport]


class MemoryPrices:
    """The run's prices kept in memory: edits re-render without asking the network.

    A symbol not seen yet (a ticker just added to a note) is loaded once from
    the underlying provider; ``reload`` refreshes everything (after a close).
    """

    name = "memory"

    def __init__(self, inner: MarketDataProvider) -> None:
        self.inner = inner
        self.prices = PriceSet()
        self._lock = threading.Lock()
        #: called as each render asks for prices (between reading notes and writing them)
        self.on_load: Callable[[], None] | None = None

    def _known(self) -> set[str]:
        p = self.prices
        return set(p.closes) | set(p.missing) | set(p.unknown)

    def _merge(self, new: PriceSet) -> None:
        for name in ("closes", "sources", "missing", "warnings", "unknown", "names"):
            getattr(self.prices, name).update(getattr(new, name))

    def load(self, symbols: Sequence[str]) -> PriceSet:
        if self.on_load is not None:
            self.on_load()
        with self._lock:
            todo = [s for s in symbols if s not in self._known()]
            if todo:
                self._merge(self.inner.load(todo))
            p, want = self.prices, set(symbols)
            return PriceSet(
                **{
                    name: {s: v for s, v in getattr(p, name).items() if s in want}
                    for name in ("closes", "sources", "missing", "warnings", "unknown", "names")
                }
            )

    def reload(self) -> int:
        with self._lock:
            symbols = sorted(self._known())
            fresh = self.inner.load(symbols) if symbols else PriceSet()
            self.prices = PriceSet()
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


class Watcher:
    def __init__(
        self,
        vault_root: Path,
        render: Render,
        *,
        debounce: float = 0.5,
        poll: bool = False,
        templates_dir: str | None = None,
        on_tick: Callable[[], Iterable[str]] | None = None,
        tick_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = vault_root
        self.render = render
        self.debounce = debounce
        self.poll = poll
        self.templates_dir = templates_dir.strip("/") + "/" if templates_dir else None
        self.on_tick = on_tick
        self.tick_every = tick_every
        self.clock = clock
        self.vault = Vault.open(vault_root)
        #: thesis note -> the notes it links to (a change there re-renders it)
        self.theses: dict[str, set[str]] = {}
        #: path -> sha256 of the bytes we last wrote there
        self.written: dict[str, str] = {}
        self.pending: dict[str, _Pending] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stop_signal: int | None = None
        self.deferred = 0
        self.renders = 0

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
        for rel in looked_at:
            if rel in seen:
                self.theses[rel] = self._links(rel)
            else:
                self.theses.pop(rel, None)
        self.written.update({p: h for n in report.notes for p, h in n.written.items()})

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
        if is_dir or gone or what in ("created", "saved (renamed into place)"):
            with self.lock:
                self.vault.rescan()
        if is_dir:
            return
        if rel == CONFIG_NAME or (self.templates_dir and rel.startswith(self.templates_dir)):
            self._schedule(list(self.theses), f"{rel} changed")
            return
        if not rel.lower().endswith(".md"):
            return
        keys = {rel, _unresolved(rel)}
        dependents = [t for t, deps in self.theses.items() if keys & deps and t != rel]
        if gone and (self.root / rel).exists():
            # Polling observers report our os.replace as deleted + created: the note is still
            # there, so it stays watched (and the "created" half is recognised as our write).
            return
        if gone:
            if self.theses.pop(rel, None) is not None:
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
            while self.stop_signal is None:
                self.wake.wait(self._next_wait())
                self.wake.clear()
                if self.stop_signal is not None:
                    break
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
    from rotation_notes.prices.sources import make_provider

    pause_at("start")
    vault = Vault.open(vault_path)
    prices = MemoryPrices(
        make_provider(vault, offline=offline, data_dir=data_dir, cache_dir=cache_dir)
    )

    def render(rels: list[str] | None) -> RefreshReport:
        options = RefreshOptions(
            candidates=rels, offline=offline, data_dir=data_dir, cache_dir=cache_dir
        )
        with vault_lock(vault.root, wait=10.0):  # one writer: a scheduled run may be at work
            return refresh(vault.root, options, provider=prices)

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
        vault.root,
        render,
        debounce=debounce,
        poll=poll,
        templates_dir=vault.config.templates_dir,
        on_tick=refresher.tick if refresher else None,
        tick_every=refresher.tick_every if refresher else 60.0,
    )
    if os.environ.get(HOOK_ENV):
        prices.on_load = lambda: pause_at("render", lambda: watcher.stop_signal is not None)
    return watcher.run(initial)
