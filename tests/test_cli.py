"""The CLI as a user sees it: each exit code, --check, --diff, --json. ``main`` in this process
with its output captured; a subprocess for the entry points and a closed pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ALL_REGIONS, NO_NETWORK, SAMPLE_NOTE, THESIS, run_main, snapshot


def test_help_lists_options():
    result = run_main("refresh", "--help")
    assert result.returncode == 0
    for option in ("--note", "--as-of", "--offline", "--check", "--diff", "--json", "--init"):
        assert option in result.stdout


def test_exit_0_then_check_exit_0(sample_vault):
    first = run_main("refresh", sample_vault)
    assert first.returncode == 0, first.stderr
    check = run_main("refresh", sample_vault, "--check")
    assert check.returncode == 0, check.stderr


def test_check_exits_1_and_writes_nothing(sample_vault):
    before = snapshot(sample_vault)
    result = run_main("refresh", sample_vault, "--check", "--as-of", "2026-03-02")
    assert result.returncode == 1, result.stderr
    assert f"would update {SAMPLE_NOTE}" in result.stderr
    assert snapshot(sample_vault) == before


def test_diff_prints_unified_diff_and_writes_nothing(sample_vault):
    before = snapshot(sample_vault)
    result = run_main("refresh", sample_vault, "--diff", "--as-of", "2026-03-02")
    assert result.returncode == 0, result.stderr
    assert f"--- a/{SAMPLE_NOTE}" in result.stdout
    assert "+*Updated as of 2026-03-02 (last session used" in result.stdout
    assert "Binary chart Attachments/iwm-vs-qqq-price-chart.png would change" in result.stdout
    assert snapshot(sample_vault) == before


def test_json_report_shape(sample_vault):
    result = run_main("refresh", sample_vault, "--json", "--as-of", "2026-02-04")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (note,) = report["notes"]
    assert set(note) >= {
        "path",
        "status",
        "error",
        "as_of",
        "charts",
        "tickers",
        "catalysts",
        "scorecard",
        "levels",
    }
    assert note["status"] in ("updated", "unchanged")
    assert note["error"] is None
    assert set(note["tickers"]["IWO"]) >= {
        "close",
        "ret_1d_pct",
        "ret_1m_pct",
        "ret_3m_pct",
        "ytd_pct",
    }
    assert isinstance(note["tickers"]["IWM"]["ytd_pct"], float)
    assert set(note["catalysts"][0]) == {
        "note",
        "start",
        "end",
        "first_session",
        "last_session",
        "time",
        "confidence",
        "upcoming",
        "sessions_until",
        "moves",
        "reasons",
        "reactions",
        "reaction_reasons",
    }
    # the shape: "1", "5", "20", each null with a reason when the data ends before it
    assert set(note["catalysts"][0]["reactions"]) == {"1", "5", "20"}
    assert set(note["scorecard"]) >= {
        "opened",
        "open_session",
        "sessions",
        "spread_pp",
        "ratio_pct",
        "max_drawdown_pct",
        "current_drawdown_pct",
    }
    assert {"name", "kind", "on", "status", "first_crossed", "value"} <= set(note["levels"][0])


def test_one_broken_note_fails_alone_exit_2(make_vault):
    vault = make_vault(
        {
            "good.md": THESIS,
            "broken.md": "---\nrotation-notes:\n  long: [unclosed\n---\n",
            "markers.md": THESIS.replace("%% /rotation-notes:setup %%\n", ""),
        }
    )
    broken_before = (vault / "broken.md").read_bytes()
    markers_before = (vault / "markers.md").read_bytes()
    result = run_main("refresh", vault)
    assert result.returncode == 2
    assert "updated    good.md" in result.stderr
    assert "failed     broken.md:" in result.stderr and "not valid YAML" in result.stderr
    assert "failed     markers.md:" in result.stderr and "never closed" in result.stderr
    assert (vault / "broken.md").read_bytes() == broken_before
    assert (vault / "markers.md").read_bytes() == markers_before
    assert "%% rotation-notes:setup %%\n| Metric" in (vault / "good.md").read_text()


def test_bad_usage_exit_2(tmp_path):
    result = run_main("refresh", tmp_path)
    assert result.returncode == 2
    assert "not inside an Obsidian vault" in result.stderr
    assert run_main("refresh", "--as-of", "yesterday").returncode == 2
    assert run_main("frobnicate").returncode == 2


def test_note_option_and_non_thesis(make_vault):
    vault = make_vault({"a.md": THESIS, "b.md": THESIS, "plain.md": "# Just a note\n"})
    result = run_main("refresh", vault, "--note", vault / "a.md")
    assert result.returncode == 0, result.stderr
    assert "| Metric" in (vault / "a.md").read_text()
    assert "| Metric" not in (vault / "b.md").read_text()
    plain = run_main("refresh", vault, "--note", "plain.md")
    assert plain.returncode == 2 and "not a thesis note" in plain.stderr


def test_init_inserts_regions_only_when_asked(make_vault):
    body = "# My thesis\n\n## Tracking\n\nprose\n"
    note = THESIS.replace(ALL_REGIONS, "").replace("# Thesis\n\n", body)
    vault = make_vault({"t.md": note})
    plain = run_main("refresh", vault)
    assert plain.returncode == 0
    assert "no region for headline" in plain.stderr and "--init" in plain.stderr
    assert (vault / "t.md").read_text() == note
    init = run_main("refresh", vault, "--init")
    assert init.returncode == 0, init.stderr
    text = (vault / "t.md").read_text()
    assert (
        text.index("## Tracking")
        < text.index("%% rotation-notes:charts %%")
        < text.index("%% rotation-notes:tracking %%")
        < text.index("prose")
    )
    assert "![[iwm-vs-qqq-price-chart.png]]" in text
    assert (vault / "iwm-vs-qqq-price-chart.png").is_file()  # no app.json: the vault root
    assert run_main("refresh", vault, "--init", "--check").returncode == 0


def test_python_dash_m_and_console_script_agree(sample_vault):
    import shutil
    import subprocess
    import sys

    exe = shutil.which(
        "rotation-notes", path=str(__import__("pathlib").Path(sys.executable).parent)
    )
    assert exe, "console script rotation-notes is installed beside the interpreter"
    result = subprocess.run(
        [exe, "refresh", str(sample_vault), "--check"], capture_output=True, text=True
    )
    assert result.returncode in (0, 1), result.stderr


def test_linter_reformatting_a_region_does_not_trigger_a_rewrite(sample_vault):
    """A linter pads table cells and widens separators; the tool must not fight it."""
    note = sample_vault / SAMPLE_NOTE
    text = note.read_text(encoding="utf-8")
    relinted = text.replace("|--------|---:|---:|", "| ------ | ---------: | ---------: |").replace(
        "| YTD 2026 |", "|   YTD 2026   |"
    )
    relinted = relinted.replace("%% /rotation-notes:setup %%", "\n\n%% /rotation-notes:setup %%")
    assert relinted != text
    note.write_text(relinted, encoding="utf-8")
    before = snapshot(sample_vault)
    result = run_main("refresh", sample_vault)
    assert result.returncode == 0, result.stderr
    assert "unchanged" in result.stderr
    assert snapshot(sample_vault) == before
    assert run_main("refresh", sample_vault, "--check").returncode == 0


def test_aliased_catalyst_link_escapes_pipe_in_table(make_vault):
    thesis = THESIS.replace(
        "---\nrotation-notes:", '---\ncatalysts:\n  - "[[Ev|Feb scare]]"\nrotation-notes:', 1
    )
    vault = make_vault({"t.md": thesis, "Ev.md": "---\nevent_start: 2026-02-03\n---\n"})
    result = run_main("refresh", vault, "--as-of", "2026-02-04")
    assert result.returncode == 0, result.stderr
    assert "| [[Ev\\|Feb scare]] | 2026-02-03 |" in (vault / "t.md").read_text()


def test_output_piped_into_a_reader_that_quits_is_not_a_crash(sample_vault):
    """``refresh --json | head -c 0``: no BrokenPipeError traceback."""
    env = {**os.environ, **NO_NETWORK, "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "rotation_notes", "refresh", str(sample_vault), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the JSON is written out
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


# --- the last resort: any other surprise is exit 2 and one line ---------------------------


@pytest.mark.parametrize("verbose", [False, True])
def test_an_unexpected_error_is_exit_2_and_one_line(verbose, sample_vault, monkeypatch):
    """A bug anywhere is exit 2 and one line, never exit 1 ("--check found a change")."""
    import rotation_notes.refresh

    def boom(*args, **kwargs):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(rotation_notes.refresh, "refresh", boom)
    done = run_main("refresh", sample_vault, "--check", *(["-v"] if verbose else []))
    assert done.returncode == 2  # never 1, which means "--check found a change"
    line = (
        "rotation-notes: internal error: RuntimeError: something nobody foresaw "
        "(run with -v for the traceback)"
    )
    assert done.stderr.strip().splitlines()[-1] == line
    if verbose:
        assert "Traceback (most recent call last)" in done.stderr
    else:
        assert done.stderr.strip() == line


def _our_exception_classes() -> list[type[BaseException]]:
    import importlib
    import inspect
    import pkgutil

    import rotation_notes

    found = []
    for info in pkgutil.walk_packages(rotation_notes.__path__, "rotation_notes."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                found.append(cls)
    return found


#: Ours, but deliberately of another tree: a file that is not regular is an OSError to
#: every caller that reads files; the YAML loader's own errors are turned into a
#: FrontmatterError where the note is parsed; the cache's checks never leave the cache package.
OTHER_TREES = {"NotRegularFile", "YAMLLimitError", "DuplicateKeyError", "_NotACache", "_NewerCache"}


def test_every_error_of_ours_is_one_tree():
    from rotation_notes.errors import RotationNotesError

    classes = _our_exception_classes()
    names = {c.__name__ for c in classes}
    assert {"VaultBusy", "LockHeld", "RenderLimitError", "RenderTimeout", "CacheUnusable"} <= names
    outside = sorted(
        c.__name__
        for c in classes
        if not issubclass(c, RotationNotesError) and c.__name__ not in OTHER_TREES
    )
    assert outside == []


def test_a_render_limit_raised_by_class_has_a_message():
    """time_limit raises RenderTimeout in the rendering thread by class, with no argument."""
    from rotation_notes.output.sandbox import RenderTimeout

    assert str(RenderTimeout()) == "a render limit was reached"


@pytest.mark.parametrize(
    "exc, code",
    [
        ("VaultBusy", 2),
        ("RenderLimitError", 2),
        ("LockHeld", 2),
        ("KeyboardInterrupt", 130),
        ("ValueError", 2),
    ],
)
def test_errors_map_to_exit_codes_in_main(exc, code, monkeypatch, tmp_path):
    import rotation_notes.cli as cli
    from rotation_notes.output.sandbox import RenderLimitError
    from rotation_notes.vault.lock import LockHeld, VaultBusy

    kinds = {
        "VaultBusy": VaultBusy("another run", path=tmp_path),
        "RenderLimitError": RenderLimitError("too big"),
        "LockHeld": LockHeld("x.lock"),
        "KeyboardInterrupt": KeyboardInterrupt(),
        "ValueError": ValueError("a bug"),
    }

    def fail(args):
        raise kinds[exc]

    monkeypatch.setattr(cli, "cmd_data_status", fail)
    result = run_main("data", "status", tmp_path)
    assert result.returncode == code
    first = result.stderr.splitlines()[0]
    assert first.startswith(
        "rotation-notes: interrupted"
        if code == 130
        else "rotation-notes: internal error: ValueError"
        if exc == "ValueError"
        else "rotation-notes: error: "
    )


def test_an_as_of_after_today_is_said(make_vault, monkeypatch):
    from conftest import THESIS

    monkeypatch.setenv("ROTATION_NOTES_NOW", "2026-12-02T12:00:00Z")
    root = make_vault({"t.md": THESIS})
    result = run_main("refresh", root, "--as-of", "2030-01-01", "--offline")
    assert result.returncode == 0, result.stderr
    assert "--as-of 2030-01-01 is after today (2026-12-02)" in result.stderr
    result = run_main("refresh", root, "--as-of", "2026-08-21", "--offline")
    assert "is after today" not in result.stderr
