"""Promises kept on a stranger's vault (issue 11): one test class per defect class.

Each case puts one hostile or careless thing into a vault beside a good thesis and runs the
real CLI (or the library where a provider must be faked): the bad thing is refused with a
message naming the file and the key or line, no byte the user wrote changes, and the good
note is still refreshed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import (
    ALL_REGIONS,
    SAMPLE_NOTE,
    THESIS,
    THESIS_FRONTMATTER,
    run_cli,
    run_main,
    snapshot,
)
from rotation_notes.note.regions import find_regions
from rotation_notes.note.text import decode_note
from rotation_notes.output.charts import MARK_KEY, is_own_chart
from rotation_notes.prices.marketdata import CsvDirectoryProvider, PriceSet, SymbolSource
from rotation_notes.refresh import RefreshOptions, refresh
from rotation_notes.thesis.registry import NAMES

#: The regions the small test thesis calls for: it has no levels (status) and no opened date
#: or created property (scorecard).
REGION_NAMES = [n for n in NAMES if n not in ("status", "scorecard")]

GOOD = "good.md"
CHART_REGION = "%% rotation-notes:charts %%\n%% /rotation-notes:charts %%\n"


#: THESIS_FRONTMATTER without its history block, so a case may add its own.
BASE = THESIS_FRONTMATTER[: THESIS_FRONTMATTER.index("  history:")] + "---\n"


def thesis(extra_spec: str = "", *, top: str = "", body: str = "# Thesis\n\n" + ALL_REGIONS) -> str:
    """BASE with ``extra_spec`` lines under ``rotation-notes:`` and ``top`` at the top level."""
    head = BASE.replace("rotation-notes:\n", "rotation-notes:\n" + extra_spec, 1)
    return head.replace("---\n", "---\n" + top, 1) + body


def outside_regions(text: str) -> str:
    """The note's text with every region's content cut out (markers kept)."""
    note = decode_note(text.encode("utf-8", "surrogateescape"))
    regions = find_regions(note, "t")
    keep = set(range(len(note.lines)))
    for r in regions:
        keep -= set(range(r.begin + 1, r.end))
    return "".join(note.lines[i] for i in sorted(keep))


def refresh_cli(vault: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in this process (what a user sees: exit code and stderr), for cases that
    cannot hang; a pipe in the vault goes through ``refresh_subprocess``."""
    return run_main("refresh", vault, "--offline", "--data", vault / "Data" / "market-data", *args)


def refresh_subprocess(vault: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess: a hang becomes run_cli's timeout, not a stuck test run."""
    return run_cli("refresh", vault, "--offline", "--data", vault / "Data" / "market-data", *args)


# --- 1. the tool overwrites only files it wrote itself ---------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"a user's own image" * 10


def _chart_thesis(name: str) -> str:
    return thesis(f"  charts:\n    - file: {name}\n", body="# T\n\n" + ALL_REGIONS)


@pytest.mark.parametrize("where", ["elsewhere", "attachment-folder", "symlink", "legacy-chart"])
def test_a_file_the_tool_did_not_write_is_never_overwritten(make_vault, where):
    vault = make_vault({"t.md": _chart_thesis("photo.png"), GOOD: THESIS})
    user_file = vault / "Markets" / "photo.png"
    user_file.parent.mkdir()
    if where == "elsewhere":  # found by name anywhere in the vault, as Obsidian resolves it
        user_file.write_bytes(PNG)
    elif where == "attachment-folder":
        user_file = vault / "photo.png"
        user_file.write_bytes(PNG)
    elif where == "symlink":  # the chart path is a link to the user's image
        real = vault / "Markets" / "holiday.png"
        real.write_bytes(PNG)
        (vault / "photo.png").symlink_to(real)
        user_file = real
    else:  # a PNG drawn by matplotlib without our mark (an earlier version's chart)
        shutil.copy(Path(__file__).parent / "data" / "unmarked-chart.png", user_file)
    before = user_file.read_bytes()
    result = refresh_cli(vault)
    assert result.returncode == 2
    assert "t.md" in result.stderr and "photo.png" in result.stderr
    assert "was not drawn by rotation-notes, so it is not overwritten" in result.stderr
    assert "(key: " not in result.stderr or "charts" in result.stderr
    assert user_file.read_bytes() == before
    assert (vault / "t.md").read_text() == _chart_thesis("photo.png")
    assert f"updated    {GOOD}" in result.stderr


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_folder_or_pipe_at_the_chart_path_is_named_not_touched(make_vault, kind):
    vault = make_vault({"t.md": _chart_thesis("c.png"), GOOD: THESIS})
    target = vault / "c.png"
    if kind == "folder":
        target.mkdir()
    else:
        os.mkfifo(target)
    # only a pipe can make a run hang (a folder or socket fails at open): a subprocess for it
    result = refresh_subprocess(vault) if kind == "fifo" else refresh_cli(vault)
    assert result.returncode == 2
    what = "a folder" if kind == "folder" else "a named pipe (FIFO)"
    assert "t.md:" in result.stderr and f"the chart file c.png is {what}" in result.stderr
    assert "internal error" not in result.stderr and "Errno" not in result.stderr
    assert target.is_dir() if kind == "folder" else target.is_fifo()
    assert f"updated    {GOOD}" in result.stderr


def test_own_charts_carry_the_mark_and_are_redrawn(make_vault):
    vault = make_vault({"t.md": _chart_thesis("c.png")})
    assert refresh_cli(vault, "--as-of", "2026-02-04").returncode == 0
    first = (vault / "c.png").read_bytes()
    assert is_own_chart(first) and MARK_KEY.encode() + b"\0chart of IWM vs QQQ" in first
    assert refresh_cli(vault, "--as-of", "2026-03-04").returncode == 0
    second = (vault / "c.png").read_bytes()
    assert second != first and is_own_chart(second)
    before = snapshot(vault)
    assert refresh_cli(vault, "--as-of", "2026-03-04").returncode == 0
    assert snapshot(vault) == before  # idempotent: the mark is the same every time


def test_is_own_chart_reads_only_a_real_mark():
    assert not is_own_chart(b"")
    assert not is_own_chart(PNG)
    assert not is_own_chart(b"GIF89a" + MARK_KEY.encode())
    # the keyword in the image data, not in a tEXt chunk, does not count
    assert not is_own_chart(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x10IDAT" + MARK_KEY.encode() + b"\0x")
    truncated = b"\x89PNG\r\n\x1a\n\xff\xff\xff\xfftEXt" + MARK_KEY.encode()
    assert not is_own_chart(truncated)


# --- 2. nothing rendered can break a note's markers --------------------------------------

INJECTIONS = [
    "x\n%% /rotation-notes:setup %%\ny",
    "x\r%% /rotation-notes:headline %%",
    "x\r\n%% rotation-notes:tracking %%\r\n",
    "x\n```\ny",
    "x\n> %% rotation-notes:setup %%",
]
#: Every frontmatter text that reaches a region, as YAML under rotation-notes:.
FIELDS = {
    "long label": "  long:\n    label: {v}\n    ticker: IWM\n    index: ^RUT\n",
    "names": "  names:\n    IWM: {v}\n",
    "metric": "  setup:\n    metrics:\n      - name: {v}\n        long: 1\n        short: 2\n"
    "        unit: {v}\n        source: {v}\n        as_of: 2026-01-02\n",
    "period": "  history:\n    periods:\n      - label: {v}\n        setup: {v}\n"
    "        start: 2016-11-09\n        end: 2017-05-09\n",
}


def _yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r") + '"'


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("value", INJECTIONS, ids=range(len(INJECTIONS)))
def test_values_cannot_inject_lines_into_a_region(make_vault, field, value):
    spec = FIELDS[field].format(v=_yaml_str(value))
    head = THESIS_FRONTMATTER
    if field == "long label":  # replace the leg rather than add a second one
        head = head.replace(
            "  long:\n    label: Small caps\n    ticker: IWM\n    index: ^RUT\n", spec
        )
    elif field == "period":
        head = head.replace(head[head.index("  history:") : head.index("---", 4)], spec)
    else:
        head = head.replace("rotation-notes:\n", "rotation-notes:\n" + spec, 1)
    text = head + "# Thesis\n\nMy prose.\n\n" + ALL_REGIONS + "\nClosing words.\n"
    vault = make_vault({"t.md": text})
    for _ in range(2):  # the second run must read the note back and find it unchanged
        result = refresh_cli(vault)
        assert result.returncode == 0, result.stderr
    assert "unchanged  t.md" in result.stderr
    after = (vault / "t.md").read_text()
    note = decode_note(after.encode())
    assert [r.name for r in find_regions(note, "t.md")] == list(REGION_NAMES)
    assert outside_regions(after) == outside_regions(text)


def test_names_and_messages_from_the_data_cannot_inject_lines(make_vault):
    """A provider's symbol name and fallback message reach the note as one line each."""
    vault = make_vault({"t.md": THESIS})
    inner = CsvDirectoryProvider(vault / "Data" / "market-data", label="csv")

    class Hostile:
        name = "hostile"

        def load(self, symbols):
            prices: PriceSet = inner.load(symbols)
            evil = "\n%% /rotation-notes:updated %%\n```\n"
            prices.names = {s: f"Name{evil}" for s in symbols}
            prices.sources = {
                s: SymbolSource(f"provider{evil}", "cache", src.last_session, f"failed{evil}")
                for s, src in prices.sources.items()
            }
            return prices

    for status in ("updated", "unchanged"):
        report = refresh(vault, RefreshOptions(), provider=Hostile())
        assert report.notes[0].status == status, report.notes[0].error
    after = (vault / "t.md").read_text()
    assert "provider %% /rotation-notes:updated %% ```" in after
    assert outside_regions(after) == outside_regions(THESIS)


@pytest.mark.parametrize(
    "template, problem",
    [
        ("hello\n%% /rotation-notes:setup %%\nafter\n", "its line 2 is a marker line"),
        ("%% rotation-notes:tracking %%\n", "its line 1 is a marker line"),
        ("> %% rotation-notes:history %%\n", "its line 1 is a marker line"),
        ("table\n```\n", "its line 2 opens a code block that it does not close"),
        ("~~~~ md\n{{ as_of }}\n~~~\n", "its line 1 opens a code block that it does not close"),
    ],
)
def test_a_template_that_breaks_markers_fails_its_note_only(make_vault, template, problem):
    vault = make_vault({"t.md": THESIS, "tpl/setup.md.j2": template})
    with open(vault / "rotation-notes.toml", "a") as fh:
        fh.write('templates_dir = "tpl"\n')
    other = THESIS.replace("%% rotation-notes:setup %%\n%% /rotation-notes:setup %%\n", "")
    (vault / GOOD).write_text(other)
    result = refresh_cli(vault)
    assert result.returncode == 2
    assert f"t.md: the rendered 'setup' region would break the note's markers: {problem}" in (
        result.stderr
    )
    assert "setup.md.j2" in result.stderr
    assert (vault / "t.md").read_text() == THESIS
    assert f"updated    {GOOD}" in result.stderr


# --- 3. only regular files are ever opened ------------------------------------------------


def regular_files(root: Path) -> dict[str, bytes]:
    """Every regular file under root with its bytes (the test itself must not open a pipe)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _special(path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a bundled CSV replaced by a pipe
    if kind == "fifo":
        os.mkfifo(path)
        return
    here = os.getcwd()
    os.chdir(path.parent)  # a socket path is limited to ~100 bytes: bind by its bare name
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path.name)
        sock.close()
    finally:
        os.chdir(here)


@pytest.mark.parametrize("kind", ["fifo", "socket"])
@pytest.mark.parametrize(
    "where",
    ["pipe.md", "Catalysts/Event.md", "tpl/setup.md.j2", "Data/market-data/IWN.csv"],
)
def test_pipes_and_sockets_are_skipped_not_opened(make_vault, kind, where):
    body = "# Thesis\n\nSee [[Event]].\n\n" + ALL_REGIONS
    tracked = "  tracking:\n    tickers: [IWM, IWN, QQQ]\n"
    vault = make_vault({"t.md": thesis(tracked, body=body)})
    if where.startswith("tpl/"):
        with open(vault / "rotation-notes.toml", "a") as fh:
            fh.write('templates_dir = "tpl"\n')
    _special(vault / where, kind)
    before = regular_files(vault / "Data")
    # A pipe could make a run hang: the CLI in a subprocess, whose timeout (300 s) turns a hang
    # into a failure. Opening a socket fails at once: in-process.
    result = refresh_subprocess(vault) if kind == "fifo" else refresh_cli(vault)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if where == "tpl/setup.md.j2":
        assert result.returncode == 2
        assert "cannot read template setup.md.j2" in result.stderr
        assert f"is {'a named pipe (FIFO)' if kind == 'fifo' else 'a socket'}" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert "updated    t.md" in result.stderr
        assert f"skipped {where}: it is a" in result.stderr
    if where.endswith(".csv"):
        assert "IWN" in (vault / "t.md").read_text()  # n/a with the reason, not a hang
    assert regular_files(vault / "Data") == before


def test_a_pipe_named_with_note_is_refused_by_name(make_vault):
    vault = make_vault({"t.md": THESIS})
    os.mkfifo(vault / "pipe.md")
    result = run_cli("refresh", vault, "--offline", "--note", vault / "pipe.md")
    assert result.returncode == 2
    assert "--note" in result.stderr and "is a named pipe (FIFO), not a note" in result.stderr


def test_explicit_catalyst_link_to_a_pipe_names_it(make_vault):
    top = 'catalysts:\n  - "[[Event]]"\n'
    vault = make_vault({"t.md": thesis(top=top), GOOD: THESIS})
    os.mkfifo(vault / "Event.md")
    result = refresh_subprocess(vault)
    assert result.returncode == 0  # the catalyst's row is n/a, the thesis refreshed (issue 13)
    assert "catalyst [[Event]] is n/a: Event.md is a named pipe (FIFO), not a note" in (
        result.stderr
    )
    assert f"updated    {GOOD}" in result.stderr


# --- 5. each real file once ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["symlink", "symlink-sorted-first", "note-twice"])
def test_a_note_reached_twice_is_refreshed_once(make_vault, how):
    vault = make_vault({"Theses/t.md": THESIS})
    args: list[str] = []
    if how == "symlink":
        (vault / "Links").mkdir()
        (vault / "Links" / "t.md").symlink_to("../Theses/t.md")
    elif how == "symlink-sorted-first":
        (vault / "A.md").symlink_to("Theses/t.md")
    else:
        args = ["--note", str(vault / "Theses/t.md"), "--note", str(vault / "Theses/t.md")]
    for expect in ("updated", "unchanged"):
        result = refresh_cli(vault, *args)
        assert result.returncode == 0, result.stderr
        assert f"{expect:<10} Theses/t.md" in result.stderr
        assert "changed while it was being refreshed" not in result.stderr
        assert result.stderr.count("t.md (as of") == 1
    assert (vault / "Theses/t.md").read_text() != THESIS


# --- 6. duplicate keys --------------------------------------------------------------------


DUPLICATES = {
    "nested": THESIS.replace("    ticker: IWM\n", "    ticker: IWM\n    ticker: SPY\n"),
    "thesis key": THESIS.replace("---\n# Thesis", "rotation-notes: {}\n---\n# Thesis"),
    "other key": "---\ntags: [a]\n" + THESIS[4:].replace("---\n# T", "tags: [b]\n---\n# T"),
}


@pytest.mark.parametrize("case", sorted(DUPLICATES))
def test_a_duplicate_key_names_both_lines(make_vault, case):
    text = DUPLICATES[case]
    key = {"nested": "ticker", "thesis key": "rotation-notes", "other key": "tags"}[case]
    lines = text.splitlines()
    first, second = [i + 1 for i, ln in enumerate(lines) if ln.strip().startswith(key + ":")][:2]
    vault = make_vault({"t.md": text, GOOD: THESIS})
    result = refresh_cli(vault)
    assert result.returncode == 2
    assert (
        f"t.md:{second}: key '{key}' appears twice in one mapping (lines {first} and {second})"
        in result.stderr
    )
    assert (vault / "t.md").read_text() == text
    assert f"updated    {GOOD}" in result.stderr


def refresh_with_catalyst(make_vault, event: str) -> subprocess.CompletedProcess[str]:
    """A thesis that lists one catalyst note, ``Event.md`` holding ``event``, refreshed."""
    top = 'catalysts:\n  - "[[Event]]"\n'
    return refresh_cli(make_vault({"t.md": thesis(top=top), "Event.md": event}))


def test_duplicate_key_in_a_linked_catalyst_note(make_vault):
    result = refresh_with_catalyst(
        make_vault, "---\nevent_start: 2026-02-03\nevent_start: 2026-02-04\n---\n"
    )
    assert result.returncode == 0  # the catalyst's row is n/a, the thesis refreshed (issue 13)
    assert "Event.md:3: key 'event_start' appears twice in one mapping (lines 2 and 3)" in (
        result.stderr
    )


def test_a_merge_key_may_be_overridden(make_vault):
    spec = "  base: &leg {label: Small caps, ticker: IWM}\n"
    text = THESIS_FRONTMATTER.replace(
        "rotation-notes:\n  long:\n    label: Small caps\n    ticker: IWM\n",
        "x-legs:\n" + spec + "rotation-notes:\n  long:\n    <<: *leg\n    label: Mine\n",
    )
    vault = make_vault({"t.md": text + "# T\n\n" + ALL_REGIONS})
    result = refresh_cli(vault)
    assert result.returncode == 0, result.stderr
    assert "Mine (IWM)" in (vault / "t.md").read_text()


# --- 7. chart names every system can hold ---------------------------------------------------

BAD_CHART_NAMES = {
    '"a\\nb.png"': "holds a line break",
    '"a\\rb.png"': "holds a line break",
    '"a\\tb.png"': "holds the control character U+0009",
    '"a\\u202eb.png"': "holds the control character U+202E",
    ".hidden.png": "starts with a dot",
    "..png": "starts with a dot",
    "con.png": "is a device name Windows reserves",
    "NUL.png": "is a device name Windows reserves",
    "com1.png": "is a device name Windows reserves",
    "CONIN$.png": "is a device name Windows reserves",
    "Lpt9.backup.png": "is a device name Windows reserves",
    "x" * 300 + ".png": "is 304 bytes long; a chart file name may be at most 200",
    "sub/dir.png": "is not a plain .png file name",
    "chart.jpg": "is not a plain .png file name",
}


@pytest.mark.parametrize("name", sorted(BAD_CHART_NAMES))
def test_chart_names_no_system_can_hold_are_refused(make_vault, name):
    text = thesis(f"  charts:\n    - file: {name}\n")
    vault = make_vault({"t.md": text, GOOD: THESIS})
    before = set(snapshot(vault))
    result = refresh_cli(vault)
    assert result.returncode == 2
    line = text.splitlines().index(f"    - file: {name}") + 1
    assert f"t.md:{line}: chart file name" in result.stderr
    assert BAD_CHART_NAMES[name] in result.stderr
    assert "(key: rotation-notes.charts[0].file)" in result.stderr
    assert set(snapshot(vault)) - before <= {"iwm-vs-qqq-price-chart.png"}  # the good note's


def test_reasonable_chart_names_are_accepted(make_vault):
    for name in ("console.png", "Chart (IWM vs QQQ) 2026.png", "é-графік.png"):
        vault = make_vault({"t.md": _chart_thesis(f'"{name}"')}, name=f"v{hash(name)}")
        result = refresh_cli(vault)
        assert result.returncode == 0, result.stderr
        assert is_own_chart((vault / name).read_bytes())


# --- 8. every bad value gets file, key or line, never "internal error" ---------------------


@pytest.mark.parametrize(
    "extra, expect",
    [
        (
            "  charts:\n    - days: 1000000000\n",
            "t.md:4: '1000000000' is more than the largest allowed, 36,525 "
            "(key: rotation-notes.charts[0].days)",
        ),
        ("  charts:\n    - days: 3000000\n", "(key: rotation-notes.charts[0].days)"),
        (
            "  history:\n    since: 0001-01-01\n",
            "0001-01-01 is outside the dates rotation-notes handles (1800-01-01 to 2199-12-31) "
            "(key: rotation-notes.history.since)",
        ),
        (
            "  setup:\n    metrics:\n      - {name: P/E, long: 1, short: 2, source: me, "
            "as_of: 9999-12-31}\n",
            "(key: rotation-notes.setup.metrics[0].as_of)",
        ),
        (
            "  history:\n    periods:\n      - {start: 2026-02-30}\n",
            "'2026-02-30' is not a valid date (day is out of range for month) "
            "(key: rotation-notes.history.periods[0].start)",
        ),
    ],
)
def test_out_of_range_values_are_named(make_vault, extra, expect):
    vault = make_vault({"t.md": thesis(extra), GOOD: THESIS})
    result = refresh_cli(vault)
    assert result.returncode == 2
    assert expect in result.stderr
    assert "internal error" not in result.stderr and "Errno" not in result.stderr
    assert f"updated    {GOOD}" in result.stderr


def test_an_invalid_catalyst_date_says_invalid_not_missing(make_vault):
    result = refresh_with_catalyst(make_vault, "---\nevent_start: 2026-02-30\n---\n")
    assert result.returncode == 0  # the catalyst's row is n/a, the thesis refreshed (issue 13)
    assert (
        "Event.md:2: '2026-02-30' is not a valid date (day is out of range for month) "
        "(key: event_start)" in result.stderr
    )
    assert "has no 'event_start'" not in result.stderr


def test_include_of_a_path_outside_the_templates_is_explained(make_vault):
    vault = make_vault({"t.md": THESIS, "tpl/setup.md.j2": "{% include '/etc/passwd' %}\n"})
    with open(vault / "rotation-notes.toml", "a") as fh:
        fh.write('templates_dir = "tpl"\n')
    result = refresh_cli(vault)
    assert result.returncode == 2
    assert "t.md: " in result.stderr and "setup.md.j2:1: template error: it includes" in (
        result.stderr
    )
    assert "'/etc/passwd', which is neither in the vault's templates folder" in result.stderr
    assert "root:" not in (vault / "t.md").read_text()


def test_invalid_utf8_names_line_and_offset(make_vault):
    raw = THESIS.encode().replace(b"# Thesis", b"# Th\xffesis")
    vault = make_vault({"t.md": raw})
    result = refresh_cli(vault)
    assert result.returncode == 2
    offset = raw.index(b"\xff")
    line = raw[:offset].count(b"\n") + 1
    assert f"t.md:{line}: note is not valid UTF-8: the first bad byte is at offset {offset:,}" in (
        result.stderr
    )


def test_as_of_out_of_range_is_a_usage_error(make_vault):
    vault = make_vault({"t.md": THESIS})
    result = refresh_cli(vault, "--as-of", "0001-01-01")
    assert result.returncode == 2
    assert "0001-01-01 is outside 1800-01-01 to 2199-12-31" in result.stderr
    assert "Traceback" not in result.stderr


# --- 9. lone-CR line endings ------------------------------------------------------------------


@pytest.mark.parametrize("where", ["whole note", "body only"])
def test_a_cr_only_thesis_is_refreshed_and_keeps_its_endings(make_vault, where):
    text = THESIS.replace("\n", "\r")
    if where == "body only":
        fm_end = THESIS.index("---\n", 4) + 4
        text = THESIS[:fm_end] + THESIS[fm_end:].replace("\n", "\r")
    text += "Closing words.\r"
    vault = make_vault({"t.md": text.encode()})
    result = refresh_cli(vault)
    assert result.returncode == 0, result.stderr
    assert "updated    t.md" in result.stderr
    after = (vault / "t.md").read_bytes().decode()
    body = after[after.index("# Thesis") :]
    assert "\n" not in body and len(after) > len(text)
    assert outside_regions(after) == outside_regions(text)
    assert "unchanged  t.md" in refresh_cli(vault).stderr


def test_init_on_a_cr_only_note_inserts_cr_regions(make_vault):
    text = (THESIS_FRONTMATTER + "# Thesis\n\nMy words.\n").replace("\n", "\r")
    vault = make_vault({"t.md": text.encode()})
    result = refresh_cli(vault, "--init")
    assert result.returncode == 0, result.stderr
    after = (vault / "t.md").read_bytes().decode()
    assert "\n" not in after
    note = decode_note(after.encode())
    assert [r.name for r in find_regions(note, "t.md")] == list(REGION_NAMES)
    assert after.startswith(text[: text.index("# Thesis\r") + 9])  # untouched up to the H1
    assert after.count("My words.\r") == 1


def test_sample_note_is_untouched_by_these_rules(sample_vault):
    """The sample, refreshed as shipped, is still byte-for-byte what is committed."""
    before = (sample_vault / SAMPLE_NOTE).read_bytes()
    result = run_main("refresh", sample_vault)
    assert result.returncode == 0, result.stderr
    assert (sample_vault / SAMPLE_NOTE).read_bytes() == before


def test_schedule_never_replaces_or_removes_a_unit_it_did_not_write(
    sample_vault, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    args = ("--platform", "linux", "--no-activate")
    assert run_main("schedule", "install", sample_vault, *args).returncode == 0
    folder = tmp_path / "config" / "systemd" / "user"
    (timer,) = folder.glob("*.timer")
    timer.write_text("[Timer]\nOnCalendar=hourly\n# the user's own timer\n")
    again = run_main("schedule", "install", sample_vault, *args)
    assert again.returncode == 2
    assert f"{timer} exists and was not written by rotation-notes; not replaced" in again.stderr
    assert "the user's own timer" in timer.read_text()
    gone = run_main("schedule", "uninstall", sample_vault, *args)
    assert gone.returncode == 2 and f"not removed {timer}" in gone.stderr
    assert timer.exists() and not list(folder.glob("*.service"))  # ours was removed


def test_two_chart_paths_that_are_one_file_are_drawn_once(make_vault):
    spec = "  charts:\n    - file: a.png\n    - file: b.png\n"
    vault = make_vault({"t.md": thesis(spec)})
    assert refresh_cli(vault, "--as-of", "2026-02-04").returncode == 0
    (vault / "b.png").unlink()
    (vault / "b.png").symlink_to("a.png")  # one file, two chart names
    for _ in range(2):
        result = refresh_cli(vault, "--as-of", "2026-03-04")
        assert result.returncode == 0, result.stderr
        assert "changed while it was being refreshed" not in result.stderr
    assert (vault / "b.png").is_symlink() and is_own_chart((vault / "a.png").read_bytes())
    text = (
        (vault / "t.md")
        .read_text()
        .replace("    - file: b.png\n", "    - file: b.png\n      days: 30\n")
    )
    (vault / "t.md").write_text(text)
    result = refresh_cli(vault, "--as-of", "2026-03-04")
    assert result.returncode == 2
    assert "chart b.png (the same file as a.png) is also drawn by t.md, with different data" in (
        result.stderr
    )
