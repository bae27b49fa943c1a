"""The vault lock: one holder at a time, and no lock file left behind once it is released."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_watch import WatchProc

from conftest import FIGURES, SAMPLE_NOTE, run_main, run_scheduled
from rotation_notes.vault import lock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the POSIX lock")

#: Takes the vault lock N times; under it, checks that no one else is inside, then increments
#: a counter with a read-modify-write that a second holder would corrupt.
WORKER = r"""
import os, sys
from pathlib import Path
from rotation_notes.vault.lock import vault_lock

vault, shared, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
inside, counter, overlaps = shared / "inside", shared / "counter", shared / "overlaps"
me = str(os.getpid())
sys.stdin.readline()  # start together: the parent writes a line once all are running
for _ in range(n):
    with vault_lock(vault, wait=120):
        try:  # O_EXCL: fails if another holder's marker is there
            fd = os.open(inside, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            with open(overlaps, "a") as f:
                f.write(me + "\n")
            continue
        os.write(fd, me.encode())
        os.close(fd)
        value = int(counter.read_text() or 0)
        os.sched_yield()  # give another (wrongful) holder the chance to interleave
        counter.write_text(str(value + 1))
        if inside.read_text() != me:
            with open(overlaps, "a") as f:
                f.write(me + " marker replaced\n")
        inside.unlink()
print("done", flush=True)
"""


def test_many_processes_never_hold_the_lock_at_once(tmp_path):
    vault = tmp_path / "vault"
    vault.mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "counter").write_text("0")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs, n = 6, 400
    started = time.perf_counter()
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(vault), str(shared), str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(procs)
    ]
    for w in workers:
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.flush()
    results = [w.communicate(timeout=600) for w in workers]
    took = time.perf_counter() - started
    for w, (out, err) in zip(workers, results, strict=True):
        assert w.returncode == 0 and out.strip() == "done", err
    overlaps = (shared / "overlaps").read_text() if (shared / "overlaps").exists() else ""
    assert overlaps == "", f"two holders at once: {overlaps.splitlines()[:5]}"
    assert int((shared / "counter").read_text()) == procs * n  # no lost increment
    assert not (shared / "inside").exists()
    assert list((lock.state_dir() / "locks").iterdir()) == []  # and no lock file left
    FIGURES.append(f"vault lock: {procs} processes x {n} holds, no overlap, {took:.1f} s")


def test_a_waiter_that_locked_a_removed_file_starts_over(tmp_path):
    """The race the unlink opens, staged: a waiter has the old file open when the holder
    removes it and releases. Its flock then succeeds on a file with no name, and it must not
    count that as holding the lock while a newcomer holds the file now at the path."""
    import fcntl

    path = tmp_path / "x.lock"
    release = lock.acquire(path, wait=0)
    stale = os.open(path, os.O_RDWR)  # a waiter opened the file before it was removed
    release()
    assert not path.exists()
    newcomer = lock.acquire(path, wait=0)  # creates and holds a new file at the path
    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the old inode: free, and nameless
    os.close(stale)
    with pytest.raises(lock.LockHeld):
        lock.acquire(path, wait=0.2)  # checks the inode, so sees the newcomer's lock
    newcomer()
    lock.acquire(path, wait=0)()
    assert not path.exists()


def test_lock_files_left_by_older_versions_are_removed_unless_held(tmp_path):
    folder = lock.state_dir() / "locks"
    folder.mkdir(parents=True)
    old = [folder / f"{i:016x}.lock" for i in range(3)]
    for p in old:
        p.write_bytes(b"")
    other = folder / "notes.txt"  # not a lock file: never touched
    other.write_bytes(b"mine")
    held = lock.acquire(old[0], wait=0)  # a run of another vault holds this one
    with lock.vault_lock(tmp_path, wait=0):
        assert sorted(folder.iterdir()) == sorted([old[0], lock.lock_path(tmp_path), other])
    assert sorted(folder.iterdir()) == [old[0], other]
    held()
    assert sorted(folder.iterdir()) == [other]


def test_refresh_and_scheduled_runs_leave_no_lock_file(sample_vault):
    folder = lock.state_dir() / "locks"
    result = run_main("refresh", sample_vault, "--as-of", "2026-02-04")
    assert result.returncode == 0, result.stderr
    assert folder.is_dir() and list(folder.iterdir()) == []
    scheduled = run_scheduled(sample_vault)
    assert scheduled.returncode in (0, 2), scheduled.stderr  # 2: the live fetch failed
    assert "refresh for session 2026-08-24" in scheduled.stderr or "refreshed" in scheduled.stderr
    assert list(folder.iterdir()) == []


def test_watch_leaves_no_lock_file(sample_vault):
    folder = lock.state_dir() / "locks"
    watcher = WatchProc(sample_vault)
    try:
        watcher.wait_for("watching 1 thesis notes", timeout=120)
        mark = watcher.mark()
        note = sample_vault / SAMPLE_NOTE
        note.write_text(note.read_text() + "\nA line of my own.\n")
        watcher.wait_for(r"\(trigger: saved", timeout=60, after=mark)  # a render: it took the lock
        assert list(folder.iterdir()) == []
    finally:
        code = watcher.stop(signal.SIGTERM)
    assert code == 130
    assert list(folder.iterdir()) == []


def test_a_lock_file_that_cannot_be_made_is_a_clear_error(sample_vault, monkeypatch, tmp_path):
    blocker = tmp_path / "state-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("ROTATION_NOTES_STATE", str(blocker))
    result = run_main("refresh", sample_vault, "--as-of", "2026-02-04")
    assert result.returncode == 2
    assert "cannot take the vault's writer lock" in result.stderr
    assert "Traceback" not in result.stderr
    assert Path(blocker).read_text() == ""
