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

import datetime as dt
import logging
import os
import warnings as _warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from .files import open_regular
from .metrics import DROPPED

log = logging.getLogger(__name__)

#: Largest CSV read (a century of daily bars is about 2 MB).
MAX_CSV_BYTES = 64_000_000

#: ``series.attrs`` key: the data-quality warnings of the series (as ``PriceSet.warnings``).
WARNINGS = "warnings"


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


def _rows(n: int) -> str:
    return f"{n} row{'s' if n != 1 else ''}"


def clean_closes(symbol: str, dates: pd.Series, closes: pd.Series) -> tuple[pd.Series, list[str]]:
    """A clean close series: parsed dates, ascending, unique, positive finite values.

    Rows with an unreadable date, or a missing, non-numeric, infinite, zero or
    negative close are dropped; unsorted rows are sorted; of rows sharing a
    date the last one (in file order) is kept. Each repair is one warning that
    counts the rows and names the first one. The dates of rows dropped for a
    bad close go to ``series.attrs["dropped"]`` (read by ``metrics``), so a
    figure that needs one of those closes is n/a instead of silently using an
    older close; ``series.attrs["warnings"]`` repeats the warnings, so they
    travel with the series through providers that wrap this one.
    """
    warnings: list[str] = []
    raw_dates = pd.Series(dates).reset_index(drop=True)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")  # "could not infer format": mixed inputs are expected
        idx = pd.to_datetime(raw_dates, errors="coerce")
    values = pd.to_numeric(pd.Series(closes).reset_index(drop=True), errors="coerce")
    s = pd.Series(values.to_numpy(dtype="float64"), index=pd.DatetimeIndex(idx), name=symbol)
    unreadable = s.index.isna()
    if unreadable.any():
        first = raw_dates[unreadable].iloc[0]
        warnings.append(
            f"{_rows(int(unreadable.sum()))} with an unreadable date dropped (first: {first!r})"
        )
        s = s[~unreadable]
    s.index = s.index.normalize()
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(s.to_numpy()) & (s.to_numpy() > 0))  # NaN, inf, zero, negative
    dropped: list[dt.date] = []
    if bad.any():
        dropped = sorted({d.date() for d in s.index[bad]})
        warnings.append(
            f"{_rows(int(bad.sum()))} with a missing, non-numeric, zero or negative close "
            f"dropped (first {dropped[0]})"
        )
        s = s[~bad]
    if not s.index.is_monotonic_increasing:
        warnings.append("rows were not in date order; sorted")
        s = s.sort_index(kind="mergesort")  # stable: rows of one date keep their file order
    dup = s.index.duplicated(keep="last")
    if dup.any():
        days = sorted({d.date() for d in s.index[dup]})
        warnings.append(
            f"{_rows(int(dup.sum()))} with a duplicate date dropped, the last row of each date "
            f"kept (first {days[0]})"
        )
        s = s[~dup]
    if dropped:  # a date dropped as bad but also on a good row is not missing
        have = set(s.index[s.index.isin(pd.DatetimeIndex(dropped))].date)
        dropped = [d for d in dropped if d not in have]
    s.attrs[DROPPED] = tuple(dropped)
    s.attrs[WARNINGS] = tuple(warnings)
    return s, warnings


def data_warnings(prices: PriceSet, symbol: str) -> list[str]:
    """The data-quality warnings of ``symbol``'s series, whichever provider passed it on."""
    found = list(prices.warnings.get(symbol, []))
    series = prices.closes.get(symbol)
    if series is not None:
        found += [w for w in series.attrs.get(WARNINGS, ()) if w not in found]
    return found


def symbol_file_name(symbol: str) -> str:
    return f"{symbol}.csv"


class CsvDirectoryProvider:
    """Daily bars from ``SYMBOL.csv`` files (columns by name: Date, Close).

    The sample vault's bundled data and a user's own ``--data DIR`` both use it.
    """

    def __init__(
        self, directory: Path, *, label: str, kind: str = "csv", confine: Path | None = None
    ) -> None:
        self.directory = directory
        self.name = label
        self.kind = kind
        #: Read only files whose real path is under this folder (a vault's bundled data:
        #: a symlink in a shared vault must not read files from elsewhere on the machine).
        self.confine = confine.resolve() if confine is not None else None
        self._memo: dict[str, tuple[float, pd.Series, list[str]]] = {}

    def _find(self, symbol: str) -> Path | None:
        exact = self.directory / symbol_file_name(symbol)
        if os.path.lexists(exact):
            return exact
        want = symbol_file_name(symbol).lower()
        if self.directory.is_dir():
            for p in self.directory.iterdir():
                if p.name.lower() == want:
                    return p
        return None

    def _read(self, symbol: str, path: Path) -> tuple[pd.Series, list[str]]:
        with open_regular(path) as fh:  # never a pipe or a device: they would hang the run
            mtime = os.fstat(fh.fileno()).st_mtime_ns
            hit = self._memo.get(symbol)
            if hit and hit[0] == mtime:
                return hit[1], hit[2]
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_CSV_BYTES:
                raise ValueError(
                    f"{path.name} is {size / 1e6:.0f} MB; daily closes of a century are ~2 MB, "
                    f"so files over {MAX_CSV_BYTES / 1e6:.0f} MB are not read"
                )
            frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
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
            if self.confine is not None and not path.resolve().is_relative_to(self.confine):
                out.missing[symbol] = f"{path.name} links outside the vault; not read"
                continue
            try:
                series, warnings = self._read(symbol, path)
            except (OSError, ValueError) as exc:
                out.missing[symbol] = f"cannot read {path.name}: {exc}"
                continue
            if series.empty:
                why = f" ({'; '.join(warnings)})" if warnings else ""
                out.missing[symbol] = f"{path.name} holds no usable rows{why}"
                continue
            for w in warnings:  # each note that uses the symbol lists them too
                log.info("%s: %s", path.name, w)
            out.closes[symbol] = series
            out.warnings[symbol] = warnings
            out.sources[symbol] = SymbolSource(
                self.name, self.kind, series.index[-1].date().isoformat()
            )
        return out
