"""Hostile or broken vaults: each gets a clear error naming the file, and nothing else changes.

Every case here puts one bad thing into a vault next to a good thesis note and
runs the CLI: the bad note fails with a message that names it, the good one is
refreshed, and no other byte in the vault changes. YAML bombs and huge notes run
the real CLI in a subprocess, which also measures its own peak RSS: all the bombs
sit in one vault, so one run shows that none of them was expanded. Cases that
cannot hang or eat memory run the CLI's ``main`` in-process (``run_main``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import (
    ALL_REGIONS,
    FIGURES,
    NO_NETWORK,
    SAMPLE_DATA,
    THESIS,
    THESIS_FRONTMATTER,
    make_files,
    run_main,
    snapshot,
)

GOOD = "good.md"


#: Runs the CLI and writes the process's own peak RSS (VmHWM: per address space, so not
#: inherited from the forking pytest process the way ``ru_maxrss`` is across exec).
_MEASURED = """
import atexit, sys
def peak():
    if not sys.platform.startswith("linux"):
        return
    with open("/proc/self/status") as fh:
        kb = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
    with open(sys.argv[1], "w") as out:
        out.write(str(kb))
atexit.register(peak)
from rotation_notes.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_measured(
    *args: str | Path, env: dict[str, str] | None = None
) -> tuple[int, str, str, float]:
    """The CLI in a subprocess: exit code, stdout, stderr and its own peak RSS in MB."""
    env = {
        **os.environ,
        **NO_NETWORK,
        "PYTHONIOENCODING": "utf-8",
        "MPLBACKEND": "Agg",
        **(env or {}),
    }
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        result = subprocess.run(
            [sys.executable, "-c", _MEASURED, str(peak_file), *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        kb = int(peak_file.read_text()) if peak_file.exists() else 0
    return result.returncode, result.stdout, result.stderr, kb / 1024


def changed_files(before: dict, after: dict) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def assert_only_good_changed(vault: Path, before: dict, result) -> None:
    after = snapshot(vault)
    changed = changed_files(before, after)
    assert GOOD in changed, result.stdout + result.stderr
    assert all(c == GOOD or c.endswith(".png") for c in changed), changed


LAUGHS = "lol: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"l{i}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


#: Found by review: few values, but one of them 150,000 characters long, repeated 10^4 times.
BIG_ALIASES = (
    "big: &a " + "x" * 150_000 + "\n"
    "l1: &b [" + ", ".join(["*a"] * 10) + "]\n"
    "l2: &c [" + ", ".join(["*b"] * 10) + "]\n"
    "l3: &d [" + ", ".join(["*c"] * 10) + "]\n"
    "l4: [" + ", ".join(["*d"] * 10) + "]\n"
)

YAML_CASES = {
    "big-value-aliases": (BIG_ALIASES, "holds more than 100,000 values"),
    "billion-laughs": (LAUGHS, ":8: frontmatter holds more than 100,000 values"),
    "deep-nesting": ("x: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested more than 100 levels"),
    "huge": ("pad: " + "x" * 2_000_000 + "\n", "frontmatter is 2,000,"),
    "python-object": (
        "x: !!python/object/apply:os.system ['touch PWNED']\n",
        "Python object tags are never built",
    ),
    "python-name": ("x: !!python/name:os.system\n", "Python object tags are never built"),
    "unclosed-list": ("tags: [a, b\nnext: 1\n", ":3: frontmatter is not valid YAML"),
    "tab-indent": ("tags:\n\t- a\n", ":4: frontmatter is not valid YAML"),
}


@pytest.fixture(scope="module")
def bombs_run(tmp_path_factory) -> tuple[dict, dict, int, str, str, float]:
    """One vault holding every YAML case (``NAME.md``) and a good thesis, refreshed once by
    the real CLI: (files before, files after, exit code, stdout, stderr, peak RSS in MB)."""
    base = tmp_path_factory.mktemp("bombs")
    vault = base / "vault"
    (vault / ".obsidian").mkdir(parents=True)
    body = THESIS.removeprefix("---\n")
    # The comment puts the thesis key in the note's first bytes (as a bomb's thesis would have
    # it) without a second 'rotation-notes' key, itself an error.
    make_files(
        vault,
        {
            GOOD: THESIS,
            **{f"{name}.md": "---\n# rotation-notes\n" + bad + body for name, (bad, _) in CASES},
        },
    )
    shutil.copytree(SAMPLE_DATA, vault / "Data" / "market-data")
    (vault / "rotation-notes.toml").write_text('data_dir = "Data/market-data"\n')
    before = snapshot(vault)
    state = {
        "ROTATION_NOTES_CACHE": str(base / "cache"),
        "ROTATION_NOTES_STATE": str(base / "state"),
        "ROTATION_NOTES_LOG": str(base / "state" / "scheduled.log"),
    }
    code, out, err, rss_mb = run_measured("refresh", vault, env=state)
    return before, snapshot(vault), code, out, err, rss_mb


CASES = sorted(YAML_CASES.items())


@pytest.mark.parametrize("name", sorted(YAML_CASES))
def test_bad_yaml_fails_fast_names_the_note_and_spares_the_rest(bombs_run, name):
    before, after, code, out, err, _ = bombs_run
    _, expect = YAML_CASES[name]
    note = f"{name}.md"
    assert code == 2
    # its own line says it (the bombs share a run)
    (line,) = [x for x in err.splitlines() if re.match(rf"failed +{re.escape(note)}\b", x)]
    assert f"{note}{expect}" in line if expect.startswith(":") else expect in line, err
    assert "updated    good.md" in out + err
    assert after[note] == before[note]
    assert changed_files(before, after) <= {GOOD} | {k for k in after if k.endswith(".png")}
    assert not Path("PWNED").exists()


def test_no_yaml_bomb_is_expanded(bombs_run):
    *_, out, err, rss_mb = bombs_run
    assert f"1 updated, 0 unchanged, {len(YAML_CASES)} failed" in out + err
    # A normal run of this vault peaks near 150-200 MB (pandas, matplotlib); a bomb
    # that got expanded would need gigabytes.
    FIGURES.append(
        f"{len(YAML_CASES)} YAML bombs and broken notes: refused, peak RSS {rss_mb:.0f} MB"
    )
    if sys.platform.startswith("linux"):
        assert 50 < rss_mb < 600, f"peak RSS {rss_mb:.0f} MB"


# --- notes that are not clean thesis notes ---------------------------------------

BIG = 50 * 1024 * 1024


def test_empty_binary_undecodable_and_gigantic_notes(make_vault):
    png = Path(__file__).parent.parent / "vault_sample/Attachments/iwm-vs-qqq-price-chart.png"
    prose = b"Lorem ipsum dolor sit amet [[Fed policy]] 2026\n"
    files = {
        GOOD: THESIS,
        "empty.md": b"",
        "binary.md": png.read_bytes(),
        "nul.md": b"---\ntitle: x\n---\n\x00\x01\x02 text\n",
        "latin1.md": "---\ntitle: café\n---\nnaïve\n".encode("latin-1"),
        "latin1 thesis.md": (THESIS + "Prose in Latin-1: café\n").encode("latin-1"),
        "huge prose.md": prose * (BIG // len(prose)),
        "huge thesis.md": THESIS.encode() + prose * (BIG // len(prose)),
    }
    vault = make_vault(files)
    before = snapshot(vault)
    code, out, err, rss_mb = run_measured("refresh", vault)
    assert code == 2, out + err
    assert re.search(r"latin1 thesis\.md:\d+: note is not valid UTF-8: the first bad byte", err)
    assert "huge thesis.md: note is 52.4 MB; rotation-notes refreshes thesis notes up to 16 MB" in (
        err
    )
    assert "updated    good.md" in out + err
    assert "1 updated, 0 unchanged, 2 failed" in out + err
    after = snapshot(vault)
    for name in files:
        if name != GOOD:
            assert after[name] == before[name], name
    # The 50 MB notes were not read whole: far less than the 400+ MB that takes.
    FIGURES.append(f"two 52 MB notes in a vault: peak RSS of the run {rss_mb:.0f} MB")
    if sys.platform.startswith("linux"):
        assert 50 < rss_mb < 350, f"peak RSS {rss_mb:.0f} MB"

    # Named explicitly, each gets its own answer.
    for name, expect in {
        "empty.md": "not a thesis note",
        "binary.md": "not a thesis note",
        "latin1.md": "not a thesis note",
        "huge prose.md": "not a thesis note",
    }.items():
        result = run_main("refresh", vault, "--note", vault / name)
        assert result.returncode == 2 and f"{name}: {expect}" in result.stderr, result.stderr
    assert snapshot(vault) == after


# --- paths that leave the vault ------------------------------------------------


def test_note_symlinked_outside_the_vault_is_not_written(make_vault, tmp_path):
    outside = tmp_path / "outside.md"
    outside.write_text(THESIS)
    vault = make_vault({GOOD: THESIS})
    (vault / "linked.md").symlink_to(outside)
    result = run_main("refresh", vault)
    assert result.returncode == 2
    assert "linked.md: note is a link to a file outside the vault" in result.stderr
    assert outside.read_text() == THESIS
    assert "updated    good.md" in result.stdout + result.stderr


def test_chart_symlinked_outside_the_vault_is_not_written(make_vault, tmp_path):
    outside = tmp_path / "victim.png"
    outside.write_bytes(b"not yours")
    chart = "  charts:\n    - file: owned.png\n"
    vault = make_vault(
        {
            "t.md": THESIS_FRONTMATTER.replace("---\n", "", 1)
            .replace("\n---\n", "\n" + chart + "---\n")
            .join(["---\n", THESIS.split("---\n", 2)[2]]),
            GOOD: THESIS,
        }
    )
    (vault / "owned.png").symlink_to(outside)
    before = (vault / "t.md").read_bytes()
    result = run_main("refresh", vault)
    assert result.returncode == 2
    assert "chart owned.png resolves outside the vault" in result.stderr
    assert outside.read_bytes() == b"not yours"
    assert (vault / "t.md").read_bytes() == before


@pytest.mark.parametrize(
    ("setting", "expect"),
    [
        ('templates_dir = "../tpl"', "templates_dir '../tpl' points outside the vault"),
        ('templates_dir = "/etc"', "templates_dir '/etc' points outside the vault"),
        ('data_dir = "../../data"', "data_dir '../../data' points outside the vault"),
        ('cache_dir = "/tmp/elsewhere"', "cache_dir in rotation-notes.toml '/tmp/elsewhere'"),
        ('cache_dir = "../cache"', "cache_dir in rotation-notes.toml '../cache'"),
    ],
)
def test_vault_settings_cannot_point_outside_the_vault(make_vault, monkeypatch, setting, expect):
    monkeypatch.delenv("ROTATION_NOTES_CACHE")  # else the vault's cache_dir is not read
    vault = make_vault({GOOD: THESIS})
    (vault / "rotation-notes.toml").write_text(setting + "\n")
    before = snapshot(vault)
    result = run_main("refresh", vault)
    assert result.returncode == 2
    assert expect in result.stderr, result.stderr
    assert snapshot(vault) == before
    assert not Path("/tmp/elsewhere").exists()


def test_data_dir_symlinked_outside_the_vault_is_refused(make_vault, tmp_path):
    vault = make_vault({GOOD: THESIS})
    (vault / "Data" / "market-data").rename(tmp_path / "moved")
    (vault / "Data" / "market-data").symlink_to(tmp_path / "moved", target_is_directory=True)
    (vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\nprovider = "bundled"\n'
    )
    before = snapshot(vault)
    result = run_main("refresh", vault)
    assert result.returncode == 2
    assert "data_dir 'Data/market-data' in rotation-notes.toml links outside the vault" in (
        result.stderr
    )
    assert snapshot(vault) == before


def test_cache_dir_symlinked_outside_the_vault_is_refused(make_vault, tmp_path, monkeypatch):
    monkeypatch.delenv("ROTATION_NOTES_CACHE")  # the vault's setting is read only without it
    (tmp_path / "out").mkdir()
    vault = make_vault({GOOD: THESIS})
    (vault / "cache").symlink_to(tmp_path / "out", target_is_directory=True)
    (vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\ncache_dir = "cache"\n'
    )
    result = run_main("refresh", vault)
    assert result.returncode == 2
    assert "cache_dir in rotation-notes.toml 'cache' links outside the vault" in result.stderr
    assert list((tmp_path / "out").iterdir()) == []


# --- markers broken every way: through the CLI, the note must stay as it was ------

B, E = "%% rotation-notes:setup %%\n", "%% /rotation-notes:setup %%\n"
BROKEN_MARKERS = {
    "missing-end": (B, "region 'setup' is never closed"),
    "reversed": (E + B, "end of region 'setup' without a start"),
    "duplicated": (B + E + B + E, "region 'setup' appears twice"),
    "nested": (
        B + "%% rotation-notes:tracking %%\n%% /rotation-notes:tracking %%\n" + E,
        "region 'tracking' starts inside region 'setup'",
    ),
    "in-callout": ("> [!note]\n> " + B + "> " + E, "inside a block quote or callout"),
    "end-in-fence": (B + "```\n" + E + "```\n", "region 'setup' is never closed"),
    "malformed": ("%% rotation-notes: setup%%\n", "malformed"),
    "unknown": ("%% rotation-notes:setpu %%\n%% /rotation-notes:setpu %%\n", "unknown region"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_MARKERS))
def test_broken_markers_leave_the_note_untouched(make_vault, name):
    body, expect = BROKEN_MARKERS[name]
    vault = make_vault({"bad.md": THESIS_FRONTMATTER + "# T\n\n" + body, GOOD: THESIS})
    before = snapshot(vault)
    result = run_main("refresh", vault)
    assert result.returncode == 2
    first_line = len(THESIS_FRONTMATTER.splitlines()) + 3
    line = re.search(r"bad\.md:(\d+): ", result.stderr)
    assert line and first_line <= int(line.group(1)) < first_line + 4, result.stderr
    assert expect in result.stderr, result.stderr
    assert snapshot(vault)["bad.md"] == before["bad.md"]
    assert "updated    good.md" in result.stdout + result.stderr


def test_a_csv_symlinked_outside_the_vault_is_not_read(make_vault, tmp_path):
    vault = make_vault({GOOD: THESIS})
    data = vault / "Data" / "market-data"
    (data / "IWM.csv").rename(tmp_path / "IWM.csv")
    (data / "IWM.csv").symlink_to(tmp_path / "IWM.csv")
    (vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\nprovider = "bundled"\n'
    )
    before = snapshot(vault)
    result = run_main("refresh", vault)
    assert result.returncode == 2
    assert "IWM.csv links outside the vault; not read" in result.stderr, result.stderr
    assert snapshot(vault) == before


def test_a_linked_note_symlinked_outside_the_vault_is_not_read(make_vault, tmp_path):
    outside = tmp_path / "diary.md"
    outside.write_text("---\nevent_start: 'private: dinner at 8'\n---\n")
    thesis = THESIS_FRONTMATTER.replace("---\n", "---\ncatalysts:\n  - '[[Cat]]'\n", 1)
    vault = make_vault({"t.md": thesis + "# T\n\n" + "".join(ALL_REGIONS), GOOD: THESIS})
    (vault / "Cat.md").symlink_to(outside)
    before = snapshot(vault)
    result = run_main("refresh", vault)
    assert result.returncode == 0  # the catalyst's row is n/a, the thesis refreshed (issue 13)
    assert "linked note Cat.md is a link to a file outside the vault; not read" in result.stderr
    assert "dinner" not in result.stderr + result.stdout
    assert "dinner" not in (vault / "t.md").read_text()
    assert snapshot(vault)["Cat.md"] == before["Cat.md"]
