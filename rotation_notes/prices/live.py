"""The layer around a live provider: cache, incremental fetch, retries and fallback.

A live provider is one fetch function, ``fetch(symbols, start) -> FetchOutcome``:
the daily closes it got per symbol (from ``start``, or its whole history when
``start`` is None) and, for each symbol it did not get, a failure class (below)
and the message it had. :class:`CachedLiveProvider` does everything else, the
same way for every provider:

- asks only for what the cache lacks: nothing for a symbol whose cache holds the
  last closed session (or was asked since that session settled), nothing either, for
  a run as of an earlier day (``until``, ``--as-of``), for a symbol whose cache or
  bundled data already holds that day's session, a short range
  (from the last cached session less an overlap) for the rest, and the whole
  history for a symbol never seen. If the overlap shows that past closes were
  revised (a split, a dividend re-basing the adjusted series), that symbol's
  whole history is fetched again and replaces the cached one;
- never caches a session that has not settled (a provider serves today's
  unfinished bar during the session);
- retries what failed as rate-limited or timed out, with exponential backoff;
- stores every fetch, and every failure, in the cache's fetch log;
- answers from the cache, or from the fallback (the vault's bundled CSVs)
  where that is newer, for what could not be fetched, and says so in the
  symbol's :class:`SymbolSource` ("live fetch failed: network unreachable",
  status "fallback"); a symbol that stops short of the others is "partial".

The market clock (which session is the last closed one, and when its bar is
final) is the NYSE calendar of ``rotation_notes.clock`` unless a :class:`Clock`
is given. :class:`OfflineProvider` is the same
layer with the network off (``--offline``): the cache and the fallback only.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from rotation_notes import clock as market
from rotation_notes.prices.cache import PriceCache
from rotation_notes.prices.marketdata import (
    WARNINGS,
    MarketDataProvider,
    PriceSet,
    SymbolSource,
    clean_series,
)

log = logging.getLogger(__name__)

# The failure classes a fetch function sorts each failed symbol into.
RATE_LIMITED = "rate-limited"
TIMED_OUT = "timed out"
NETWORK = "network unreachable"
UNKNOWN = "unknown symbol"
NO_DATA = "no data returned"
OTHER = "error"
#: Tried again, after a pause that doubles each time.
RETRYABLE = {RATE_LIMITED, TIMED_OUT}

OFFLINE_NOTE = "offline run: not fetched"


@dataclass
class FetchOutcome:
    """What one fetch got: closes by symbol, and (class, message) for each symbol it did not."""

    closes: dict[str, pd.Series] = field(default_factory=dict)
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)


#: ``fetch(symbols, start)``: closes from ``start`` (None: the whole history) for each symbol.
Fetch = Callable[[list[str], dt.date | None], FetchOutcome]
#: ``describe(symbols)``: each symbol's descriptive name, where the provider knows it.
Describe = Callable[[list[str]], dict[str, str]]


@dataclass(frozen=True)
class Clock:
    """The market clock: the last session whose daily bar is final at a moment, and the
    moment a session's bar becomes final."""

    last_closed_session: Callable[[dt.datetime], dt.date]
    settled_at: Callable[[dt.date], dt.datetime]


#: The one market clock: NYSE sessions, early closes included (``rotation_notes.clock``).
NYSE = Clock(market.last_closed_session, market.settled_at)


def newest(
    cache: PriceCache, symbol: str, bundled: PriceSet | None
) -> tuple[pd.Series, str, str] | None:
    """(closes, kind, provider) from the cache or the bundled data, whichever is newer.

    The cached closes are cleaned as every provider's are (``clean_series``): the cache
    holds what the live provider sent, or what an older version stored.
    """
    choices = []
    cached = clean_series(cache.closes(symbol))
    if not cached.empty:
        # by its folder's name only: notes show it, and a note never carries local paths
        choices.append((cached, "cache", f"cache ({cache.directory.name}/)"))
    if bundled is not None and symbol in bundled.closes:
        src = bundled.sources[symbol]
        choices.append((bundled.closes[symbol], src.kind, src.provider))
    return max(choices, key=lambda c: c[0].index[-1]) if choices else None


class OfflineProvider:
    """The layer with the network off (``--offline``): the cache first, the fallback (bundled
    CSVs) where it is newer or the cache has nothing."""

    name = "offline"

    def __init__(self, cache: PriceCache, fallback: MarketDataProvider | None) -> None:
        self.cache, self.fallback = cache, fallback

    def close(self) -> None:
        """Close the cache (SQLite folds its journal into the database file as it closes)."""
        self.cache.close()

    def dependencies(self, symbols: Sequence[str]) -> list[tuple[str, str]] | None:
        """What ``load(symbols)`` reads (the cache's files, the fallback's), as
        ("dir" | "file", path); None when the fallback cannot say."""
        deps = self.cache.dependencies()
        if deps is None or self.fallback is None:
            return deps
        more = getattr(self.fallback, "dependencies", None)
        return None if more is None else deps + more(symbols)

    def load(self, symbols: Sequence[str]) -> PriceSet:
        out = PriceSet()
        bundled = self.fallback.load(symbols) if self.fallback else PriceSet()
        for s in symbols:
            if name := self.cache.name(s):
                out.names[s] = name
            found = newest(self.cache, s, bundled)
            if found is None:
                out.missing[s] = bundled.missing.get(s, "not in the cache") + " (offline run)"
                continue
            series, kind, provider = found
            out.closes[s] = series
            out.sources[s] = SymbolSource(
                provider, kind, series.index[-1].date().isoformat(), OFFLINE_NOTE, status="offline"
            )
        return out


class CachedLiveProvider:
    """A live provider's ``fetch`` for what the cache lacks, the cache for the rest.

    ``name`` is the provider as the cache's fetch log and the report name it (e.g.
    "Yahoo Finance (yfinance)"); ``label`` as a message names it ("Yahoo Finance does
    not know the symbol X"), and ``short`` as a data warning does ("partial data: Yahoo
    returned sessions to ... only").
    """

    def __init__(
        self,
        fetch: Fetch,
        cache: PriceCache,
        *,
        name: str,
        clock: Clock = NYSE,
        label: str | None = None,
        short: str | None = None,
        fallback: MarketDataProvider | None = None,
        describe: Describe | None = None,
        now: Callable[[], dt.datetime] | None = None,
        retries: int = 3,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        overlap_days: int = 10,
        until: dt.date | None = None,
    ) -> None:
        self.fetch = fetch
        self.cache = cache
        self.name = name
        self.clock = clock
        self.label = label or name
        self.short = short or self.label
        self.fallback = fallback
        self.describe = describe
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.overlap = dt.timedelta(days=overlap_days)
        #: The last day the run needs data for (``--as-of``); None: the latest session.
        self.until = until

    # -- asking the provider ---------------------------------------------------

    def _fetch(self, symbols: list[str], start: dt.date | None) -> FetchOutcome:
        """One fetch, and again for what failed in a way worth retrying."""
        total = FetchOutcome()
        pending = list(symbols)
        for attempt in range(self.retries):
            got = self.fetch(pending, start)
            total.closes.update(got.closes)
            for s in got.closes:
                total.failures.pop(s, None)
            total.failures.update(got.failures)
            pending = [s for s, (kind, _) in got.failures.items() if kind in RETRYABLE]
            if not pending or attempt == self.retries - 1:
                break
            delay = self.backoff * (2**attempt)
            log.info(
                "retrying %s in %.0f s (%s)", ", ".join(pending), delay, got.failures[pending[0]][0]
            )
            self.sleep(delay)
        return total

    def needed(self) -> dt.date:
        """The last session the run needs: the last closed one, or that of ``until``."""
        latest = self.clock.last_closed_session(self.now())
        if self.until is None:
            return latest
        # the last session on or before ``until``: the one closed by noon (UTC) the day after
        noon = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(12), dt.UTC)
        try:
            return min(latest, self.clock.last_closed_session(noon))
        except Exception:  # noqa: BLE001 - a day the calendar does not cover: that day itself
            return min(latest, self.until)

    def plan(self, symbols: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        """(current, incremental, full): which symbols need which request."""
        expected = self.needed()
        current, incremental, full = [], [], []
        for s in symbols:
            last = self.cache.last_date(s)
            fetched = self.cache.last_fetch(s, ok_only=True)
            if last is None:
                full.append(s)
            elif last >= expected or (
                fetched is not None
                and dt.datetime.fromisoformat(fetched.fetched_at) >= self.clock.settled_at(expected)
            ):
                current.append(s)  # holds the last session, or asked since it settled
            else:
                incremental.append(s)
        return current, incremental, full

    # -- the provider interface ------------------------------------------------

    def load(self, symbols: Sequence[str]) -> PriceSet:
        symbols = list(dict.fromkeys(symbols))
        stamp = self.now().astimezone(dt.UTC).replace(microsecond=0).isoformat()
        settled = pd.Timestamp(self.clock.last_closed_session(self.now()))
        current, incremental, full = self.plan(symbols)
        # As of an earlier day, what the bundled data already holds is not fetched either.
        covered, bundled = set(), None
        if self.until is not None and self.fallback is not None and (incremental or full):
            needed = pd.Timestamp(self.needed())
            bundled = self.fallback.load(incremental + full)
            covered = {
                s for s, c in bundled.closes.items() if not c.empty and c.index[-1] >= needed
            }
            incremental = [s for s in incremental if s not in covered]
            full = [s for s in full if s not in covered]

        def closed(got: FetchOutcome) -> FetchOutcome:
            # During a session a provider's daily data ends with today's unfinished bar:
            # never cache it as a close (it would pass for the day's close after the bell).
            for s in list(got.closes):
                got.closes[s] = got.closes[s].loc[:settled]
                if got.closes[s].empty:
                    del got.closes[s]
                    got.failures[s] = (NO_DATA, "no settled session yet")
            return got

        fetched: dict[str, str] = {}  # symbol -> outcome stored
        failures: dict[str, tuple[str, str]] = {}

        if full:
            got = closed(self._fetch(full, None))
            for s, series in got.closes.items():
                self.cache.store(s, series, provider=self.name, replace_all=True, fetched_at=stamp)
                fetched[s] = "ok"
            failures.update(got.failures)

        if incremental:
            start = min(self.cache.last_date(s) or dt.date.min for s in incremental) - self.overlap
            got = closed(self._fetch(incremental, start))
            revised = []
            for s, series in got.closes.items():
                if self._revised(s, series):
                    revised.append(s)
                else:
                    self.cache.store(s, series, provider=self.name, fetched_at=stamp)
                    fetched[s] = "ok"
            for s, (kind, msg) in got.failures.items():
                if kind in (UNKNOWN, NO_DATA):  # cached before, so not unknown: no rows now
                    kind = NO_DATA
                failures[s] = (kind, msg)
            if revised:
                log.info("%s revised past closes of %s; fetching full history", self.short, revised)
                again = closed(self._fetch(revised, None))
                for s, series in again.closes.items():
                    self.cache.store(
                        s,
                        series,
                        provider=self.name,
                        outcome="revised",
                        message="past closes revised; history replaced",
                        replace_all=True,
                        fetched_at=stamp,
                    )
                    fetched[s] = "revised"
                failures.update(again.failures)

        for s, (kind, msg) in failures.items():
            self.cache.log_failure(
                s, provider=self.name, outcome=f"failed: {kind}", message=msg, fetched_at=stamp
            )
        self._learn_names([s for s in fetched if self.cache.name(s) is None])
        out = self._assemble([s for s in symbols if s not in covered], fetched, failures)
        for s in covered:  # not fetched, as nothing was needed: no "fetch failed" about them
            found = newest(self.cache, s, bundled)
            if found is None:  # cannot be: the bundled data holds it
                continue
            series, kind, provider = found
            out.closes[s] = series
            out.sources[s] = SymbolSource(provider, kind, series.index[-1].date().isoformat())
            if name := self.cache.name(s):
                out.names[s] = name
        return out

    def _revised(self, symbol: str, fresh: pd.Series) -> bool:
        cached = self.cache.closes(symbol)
        common = cached.index.intersection(fresh.index)
        if common.empty:
            return False
        a, b = cached.loc[common].to_numpy(), fresh.loc[common].to_numpy()
        return bool((abs(a - b) > 1e-6 * abs(a) + 1e-9).any())

    def _learn_names(self, symbols: list[str]) -> None:
        """Remember each new symbol's long name once, so tables need no call per run."""
        if not symbols or self.describe is None:
            return
        for s, name in self.describe(symbols).items():
            self.cache.set_name(s, name)

    def _assemble(
        self, symbols: list[str], fetched: dict[str, str], failures: dict[str, tuple[str, str]]
    ) -> PriceSet:
        out = PriceSet()
        bundled = self.fallback.load(list(failures)) if (self.fallback and failures) else None
        # The newest session any healthy symbol has: one that stops short of it is partial.
        # Computed from the cache, so the message is the same on every run with the same data.
        lasts = [self.cache.last_date(s) for s in symbols if s not in failures]
        newest_day = max((d for d in lasts if d), default=None)
        if newest_day is not None and self.until is not None:
            newest_day = min(newest_day, self.needed())  # as of a day: short of it is partial
        for s in symbols:
            name = self.cache.name(s)
            if name:
                out.names[s] = name
            stored = self.cache.closes(s)
            # cleaned whole on every read, as the CSV providers clean a file
            cached = clean_series(stored)
            if s not in failures:
                if cached.empty:
                    why = "; ".join(cached.attrs.get(WARNINGS, ())) if not stored.empty else ""
                    out.missing[s] = "no data in the cache" + (f" ({why})" if why else "")
                    continue
                kind = "live" if s in fetched else "cache"
                last = cached.index[-1].date()
                sent = stored.index[-1].date()  # a last close dropped as bad was still sent
                note = ""
                if newest_day is not None and sent < newest_day:
                    note = f"partial data: {self.short} returned sessions to {sent} only"
                    log.info("%s: %s (others to %s)", s, note, newest_day)
                out.closes[s] = cached
                out.sources[s] = SymbolSource(
                    self.name, kind, last.isoformat(), note, status="partial" if note else "ok"
                )
                continue
            cls, msg = failures[s]
            if cls == UNKNOWN and cached.empty:
                out.unknown[s] = f"{self.label} does not know the symbol {s}"
                continue
            found = newest(self.cache, s, bundled)
            if found is None:
                out.missing[s] = f"live fetch failed: {cls}; not in the cache or the bundled data"
                continue
            series, kind, provider = found
            last_day = series.index[-1].date().isoformat()
            out.closes[s] = series
            out.sources[s] = SymbolSource(
                provider, kind, last_day, f"live fetch failed: {cls}", status="fallback"
            )
            log.info(
                "%s: live fetch failed (%s: %s); using %s to %s", s, cls, msg, provider, last_day
            )
        return out
