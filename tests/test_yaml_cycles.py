"""An alias inside the value it names (``a: &x [*x]``) is an error of that note, not a hang.

PyYAML builds such a value as a structure that contains itself; anything that walks it
(the alias-expansion limit included, before this was fixed) never ends and eats memory until
the run is killed, taking every other note's refresh with it. Each run here is a real CLI
subprocess with its address space capped, so a regression fails instead of exhausting the
machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from conftest import NO_NETWORK, THESIS

CYCLES = {
    "thesis spec": "---\nrotation-notes: &a\n  long: {ticker: IWM}\n  short: {ticker: QQQ}\n"
    "  x: *a\n---\n# T\n",
    "a list in a thesis": "---\ntags: &t [a, *t]\nrotation-notes:\n  long: {ticker: IWM}\n"
    "  short: {ticker: QQQ}\n---\n# T\n",
}


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


def run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rotation_notes", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **NO_NETWORK},
        preexec_fn=_capped,
        timeout=300,
    )


@pytest.mark.parametrize("case", sorted(CYCLES))
def test_a_self_containing_alias_fails_its_note_only(make_vault, case):
    root = make_vault({"bad.md": CYCLES[case], "good.md": THESIS})
    result = run("refresh", root, "--offline")
    assert result.returncode == 2, result.stderr
    assert "bad.md:2: frontmatter holds an alias inside the value it names" in result.stderr
    assert "updated    good.md" in result.stderr  # the other note was refreshed
    assert "internal error" not in result.stderr


def test_a_catalyst_note_with_one_costs_its_row(make_vault):
    thesis = THESIS.replace("---\n", '---\ncatalysts:\n  - "[[Loop]]"\n', 1)
    root = make_vault(
        {"t.md": thesis, "Loop.md": "---\nevent_start: 2026-02-03\ntags: &a [*a]\n---\n"}
    )
    result = run("refresh", root, "--offline")
    assert result.returncode == 0, result.stderr
    assert "catalyst [[Loop]] is n/a" in result.stderr and "alias inside" in result.stderr


def test_adopt_refuses_one(make_vault):
    root = make_vault({"n.md": "---\nfoo: &a [*a]\n---\n$IWM vs $QQQ\n"})
    result = run("adopt", root / "n.md")
    assert result.returncode == 2
    assert "n.md:2: frontmatter holds an alias inside the value it names" in result.stderr
