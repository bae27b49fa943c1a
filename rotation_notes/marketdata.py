"""Market data: the only module that reads prices from outside the note.

Every provider answers one batched question, ``load(symbols)``, with a
:class:`PriceSet`: a daily close series per symbol (exchange-local dates, no
time zone, ascending, unique) and, per symbol, where it came from and whether
it is live, cached or bundled. Missing symbols are reported, not raised, so
one bad symbol fails only the notes that use it.

Price basis: closes adjusted for splits and dividends (Yahoo's adjusted
close, as yfinance's ``auto_adjust=True`` gives it). Returns computed from one
series are unaffected by the basis; absolute levels differ slightly from
quoted prices after a dividend.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SymbolSource:
    provider: str  # e.g. "bundled CSV (market-data/)"
    kind: str  # "live" | "cache" | "bundled" | "csv"
    last_session: str | None  # YYYY-MM-DD
    message: str = ""  # e.g. "live fetch failed: network unreachable"


@dataclass
class PriceSet:
    closes: dict[str, pd.Series] = field(default_factory=dict)
    sources: dict[str, SymbolSource] = field(default_factory=dict)
    #: symbol -> why it has no data
    missing: dict[str, str] = field(default_factory=dict)
    #: symbol -> data-quality warnings (rows dropped and why)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    #: symbol -> why the provider says the symbol does not exist (an error for its notes)
    unknown: dict[str, str] = field(default_factory=dict)
    #: symbol -> descriptive name the provider knows (the note's own names win)
    names: dict[str, str] = field(default_factory=dict)


class MarketDataProvider(Protocol):
    """What every provider implements: one batched load for all symbols of a run."""

    name: str

    def load(self, symbols: Sequence[str]) -> PriceSet: ...


def clean_closes(symbol: str, dates: pd.Series, closes: pd.Series) -> tuple[pd.Series, list[str]]:
    """A clean close series: parsed dates, ascending, unique, positive finite values."""
    warnings: list[str] = []
    idx = pd.to_datetime(dates, errors="coerce")
    values = pd.to_numeric(closes, errors="coerce")
    s = pd.Series(values.to_numpy(dtype="float64"), index=pd.DatetimeIndex(idx), name=symbol)
    bad_dates = int(s.index.isna().sum())
    if bad_dates:
        warnings.append(f"{bad_dates} row(s) with an unreadable date dropped")
        s = s[~s.index.isna()]
    s.index = s.index.normalize()
    bad = ~(s > 0)  # NaN, zero and negative closes
    if bad.any():
        warnings.append(f"{int(bad.sum())} row(s) with a missing, zero or negative close dropped")
        s = s[~bad]
    if not s.index.is_monotonic_increasing:
        warnings.append("rows were not in date order; sorted")
        s = s.sort_index(kind="mergesort")
    dup = s.index.duplicated(keep="last")
    if dup.any():
        warnings.append(f"{int(dup.sum())} duplicate date(s); kept the last row of each")
        s = s[~dup]
    return s, warnings


def symbol_file_name(symbol: str) -> str:
    return f"{symbol}.csv"


class CsvDirectoryProvider:
    """Daily bars from ``SYMBOL.csv`` files (columns by name: Date, Close).

    The sample vault's bundled data and a user's own ``--data DIR`` both use it.
    """

    def __init__(self, directory: Path, *, label: str, kind: str = "csv") -> None:
        self.directory = directory
        self.name = label
        self.kind = kind
        self._memo: dict[str, tuple[float, pd.Series, list[str]]] = {}

    def _find(self, symbol: str) -> Path | None:
        exact = self.directory / symbol_file_name(symbol)
        if exact.is_file():
            return exact
        want = symbol_file_name(symbol).lower()
        if self.directory.is_dir():
            for p in self.directory.iterdir():
                if p.name.lower() == want:
                    return p
        return None

    def _read(self, symbol: str, path: Path) -> tuple[pd.Series, list[str]]:
        mtime = path.stat().st_mtime_ns
        hit = self._memo.get(symbol)
        if hit and hit[0] == mtime:
            return hit[1], hit[2]
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        cols = {c.strip().lower(): c for c in frame.columns}
        if "date" not in cols or "close" not in cols:
            raise ValueError(
                f"{path.name} needs 'Date' and 'Close' columns, has {list(frame.columns)}"
            )
        series, warnings = clean_closes(symbol, frame[cols["date"]], frame[cols["close"]])
        self._memo[symbol] = (mtime, series, warnings)
        return series, warnings

    def load(self, symbols: Sequence[str]) -> PriceSet:
        out = PriceSet()
        for symbol in symbols:
            path = self._find(symbol)
            if path is None:
                out.missing[symbol] = f"no {symbol_file_name(symbol)} in {self.name}"
                continue
            try:
                series, warnings = self._read(symbol, path)
            except (OSError, ValueError) as exc:
                out.missing[symbol] = f"cannot read {path.name}: {exc}"
                continue
            if series.empty:
                out.missing[symbol] = f"{path.name} holds no usable rows"
                continue
            for w in warnings:
                log.warning("%s: %s", path.name, w)
            out.closes[symbol] = series
            out.warnings[symbol] = warnings
            out.sources[symbol] = SymbolSource(
                self.name, self.kind, series.index[-1].date().isoformat()
            )
        return out
