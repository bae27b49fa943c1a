"""The pure core in-process: the public API, the region registry, each region builder.

Figures are checked against numbers worked out by hand from small synthetic price
series (not against the code's own output), and the API against the refresh job.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

import rotation_notes
from conftest import SAMPLE, SAMPLE_DATA, SAMPLE_NOTE, THESIS, snapshot
from rotation_notes import load_prices, render_thesis, symbols_of
from rotation_notes.errors import NoteError, SpecError
from rotation_notes.note.regions import Placement
from rotation_notes.note.text import WikiLink, decode_note
from rotation_notes.output.templates import default_templates_dir, make_env
from rotation_notes.prices.marketdata import PriceSet, SymbolSource
from rotation_notes.refresh import RefreshOptions, refresh
from rotation_notes.thesis import builders, registry
from rotation_notes.thesis.chartplans import plan_charts
from rotation_notes.thesis.context import fields_of
from rotation_notes.thesis.core import build_context, read_thesis
from rotation_notes.thesis.facts import Facts
from rotation_notes.thesis.spec import CatalystWindow

D = dt.date


def series(points: dict[str, float]) -> pd.Series:
    return pd.Series(list(points.values()), index=pd.to_datetime(list(points)), dtype="float64")


def priceset(**by_symbol: dict[str, float]) -> PriceSet:
    out = PriceSet()
    for symbol, points in by_symbol.items():
        s = series(points)
        out.closes[symbol] = s
        out.sources[symbol] = SymbolSource("test data", "csv", s.index[-1].date().isoformat())
    return out


# --- the public API -------------------------------------------------------------------------


class FolderProvider:
    """What the API's user does: prices from a CSV folder, handed to the refresh job too."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def load(self, symbols):
        return load_prices(self.folder, symbols)


def sample_links(vault: Path) -> dict[str, str]:
    """Every note of the vault by its path, as a script would pass them."""
    return {
        p.relative_to(vault).as_posix(): p.read_text(encoding="utf-8") for p in vault.rglob("*.md")
    }


@pytest.mark.parametrize("as_of", [None, D(2026, 2, 4), D(2025, 12, 31)])
def test_render_thesis_gives_what_refresh_writes(tmp_path, as_of):
    vault = tmp_path / "v"
    shutil.copytree(SAMPLE, vault)
    text = (vault / SAMPLE_NOTE).read_text(encoding="utf-8")
    rendered = render_thesis(
        text, load_prices(SAMPLE_DATA, symbols_of(text)), as_of=as_of, links=sample_links(vault)
    )
    report = refresh(vault, RefreshOptions(as_of=as_of), provider=FolderProvider(SAMPLE_DATA))
    assert [n.status for n in report.notes] == ["updated"]
    assert (vault / SAMPLE_NOTE).read_bytes() == rendered.data
    assert rendered.text == rendered.data.decode("utf-8")
    # the ratio chart needs two sessions since the thesis was opened (2026-02-04)
    files = ["iwm-vs-qqq-price-chart.png"] + (["iwm-qqq-ratio-chart.png"] if as_of is None else [])
    assert [c.file for c in rendered.charts] == files
    for chart in rendered.charts:
        assert (vault / "Attachments" / chart.file).read_bytes() == chart.png
        assert chart.png.startswith(b"\x89PNG")
    note = report.notes[0]
    assert rendered.report["as_of"] == note.as_of
    assert rendered.report["tickers"] == note.tickers
    assert rendered.report["catalysts"] == note.catalysts
    assert rendered.report["scorecard"] == note.scorecard
    assert rendered.report["levels"] == note.levels
    assert rendered.report["warnings"] == note.warnings


def test_render_thesis_reads_and_writes_nothing(tmp_path, monkeypatch):
    """Pure: no file but the shipped templates is opened, no socket, nothing written."""
    text = (SAMPLE / SAMPLE_NOTE).read_text(encoding="utf-8")
    prices = load_prices(SAMPLE_DATA, symbols_of(text))
    links = sample_links(SAMPLE)
    monkeypatch.chdir(tmp_path)
    before = snapshot(SAMPLE)
    opened: list[str] = []
    watching = [True]

    def hook(event: str, args: tuple) -> None:
        if watching[0] and event in ("open", "os.listdir", "os.scandir", "socket.connect"):
            opened.append(f"{event} {args[0]}")

    sys.addaudithook(hook)
    try:
        rendered = render_thesis(text, prices, links=links)
    finally:
        watching[0] = False
    templates = str(default_templates_dir())
    # code imported on first use (Python's own modules, this package's), matplotlib's font
    # cache and the templates are the program's files, not the user's
    code_dirs = (sys.base_prefix, sys.prefix, str(Path(rotation_notes.__file__).parent))
    foreign = [
        o
        for o in opened
        if templates not in o
        and "matplotlib" not in o
        and "site-packages" not in o
        and not o.startswith("open /proc/self/")  # the template memory limit's own reading
        and not (o.split(" ", 1)[1].startswith(code_dirs) and o.endswith((".py", ".pyc", ".so")))
    ]
    assert foreign == [], foreign
    assert not any(o.startswith("socket") for o in opened)
    assert list(tmp_path.iterdir()) == []
    assert snapshot(SAMPLE) == before
    assert rendered.changed and rendered.charts


def test_rendering_the_rendered_note_changes_nothing():
    text = (SAMPLE / SAMPLE_NOTE).read_text(encoding="utf-8")
    prices = load_prices(SAMPLE_DATA, symbols_of(text))
    first = render_thesis(text, prices, links=sample_links(SAMPLE))
    again = render_thesis(first.data, prices, links=sample_links(SAMPLE))
    assert not again.changed and again.data == first.data
    assert [c.png for c in again.charts] == [c.png for c in first.charts]


def test_render_thesis_keeps_bom_and_line_endings_outside_regions():
    raw = b"\xef\xbb\xbf" + THESIS.replace("\n", "\r\n").encode() + b"Mine.\r\nNo newline"
    prices = load_prices(SAMPLE_DATA, symbols_of(raw))
    out = render_thesis(raw, prices)
    assert out.data.startswith(b"\xef\xbb\xbf---\r\n")
    assert out.data.endswith(b"Mine.\r\nNo newline")
    assert b"\n" not in out.data.replace(b"\r\n", b"")  # every generated line is CRLF too
    assert "IWM" in out.text and out.changed


def test_render_thesis_init_inserts_the_regions_the_spec_calls_for(monkeypatch):
    monkeypatch.setenv("ROTATION_NOTES_NOW", "2026-08-24T23:00:00Z")  # the data is current
    text = THESIS.split("# Thesis")[0] + "# Thesis\n\n## Tracking\n\nMy words.\n"
    out = render_thesis(text, load_prices(SAMPLE_DATA, symbols_of(text)), init=True)
    found = [line for line in out.text.splitlines() if line.startswith("%% rotation-notes:")]
    spec = read_thesis(decode_note(text.encode()), "t").spec
    assert sorted(f.split(":")[1].rstrip(" %") for f in found) == sorted(
        k.name for k in registry.wanted(spec)
    )
    # under "## Tracking": charts, then tracking, then the words that were there
    lines = out.text.splitlines()
    at = lines.index("## Tracking")
    assert lines[at + 2] == "%% rotation-notes:charts %%"
    assert lines.index("%% rotation-notes:tracking %%") < lines.index("My words.")
    assert "## The setup" in lines and out.report["warnings"] == []
    plain = render_thesis(text, load_prices(SAMPLE_DATA, symbols_of(text)))
    assert not plain.changed
    assert plain.report["warnings"][0].startswith("no region for headline, updated, setup")


def test_render_thesis_errors_name_the_note_and_what_to_fix():
    with pytest.raises(NoteError) as err:
        render_thesis("# Just a note\n", PriceSet(), path="Ideas.md")
    assert err.value.path == "Ideas.md" and "not a thesis note" in str(err.value)
    text = (SAMPLE / SAMPLE_NOTE).read_text(encoding="utf-8")
    prices = load_prices(SAMPLE_DATA, symbols_of(text))
    # its catalysts are listed, and no linked note is given: their rows say so (issue 13)
    warnings = render_thesis(text, prices).report["warnings"]
    link = "[[Claude Cowork disruption February 2026]]"
    assert f"thesis.md: catalyst {link} is n/a: no linked notes were given" in "\n".join(warnings)
    bad = THESIS.replace("ticker: IWM", "ticker: [IWM]")
    with pytest.raises(SpecError) as err:
        render_thesis(bad, prices)
    assert err.value.line is not None and "ticker" in str(err.value)


def test_the_api_is_importable_cheaply():
    import subprocess

    code = "import sys, rotation_notes; print('pandas' in sys.modules, 'jinja2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]  # `rotation-notes --help` stays fast
    for name in rotation_notes.__all__:
        assert getattr(rotation_notes, name) is not None


def test_the_readme_example_runs_and_writes_nothing():
    import re
    import subprocess

    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## Use it from Python.*?```python\n(.*?)```", readme, re.S).group(1)
    before = snapshot(SAMPLE)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "2026-08-21 True"
    assert lines[2].startswith("iwm-vs-qqq-price-chart.png ") and "IWM ahead." in lines[2]
    assert snapshot(SAMPLE) == before


# --- the registry ---------------------------------------------------------------------------


def test_every_region_has_a_shipped_template_and_a_distinct_name():
    assert len(set(registry.NAMES)) == len(registry.REGIONS)
    for kind in registry.REGIONS:
        assert (default_templates_dir() / kind.template).is_file(), kind.template
    shipped = {p.name for p in default_templates_dir().glob("*.md.j2")}
    assert shipped == {k.template for k in registry.REGIONS}  # no orphan template


def test_region_builders_give_disjoint_names(tmp_path):
    text = (SAMPLE / SAMPLE_NOTE).read_text(encoding="utf-8")
    thesis = read_thesis(decode_note(text.encode()), "t.md")
    prices = load_prices(SAMPLE_DATA, thesis.spec.symbols())
    facts = Facts(thesis.spec, prices, D(2026, 8, 21), None, [])
    seen = set(fields_of(builders.build_base(facts)))
    for kind in registry.REGIONS:
        names = set(fields_of(kind.build(facts)))
        assert not names & seen, (kind.name, names & seen)
        seen |= names


def test_charts_region_applies_only_with_charts():
    thesis = read_thesis(decode_note(THESIS.encode()), "t.md")
    assert thesis.spec.charts  # the default: one chart of the two legs
    assert "charts" in [k.name for k in registry.wanted(thesis.spec)]
    no_charts = THESIS.replace("  history:", "  charts: []\n  history:")
    spec = read_thesis(decode_note(no_charts.encode()), "t.md").spec
    assert "charts" not in [k.name for k in registry.wanted(spec)]


def test_a_new_region_is_one_builder_one_template_one_row(make_vault, monkeypatch):
    """The registry is the only list: a row plus a template makes --init and refresh know it."""
    from dataclasses import dataclass

    @dataclass
    class PairContext:
        pair_ratio: float

    def build_pair(facts: Facts) -> PairContext:
        long, short = facts.stats(facts.spec.long.ticker), facts.stats(facts.spec.short.ticker)
        return PairContext(long.close / short.close)

    kind = registry.RegionKind("pair", build_pair, Placement(("pair",), "Pair ratio"))
    regions = (*registry.REGIONS, kind)
    monkeypatch.setattr(registry, "REGIONS", regions)
    monkeypatch.setattr(registry, "BY_NAME", {k.name: k for k in regions})
    monkeypatch.setattr(registry, "NAMES", tuple(k.name for k in regions))
    vault = make_vault(
        {
            "t.md": THESIS,
            "rotation-notes.toml": 'templates_dir = "tpl"\n',
            "tpl/pair.md.j2": "IWM/QQQ: {{ '%.4f'|format(pair_ratio) }}\n",
        }
    )
    options = RefreshOptions(init=True, as_of=D(2026, 2, 4))
    report = refresh(vault, options, provider=FolderProvider(SAMPLE_DATA))
    assert [n.status for n in report.notes] == ["updated"], report.notes[0].error
    text = (vault / "t.md").read_text(encoding="utf-8")
    iwm, qqq = (load_prices(SAMPLE_DATA, [s]).closes[s] for s in ("IWM", "QQQ"))
    expected = iwm[:"2026-02-04"].iloc[-1] / qqq[:"2026-02-04"].iloc[-1]
    assert f"## Pair ratio\n\n%% rotation-notes:pair %%\nIWM/QQQ: {expected:.4f}\n" in text


# --- each builder, on numbers worked out by hand --------------------------------------------

LEGS = {
    "long": {"2025-12-31": 100.0, "2026-01-02": 101.0, "2026-01-05": 105.0, "2026-01-06": 110.0},
    "short": {"2025-12-31": 200.0, "2026-01-02": 196.0, "2026-01-05": 190.0, "2026-01-06": 210.0},
}


def facts_for(text: str, prices: PriceSet, as_of: D, catalysts=()) -> Facts:
    thesis = read_thesis(decode_note(text.encode()), "t.md")
    return Facts(thesis.spec, prices, as_of, None, list(catalysts))


def small_prices() -> PriceSet:
    return priceset(
        IWM=LEGS["long"],
        QQQ=LEGS["short"],
        **{"^RUT": LEGS["long"], "^IXIC": LEGS["short"]},
        SPY={"2025-12-31": 50.0, "2026-01-06": 52.0},
    )


def test_headline_leader_and_spread_by_hand():
    f = facts_for(THESIS, small_prices(), D(2026, 1, 6))
    h = builders.build_headline(f)
    # IWM 100 -> 110 = +10%; QQQ 200 -> 210 = +5%: small caps ahead by 5 pp
    assert h.ytd_spread == pytest.approx(5.0)
    assert h.lead.ticker == "IWM" and h.headline_na == []
    f = facts_for(THESIS, small_prices(), D(2026, 1, 5))
    h = builders.build_headline(f)
    # IWM +5%, QQQ -5%: +10 pp; on 01-02 IWM +1%, QQQ -2%
    assert h.ytd_spread == pytest.approx(10.0)
    f = facts_for(THESIS.replace("IWM", "XXX"), small_prices(), D(2026, 1, 5))
    with pytest.raises(KeyError):
        f.prices.closes["XXX"]
    h = builders.build_headline(f)
    assert h.ytd_spread is None and h.headline_na[0].startswith("XXX: n/a, ")


def test_setup_metrics_age_and_staleness_by_hand():
    text = THESIS.replace(
        "  history:",
        "  setup:\n    stale_after_days: 3\n    metrics:\n"
        "      - {name: P/E, long: 15, short: 30, unit: x, source: FactSet, as_of: 2026-01-02,"
        " gap: true}\n  history:",
    )
    f = facts_for(text, small_prices(), D(2026, 1, 6))
    s = builders.build_setup(f)
    [row] = s.metrics
    assert (row.age_days, row.stale, s.stale_after_days) == (4, True, 3)
    assert row.gap_pct == pytest.approx(-50.0)  # 15 is 50% below 30
    f = facts_for(text, small_prices(), D(2026, 1, 5))
    assert builders.build_setup(f).metrics[0].stale is False  # 3 days old


def test_tracking_rows_compare_each_symbol_with_the_benchmark_by_hand():
    text = THESIS.replace(
        "  history:", "  tracking:\n    tickers: [IWM, SPY]\n    compare: SPY\n  history:"
    )
    f = facts_for(text, small_prices(), D(2026, 1, 6))
    t = builders.build_tracking(f)
    rows = {r.symbol: r for r in t.tracking}
    assert t.compare == rows["SPY"].symbol == "SPY" and rows["SPY"].is_compare
    assert rows["IWM"].stats.ytd.pct == pytest.approx(10.0)
    assert rows["SPY"].stats.ytd.pct == pytest.approx(4.0)  # 50 -> 52
    assert rows["IWM"].spread_ytd == pytest.approx(6.0)
    assert rows["IWM"].stats.ret_1d.pct == pytest.approx(110 / 105 * 100 - 100)


def test_catalyst_window_moves_partial_and_future_by_hand():
    link = WikiLink(False, "Event", "", None)
    windows = [
        CatalystWindow("Event.md", link, "Event", D(2026, 1, 5), D(2026, 1, 6)),
        CatalystWindow("Later.md", link, "Later", D(2026, 1, 6), D(2026, 1, 9)),
        CatalystWindow("Future.md", link, "Future", D(2026, 2, 1), D(2026, 2, 1)),
    ]
    text = THESIS.replace("  history:", "  catalysts:\n    symbols: [IWM, QQQ]\n  history:")
    f = facts_for(text, small_prices(), D(2026, 1, 6), windows)
    c = builders.build_catalysts(f)
    event, later, future = c.catalysts
    # from the close before the window (01-02: 101, 196) to its last session (01-06)
    assert event.moves[0].move.pct == pytest.approx(110 / 101 * 100 - 100)
    assert event.moves[1].move.pct == pytest.approx(210 / 196 * 100 - 100)
    assert event.spread == pytest.approx(event.moves[0].move.pct - event.moves[1].move.pct)
    assert (event.partial, later.partial, future.future) == (False, True, True)
    assert [s.symbol for s in c.catalyst_symbols] == ["IWM", "QQQ"]
    # an upcoming catalyst has no moves to explain: it is listed with the sessions until it
    # (2026-02-01 is a Sunday: its first session is Monday 02-02, 18 sessions after 01-06)
    assert future.na == [] and future.sessions_until == 18 and future.reactions == []
    assert future.first_session == D(2026, 2, 2)


def test_history_period_moves_by_hand():
    text = THESIS.replace(
        "      - label: 2016-2017\n        start: 2016-11-09\n        end: 2017-05-09",
        "      - label: New year\n        start: 2026-01-02\n        end: 2026-01-05\n"
        "      - label: Not yet\n        start: 2026-03-01",
    )
    f = facts_for(text, small_prices(), D(2026, 1, 6))
    h = builders.build_history(f)
    new_year, not_yet = h.periods
    # from the close before the start (12-31) to the end: IWM 100 -> 105, QQQ 200 -> 190
    assert [x.move.pct for x in new_year.moves] == [pytest.approx(5.0), pytest.approx(-5.0)]
    assert new_year.spread == pytest.approx(10.0) and new_year.to == D(2026, 1, 5)
    assert not not_yet.moves[0].move.ok and "period starts after 2026-01-06" in not_yet.na[0]


def test_updated_groups_sources_and_lists_problems():
    prices = small_prices()
    for s in ("IWM", "QQQ"):
        prices.sources[s] = SymbolSource(
            "cache", "cache", "2026-01-06", "live fetch failed: timeout", status="fallback"
        )
    f = facts_for(THESIS, prices, D(2026, 1, 6))
    d = builders.build_updated(f).data
    assert d.not_live == ["Live fetch failed: timeout: IWM, QQQ from cache, data to 2026-01-06."]
    assert d.providers == ["cache", "test data"] and d.latest_session == "2026-01-06"
    assert d.warnings == d.not_live + d.problems


def test_charts_with_a_data_problem_are_not_drawn_and_say_why():
    prices = small_prices()
    del prices.closes["QQQ"]
    prices.missing["QQQ"] = "no QQQ.csv in test data"
    thesis = read_thesis(decode_note(THESIS.encode()), "t.md")
    f = Facts(thesis.spec, prices, D(2026, 1, 6), None, [])
    drawn, skipped = plan_charts(f, {c.file: (c.file, c.file) for c in thesis.spec.charts})
    assert drawn == [] and len(skipped) == 1
    assert skipped[0].reason.startswith("not redrawn for 2026-01-06, ")
    assert skipped[0].reason.endswith("; QQQ: no QQQ.csv in test data")


def test_every_template_renders_from_the_built_context():
    """The template contract: each shipped template renders from what the builders give."""
    text = (SAMPLE / SAMPLE_NOTE).read_text(encoding="utf-8")
    thesis = read_thesis(decode_note(text.encode()), "t.md")
    prices = load_prices(SAMPLE_DATA, thesis.spec.symbols())
    facts = Facts(thesis.spec, prices, D(2026, 8, 21), None, [])
    from rotation_notes.thesis.chartplans import plan_charts

    facts.charts, facts.charts_skipped = plan_charts(
        facts, {"iwm-vs-qqq-price-chart.png": ("a", "a")}
    )
    context = build_context(facts)
    env = make_env(None)
    for kind in registry.REGIONS:
        out = env.get_template(kind.template).render(context)
        assert out.strip(), kind.name


def test_the_template_contract_is_documented():
    """docs/regions.md names every field a template is given (template overrides rely on it)."""
    import dataclasses

    from rotation_notes.thesis import context

    doc = (Path(__file__).parent.parent / "docs" / "regions.md").read_text(encoding="utf-8")
    section = doc.split("## What a template is given", 1)[1]
    classes = [
        obj
        for obj in vars(context).values()
        if isinstance(obj, type) and dataclasses.is_dataclass(obj)
    ]
    assert len(classes) >= 15
    for cls in classes:
        for f in dataclasses.fields(cls):
            assert f"`{f.name}`" in section, f"{cls.__name__}.{f.name}"
    for kind in registry.REGIONS:
        assert f"| `{kind.name}` |" in section


def test_the_readme_tree_names_every_module():
    """'How it works' in the README stays true: every module is in it, no module is invented."""
    import re

    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    tree = readme.split("## How it works", 1)[1].split("```")[1]
    named = set(re.findall(r"^\s+([a-z_]+(?:\.py|/))", tree, re.M))
    named.discard("rotation_notes/")
    package = root / "rotation_notes"
    actual = {p.name for p in package.glob("*.py") if p.name != "__main__.py"}
    actual |= {p.parent.name + "/" for p in package.glob("**/__init__.py") if p.parent != package}
    actual |= {p.name for p in package.glob("*/*.py") if p.name != "__init__.py"}
    assert named == actual


def test_a_changed_template_is_used_at_the_next_refresh_in_the_same_process(make_vault):
    """Compiled templates are kept per process (by source): an edit is new source."""
    vault = make_vault({"t.md": THESIS})
    (vault / "rotation-notes.toml").write_text(
        'templates_dir = "tpl"\nprovider = "bundled"\ndata_dir = "Data/market-data"\n'
    )
    (vault / "tpl").mkdir()
    for word in ("first", "second", "first"):
        (vault / "tpl" / "headline.md.j2").write_text(f"{word} {{{{ long.ticker }}}}\n")
        report = refresh(vault, RefreshOptions(as_of=D(2026, 2, 4)))
        assert report.notes[0].status == "updated", report.notes[0].error
        assert f"%% rotation-notes:headline %%\n{word} IWM\n" in (vault / "t.md").read_text()


def test_render_thesis_takes_a_datetime_as_its_day_and_names_wrong_types():
    text = (SAMPLE / SAMPLE_NOTE).read_text(encoding="utf-8")
    prices = load_prices(SAMPLE_DATA, symbols_of(text))
    links = sample_links(SAMPLE)
    by_day = render_thesis(text, prices, links=links, as_of=D(2026, 2, 4))
    for when in (dt.datetime(2026, 2, 4, 23, 59), pd.Timestamp("2026-02-04 09:30")):
        assert render_thesis(text, prices, links=links, as_of=when).data == by_day.data
    with pytest.raises(TypeError, match="read the file first"):
        render_thesis(SAMPLE / SAMPLE_NOTE, prices)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="PriceSet"):
        render_thesis(text, {"IWM": []})  # type: ignore[arg-type]
