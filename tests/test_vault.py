"""Real vaults nobody here wrote, Obsidian's link rules, and where new charts go."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import SAMPLE, SAMPLE_DATA, SHARED, THESIS, run_main, snapshot
from rotation_notes.vault.vault import Vault

CHART = "Attachments/iwm-vs-qqq-price-chart.png"

CORPORA = SHARED / "corpora"


@pytest.mark.parametrize("corpus", ["obsidian-help-en", "kepano-vault"])
def test_refresh_over_real_vault_leaves_every_other_file_untouched(tmp_path, corpus):
    vault = tmp_path / corpus
    shutil.copytree(CORPORA / corpus, vault)
    for p in vault.rglob("*"):  # the shared copy is read-only; a user's vault is not
        p.chmod(0o755 if p.is_dir() else 0o644)
    (vault / ".obsidian").mkdir(exist_ok=True)
    before = snapshot(vault)
    assert len(before) > 50
    shutil.copytree(SAMPLE_DATA, vault / "rn-data")
    (vault / "rotation-notes.toml").write_text('data_dir = "rn-data"\n')
    (vault / "Thesis.md").write_text(THESIS)

    result = run_main("refresh", vault, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(n["path"], n["status"]) for n in report["notes"]] == [("Thesis.md", "updated")]
    after = snapshot(vault)
    for rel, (data, mtime) in before.items():
        assert after[rel] == (data, mtime), f"{rel} changed"
    new = sorted(set(after) - set(before))
    added = {"Thesis.md", "rotation-notes.toml", "iwm-vs-qqq-price-chart.png"}
    if corpus == "kepano-vault":  # its app.json puts attachments in Attachments/
        added = added - {"iwm-vs-qqq-price-chart.png"} | {"Attachments/iwm-vs-qqq-price-chart.png"}
    assert [p for p in new if not p.startswith("rn-data/")] == sorted(added)


@pytest.mark.parametrize(
    "setting, expected",
    [
        (None, "iwm-vs-qqq-price-chart.png"),
        ("/", "iwm-vs-qqq-price-chart.png"),
        ("./", "Theses/iwm-vs-qqq-price-chart.png"),
        ("./assets", "Theses/assets/iwm-vs-qqq-price-chart.png"),
        ("Attachments", "Attachments/iwm-vs-qqq-price-chart.png"),
        ("Files/Images", "Files/Images/iwm-vs-qqq-price-chart.png"),
    ],
)
def test_new_chart_goes_where_obsidian_puts_attachments(make_vault, setting, expected):
    app = None if setting is None else json.dumps({"attachmentFolderPath": setting})
    vault = make_vault({"Theses/t.md": THESIS}, app=app)
    result = run_main("refresh", vault, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["notes"][0]["charts"] == [expected]
    assert (vault / expected).read_bytes().startswith(b"\x89PNG")


def test_existing_chart_is_updated_in_place(make_vault):
    vault = make_vault(
        {
            "Theses/t.md": THESIS,
            "Deep/er/iwm-vs-qqq-price-chart.png": b"old",
            # shorter path wins in Obsidian; an older chart rotation-notes drew (marked as its own)
            "Z/iwm-vs-qqq-price-chart.png": (SAMPLE / CHART).read_bytes(),
        },
        app='{"attachmentFolderPath": "Attachments"}',
    )
    result = run_main("refresh", vault, "--as-of", "2026-02-04")  # other data: a new chart
    assert result.returncode == 0, result.stderr
    new = (vault / "Z/iwm-vs-qqq-price-chart.png").read_bytes()
    assert new.startswith(b"\x89PNG") and new != (SAMPLE / CHART).read_bytes()
    assert (vault / "Deep/er/iwm-vs-qqq-price-chart.png").read_bytes() == b"old"
    assert not (vault / "Attachments").exists()


def test_link_resolution_follows_obsidian(make_vault):
    vault_dir = make_vault(
        {
            "a/Note.md": "",
            "b/c/Note.md": "",
            "Theses/Note.md": "",
            "x.png": "",
            "Theses/t.md": "",
            "Folder/Sub/Deep.md": "",
        },
        data=False,
    )
    v = Vault.open(vault_dir)
    assert v.resolve_link("Note", "Theses/t.md") == "Theses/Note.md"  # same folder first
    assert v.resolve_link("note", "root.md") == "a/Note.md"  # then shortest path, any case
    assert v.resolve_link("b/c/Note", "root.md") == "b/c/Note.md"
    assert v.resolve_link("Sub/Deep", "root.md") == "Folder/Sub/Deep.md"  # path suffix
    assert v.resolve_link("X.PNG", "Theses/t.md") == "x.png"
    assert v.resolve_link("Missing", "t.md") is None


def test_attachment_folder_outside_vault_fails_that_note(make_vault):
    vault = make_vault({"t.md": THESIS}, app='{"attachmentFolderPath": "../outside"}')
    result = run_main("refresh", vault)
    assert result.returncode == 2
    assert "points outside the vault" in result.stderr
    assert not (vault.parent / "outside").exists()
