"""A run's warnings as a person reads them: one that several notes give ("Offline run: ...",
"Data ends ...") is said once, naming which notes; a note's own stays under it. The same in
the scheduled run's log, which used to say no warning at all. ``--json`` keeps every note's
full list. (The watch log: ``tests/test_watch.py``.)"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from conftest import SAMPLE, SAMPLE_NOTE, THESIS, copy_with_thesis_copies, run_cli, run_scheduled
from rotation_notes.refresh import NoteReport, SharedWarning, group_warnings

CHARTS = "%% rotation-notes:charts %%\n%% /rotation-notes:charts %%\n"
BAD_EVENT = "---\nevent_start: 2026-02-30\n---\n# Bad\n"


def link_bad_catalyst(note: Path) -> None:
    text = note.read_text(encoding="utf-8")
    text = text.replace("catalysts:\n", 'catalysts:\n  - "[[Bad]]"\n', 1)
    note.write_text(text, encoding="utf-8")


NOTE_LINE = re.compile(
    r"(?:updated|unchanged|would update) +(.+?)(?: \(as of [\d-]+\))?(?:[:;] .*)?$"
)


def said_per_note(stderr: str) -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """What ``refresh`` printed: note -> the warnings under its line; and each shared
    warning line as (scope, text)."""
    under: dict[str, set[str]] = {}
    shared = []
    current = None
    for line in stderr.splitlines():
        if m := NOTE_LINE.match(line):
            current = m.group(1)
            under[current] = set()
        elif line.startswith("  warning: "):
            assert current is not None, line
            under[current].add(line.removeprefix("  warning: "))
        elif m := re.match(r"warning \((.+?)\): (.*)$", line):
            shared.append((m.group(1), m.group(2)))
            current = None
    return under, shared


def test_a_warning_every_note_gives_is_said_once_and_a_notes_own_under_it(tmp_path):
    vault = tmp_path / "v"
    copy_with_thesis_copies(vault, 3)
    (vault / "Catalysts" / "Bad.md").write_text(BAD_EVENT)
    link_bad_catalyst(vault / "Theses" / "Thesis 2.md")

    result = run_cli("refresh", vault, "--offline", "--json")
    assert result.returncode == 0, result.stderr
    notes = {n["path"]: set(n["warnings"]) for n in json.loads(result.stdout)["notes"]}
    assert len(notes) == 4
    under, shared = said_per_note(result.stderr)
    assert set(under) == set(notes)

    # Every note's warnings are said, each exactly once: under it, or once for all the notes.
    assert [scope for scope, _ in shared] == ["all 4 notes"] * len(shared)
    texts = [text for _, text in shared]
    assert len(texts) == len(set(texts)) >= 2  # the offline run's, the old data's
    assert any(t.startswith("Offline run: not fetched: ") for t in texts)
    for path, warnings in notes.items():
        assert under[path] | set(texts) == warnings, path
        assert not under[path] & set(texts)
    # the bad link is Thesis 2's alone: under it, said once in the whole output
    bad = [w for w in notes["Theses/Thesis 2.md"] if "catalyst [[Bad]] is n/a" in w]
    assert len(bad) == 1 and under["Theses/Thesis 2.md"] == set(bad)
    assert result.stderr.count("catalyst [[Bad]] is n/a") == 1
    # The output does not grow with the theses: a warning line per distinct warning.
    lines = [ln for ln in result.stderr.splitlines() if "warning" in ln]
    assert len(lines) == len(set().union(*notes.values())) == len(texts) + 1


def test_a_warning_some_notes_give_names_them(tmp_path):
    vault = tmp_path / "v"
    shutil.copytree(SAMPLE, vault)
    shutil.copy(vault / SAMPLE_NOTE, vault / "B copy.md")
    # no IWO or IWN (the sample's partial data), and no chart of the sample's file name
    (vault / "Small.md").write_text(THESIS.replace(CHARTS, ""))
    result = run_cli("refresh", vault, "--offline")
    assert result.returncode == 0, result.stderr
    _, shared = said_per_note(result.stderr)
    scopes = dict((text, scope) for scope, text in shared)
    iwo = [t for t in scopes if t.startswith("Offline run: not fetched: IWO, IWN ")]
    assert len(iwo) == 1, result.stderr
    assert scopes[iwo[0]] == f"2 notes: B copy.md, {SAMPLE_NOTE}"
    assert "Data ends 2026-08-21" in "".join(t for t, s in scopes.items() if s == "all 3 notes")


def test_one_note_says_its_warnings_under_it_as_before(sample_vault):
    result = run_cli("refresh", sample_vault, "--offline")
    assert result.returncode == 0, result.stderr
    under, shared = said_per_note(result.stderr)
    assert shared == [] and len(under[SAMPLE_NOTE]) >= 2


def test_the_scheduled_log_says_the_warnings_once_each(tmp_path):
    vault = tmp_path / "v"
    copy_with_thesis_copies(vault, 2)
    (vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\nprovider = "bundled"\n'
    )
    (vault / "Catalysts" / "Bad.md").write_text(BAD_EVENT)
    link_bad_catalyst(vault / "Theses" / "Thesis 1.md")
    # a month after the data ends: every note says so
    result = run_scheduled(vault, now="2026-09-24T23:00:00Z")
    assert result.returncode == 0, result.stderr
    log = Path(os.environ["ROTATION_NOTES_LOG"]).read_text(encoding="utf-8")
    for said in (result.stderr, log):
        old = [ln for ln in said.splitlines() if "Data ends 2026-08-21" in ln]
        assert len(old) == 1 and "WARNING" in old[0] and "all 3 notes: Data ends" in old[0], said
        bad = [ln for ln in said.splitlines() if "catalyst [[Bad]] is n/a" in ln]
        assert len(bad) == 1 and "WARNING Theses/Thesis 1.md: catalyst" in bad[0].replace(
            ": WARNING: ", " WARNING "
        ), said


def report(path: str, warnings: list[str], status: str = "updated") -> NoteReport:
    return NoteReport(path=path, status=status, warnings=warnings)


@given(
    st.lists(
        st.lists(st.sampled_from(["w1", "w2", "w3", "w4"]), max_size=5), min_size=1, max_size=6
    )
)
def test_grouping_says_every_warning_of_every_note_once(given_warnings):
    notes = [report(f"n{i}.md", ws) for i, ws in enumerate(given_warnings)]
    own, shared = group_warnings(notes)
    for n in notes:
        sharing = {s.text for s in shared if n.path in s.notes}
        assert set(own[n.path]) | sharing == set(n.warnings)
        assert not set(own[n.path]) & sharing
        assert own[n.path] == [w for w in dict.fromkeys(n.warnings) if w not in sharing]
    for s in shared:  # said by two or more, each of which gave it, in the run's order
        givers = tuple(n.path for n in notes if s.text in n.warnings)
        assert s.notes == givers and len(givers) >= 2
    firsts = [w for n in notes for w in n.warnings]
    assert [s.text for s in shared] == [
        w for w in dict.fromkeys(firsts) if any(s.text == w for s in shared)
    ]


def test_the_scope_says_which_notes():
    assert SharedWarning("x", ("a.md", "b.md"), 2).scope == "all 2 notes"
    assert SharedWarning("x", ("a.md", "b.md"), 3).scope == "2 notes: a.md, b.md"
    five = ("a.md", "b.md", "c.md", "d.md", "e.md")
    assert SharedWarning("x", five, 9).scope == "5 notes: a.md, b.md, c.md and 2 more"
    # a failed note gives no warning: "all" is never said with one of the run's notes out
    _, shared = group_warnings(
        [report("a.md", ["x"]), report("b.md", ["x"]), report("c.md", [], "failed")]
    )
    assert [s.scope for s in shared] == ["2 notes: a.md, b.md"]
