"""Crash safety at volume: SIGKILL real refreshes at every write step and at random moments.

    .venv/bin/python bench/crash_bench.py [--kills 1000] [--workers N] [--seed N]

Builds a vault of four thesis notes, each with its own chart (the sample vault plus three
copies with prose of their own), rendered as of 2026-02-04, so that a refresh rewrites all
eight files. Then it runs the real CLI (``python -m rotation_notes refresh``, in a subprocess)
``--kills`` times and kills every run with SIGKILL:

- half the kills at a write step, through the writer's test-only hook
  (``ROTATION_NOTES_TEST_KILL_AT_STEP``, rotation_notes/vault/writer.py): every step of every
  file (creating the temp file, writing it, fsync, chmod, the last check, the rename, the
  folder's fsync, done), round-robin;
- the other half at random moments: a quarter at a random delay from the start, a quarter
  at a random delay after the run's first write step (where it matters).

Half the runs are ``--offline``, half use the default provider (Yahoo, failing at once
through a closed-port proxy, so the cache's fetch log is written as well).

After each kill every note and chart must be either old (its bytes before the run) or new
(the bytes a complete run writes): a *mixed* file, part old part new, is a failure. No file
may be missing or added except the writer's own temp files; the temp files a kill leaves
must be gone after the next run that gets past its start (it sweeps them). The price cache
must pass ``PRAGMA quick_check`` after each kill. At the end a complete run in every worker
sweeps what is left and writes every file new.

Workers (default: one per core) each own a copy of the vault, a cache and a lock folder;
the table counts by kind of kill. Exit status 0 only if no file was mixed, every temp file
was swept, and the cache passed every check.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import NO_NETWORK, copy_with_thesis_copies  # noqa: E402
from conftest import file_bytes as files  # noqa: E402
from rotation_notes.prices.cache import DB_NAME  # noqa: E402
from rotation_notes.vault.writer import KILL_AT_STEP_ENV, TEMP_MARK, TEMP_RE  # noqa: E402

STALE_AS_OF = "2026-02-04"
MODES = {"offline": ["--offline"], "default": []}
STEP = "rotation-notes write step "
DEADLINE = 600.0


@dataclass
class Row:
    """Counts for one kind of kill."""

    kills: int = 0
    runs: Counter[str] = field(default_factory=Counter)  # all old / all new / some of each
    notes: Counter[str] = field(default_factory=Counter)  # old / new / mixed
    charts: Counter[str] = field(default_factory=Counter)
    temps_left: int = 0
    swept: int = 0
    cache_ok: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Row) -> None:
        self.kills += other.kills
        self.runs.update(other.runs)
        self.notes.update(other.notes)
        self.charts.update(other.charts)
        self.temps_left += other.temps_left
        self.swept += other.swept
        self.cache_ok += other.cache_ok
        self.problems += other.problems


def env_for(base: Path, kill_at: int | None) -> dict[str, str]:
    env = {**os.environ, **NO_NETWORK, "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["ROTATION_NOTES_CACHE"] = str(base / "cache")
    env["ROTATION_NOTES_STATE"] = str(base / "state")
    env["ROTATION_NOTES_LOG"] = str(base / "state" / "scheduled.log")
    env.pop(KILL_AT_STEP_ENV, None)
    if kill_at is not None:
        env[KILL_AT_STEP_ENV] = str(kill_at)
    return env


def cli(base: Path, vault: Path, mode: str, kill_at: int | None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rotation_notes", "refresh", str(vault), *MODES[mode]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(base, kill_at),
    )


def wait_first_step(proc: subprocess.Popen[str]) -> bool:
    """Block until the run reports its first write step (True) or ends (False)."""
    assert proc.stderr is not None
    return any(line.startswith(STEP) for line in proc.stderr)


def build(dest: Path) -> None:
    """The sample vault plus three theses (own prose, own chart), all rendered as of Feb."""
    copy_with_thesis_copies(dest, 3)
    base = dest.parent
    done = subprocess.run(
        [sys.executable, "-m", "rotation_notes", "refresh", str(dest), "--offline"]
        + ["--as-of", STALE_AS_OF],
        capture_output=True,
        text=True,
        env=env_for(base, None),
        timeout=DEADLINE,
    )
    if done.returncode != 0:
        raise SystemExit(f"building the stale vault failed:\n{done.stderr}")


class Worker:
    def __init__(self, n: int, root: Path, master: Path, stale: dict[str, bytes]) -> None:
        self.base = root / f"worker-{n}"
        self.base.mkdir()
        self.vault = self.base / "vault"
        shutil.copytree(master, self.vault)
        self.stale = stale
        self.updated: dict[str, dict[str, bytes]] = {}
        self.run_time: dict[str, float] = {}
        self.write_time: dict[str, float] = {}
        self.steps: list[str] = []
        self.pending: list[str] = []  # temp files left by the last kill, not yet swept

    def restore(self) -> None:
        for rel, data in self.stale.items():
            if (self.vault / rel).read_bytes() != data:
                (self.vault / rel).write_bytes(data)

    def calibrate(self) -> None:
        """What a complete run writes per mode, how long it runs and how long it writes."""
        for mode in MODES:
            self.restore()
            t0 = time.monotonic()
            proc = cli(self.base, self.vault, mode, kill_at=0)
            assert proc.stderr is not None
            lines, first = [], None
            for line in proc.stderr:
                if line.startswith(STEP):
                    lines.append(line[len(STEP) :].strip())
                    first = first or time.monotonic()
            proc.wait(timeout=DEADLINE)
            end = time.monotonic()
            if proc.returncode != 0 or first is None:
                raise SystemExit(f"a complete run failed (exit {proc.returncode})")
            self.run_time[mode], self.write_time[mode] = end - t0, end - first
            self.updated[mode] = files(self.vault)
            self.steps = lines
        self.restore()

    def kill_once(self, kind: str, arg: float | int, mode: str, row: Row) -> None:
        self.restore()
        if kind == "step":
            proc = cli(self.base, self.vault, mode, kill_at=int(arg))
            _, err = proc.communicate(timeout=DEADLINE)
            if proc.returncode != -signal.SIGKILL:
                row.problems.append(f"step {arg}: exit {proc.returncode}: {err[-300:]}")
            swept_expected = True
        else:
            proc = cli(self.base, self.vault, mode, kill_at=0)
            span = self.write_time[mode] if kind == "after first write" else self.run_time[mode]
            reached = wait_first_step(proc) if kind == "after first write" else True
            if reached:
                time.sleep(float(arg) * span)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=DEADLINE)
            swept_expected = kind == "after first write"  # the sweep comes before the writes
        row.kills += 1
        self.classify(mode, row, swept_expected)
        self.check_cache(row)

    def classify(self, mode: str, row: Row, swept_expected: bool) -> None:
        now = files(self.vault)
        updated = self.updated[mode]
        temps = [r for r in now if TEMP_MARK in r.rsplit("/", 1)[-1]]
        for rel in temps:
            if not TEMP_RE.fullmatch(rel.rsplit("/", 1)[-1]):
                row.problems.append(f"unexpected file {rel}")
        missing = set(self.stale) - set(now)
        extra = set(now) - set(self.stale) - set(temps)
        if missing or extra:
            row.problems.append(f"files missing {sorted(missing)}, added {sorted(extra)}")
        states = []
        for rel in self.stale:
            if rel not in now:
                continue
            old, new, got = self.stale[rel], updated[rel], now[rel]
            if old == new:
                if got != old:
                    row.problems.append(f"{rel} changed; a refresh never changes it")
                continue
            state = "old" if got == old else "new" if got == new else "mixed"
            (row.charts if rel.endswith(".png") else row.notes)[state] += 1
            states.append(state)
            if state == "mixed":
                row.problems.append(f"{rel}: {len(got)} bytes, neither old nor new")
        kinds = set(states)
        row.runs["all old" if kinds == {"old"} else "all new" if kinds == {"new"} else "both"] += 1
        # the temp files the previous kill left: this run swept them if it got that far
        still = [t for t in self.pending if t in now]
        if swept_expected and still:
            row.problems.append(f"temp files not swept by the next run: {still}")
        row.swept += len(self.pending) - len(still)
        row.temps_left += len([t for t in temps if t not in self.pending])  # new ones
        self.pending = temps

    def check_cache(self, row: Row) -> None:
        db_path = self.base / "cache" / DB_NAME
        if not db_path.exists():
            row.cache_ok += 1  # nothing written yet: nothing to break
            return
        db = sqlite3.connect(db_path)
        try:
            result = db.execute("PRAGMA quick_check").fetchone()
        finally:
            db.close()
        if result == ("ok",):
            row.cache_ok += 1
        else:
            row.problems.append(f"cache quick_check: {result}")

    def finish(self, row: Row) -> None:
        """A complete run sweeps what the kills left and writes every file new."""
        self.restore()
        proc = cli(self.base, self.vault, "offline", kill_at=None)
        _, err = proc.communicate(timeout=DEADLINE)
        if proc.returncode != 0:
            row.problems.append(f"final run: exit {proc.returncode}: {err[-300:]}")
        now = files(self.vault)
        left = [r for r in now if TEMP_MARK in r]
        row.swept += len([t for t in self.pending if t not in now])
        if left:
            row.problems.append(f"temp files left after a complete run: {left}")
        if {r: now.get(r) for r in self.updated["offline"]} != self.updated["offline"]:
            row.problems.append("a complete run after the kills did not write every file new")


def plan(kills: int, steps: int, rng: random.Random) -> list[tuple[str, float | int, str]]:
    """(kind, step or fraction of the span, mode) for each kill."""
    out: list[tuple[str, float | int, str]] = []
    at_steps = 0
    for n in range(kills):
        mode = "offline" if n % 2 == 0 else "default"
        if n % 4 < 2:
            out.append(("step", at_steps % steps + 1, mode))
            at_steps += 1
        elif n % 4 == 2:
            out.append(("from start", rng.random(), mode))
        else:
            out.append(("after first write", rng.random(), mode))
    rng.shuffle(out)
    return out


def step_kind(steps: list[str], k: int) -> str:
    return "step: " + steps[k - 1].split(": ", 2)[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    if not hasattr(signal, "SIGKILL"):
        print("needs SIGKILL (POSIX)", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crash-bench-") as tmp:
        root = Path(tmp)
        master = root / "master" / "vault"
        master.parent.mkdir()
        build(master)
        stale = files(master)
        workers = [Worker(i, root, master, stale) for i in range(args.workers)]
        with ThreadPoolExecutor(len(workers)) as pool:
            list(pool.map(Worker.calibrate, workers))
        steps = workers[0].steps
        notes = sum(
            1 for r in stale if r.endswith(".md") and stale[r] != workers[0].updated["offline"][r]
        )
        charts = sum(
            1 for r in stale if r.endswith(".png") and stale[r] != workers[0].updated["offline"][r]
        )
        print(
            f"seed {seed}: {args.kills} kills, {len(workers)} workers; a vault of {notes} theses "
            f"and {charts} charts; a complete run takes {workers[0].run_time['offline']:.1f} s "
            f"and makes {len(steps)} write steps"
        )
        todo = plan(args.kills, len(steps), rng)
        rows: dict[str, Row] = {}
        lock = threading.Lock()
        done = [0]

        def run_worker(w: Worker, share: list[tuple[str, float | int, str]]) -> None:
            for kind, arg, mode in share:
                row = Row()
                w.kill_once(kind, arg, mode, row)
                label = step_kind(steps, int(arg)) if kind == "step" else f"random: {kind}"
                with lock:
                    rows.setdefault(label, Row()).add(row)
                    done[0] += 1
                    if done[0] % 50 == 0:
                        print(f"  {done[0]} kills, {time.monotonic() - t0:.0f} s", flush=True)
            final = Row()
            w.finish(final)
            with lock:
                rows.setdefault("complete run at the end", Row()).add(final)

        with ThreadPoolExecutor(len(workers)) as pool:
            futures = [
                pool.submit(run_worker, w, todo[i :: len(workers)]) for i, w in enumerate(workers)
            ]
            for f in futures:
                f.result()

    total = Row()
    order = [step_kind(steps, k) for k in range(1, len(steps) + 1)]
    labels = list(dict.fromkeys(order)) + [
        "random: from start",
        "random: after first write",
        "complete run at the end",
    ]
    head = (
        f"{'kind of kill':<28}{'kills':>6}{'runs old':>9}{'new':>5}{'both':>6}"
        f"{'notes old':>10}{'new':>5}{'MIXED':>6}{'charts old':>11}{'new':>5}{'MIXED':>6}"
        f"{'temps left':>11}{'swept':>6}{'cache ok':>9}"
    )
    print()
    print(head)
    print("-" * len(head))
    for label in labels:
        row = rows.get(label)
        if row is None:
            continue
        total.add(row)
        print(
            f"{label:<28}{row.kills:>6}{row.runs['all old']:>9}{row.runs['all new']:>5}"
            f"{row.runs['both']:>6}{row.notes['old']:>10}{row.notes['new']:>5}"
            f"{row.notes['mixed']:>6}{row.charts['old']:>11}{row.charts['new']:>5}"
            f"{row.charts['mixed']:>6}{row.temps_left:>11}{row.swept:>6}{row.cache_ok:>9}"
        )
    print("-" * len(head))
    print(
        f"{'total':<28}{total.kills:>6}{total.runs['all old']:>9}{total.runs['all new']:>5}"
        f"{total.runs['both']:>6}{total.notes['old']:>10}{total.notes['new']:>5}"
        f"{total.notes['mixed']:>6}{total.charts['old']:>11}{total.charts['new']:>5}"
        f"{total.charts['mixed']:>6}{total.temps_left:>11}{total.swept:>6}{total.cache_ok:>9}"
    )
    print(
        "\nruns old/new/both: every changed file old, every one new, or some of each (each "
        "file whole);\nnotes/charts MIXED: a file part old part new (must be 0); temps left: "
        "temp files a kill left;\nswept: removed by the next run; cache ok: PRAGMA quick_check "
        f"passed. {time.monotonic() - t0:.0f} s in all."
    )
    if total.swept != total.temps_left:
        total.problems.append(f"{total.temps_left} temp files left, {total.swept} swept")
    for p in total.problems[:30]:
        print("PROBLEM:", p)
    bad = total.problems or total.notes["mixed"] or total.charts["mixed"]
    print("FAILED" if bad else "OK: no file mixed, every temp file swept, the cache intact")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
