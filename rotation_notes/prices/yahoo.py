"""Yahoo Finance through yfinance: the fetch function of the default live provider.

:class:`YahooFetch` makes one batched ``yf.download`` for the symbols and range
the cache layer (``live``) asks for, and looks up the long names of new
symbols. :class:`YahooProvider` puts it inside that layer, which does the
caching, the choice of range, the retries and the fallback.

yfinance does not raise for a failed symbol: ``download`` returns all-NaN
columns and logs the reason to the ``yfinance`` logger. We capture those
records for the duration of the call and sort each failure into the layer's
classes:

- rate-limited (429, ``YFRateLimitError``) and timed out: the layer retries;
- network unreachable (DNS failure, connection refused): not retried;
- unknown symbol (Yahoo has no such ticker): an error for the notes using it;
- anything else: reported as is.

It also keeps yfinance's own caches (time zones, cookies) in our cache folder.
"""

from __future__ import annotations

import ast
import datetime as dt
import logging
import re
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rotation_notes.prices.cache import PriceCache, set_aside_if_unreadable
from rotation_notes.prices.live import (
    NETWORK,
    NO_DATA,
    OTHER,
    RATE_LIMITED,
    TIMED_OUT,
    UNKNOWN,
    CachedLiveProvider,
    FetchOutcome,
)
from rotation_notes.prices.marketdata import MarketDataProvider, clean_closes

log = logging.getLogger(__name__)

PROVIDER = "Yahoo Finance (yfinance)"

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


class YahooFetch:
    """The fetch function for Yahoo Finance: one batched ``yf.download``, its failures
    classified; and the symbols' long names (``names``)."""

    def __init__(self, *, session: Any = None, timeout: float = 20.0) -> None:
        self.session = session
        self.timeout = timeout
        self.calls = 0

    def __call__(self, symbols: list[str], start: dt.date | None) -> FetchOutcome:
        if start is None:
            return self.download(symbols, period="max")
        return self.download(symbols, start=start.isoformat())

    def download(self, symbols: list[str], **kwargs: Any) -> FetchOutcome:
        """One ``yf.download`` of ``symbols`` (``kwargs``: its date range)."""
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
        self.calls += 1
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
            out.failures[s] = (kind, _clip(texts[0]) if texts else "Yahoo returned no rows")
        # With the network down yfinance's time-zone probe fails too, and it then
        # reports "possibly delisted; no timezone found": not evidence of an
        # unknown symbol unless something in the batch got through.
        transport = [k for k, _ in out.failures.values() if k in (NETWORK, TIMED_OUT, RATE_LIMITED)]
        if transport and not out.closes:
            for s, (kind, msg) in out.failures.items():
                if kind in (UNKNOWN, NO_DATA, OTHER):
                    out.failures[s] = (transport[0], msg)
        return out

    def names(self, symbols: list[str]) -> dict[str, str]:
        """Each symbol's long name from Yahoo's metadata; a name is a nicety, never a failure."""
        import yfinance as yf

        out = {}
        for s in symbols:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    meta = yf.Ticker(s, session=self.session).get_history_metadata()
            except Exception:  # noqa: BLE001 - a name is a nicety, never a failure
                continue
            name = (meta or {}).get("longName") or (meta or {}).get("shortName")
            if name:
                out[s] = str(name)
        return out


class YahooProvider(CachedLiveProvider):
    """The default provider: Yahoo's fetch inside the cache layer (``live``)."""

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
        _configure_yfinance(cache.directory / "yfinance")
        fetch = YahooFetch(session=session, timeout=timeout)
        super().__init__(
            fetch,
            cache,
            name=PROVIDER,
            label="Yahoo Finance",
            short="Yahoo",
            fallback=fallback,
            describe=fetch.names,
            now=now,
            retries=retries,
            backoff=backoff,
            sleep=sleep,
            overlap_days=overlap_days,
        )
        self.yahoo = fetch

    @property
    def download_calls(self) -> int:
        """How many ``yf.download`` calls this provider made (the tests count them)."""
        return self.yahoo.calls


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


def _clip(text: str, limit: int = 600) -> str:
    """A library's message, kept whole up to ``limit`` characters, else cut between words
    (a cut inside a host name or a URL reads as a different one)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip() + " …"
