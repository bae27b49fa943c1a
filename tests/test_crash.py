"""SIGKILL at any moment of a refresh: every file as it was or fully updated, never partial.

The real CLI runs in a subprocess on a vault of two stale thesis notes, each with its own
chart (bench/crash_bench.py uses four), and is killed; then every file must hold either its
old bytes or the bytes a complete run writes, no file may be missing or added except our own
temp files (which the next writing run removes), and the price cache must pass SQLite's
integrity check.

Kills land at deterministic points: the writer's test-only hook
(``ROTATION_NOTES_TEST_KILL_AT_STEP``, rotation_notes/vault/writer.py) makes the CLI kill itself
at the Nth step of its writes (creating the temp file, writing it, fsync, chmod, the last check,
the rename, the folder's fsync, done). Random kills come on top: at a random delay from the
start, or at a random delay after the run's first write step, whatever the machine's speed.
Nothing here is judged by wall time: each kill is checked, and the kills are counted.

    ROTATION_NOTES_KILLS=40 ROTATION_NOTES_KILL_SEED=123 pytest tests/test_crash.py -s

runs a longer hand run (every write step, and that many random kills) with a given seed;
bench/crash_bench.py runs a thousand and more.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import (
    NO_NETWORK,
    SAMPLE,
    SAMPLE_NOTE,
    copy_with_thesis_copies,
    run_main,
)
from conftest import (
    file_bytes as files,
)
from rotation_notes.prices.cache import DB_NAME, PriceCache
from rotation_notes.vault.writer import KILL_AT_STEP_ENV, TEMP_MARK, TEMP_RE, sweep_stale_temps

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

STALE_AS_OF = "2026-02-04"
MODES = {"offline": ["--offline"], "default": []}
#: Random kills in a CI run (ROTATION_NOTES_KILLS sets more).
RANDOM_KILLS = 8
STEP = "rotation-notes write step "
#: A deadline that only a hung process reaches; never a measure of speed.
DEADLINE = 300.0


def cli_env() -> dict[str, str]:
    return {**os.environ, **NO_NETWORK, "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg"}


#: Theses in the test vault: the sample's and this many copies with prose and a chart of their
#: own. Two notes are enough for a kill to leave one old and the other new.
THESES = 2


def build_stale_vault(dest: Path) -> None:
    """The sample vault plus more theses (own prose, own chart), all rendered as of Feb."""
    copy_with_thesis_copies(dest, THESES - 1)
    # A cache of its own: this process must not hold the test's cache open while the CLI
    # processes work on it (test_a_cache_held_open_in_this_process_... below says why).
    done = run_main(
        "refresh", dest, "--offline", "--as-of", STALE_AS_OF, "--cache", dest.parent / "build"
    )
    assert done.returncode == 0, done.stderr


def check_cache(cache: Path) -> None:
    """The cache passes SQLite's integrity check and reads through PriceCache. Copies the
    file with plain open()s: call it only while this process holds no connection to it."""
    # as the kill left it (a connection may recover and checkpoint the WAL), for a failure
    evidence = cache.with_name(cache.name + "-as-the-kill-left-it")
    shutil.rmtree(evidence, ignore_errors=True)
    shutil.copytree(cache, evidence, ignore=shutil.ignore_patterns("yfinance"))
    db = sqlite3.connect(cache / DB_NAME)
    try:
        result = db.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        result = (f"{type(exc).__name__}: {exc}",)
    finally:
        db.close()
    assert result == ("ok",), f"cache damaged: {result[0]}; as the kill left it: {evidence}"
    pc = PriceCache(cache)
    try:
        pc.status()  # every table read through the cache module
        pc.closes("IWM")
    finally:
        pc.close()


def classify(
    vault: Path, stale: dict[str, bytes], updated: dict[str, bytes], where: str
) -> tuple[str, list[str]]:
    """'old' / 'updated' / 'mixed' (some files old, others updated), and the temp files left."""
    now = files(vault)
    temps = [r for r in now if TEMP_MARK in r.rsplit("/", 1)[-1]]
    for rel in temps:
        assert TEMP_RE.fullmatch(rel.rsplit("/", 1)[-1]), f"{where}: unexpected file {rel}"
    assert not set(stale) - set(now), f"{where}: files gone: {sorted(set(stale) - set(now))}"
    extra = set(now) - set(stale) - set(temps)
    assert not extra, f"{where}: unexpected new files: {sorted(extra)}"
    changed = [rel for rel in stale if stale[rel] != updated[rel]]
    states = []
    for rel in changed:
        got = now[rel]
        if got == stale[rel]:
            states.append("old")
        elif got == updated[rel]:
            states.append("updated")
        else:
            pytest.fail(
                f"{where}: {rel} is neither old ({len(stale[rel])} bytes) nor fully updated "
                f"({len(updated[rel])} bytes): {len(got)} bytes"
            )
    for rel in stale:
        if rel not in changed:
            assert now[rel] == stale[rel], f"{where}: {rel} changed, a refresh never changes it"
    kind = states[0] if len(set(states)) == 1 else "mixed"
    return kind, temps


def test_sweep_removes_only_dead_writers_temp_files(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    note = tmp_path / "Notes" / "n.md"
    note.parent.mkdir()
    note.write_text("note\n")
    left = note.with_name(f".n.md{TEMP_MARK}{dead.pid}-0123abcd.tmp")
    live = note.with_name(f".n.md{TEMP_MARK}{os.getpid()}-0123abcd.tmp")
    old_live = note.with_name(f".old.md{TEMP_MARK}{os.getpid()}-89abcdef.tmp")
    lookalikes = [
        note.with_name(f".n.md{TEMP_MARK}{dead.pid}-xyz.tmp"),  # not our spelling
        note.with_name(f"n.md{TEMP_MARK}{dead.pid}-0123abcd.tmp"),  # not hidden
        tmp_path / ".obsidian" / f".n.md{TEMP_MARK}{dead.pid}-0123abcd.tmp",  # never written
    ]
    for p in [left, live, old_live, *lookalikes]:
        p.parent.mkdir(exist_ok=True)
        p.write_text("partial")
    os.utime(old_live, (time.time() - 7200, time.time() - 7200))
    assert sorted(sweep_stale_temps(tmp_path)) == sorted([left, old_live])
    assert live.exists() and note.exists() and all(p.exists() for p in lookalikes)


def cli(vault: Path, mode: str, kill_at: int | None) -> subprocess.Popen[str]:
    """The CLI refreshing ``vault``; with ``kill_at`` set, the writer's hook prints each write
    step on stderr and kills the process at step ``kill_at`` (0: never)."""
    env = cli_env()
    env.pop(KILL_AT_STEP_ENV, None)
    if kill_at is not None:
        env[KILL_AT_STEP_ENV] = str(kill_at)
    return subprocess.Popen(
        [sys.executable, "-m", "rotation_notes", "refresh", str(vault), *MODES[mode]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=DEADLINE)
    return proc.returncode, err


def first_step(proc: subprocess.Popen[str]) -> str:
    """Wait until the process reaches its first write step (the line), or ends ('')."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(STEP):
            return line
    return ""


def steps_of(stderr: str) -> list[str]:
    return [line[len(STEP) :] for line in stderr.splitlines() if line.startswith(STEP)]


def restore(vault: Path, stale: dict[str, bytes]) -> None:
    """Back to the stale notes and charts; temp files a kill left stay for the next run."""
    for rel, data in stale.items():
        if (vault / rel).read_bytes() != data:
            (vault / rel).write_bytes(data)


def complete_run(vault: Path, mode: str) -> tuple[dict[str, bytes], list[str]]:
    """What a complete run writes (the vault is restored afterwards), and its write steps."""
    before = files(vault)
    code, err = finish(cli(vault, mode, kill_at=0))
    assert code == 0, err
    after = files(vault)
    restore(vault, before)
    return after, steps_of(err)


def rerun_sweeps_and_completes(
    vault: Path, stale: dict[str, bytes], updated: dict[str, bytes], mode: str, where: str
) -> None:
    """The next writing run removes what a killed one left, and completes the work."""
    code, err = finish(cli(vault, mode, kill_at=None))
    assert code == 0, f"{where}, re-run: {err}"
    kind, temps = classify(vault, stale, updated, where + ", re-run")
    assert temps == [] and kind == "updated", (where, kind, temps)


def test_sigkill_at_each_write_step_leaves_each_file_old_or_updated(tmp_path, isolated_cache):
    """Every kind of write step, each in a randomly chosen file of the run (every step of
    every file with ROTATION_NOTES_KILLS set)."""
    hand = bool(os.environ.get("ROTATION_NOTES_KILLS"))
    seed = int(os.environ.get("ROTATION_NOTES_KILL_SEED") or random.randrange(2**32))
    print(f"\nseed {seed} (ROTATION_NOTES_KILL_SEED={seed} repeats this run's choices)")
    rng = random.Random(seed)
    vault = tmp_path / "vault"
    build_stale_vault(vault)
    stale = files(vault)
    updated, steps = complete_run(vault, "offline")
    written = list(dict.fromkeys(step.split(": ", 2)[2] for step in steps))
    kinds = list(dict.fromkeys(step.split(": ", 2)[1] for step in steps))
    assert len(written) == 2 * THESES, written  # each thesis: its note and its chart
    per_file = len(kinds)
    assert len(steps) == per_file * len(written), steps
    if hand:
        chosen = list(range(1, len(steps) + 1))
    else:
        files_for_kind = [rng.randrange(len(written)) for _ in range(per_file)]
        chosen = sorted(f * per_file + k + 1 for k, f in enumerate(files_for_kind))

    outcomes: Counter[str] = Counter()
    temps_left = temps_swept = 0
    previous: list[str] = []
    for k in chosen:
        restore(vault, stale)
        code, err = finish(cli(vault, "offline", kill_at=k))
        where = f"kill at write step {k}/{len(steps)} ({steps[k - 1]}; seed {seed})"
        assert code == -signal.SIGKILL, f"{where}: {err}"
        assert steps_of(err)[-1] == steps[k - 1], where  # killed exactly there
        kind, temps = classify(vault, stale, updated, where)
        # the killed run started by removing the temp files the run before it left
        assert not set(previous) & set(temps), f"{where}: not swept: {previous}"
        temps_swept += len(previous)
        previous = temps
        outcomes[kind] += 1
        temps_left += bool(temps)
        check_cache(isolated_cache)
        print(f"{where}: {kind}{f', temp files left: {temps}' if temps else ''}")
    restore(vault, stale)
    rerun_sweeps_and_completes(vault, stale, updated, "offline", "after the kills")
    temps_swept += len(previous)
    assert sum(outcomes.values()) == len(chosen)
    assert temps_left > 0  # some step lies between creating the temp file and the rename
    print(
        f"{len(chosen)} of {len(steps)} write steps (seed {seed}): {outcomes['old']} left every "
        f"note old, {outcomes['updated']} fully updated, {outcomes['mixed']} mixed across notes; "
        f"{temps_left} left a temp file, {temps_swept} temp files swept by the next run"
    )


def test_sigkill_at_random_moments_leaves_each_file_old_or_updated(tmp_path, isolated_cache):
    """Half the kills at a random delay from the start, half at a random delay after the
    first write step (the writing phase, where it matters); the delays are scaled by what a
    complete run took here, so a slow machine is killed as often mid-write as a fast one."""
    kills = int(os.environ.get("ROTATION_NOTES_KILLS") or RANDOM_KILLS)
    seed = int(os.environ.get("ROTATION_NOTES_KILL_SEED") or random.randrange(2**32))
    print(f"\nseed {seed} (ROTATION_NOTES_KILL_SEED={seed} repeats this run's delays)")
    rng = random.Random(seed)
    master = tmp_path / "stale"
    build_stale_vault(master)
    stale = files(master)
    vault = tmp_path / "vault"
    shutil.copytree(master, vault)

    # What a complete run writes per mode, how long it takes and how long its writing lasts.
    updated: dict[str, dict[str, bytes]] = {}
    run_time: dict[str, float] = {}
    write_time: dict[str, float] = {}
    for mode in MODES:
        t0 = time.monotonic()
        proc = cli(vault, mode, kill_at=0)
        assert first_step(proc), "no write step"
        first = time.monotonic()
        code, err = finish(proc)
        end = time.monotonic()
        assert code == 0, err
        run_time[mode], write_time[mode] = end - t0, end - first
        updated[mode] = files(vault)
        changed = [r for r in stale if stale[r] != updated[mode][r]]
        assert len([r for r in changed if r.endswith(".md")]) == THESES, changed
        assert len([r for r in changed if r.endswith(".png")]) == THESES, changed
        restore(vault, stale)

    outcomes: Counter[str] = Counter()
    temps_left = temp_files = temps_swept = finished = 0
    for n in range(kills):
        mode = "offline" if n % 2 == 0 else "default"
        restore(vault, stale)
        in_writes = n % 4 >= 2
        proc = cli(vault, mode, kill_at=0)
        if in_writes:
            delay = rng.uniform(0, write_time[mode])
            line = first_step(proc)  # blocks until the first write step (or the end)
            how = f"{delay:.3f} s after its first write step"
        else:
            delay = rng.uniform(0, run_time[mode])
            line = STEP
            how = f"{delay:.3f} s after its start"
        if line:
            time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        code, _ = finish(proc)
        finished += code == 0  # it was done before the kill
        where = f"kill {n} ({mode}, {how}, seed {seed})"
        kind, temps = classify(vault, stale, updated[mode], where)
        outcomes[kind] += 1
        check_cache(isolated_cache)
        if temps:
            temps_left += 1
            temp_files += len(temps)
            rerun_sweeps_and_completes(vault, stale, updated[mode], mode, where)
            temps_swept += len(temps)
        print(f"{where}: {kind}{f', temp files left: {temps}' if temps else ''}")

    # A temp file of a dead writer (planted) is removed by the next run; a live writer's is kept.
    restore(vault, stale)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    planted_dead = vault / f".{SAMPLE_NOTE}{TEMP_MARK}{dead.pid}-0badf00d.tmp"
    planted_live = vault / "Theses" / f".Thesis 1.md{TEMP_MARK}{os.getpid()}-0badf00d.tmp"
    planted_dead.write_bytes(b"half a no")
    planted_live.write_bytes(b"being written")
    code, err = finish(cli(vault, "offline", kill_at=None))
    assert code == 0, err
    assert not planted_dead.exists() and planted_live.exists()
    planted_live.unlink()
    assert classify(vault, stale, updated["offline"], "after the kills") == ("updated", [])
    check_cache(isolated_cache)

    summary = (
        f"{kills} kills (seed {seed}): {outcomes['old']} left every note old, "
        f"{outcomes['updated']} fully updated ({finished} had finished), "
        f"{outcomes['mixed']} mixed across notes (each file old or updated); "
        f"{temps_left} kills left temp files ({temp_files} files), {temps_swept} swept by "
        f"the next run; cache intact after each"
    )
    print(summary)
    assert sum(outcomes.values()) == kills, summary


def test_a_cache_held_open_in_this_process_survives_another_process_finishing(
    tmp_path, isolated_cache
):
    """A long-lived process (the watcher) keeps the cache open and opens it again (each
    refresh makes a provider) while other processes (a scheduled run) use it and end."""
    from rotation_notes.prices.cache import PriceCache

    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE, vault)
    assert finish(cli(vault, "default", kill_at=None))[0] == 0
    held = PriceCache(isolated_cache)
    try:
        held.status()
        for n in range(3):
            PriceCache(isolated_cache).close()  # a second provider in this process
            code, err = finish(cli(vault, "default", kill_at=None))
            assert code == 0, err
            assert "Moved it aside" not in err, f"run {n}: {err}"
            # through SQLite only: a plain open() here would itself drop the held locks
            db = sqlite3.connect(isolated_cache / DB_NAME)
            try:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",), n
            finally:
                db.close()
    finally:
        held.close()
