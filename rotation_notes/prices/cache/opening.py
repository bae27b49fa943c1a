"""Opening the price cache folder: where it is, what is wrong with it when it cannot be
used, a damaged cache moved aside and replaced, and the in-memory copy a run goes on with.

Default location: the platform's user cache directory (``platformdirs``), e.g.
``~/.cache/rotation-notes/prices.sqlite3`` on Linux. Override it with
``cache_dir`` in the vault's ``rotation-notes.toml``, ``--cache DIR`` or the
``ROTATION_NOTES_CACHE`` environment variable. Deleting the folder clears it.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import platformdirs

from rotation_notes.errors import RotationNotesError
from rotation_notes.prices.cache.aside import check_file, known_sqlite, move_aside
from rotation_notes.prices.cache.schema import (
    BUSY_TIMEOUT,
    DB_NAME,
    SIDE_FILES,
    _NewerCache,
    _NotACache,
    check_cache,
    corrupt,
    create_schema,
    sqlite_code,
    unreadable,
)
from rotation_notes.vault.files import is_regular

log = logging.getLogger(__name__)

ENV_VAR = "ROTATION_NOTES_CACHE"

OTHER = "point --cache (or ROTATION_NOTES_CACHE) at another folder"
ELSEWHERE = "fix it, or " + OTHER


class CacheUnusable(RotationNotesError):
    """The price cache cannot be used (and was left as it is): not a folder, no permission,
    a read-only disk, locked past the timeout, a full disk."""


def memory_copy(
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
            if not check_cache(mem):
                return mem, True
        except (sqlite3.Error, _NotACache, OSError, ValueError) as exc:
            log.debug("nothing copied from the cache: %s", exc)
        mem.close()
        mem = sqlite3.connect(":memory:", isolation_level=None)
    create_schema(mem)
    return mem, False


def default_cache_dir() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("rotation-notes", appauthor=False))


def going_on(copied: bool) -> str:
    if copied:
        return "this run goes on with a copy of its prices in memory, and leaves it as it is"
    return "this run goes on without a cache (prices in memory only), and leaves it as it is"


class CacheFile:
    """The cache database in ``directory``, opened for a run: checked, and replaced by a
    fresh one if it cannot be read (``moved_aside`` then names the old one)."""

    def __init__(self, directory: Path, timeout: float = BUSY_TIMEOUT) -> None:
        self.directory = directory
        self.path = directory / DB_NAME
        self.timeout = timeout
        self.moved_aside: Path | None = None

    def unusable(self, what: str, hint: str = ELSEWHERE) -> CacheUnusable:
        return CacheUnusable(f"cannot use the price cache {self.directory}: {what}", hint=hint)

    def diagnose(self, exc: BaseException) -> tuple[str, str]:
        """What is wrong with the cache folder, and what to do, from the error it gave."""
        code = exc.errno if isinstance(exc, OSError) else None
        sql = sqlite_code(exc) if isinstance(exc, sqlite3.Error) else None
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
            return f"{DB_NAME} there is not a file", ELSEWHERE
        if code == errno.EROFS:
            return "it is on a read-only disk", OTHER + " on a writable disk"
        if code in (errno.EACCES, errno.EPERM) or sql == sqlite3.SQLITE_PERM:
            return "permission denied", "give your account write access to it, or " + OTHER
        if code in (errno.ENOSPC, errno.EDQUOT) or sql == sqlite3.SQLITE_FULL:
            return "the disk is full", "free some space, or " + OTHER
        if sql in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return (
                f"another program kept it locked for over {self.timeout:g} s",
                "try again when that program has finished",
            )
        if sql in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR):
            if not writable:
                return (
                    "the folder cannot be written (a read-only disk, or no write permission)",
                    OTHER + " you can write",
                )
            return f"SQLite cannot open or write {DB_NAME} there ({exc})", ELSEWHERE
        return f"{type(exc).__name__}: {exc}", ELSEWHERE

    def open(self) -> sqlite3.Connection:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self.unusable(*self.diagnose(exc)) from None
        try:
            return self.connect()
        except _NotACache as bad:
            return self.replace(str(bad))

    def connect(self) -> sqlite3.Connection:
        """The database, checked (``_NotACache``) and ready; ``CacheUnusable`` if it cannot
        be opened.

        The check reads through a read-only connection, after a look at the file's header:
        SQLite then neither checkpoints into the file nor deletes its ``-wal`` when it closes,
        so a cache that fails the check is moved aside exactly as it was found.
        """
        db: sqlite3.Connection | None = None
        if (odd := self.odd_file()) is not None:
            raise self.unusable(odd, hint="remove it, or " + OTHER)
        try:
            new = not os.path.lexists(self.path) or self.check_read_only()
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            known_sqlite(self.path)  # open here: its header is never read by us again
            db.execute("PRAGMA synchronous=NORMAL")
            if new:
                create_schema(db)
                # folded into the file now: a new cache's files stay as they are when this
                # run closes it, so the next run's scan index can vouch for them
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return db
        except (sqlite3.Error, OSError, _NotACache) as exc:
            if db is not None:
                with suppress(sqlite3.Error):
                    db.close()
            if isinstance(exc, _NewerCache):
                raise self.unusable(str(exc), hint="upgrade rotation-notes, or " + OTHER) from None
            if isinstance(exc, _NotACache):
                raise
            if isinstance(exc, sqlite3.Error) and corrupt(exc):
                raise _NotACache(unreadable(exc)) from exc
            raise self.unusable(*self.diagnose(exc)) from None

    def odd_file(self) -> str | None:
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

    def check_read_only(self) -> bool:
        """``check_cache`` on the database file (True: it is empty, a new cache)."""
        return check_file(self.path, check_cache, self.timeout)

    def replace(self, reason: str) -> sqlite3.Connection:
        """Move the unreadable cache aside (kept for inspection) and start a fresh one."""
        from rotation_notes.vault.lock import LockHeld, acquire

        unusable = f"it cannot be read ({reason}) and cannot be moved aside"
        try:  # one run at a time: a second one finds the fresh cache the first made
            release = acquire(self.directory / f"{DB_NAME}.repair.lock", wait=self.timeout)
        except LockHeld:
            raise self.unusable(
                f"{unusable}: another run kept it locked for over {self.timeout:g} s"
            ) from None
        except OSError as exc:
            raise self.unusable(f"{unusable}: {self.diagnose(exc)[0]}") from None
        try:
            try:
                return self.connect()  # replaced by another run meanwhile?
            except _NotACache as bad:
                reason = str(bad)
            try:
                aside = move_aside(self.path)
            except OSError as exc:
                raise self.unusable(f"{unusable}: {self.diagnose(exc)[0]}") from None
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
                return self.connect()
            except _NotACache as bad:  # a fresh file that is not sound: leave it alone
                raise self.unusable(f"a fresh cache {bad}") from None
        finally:
            release()

    def read_only(self) -> sqlite3.Connection:
        """The cache opened for reading only (to copy what it holds into memory)."""
        if not self.path.is_file() or self.odd_file() is not None:
            raise FileNotFoundError(self.path)
        uri = self.path.absolute().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=1)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.Error:  # a WAL database on a read-only disk: read the file as it is
            return sqlite3.connect(f"{uri}?immutable=1", uri=True)
