"""The cache database: its file, its tables and version, and the check that a database
is a sound price cache of ours (``check_cache``), with the SQLite errors that say it is not."""

from __future__ import annotations

import sqlite3

DB_NAME = "prices.sqlite3"
SCHEMA_VERSION = 1
#: How long to wait for another process's write before this run goes on without the cache.
BUSY_TIMEOUT = 30.0
#: The files SQLite keeps beside the database; moved aside with it.
SIDE_FILES = ("-wal", "-shm", "-journal")

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

#: Every table of the schema and its columns, in order: anything else is not our cache.
TABLES = {
    "meta": ["key", "value"],
    "bars": ["symbol", "date", "close"],
    "fetches": [
        "id",
        "symbol",
        "provider",
        "fetched_at",
        "outcome",
        "message",
        "first_date",
        "last_date",
        "rows",
    ],
    "symbols": ["symbol", "name", "updated_at"],
}


class _NotACache(Exception):
    """The database cannot be read as our price cache (corrupt, not SQLite, another schema).

    Internal to the cache package (hence the underscore): it never leaves ``opening`` and
    ``aside``, which turn it into a move aside or a ``CacheUnusable``."""


class _NewerCache(_NotACache):
    """A sound cache of a newer rotation-notes: not ours to move aside (another install on
    this machine is using it), so it is left as it is and this run keeps prices in memory."""


def sqlite_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (the extended code's low byte)."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def corrupt(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) and sqlite_code(exc) in (
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
    )


def unreadable(exc: sqlite3.Error) -> str:
    if sqlite_code(exc) == sqlite3.SQLITE_NOTADB:
        return f"it is not an SQLite database ({exc})"
    return f"it is damaged ({exc})"


def environmental(exc: BaseException) -> bool:
    """Errors the disk, the file or other programs cause, as opposed to a bug in our SQL."""
    return isinstance(exc, (sqlite3.OperationalError, OSError)) or (
        type(exc) is sqlite3.DatabaseError or corrupt(exc)
    )


def check_cache(db: sqlite3.Connection) -> bool:
    """Raise ``_NotACache`` unless ``db`` is a sound price cache of this or an older version.

    Returns True for an empty database (a new cache). ``quick_check`` reads every page, so
    damage anywhere is found, not only in the pages this run would happen to read.
    """
    try:
        problems = [r[0] for r in db.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        if corrupt(exc):
            raise _NotACache(unreadable(exc)) from exc
        raise
    if problems != ["ok"]:
        more = f" and {len(problems) - 1} more problems" if len(problems) > 1 else ""
        raise _NotACache(f"it is damaged: {problems[0]}{more}")
    tables = {
        name
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith("sqlite_")
    }
    if not tables:
        return True
    if tables != set(TABLES):
        raise _NotACache(
            f"it is not a rotation-notes price cache (its tables: {', '.join(sorted(tables))})"
        )
    for table, columns in TABLES.items():
        have = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        if have != columns:
            raise _NotACache(
                f"it is not a rotation-notes price cache (table {table} has columns "
                f"{', '.join(have)})"
            )
    extra = [
        f"{kind} {name}"
        for kind, name in db.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view')"
        )
    ]
    if extra:  # code that would run inside our writes: not ours
        raise _NotACache(f"it is not a rotation-notes price cache (it holds {', '.join(extra)})")
    (bad,) = db.execute(
        "SELECT count(*) FROM bars WHERE typeof(close) != 'real' OR NOT (close > 0) "
        "OR typeof(date) != 'text' OR length(date) != 10 "
        "OR date NOT GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]' "
        "OR date < '1800-01-01' OR date > '2199-12-31'"
    ).fetchone()
    if bad:
        raise _NotACache(f"it is damaged: {bad} price rows are not a date and a close")
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = row[0] if row else str(SCHEMA_VERSION)
    if not str(version).isdigit():
        raise _NotACache(f"its schema version is {version!r}")
    if int(version) > SCHEMA_VERSION:
        raise _NewerCache(
            f"it was written by a newer rotation-notes (schema version {version}; "
            f"this version reads {SCHEMA_VERSION})"
        )
    return False


def create_schema(db: sqlite3.Connection) -> None:
    # IF NOT EXISTS: another run may create it at the same moment; one transaction with the
    # version, so a kill never leaves tables without it.
    db.executescript(
        "BEGIN IMMEDIATE;"
        + _SCHEMA
        + f"INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');"
        + "COMMIT;"
    )
