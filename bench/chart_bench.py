"""Cost of drawing the sample thesis's two charts: prints figures, asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/chart_bench.py [--repeat 20] [--compress-levels]

The inputs are the sample vault's own: ``render_thesis`` on ``vault_sample``'s thesis (its
bundled CSVs, its catalyst notes as links) is run once with ``draw_chart`` and
``draw_ratio_chart`` wrapped to record their arguments, and the two charts are then drawn
again N times in this process through the same entry points. For each chart it prints the
median milliseconds (wall clock, and CPU time: steadier on a busy machine), the
``Figure.draw`` calls per chart (draws that render pixels and draws with drawing disabled,
made to measure, counted apart), the share of the time spent encoding the PNG (filters and
zlib, in Pillow) and the PNG's size; whether the bytes equal the PNGs in
``vault_sample/Attachments`` (what ``refresh`` wrote last). ``--compress-levels`` also
prints the encoding's time and size per zlib level, as RGBA and as RGB.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from rotation_notes import load_prices, render_thesis, symbols_of  # noqa: E402
from rotation_notes.thesis import chartplans  # noqa: E402

VAULT = ROOT / "vault_sample"
NOTE = VAULT / "Small cap rotation 2026.md"
FILES = {"price": "iwm-vs-qqq-price-chart.png", "ratio": "iwm-qqq-ratio-chart.png"}


def sample_calls() -> dict[str, tuple[Callable[..., Any], tuple[Any, ...]]]:
    """kind -> (entry point, its arguments) as rendering the sample thesis calls them."""
    seen: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
    real = {"price": chartplans.draw_chart, "ratio": chartplans.draw_ratio_chart}

    def recorder(kind: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            seen[kind] = (real[kind], args)
            return real[kind](*args)

        return call

    chartplans.draw_chart = recorder("price")  # type: ignore[assignment]
    chartplans.draw_ratio_chart = recorder("ratio")  # type: ignore[assignment]
    try:
        text = NOTE.read_text(encoding="utf-8")
        prices = load_prices(VAULT / "Data" / "market-data", symbols_of(text))
        links = {p.stem: p.read_text(encoding="utf-8") for p in VAULT.rglob("*.md") if p != NOTE}
        rendered = render_thesis(text, prices, links=links, path=NOTE.name)
    finally:
        chartplans.draw_chart = real["price"]  # type: ignore[assignment]
        chartplans.draw_ratio_chart = real["ratio"]  # type: ignore[assignment]
    assert sorted(seen) == ["price", "ratio"], sorted(seen)
    assert [c.file for c in rendered.charts] == [FILES["price"], FILES["ratio"]]
    return seen


class Draws:
    """Counts ``Figure.draw`` calls: those that render pixels ("full") and those made with
    drawing disabled to measure ("measure": ``draw_without_rendering``, and the extra draw
    ``savefig`` makes first when a layout engine is left on the figure)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        draw = Figure.draw

        def counted_draw(fig: Figure, renderer: Any) -> Any:
            # RendererBase._draw_disabled swaps in no-op draw_* methods on the instance
            self.counts["measure" if "draw_path" in vars(renderer) else "full"] += 1
            return draw(fig, renderer)

        Figure.draw = counted_draw  # type: ignore[method-assign]


class Zlib:
    """Time spent encoding the PNG (row filters and zlib, in Pillow's C encoder: timed by
    wrapping ``PIL.ImageFile._save``, where the encoder runs)."""

    def __init__(self) -> None:
        from PIL import ImageFile

        self.seconds = 0.0
        save = ImageFile._save

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return save(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        ImageFile._save = timed  # type: ignore[assignment]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--compress-levels", action="store_true")
    args = ap.parse_args()

    calls = sample_calls()
    draws = Draws()
    encode = Zlib()
    print(f"matplotlib {matplotlib.__version__}, zlib {zlib.ZLIB_VERSION}, {args.repeat} runs")
    print(
        f"{'chart':<6} {'ms median':>9} {'min':>7} {'cpu ms':>7} {'draws':>6} {'measures':>8} "
        f"{'encode %':>8} {'PNG bytes':>9}  same bytes as vault_sample"
    )
    for kind, (entry, call_args) in calls.items():
        entry(*call_args)  # warm: fonts, caches
        times, cpu, pngs = [], [], set()
        draws.counts.clear()
        encode.seconds = 0.0
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            png = entry(*call_args).png
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            pngs.add(png)
        (png,) = pngs  # deterministic in process
        same = png == (VAULT / "Attachments" / FILES[kind]).read_bytes()
        print(
            f"{kind:<6} {statistics.median(times) * 1000:9.1f} {min(times) * 1000:7.1f} "
            f"{statistics.median(cpu) * 1000:7.1f} "
            f"{draws.counts['full'] / args.repeat:6.1f} "
            f"{draws.counts['measure'] / args.repeat:8.1f} "
            f"{100 * encode.seconds / sum(times):8.1f} {len(png):9d}  {same}"
        )
    if args.compress_levels:
        compress_levels(calls, args.repeat)


def compress_levels(calls: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]], n: int) -> None:
    """Time and size of encoding each chart's pixels at each zlib level, as RGBA (what
    ``savefig`` writes) and as RGB (the figure is opaque)."""
    import io

    from PIL import Image

    print("\nencoding alone, per zlib level (Pillow's default is 6)")
    print(f"{'chart':<6} {'mode':<5} {'level':>5} {'ms median':>9} {'PNG bytes':>9}")
    for kind, (entry, call_args) in calls.items():
        pixels = Image.open(io.BytesIO(entry(*call_args).png)).convert("RGBA")
        for mode in ("RGBA", "RGB"):
            image = pixels.convert(mode)
            for level in (1, 3, 6, 9):
                times, size = [], 0
                for _ in range(max(3, n // 2)):
                    buf = io.BytesIO()
                    t0 = time.perf_counter()
                    image.save(buf, format="png", compress_level=level)
                    times.append(time.perf_counter() - t0)
                    size = len(buf.getvalue())
                ms = statistics.median(times) * 1000
                print(f"{kind:<6} {mode:<5} {level:5d} {ms:9.1f} {size:9d}")


if __name__ == "__main__":
    main()
