"""The price cache: an embedded SQLite database outside the vault.

WAL mode, and every fetch is stored in one transaction together with its entry
in the fetch log, so a run killed at any moment leaves the cache as it was
before that fetch or with the whole fetch in it, never half of one.

Default location: the platform's user cache directory (``platformdirs``), e.g.
``~/.cache/rotation-notes/prices.sqlite3`` on Linux. Override it with
``cache_dir`` in the vault's ``rotation-notes.toml``, ``--cache DIR`` or the
``ROTATION_NOTES_CACHE`` environment variable. Deleting the folder clears it.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import platformdirs

from .marketdata import PriceSet, clean_series

DB_NAME = "prices.sqlite3"
SCHEMA_VERSION = 1
ENV_VAR = "ROTATION_NOTES_CACHE"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bars (
    symbol TEXT NOT NULL,
    date TEXT NOT NULL,            -- exchange-local session date, YYYY-MM-DD
    close REAL NOT NULL,           -- adjusted for splits and dividends
    PRIMARY KEY (symbol, date)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fetches (
    id INTEGER PRIMARY KEY,
    symbol TEXT NOT NULL,
    provider TEXT NOT NULL,
    fetched_at TEXT NOT NULL,      -- UTC, ISO 8601
    outcome TEXT NOT NULL,         -- ok | revised | failed: <class>
    message TEXT NOT NULL DEFAULT '',
    first_date TEXT,
    last_date TEXT,
    rows INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS fetches_symbol ON fetches (symbol, id);
CREATE TABLE IF NOT EXISTS symbols (
    symbol TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""


def default_cache_dir() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("rotation-notes", appauthor=False))


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


class PriceCache:
    """Daily closes by symbol and date, plus what was fetched when and how it went."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / DB_NAME
        directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reading -------------------------------------------------------------

    def closes(self, symbol: str) -> pd.Series:
        rows = self._db.execute(
            "SELECT date, close FROM bars WHERE symbol = ? ORDER BY date", (symbol,)
        ).fetchall()
        index = pd.DatetimeIndex([r[0] for r in rows], dtype="datetime64[ns]")
        return pd.Series([r[1] for r in rows], index=index, name=symbol, dtype="float64")

    def last_date(self, symbol: str) -> dt.date | None:
        (last,) = self._db.execute(
            "SELECT max(date) FROM bars WHERE symbol = ?", (symbol,)
        ).fetchone()
        return dt.date.fromisoformat(last) if last else None

    def last_fetch(self, symbol: str, *, ok_only: bool = False) -> FetchRecord | None:
        where = "AND outcome IN ('ok', 'revised')" if ok_only else ""
        row = self._db.execute(
            f"SELECT symbol, provider, fetched_at, outcome, message, rows FROM fetches "
            f"WHERE symbol = ? {where} ORDER BY id DESC LIMIT 1",
            (symbol,),
        ).fetchone()
        return FetchRecord(*row) if row else None

    def newest(self, symbol: str, bundled: PriceSet | None) -> tuple[pd.Series, str, str] | None:
        """(closes, kind, provider) from the cache or the bundled data, whichever is newer.

        The cached closes are cleaned as every provider's are (``clean_series``): the cache
        holds what Yahoo sent, or what an older version stored.
        """
        choices = []
        cached = clean_series(self.closes(symbol))
        if not cached.empty:
            choices.append((cached, "cache", f"cache ({self.directory})"))
        if bundled is not None and symbol in bundled.closes:
            src = bundled.sources[symbol]
            choices.append((bundled.closes[symbol], src.kind, src.provider))
        return max(choices, key=lambda c: c[0].index[-1]) if choices else None

    def name(self, symbol: str) -> str | None:
        row = self._db.execute("SELECT name FROM symbols WHERE symbol = ?", (symbol,)).fetchone()
        return row[0] if row else None

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

    def set_name(self, symbol: str, name: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO symbols VALUES (?, ?, ?)", (symbol, name, utcnow()))
