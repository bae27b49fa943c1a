"""The price cache: an embedded SQLite database outside the vault.

- ``schema``: the database file, its tables and version, and the check that a
  database is a sound price cache of ours;
- ``aside``: moving an SQLite file that cannot be read aside, kept for
  inspection (ours, and yfinance's in our cache folder);
- ``opening``: where the cache folder is, opening it, what is wrong with it
  when it cannot be used, and the in-memory copy a run then goes on with;
- ``store``: :class:`PriceCache`, the rows (closes, fetch log, names), one
  transaction per fetch.

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

from rotation_notes.prices.cache.aside import move_aside, set_aside_if_unreadable
from rotation_notes.prices.cache.opening import ENV_VAR, CacheUnusable, default_cache_dir
from rotation_notes.prices.cache.schema import BUSY_TIMEOUT, DB_NAME, SCHEMA_VERSION
from rotation_notes.prices.cache.store import FetchRecord, PriceCache, SymbolStatus

__all__ = [
    "BUSY_TIMEOUT",
    "DB_NAME",
    "ENV_VAR",
    "SCHEMA_VERSION",
    "CacheUnusable",
    "FetchRecord",
    "PriceCache",
    "SymbolStatus",
    "default_cache_dir",
    "move_aside",
    "set_aside_if_unreadable",
]
