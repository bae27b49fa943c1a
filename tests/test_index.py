"""The scan index (issue 15): a refresh that skips what it believes unchanged must give exactly
what a refresh that recomputes everything gives, after any one change a user, a sync tool or an
upgrade can make. Each test runs the same change on two copies of a vault: one refreshed with
the index, one with ``ROTATION_NOTES_INDEX=off``, and compares every file byte for byte and the
``--json`` report. The changes are also checked to change something, so the comparison has
teeth: a hit that hid them would show as a difference.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE_NOTE, copy_with_thesis_copies, file_bytes, run_cli
from rotation_notes import refresh as refresh_mod
from rotation_notes.refresh import INDEX_ENV, RefreshOptions, clock_key, refresh
from rotation_notes.thesis import chartplans
from rotation_notes.vault import fingerprint
from rotation_notes.vault.index import index_path

CATALYST = "Catalysts/Claude Cowork disruption February 2026.md"
PRICE_CHART = "Attachments/iwm-vs-qqq-price-chart.png"
RATIO_CHART = "Attachments/iwm-qqq-ratio-chart.png"


def _run(vault: Path, monkeypatch: pytest.MonkeyPatch, *, index: bool, **opts) -> dict:
    if index:
        monkeypatch.delenv(INDEX_ENV, raising=False)
    else:
        monkeypatch.setenv(INDEX_ENV, "off")
    report = refresh(vault, RefreshOptions(offline=True, **opts))
    out = report.to_json()
    out.pop("vault")
    return out


def _pair(tmp_path: Path, copies: int = 0) -> tuple[Path, Path]:
    a, b = tmp_path / "indexed", tmp_path / "full"
    copy_with_thesis_copies(a, copies)
    copy_with_thesis_copies(b, copies)
    return a, b


def _same(a: Path, b: Path, ja: dict, jb: dict) -> None:
    assert file_bytes(a) == file_bytes(b)
    assert ja == jb


def _counting_draws(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    drawn: list[str] = []
    real = chartplans.ChartJob.draw

    def draw(self: chartplans.ChartJob) -> bytes:
        drawn.append(self.kind)
        return real(self)

    monkeypatch.setattr(chartplans.ChartJob, "draw", draw)
    return drawn


# --- one change at a time -------------------------------------------------------------------


def _edit(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def change(vault: Path) -> None:
        path = vault / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return change


def _one_close(vault: Path) -> None:
    """IWM's last close, one digit changed (299.959991 -> 289.959991): the same file size,
    and its mtime put back, as a sync tool restores it."""
    path = vault / "Data" / "market-data" / "IWM.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[-1].split(",")
    assert cells[4] == "299.959991", cells  # Date,Open,High,Low,Close,...
    cells[4] = "289.959991"
    lines[-1] = ",".join(cells)
    stat = path.stat()
    path.write_text("".join(lines), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size


def _template_override(vault: Path) -> None:
    (vault / "Templates").mkdir(exist_ok=True)
    (vault / "Templates" / "scorecard.md.j2").write_text(
        "{{ scorecard.summary if scorecard else '' }} (my own words)\n", encoding="utf-8"
    )
    toml = vault / "rotation-notes.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + 'templates_dir = "Templates"\n')


def _template_word(vault: Path) -> None:
    path = vault / "Templates" / "scorecard.md.j2"
    path.write_text(path.read_text(encoding="utf-8").replace("own", "very own"), encoding="utf-8")


def _caption_word(vault: Path) -> None:
    """A word of a chart's caption, in the note's generated region, changed by hand."""
    _edit(SAMPLE_NOTE, "divergence", "difference")(vault)


def _shadow_link(vault: Path) -> None:
    """A note of the catalyst's name in the thesis's own folder: Obsidian now resolves the
    link there (own folder first)."""
    (vault / "Claude Cowork disruption February 2026.md").write_text(
        "---\nevent_start: 2026-03-10\n---\nAnother event of that name.\n", encoding="utf-8"
    )


def _delete_chart(vault: Path) -> None:
    (vault / PRICE_CHART).unlink(missing_ok=True)  # (a sequence may have moved it already)


def _older_chart(vault: Path) -> None:
    """The price chart's file replaced by another chart the tool drew (an older sync copy)."""
    shutil.copyfile(vault / RATIO_CHART, vault / PRICE_CHART)


def _attachments(vault: Path) -> None:
    (vault / ".obsidian").mkdir(exist_ok=True)
    (vault / ".obsidian" / "app.json").write_text(
        '{"attachmentFolderPath": "Charts"}', encoding="utf-8"
    )
    (vault / PRICE_CHART).unlink(missing_ok=True)  # so the chart is placed anew


#: each change, and whether the note or its charts must then change
CHANGES: dict[str, tuple[Callable[[Path], None], bool]] = {
    "one close (same size, mtime restored)": (_one_close, True),
    "the thesis's prose": (_edit(SAMPLE_NOTE, "Strongest small cap", "Best small cap"), False),
    "a property (chart span)": (_edit(SAMPLE_NOTE, "      days: 90", "      days: 60"), True),
    "a caption word in the region": (_caption_word, True),
    "a linked catalyst's date": (
        _edit(CATALYST, "event_start: 2026-02-0", "event_start: 2026-01-2"),
        True,
    ),
    "a note shadowing a link": (_shadow_link, True),
    "the chart file deleted": (_delete_chart, True),
    "the chart file replaced by an older chart": (_older_chart, True),
    "a vault setting": (
        _edit("rotation-notes.toml", "stale_after_days = 90", "stale_after_days = 400"),
        True,
    ),
    "the attachment folder": (_attachments, True),
    "a template override added": (_template_override, True),
}


def _outputs(vault: Path) -> dict[str, bytes]:
    """The files a refresh writes: thesis notes and chart PNGs."""
    return {
        rel: data
        for rel, data in file_bytes(vault).items()
        if rel.endswith(".png") or rel == SAMPLE_NOTE or rel.startswith("Theses/")
    }


@pytest.mark.parametrize("name", list(CHANGES))
def test_one_change_gives_what_a_full_run_gives(name, tmp_path, monkeypatch):
    a, b = _pair(tmp_path)
    _run(a, monkeypatch, index=True)
    _run(b, monkeypatch, index=False)
    change, rerenders = CHANGES[name]
    change(a)
    change(b)
    changed = _outputs(a)
    ja = _run(a, monkeypatch, index=True)
    jb = _run(b, monkeypatch, index=False)
    _same(a, b, ja, jb)
    # the run did (or did not) change the note or its charts: a hit that hid the change
    # would leave them as they were, and fail here even if both copies agreed
    assert (_outputs(a) != changed) == rerenders
    # and a run after it writes nothing and reports the same, as unchanged
    again = file_bytes(a)
    third = _run(a, monkeypatch, index=True)
    assert file_bytes(a) == again
    assert [n.pop("status") for n in third["notes"]] == ["unchanged"]
    for n in ja["notes"]:
        n.pop("status")
        n["changed"] = []
    assert third == ja


def test_a_template_word_rerenders(tmp_path, monkeypatch):
    a, b = _pair(tmp_path)
    for v in (a, b):
        _template_override(v)
    _run(a, monkeypatch, index=True)
    _run(b, monkeypatch, index=False)
    assert "(my own words)" in (a / SAMPLE_NOTE).read_text(encoding="utf-8")
    for v in (a, b):
        _template_word(v)
    _same(a, b, _run(a, monkeypatch, index=True), _run(b, monkeypatch, index=False))
    assert "(my very own words)" in (a / SAMPLE_NOTE).read_text(encoding="utf-8")


def test_a_library_version_redraws_every_chart(tmp_path, monkeypatch):
    """The code key names each library's version: another matplotlib means other pixels may
    come out, so nothing recorded under the old one is believed."""
    vault = tmp_path / "v"
    copy_with_thesis_copies(vault, 0)
    _run(vault, monkeypatch, index=True)
    drawn = _counting_draws(monkeypatch)
    _run(vault, monkeypatch, index=True)
    assert drawn == []  # as recorded: nothing drawn
    real = fingerprint.library_versions
    monkeypatch.setattr(fingerprint, "library_versions", lambda: {**real(), "matplotlib": "0.0.1"})
    monkeypatch.setattr(fingerprint, "_CODE", None)
    _run(vault, monkeypatch, index=True)
    assert sorted(drawn) == ["price", "ratio"]


def test_the_code_itself_is_in_the_key(monkeypatch, tmp_path):
    """A change to the package's source (a caption's wording, a chart's layout) changes the
    code key, so an upgrade recomputes and redraws everything once."""
    package = tmp_path / "rotation_notes"
    shutil.copytree(Path(fingerprint.__file__).parent.parent, package)
    key = subprocess.run(
        [sys.executable, "-c", "from rotation_notes.vault.fingerprint import code_key; "
         "print(code_key())"], capture_output=True, text=True, cwd=tmp_path, check=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    ).stdout  # fmt: skip
    plans = package / "thesis" / "chartplans.py"
    plans.write_text(plans.read_text(encoding="utf-8").replace("divergence", "difference"))
    changed = subprocess.run(
        [sys.executable, "-c", "from rotation_notes.vault.fingerprint import code_key; "
         "print(code_key())"], capture_output=True, text=True, cwd=tmp_path, check=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    ).stdout  # fmt: skip
    assert key.strip() and changed.strip() and key != changed


# --- any sequence of changes ----------------------------------------------------------------


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.sampled_from(sorted(CHANGES)), min_size=1, max_size=3, unique=True))
@example(["the attachment folder", "the chart file deleted"])  # seen in CI: a chart moved away
def test_any_sequence_of_changes_gives_what_full_runs_give(tmp_path_factory, monkeypatch, names):
    tmp = tmp_path_factory.mktemp("seq")
    monkeypatch.setenv("ROTATION_NOTES_STATE", str(tmp / "state"))
    a, b = _pair(tmp, copies=1)
    _run(a, monkeypatch, index=True)
    _run(b, monkeypatch, index=False)
    for name in names:
        if name == "the chart file replaced by an older chart" and not (a / PRICE_CHART).exists():
            continue
        CHANGES[name][0](a)
        CHANGES[name][0](b)
        _same(a, b, _run(a, monkeypatch, index=True), _run(b, monkeypatch, index=False))


def test_the_run_after_a_first_refresh_that_created_the_charts_computes_nothing(
    make_vault, monkeypatch
):
    """A first refresh creates the thesis's charts, where its link to each found no file: the
    next run, with nothing changed, is a hit (it used to compute every thesis once more),
    and a chart of that name that later appears elsewhere still counts."""
    from conftest import THESIS

    vault = make_vault({"Thesis.md": THESIS})
    monkeypatch.delenv(INDEX_ENV, raising=False)
    computed = _counting_composes(monkeypatch)
    first = refresh(vault, RefreshOptions(offline=True))
    assert first.notes[0].charts == ["iwm-vs-qqq-price-chart.png"]
    assert computed == ["Thesis.md"]
    assert (vault / "iwm-vs-qqq-price-chart.png").is_file()
    computed.clear()
    assert refresh(vault, RefreshOptions(offline=True)).notes[0].status == "unchanged"
    assert computed == []
    # the same name in the note's own folder, Obsidian's first choice: computed again
    (vault / "Sub").mkdir()
    os.replace(vault / "Thesis.md", vault / "Sub" / "Thesis.md")
    refresh(vault, RefreshOptions(offline=True))
    shutil.copy(vault / "iwm-vs-qqq-price-chart.png", vault / "Sub" / "iwm-vs-qqq-price-chart.png")
    computed.clear()
    refresh(vault, RefreshOptions(offline=True))
    assert computed == ["Sub/Thesis.md"]


# --- an edit of the prose alone --------------------------------------------------------------


def test_a_prose_edit_is_as_recorded_and_imports_nothing_heavy(sample_vault):
    """A word typed in the thesis's own prose changes nothing a refresh reads: ``--note``
    after it computes nothing (no pandas, matplotlib or Jinja), writes nothing, and says
    what a full run says. The index then holds the new bytes: the next run is a plain hit."""
    assert run_cli("refresh", sample_vault, "--offline").returncode == 0
    _edit(SAMPLE_NOTE, "Strongest small cap", "Best small cap")(sample_vault)
    code = (
        "import sys; from rotation_notes.cli import main; rc = main(sys.argv[1:]); "
        "heavy = [m for m in ('pandas', 'matplotlib', 'jinja2') "
        "if m in sys.modules]; print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)"
    )
    env = {**os.environ, "MPLBACKEND": "Agg"}
    args = ["refresh", str(sample_vault), "--offline", "--json", "--note", SAMPLE_NOTE]
    before = (
        file_bytes(sample_vault),
        {p: p.stat().st_mtime_ns for p in sample_vault.rglob("*") if p.is_file()},
    )
    outs = []
    for extra in ({}, {INDEX_ENV: "off"}, {}):
        outs.append(subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                                   text=True, env={**env, **extra}, timeout=300))  # fmt: skip
        assert outs[-1].returncode == 0, outs[-1].stderr
    hit, full, again = outs
    assert "HEAVY []" in hit.stderr and "HEAVY []" in again.stderr
    assert "HEAVY []" not in full.stderr
    assert json.loads(hit.stdout) == json.loads(full.stdout) == json.loads(again.stdout)
    assert json.loads(hit.stdout)["notes"][0]["status"] == "unchanged"
    after = (
        file_bytes(sample_vault),
        {p: p.stat().st_mtime_ns for p in sample_vault.rglob("*") if p.is_file()},
    )
    assert after == before
    entry = json.loads(index_path(sample_vault.resolve()).read_bytes())["theses"][SAMPLE_NOTE]
    assert entry["sha"] == refresh_mod.sha_of((sample_vault / SAMPLE_NOTE).read_bytes())


CATALYST_NOTE = "---\nevent_start: 2026-03-18\nevent_end: 2026-03-19\n---\nFOMC March.\n"

#: Edits below a thesis's properties that do change what its refresh reads or says: each
#: must be computed, as a run without the index computes it. name -> (old, new)
PROSE_EDITS = {
    "a link to a catalyst added": ("# Thesis\n", "# Thesis\n\nWatch [[CPI April]].\n"),
    "a link to a catalyst removed": ("See [[FOMC March]] too.", "See the Fed too."),
    "a link's alias changed": ("See [[FOMC March]] too.", "See [[FOMC March|the Fed]] too."),
    "a bad UTF-8 byte typed": ("See [[FOMC March]] too.", "See [[FOMC March]] too. \udcff"),
    "a stray end marker typed": ("# Thesis\n", "# Thesis\n%% /rotation-notes:setup %%\n"),
    "a region's line endings": (
        "%% rotation-notes:setup %%\n",
        "%% rotation-notes:setup %%\r\n",
    ),
}


@pytest.mark.parametrize("name", list(PROSE_EDITS))
def test_prose_edits_that_change_what_is_read_are_computed(name, make_vault, monkeypatch):
    from conftest import THESIS

    files = {
        "Thesis.md": THESIS + "\nSee [[FOMC March]] too.\n",
        "Catalysts/FOMC March.md": CATALYST_NOTE,
        "Catalysts/CPI April.md": CATALYST_NOTE.replace("-03-", "-04-"),
    }
    a, b = make_vault(files, name="indexed"), make_vault(files, name="full")
    _run(a, monkeypatch, index=True)
    _run(b, monkeypatch, index=False)
    _run(a, monkeypatch, index=True)  # the chart it drew is now in the vault's answers
    old, new = PROSE_EDITS[name]
    for vault in (a, b):
        path = vault / "Thesis.md"
        text = path.read_bytes().decode("utf-8")
        assert old in text, old
        path.write_bytes(text.replace(old, new, 1).encode("utf-8", "surrogateescape"))
    computed = _counting_composes(monkeypatch)
    ja = _run(a, monkeypatch, index=True)
    _same(a, b, ja, _run(b, monkeypatch, index=False))
    if ja["notes"][0]["status"] == "failed":  # read and refused, as without the index
        return
    assert computed == ["Thesis.md", "Thesis.md"]  # (b's run counts too)
    # and the test has teeth: a word of prose after it is as recorded
    path = a / "Thesis.md"
    path.write_bytes(path.read_bytes().replace(b"# Thesis\n", b"# Thesis\nA word of prose.\n", 1))
    computed.clear()
    assert _run(a, monkeypatch, index=True)["notes"][0]["status"] == "unchanged"
    assert computed == []


def _counting_composes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    composed: list[str] = []
    real = refresh_mod._compose_one

    def counted(run, p, *args):
        composed.append(p.rel)
        return real(run, p, *args)

    monkeypatch.setattr(refresh_mod, "_compose_one", counted)
    return composed


# --- the clock ------------------------------------------------------------------------------


def test_every_settle_instant_is_a_clock_key_boundary():
    """A note may show the last settled session and the day: both change only at instants
    where ``clock_key`` changes, every session of 2024-2027 (early closes, both DST halves)."""
    from rotation_notes import clock

    day = dt.date(2024, 1, 1)
    seen = 0
    while day <= dt.date(2027, 12, 31):
        if clock.is_session(day):
            at = clock.settled_at(day)
            before = at - dt.timedelta(microseconds=1)
            assert clock_key(before) != clock_key(at), day
            assert clock.last_closed_session(before) != clock.last_closed_session(at)
            seen += 1
        day += dt.timedelta(days=1)
    assert seen > 1000


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(2024, 1, 2), max_value=dt.datetime(2027, 12, 30)),
    st.integers(min_value=0, max_value=24 * 3600 - 1),
)
def test_one_clock_key_one_last_session_and_day(start, seconds):
    from rotation_notes import clock

    t1 = start.replace(tzinfo=dt.UTC)
    t2 = t1 + dt.timedelta(seconds=seconds)
    if clock_key(t1) == clock_key(t2):
        assert clock.last_closed_session(t1) == clock.last_closed_session(t2)
        assert t1.date() == t2.date()


def test_a_new_settle_recomputes(tmp_path, monkeypatch):
    """Across a market close the data's age is said against another session: recomputed,
    and what a full run gives."""
    a, b = _pair(tmp_path)
    monkeypatch.setenv("ROTATION_NOTES_NOW", "2026-08-31T20:00:00+00:00")
    _run(a, monkeypatch, index=True)
    _run(b, monkeypatch, index=False)
    monkeypatch.setenv("ROTATION_NOTES_NOW", "2026-08-31T21:00:00+00:00")
    ja = _run(a, monkeypatch, index=True)
    _same(a, b, ja, _run(b, monkeypatch, index=False))


# --- what a run does with the index ---------------------------------------------------------


def test_a_no_op_imports_no_heavy_module_and_reports_as_a_full_run(sample_vault, tmp_path):
    """The second run of an unchanged vault reads its answer from the index: it imports
    neither pandas nor matplotlib, writes nothing, and says what a full run says."""
    assert run_cli("refresh", sample_vault, "--offline").returncode == 0
    code = (
        "import sys; from rotation_notes.cli import main; rc = main(sys.argv[1:]); "
        "heavy = [m for m in ('pandas', 'matplotlib', 'jinja2', 'exchange_calendars') "
        "if m in sys.modules]; print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)"
    )
    before = {p: p.stat().st_mtime_ns for p in sample_vault.rglob("*") if p.is_file()}
    env = {**os.environ, "MPLBACKEND": "Agg"}
    args = ["refresh", str(sample_vault), "--offline", "--json"]
    hit = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env, timeout=300)  # fmt: skip
    full = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**env, INDEX_ENV: "off"}, timeout=300)  # fmt: skip
    assert hit.returncode == full.returncode == 0, hit.stderr + full.stderr
    assert "HEAVY []" in hit.stderr
    assert "HEAVY []" not in full.stderr
    assert json.loads(hit.stdout) == json.loads(full.stdout)
    strip = lambda err: [ln for ln in err.splitlines() if not ln.startswith("HEAVY")]  # noqa: E731
    assert strip(hit.stderr) == strip(full.stderr)
    assert before == {p: p.stat().st_mtime_ns for p in sample_vault.rglob("*") if p.is_file()}


def test_check_uses_the_index_but_never_writes_it(sample_vault, monkeypatch):
    _run(sample_vault, monkeypatch, index=True)
    path = index_path(sample_vault.resolve())
    state = path.stat().st_mtime_ns
    _edit(SAMPLE_NOTE, "Strongest small cap", "Best small cap")(sample_vault)
    done = run_cli("refresh", sample_vault, "--offline", "--check")
    assert done.returncode == 0  # prose only: nothing to update
    done = run_cli("refresh", sample_vault, "--offline", "--check", "--as-of", "2026-08-20")
    assert done.returncode == 1 and "would update" in done.stderr
    assert path.stat().st_mtime_ns == state


def test_full_redraws_and_rebuilds(sample_vault, monkeypatch):
    _run(sample_vault, monkeypatch, index=True)
    drawn = _counting_draws(monkeypatch)
    _run(sample_vault, monkeypatch, index=True)
    assert drawn == []
    before = file_bytes(sample_vault)
    _run(sample_vault, monkeypatch, index=True, use_index=False)  # refresh --full
    assert sorted(drawn) == ["price", "ratio"]
    assert file_bytes(sample_vault) == before  # same bytes: nothing written


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"format": 1, "code": "x"}', b"[1, 2]", b'{"format": 1, "theses": 7}', b""],
)
def test_a_broken_index_is_ignored_and_replaced(sample_vault, monkeypatch, content):
    _run(sample_vault, monkeypatch, index=True)
    path = index_path(sample_vault.resolve())
    path.write_bytes(content)
    ja = _run(sample_vault, monkeypatch, index=True)
    assert all(n["status"] != "failed" for n in ja["notes"])
    assert json.loads(path.read_bytes())["format"] == 1


def test_an_index_entry_of_the_wrong_shape_means_recompute(sample_vault, monkeypatch):
    _run(sample_vault, monkeypatch, index=True)
    path = index_path(sample_vault.resolve())
    data = json.loads(path.read_bytes())
    for entry in data["theses"].values():
        entry["calls"] = [["resolve", ["x"], None]]  # one argument short
    path.write_text(json.dumps(data), encoding="utf-8")
    _edit(SAMPLE_NOTE, "      days: 90", "      days: 60")(sample_vault)
    ja = _run(sample_vault, monkeypatch, index=True)
    assert ja["notes"][0]["status"] == "updated"


def test_an_unwritable_state_folder_only_costs_speed(sample_vault, monkeypatch, tmp_path):
    blocked = tmp_path / "state-is-a-file"
    blocked.write_text("")
    monkeypatch.setenv("ROTATION_NOTES_STATE", str(blocked))
    monkeypatch.setattr(refresh_mod, "POOL_FROM", 10**6)
    ja = _run(sample_vault, monkeypatch, index=True)
    assert [n["status"] for n in ja["notes"]] == ["updated"]
