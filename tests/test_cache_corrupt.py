"""A price cache that cannot be read or used never stops a run, and is never thrown away.

Unreadable (garbage, damaged pages, someone else's database, a newer schema): moved aside with
its -wal/-shm files, named in a warning, and replaced by a fresh cache. Unusable for another
reason (the folder is a file, read-only, locked, full): left exactly as it was, a warning says
what to do, and the run goes on with prices in memory. Through the CLI (in this process; in a
subprocess where a run could hang, or needs its own mount namespace or a clean process).
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from test_data_cli import fill_cache
from test_watch import WatchProc

from conftest import NO_NETWORK, THESIS, run_cli, run_main, run_scheduled
from rotation_notes.prices.cache import DB_NAME, SCHEMA_VERSION, CacheUnusable, PriceCache


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    """A real cache: IWM, QQQ, ^RUT, ^IXIC to 2026-08-21, through the Yahoo provider."""
    cache = tmp_path_factory.mktemp("filled")
    fill_cache(cache)
    gc.collect()  # close the provider's connection: everything into the database file itself
    db = sqlite3.connect(cache / DB_NAME)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    assert not Path(f"{cache / DB_NAME}-wal").exists()
    return cache


def copy_cache(filled: Path, dest: Path) -> Path:
    shutil.copytree(filled, dest)
    return dest


def garbage(cache: Path, filled: Path) -> None:
    (cache / DB_NAME).write_bytes(os.urandom(3000) + b"not a database" * 500)


def truncated(cache: Path, filled: Path) -> None:
    data = (filled / DB_NAME).read_bytes()
    (cache / DB_NAME).write_bytes(data[: len(data) // 2])


def damaged_page(cache: Path, filled: Path) -> None:
    """One page in the middle overwritten: the header is fine, so only reading every page
    (quick_check at open) finds it, not the few pages a run happens to read."""
    data = bytearray((filled / DB_NAME).read_bytes())
    page = 4096 * ((len(data) // 4096) // 2)
    data[page : page + 4096] = os.urandom(4096)
    (cache / DB_NAME).write_bytes(bytes(data))


def foreign_bars(cache: Path, filled: Path) -> None:
    """A sound SQLite file of another program, with a table named like ours."""
    db = sqlite3.connect(cache / DB_NAME)
    db.execute("CREATE TABLE bars (ticker TEXT, day TEXT, open REAL, high REAL)")
    db.execute("INSERT INTO bars VALUES ('IWM', '2026-01-02', 1.0, 2.0)")
    db.commit()
    db.close()


def future_schema(cache: Path, filled: Path) -> None:
    shutil.copy(filled / DB_NAME, cache / DB_NAME)
    db = sqlite3.connect(cache / DB_NAME)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()


UNREADABLE = {
    "garbage": (garbage, "it is not an SQLite database (no SQLite header)"),
    "truncated": (truncated, "it is damaged"),
    "damaged-page": (damaged_page, "it is damaged"),
    "foreign-bars": (foreign_bars, "it is not a rotation-notes price cache (its tables: bars)"),
}


def is_fresh_cache(cache: Path) -> bool:
    db = sqlite3.connect(cache / DB_NAME)
    try:
        ok = db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return ok and tables == {"meta", "bars", "fetches", "symbols"} and version == ("1",)
    finally:
        db.close()


def asides(cache: Path, name: str = DB_NAME) -> list[Path]:
    """The databases moved aside (their -wal/-shm files, if any, beside each)."""
    return sorted(
        p
        for p in cache.iterdir()
        if p.name.startswith(f"{name}.corrupt-")
        and not p.name.endswith(("-wal", "-shm", "-journal"))
    )


def assert_refreshed(result: subprocess.CompletedProcess[str], vault: Path) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "updated    t.md" in result.stderr
    text = (vault / "t.md").read_text()
    assert text != THESIS and "IWM" in text.split("%% rotation-notes:setup %%")[1]


@pytest.mark.parametrize("kind", list(UNREADABLE))
@pytest.mark.parametrize("offline", [True, False], ids=["offline", "live"])
def test_an_unreadable_cache_is_moved_aside_and_the_run_goes_on(
    kind, offline, filled, make_vault, tmp_path
):
    make_bad, reason = UNREADABLE[kind]
    cache = tmp_path / "cache"
    cache.mkdir()
    make_bad(cache, filled)
    original = (cache / DB_NAME).read_bytes()
    vault = make_vault({"t.md": THESIS})
    result = run_main("refresh", vault, "--cache", cache, *(["--offline"] if offline else []))
    assert_refreshed(result, vault)
    (aside,) = asides(cache)
    assert aside.read_bytes() == original  # kept for inspection, byte for byte
    warning = next(line for line in result.stderr.splitlines() if "WARNING" in line)
    assert f"the price cache {cache / DB_NAME} could not be read: {reason}" in warning
    assert f"Moved it aside to {aside.name}" in warning
    assert is_fresh_cache(cache)
    again = run_main("refresh", vault, "--cache", cache, "--offline")  # the fresh cache is fine
    assert again.returncode == 0 and "WARNING" not in again.stderr, again.stderr
    assert asides(cache) == [aside]


def test_unreadable_yfinance_caches_in_the_folder_are_moved_aside_too(make_vault, tmp_path):
    """yfinance keeps its own SQLite caches (time zones, cookies) in our folder; a damaged
    one made every live fetch fail as "error: DatabaseError", on every run."""
    cache = tmp_path / "cache"
    (cache / "yfinance").mkdir(parents=True)
    originals = {}
    for name in ("tkr-tz.db", "cookies.db"):
        originals[name] = os.urandom(5000)
        (cache / "yfinance" / name).write_bytes(originals[name])
    vault = make_vault({"t.md": THESIS})
    result = run_main("refresh", vault, "--cache", cache)
    assert_refreshed(result, vault)
    # the fetch fails for the reason it really has here (no network), not the cache's
    assert "warning: Live fetch failed: network unreachable" in result.stderr
    for name, data in originals.items():
        (aside,) = asides(cache / "yfinance", name)
        assert aside.read_bytes() == data
        assert f"WARNING: {cache / 'yfinance' / name} could not be read" in result.stderr
        assert f"Moved it aside to {aside.name}" in result.stderr


def test_data_status_and_fetch_move_an_unreadable_cache_aside(filled, make_vault, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    garbage(cache, filled)
    original = (cache / DB_NAME).read_bytes()
    status = run_main("data", "status", tmp_path, "--cache", cache)
    assert status.returncode == 0, status.stderr
    (aside,) = asides(cache)
    assert aside.read_bytes() == original
    assert f"it could not be read: moved aside to {aside}; this is a fresh cache" in status.stdout
    assert "empty: nothing fetched yet" in status.stdout
    assert "Traceback" not in status.stderr

    gc.collect()  # the status run's cache is closed, as at the end of its process
    truncated(cache, filled)
    vault = make_vault({"t.md": THESIS})
    fetch = run_main("data", "fetch", vault, "--cache", cache)
    assert fetch.returncode == 2  # no network here: the fetch itself fails, and says so
    assert "IWM      failed: live fetch failed: network unreachable" in fetch.stderr
    assert "could not be read: it is damaged" in fetch.stderr
    assert "Traceback" not in fetch.stderr
    assert len(asides(cache)) == 2 and is_fresh_cache(cache)


def test_the_wal_and_shm_files_are_moved_aside_with_it(tmp_path, caplog):
    cache = tmp_path / "cache"
    cache.mkdir()
    files = {"": b"garbage " * 100, "-wal": b"its wal " * 50, "-shm": b"its shm " * 40}
    for suffix, data in files.items():
        Path(f"{cache / DB_NAME}{suffix}").write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="rotation_notes.prices.cache"):
        c = PriceCache(cache)
    assert c.persistent and c.moved_aside is not None
    for suffix, data in files.items():
        assert Path(f"{c.moved_aside}{suffix}").read_bytes() == data
    c.store("IWM", c.closes("X"), provider="test")  # a working, empty cache
    c.close()
    assert is_fresh_cache(cache)
    assert str(cache / DB_NAME) in caplog.text and c.moved_aside.name in caplog.text


def test_two_runs_that_find_the_same_damage_move_it_aside_once(tmp_path, filled):
    cache = tmp_path / "cache"
    cache.mkdir()
    garbage(cache, filled)
    script = tmp_path / "open.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from pathlib import Path
            from rotation_notes.prices.cache import PriceCache
            sys.stdin.readline()
            c = PriceCache(Path({str(cache)!r}), fallback=False)
            print(c.persistent, c.moved_aside is not None, len(c.status()))
            """
        )
    )
    procs = [
        subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outs
    lines = sorted(out.strip() for out, _ in outs)
    assert lines.count("True True 0") == 1 and lines.count("True False 0") == 3, lines
    assert len(asides(cache)) == 1 and is_fresh_cache(cache)


# --- unusable caches: never touched -------------------------------------------------------


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize("offline", [True, False], ids=["offline", "live"])
def test_a_cache_path_that_is_a_file_is_left_alone(offline, make_vault, tmp_path):
    mine = tmp_path / "my-notes.txt"
    mine.write_bytes(b"the user's own file\n")
    vault = make_vault({"t.md": THESIS})
    result = run_main("refresh", vault, "--cache", mine, *(["--offline"] if offline else []))
    assert_refreshed(result, vault)
    assert f"WARNING: cannot use the price cache {mine}: it is not a folder" in result.stderr
    assert "this run goes on without a cache" in result.stderr
    assert mine.read_bytes() == b"the user's own file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-notes.txt", "vault"]

    status = run_main("data", "status", vault, "--cache", mine)
    assert status.returncode == 2
    assert status.stderr.strip().splitlines() == [
        f"rotation-notes: error: cannot use the price cache {mine}: it is not a folder. "
        "point --cache (or ROTATION_NOTES_CACHE) at a folder; nothing there was changed"
    ]
    fetch = run_main("data", "fetch", vault, "--cache", mine)
    assert fetch.returncode == 2 and "it is not a folder" in fetch.stderr
    assert "Traceback" not in fetch.stderr
    assert mine.read_bytes() == b"the user's own file\n"


def test_a_database_path_that_is_a_folder_is_left_alone(make_vault, tmp_path):
    cache = tmp_path / "cache"
    (cache / DB_NAME).mkdir(parents=True)
    (cache / DB_NAME / "keep.txt").write_text("mine")
    vault = make_vault({"t.md": THESIS})
    result = run_main("refresh", vault, "--cache", cache, "--offline")
    assert_refreshed(result, vault)
    assert (
        f"cannot use the price cache {cache}: {DB_NAME} there is not a regular file"
        in result.stderr
    )
    assert tree(cache) == {f"{DB_NAME}/keep.txt": b"mine"}


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_database_path_that_is_a_pipe_or_folder_never_hangs_and_is_left(
    kind, make_vault, tmp_path
):
    cache = tmp_path / "cache"
    cache.mkdir()
    if kind == "fifo":
        os.mkfifo(cache / DB_NAME)  # SQLite would block opening it for reading
    else:
        (cache / DB_NAME).mkdir()
    vault = make_vault({"t.md": THESIS})
    run = run_cli if kind == "fifo" else run_main  # a hang on the pipe: run_cli's timeout
    result = run("refresh", vault, "--cache", cache, "--offline")
    assert_refreshed(result, vault)
    assert (
        f"cannot use the price cache {cache}: {DB_NAME} there is not a regular file"
        in result.stderr
    )
    assert (cache / DB_NAME).is_fifo() if kind == "fifo" else (cache / DB_NAME).is_dir()


def test_a_cache_of_a_newer_version_is_left_as_it_is(filled, make_vault, tmp_path):
    """Another, newer install on this machine uses it: moving it aside on every run of this
    one would pile up copies and lose that install's cache."""
    cache = tmp_path / "cache"
    cache.mkdir()
    future_schema(cache, filled)
    original = (cache / DB_NAME).read_bytes()
    vault = make_vault({"t.md": THESIS})
    for _ in range(2):
        result = run_main("refresh", vault, "--cache", cache, "--offline")
        assert result.returncode == 0, result.stderr
        assert "it was written by a newer rotation-notes (schema version 2" in result.stderr
        assert "upgrade rotation-notes" in result.stderr
    assert (
        "updated    t.md"
        in run_main(
            "refresh", make_vault({"t.md": THESIS}, name="v2"), "--cache", cache, "--offline"
        ).stderr
    )
    assert asides(cache) == [] and (cache / DB_NAME).read_bytes() == original


def refresh_in_mount_namespace(setup: str, vault: Path, cache: Path):
    """``refresh VAULT --cache CACHE --offline`` in a private mount namespace after ``setup``."""
    return run_cli_in_mount_namespace(setup, "refresh", vault, "--cache", cache, "--offline")


def _privileged(cmd: str) -> bool:
    done = subprocess.run(["unshare", "-m", "sh", "-c", cmd], capture_output=True)
    return done.returncode == 0


def run_cli_in_mount_namespace(setup: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The real CLI in a private mount namespace, after ``setup`` (mount commands) in it."""
    env = {**os.environ, **NO_NETWORK, "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg"}
    cli = " ".join(f"'{a}'" for a in [sys.executable, "-m", "rotation_notes", *map(str, args)])
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", f"{setup} && exec {cli}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


needs_mounts = pytest.mark.skipif(
    not shutil.which("unshare") or not _privileged("mount -t tmpfs tmpfs /mnt"),
    reason="a read-only or full disk needs a private mount namespace (unshare -m, as root); "
    "tests run as root, where permissions do not stop writes",
)


@needs_mounts
def test_a_cache_on_a_read_only_disk_is_read_and_left_as_it_is(filled, make_vault, tmp_path):
    cache = copy_cache(filled, tmp_path / "cache")
    before = tree(cache)
    vault = make_vault({"t.md": THESIS}, data=False)  # prices only from the cache
    result = refresh_in_mount_namespace(
        f"mount --bind '{cache}' '{cache}' && mount -o remount,bind,ro '{cache}'",
        vault,
        cache,
    )
    assert_refreshed(result, vault)
    assert (
        f"WARNING: cannot use the price cache {cache}: the folder cannot be written "
        "(a read-only disk, or no write permission); this run goes on with a copy of its "
        "prices in memory" in result.stderr
    )
    assert "as of 2026-08-21" in result.stderr  # the cache's data, read from the read-only disk
    assert tree(cache) == before


def test_a_folder_that_cannot_be_written_is_read_and_left_as_it_is(filled, make_vault, tmp_path):
    """Permissions do not stop root, the immutable attribute does (chattr +i): it stands in
    for a folder the user may not write."""
    cache = copy_cache(filled, tmp_path / "cache")
    before = tree(cache)
    # every file too: yfinance's own -shm files are otherwise written by SQLite on any open
    frozen = [*sorted(cache.rglob("*"), reverse=True), cache]
    if subprocess.run(["chattr", "+i", *map(str, frozen)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here (it stands in for a folder we cannot write)")
    try:
        vault = make_vault({"t.md": THESIS}, data=False)  # prices only from the cache
        result = run_main("refresh", vault, "--cache", cache)
        status = run_main("data", "status", vault, "--cache", cache)
    finally:
        subprocess.run(["chattr", "-i", *map(str, frozen)], check=True)
    assert_refreshed(result, vault)
    assert "as of 2026-08-21" in result.stderr  # the live fetch failed: the cache's copy
    assert (
        f"WARNING: cannot use the price cache {cache}: the folder cannot be written "
        "(a read-only disk, or no write permission); this run goes on with a copy of its "
        "prices in memory" in result.stderr
    )
    assert status.returncode == 2 and status.stdout == ""
    assert status.stderr.startswith(f"rotation-notes: error: cannot use the price cache {cache}")
    assert tree(cache) == before


@needs_mounts
def test_a_full_disk_is_left_as_it_is(make_vault, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    vault = make_vault({"t.md": THESIS})
    result = refresh_in_mount_namespace(
        f"mount -t tmpfs -o size=64k tmpfs '{cache}' "
        f"&& (dd if=/dev/zero of='{cache}/mine' bs=4k 2>/dev/null; true)",
        vault,
        cache,
    )
    assert_refreshed(result, vault)
    assert f"WARNING: cannot use the price cache {cache}: the disk is full" in result.stderr
    assert "free some space" in result.stderr


@needs_mounts
def test_a_disk_that_fills_up_during_a_fetch_goes_on_in_memory(filled, tmp_path):
    """Mid-run: the store fails with SQLITE_FULL; the run keeps what the cache held and what
    it fetched, in memory, and warns."""
    cache = tmp_path / "cache"
    cache.mkdir()
    script = tmp_path / "fill.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import logging, sys
            from pathlib import Path
            import pandas as pd
            from rotation_notes.prices.cache import PriceCache
            logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
            c = PriceCache(Path({str(cache)!r}))
            assert c.persistent
            small = pd.Series([1.0, 2.0], index=pd.bdate_range("2026-01-05", periods=2))
            c.store("SMALL", small, provider="test")
            days = pd.bdate_range("1900-01-01", periods=60_000)
            c.store("BIG", pd.Series(1.0, index=days), provider="test")
            print(c.persistent, len(c.closes("SMALL")), len(c.closes("BIG")))
            """
        )
    )
    done = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f"mount -t tmpfs -o size=512k tmpfs '{cache}' && exec '{sys.executable}' '{script}'",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "2", "60000"]
    assert (
        f"WARNING the price cache {cache / DB_NAME} failed while storing prices: the disk is "
        "full; this run goes on with a copy of its prices in memory" in done.stderr
    )


def test_a_cache_locked_at_open_is_left_and_the_run_goes_on_in_memory(tmp_path, caplog):
    cache = tmp_path / "cache"
    cache.mkdir()
    sqlite3.connect(cache / DB_NAME).close()  # a new, empty database file...
    holder = sqlite3.connect(cache / DB_NAME, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # ...that another program holds, longer than we wait
    try:
        with pytest.raises(CacheUnusable, match="another program kept it locked for over 0.2 s"):
            PriceCache(cache, timeout=0.2, fallback=False)
        with caplog.at_level(logging.WARNING, logger="rotation_notes.prices.cache"):
            c = PriceCache(cache, timeout=0.2)
        assert not c.persistent
        c.store("X", pd.Series([1.0], index=pd.bdate_range("2026-01-05", periods=1)), provider="t")
        assert len(c.closes("X")) == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert f"cannot use the price cache {cache}: another program kept it locked" in caplog.text
    assert "try again when that program has finished" in caplog.text
    assert (cache / DB_NAME).read_bytes() == b""  # left as it was
    assert sorted(p.name for p in cache.iterdir()) == [DB_NAME]


def test_a_cache_locked_mid_run_goes_on_with_a_copy_in_memory(filled, tmp_path, caplog):
    cache = copy_cache(filled, tmp_path / "cache")
    c = PriceCache(cache, timeout=0.2)
    holder = sqlite3.connect(cache / DB_NAME, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program writing, for longer than we wait
    holder.execute("INSERT INTO meta VALUES ('other', 'writer')")
    try:
        assert c.persistent and len(c.closes("IWM")) > 6000  # reading does not wait
        with caplog.at_level(logging.WARNING, logger="rotation_notes.prices.cache"):
            c.store("NEW", c.closes("IWM").iloc[-3:], provider="test")  # writing does
        assert not c.persistent
        assert len(c.closes("NEW")) == 3 and len(c.closes("IWM")) > 6000  # the copy, and the new
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert f"the price cache {cache / DB_NAME} failed while storing prices" in caplog.text
    assert "another program kept it locked for over 0.2 s" in caplog.text
    assert "goes on with a copy of its prices in memory" in caplog.text
    db = sqlite3.connect(cache / DB_NAME)
    assert db.execute("SELECT count(*) FROM bars WHERE symbol = 'NEW'").fetchone() == (0,)
    db.close()


# --- everywhere: refresh, watch (and its price reload), scheduled runs -------------------


def test_watch_with_an_unreadable_cache_moves_it_aside_and_watches(make_vault, isolated_cache):
    garbage(isolated_cache, isolated_cache)  # the cache the watcher finds through the env
    original = (isolated_cache / DB_NAME).read_bytes()
    vault = make_vault({"t.md": THESIS})
    w = WatchProc(vault)
    try:
        w.wait_for(r"watching 1 thesis notes", timeout=120)
        assert w.count(r"WARNING: the price cache .* could not be read") == 1
        assert w.count(r"updated t.md \(trigger: start\)") == 1
    finally:
        code = w.stop(signal.SIGTERM)
    assert code == 130
    (aside,) = asides(isolated_cache)
    assert aside.read_bytes() == original
    assert "Traceback" not in "\n".join(w.lines)


def test_watch_reloads_prices_without_a_usable_cache(make_vault, tmp_path):
    mine = tmp_path / "a-file"
    mine.write_bytes(b"mine")
    vault = make_vault({"t.md": THESIS})
    w = WatchProc(vault, "--cache", str(mine), "--prices-every", "0.01", offline=False)
    try:
        w.wait_for(r"watching 1 thesis notes", timeout=120)
        w.wait_for(r"prices refreshed \(every 0.01 min\): \d+ symbols", timeout=120)
        assert w.count(f"cannot use the price cache {mine}: it is not a folder") == 1
    finally:
        code = w.stop(signal.SIGTERM)
    assert code == 130
    assert mine.read_bytes() == b"mine"
    assert "Traceback" not in "\n".join(w.lines)


def test_a_scheduled_run_with_an_unreadable_cache_refreshes_and_logs_it(
    sample_vault, isolated_cache, filled
):
    truncated(isolated_cache, filled)
    done = run_scheduled(sample_vault)
    assert done.returncode == 0, done.stderr  # refreshed from bundled data: "stale", retried
    assert "refreshed for session 2026-08-24 from stale data" in done.stderr
    assert "Traceback" not in done.stderr
    log = Path(os.environ["ROTATION_NOTES_LOG"]).read_text()
    assert "WARNING the price cache" in log and "could not be read: it is damaged" in log
    assert len(asides(isolated_cache)) == 1
