"""Cases a second, independent attack round found after the fixes of issue 11.

Each is a new instance of one of the issue's classes; each test fails without its fix.
Through the real CLI on throwaway vaults, as the attack ran them.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from test_data_cli import fill_cache

from conftest import ALL_REGIONS, THESIS, THESIS_FRONTMATTER, run_cli, run_main, run_scheduled
from rotation_notes.prices.cache import DB_NAME

GOOD = "good.md"


def refresh_cli(vault: Path, *args: str | Path):
    """The CLI in this process (what a user sees: exit code and stderr), for cases that
    cannot hang; a pipe in the vault goes through ``refresh_subprocess``."""
    return run_main("refresh", vault, "--offline", "--data", vault / "Data" / "market-data", *args)


# --- class 1/3/4: the price cache a vault or a user points at ----------------------------


@pytest.fixture(scope="module")
def filled_cache_template(tmp_path_factory) -> Path:
    """A real cache, filled once through the Yahoo provider from recorded-style responses."""
    cache = tmp_path_factory.mktemp("filled") / "cache"
    fill_cache(cache)
    gc.collect()  # close the provider's connection
    return cache


def _filled_cache(template: Path, tmp_path: Path) -> Path:
    """A copy of the filled cache, for one test to break."""
    cache = tmp_path / "cache"
    shutil.copytree(template, cache)
    return cache


def test_a_cache_file_that_is_a_symlink_is_never_written_through(make_vault, tmp_path):
    outside = tmp_path / "outside" / "empty-user-file"
    outside.parent.mkdir()
    outside.write_bytes(b"")
    cache = tmp_path / "vault-cache"
    cache.mkdir()
    (cache / DB_NAME).symlink_to(outside)
    vault = make_vault({"t.md": THESIS})
    result = run_main("refresh", vault, "--cache", cache, "--offline")
    assert result.returncode == 0, result.stderr
    assert "updated    t.md" in result.stderr
    assert f"{DB_NAME} there is a symbolic link; rotation-notes does not open it" in result.stderr
    assert outside.read_bytes() == b""


def test_a_pipe_as_the_cache_journal_never_hangs(make_vault, tmp_path, filled_cache_template):
    cache = _filled_cache(filled_cache_template, tmp_path)
    for side in ("-wal", "-shm"):
        Path(f"{cache / DB_NAME}{side}").unlink(missing_ok=True)
    os.mkfifo(f"{cache / DB_NAME}-journal")  # SQLite would replay a "hot journal" from it
    vault = make_vault({"t.md": THESIS})
    result = run_cli("refresh", vault, "--cache", cache, "--offline")  # a hang: run_cli times out
    assert result.returncode == 0, result.stderr
    assert f"{DB_NAME}-journal there is not a regular file" in result.stderr


@pytest.mark.parametrize(
    "sql, reason",
    [
        (
            "CREATE TRIGGER t AFTER INSERT ON fetches BEGIN SELECT RAISE(ABORT, 'nope'); END",
            "it holds trigger t",
        ),
        ("CREATE VIEW v AS SELECT 1", "it holds view v"),
        ("UPDATE bars SET close = 'abc' WHERE symbol = 'IWM'", "price rows are not a date"),
        (
            "UPDATE bars SET date = '9999-01-01' WHERE symbol = 'QQQ' "
            "AND date = (SELECT max(date) FROM bars WHERE symbol = 'QQQ')",
            "price rows are not a date",
        ),
    ],
    ids=["trigger", "view", "close-text", "date-9999"],
)
def test_a_cache_with_code_or_rows_that_are_not_prices_is_moved_aside(
    sql, reason, make_vault, tmp_path, filled_cache_template
):
    cache = _filled_cache(filled_cache_template, tmp_path)
    db = sqlite3.connect(cache / DB_NAME)
    db.execute(sql)
    db.commit()
    db.close()
    vault = make_vault({"t.md": THESIS})
    result = run_main("refresh", vault, "--cache", cache, "--offline")
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert "could not be read: " in result.stderr and reason in result.stderr
    assert [p for p in cache.iterdir() if p.name.startswith(f"{DB_NAME}.corrupt-")]


# --- class 8: command-line values that would wait forever ---------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("refresh", "--lock-wait", "nan"),
        ("refresh", "--lock-wait", "-1"),
        ("refresh", "--lock-wait", "inf"),
        ("watch", "--debounce", "nan"),
        ("watch", "--prices-every", "0"),
    ],
)
def test_durations_that_would_wait_forever_are_refused(make_vault, args):
    vault = make_vault({"t.md": THESIS})
    result = run_cli(args[0], vault, *args[1:])
    assert result.returncode == 2
    assert f"argument {args[1]}: '{args[2]}'" in result.stderr


def test_quiet_and_verbose_work_before_the_command(make_vault):
    vault = make_vault({"t.md": THESIS})
    result = run_main("-q", "refresh", vault, "--offline")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # nothing failed: nothing to say
    assert run_main("-v", "refresh", vault, "--offline").returncode == 0


# --- class 2: generated unit files ---------------------------------------------------------


def test_schedule_refuses_a_vault_path_that_would_add_lines_to_a_unit(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    evil = tmp_path / "notes\n* * * * * touch PWNED\n#"
    (evil / ".obsidian").mkdir(parents=True)
    for platform in ("cron", "linux"):
        result = run_main("schedule", "install", evil, "--platform", platform, "--no-activate")
        assert result.returncode == 2
        assert "holds a control character; rename that folder" in result.stderr
    assert not (tmp_path / "config").exists()


def test_schedule_escapes_percent_for_systemd_and_cron(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    vault = tmp_path / "Upside 20%pct"
    (vault / ".obsidian").mkdir(parents=True)
    linux = run_main("schedule", "install", vault, "--platform", "linux", "--print")
    assert linux.returncode == 0, linux.stderr
    assert "20%%pct" in linux.stdout and "20%pct" not in linux.stdout.replace("%%", "")
    cron = run_main("schedule", "install", vault, "--platform", "cron", "--print")
    assert "'" + str(vault).replace("%", "\\%") + "'" in cron.stdout


# --- class 2 (--init): an Obsidian comment that is never closed ---------------------------


def test_init_refuses_to_append_inside_an_unclosed_comment(make_vault):
    text = THESIS_FRONTMATTER + "# Thesis\n\nMy words.\n\n%%\nscratch I hide\n"
    vault = make_vault({"t.md": text})
    result = refresh_cli(vault, "--init")
    assert result.returncode == 2
    assert "t.md:" in result.stderr and "opens a %% comment that is never closed" in (result.stderr)
    assert (vault / "t.md").read_text() == text
    closed = make_vault({"t.md": text + "%%\n"}, name="closed")
    assert refresh_cli(closed, "--init").returncode == 0


# --- class 10/8: market data files ----------------------------------------------------------


def test_two_close_columns_are_named_not_guessed(make_vault):
    vault = make_vault({"t.md": THESIS})
    csv = vault / "Data" / "market-data" / "QQQ.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0] + ",close", *(ln + ",33084596" for ln in lines[1:])]))
    result = refresh_cli(vault)
    assert result.returncode == 2
    assert "QQQ.csv has two 'close' columns" in result.stderr
    assert "33,084,596" not in (vault / "t.md").read_text()


def test_dates_with_a_time_and_zone_read_as_the_exchange_day(make_vault):
    """yfinance writes its CSVs as '2026-08-21 00:00:00-04:00' (offsets change with DST)."""
    plain = make_vault({"t.md": THESIS}, name="plain")
    zoned = make_vault({"t.md": THESIS}, name="zoned")
    for symbol in ("IWM", "QQQ", "^RUT", "^IXIC"):
        path = zoned / "Data" / "market-data" / f"{symbol}.csv"
        lines = path.read_text().splitlines()
        month = lambda d: int(d[5:7])  # noqa: E731
        out = [lines[0]] + [
            ln.replace(d, f"{d} 00:00:00{'-04:00' if 3 < month(d) < 11 else '-05:00'}", 1)
            for ln in lines[1:]
            for d in [ln.split(",")[0]]
        ]
        path.write_text("\n".join(out) + "\n")
    for vault in (plain, zoned):
        result = refresh_cli(vault, "--as-of", "2026-02-04", "--json")
        assert result.returncode == 0, result.stderr
    reports = [
        json.loads(refresh_cli(v, "--as-of", "2026-02-04", "--json").stdout) for v in (plain, zoned)
    ]
    assert reports[0]["notes"][0]["tickers"] == reports[1]["notes"][0]["tickers"]
    assert (plain / "t.md").read_text().split("*Updated")[0] == (zoned / "t.md").read_text().split(
        "*Updated"
    )[0]


# --- class 6/8: properties read wrongly without a word ----------------------------------------

SPEC_CASES = {
    "names-case": (
        "  names:\n    IWM: A\n    iwm: B\n",
        "'iwm' names a symbol already named (symbols ignore case) (key: rotation-notes.names.iwm)",
    ),
    "two-merge-keys": (
        "x: &a {ticker: IWM}\ny: &b {ticker: SPY}\nz:\n  <<: *a\n  <<: *b\n",  # top level
        "key '<<' appears twice in one mapping",
    ),
    "unit-list": (
        "  setup:\n    metrics:\n      - {name: P/E, long: 1, short: 2, unit: [a, b], "
        "source: me, as_of: 2026-01-02}\n",
        "must be a non-empty text value (key: rotation-notes.setup.metrics[0].unit)",
    ),
    "gap-text": (
        "  setup:\n    metrics:\n      - {name: P/E, long: 1, short: 2, gap: 'false', "
        "source: me, as_of: 2026-01-02}\n",
        "'false' must be true or false (unquoted) (key: rotation-notes.setup.metrics[0].gap)",
    ),
    "ticker-on": (
        "  tracking:\n    tickers: [IWM, ON]\n",
        "is read as true (YAML takes yes, no, on and off for true and false)",
    ),
    "number-as-text": (
        "  setup:\n    metrics:\n      - {name: P/E, long: 1.8e1, short: 2, source: me, "
        "as_of: 2026-01-02}\n",
        "YAML reads 1.8e1 as text: write 18, 18.0 or 1.8e+1",
    ),
}


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_properties_yaml_would_misread_are_named(make_vault, case):
    extra, expect = SPEC_CASES[case]
    text = THESIS.replace("rotation-notes:\n", "rotation-notes:\n" + extra, 1)
    if case == "two-merge-keys":
        text = "---\n" + extra + THESIS[4:]
    vault = make_vault({"t.md": text, GOOD: THESIS})
    result = refresh_cli(vault)
    assert result.returncode == 2
    assert expect in result.stderr, result.stderr
    assert (vault / "t.md").read_text() == text


def test_a_period_setup_that_is_not_text_is_named(make_vault):
    text = THESIS.replace(
        "        end: 2017-05-09\n", "        end: 2017-05-09\n        setup: {a: 1}\n"
    )
    vault = make_vault({"t.md": text})
    result = refresh_cli(vault)
    assert result.returncode == 2
    assert "(key: rotation-notes.history.periods[0].setup)" in result.stderr


# --- linked notes: their problems are said, not swallowed ---------------------------------------


def test_a_discovered_catalyst_with_broken_properties_is_a_warning(make_vault):
    body = "# Thesis\n\nSee [[Event]].\n\n" + ALL_REGIONS
    event = "---\nevent_start: 2026-02-03\nevent_end: 2026-02-04\nevent_end: 2026-02-05\n---\n"
    vault = make_vault({"t.md": THESIS_FRONTMATTER + body, "Event.md": event})
    result = refresh_cli(vault)
    assert result.returncode == 0, result.stderr
    assert "warning: linked note Event.md not checked for an event window: Event.md:4: key " in (
        result.stderr
    )


def test_a_catalyst_whose_properties_exceed_the_head_is_named(make_vault):
    event = "---\nevent_start: 2026-02-03\npad: " + "x" * 1_200_000 + "\n---\n"
    top = 'catalysts:\n  - "[[Event]]"\n'
    vault = make_vault({"t.md": THESIS.replace("---\n", "---\n" + top, 1), "Event.md": event})
    result = refresh_cli(vault)
    assert result.returncode == 0  # the catalyst's row is n/a, the thesis refreshed (issue 13)
    assert "linked note Event.md: its frontmatter is not closed within its first" in result.stderr
    assert "has no 'event_start'" not in result.stderr


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "toml, app, expect",
    [
        ("stale_after_days = true\n", None, "'stale_after_days' must be a whole number of days"),
        ('templates_dir = "tmpl"\n', None, "templates_dir 'tmpl' in rotation-notes.toml is not"),
        ("", '{"attachmentFolderPath": ["Attachments"]}', "['Attachments'], not a folder path"),
        ("", '{"attachmentFolderPath": "Att|ach"}', "which Windows (and a vault synced there)"),
    ],
)
def test_settings_of_the_wrong_kind_are_named(make_vault, toml, app, expect):
    vault = make_vault({"t.md": THESIS}, app=app)
    with open(vault / "rotation-notes.toml", "a") as fh:
        fh.write(toml)
    result = refresh_cli(vault)
    assert result.returncode == 2
    assert expect in result.stderr
    assert not any(p.name.startswith(("[", "Att|")) for p in vault.iterdir())


# --- class 9/8: encodings and names ------------------------------------------------------------


def test_a_utf16_thesis_is_named_not_skipped(make_vault):
    vault = make_vault({"t.md": THESIS.encode("utf-16"), GOOD: THESIS})
    result = refresh_cli(vault)
    assert result.returncode == 2
    assert "t.md: note is UTF-16; rotation-notes reads notes in UTF-8" in result.stderr
    assert f"updated    {GOOD}" in result.stderr


def test_a_vault_path_that_is_not_utf8_works(make_vault, tmp_path):
    src = make_vault({"t.md": THESIS})
    odd = tmp_path / os.fsdecode(b"vault-\xe9t\xe9")
    src.rename(odd)
    result = run_cli("refresh", odd, "--offline")
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr


def test_a_note_with_a_long_name_can_be_written(make_vault):
    name = "A thesis with a long name " + "x" * (230 - 29) + ".md"
    assert 225 < len(name.encode()) <= 255
    vault = make_vault({name: THESIS})
    result = refresh_cli(vault)
    assert result.returncode == 0, result.stderr
    assert (vault / name).read_text() != THESIS


def test_a_scheduled_offline_run_is_not_recorded_done(sample_vault):
    first = run_scheduled(sample_vault, "--offline")
    assert "refreshed for session 2026-08-24 from stale data" in first.stderr, first.stderr
    second = run_scheduled(sample_vault, "--offline")
    assert "nothing to do" not in second.stderr
