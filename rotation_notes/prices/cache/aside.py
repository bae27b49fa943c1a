"""Moving an SQLite file that cannot be read aside, with its side files, kept for
inspection: the price cache's own (``opening``) and yfinance's in our cache folder."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from rotation_notes.prices.cache.schema import (
    BUSY_TIMEOUT,
    SIDE_FILES,
    _NotACache,
    corrupt,
    unreadable,
)
from rotation_notes.vault.files import read_regular

log = logging.getLogger(__name__)


#: (device, inode) of the SQLite files this process has checked or opened. Their header is
#: never read again with a descriptor of ours: closing any descriptor of a file drops every
#: POSIX lock this process holds on it, those of an SQLite connection still open on it too
#: (another process ending its run would then checkpoint and delete the ``-wal`` under it).
_KNOWN_SQLITE: set[tuple[int, int]] = set()


def inode_of(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def known_sqlite(path: Path) -> None:
    """Remember ``path`` as an SQLite file (it was checked, or a connection opened it)."""
    with contextlib.suppress(OSError):
        _KNOWN_SQLITE.add(inode_of(path))


def check_file(path: Path, check: Callable[[sqlite3.Connection], bool], timeout: float) -> bool:
    """Run ``check`` on the SQLite file ``path`` through a read-only connection, after a look
    at its header: SQLite then neither checkpoints into the file nor deletes its ``-wal`` when
    it closes, so a file that fails is moved aside exactly as it was found."""
    if inode_of(path) not in _KNOWN_SQLITE:
        head = read_regular(path, 16)  # never a pipe: SQLite would block opening it
        if head and head != b"SQLite format 3\x00":
            raise _NotACache("it is not an SQLite database (no SQLite header)")
    uri = f"{path.absolute().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    try:
        ok = check(db)
        known_sqlite(path)
        return ok
    except sqlite3.Error as exc:
        if corrupt(exc):
            raise _NotACache(unreadable(exc)) from exc
        raise
    finally:
        db.close()


def sound(db: sqlite3.Connection) -> bool:
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
            check_file(path, sound, timeout)
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
