"""Write storm: several writers at once and a user typing into the thesis; prints figures.

    .venv/bin/python bench/storm_bench.py [--seconds 60] [--parallel 3] [--seed N]

On a copy of vault_sample, for the given time: ``--parallel`` loops each running
``rotation-notes refresh`` back to back (random ``--as-of`` and ``--offline``, so every run
changes the regions), ``rotation-notes watch`` (which re-renders after every write it did not
make), ``refresh --scheduled`` every few seconds, and a "user" appending numbered lines to the
thesis and inserting others in its prose with plain open()/write() (an editor takes no lock),
in bursts a few ms apart with pauses long enough for the watcher's debounce.

The user reads the note before each edit and checks it: the text outside the generated regions
must be exactly what the user wrote so far, and the regions must parse and hold what one
complete render writes. After the storm a final refresh runs and the note is checked again.
Prints how many runs wrote the note, how many writes were deferred because of a concurrent
edit, how many user lines were written and how many were lost (must be 0).

``run_storm`` is the storm itself; tests/test_storm.py runs a short one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# A proxy on a closed port: Yahoo fails at once, exactly as in the tests.
from conftest import NO_NETWORK  # noqa: E402
from rotation_notes.note.regions import find_regions  # noqa: E402
from rotation_notes.note.text import decode_note  # noqa: E402
from rotation_notes.refresh import RefreshOptions, refresh  # noqa: E402
from rotation_notes.vault.writer import TEMP_MARK  # noqa: E402

NOTE = "Small cap rotation 2026.md"
AS_OF: tuple[str | None, ...] = (None, "2026-02-04", "2026-04-01", "2026-06-30")
#: The scheduled run's clock: a closed session; with the network down it never counts as done,
#: so every scheduled run refreshes.
SCHEDULED_NOW = "2026-08-24T23:00:00Z"
DEFERRED = "changed while it was being refreshed"
USER_LINE = re.compile(r"user line (\d+) \((append|insert)\)")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rotation_notes", *args]


def split(raw: bytes) -> tuple[list[str], tuple[str, ...], tuple[str, ...]]:
    """(lines outside the region bodies, region names, region bodies); MarkerError if broken."""
    note = decode_note(raw)
    regions = find_regions(note, NOTE)
    inside = {i for r in regions for i in range(r.begin + 1, r.end)}
    outside = [line for i, line in enumerate(note.lines) if i not in inside]
    bodies = tuple("".join(note.lines[r.begin + 1 : r.end]) for r in regions)
    return outside, tuple(r.name for r in regions), bodies


def frontmatter(raw: bytes) -> bytes:
    return raw.split(b"\n---", 1)[0]


def renders(vault: Path, scratch: Path) -> dict[tuple[str, ...], str]:
    """The region bodies of every complete render the storm's writers can make -> its name."""
    out = {split((vault / NOTE).read_bytes())[2]: "as found"}
    for as_of in AS_OF:
        for offline in (True, False):
            copy = scratch / f"render-{as_of}-{offline}"
            shutil.copytree(vault, copy)
            options = RefreshOptions(
                as_of=None if as_of is None else dt.date.fromisoformat(as_of),
                offline=offline,
            )
            report = refresh(copy, options)
            assert all(n.status != "failed" for n in report.notes), report.notes
            name = f"as of {as_of or 'latest'}, {'offline' if offline else 'default provider'}"
            out[split((copy / NOTE).read_bytes())[2]] = name
            shutil.rmtree(copy)
    return out


@dataclass
class Figures:
    seconds: float = 0.0
    parallel: int = 0
    refresh_runs: int = 0
    scheduled_runs: int = 0
    watcher_renders: int = 0
    #: runs that rewrote the note: refresh / scheduled / watcher
    written: Counter[str] = field(default_factory=Counter)
    #: writes not made because the note changed while it was being rendered
    deferred: Counter[str] = field(default_factory=Counter)
    appended: int = 0
    inserted: int = 0
    reads_checked: int = 0
    #: user line number -> seconds into the storm the user first saw it missing
    lost_seen: dict[int, float] = field(default_factory=dict)
    lost: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    out_of_order: int = 0
    bad_regions: int = 0
    frontmatter_changed: bool = False
    temps_left: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def user_lines(self) -> int:
        return self.appended + self.inserted

    def ok(self) -> bool:
        return not (
            self.lost
            or self.lost_seen
            or self.duplicated
            or self.out_of_order
            or self.bad_regions
            or self.frontmatter_changed
            or self.temps_left
            or self.problems
        )

    def report(self) -> str:
        w, d = self.written, self.deferred
        parts = ", ".join(f"{k} {w[k]}" for k in ("refresh", "scheduled", "watcher"))
        dparts = ", ".join(f"{k} {d[k]}" for k in ("refresh", "scheduled", "watcher"))
        return "\n".join(
            [
                f"storm: {self.seconds:.0f} s, {self.parallel + 2} writers "
                f"({self.parallel} parallel refresh loops, the watcher, scheduled runs) "
                "and a user editing the thesis",
                f"refresh runs: {self.refresh_runs}, scheduled runs: {self.scheduled_runs}, "
                f"watcher renders: {self.watcher_renders}",
                f"note written: {sum(w.values())} times ({parts})",
                f"writes deferred because of a concurrent edit: {sum(d.values())} ({dparts})",
                f"user lines written: {self.user_lines} ({self.appended} appended, "
                f"{self.inserted} inserted in the prose); note checked at {self.reads_checked} "
                "reads",
                f"user lines lost: {len(self.lost)}{f' {self.lost[:20]}' if self.lost else ''}"
                f" (seen missing during the storm: {len(self.lost_seen)}), "
                f"duplicated: {len(self.duplicated)}, out of order: {self.out_of_order}",
                f"reads with malformed or mixed regions: {self.bad_regions}; frontmatter "
                f"{'CHANGED' if self.frontmatter_changed else 'byte-identical'}; temp files "
                f"left: {len(self.temps_left)}",
                *(f"problem: {p}" for p in self.problems[:20]),
            ]
        )


class User:
    """Edits the note with plain file writes, checking it before each edit."""

    def __init__(
        self,
        note: Path,
        allowed: dict[tuple[str, ...], str],
        figures: Figures,
        rng: random.Random,
        t0: float,
    ) -> None:
        self.note, self.allowed, self.fig, self.rng, self.t0 = note, allowed, figures, rng, t0
        base, self.names, _ = split(note.read_bytes())
        assert base[-1].endswith("\n")
        self.marker = next(
            i for i, line in enumerate(base) if line.startswith("%% rotation-notes:")
        )
        self.head, self.tail = base[: self.marker], base[self.marker :]
        self.inserts: list[str] = []
        self.appends: list[str] = []
        self.frontmatter = frontmatter(note.read_bytes())
        self.n = 0

    def numbers(self) -> list[int]:
        return [int(m[1]) for line in self.inserts + self.appends if (m := USER_LINE.search(line))]

    def expected(self) -> list[str]:
        return self.head + self.inserts + self.tail + self.appends

    def check(self, raw: bytes) -> None:
        self.fig.reads_checked += 1
        try:
            outside, names, bodies = split(raw)
        except Exception as exc:  # noqa: BLE001 - any unreadable state is a finding
            self.fig.bad_regions += 1
            self.fig.problems.append(f"note unreadable at {self.elapsed():.2f} s: {exc}")
            return
        if names != self.names or bodies not in self.allowed:
            self.fig.bad_regions += 1
            self.fig.problems.append(
                f"regions not from one complete render at {self.elapsed():.2f} s"
            )
        if outside != self.expected():
            present = {int(m[1]) for m in USER_LINE.finditer("".join(outside))}
            missing = [n for n in self.numbers() if n not in present]
            for n in missing:
                self.fig.lost_seen.setdefault(n, round(self.elapsed(), 3))
            if not missing:
                self.fig.problems.append(
                    f"text outside the regions changed at {self.elapsed():.2f} s"
                )
        if frontmatter(raw) != self.frontmatter:
            self.fig.frontmatter_changed = True

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def edit(self) -> None:
        raw = self.note.read_bytes()
        self.check(raw)
        self.n += 1
        if self.rng.random() < 0.75:
            line = f"user line {self.n} (append) typed at {self.elapsed():.3f} s\n"
            with open(self.note, "ab") as fh:
                fh.write(line.encode())
            self.appends.append(line)
            self.fig.appended += 1
        else:
            line = f"user line {self.n} (insert) typed at {self.elapsed():.3f} s\n"
            text = raw.decode("utf-8")
            at = text.index("\n%% rotation-notes:") + 1  # just before the first region
            with open(self.note, "wb") as fh:  # an editor saving in place
                fh.write((text[:at] + line + text[at:]).encode())
            self.inserts.append(line)
            self.fig.inserted += 1

    def run(self, going: Callable[[], bool]) -> None:
        while going():
            burst_end = time.monotonic() + self.rng.uniform(0.2, 1.5)
            while time.monotonic() < burst_end and going():
                self.edit()
                time.sleep(self.rng.uniform(0.002, 0.008))
            time.sleep(self.rng.uniform(0.35, 1.2))  # a pause: the watcher's debounce fires

    def final_check(self, raw: bytes) -> None:
        self.check(raw)
        text = raw.decode("utf-8")
        seen = Counter(int(m[1]) for m in USER_LINE.finditer(text))
        written = self.numbers()
        self.fig.lost = [n for n in written if seen[n] == 0]
        self.fig.duplicated = [n for n, c in seen.items() if c > 1]
        for group in (self.inserts, self.appends):
            order = [int(m[1]) for line in group for m in [USER_LINE.search(line)] if m]
            positions = [text.find(f"user line {n} (") for n in order if seen[n]]
            self.fig.out_of_order += sum(
                b < a for a, b in zip(positions, positions[1:], strict=False)
            )


def _loop(
    going: Callable[[], bool], run: Callable[[], None], problems: list[str], pause: float = 0.0
) -> Callable[[], None]:
    def body() -> None:
        try:
            while going():
                run()
                time.sleep(pause)
        except Exception as exc:  # noqa: BLE001 - reported, never swallowed
            problems.append(f"writer crashed: {type(exc).__name__}: {exc}")

    return body


def run_storm(
    vault: Path,
    seconds: float,
    *,
    parallel: int = 3,
    seed: int = 0,
    scheduled_every: float = 3.0,
    min_refresh_runs: int = 0,
    min_writes: int = 0,
    min_user_lines: int = 0,
    deadline: float = 1800.0,
    log: Callable[[str], None] = print,
) -> Figures:
    """Run the storm on ``vault`` (a copy of vault_sample) in this process's environment.

    It lasts ``seconds``, and beyond them until the refresh loops have made
    ``min_refresh_runs`` runs, refreshes and scheduled runs have written the note (or deferred
    a write) ``min_writes`` times and the user has written ``min_user_lines`` lines: the
    amount of work, not the time, is what a test asks for. ``deadline`` (seconds) stops a
    storm that cannot get there; that is then a problem in the figures.
    """
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    rng = random.Random(seed)
    fig = Figures(seconds=seconds, parallel=parallel)
    note = vault / NOTE
    scratch = Path(tempfile.mkdtemp(prefix="storm-renders-"))
    try:
        allowed = renders(vault, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"{len(allowed)} complete renders known; starting the watcher")

    watcher = subprocess.Popen(
        cli("watch", str(vault), "--offline", "--debounce", "0.3"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watch_lines: list[str] = []
    ready = threading.Event()

    def read_watcher() -> None:
        assert watcher.stderr is not None
        for line in watcher.stderr:
            watch_lines.append(line.rstrip("\n"))
            if "watching" in line:
                ready.set()

    reader = threading.Thread(target=read_watcher, daemon=True)
    reader.start()
    if not ready.wait(60):
        watcher.kill()
        raise RuntimeError("the watcher did not start:\n" + "\n".join(watch_lines))

    lock = threading.Lock()

    def one_refresh(rnd: random.Random) -> None:
        as_of = rnd.choice(AS_OF)
        flags = (["--as-of", as_of] if as_of else []) + (
            ["--offline"] if rnd.random() < 0.5 else []
        )
        done = subprocess.run(
            cli("refresh", str(vault), "--json", "--lock-wait", "300", *flags),
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        with lock:
            fig.refresh_runs += 1
            try:
                notes = json.loads(done.stdout)["notes"]
            except ValueError:
                fig.problems.append(
                    f"refresh {flags}: exit {done.returncode}: {done.stderr[-500:]}"
                )
                return
            for n in notes:
                if n["status"] == "updated" and NOTE in n["changed"]:
                    fig.written["refresh"] += 1
                elif n["status"] == "failed" and DEFERRED in (n["error"] or ""):
                    fig.deferred["refresh"] += 1
                elif n["status"] == "failed":
                    fig.problems.append(f"refresh {flags}: {n['error']}")

    def one_scheduled() -> None:
        done = subprocess.run(
            cli("refresh", "--scheduled", str(vault), "--lock-wait", "300"),
            capture_output=True,
            text=True,
            env={**env, "ROTATION_NOTES_NOW": SCHEDULED_NOW},
            timeout=600,
        )
        with lock:
            fig.scheduled_runs += 1
            for line in done.stderr.splitlines():
                if line.startswith(f"rotation-notes: INFO: updated {NOTE}"):
                    fig.written["scheduled"] += 1
                elif line.startswith(f"rotation-notes: INFO: failed {NOTE}"):
                    if DEFERRED in line:
                        fig.deferred["scheduled"] += 1
                    else:
                        fig.problems.append(f"scheduled: {line}")

    t0 = time.monotonic()
    until = t0 + seconds
    stopped = threading.Event()

    def going() -> bool:
        if stopped.is_set():
            return False
        now = time.monotonic()
        with lock:
            enough = (
                fig.refresh_runs >= min_refresh_runs
                and sum(fig.written.values()) + sum(fig.deferred.values()) >= min_writes
                and fig.user_lines >= min_user_lines
            )
        if (now >= until and enough) or now >= t0 + deadline:
            if not enough:
                fig.problems.append(f"the storm did not do its work in {deadline:g} s")
            stopped.set()
        return not stopped.is_set()

    def refresher(rnd: random.Random) -> Callable[[], None]:
        return lambda: one_refresh(rnd)

    threads = [
        threading.Thread(
            target=_loop(going, refresher(random.Random(seed * 100 + i)), fig.problems)
        )
        for i in range(parallel)
    ]
    threads.append(
        threading.Thread(target=_loop(going, one_scheduled, fig.problems, pause=scheduled_every))
    )
    user = User(note, allowed, fig, rng, t0)
    for t in threads:
        t.start()
    try:
        user.run(going)
    except Exception as exc:  # noqa: BLE001
        fig.problems.append(f"user crashed: {type(exc).__name__}: {exc}")
        stopped.set()
    log(f"user stopped after {user.n} edits; waiting for the writers to finish")
    for t in threads:
        t.join()
    time.sleep(1.0)  # a chance for the watcher's last debounced render (the final run completes it)
    watcher.send_signal(signal.SIGINT)
    try:
        code = watcher.wait(timeout=60)
    except subprocess.TimeoutExpired:
        watcher.kill()
        code = watcher.wait()
    reader.join(timeout=60)  # it drains the last lines (stderr closes with the watcher)
    if code != 130:
        fig.problems.append(f"watcher exit code {code}")
    fig.seconds = time.monotonic() - t0
    for line in watch_lines:
        if re.search(rf"\bupdated {re.escape(NOTE)} \(trigger", line):
            fig.written["watcher"] += 1
        elif f"deferred {NOTE}" in line:
            fig.deferred["watcher"] += 1
        elif re.search(r"\bfailed ", line) or "Traceback" in line:
            fig.problems.append(f"watcher: {line}")
        elif m := re.search(r"stopped: (\d+) renders", line):
            fig.watcher_renders = int(m[1])

    user.check(note.read_bytes())  # as the storm left it
    final = subprocess.run(
        cli("refresh", str(vault), "--offline"), capture_output=True, text=True, env=env
    )
    if final.returncode != 0:
        fig.problems.append(f"final refresh: exit {final.returncode}: {final.stderr[-500:]}")
    user.final_check(note.read_bytes())
    fig.temps_left = [p.name for p in vault.rglob("*") if TEMP_MARK in p.name]
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--parallel", type=int, default=3)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ.update(NO_NETWORK)
        os.environ["ROTATION_NOTES_CACHE"] = str(base / "cache")
        os.environ["ROTATION_NOTES_STATE"] = str(base / "state")
        os.environ["ROTATION_NOTES_LOG"] = str(base / "state" / "scheduled.log")
        vault = base / "vault"
        shutil.copytree(ROOT / "vault_sample", vault)
        print(f"seed {seed}")
        fig = run_storm(vault, args.seconds, parallel=args.parallel, seed=seed)
    print(fig.report())
    return 0 if fig.ok() else 1


if __name__ == "__main__":
    raise SystemExit(main())
