"""Docs that are checked, and a wheel that carries its templates."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile

from conftest import ROOT
from rotation_notes.cli import build_parser
from rotation_notes.thesis.registry import NAMES as REGION_NAMES
from rotation_notes.thesis.spec import SCHEMA_KEYS


def test_every_frontmatter_key_is_documented():
    doc = (ROOT / "docs" / "frontmatter.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([^`]+)` \|", doc, flags=re.MULTILINE))
    for where, keys in SCHEMA_KEYS.items():
        missing = keys - documented
        assert not missing, f"undocumented {where} keys: {sorted(missing)}"


def test_every_region_is_documented_and_has_a_template():
    doc = (ROOT / "docs" / "regions.md").read_text(encoding="utf-8")
    for name in REGION_NAMES:
        assert f"| `{name}` |" in doc
        assert (ROOT / "templates" / f"{name}.md.j2").is_file()


def test_every_cli_option_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    for name, sub in subparsers.choices.items():
        assert f"rotation-notes {name}" in readme
        for action in sub._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help":
                    assert opt in readme, f"{name} {opt} is not documented in README.md"


def test_wheel_ships_templates(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("rotation_notes-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for region in REGION_NAMES:
        assert f"rotation_notes/templates/{region}.md.j2" in names
    assert "rotation_notes/py.typed" in names
