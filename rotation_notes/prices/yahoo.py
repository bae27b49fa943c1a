"""Live prices from Yahoo Finance through yfinance, kept in the local cache.

One run makes at most a few batched ``yf.download`` calls for every symbol of
every thesis: full history for symbols the cache has never seen, and a short
incremental range (from the last cached session less an overlap) for the
rest. A symbol whose cache already holds the last closed session is not
requested at all. If the overlap shows that Yahoo revised past closes (a split
or a dividend re-basing the adjusted series), that symbol's whole history is
fetched again and replaces the cached one.

yfinance does not raise for a failed symbol: ``download`` returns all-NaN
columns and logs the reason to the ``yfinance`` logger. We capture those
records for the duration of the call and classify each failure:

- rate-limited (429, ``YFRateLimitError``): retried with exponential backoff;
- timed out: retried;
- network unreachable (DNS failure, connection refused): not retried;
- unknown symbol (Yahoo has no such ticker): an error for the notes using it;
- anything else: reported as is.

What could not be fetched comes from the cache or the bundled data, and the
note says so ("live fetch failed: network unreachable").
"""

from __future__ import annotations

import ast
import datetime as dt
import logging
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rotation_notes.clock import last_closed_session, settled_at
from rotation_notes.prices.cache import PriceCache, set_aside_if_unreadable
from rotation_notes.prices.marketdata import (
    WARNINGS,
    MarketDataProvider,
    PriceSet,
    SymbolSource,
    clean_closes,
    clean_series,
)

log = logging.getLogger(__name__)

PROVIDER = "Yahoo Finance (yfinance)"

RATE_LIMITED = "rate-limited"
TIMED_OUT = "timed out"
NETWORK = "network unreachable"
UNKNOWN = "unknown symbol"
NO_DATA = "no data returned"
OTHER = "error"
RETRYABLE = {RATE_LIMITED, TIMED_OUT}

_RULES: list[tuple[str, re.Pattern[str]]] = [
    (RATE_LIMITED, re.compile(r"YFRateLimitError|Too Many Requests|Rate limited|\b429\b", re.I)),
    (TIMED_OUT, re.compile(r"Timeout|timed out|curl: \(28\)", re.I)),
    (
        NETWORK,
        re.compile(
            r"resolve|Name or service not known|name resolution|nodename nor servname|"
            r"Connection refused|ConnectionError|ProxyError|Network is unreachable|"
            r"No route to host|curl: \((5|6|7)\)|Failed to connect",
            re.I,
        ),
    ),
    (
        UNKNOWN,
        re.compile(
            r"possibly delisted|No data found|symbol may be delisted|Not Found|no timezone found|"
            r"YFTzMissingError|YFPricesMissingError|YFTickerMissingError|\b404\b",
            re.I,
        ),
    ),
]


def classify(message: str) -> str:
    for kind, rx in _RULES:
        if rx.search(message):
            return kind
    return OTHER


class _Capture(logging.Handler):
    """Collects the yfinance logger's records during one download."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage().strip())


_LIST_MSG = re.compile(r"^(\[.*?\]):\s*(.*)$", re.S)
_ONE_MSG = re.compile(r"^\$(\S+?):\s*(.*)$", re.S)
#: The time-zone probe's own failure line, which carries the real network error.
_TICKER_MSG = re.compile(
    r"^(?:Failed to get|Could not get \w+ for) ticker '([^']+)' reason:\s*(.*)$", re.S
)


def errors_by_symbol(messages: list[str]) -> dict[str, list[str]]:
    """yfinance's log lines by symbol: ``['A', 'B']: Error(...)``, ``$A: msg`` or
    ``Failed to get ticker 'A' reason: Error(...)``."""
    out: dict[str, list[str]] = {}
    for msg in messages:
        symbols: list[str] = []
        text = msg
        if m := _LIST_MSG.match(msg):
            try:
                parsed = ast.literal_eval(m.group(1))
                symbols = [str(s).upper() for s in parsed] if isinstance(parsed, list) else []
            except (ValueError, SyntaxError):
                symbols = []
            text = m.group(2)
        elif (m := _ONE_MSG.match(msg)) or (m := _TICKER_MSG.match(msg)):
            symbols, text = [m.group(1).upper()], m.group(2)
        for s in symbols:
            out.setdefault(s, []).append(text)
    return out


def _closes_by_symbol(df: pd.DataFrame | None, symbols: Sequence[str]) -> dict[str, pd.Series]:
    """The Close column of each symbol, chosen by name whatever the column layout."""
    if df is None or df.empty:
        return {}
    cols = df.columns
    if isinstance(cols, pd.MultiIndex):
        price_level = next(
            (i for i in range(cols.nlevels) if "Close" in cols.get_level_values(i)), None
        )
        if price_level is None:
            return {}
        close = df.xs("Close", axis=1, level=price_level)
        if isinstance(close, pd.Series):
            close = close.to_frame(symbols[0])
    elif "Close" in cols and len(symbols) == 1:
        close = df[["Close"]].set_axis([symbols[0]], axis=1)
    else:
        return {}
    close.columns = [str(c).upper() for c in close.columns]
    out = {}
    for s in symbols:
        if s in close.columns:
            col = close[s]
            # Parsed only (a symbol's NaN rows are the batch's other sessions): a close is
            # judged by its size against the whole history, when the cache is read back.
            series, _ = clean_closes(
                s, pd.Series(col.index), pd.Series(col.to_numpy()), outliers=False
            )
            if not series.empty:
                out[s] = series
    return out


@dataclass
class FetchOutcome:
    closes: dict[str, pd.Series] = field(default_factory=dict)
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)  # symbol -> (class, msg)


class YahooProvider:
    """The default provider: yfinance for what the cache lacks, the cache for the rest."""

    name = PROVIDER

    def __init__(
        self,
        cache: PriceCache,
        *,
        fallback: MarketDataProvider | None = None,
        session: Any = None,
        now: Callable[[], dt.datetime] | None = None,
        retries: int = 3,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        overlap_days: int = 10,
        timeout: float = 20.0,
    ) -> None:
        self.cache = cache
        self.fallback = fallback
        self.session = session
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.overlap = dt.timedelta(days=overlap_days)
        self.timeout = timeout
        self.download_calls = 0
        _configure_yfinance(cache.directory / "yfinance")

    # -- the batched fetch ---------------------------------------------------

    def _download_once(self, symbols: list[str], **kwargs: Any) -> FetchOutcome:
        import yfinance as yf
        from yfinance.config import YfConfig

        capture = _Capture()
        yf_log = logging.getLogger("yfinance")
        saved = (yf_log.propagate, yf_log.level)
        yf_log.addHandler(capture)
        yf_log.propagate = False  # its error lines are ours to report, classified
        yf_log.setLevel(logging.WARNING)
        # By default yfinance's history() swallows a connection error and reports
        # "possibly delisted; no price data found". Unhidden, download() logs the
        # exception itself (e.g. "['IWM']: ConnectionError(...)"), which we classify.
        hidden = YfConfig.debug.hide_exceptions
        YfConfig.debug.hide_exceptions = False
        self.download_calls += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                df = yf.download(
                    symbols,
                    interval="1d",
                    auto_adjust=True,
                    actions=False,
                    ignore_tz=True,
                    group_by="column",
                    multi_level_index=True,
                    progress=False,
                    threads=True,
                    timeout=self.timeout,
                    session=self.session,
                    **kwargs,
                )
        except Exception as exc:  # noqa: BLE001 - yfinance raises for whole-batch failures
            df = None
            capture.messages.append(f"{symbols!r}: {exc!r}")
        finally:
            YfConfig.debug.hide_exceptions = hidden
            yf_log.removeHandler(capture)
            yf_log.propagate, _ = saved
            yf_log.setLevel(saved[1])
        out = FetchOutcome(_closes_by_symbol(df, symbols))
        reasons = errors_by_symbol(capture.messages)
        for s in symbols:
            if s in out.closes:
                continue
            texts = reasons.get(s, [])
            kinds = [classify(t) for t in texts]
            kind = next(
                (k for k in (RATE_LIMITED, TIMED_OUT, NETWORK, UNKNOWN, OTHER) if k in kinds),
                NO_DATA,
            )
            out.failures[s] = (kind, texts[0][:200] if texts else "Yahoo returned no rows")
        # With the network down yfinance's time-zone probe fails too, and it then
        # reports "possibly delisted; no timezone found": not evidence of an
        # unknown symbol unless something in the batch got through.
        transport = [k for k, _ in out.failures.values() if k in (NETWORK, TIMED_OUT, RATE_LIMITED)]
        if transport and not out.closes:
            for s, (kind, msg) in out.failures.items():
                if kind in (UNKNOWN, NO_DATA, OTHER):
                    out.failures[s] = (transport[0], msg)
        return out

    def _download(self, symbols: list[str], **kwargs: Any) -> FetchOutcome:
        total = FetchOutcome()
        pending = list(symbols)
        for attempt in range(self.retries):
            got = self._download_once(pending, **kwargs)
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

    # -- the provider interface ---------------------------------------------

    def plan(self, symbols: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        """(current, incremental, full): which symbols need which request."""
        expected = last_closed_session(self.now())
        current, incremental, full = [], [], []
        for s in symbols:
            last = self.cache.last_date(s)
            fetched = self.cache.last_fetch(s, ok_only=True)
            if last is None:
                full.append(s)
            elif last >= expected or (
                fetched is not None
                and dt.datetime.fromisoformat(fetched.fetched_at) >= settled_at(expected)
            ):
                current.append(s)  # holds the last session, or asked since it settled
            else:
                incremental.append(s)
        return current, incremental, full

    def load(self, symbols: Sequence[str]) -> PriceSet:
        symbols = list(dict.fromkeys(symbols))
        stamp = self.now().astimezone(dt.UTC).replace(microsecond=0).isoformat()
        settled = pd.Timestamp(last_closed_session(self.now()))
        current, incremental, full = self.plan(symbols)

        def closed(got: FetchOutcome) -> FetchOutcome:
            # During a session Yahoo's daily data ends with today's unfinished bar: never
            # cache it as a close (it would pass for the day's close after the bell).
            for s in list(got.closes):
                got.closes[s] = got.closes[s].loc[:settled]
                if got.closes[s].empty:
                    del got.closes[s]
                    got.failures[s] = (NO_DATA, "no settled session yet")
            return got

        fetched: dict[str, str] = {}  # symbol -> outcome stored
        failures: dict[str, tuple[str, str]] = {}

        if full:
            got = closed(self._download(full, period="max"))
            for s, series in got.closes.items():
                self.cache.store(s, series, provider=PROVIDER, replace_all=True, fetched_at=stamp)
                fetched[s] = "ok"
            failures.update(got.failures)

        if incremental:
            start = min(self.cache.last_date(s) or dt.date.min for s in incremental) - self.overlap
            got = closed(self._download(incremental, start=start.isoformat()))
            revised = []
            for s, series in got.closes.items():
                if self._revised(s, series):
                    revised.append(s)
                else:
                    self.cache.store(s, series, provider=PROVIDER, fetched_at=stamp)
                    fetched[s] = "ok"
            for s, (kind, msg) in got.failures.items():
                if kind in (UNKNOWN, NO_DATA):  # cached before, so not unknown: no rows now
                    kind = NO_DATA
                failures[s] = (kind, msg)
            if revised:
                log.info("Yahoo revised past closes of %s; fetching full history", revised)
                again = closed(self._download(revised, period="max"))
                for s, series in again.closes.items():
                    self.cache.store(
                        s,
                        series,
                        provider=PROVIDER,
                        outcome="revised",
                        message="past closes revised; history replaced",
                        replace_all=True,
                        fetched_at=stamp,
                    )
                    fetched[s] = "revised"
                failures.update(again.failures)

        for s, (kind, msg) in failures.items():
            self.cache.log_failure(
                s, provider=PROVIDER, outcome=f"failed: {kind}", message=msg, fetched_at=stamp
            )
        self._learn_names([s for s in fetched if self.cache.name(s) is None])
        return self._assemble(symbols, fetched, failures)

    def _revised(self, symbol: str, fresh: pd.Series) -> bool:
        cached = self.cache.closes(symbol)
        common = cached.index.intersection(fresh.index)
        if common.empty:
            return False
        a, b = cached.loc[common].to_numpy(), fresh.loc[common].to_numpy()
        return bool((abs(a - b) > 1e-6 * abs(a) + 1e-9).any())

    def _learn_names(self, symbols: list[str]) -> None:
        """Remember each new symbol's long name once, so tables need no call per run."""
        if not symbols:
            return
        import yfinance as yf

        for s in symbols:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    meta = yf.Ticker(s, session=self.session).get_history_metadata()
            except Exception:  # noqa: BLE001 - a name is a nicety, never a failure
                continue
            name = (meta or {}).get("longName") or (meta or {}).get("shortName")
            if name:
                self.cache.set_name(s, str(name))

    def _assemble(
        self, symbols: list[str], fetched: dict[str, str], failures: dict[str, tuple[str, str]]
    ) -> PriceSet:
        out = PriceSet()
        bundled = self.fallback.load(list(failures)) if (self.fallback and failures) else None
        # The newest session any healthy symbol has: one that stops short of it is partial.
        # Computed from the cache, so the message is the same on every run with the same data.
        lasts = [self.cache.last_date(s) for s in symbols if s not in failures]
        newest = max((d for d in lasts if d), default=None)
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
                if newest is not None and sent < newest:
                    note = f"partial data: Yahoo returned sessions to {sent} only"
                    log.info("%s: %s (others to %s)", s, note, newest)
                out.closes[s] = cached
                out.sources[s] = SymbolSource(
                    PROVIDER, kind, last.isoformat(), note, status="partial" if note else "ok"
                )
                continue
            cls, msg = failures[s]
            if cls == UNKNOWN and cached.empty:
                out.unknown[s] = f"Yahoo Finance does not know the symbol {s}"
                continue
            found = self.cache.newest(s, bundled)
            if found is None:
                out.missing[s] = f"live fetch failed: {cls}; not in the cache or the bundled data"
                continue
            series, kind, provider = found
            last = series.index[-1].date().isoformat()
            out.closes[s] = series
            out.sources[s] = SymbolSource(
                provider, kind, last, f"live fetch failed: {cls}", status="fallback"
            )
            log.info("%s: live fetch failed (%s: %s); using %s to %s", s, cls, msg, provider, last)
        return out


_yf_configured: Path | None = None


def _configure_yfinance(folder: Path) -> None:
    """Keep yfinance's own caches (time zones, cookies) inside our cache folder."""
    global _yf_configured
    if _yf_configured == folder:
        return
    import yfinance as yf

    try:
        folder.mkdir(parents=True, exist_ok=True)
        # yfinance's SQLite caches (time zones, cookies, ISINs): one that cannot be read
        # would fail every live fetch, on every run, as "DatabaseError".
        for db in sorted(folder.glob("*.db")):
            set_aside_if_unreadable(db)
    except OSError as exc:  # the cache folder is unusable (PriceCache has said so)
        log.debug("yfinance's cache folder %s: %s", folder, exc)
    # Where the folder cannot be used yfinance goes on without its cache, by itself.
    yf.set_tz_cache_location(str(folder))
    _yf_configured = folder
