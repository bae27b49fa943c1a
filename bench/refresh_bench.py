"""Refresh speed and memory on a synthetic vault: prints figures, asserts nothing.

    .venv/bin/python bench/refresh_bench.py [--theses 20] [--notes 1000]

Builds a temp vault with the sample's bundled data (provider = "bundled": no network), N copies
of the sample thesis (each with its own chart) and M plain notes, then times a first refresh
(everything written), a second one (nothing to write) and reports peak RSS of this process.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rotation_notes.refresh import RefreshOptions, refresh  # noqa: E402


def build(vault: Path, theses: int, notes: int) -> None:
    shutil.copytree(ROOT / "vault_sample", vault)
    shutil.rmtree(vault / "Attachments")
    # measure the pipeline, not the network: the bundled data only
    (vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\nprovider = "bundled"\n'
    )
    src = (vault / "Small cap rotation 2026.md").read_text(encoding="utf-8")
    for i in range(theses):
        text = src.replace("iwm-vs-qqq-price-chart.png", f"chart-{i}.png")
        (vault / f"Theses/Thesis {i}.md").parent.mkdir(exist_ok=True)
        (vault / f"Theses/Thesis {i}.md").write_text(text, encoding="utf-8")
    for i in range(notes):
        folder = vault / f"Notes/{i % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"Note {i}.md").write_text(
            f"---\ntags: [x]\n---\n# Note {i}\n\n" + "Some prose. [[Fed policy]]\n" * 40
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--theses", type=int, default=20)
    ap.add_argument("--notes", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    firsts, seconds = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            vault = Path(tmp) / "vault"
            build(vault, args.theses, args.notes)
            t0 = time.perf_counter()
            r1 = refresh(vault, RefreshOptions())
            t1 = time.perf_counter()
            r2 = refresh(vault, RefreshOptions())
            t2 = time.perf_counter()
            assert all(n.status == "updated" for n in r1.notes)
            assert all(n.status == "unchanged" for n in r2.notes)
            firsts.append(t1 - t0)
            seconds.append(t2 - t1)
    n = args.theses + 1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"vault: {n} thesis notes + {args.notes} plain notes, {args.repeat} runs")
    print(
        f"first refresh (all written):  median {statistics.median(firsts):.2f} s "
        f"({statistics.median(firsts) / n * 1000:.0f} ms per thesis)"
    )
    print(
        f"second refresh (no writes):   median {statistics.median(seconds):.2f} s "
        f"({statistics.median(seconds) / n * 1000:.0f} ms per thesis)"
    )
    print(f"peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
