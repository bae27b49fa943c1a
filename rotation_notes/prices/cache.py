"""The price cache: an embedded SQLite database outside the vault.

WAL mode, and every fetch is stored in one transaction together with its entry
in the fetch log, so a run killed at any moment leaves the cache as it was
before that fetch or with the whole fetch in it, never half of one.

Default location: the platform's user cache directory (``platformdirs``), e.g.
``~/.cache/rotation-notes/prices.sqlite3`` on Linux. Override it with
``cache_dir`` in the vault's ``rotation-notes.toml``, ``--cache DIR`` or the
``ROTATION_NOTES_CACHE`` environment variable. Deleting the folder clears it.

A cache is only a cache, so it never stops a run:

- one that cannot be read (not an SQLite file, damaged, or not ours: other
  tables or columns, a newer schema) is checked for at open with ``PRAGMA
  quick_check`` (milliseconds for a cache of a few MB), moved aside with its
  ``-wal``/``-shm`` files as ``prices.sqlite3.corrupt-YYYYMMDD-HHMMSS`` for
  inspection, and a fresh one is started, with a warning naming both;
- one that cannot be used for any other reason (the folder is a file, no
  permission, a read-only disk, locked by another program past the timeout, a
  full disk), at open or later in the run, is never moved or deleted: it may
  be the user's file. A warning says what is wrong and what to do, and the run
  goes on with the prices in memory (a copy of what the cache held, where it
  can still be read). ``data status`` and ``data fetch``, which are about the
  cache itself, report it as an error instead.
"""

from __future__ import annotations

import datetime as dt
import errno
import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import platformdirs

from rotation_notes.errors import RotationNotesError
from rotation_notes.vault.files import is_regular, read_regular

log = logging.getLogger(__name__)

DB_NAME = "prices.sqlite3"
SCHEMA_VERSION = 1
ENV_VAR = "ROTATION_NOTES_CACHE"
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
_TABLES = {
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


_OTHER = "point --cache (or ROTATION_NOTES_CACHE) at another folder"
_ELSEWHERE = "fix it, or " + _OTHER


class CacheUnusable(RotationNotesError):
    """The price cache cannot be used (and was left as it is): not a folder, no permission,
    a read-only disk, locked past the timeout, a full disk."""


class _NotACache(Exception):
    """The database cannot be read as our price cache (corrupt, not SQLite, another schema)."""


class _NewerCache(_NotACache):
    """A sound cache of a newer rotation-notes: not ours to move aside (another install on
    this machine is using it), so it is left as it is and this run keeps prices in memory."""


def _code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (the extended code's low byte)."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def _corrupt(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) and _code(exc) in (
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
    )


def _unreadable(exc: sqlite3.Error) -> str:
    if _code(exc) == sqlite3.SQLITE_NOTADB:
        return f"it is not an SQLite database ({exc})"
    return f"it is damaged ({exc})"


def _environmental(exc: BaseException) -> bool:
    """Errors the disk, the file or other programs cause, as opposed to a bug in our SQL."""
    return isinstance(exc, (sqlite3.OperationalError, OSError)) or (
        type(exc) is sqlite3.DatabaseError or _corrupt(exc)
    )


def _check(db: sqlite3.Connection) -> bool:
    """Raise ``_NotACache`` unless ``db`` is a sound price cache of this or an older version.

    Returns True for an empty database (a new cache). ``quick_check`` reads every page, so
    damage anywhere is found, not only in the pages this run would happen to read.
    """
    try:
        problems = [r[0] for r in db.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        if _corrupt(exc):
            raise _NotACache(_unreadable(exc)) from exc
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
    if tables != set(_TABLES):
        raise _NotACache(
            f"it is not a rotation-notes price cache (its tables: {', '.join(sorted(tables))})"
        )
    for table, columns in _TABLES.items():
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


def _create_schema(db: sqlite3.Connection) -> None:
    # IF NOT EXISTS: another run may create it at the same moment; one transaction with the
    # version, so a kill never leaves tables without it.
    db.executescript(
        "BEGIN IMMEDIATE;"
        + _SCHEMA
        + f"INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');"
        + "COMMIT;"
    )


def _check_file(path: Path, check: Callable[[sqlite3.Connection], bool], timeout: float) -> bool:
    """Run ``check`` on the SQLite file ``path`` through a read-only connection, after a look
    at its header: SQLite then neither checkpoints into the file nor deletes its ``-wal`` when
    it closes, so a file that fails is moved aside exactly as it was found."""
    head = read_regular(path, 16)  # never a pipe: SQLite would block opening it
    if head and head != b"SQLite format 3\x00":
        raise _NotACache("it is not an SQLite database (no SQLite header)")
    uri = f"{path.absolute().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    try:
        return check(db)
    except sqlite3.Error as exc:
        if _corrupt(exc):
            raise _NotACache(_unreadable(exc)) from exc
        raise
    finally:
        db.close()


def _sound(db: sqlite3.Connection) -> bool:
    """``quick_check`` alone, for SQLite files whose schema is not ours to know."""
    problems = [r[0] for r in db.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise _NotACache(f"it is damaged: {problems[0]}")
    return False


def move_aside(path: Path) -> Path:
    """Rename an unreadable database and its side files to ``NAME.corrupt-YYYYMMDD-HHMMSS``
    (``-N`` added if taken), kept for inspection; returns the new name of the database."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = path.with_name(f"{path.name}.corrupt-{stamp}")
    aside, n = base, 0
    while any(os.path.lexists(f"{aside}{s}") for s in ("", *SIDE_FILES)):
        n += 1
        aside = base.with_name(f"{base.name}-{n}")
    # The side files first: a database put back without its WAL is whole, a WAL left
    # behind would be replayed into the next database created at this path.
    for suffix in (*SIDE_FILES, ""):
        source = Path(f"{path}{suffix}")
        if suffix and not os.path.lexists(source):
            continue
        os.rename(source, f"{aside}{suffix}")
    return aside


def set_aside_if_unreadable(path: Path, *, timeout: float = BUSY_TIMEOUT) -> Path | None:
    """Move the SQLite file ``path`` aside if it cannot be read (not SQLite, or damaged).

    For the files of other libraries in our cache folder (yfinance's), which would fail the
    same way on every run. Anything else (missing, locked, unwritable) is left as it is.
    """
    from rotation_notes.vault.lock import LockHeld, hold

    def problem() -> str | None:
        try:
            _check_file(path, _sound, timeout)
        except _NotACache as bad:
            return str(bad)
        except (sqlite3.Error, OSError):
            return None
        return None

    if not os.path.lexists(path) or problem() is None:
        return None
    try:
        with hold(path.with_name(f"{path.name}.repair.lock"), wait=timeout):
            reason = problem()  # another run may have replaced it meanwhile
            if reason is None:
                return None
            aside = move_aside(path)
    except (LockHeld, OSError) as exc:
        log.warning("%s could not be read and cannot be moved aside: %s", path, exc)
        return None
    log.warning(
        "%s could not be read: %s. Moved it aside to %s (kept for inspection); a fresh one is made",
        path,
        reason,
        aside.name,
    )
    return aside


def _memory_copy(
    source: Callable[[], sqlite3.Connection] | None,
) -> tuple[sqlite3.Connection, bool]:
    """An in-memory cache, with what ``source`` holds if it can be read; (db, copied)."""
    mem = sqlite3.connect(":memory:", isolation_level=None)
    if source is not None:
        try:
            src = source()
            try:
                src.backup(mem)
            finally:
                src.close()
            if not _check(mem):
                return mem, True
        except (sqlite3.Error, _NotACache, OSError, ValueError) as exc:
            log.debug("nothing copied from the cache: %s", exc)
        mem.close()
        mem = sqlite3.connect(":memory:", isolation_level=None)
    _create_schema(mem)
    return mem, False


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


def _going_on(copied: bool) -> str:
    if copied:
        return "this run goes on with a copy of its prices in memory, and leaves it as it is"
    return "this run goes on without a cache (prices in memory only), and leaves it as it is"


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
                if not self.persistent or not _environmental(exc):
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
        self.path = directory / DB_NAME
        self.timeout = timeout
        self.persistent = True
        self.problem: str | None = None
        self.moved_aside: Path | None = None
        try:
            self._db = self._open()
        except CacheUnusable as exc:
            if not fallback:
                raise
            self.persistent, self.problem = False, exc.message
            self._db, copied = _memory_copy(self._read_only)
            log.warning("%s; %s. %s", exc.message, _going_on(copied), exc.hint)

    def close(self) -> None:
        self._db.close()

    # -- opening -------------------------------------------------------------

    def _unusable(self, what: str, hint: str = _ELSEWHERE) -> CacheUnusable:
        return CacheUnusable(f"cannot use the price cache {self.directory}: {what}", hint=hint)

    def _diagnose(self, exc: BaseException) -> tuple[str, str]:
        """What is wrong with the cache folder, and what to do, from the error it gave."""
        code = exc.errno if isinstance(exc, OSError) else None
        sql = _code(exc) if isinstance(exc, sqlite3.Error) else None
        writable = True
        with suppress(OSError):
            writable = os.access(self.directory, os.W_OK)
        if code in (errno.EEXIST, errno.ENOTDIR) or (
            self.directory.exists() and not self.directory.is_dir()
        ):
            return (
                "it is not a folder",
                "point --cache (or ROTATION_NOTES_CACHE) at a folder; nothing there was changed",
            )
        if os.path.lexists(self.path) and not self.path.is_file():
            return f"{DB_NAME} there is not a file", _ELSEWHERE
        if code == errno.EROFS:
            return "it is on a read-only disk", _OTHER + " on a writable disk"
        if code in (errno.EACCES, errno.EPERM) or sql == sqlite3.SQLITE_PERM:
            return "permission denied", "give your account write access to it, or " + _OTHER
        if code in (errno.ENOSPC, errno.EDQUOT) or sql == sqlite3.SQLITE_FULL:
            return "the disk is full", "free some space, or " + _OTHER
        if sql in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return (
                f"another program kept it locked for over {self.timeout:g} s",
                "try again when that program has finished",
            )
        if sql in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR):
            if not writable:
                return (
                    "the folder cannot be written (a read-only disk, or no write permission)",
                    _OTHER + " you can write",
                )
            return f"SQLite cannot open or write {DB_NAME} there ({exc})", _ELSEWHERE
        return f"{type(exc).__name__}: {exc}", _ELSEWHERE

    def _open(self) -> sqlite3.Connection:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unusable(*self._diagnose(exc)) from None
        try:
            return self._connect()
        except _NotACache as bad:
            return self._replace(str(bad))

    def _connect(self) -> sqlite3.Connection:
        """The database, checked (``_NotACache``) and ready; ``CacheUnusable`` if it cannot
        be opened.

        The check reads through a read-only connection, after a look at the file's header:
        SQLite then neither checkpoints into the file nor deletes its ``-wal`` when it closes,
        so a cache that fails the check is moved aside exactly as it was found.
        """
        db: sqlite3.Connection | None = None
        if (odd := self._odd_file()) is not None:
            raise self._unusable(odd, hint="remove it, or " + _OTHER)
        try:
            new = not os.path.lexists(self.path) or self._check_read_only()
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if new:
                _create_schema(db)
            return db
        except (sqlite3.Error, OSError, _NotACache) as exc:
            if db is not None:
                with suppress(sqlite3.Error):
                    db.close()
            if isinstance(exc, _NewerCache):
                raise self._unusable(
                    str(exc), hint="upgrade rotation-notes, or " + _OTHER
                ) from None
            if isinstance(exc, _NotACache):
                raise
            if isinstance(exc, sqlite3.Error) and _corrupt(exc):
                raise _NotACache(_unreadable(exc)) from exc
            raise self._unusable(*self._diagnose(exc)) from None

    def _odd_file(self) -> str | None:
        """Why the database or a side file of it must not be opened, if one must not.

        A link could send our writes to a file elsewhere (a vault's own ``cache_dir`` may come
        from a stranger); SQLite blocks opening a pipe, a hot ``-journal`` one too.
        """
        for suffix in ("", *SIDE_FILES):
            side = Path(f"{self.path}{suffix}")
            if os.path.islink(side) or (os.path.lexists(side) and not is_regular(side)):
                what = "a symbolic link" if os.path.islink(side) else "not a regular file"
                return f"{side.name} there is {what}; rotation-notes does not open it"
        return None

    def _check_read_only(self) -> bool:
        """``_check`` the database file (True: it is empty, a new cache)."""
        return _check_file(self.path, _check, self.timeout)

    def _replace(self, reason: str) -> sqlite3.Connection:
        """Move the unreadable cache aside (kept for inspection) and start a fresh one."""
        from rotation_notes.vault.lock import LockHeld, acquire

        unusable = f"it cannot be read ({reason}) and cannot be moved aside"
        try:  # one run at a time: a second one finds the fresh cache the first made
            release = acquire(self.directory / f"{DB_NAME}.repair.lock", wait=self.timeout)
        except LockHeld:
            raise self._unusable(
                f"{unusable}: another run kept it locked for over {self.timeout:g} s"
            ) from None
        except OSError as exc:
            raise self._unusable(f"{unusable}: {self._diagnose(exc)[0]}") from None
        try:
            try:
                return self._connect()  # replaced by another run meanwhile?
            except _NotACache as bad:
                reason = str(bad)
            try:
                aside = move_aside(self.path)
            except OSError as exc:
                raise self._unusable(f"{unusable}: {self._diagnose(exc)[0]}") from None
            self.moved_aside = aside
            log.warning(
                "the price cache %s could not be read: %s. Moved it aside to %s (kept for "
                "inspection; delete it when you like) and started a fresh cache: prices are "
                "fetched again",
                self.path,
                reason,
                aside.name,
            )
            try:
                return self._connect()
            except _NotACache as bad:  # a fresh file that is not sound: leave it alone
                raise self._unusable(f"a fresh cache {bad}") from None
        finally:
            release()

    def _read_only(self) -> sqlite3.Connection:
        """The cache opened for reading only (to copy what it holds into memory)."""
        if not self.path.is_file() or self._odd_file() is not None:
            raise FileNotFoundError(self.path)
        uri = self.path.absolute().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=1)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.Error:  # a WAL database on a read-only disk: read the file as it is
            return sqlite3.connect(f"{uri}?immutable=1", uri=True)

    def _degrade(self, exc: BaseException, doing: str) -> None:
        """The cache failed mid-run: go on in memory, with a copy of what it held."""
        old = self._db
        if old.in_transaction:
            with suppress(sqlite3.Error):
                old.execute("ROLLBACK")
        if _corrupt(exc):
            what, hint = f"it is damaged ({exc})", "the next run moves it aside and starts afresh"
        else:
            what, hint = self._diagnose(exc)
        self.persistent, self.problem = False, f"the price cache {self.path} failed: {what}"
        self._db, copied = _memory_copy(lambda: old)
        log.warning(
            "the price cache %s failed while %s: %s; %s. %s",
            self.path,
            doing,
            what,
            _going_on(copied),
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
