"""The price cache's rows: daily closes by symbol and date, the fetch log and the
symbols' names (:class:`PriceCache`).

WAL mode, and every fetch is stored in one transaction together with its entry
in the fetch log, so a run killed at any moment leaves the cache as it was
before that fetch or with the whole fetch in it, never half of one.

A cache that fails under a read or a write mid-run (locked past the timeout, a
full disk, damage found) is left as it is: the run warns and goes on with a
copy of its prices in memory.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from rotation_notes.prices.cache.opening import CacheFile, CacheUnusable, going_on, memory_copy
from rotation_notes.prices.cache.schema import BUSY_TIMEOUT, DB_NAME, corrupt, environmental

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchRecord:
    symbol: str
    provider: str
    fetched_at: str
    outcome: str
    message: str
    rows: int


@dataclass(frozen=True)
class SymbolStatus:
    symbol: str
    first: str | None
    last: str | None
    rows: int
    last_fetch: FetchRecord | None


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


_F = TypeVar("_F", bound=Callable[..., Any])


def _guarded(doing: str) -> Callable[[_F], _F]:
    """A cache method that, if the database fails under it (locked past the timeout, a full
    disk, damage found mid-run), warns and goes on with the prices in memory."""

    def wrap(method: _F) -> _F:
        @functools.wraps(method)
        def guarded(self: PriceCache, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.Error, OSError) as exc:
                if not self.persistent or not environmental(exc):
                    raise
                self._degrade(exc, doing)
            return method(self, *args, **kwargs)

        return guarded  # type: ignore[return-value]

    return wrap


class PriceCache:
    """Daily closes by symbol and date, plus what was fetched when and how it went.

    ``persistent`` is False when the cache on disk could not be used and this run keeps its
    prices in memory (``problem`` says why); ``moved_aside`` names a damaged cache that was
    replaced by a fresh one. With ``fallback=False`` an unusable cache raises
    ``CacheUnusable`` instead (``data status``, ``data fetch``).
    """

    def __init__(
        self, directory: Path, *, fallback: bool = True, timeout: float = BUSY_TIMEOUT
    ) -> None:
        self.directory = directory
        self.timeout = timeout
        self.persistent = True
        self.problem: str | None = None
        self._file = CacheFile(directory, timeout)
        self.path = self._file.path
        try:
            self._db = self._file.open()
        except CacheUnusable as exc:
            if not fallback:
                raise
            self.persistent, self.problem = False, exc.message
            self._db, copied = memory_copy(self._file.read_only)
            log.warning("%s; %s. %s", exc.message, going_on(copied), exc.hint)

    @property
    def moved_aside(self) -> Path | None:
        """A damaged cache found at open, moved aside (kept for inspection) and replaced."""
        return self._file.moved_aside

    def dependencies(self) -> list[tuple[str, str]] | None:
        """The files a read of this cache depends on, as (kind, path) (``refresh._dep_record``):
        the folder's listing (a cache set aside or replaced), the database, its journals.
        None for a cache that could not be used as it is (each run says so again)."""
        if not self.persistent or self.moved_aside is not None:
            return None
        db = str(self.directory / DB_NAME)
        # "journal": a side file that is absent or empty while no write is pending (SQLite
        # keeps an empty -wal while a connection is open); -shm changes on reads
        return [("dir", str(self.directory)), ("file", db)] + [
            ("journal", db + side) for side in ("-wal", "-journal")
        ]

    def close(self) -> None:
        self._db.close()

    def _degrade(self, exc: BaseException, doing: str) -> None:
        """The cache failed mid-run: go on in memory, with a copy of what it held."""
        old = self._db
        if old.in_transaction:
            with suppress(sqlite3.Error):
                old.execute("ROLLBACK")
        if corrupt(exc):
            what, hint = f"it is damaged ({exc})", "the next run moves it aside and starts afresh"
        else:
            what, hint = self._file.diagnose(exc)
        self.persistent, self.problem = False, f"the price cache {self.path} failed: {what}"
        self._db, copied = memory_copy(lambda: old)
        log.warning(
            "the price cache %s failed while %s: %s; %s. %s",
            self.path,
            doing,
            what,
            going_on(copied),
            hint,
        )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    # -- reading -------------------------------------------------------------

    @_guarded("reading")
    def closes(self, symbol: str) -> pd.Series:
        rows = self._db.execute(
            "SELECT date, close FROM bars WHERE symbol = ? ORDER BY date", (symbol,)
        ).fetchall()
        index = pd.DatetimeIndex([r[0] for r in rows], dtype="datetime64[ns]")
        return pd.Series([r[1] for r in rows], index=index, name=symbol, dtype="float64")

    @_guarded("reading")
    def last_date(self, symbol: str) -> dt.date | None:
        (last,) = self._db.execute(
            "SELECT max(date) FROM bars WHERE symbol = ?", (symbol,)
        ).fetchone()
        return dt.date.fromisoformat(last) if last else None

    @_guarded("reading")
    def last_fetch(self, symbol: str, *, ok_only: bool = False) -> FetchRecord | None:
        where = "AND outcome IN ('ok', 'revised')" if ok_only else ""
        row = self._db.execute(
            f"SELECT symbol, provider, fetched_at, outcome, message, rows FROM fetches "
            f"WHERE symbol = ? {where} ORDER BY id DESC LIMIT 1",
            (symbol,),
        ).fetchone()
        return FetchRecord(*row) if row else None

    @_guarded("reading")
    def name(self, symbol: str) -> str | None:
        row = self._db.execute("SELECT name FROM symbols WHERE symbol = ?", (symbol,)).fetchone()
        return row[0] if row else None

    @_guarded("reading")
    def status(self) -> list[SymbolStatus]:
        symbols = [
            r[0]
            for r in self._db.execute(
                "SELECT symbol FROM bars UNION SELECT symbol FROM fetches ORDER BY 1"
            )
        ]
        out = []
        for s in symbols:
            first, last, n = self._db.execute(
                "SELECT min(date), max(date), count(*) FROM bars WHERE symbol = ?", (s,)
            ).fetchone()
            out.append(SymbolStatus(s, first, last, n, self.last_fetch(s)))
        return out

    # -- writing (one transaction each) ---------------------------------------

    @_guarded("storing prices")
    def store(
        self,
        symbol: str,
        closes: pd.Series,
        *,
        provider: str,
        outcome: str = "ok",
        message: str = "",
        replace_all: bool = False,
        fetched_at: str | None = None,
    ) -> None:
        """Upsert ``closes`` (or replace the symbol's whole history) and log the fetch."""
        rows = [(symbol, d.date().isoformat(), float(v)) for d, v in closes.items()]
        with self._tx() as db:
            if replace_all:
                db.execute("DELETE FROM bars WHERE symbol = ?", (symbol,))
            db.executemany("INSERT OR REPLACE INTO bars VALUES (?, ?, ?)", rows)
            db.execute(
                "INSERT INTO fetches (symbol, provider, fetched_at, outcome, message, "
                "first_date, last_date, rows) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    symbol,
                    provider,
                    fetched_at or utcnow(),
                    outcome,
                    message,
                    rows[0][1] if rows else None,
                    rows[-1][1] if rows else None,
                    len(rows),
                ),
            )

    @_guarded("logging a fetch")
    def log_failure(
        self,
        symbol: str,
        *,
        provider: str,
        outcome: str,
        message: str,
        fetched_at: str | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO fetches (symbol, provider, fetched_at, outcome, message) "
                "VALUES (?, ?, ?, ?, ?)",
                (symbol, provider, fetched_at or utcnow(), outcome, message),
            )

    @_guarded("storing a name")
    def set_name(self, symbol: str, name: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO symbols VALUES (?, ?, ?)", (symbol, name, utcnow()))
