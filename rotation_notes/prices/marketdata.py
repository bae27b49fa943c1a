"""What every provider answers with, the cleaning every close series gets, and the CSV
folder provider.

Every provider answers one batched question, ``load(symbols)``, with a
:class:`PriceSet`: a daily close series per symbol (exchange-local dates, no
time zone, ascending, unique) and, per symbol, a :class:`SymbolSource` saying
where it came from, whether it is live, cached or bundled, and (``status``)
whether it is as fresh as asked for. Missing symbols are reported, not raised,
so one bad symbol fails only the notes that use it.

``clean_closes`` is the one set of rules for a close series, whichever provider
read it (bad, duplicate, unsorted rows and impossible closes dropped, each with
a warning). :class:`CsvDirectoryProvider` reads ``SYMBOL.csv`` files: a vault's
bundled data and ``--data DIR``.

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
from typing import Any, Protocol

import numpy as np
import pandas as pd

from rotation_notes.prices.source import SymbolSource
from rotation_notes.thesis.metrics import DROPPED
from rotation_notes.vault.files import open_regular, stays_inside

log = logging.getLogger(__name__)

#: Largest CSV read (a century of daily bars is about 2 MB).
MAX_CSV_BYTES = 64_000_000

#: ``series.attrs`` key: the data-quality warnings of the series (as ``PriceSet.warnings``).
WARNINGS = "warnings"


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
    #: When these prices were asked for (``mark_asked`` sets it, for ``refresh`` and
    #: ``load_prices``): a note whose data ends far before the last session closed by then
    #: says so. None: nothing to compare with (output that does not depend on the day).
    asked_at: dt.datetime | None = field(default=None, init=False)
    #: Figures computed from these prices, shared by every note of a run (``Facts.stats``):
    #: each symbol's statistics once per session, not once per note.
    memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)


class MarketDataProvider(Protocol):
    """What every provider implements: one batched load for all symbols of a run."""

    name: str

    def load(self, symbols: Sequence[str]) -> PriceSet: ...


def _rows(n: int) -> str:
    return f"{n} row{'s' if n != 1 else ''}"


# Closes that cannot be right for the series. Daily adjusted closes of ETFs, indices and
# single stocks (and the odd crypto pair) are judged; the numbers leave a wide margin round
# everything real, because a real close dropped is a figure lost, while an impossible one
# kept is a figure silently wrong.

#: No traded instrument closes outside this range. The cheapest quotes are crypto pairs
#: around 1e-6 to 1e-9 and penny stocks at 1e-4; the dearest are a few indices in the
#: millions and Berkshire A near 1e6. A value past either end is a units or parsing fault
#: (1e-300, 1e308), and would make every figure that uses it absurd.
MIN_CLOSE = 1e-10
MAX_CLOSE = 1e12

#: A close more than this many times above, or below, the closes on both sides of it is
#: a spike that reverts, and is dropped. The largest real one-day moves are a fraction of
#: it: ^GSPC -20.5% on 1987-10-19 (x1.26), and at most x1.26 on any day of the bundled
#: data (1927-2026, the 1929, 1987, 2008 and 2020 crashes included). A single stock can
#: gain a few hundred percent (x5) or lose 90% (x10) in a day, but not both at once and
#: back the next day; the usual faults are x10 (a shifted decimal), x100 (cents for
#: dollars, pence for pounds) and x1000.
SPIKE_FACTOR = 10.0

#: The first and the last row have one neighbour, so a spike cannot be told from a real
#: move that the next session would confirm: only one this far from its neighbour is
#: dropped. A real crash on the last day (-90%, x10) is kept.
EDGE_SPIKE_FACTOR = 100.0

#: A spike may last a few rows (a week of prices in the wrong unit): a run of at most
#: this many rows, all more than ``SPIKE_FACTOR`` above (or all below) the closes on both
#: sides of the run, is dropped the same way. A longer one is a level shift.
MAX_SPIKE_ROWS = 5


def _far(a: float, b: float, factor: float) -> bool:
    """Whether ``a`` is more than ``factor`` times above or below ``b``."""
    return bool(a > b * factor or a * factor < b)


def _spikes(values: np.ndarray) -> np.ndarray:
    """Which of these (positive, in-range, date-ordered) closes are spikes; see clean_closes."""
    n = len(values)
    out = np.zeros(n, dtype=bool)
    if n < 3:
        return out  # two closes far apart: which one is wrong cannot be told
    factor, edge = SPIKE_FACTOR, EDGE_SPIKE_FACTOR
    # at either end: far from its one neighbour, which agrees with the one beyond it
    out[0] = _far(values[0], values[1], edge) and not _far(values[1], values[2], factor)
    out[-1] = _far(values[-1], values[-2], edge) and not _far(values[-2], values[-3], factor)
    last_anchor = n - 2 if out[-1] else n - 1
    ratio = values[1:] / values[:-1]
    for j in (np.flatnonzero((ratio > factor) | (ratio * factor < 1)) + 1).tolist():
        if out[j - 1] or out[j]:
            continue  # the close before is itself a spike: it anchors nothing
        before = values[j - 1]
        for k in range(j + 1, min(j + MAX_SPIKE_ROWS, last_anchor) + 1):
            run, after = values[j:k], values[k]
            if (run > max(before, after) * factor).all() or (
                run * factor < min(before, after)
            ).all():
                out[j:k] = True
                break
    return out


def _times(ratio: float) -> str:
    """A one-day move as a factor: ``×49.5``, ``×1,000``, or ``÷50`` for a fall to a fiftieth."""
    sign, r = ("×", ratio) if ratio >= 1 else ("÷", 1 / ratio)
    return sign + (f"{r:.3g}" if r < 100 else f"{r:,.0f}" if r < 1e6 else f"{r:.1e}")


_TIME_AFTER_DAY = r"^(\d{4}-\d{2}-\d{2})[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
#: The length of the shortest text ``_TIME_AFTER_DAY`` matches ("2026-08-21 00:00"): a file
#: of plain dates is not searched row by row (a quarter of reading a century of closes).
_SHORTEST_TIME_AFTER_DAY = 16


def clean_closes(
    symbol: str, dates: pd.Series, closes: pd.Series, *, outliers: bool = True
) -> tuple[pd.Series, list[str]]:
    """A clean close series: parsed dates, ascending, unique, positive finite values.

    Rows with an unreadable date, or a missing, non-numeric, infinite, zero or
    negative close are dropped; unsorted rows are sorted; of rows sharing a
    date the last one (in file order) is kept. Then the closes that cannot be
    right for the series are dropped too:

    - a close outside ``MIN_CLOSE`` to ``MAX_CLOSE`` (1e-10 to 1e12): no traded
      instrument is there (dropped before duplicates are resolved, like NaN);
    - a spike: a close more than ``SPIKE_FACTOR`` (10) times above, or below,
      the closes on both sides of it, or a run of up to ``MAX_SPIKE_ROWS`` (5)
      such closes; at the first or last row, which has one neighbour, only a
      close more than ``EDGE_SPIKE_FACTOR`` (100) times from it, so a real
      crash on the last day is kept.

    A move of more than ``SPIKE_FACTOR`` that persists (an unadjusted split or
    a real collapse) is kept, since dropping the rows after it would drop the
    rest of the series, and is warned about instead. The constants above say
    why these numbers; docs/frontmatter.md says it for users.

    Each repair is one warning that counts the rows and names the first one
    and the rule. The dates of rows dropped for a bad close go to
    ``series.attrs["dropped"]`` (read by ``metrics``), so a figure that needs
    one of those closes is n/a instead of silently using an older close;
    ``series.attrs["warnings"]`` repeats the warnings, so they travel with the
    series through providers that wrap this one.

    ``outliers=False`` skips the rules that judge a close by its size (range,
    spikes, moves): for a live fetch of a few recent sessions, which the cache
    stores as sent and which is judged with the whole history when read back.
    """
    warnings: list[str] = []
    raw_dates = pd.Series(dates).reset_index(drop=True)
    # A time and a UTC offset after the day ("2026-08-21 00:00:00-04:00", as yfinance writes
    # its CSVs) name the exchange's own day: keep that day, drop the rest.
    local = raw_dates.astype(str)
    if (local.str.len() >= _SHORTEST_TIME_AFTER_DAY).any():  # else none can match: skip
        local = local.str.replace(_TIME_AFTER_DAY, r"\1", regex=True)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")  # "could not infer format": mixed inputs are expected
        try:
            idx = pd.to_datetime(local, errors="coerce")
        except (TypeError, ValueError):  # mixed zones pandas will not put on one axis
            idx = pd.to_datetime(local, errors="coerce", utc=True)
    if getattr(idx.dt, "tz", None) is not None:
        idx = idx.dt.tz_localize(None)
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
    if outliers:
        values = s.to_numpy()
        impossible = (values < MIN_CLOSE) | (values > MAX_CLOSE)
        if impossible.any():
            days = sorted({d.date() for d in s.index[impossible]})
            warnings.append(
                f"{_rows(int(impossible.sum()))} with a close outside any traded range "
                f"({MIN_CLOSE:g} to {MAX_CLOSE:g}) dropped (first {days[0]})"
            )
            dropped = sorted({*dropped, *days})
            s = s[~impossible]
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
    if outliers:
        spikes = _spikes(s.to_numpy())
        if spikes.any():
            days = [d.date() for d in s.index[spikes]]
            warnings.append(
                f"{_rows(len(days))} with a one-day spike (a close over {SPIKE_FACTOR:g}× above "
                f"or below both neighbours; {EDGE_SPIKE_FACTOR:g}× at the first or last row) "
                f"dropped (first {days[0]})"
            )
            dropped = sorted({*dropped, *days})
            s = s[~spikes]
        ratio = s.to_numpy()[1:] / s.to_numpy()[:-1]
        moves = np.flatnonzero((ratio > SPIKE_FACTOR) | (ratio * SPIKE_FACTOR < 1))
        if moves.size:
            first = f"{_times(float(ratio[moves[0]]))} on {s.index[moves[0] + 1].date()}"
            warnings.append(
                f"a one-day move of {first}, kept: a split not adjusted for?"
                if moves.size == 1
                else f"{moves.size} one-day moves of over {SPIKE_FACTOR:g}×, kept (first {first}): "
                "splits not adjusted for?"
            )
    s.attrs[DROPPED] = tuple(dropped)
    s.attrs[WARNINGS] = tuple(warnings)
    return s, warnings


def clean_series(series: pd.Series) -> pd.Series:
    """``clean_closes`` over a series read from elsewhere (the cache), warnings in its attrs."""
    values = pd.Series(series.to_numpy(dtype="float64"))
    cleaned, _ = clean_closes(str(series.name), pd.Series(series.index), values)
    return cleaned


def mark_asked(prices: PriceSet, now: dt.datetime) -> None:
    """Record in ``prices`` when they were asked for, so that rendering can say how far behind
    a note's data is (``builders.data_behind``). Each note is measured by its own data alone:
    what else the run loaded changes nothing in it."""
    prices.asked_at = now


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
        self._memo: dict[str, tuple[tuple[int, ...], pd.Series, list[str]]] = {}

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
            st = os.fstat(fh.fileno())
            # by size, both times and inode: a sync tool that restores the mtime still shows
            mtime = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
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
        cols: dict[str, str] = {}
        for c in frame.columns:
            key = str(c).strip().lower()
            if key in cols and key in ("date", "close"):
                raise ValueError(f"{path.name} has two '{key}' columns; which one holds it?")
            cols[key] = c
        if "date" not in cols or "close" not in cols:
            raise ValueError(
                f"{path.name} needs 'Date' and 'Close' columns, has {list(frame.columns)}"
            )
        series, warnings = clean_closes(symbol, frame[cols["date"]], frame[cols["close"]])
        self._memo[symbol] = (mtime, series, warnings)
        return series, warnings

    def dependencies(self, symbols: Sequence[str]) -> list[tuple[str, str]]:
        """What ``load(symbols)`` reads: the folder's listing (a file added there counts) and
        each symbol's file, as ("dir" | "file", path)."""
        deps = [("dir", str(self.directory))]
        for symbol in symbols:
            path = self._find(symbol)
            if path is not None:
                deps.append(("file", str(path)))
        return deps

    def load(self, symbols: Sequence[str]) -> PriceSet:
        out = PriceSet()
        for symbol in symbols:
            path = self._find(symbol)
            if path is None:
                out.missing[symbol] = f"no {symbol_file_name(symbol)} in {self.name}"
                continue
            if self.confine is not None and not stays_inside(path, self.confine):
                out.missing[symbol] = f"{path.name} links outside the vault; not read"
                continue
            try:
                series, warnings = self._read(symbol, path)
            except OSError as exc:  # its text names the file by its full path: notes show this
                out.missing[symbol] = f"cannot read {path.name}: {exc.strerror or exc}"
                continue
            except ValueError as exc:
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


def load_prices(folder: Path | str, symbols: Sequence[str]) -> PriceSet:
    """Daily closes of ``symbols`` from a folder of ``SYMBOL.csv`` files (Date, Close).

    Cleaned as every provider's prices are (bad rows dropped, with warnings); a symbol
    without a usable file is in ``missing`` with the reason. For scripts using the API.
    Marked as asked for now (``mark_asked``), as in a refresh: a note whose data ends far
    before today says so (set ``asked_at = None`` for output that does not depend on the
    day).
    """
    from rotation_notes.clock import now_utc

    directory = Path(folder)
    prices = CsvDirectoryProvider(directory, label=f"CSV ({directory.name}/)").load(symbols)
    mark_asked(prices, now_utc())
    return prices
