"""Speed at vault scale, side by side with what a user's own script costs: prints, asserts nothing.

    .venv/bin/python bench/vault_bench.py [--notes 10000] [--theses 100] [--runs 5] [--scale 50000]

Builds, deterministically (``--seed``), the vault issue 15 measures: ``--notes`` ordinary notes
of about 2 KB (frontmatter, prose, wikilinks, a table) and ``--theses`` copies of the sample
thesis, each with its own price and ratio chart, prices from the sample's CSVs. Then, in the
same run, medians of ``--runs`` whole-process runs of:

- the naive scan: python-frontmatter over every note, keeping those with ``rotation-notes``;
- the naive nightly job: that scan plus one 2-line pyplot PNG per chart each thesis declares
  (two per thesis here, as the tool draws);
- rotation-notes ``refresh --offline``: the first refresh (every chart new), a new-session
  refresh (every note and chart changes: each run is one session later), a no-op refresh
  (nothing changed), ``--check`` on the whole vault, and ``--note`` on one thesis: unchanged,
  after an edit of its prose, and after an edit of a property that redraws one chart.

The pool's peak RSS (every chart worker's, summed) is read from the tool's ``-v`` log.

Each figure is wall time of a fresh process; peak RSS is that process's own (``wait4``). With
``--scale N`` the naive scan and the no-op refresh are also measured on an N-note vault.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "vault_sample"
THESIS = "Small cap rotation 2026.md"
#: sessions for the new-session runs: each refresh is one session later than the one before
SESSIONS = ("2026-08-10", "2026-08-11", "2026-08-12", "2026-08-13", "2026-08-14",
            "2026-08-17", "2026-08-18", "2026-08-19", "2026-08-20", "2026-08-21")  # fmt: skip

#: the vocabulary of the ordinary notes' prose
VOCABULARY = (
    "rotation small caps valuation earnings rates breadth momentum credit spreads liquidity "
    "duration margin guidance revisions dispersion regime cycle inflation payrolls housing "
    "energy semis software banks industrials consumer dollar yields curve volatility"
)
WORDS = VOCABULARY.split()

NAIVE_SCAN = """
import sys
from pathlib import Path
import frontmatter
found = []
for p in sorted(Path(sys.argv[1]).rglob("*.md")):
    if ".obsidian" in p.parts:
        continue
    try:
        post = frontmatter.load(p)
    except Exception:
        continue
    if "rotation-notes" in post.metadata:
        found.append((p, post.metadata["rotation-notes"]))
print(len(found))
"""

NAIVE_JOB = (
    NAIVE_SCAN
    + """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
data = Path(sys.argv[1]) / "Data" / "market-data"
out = Path(sys.argv[2])
closes = {}
for i, (p, spec) in enumerate(found):
    legs = [spec["long"]["ticker"], spec["short"]["ticker"]]
    for k, _ in enumerate(spec.get("charts") or [None]):  # as many charts as it declares
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for t in legs:
            if t not in closes:
                closes[t] = pd.read_csv(data / f"{t}.csv", index_col=0, parse_dates=True)["Close"]
            s = closes[t].iloc[-63:]
            ax.plot(s.index, s / s.iloc[0] * 100 - 100, label=t)
        ax.legend()
        fig.savefig(out / f"chart-{i}-{k}.png")
        plt.close(fig)
"""
)


def ordinary_note(rng: random.Random, i: int, notes: int) -> str:
    """A ~2 KB note: properties, prose with links, a small table."""
    links = [f"[[Note {rng.randrange(notes)}]]" for _ in range(6)]
    prose = []
    for _ in range(8):
        words = [rng.choice(WORDS) for _ in range(rng.randint(18, 30))]
        words[rng.randrange(len(words))] = links[rng.randrange(len(links))]
        prose.append(" ".join(words).capitalize() + ".")
    rows = "\n".join(
        f"| {rng.choice(WORDS)} | {rng.uniform(-20, 20):+.1f}% | {rng.randint(1, 9)} |"
        for _ in range(5)
    )
    return (
        f"---\ntags:\n  - {rng.choice(WORDS)}\n  - {rng.choice(WORDS)}\n"
        f"created: 2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}\n"
        f"aliases:\n  - N{i}\n---\n# Note {i}\n\n"
        + "\n\n".join(prose[:4])
        + f"\n\n| Item | Move | Score |\n|---|---:|---:|\n{rows}\n\n"
        + "\n\n".join(prose[4:])
        + "\n"
    )


def build(vault: Path, notes: int, theses: int, seed: int) -> None:
    shutil.copytree(SAMPLE, vault, ignore=shutil.ignore_patterns("Attachments"))
    (vault / ".obsidian").mkdir(exist_ok=True)
    src = (vault / THESIS).read_text(encoding="utf-8")
    (vault / THESIS).unlink()
    (vault / "Theses").mkdir()
    for i in range(theses):
        # each copy draws charts of its own (a span of its own), so no two theses' charts are
        # alike: nothing can be drawn once and reused for another thesis
        text = (
            src.replace("iwm-vs-qqq-price-chart.png", f"t{i}-price.png")
            .replace("iwm-qqq-ratio-chart.png", f"t{i}-ratio.png")
            .replace("      days: 90\n", f"      days: {60 + i}\n")
            .replace("      kind: ratio\n", f"      kind: ratio\n      days: {30 + i}\n")
        )
        assert text.count(f"days: {60 + i}") == 1 and text.count(f"days: {30 + i}") == 1
        (vault / "Theses" / f"Thesis {i}.md").write_text(text, encoding="utf-8")
    rng = random.Random(seed)
    for i in range(notes):
        folder = vault / "Notes" / f"{i % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"Note {i}.md").write_text(ordinary_note(rng, i, notes), encoding="utf-8")


POOL_LINE = re.compile(
    r"drew (\d+) charts in (\d+) worker processes \(peak RSS [^,]*, (\d+) MB in all\)"
)
#: the largest pool seen in a run of each kind: (charts, workers, MB in all)
POOLS: dict[str, tuple[int, int, int]] = {}


def timed(cmd: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (MB) and exit code of one fresh process."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        log = err.read().decode("utf-8", "replace")
    found = POOL_LINE.search(log)
    if found:
        key = " ".join(cmd[cmd.index("refresh") :])
        POOLS[key] = (int(found[1]), int(found[2]), int(found[3]))
    return elapsed, usage.ru_maxrss // 1024, proc.returncode


def tool(vault: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "rotation_notes", "-v", "refresh", str(vault), "--offline", *args]


def median_of(
    runs: int, make: Callable[[int], list[str]], before: Callable[[int], None]
) -> tuple[float, int]:
    times, rss = [], []
    for k in range(runs):
        before(k)
        cmd = make(k)
        t, mb, code = timed(cmd)
        # 1 is --check's "would change"; anything else is a broken run, never a figure
        if code not in ((0, 1) if "--check" in cmd else (0,)):
            raise SystemExit(f"{' '.join(cmd[:4])}... exited {code}")
        times.append(t)
        rss.append(mb)
    return statistics.median(times), max(rss)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notes", type=int, default=10_000)
    ap.add_argument("--theses", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--scale", type=int, default=0, help="also a no-op at this many notes")
    args = ap.parse_args()
    env_note = f"{args.notes:,} notes + {args.theses} theses, medians of {args.runs} runs"
    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "pristine"
        build(base, args.notes, args.theses, args.seed)
        vault = Path(tmp) / "vault"
        charts = Path(tmp) / "naive-charts"
        charts.mkdir()
        py = sys.executable

        def fresh(_: int) -> None:
            shutil.rmtree(vault, ignore_errors=True)
            shutil.copytree(base, vault)
            os.sync()  # the copy's writeback is not the refresh's to pay for

        nothing: Callable[[int], None] = lambda _: None  # noqa: E731
        rows.append(("naive scan",) + median_of(
            args.runs, lambda _: [py, "-c", NAIVE_SCAN, str(base)], nothing))  # fmt: skip
        job_cmd = [py, "-c", NAIVE_JOB, str(base), str(charts)]
        rows.append(("naive nightly job",) + median_of(args.runs, lambda _: job_cmd, nothing))
        rows.append(("first refresh (every chart new)",) + median_of(
            args.runs, lambda _: tool(vault, "--as-of", SESSIONS[0]), fresh))  # fmt: skip
        # the vault is now rendered as of SESSIONS[0]: each run below is one session later
        fresh(0)
        timed(tool(vault, "--as-of", SESSIONS[0]))
        rows.append(("new-session refresh",) + median_of(
            args.runs, lambda k: tool(vault, "--as-of", SESSIONS[1 + k % 9]), nothing))  # fmt: skip
        last = SESSIONS[1 + (args.runs - 1) % 9]
        rows.append(("no-op refresh",) + median_of(
            args.runs, lambda _: tool(vault, "--as-of", last), nothing))  # fmt: skip
        rows.append(("--check, whole vault",) + median_of(
            args.runs, lambda _: tool(vault, "--as-of", last, "--check"), nothing))  # fmt: skip
        one = ["--as-of", last, "--note", "Theses/Thesis 0.md"]
        rows.append(("--note one thesis, unchanged",) + median_of(
            args.runs, lambda _: tool(vault, *one), nothing))  # fmt: skip
        note = vault / "Theses" / "Thesis 0.md"

        def edit_prose(k: int) -> None:  # a word typed in the note's own prose
            text = note.read_text(encoding="utf-8")
            note.write_text(text.replace("# Small cap rotation 2026\n",
                                         f"# Small cap rotation 2026\nEdit {k}.\n", 1),
                            encoding="utf-8")  # fmt: skip

        def edit_days(k: int) -> None:  # the price chart's span: one chart to redraw
            text = note.read_text(encoding="utf-8")
            note.write_text(re.sub(r"      days: 6\d\n",
                                   f"      days: {61 + k % 2 * 5}\n", text, count=1),
                            encoding="utf-8")  # fmt: skip

        rows.append(("--note one thesis, after a prose edit",) + median_of(
            args.runs, lambda _: tool(vault, *one), edit_prose))  # fmt: skip
        rows.append(("--note one thesis, after a chart property edit",) + median_of(
            args.runs, lambda _: tool(vault, *one), edit_days))  # fmt: skip
        if args.scale:
            big = Path(tmp) / "big"
            build(big, args.scale, args.theses, args.seed)
            timed(tool(big, "--as-of", last))
            rows.append((f"naive scan at {args.scale:,} notes",) + median_of(
                args.runs, lambda _: [py, "-c", NAIVE_SCAN, str(big)], nothing))  # fmt: skip
            rows.append((f"no-op refresh at {args.scale:,} notes",) + median_of(
                args.runs, lambda _: tool(big, "--as-of", last), nothing))  # fmt: skip

    scan, job = rows[0][1], rows[1][1]
    print(f"vault_bench: {env_note}, {os.cpu_count()} cores, seed {args.seed}")
    print("| run | median | vs naive scan | vs naive job | peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, mb in rows:
        print(
            f"| {name} | {seconds:.2f} s | {seconds / scan:.2f}x | {seconds / job:.2f}x | {mb} MB |"
        )
    for key, (charts, workers, total) in POOLS.items():
        print(f"pool: {key[:60]}: {charts} charts in {workers} workers, {total} MB in all")


if __name__ == "__main__":
    main()
