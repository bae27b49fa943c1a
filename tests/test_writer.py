"""Atomic writes: never over a concurrent edit, permissions kept, no temp files left."""

from __future__ import annotations

import stat

import pytest

from conftest import THESIS
from rotation_notes.errors import ConcurrentEditError
from rotation_notes.refresh import RefreshOptions, refresh
from rotation_notes.thesis import core as core_mod
from rotation_notes.vault.writer import replace_if_unchanged


def test_refuses_when_file_changed_since_read(tmp_path):
    p = tmp_path / "n.md"
    p.write_bytes(b"user edit")
    with pytest.raises(ConcurrentEditError):
        replace_if_unchanged(p, b"what we read", b"new")
    assert p.read_bytes() == b"user edit"
    assert [x.name for x in tmp_path.iterdir()] == ["n.md"]


def test_keeps_permissions(tmp_path):
    p = tmp_path / "n.md"
    p.write_bytes(b"a")
    p.chmod(0o640)
    replace_if_unchanged(p, b"a", b"b")
    assert p.read_bytes() == b"b"
    assert stat.S_IMODE(p.stat().st_mode) == 0o640


def test_read_only_note_is_reported(make_vault):
    """chmod a-w means 'do not touch', even for root (who os.access says may write)."""
    vault = make_vault({"t.md": THESIS})
    (vault / "t.md").chmod(0o444)
    report = refresh(vault, RefreshOptions())
    assert report.notes[0].status == "failed"
    assert "read-only" in report.notes[0].error
    assert (vault / "t.md").read_text() == THESIS


def test_edit_during_refresh_is_not_lost(make_vault, monkeypatch):
    """The user saves the note between our read and our write: their bytes win."""
    vault = make_vault({"t.md": THESIS})
    real_compose = core_mod.compose

    def render_then_user_saves(*args, **kwargs):
        out = real_compose(*args, **kwargs)
        with open(vault / "t.md", "a", encoding="utf-8") as fh:
            fh.write("a line the user just typed\n")
        return out

    monkeypatch.setattr(core_mod, "compose", render_then_user_saves)
    report = refresh(vault, RefreshOptions())
    assert report.notes[0].status == "failed"
    assert "changed while it was being refreshed" in report.notes[0].error
    assert (vault / "t.md").read_text() == THESIS + "a line the user just typed\n"
    assert not [p for p in vault.iterdir() if ".rotation-notes-" in p.name]
