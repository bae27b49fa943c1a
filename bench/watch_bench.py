"""Watch mode latency and idle CPU: prints figures, asserts nothing.

    .venv/bin/python bench/watch_bench.py [--saves 20] [--idle 10] [--notes 0] [--gap 0.7]

Starts the real watcher (offline, warm: the sample's bundled data) on a copy of vault_sample,
with ``--notes N`` ordinary ~2 KB notes added (issue 15's vault: ``--notes 10000``; the notes are
vault_bench.py's), and saves the thesis note N times, each save changing its tracked tickers.
Latency is measured as a user sees it: from the save until the note on disk shows the
regenerated table. Then the watcher is left alone and its CPU use over the idle period is read
from /proc (Linux). Start to "watching" is measured against a no-op ``refresh`` of the same
vault just before the watcher starts (median of 3 whole processes; the vault as the watcher
finds it).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTE = "Small cap rotation 2026.md"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vault_bench import ordinary_note  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def add_notes(vault: Path, notes: int, seed: int = 14) -> None:
    """``notes`` ordinary notes in 50 folders, as vault_bench.py builds them."""
    rng = random.Random(seed)
    for i in range(notes):
        folder = vault / "Notes" / f"{i % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"Note {i}.md").write_text(ordinary_note(rng, i, notes), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--saves", type=int, default=20)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--notes", type=int, default=0, help="ordinary notes added to the sample")
    ap.add_argument(
        "--gap", type=float, default=0.7, help="seconds between an update and the next save"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        vault = Path(tmp) / "vault"
        shutil.copytree(ROOT / "vault_sample", vault)
        (vault / ".obsidian").mkdir(exist_ok=True)
        add_notes(vault, args.notes)
        env = {**os.environ, "ROTATION_NOTES_CACHE": str(Path(tmp) / "cache")}
        cmd = [sys.executable, "-m", "rotation_notes"]
        # the first refresh draws the charts: the watcher below starts on a refreshed vault
        subprocess.run([*cmd, "-q", "refresh", str(vault), "--offline"], env=env, check=True)
        # what start -> "watching" is measured against: a no-op refresh of the vault in the
        # state the watcher starts on (median of 3 whole processes)
        noops = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([*cmd, "-q", "refresh", str(vault), "--offline"], env=env, check=True)
            noops.append(time.perf_counter() - t0)
        noop = statistics.median(noops)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*cmd, "watch", str(vault), "--offline"], stderr=subprocess.PIPE, text=True, env=env
        )
        assert proc.stderr is not None
        for line in proc.stderr:
            if "watching" in line:
                break
        to_watching = time.perf_counter() - started
        log: list[str] = []  # keep reading, so a full pipe never blocks the watcher
        threading.Thread(target=lambda: log.extend(proc.stderr or ()), daemon=True).start()
        note = vault / NOTE
        base = note.read_text(encoding="utf-8")
        latencies = []
        cpu0 = cpu_seconds(proc.pid)
        for i in range(args.saves):
            extra = ["SPY", "^GSPC", "^RUT", "^IXIC"][i % 4]  # a new row each save
            text = base.replace(
                "      - QQQ\n    compare: QQQ", f"      - QQQ\n      - {extra}\n    compare: QQQ"
            )
            t0 = time.perf_counter()
            note.write_text(text, encoding="utf-8")
            while f"\n| {extra} | " not in note.read_text(encoding="utf-8"):
                if time.perf_counter() - t0 > 30:
                    raise SystemExit(f"save {i}: no update within 30 s\n" + "".join(log))
                time.sleep(0.005)
            latencies.append(time.perf_counter() - t0)
            time.sleep(args.gap)  # let the watcher settle before the next save
        time.sleep(1.0)
        per_save = (cpu_seconds(proc.pid) - cpu0) / max(1, args.saves)
        c0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        time.sleep(args.idle)
        idle_cpu = (cpu_seconds(proc.pid) - c0) / (time.perf_counter() - t0) * 100
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    lat = sorted(latencies)
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    print(f"watch_bench: the sample + {args.notes:,} notes, {os.cpu_count()} cores")
    print(f"start -> 'watching': {to_watching:.2f} s (a no-op refresh of the vault: {noop:.2f} s)")
    print(f"saves: {len(lat)}, {args.gap:g} s apart, debounce 0.5 s included")
    print(
        f"save -> updated note: p50 {statistics.median(lat):.3f} s, p95 {p95:.3f} s, "
        f"max {lat[-1]:.3f} s (first {latencies[0]:.3f} s; target: p95 < 1 s)"
    )
    print(f"watcher CPU per save (its render and everything else): {per_save:.2f} s")
    print(f"idle CPU over {args.idle:.0f} s: {idle_cpu:.2f} % of one core")
    print(f"watcher exit code on SIGINT: {code}")


if __name__ == "__main__":
    main()
