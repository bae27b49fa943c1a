"""Several writers at once and a user typing: no user line lost, every region well-formed.

The storm itself lives in bench/storm_bench.py (``run_storm``); this runs a short one. The
writer re-reads the note just before renaming its temp file over it, so a user's write can
still land between that check and the rename, into the file the rename unlinks: random timing
almost never hits those microseconds, so the tests below place an edit there on purpose.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import ROOT, THESIS
from rotation_notes.refresh import RefreshOptions, refresh
from rotation_notes.vault import writer

sys.path.insert(0, str(ROOT / "bench"))

from storm_bench import run_storm  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and renames")

DEFERRED = "changed while it was being refreshed"
#: The storm's least length; it goes on until its work is done (run_storm's minimums).
STORM_SECONDS = float(os.environ.get("ROTATION_NOTES_STORM_SECONDS", "3"))


def test_storm_of_writers_and_a_typing_user_loses_no_line(sample_vault):
    fig = run_storm(
        sample_vault,
        STORM_SECONDS,
        parallel=3,
        seed=20261124,
        min_refresh_runs=3,
        min_writes=3,
        min_user_lines=101,
    )
    print("\n" + fig.report())
    assert fig.user_lines > 100 and fig.refresh_runs >= 3, fig.report()
    assert sum(fig.written.values()) + sum(fig.deferred.values()) >= 3, fig.report()
    assert not fig.lost and not fig.lost_seen, fig.report()
    assert fig.ok(), fig.report()


def append(data: bytes):
    def edit(note: Path) -> None:
        with open(note, "ab") as fh:  # as a user's script or editor plugin appends
            fh.write(data)

    return edit


@pytest.fixture(params=["exchange", "replace"])
def swap_mode(request, monkeypatch) -> str:
    """Both ways the writer puts its file in place: Linux's atomic exchange, and a plain
    rename with the old file held open (macOS, other filesystems)."""
    if request.param == "exchange" and writer._renameat2 is None:
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    if request.param == "replace":
        monkeypatch.setattr(writer, "_renameat2", None)
    return request.param


def user_edits_during_rename(monkeypatch, note: Path, before, after=None) -> list[bool]:
    """Run the user's edit ``before`` just before our rename of the note (after our last check)
    and ``after`` just after it, once."""
    real_swap = writer._swap
    done: list[bool] = []

    def swap(tmp, real):
        if Path(real) != note or done:
            return real_swap(tmp, real)
        done.append(True)
        before(note)
        exchanged = real_swap(tmp, real)
        if after:
            after(note)
        return exchanged

    monkeypatch.setattr(writer, "_swap", swap)
    return done


def test_an_edit_between_the_last_check_and_the_rename_is_kept(make_vault, monkeypatch, swap_mode):
    vault = make_vault({"t.md": THESIS})
    note = vault / "t.md"
    done = user_edits_during_rename(monkeypatch, note, append(b"typed during the rename\n"))
    report = refresh(vault, RefreshOptions())
    assert done
    assert note.read_bytes() == THESIS.encode() + b"typed during the rename\n"
    assert report.notes[0].status == "failed" and DEFERRED in report.notes[0].error
    again = refresh(vault, RefreshOptions())  # what the watcher does after the edit
    assert again.notes[0].status == "updated"
    assert note.read_text().endswith("typed during the rename\n")
    assert not [p for p in vault.rglob("*") if writer.TEMP_MARK in p.name]


def test_appends_to_the_old_and_the_new_note_are_both_kept(make_vault, monkeypatch, swap_mode):
    vault = make_vault({"t.md": THESIS})
    note = vault / "t.md"
    user_edits_during_rename(monkeypatch, note, append(b"first\n"), append(b"second\n"))
    report = refresh(vault, RefreshOptions())
    assert note.read_bytes() == THESIS.encode() + b"first\nsecond\n"
    assert report.notes[0].status == "failed" and DEFERRED in report.notes[0].error


def test_an_edit_that_cannot_be_merged_is_saved_next_to_the_note(
    make_vault, monkeypatch, swap_mode
):
    vault = make_vault({"t.md": THESIS})
    note = vault / "t.md"

    def rewrite(n: Path) -> None:  # an editor saving a buffer without the first edit
        n.write_bytes(b"# rewritten\n" + n.read_bytes())

    user_edits_during_rename(monkeypatch, note, append(b"first\n"), rewrite)
    report = refresh(vault, RefreshOptions())
    assert report.notes[0].status == "failed" and "saved as" in report.notes[0].error
    (saved,) = vault.glob("t (edited during a refresh *).md")
    assert saved.read_bytes() == THESIS.encode() + b"first\n"
    assert note.read_bytes().startswith(b"# rewritten\n")


def test_an_atomic_save_between_the_last_check_and_the_rename(
    make_vault, monkeypatch, swap_mode, request
):
    if swap_mode == "replace":
        # Without an atomic exchange nothing holds the file the editor renamed there: ours
        # replaces it. The residual window, documented in docs/security.md.
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="a save by rename is lost without an exchange")
        )
    vault = make_vault({"t.md": THESIS})
    note = vault / "t.md"

    def atomic_save(n: Path) -> None:
        tmp = n.with_name(".t.md.editor-tmp")
        tmp.write_bytes(THESIS.encode() + b"saved by rename\n")
        os.rename(tmp, n)  # os.rename: the patched os.replace is ours

    user_edits_during_rename(monkeypatch, note, atomic_save)
    report = refresh(vault, RefreshOptions())
    assert note.read_text() == THESIS + "saved by rename\n"
    assert report.notes[0].status == "failed" and DEFERRED in report.notes[0].error
    assert not [p for p in vault.rglob("*") if writer.TEMP_MARK in p.name]


# Found by review: what else can happen in that window.


def test_a_note_renamed_away_during_the_write_is_not_brought_back(
    make_vault, monkeypatch, swap_mode
):
    vault = make_vault({"t.md": THESIS})
    note = vault / "t.md"
    user_edits_during_rename(monkeypatch, note, lambda n: n.rename(n.with_name("renamed.md")))
    report = refresh(vault, RefreshOptions())
    assert report.notes[0].status == "failed" and DEFERRED in report.notes[0].error
    assert not note.exists()  # not re-created as a duplicate of the renamed note
    assert (vault / "renamed.md").read_text() == THESIS
    assert not [p for p in vault.rglob("*") if writer.TEMP_MARK in p.name]


def test_a_symlink_put_in_place_during_the_write_is_never_read(
    make_vault, monkeypatch, swap_mode, tmp_path
):
    if swap_mode == "replace":
        pytest.skip("only the exchange displaces a file we then read")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET OUTSIDE THE VAULT\n")
    vault = make_vault({"t.md": THESIS})
    note = vault / "t.md"

    def link_in(n: Path) -> None:
        n.unlink()
        n.symlink_to(secret)

    user_edits_during_rename(monkeypatch, note, link_in)
    report = refresh(vault, RefreshOptions())
    assert report.notes[0].status == "failed" and DEFERRED in report.notes[0].error
    assert note.is_symlink() and "SECRET" not in "".join(
        p.read_text() for p in vault.rglob("*.md") if not p.is_symlink()
    )
    assert not [p for p in vault.rglob("*") if writer.TEMP_MARK in p.name]


def test_an_edit_stays_visible_when_putting_it_back_fails(make_vault, monkeypatch, swap_mode):
    if swap_mode == "replace":
        pytest.skip("the held-open file is the copy there; nothing is unlinked")
    vault = make_vault({"t.md": THESIS})
    note = vault / "t.md"
    user_edits_during_rename(monkeypatch, note, append(b"typed during the rename\n"))

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "_put_back", disk_full)
    report = refresh(vault, RefreshOptions())
    assert report.notes[0].status == "failed" and "No space left" in report.notes[0].error
    (saved,) = vault.glob("t (edited during a refresh *).md")
    assert saved.read_bytes() == THESIS.encode() + b"typed during the rename\n"
    assert not [p for p in vault.rglob("*") if writer.TEMP_MARK in p.name]
