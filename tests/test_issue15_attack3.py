"""Attack round 3 on the scan index (issue 15): false hits of the prose-edit shape
(585f564) and of the vault's answers recorded after the run (625cb00). Each test runs the
same steps on two copies of a vault, one refreshed with the index and one with
``ROTATION_NOTES_INDEX=off``, and compares every file and the ``--json`` report."""

from __future__ import annotations

from test_index import _run, _same

from conftest import THESIS


def _twins(make_vault, files, **kw):
    return make_vault(files, name="indexed", **kw), make_vault(files, name="full", **kw)


def test_a_listed_catalyst_named_like_a_new_chart_is_asked_again(make_vault, monkeypatch):
    """The catalyst list names the chart's file: on the first refresh the link finds no
    note, and the refresh creates the chart under that name. The run after it must say
    what a run computing the thesis says of that link (it now finds a file, not a note)."""
    note = THESIS.replace(
        "---\nrotation-notes:",
        '---\ncatalysts:\n  - "[[iwm-vs-qqq-price-chart.png]]"\nrotation-notes:',
        1,
    )
    a, b = _twins(make_vault, {"Thesis.md": note})
    _run(a, monkeypatch, index=True)
    _run(b, monkeypatch, index=False)
    assert (a / "iwm-vs-qqq-price-chart.png").is_file()
    ja = _run(a, monkeypatch, index=True)
    jb = _run(b, monkeypatch, index=False)
    _same(a, b, ja, jb)
