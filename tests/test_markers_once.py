"""A marker mistake is reported once, at the line to fix, not followed by a wall of
follow-on errors about the correct markers after it."""

from __future__ import annotations

import shutil

import pytest

from conftest import SAMPLE, SAMPLE_NOTE, run_main, snapshot
from rotation_notes.errors import MarkerError
from rotation_notes.note.regions import find_regions
from rotation_notes.note.text import decode_note
from rotation_notes.thesis.registry import NAMES


def region(name: str, body: str = "x\n") -> str:
    return f"%% rotation-notes:{name} %%\n{body}%% /rotation-notes:{name} %%\n"


def start(name: str) -> str:
    return f"%% rotation-notes:{name} %%\n"


def end(name: str) -> str:
    return f"%% /rotation-notes:{name} %%\n"


def marker_error(body: str) -> MarkerError:
    with pytest.raises(MarkerError) as err:
        find_regions(decode_note(body.encode()), "note.md", NAMES)
    return err.value


# body -> (the line reported, the whole message: one mistake, one message)
CASES = {
    "end missing, more regions after it": (
        region("headline") + start("setup") + "table\n" + region("catalysts") + region("tracking"),
        (
            4,
            "line 4: region 'setup' is never closed; add '%% /rotation-notes:setup %%' on a "
            "line of its own where it ends, before line 6 (where region 'catalysts' starts)",
        ),
    ),
    "end missing, the last region": (
        region("headline") + start("setup") + "table\n",
        (
            4,
            "line 4: region 'setup' is never closed; add '%% /rotation-notes:setup %%' on a "
            "line of its own where it ends (it runs to the end of the note)",
        ),
    ),
    "stray end, outside any region": (
        region("headline") + "prose\n" + end("setup") + region("tracking"),
        (
            5,
            "line 5: end of region 'setup' without a start; add '%% rotation-notes:setup %%' "
            "where it starts, or delete this line",
        ),
    ),
    "stray end, inside another region": (
        start("setup") + "a\n" + end("catalysts") + "b\n" + end("setup") + region("tracking"),
        (
            3,
            "line 3: end of region 'catalysts' without a start (inside region 'setup', "
            "opened at line 1); delete this line",
        ),
    ),
    "nested start markers": (
        start("setup") + region("tracking") + end("setup") + region("history"),
        (
            2,
            "line 2: region 'tracking' starts inside region 'setup' (lines 1-5); "
            "regions cannot nest: move it out",
        ),
    ),
    "overlapping regions": (
        start("setup") + start("tracking") + end("setup") + end("tracking") + region("history"),
        (
            2,
            "line 2: region 'tracking' starts inside region 'setup' (lines 1-3); "
            "regions cannot nest: move it out",
        ),
    ),
    "a region started twice": (
        start("setup") + "a\n" + start("setup") + "b\n" + end("setup") + region("tracking"),
        (
            3,
            "line 3: region 'setup' starts again (it started at line 1 and ends at line 5); "
            "delete one of the starts",
        ),
    ),
    "end before start": (
        region("headline") + end("setup") + "table\n" + start("setup") + region("tracking"),
        (
            4,
            "line 4: end of region 'setup' without a start: it comes before its start "
            "(line 6); swap the two markers",
        ),
    ),
    "end of another region where one should end": (
        start("setup") + "table\n" + end("catalysts") + region("tracking"),
        (
            3,
            "line 3: end of region 'catalysts', but region 'setup' opened at line 1 is still "
            "open; make this line '%% /rotation-notes:setup %%'",
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_mistake_is_one_message_at_the_line_to_fix(case):
    body, (line, message) = CASES[case]
    err = marker_error(body)
    # the error's own line is its location ("NOTE:12: ..."), not repeated in the message
    assert message.startswith(f"line {line}: ")
    assert err.message == message.removeprefix(f"line {line}: ")
    assert err.line == line
    assert f"line {line}" not in str(err).split(": ", 1)[1].split(" (")[0][:12]


def test_two_mistakes_are_two_messages():
    body = start("setup") + "a\n" + region("catalysts") + "prose\n" + end("history")
    err = marker_error(body)
    assert err.message == (
        "line 1: region 'setup' is never closed; add '%% /rotation-notes:setup %%' on a line "
        "of its own where it ends, before line 3 (where region 'catalysts' starts); "
        "line 7: end of region 'history' without a start; add '%% rotation-notes:history %%' "
        "where it starts, or delete this line"
    )
    assert err.line == 1


def test_the_sample_note_without_one_end_marker_fails_with_one_line(tmp_path):
    """What a user sees: the sample note with its setup end marker deleted."""
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE, vault)
    note = vault / SAMPLE_NOTE
    lines = note.read_text(encoding="utf-8").splitlines(keepends=True)
    begin = lines.index("%% rotation-notes:setup %%\n") + 1
    catalysts = lines.index("%% rotation-notes:catalysts %%\n") + 1
    lines.remove("%% /rotation-notes:setup %%\n")
    catalysts -= 1
    note.write_text("".join(lines), encoding="utf-8")
    before = snapshot(vault)
    result = run_main("refresh", vault, "--offline")
    assert result.returncode == 2
    failed = [ln for ln in result.stderr.splitlines() if ln.startswith("failed")]
    assert failed == [
        f"failed     {SAMPLE_NOTE}:{begin}: region 'setup' is never closed; "
        f"add '%% /rotation-notes:setup %%' on a line of its own where it ends, before line "
        f"{catalysts} (where region 'catalysts' starts). fix the markers; the note was left "
        "untouched"
    ]
    assert snapshot(vault) == before
