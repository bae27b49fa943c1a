"""SIGKILL at any moment of a refresh: every file as it was or fully updated, never partial.

The real CLI runs in a subprocess on a vault of four stale thesis notes (each with its own
chart) and is killed after a random delay drawn across the whole run; then every file must hold
either its old bytes or the bytes a complete run writes, no file may be missing or added except
our own temp files (which the next writing run removes), and the price cache must open and pass
SQLite's integrity check. Half the runs are ``--offline``, half go through the default provider
(Yahoo, failing at once through the closed-port proxy, so the fetch log in the cache is written).

Random delays rarely land inside the microseconds between two file operations, so a second test
kills the CLI deterministically at chosen *kill points*: just before or just after each file
operation it makes in the vault (an open for writing, a chmod, a rename), counted by an audit
hook in a small launcher that then runs the unmodified CLI.

    ROTATION_NOTES_KILLS=400 ROTATION_NOTES_KILL_SEED=123 pytest tests/test_crash.py -s

runs a longer hand run (the default is up to 40 random kills within about 42 s, and 12 kill points;
with ROTATION_NOTES_KILLS set, every kill point), with a given seed.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import NO_NETWORK, SAMPLE, SAMPLE_NOTE, run_cli
from rotation_notes.prices.cache import DB_NAME, PriceCache
from rotation_notes.vault.writer import TEMP_MARK, TEMP_RE, sweep_stale_temps

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

STALE_AS_OF = "2026-02-04"
#: Wall-time budget of the kill loop when the number of kills is not set by hand.
LOOP_BUDGET = 42.0
MODES = {"offline": ["--offline"], "default": []}


#: Runs the CLI, SIGKILLing it at the Nth file operation in the vault (0: never; it then
#: reports how many there were). Each operation is two points: just before it, and just after
#: it for an open (before a single byte is written).
LAUNCHER = r"""
import builtins, io, os, runpy, signal, sys

kill_at, vault = int(sys.argv[1]), os.path.realpath(sys.argv[2])
points = []


def inside(path):
    try:
        return os.path.realpath(os.fsdecode(path)).startswith(vault + os.sep)
    except (TypeError, ValueError):
        return False


def point(what):
    points.append(what)
    if len(points) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)


WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def hook(event, args):
    if event == "open" and isinstance(args[2], int) and args[2] & WRITE and inside(args[0]):
        point("before open " + os.path.basename(os.fsdecode(args[0])))
    elif event in ("os.chmod", "os.rename") and inside(args[0]):
        point("before " + event + " " + os.path.basename(os.fsdecode(args[0])))


real_open = io.open


def traced_open(file, mode="r", *args, **kwargs):
    fh = real_open(file, mode, *args, **kwargs)
    if not isinstance(file, int) and set(mode) & set("wxa+") and inside(file):
        point("after open " + os.path.basename(os.fsdecode(file)))
    return fh


builtins.open = io.open = traced_open
sys.addaudithook(hook)
sys.argv = ["rotation-notes", *sys.argv[3:]]
try:
    runpy.run_module("rotation_notes", run_name="__main__")
finally:
    print("KILL POINTS", *points, sep="\n", file=sys.stderr)
"""


def cli_env() -> dict[str, str]:
    return {**os.environ, **NO_NETWORK, "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg"}


def files(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def build_stale_vault(dest: Path) -> None:
    """The sample vault plus three more theses (own prose, own chart), all rendered as of Feb."""
    shutil.copytree(SAMPLE, dest)
    src = (dest / SAMPLE_NOTE).read_text(encoding="utf-8")
    for i, days in enumerate((60, 120, 180), start=1):
        text = (
            src.replace("iwm-vs-qqq-price-chart.png", f"chart-{i}.png")
            .replace("      days: 90", f"      days: {days}")
            .replace(
                "SaaSpocalypse week hit QQQ but small caps held.",
                f"Copy {i} of the thesis, with prose of its own: " + "lorem ipsum " * (20 * i),
            )
        )
        path = dest / "Theses" / f"Thesis {i}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    done = run_cli("refresh", dest, "--offline", "--as-of", STALE_AS_OF)
    assert done.returncode == 0, done.stderr


def check_cache(cache: Path) -> None:
    db = sqlite3.connect(cache / DB_NAME)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        db.close()
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


def test_sigkill_at_any_moment_leaves_each_file_old_or_fully_updated(tmp_path, isolated_cache):
    hand_kills = os.environ.get("ROTATION_NOTES_KILLS")
    kills = int(hand_kills or 40)
    seed = int(os.environ.get("ROTATION_NOTES_KILL_SEED") or random.randrange(2**32))
    print(f"\nseed {seed} (ROTATION_NOTES_KILL_SEED={seed} repeats this run's delays)")
    rng = random.Random(seed)

    master = tmp_path / "stale"
    build_stale_vault(master)
    stale = files(master)

    # What a complete run writes, per mode, and when in the run it writes it.
    updated: dict[str, dict[str, bytes]] = {}
    durations, write_starts, write_ends = [], [], []
    for mode, flags in MODES.items():
        copy = tmp_path / f"full-{mode}"
        shutil.copytree(master, copy)
        t0 = time.time()
        done = subprocess.run(
            [sys.executable, "-m", "rotation_notes", "refresh", str(copy), *flags],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=120,
        )
        durations.append(time.time() - t0)
        assert done.returncode == 0, done.stderr
        updated[mode] = files(copy)
        changed = [r for r in stale if stale[r] != updated[mode][r]]
        assert len([r for r in changed if r.endswith(".md")]) == 4, changed
        assert len([r for r in changed if r.endswith(".png")]) == 4, changed
        stamps = [(copy / r).stat().st_mtime - t0 for r in changed]
        write_starts.append(min(stamps))
        write_ends.append(max(stamps))
        shutil.rmtree(copy)
    run_time = max(durations)
    w0, w1 = max(0.0, min(write_starts) - 0.1), max(write_ends) + 0.05
    print(
        f"a full refresh takes {run_time:.2f} s; it writes its 8 files between "
        f"{min(write_starts):.3f} s and {max(write_ends):.3f} s"
    )

    vault = tmp_path / "vault"
    outcomes: Counter[str] = Counter()
    temps_left = temp_files = temps_swept = finished = 0
    started = time.monotonic()
    done_kills = 0
    for n in range(kills):
        # The budget only stops extra kills: the first 20 always run, however busy the
        # machine (each is bounded by its own process, not by the clock).
        if not hand_kills and n >= 20 and time.monotonic() - started > LOOP_BUDGET:
            break
        mode = "offline" if n % 2 == 0 else "default"
        if vault.exists():
            shutil.rmtree(vault)
        shutil.copytree(master, vault)
        # half the kills anywhere in the run, half in its writing phase (where it matters)
        delay = rng.uniform(0, run_time) if rng.random() < 0.5 else rng.uniform(w0, w1)
        proc = subprocess.Popen(
            [sys.executable, "-m", "rotation_notes", "refresh", str(vault), *MODES[mode]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=cli_env(),
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_kills += 1
        finished += proc.returncode == 0  # it was done before the kill
        where = f"kill {n} ({mode}, after {delay:.3f} s, seed {seed})"
        kind, temps = classify(vault, stale, updated[mode], where)
        outcomes[kind] += 1
        check_cache(isolated_cache)
        if temps:
            temps_left += 1
            temp_files += len(temps)
        if temps or n == kills - 1:
            # the next writing run removes what the killed one left, and completes the work
            rerun = run_cli("refresh", vault, *MODES[mode])
            assert rerun.returncode == 0, rerun.stderr
            kind_after, temps_after = classify(vault, stale, updated[mode], where + ", re-run")
            assert temps_after == [] and kind_after == "updated"
            temps_swept += len(temps)
        print(f"{where}: {kind}{f', temp files left: {temps}' if temps else ''}")

    # A temp file of a dead writer (planted) is removed by the next run; a live writer's is kept.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    planted_dead = vault / f".{SAMPLE_NOTE}{TEMP_MARK}{dead.pid}-0badf00d.tmp"
    planted_live = vault / "Theses" / f".Thesis 1.md{TEMP_MARK}{os.getpid()}-0badf00d.tmp"
    planted_dead.write_bytes(b"half a no")
    planted_live.write_bytes(b"being written")
    rerun = run_cli("refresh", vault, "--offline")
    assert rerun.returncode == 0, rerun.stderr
    assert not planted_dead.exists() and planted_live.exists()
    planted_live.unlink()
    check_cache(isolated_cache)

    summary = (
        f"{done_kills} kills (seed {seed}): {outcomes['old']} left every note old, "
        f"{outcomes['updated']} fully updated ({finished} had finished), "
        f"{outcomes['mixed']} mixed across notes (each file old or updated); "
        f"{temps_left} kills left temp files ({temp_files} files), {temps_swept} swept by "
        f"the next run; cache intact after each"
    )
    print(summary)
    assert done_kills >= min(kills, 20), summary


def test_sigkill_at_each_file_operation_leaves_old_or_updated_files(tmp_path, isolated_cache):
    hand = bool(os.environ.get("ROTATION_NOTES_KILLS"))
    seed = int(os.environ.get("ROTATION_NOTES_KILL_SEED") or random.randrange(2**32))
    print(f"\nseed {seed}")
    master = tmp_path / "stale"
    build_stale_vault(master)
    stale = files(master)
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    vault = tmp_path / "vault"
    shutil.copytree(master, vault)

    def launch(kill_at: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(launcher), str(kill_at), str(vault), "refresh", str(vault)]
            + ["--offline"],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=120,
        )

    full = launch(0)
    assert full.returncode == 0, full.stderr
    updated = files(vault)
    listed = full.stderr.split("KILL POINTS\n", 1)[1].splitlines()
    points = [
        re.sub(r"rotation-notes-\d+-[0-9a-f]+\.tmp", "rotation-notes-*.tmp", p) for p in listed
    ]
    assert len(points) >= 8 * 2, points  # 4 notes and 4 charts: each opened for writing
    chosen = list(range(1, len(points) + 1))
    if not hand:  # every step of the first and the last file written, and a sample between
        middle = chosen[4:-4]
        chosen = chosen[:4] + sorted(random.Random(seed).sample(middle, 4)) + chosen[-4:]

    outcomes: Counter[str] = Counter()
    temps_left = temps_swept = 0
    previous: list[str] = []
    for k in chosen:
        # back to the stale notes and charts; the temp files the last kill left stay
        for rel, data in stale.items():
            if (vault / rel).read_bytes() != data:
                (vault / rel).write_bytes(data)
        killed = launch(k)
        where = f"kill point {k}/{len(points)} ({points[k - 1]})"
        assert killed.returncode == -signal.SIGKILL, f"{where}: {killed.stderr}"
        kind, temps = classify(vault, stale, updated, where)
        # the killed run started by removing the temp files the run before it left
        assert not set(previous) & set(temps), f"{where}: not swept: {previous}"
        temps_swept += len(previous)
        previous = temps
        outcomes[kind] += 1
        temps_left += bool(temps)
        check_cache(isolated_cache)
        print(f"{where}: {kind}{f', temp files left: {temps}' if temps else ''}")
    rerun = run_cli("refresh", vault, "--offline")
    assert rerun.returncode == 0, rerun.stderr
    kind, temps = classify(vault, stale, updated, "after the kill points, a complete run")
    assert kind == "updated" and temps == []
    temps_swept += len(previous)
    summary = (
        f"{len(chosen)} of {len(points)} kill points (seed {seed}): {outcomes['old']} left every "
        f"note old, {outcomes['updated']} fully updated, {outcomes['mixed']} mixed across notes; "
        f"{temps_left} left a temp file, {temps_swept} temp files swept by the next run"
    )
    print(summary)
