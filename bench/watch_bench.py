"""Watch mode latency and idle CPU: prints figures, asserts nothing.

    .venv/bin/python bench/watch_bench.py [--saves 20] [--idle 10]

Starts the real watcher (offline, warm: the sample's bundled data) on a copy of vault_sample and
saves the thesis note N times, each save changing its tracked tickers. Latency is measured as a
user sees it: from the save until the note on disk shows the regenerated table. Then the watcher
is left alone and its CPU use over the idle period is read from /proc (Linux).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTE = "Small cap rotation 2026.md"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--saves", type=int, default=20)
    ap.add_argument("--idle", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        vault = Path(tmp) / "vault"
        shutil.copytree(ROOT / "vault_sample", vault)
        env = {**os.environ, "ROTATION_NOTES_CACHE": str(Path(tmp) / "cache")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "rotation_notes", "watch", str(vault), "--offline"],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stderr is not None
        for line in proc.stderr:
            if "watching" in line:
                break
        note = vault / NOTE
        base = note.read_text(encoding="utf-8")
        latencies = []
        for i in range(args.saves):
            extra = ["SPY", "^GSPC", "^RUT", "^IXIC"][i % 4]  # a new row each save
            text = base.replace(
                "      - QQQ\n    compare: QQQ", f"      - QQQ\n      - {extra}\n    compare: QQQ"
            )
            t0 = time.perf_counter()
            note.write_text(text, encoding="utf-8")
            while f"\n| {extra} | " not in note.read_text(encoding="utf-8"):
                if time.perf_counter() - t0 > 10:
                    raise SystemExit(f"save {i}: no update within 10 s")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.7)  # let the watcher settle before the next save
        time.sleep(1.0)
        c0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        time.sleep(args.idle)
        idle_cpu = (cpu_seconds(proc.pid) - c0) / (time.perf_counter() - t0) * 100
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
    lat = sorted(latencies)
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    print(f"saves: {len(lat)}, debounce 0.5 s included")
    print(
        f"save -> updated note: median {statistics.median(lat):.3f} s, p95 {p95:.3f} s, "
        f"max {lat[-1]:.3f} s (target: p95 < 1 s)"
    )
    print(f"idle CPU over {args.idle:.0f} s: {idle_cpu:.2f} % of one core")
    print(f"watcher exit code on SIGINT: {code}")


if __name__ == "__main__":
    main()
