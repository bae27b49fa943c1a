"""Attacks on the scan index (issue 15): a run that uses the index must give exactly what a
run without it gives (ROTATION_NOTES_INDEX=off): every file byte for byte, the same --json
report and the same stderr, after any change. Each test here shows one way it does not.

Every test sets a vault up, lets the index learn it (two indexed runs: the first run's cache
write makes the second recompute), makes one change, copies the vault, then runs the real CLI
with the index on the vault and with ROTATION_NOTES_INDEX=off on the copy, and compares.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NO_NETWORK, ROOT, SAMPLE, SAMPLE_NOTE, THESIS

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="symlinks, POSIX state folder")


def _env(state: Path, cache: Path, index: bool = True, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        **NO_NETWORK,
        "PYTHONIOENCODING": "utf-8",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": str(ROOT),
        "ROTATION_NOTES_STATE": str(state),
        "ROTATION_NOTES_CACHE": str(cache),
    }
    env.pop("ROTATION_NOTES_INDEX", None)
    if not index:
        env["ROTATION_NOTES_INDEX"] = "off"
    env.update(extra)
    return env


def _cli(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rotation_notes", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _files(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            if p.exists():
                out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


class Lab:
    """One vault run with its own state and cache, and a reference copy run without index."""

    def __init__(self, tmp: Path, vault: Path, *args: str, **extra: str) -> None:
        self.tmp, self.vault, self.args, self.extra = tmp, vault, ["--offline", *args], extra
        self.env = _env(tmp / "state", tmp / "cache", **extra)

    def run(self, *more: str) -> subprocess.CompletedProcess[str]:
        return _cli(self.env, "refresh", self.vault, *self.args, *more)

    def settle(self) -> None:
        """Two indexed runs: the index knows the vault (the second run's cache is stable)."""
        for _ in range(2):
            done = self.run()
            assert done.returncode == 0, done.stderr

    def compare(self) -> list[str]:
        """The indexed run on the vault against an index-off run on an identical copy: what
        differs (empty: nothing)."""
        ref = self.tmp / "ref" / self.vault.name
        if ref.parent.exists():
            shutil.rmtree(ref.parent)
        shutil.copytree(self.vault, ref, symlinks=True)
        got = self.run("--json")
        want = _cli(
            _env(self.tmp / "ref-state", self.tmp / "ref-cache", index=False, **self.extra),
            "refresh", ref, *self.args, "--json",
        )  # fmt: skip
        diffs = []
        if got.returncode != want.returncode:
            diffs.append(f"exit code: indexed {got.returncode}, full {want.returncode}")
        for what, a, b in (("stdout (--json)", got.stdout, want.stdout),
                           ("stderr", got.stderr, want.stderr)):  # fmt: skip
            a, b = a.replace(str(self.vault), "VAULT"), b.replace(str(ref), "VAULT")
            if a != b:
                diffs.append(f"{what}:\n--- indexed\n{a}\n--- full\n{b}")
        mine, theirs = _files(self.vault), _files(ref)
        for rel in sorted(set(mine) | set(theirs)):
            if mine.get(rel) != theirs.get(rel):
                diffs.append(f"file {rel} differs")
        return diffs


def _same(lab: Lab) -> None:
    diffs = lab.compare()
    assert not diffs, "the indexed run differs from the full run:\n" + "\n".join(diffs)


def _sample(tmp_path: Path) -> Path:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE, vault)
    return vault


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _pair_thesis(long: str, short: str) -> str:
    """conftest's THESIS with other legs and no index symbols."""
    return (
        THESIS.replace("IWM", long)
        .replace("QQQ", short)
        .replace("    index: ^RUT\n", "")
        .replace("    index: ^IXIC\n", "")
    )


# --- hits that hide a real change (critical) -----------------------------------------------


def test_edit_of_a_partial_template_in_a_symlinked_templates_subfolder_is_rendered(tmp_path):
    """DEFECT (critical): folder_digest walks templates_dir with os.walk(followlinks=False), so a
    subfolder of the templates folder that is a symlink (to another vault folder) is not in the
    global key; the loader follows it for {% include %}. Editing the included template leaves
    the index's key unchanged: the indexed run says "unchanged", the full run updates the note."""
    vault = _sample(tmp_path)
    (vault / "rotation-notes.toml").write_text(
        (vault / "rotation-notes.toml").read_text() + 'templates_dir = "Templates"\n'
    )
    (vault / "Templates").mkdir()
    (vault / "Shared partials").mkdir()
    (vault / "Shared partials" / "line.j2").write_text("PARTIAL ONE\n")
    os.symlink("../Shared partials", vault / "Templates" / "partials")
    (vault / "Templates" / "headline.md.j2").write_text('{% include "partials/line.j2" %}')
    lab = Lab(tmp_path, vault)
    lab.settle()
    assert "PARTIAL ONE" in (vault / SAMPLE_NOTE).read_text()

    (vault / "Shared partials" / "line.j2").write_text("PARTIAL TWO\n")

    _same(lab)


def test_note_saved_during_a_refresh_is_rendered_by_the_next_run(tmp_path, monkeypatch):
    """DEFECT (critical): _entry records the sha of the note as read AFTER the run (not of the
    bytes the output was computed from). A user (or sync) save that lands while the run computes
    (the note itself is not rewritten, so no concurrent-edit check fires) is recorded as
    already rendered: every later indexed run is a hit and never renders the edit. Here the
    save changes the price chart's span (days: 90 -> 30); the full run redraws the chart."""
    from rotation_notes.refresh import RefreshOptions, refresh
    from rotation_notes.thesis import core as core_mod

    vault = _sample(tmp_path)
    lab = Lab(tmp_path, vault)
    lab.settle()
    note = vault / SAMPLE_NOTE
    # an edit the run must compute (a link: prose alone is now as recorded, and not composed)
    _edit(note, "# Small cap rotation 2026\n", "# Small cap rotation 2026\nSee [[Fed policy]].\n")

    real = core_mod.compose

    def compose_then_user_saves(*args, **kwargs):
        out = real(*args, **kwargs)
        _edit(note, "      days: 90\n", "      days: 30\n")  # Obsidian autosaves an edit
        return out

    monkeypatch.setattr(core_mod, "compose", compose_then_user_saves)
    monkeypatch.setenv("ROTATION_NOTES_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("ROTATION_NOTES_CACHE", str(tmp_path / "cache"))
    report = refresh(vault, RefreshOptions(offline=True))
    assert report.notes[0].status == "unchanged", report.notes[0].error
    monkeypatch.setattr(core_mod, "compose", real)
    assert "      days: 30\n" in note.read_text()

    _same(lab)


def test_csv_rewritten_while_the_run_loads_it_is_loaded_by_the_next_run(tmp_path, monkeypatch):
    """DEFECT (critical): the data's dependencies (CSV files, the cache) are recorded AFTER the
    load, so the record is of the bytes on disk then, not of the bytes the prices came from.
    A sync tool rewriting a CSV between the two (a new close) is recorded as loaded: the
    racy-clean guard does not help (the content compare matches the new bytes), and every
    later indexed run keeps the old figures. The full run shows the new close."""
    from rotation_notes.prices import marketdata
    from rotation_notes.refresh import RefreshOptions, refresh

    vault = _sample(tmp_path)
    lab = Lab(tmp_path, vault)
    lab.settle()
    _edit(
        vault / SAMPLE_NOTE,
        "# Small cap rotation 2026\n",
        "# Small cap rotation 2026\nSee [[Prose link]].\n",
    )
    csv = vault / "Data" / "market-data" / "IWM.csv"

    real = marketdata.CsvDirectoryProvider.load

    def load_then_sync_writes(self, symbols):
        out = real(self, symbols)
        _edit(csv, "299.959991,299.959991", "298.959991,298.959991")  # the last close
        return out

    monkeypatch.setattr(marketdata.CsvDirectoryProvider, "load", load_then_sync_writes)
    monkeypatch.setenv("ROTATION_NOTES_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("ROTATION_NOTES_CACHE", str(tmp_path / "cache"))
    refresh(vault, RefreshOptions(offline=True))
    monkeypatch.setattr(marketdata.CsvDirectoryProvider, "load", real)

    _same(lab)


# --- the index changes what a run computes ------------------------------------------------
# (an edit here that must make a thesis computed adds a link: a link is read; an edit of the
# prose alone leaves the thesis as recorded since issue 15's prose shape, and computes nothing)


def test_a_changed_note_fails_or_not_as_in_a_full_run_when_two_notes_share_a_chart(tmp_path):
    """DEFECT (high): two theses draw one chart file. A hit's chart is claimed for its note
    (_replay) before any recomputed note is written, so when the FIRST note (in scan order)
    changes that chart's settings, the indexed run fails the changed note and leaves the
    unchanged one "unchanged"; the full run writes the changed note and its chart and fails
    the other one. Different statuses, exit report and files."""
    vault = _sample(tmp_path)
    src = (vault / SAMPLE_NOTE).read_text(encoding="utf-8")
    first = vault / "A thesis.md"  # before "Small cap..." in the scan
    first.write_text(src.replace("iwm-vs-qqq-price-chart.png", "a-price.png"), encoding="utf-8")
    lab = Lab(tmp_path, vault)
    lab.settle()

    _edit(first, "      kind: ratio\n", "      kind: ratio\n      days: 30\n")

    _same(lab)


def test_data_behind_warning_does_not_depend_on_which_theses_were_recomputed(tmp_path):
    """DEFECT (high): mark_asked sets prices.closed_sessions from the earliest end among the
    symbols LOADED; a run with hits loads only the recomputed theses' symbols. With --as-of, a
    note whose data ends before the date asked for then loses its "Data ends ..." warning (the
    session list starts after its last session), so the indexed run rewrites the note without
    it while the full run (B's symbols end earlier) keeps it."""
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE, vault)
    (vault / SAMPLE_NOTE).unlink()
    data = vault / "Data" / "market-data"
    rows = (data / "IWM.csv").read_text().splitlines(True)
    (data / "GA.csv").write_text(
        "".join(r for r in rows if not "2026-08-04" <= r[:10] <= "2026-08-12")
    )
    rows = (data / "QQQ.csv").read_text().splitlines(True)
    (data / "GB.csv").write_text("".join(r for r in rows if not "2026-08-21" <= r[:10] < "9"))
    (vault / "A.md").write_text(_pair_thesis("GA", "GB"))  # data ends 08-21 and 08-20
    (vault / "B.md").write_text(_pair_thesis("IWO", "IWN"))  # data ends 07-31
    lab = Lab(tmp_path, vault, "--as-of", "2026-08-12", ROTATION_NOTES_NOW="2026-08-26T23:00:00Z")
    lab.settle()
    assert "Data ends 2026-08-03" in (vault / "A.md").read_text()

    _edit(vault / "A.md", "# Thesis\n", "# Thesis\nSee [[Prose link]].\n")  # A recomputed, B a hit

    _same(lab)


# --- the report differs ---------------------------------------------------------------------


def test_json_data_order_of_a_no_op_run_with_a_missing_symbol(tmp_path):
    """DEFECT (low): on a hit the report's "data" comes from _held_sources in the notes' symbol
    order; a full run lists the loaded symbols first and the missing ones last. One thesis,
    one tracked symbol without a CSV, NOTHING changed: the --json output differs."""
    vault = _sample(tmp_path)
    _edit(
        vault / SAMPLE_NOTE, "      - IWM\n      - IWO\n", "      - IWM\n      - XYZ\n      - IWO\n"
    )
    lab = Lab(tmp_path, vault)
    lab.settle()

    _same(lab)


def test_json_data_order_when_a_later_thesis_is_recomputed(tmp_path):
    """DEFECT (low): the recomputed theses' symbols are loaded and listed first, the hits'
    appended from the index: "data" is in another order than in the full run."""
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE, vault)
    (vault / SAMPLE_NOTE).unlink()
    (vault / "A.md").write_text(THESIS)
    (vault / "B.md").write_text(_pair_thesis("IWO", "IWN"))
    lab = Lab(tmp_path, vault)
    lab.settle()

    _edit(vault / "B.md", "# Thesis\n", "# Thesis\nSee [[Prose link]].\n")

    got = lab.run("--json")
    ref = tmp_path / "ref"
    shutil.copytree(vault, ref)
    want = _cli(_env(tmp_path / "rs", tmp_path / "rc", index=False), "refresh", ref,
                "--offline", "--json")  # fmt: skip
    assert list(json.loads(got.stdout)["data"]) == list(json.loads(want.stdout)["data"])


def test_near_miss_warnings_in_the_order_of_a_full_run(tmp_path):
    """DEFECT (low): a hit's near misses (a catalyst's misspelt `event_start`) are replayed
    before any recomputed note is read, so when an earlier thesis is recomputed the warnings
    come in another order on stderr and in the --json "warnings"."""
    vault = _sample(tmp_path)
    src = (vault / SAMPLE_NOTE).read_text(encoding="utf-8")
    first = (
        src.replace("iwm-vs-qqq-price-chart.png", "a-price.png")
        .replace("iwm-qqq-ratio-chart.png", "a-ratio.png")
        .replace(
            '  - "[[Claude Cowork disruption February 2026]]"\n  - "[[FOMC September 2026]]"\n',
            '  - "[[CX]]"\n',
        )
    )
    (vault / "A thesis.md").write_text(first, encoding="utf-8")
    (vault / "Catalysts" / "CX.md").write_text("---\nevent-start: 2026-03-02\n---\n# CX\n")
    _edit(vault / "Catalysts" / "FOMC September 2026.md", "event_start:", "Event Start:")
    lab = Lab(tmp_path, vault)
    lab.settle()

    _edit(
        vault / "A thesis.md",
        "# Small cap rotation 2026\n",
        "# Small cap rotation 2026\nSee [[Prose link]].\n",
    )

    _same(lab)


# --- the index breaks a run -----------------------------------------------------------------


def test_an_index_that_cannot_be_saved_does_not_fail_the_run(tmp_path):
    """DEFECT (medium): ScanIndex.save's except clause unlinks ``tmp``, which is unbound when
    ``path.parent.mkdir`` is what failed (here: ``index`` in the state folder is a file; a
    read-only state folder without ``index/`` does the same for a non-root user): an
    UnboundLocalError escapes, the CLI says "internal error" and exits 2 after every note was
    written, where the index-off run exits 0."""
    vault = _sample(tmp_path)
    lab = Lab(tmp_path, vault)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "index").write_text("not a folder")

    done = lab.run()
    assert done.returncode == 0, done.stderr
    assert "internal error" not in done.stderr


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda j: j["theses"].update({SAMPLE_NOTE: []}), id="thesis-entry-a-list"),
        pytest.param(lambda j: j.update({"data": []}), id="data-a-list"),
        pytest.param(lambda j: j["notes"].update({"Markets/Fed policy.md": 7}), id="note-an-int"),
    ],
)
def test_an_index_of_an_unexpected_shape_is_ignored(tmp_path, damage):
    """DEFECT (low/medium): "a missing, unreadable, foreign ... index is ignored", but one that
    is valid JSON with the right header and a value of another shape (a hand edit, a partial
    corruption) makes every run fail with "internal error" (AttributeError/TypeError), and
    since a failed run never rewrites the index, every later run fails too."""
    vault = _sample(tmp_path)
    lab = Lab(tmp_path, vault)
    lab.settle()
    (path,) = (tmp_path / "state" / "index").glob("*.json")
    found = json.loads(path.read_text())
    damage(found)
    path.write_text(json.dumps(found))

    done = lab.run()
    assert done.returncode == 0, done.stderr
    _same(lab)
