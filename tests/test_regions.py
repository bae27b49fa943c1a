"""Region markers: parsing, errors with line numbers, replacement, --init placement."""

from __future__ import annotations

import re

import pytest

from rotation_notes.errors import MarkerError
from rotation_notes.note.regions import find_regions, insert_missing, normalise, replace_regions
from rotation_notes.note.text import decode_note
from rotation_notes.thesis.registry import NAMES, placements


def regions_of(text: str):
    return find_regions(decode_note(text.encode()), "note.md", NAMES)


def test_finds_regions_and_skips_frontmatter():
    text = (
        "---\nx: '%% rotation-notes:setup %%'\n---\nA\n"
        "%% rotation-notes:setup %%\nold\n%% /rotation-notes:setup %%\n"
    )
    (r,) = regions_of(text)
    assert (r.name, r.begin, r.end) == ("setup", 4, 6)


@pytest.mark.parametrize(
    "body, expect",
    [
        ("%% rotation-notes:setup %%\n", "line 1: region 'setup' is never closed"),
        ("%% /rotation-notes:setup %%\n", "line 1: end of region 'setup' without a start"),
        (
            "%% rotation-notes:setup %%\n%% rotation-notes:tracking %%\n"
            "%% /rotation-notes:tracking %%\n%% /rotation-notes:setup %%\n",
            "line 2: region 'tracking' starts inside region 'setup'",
        ),
        (
            "%% rotation-notes:setup %%\n%% /rotation-notes:setup %%\n"
            "%% rotation-notes:setup %%\n%% /rotation-notes:setup %%\n",
            "line 3: region 'setup' appears twice (first at line 1)",
        ),
        (
            "%% rotation-notes:setpu %%\n%% /rotation-notes:setpu %%\n",
            "line 1: unknown region 'setpu'",
        ),
        (
            "%% /rotation-notes:setup %%\n%% rotation-notes:setup %%\n",
            "end of region 'setup' without a start",
        ),
        (
            "> %% rotation-notes:setup %%\n> %% /rotation-notes:setup %%\n",
            "line 1 looks like a rotation-notes marker but is inside a block quote or callout",
        ),
        ("%% rotation-notes: setup %%\n", "looks like a rotation-notes marker but is malformed"),
    ],
)
def test_marker_errors_name_the_line(body, expect):
    with pytest.raises(MarkerError) as err:
        regions_of(body)
    said = str(err.value)
    if (m := re.fullmatch(r"line (\d+): (.*)", expect)) and not err.value.message.startswith(
        "line "
    ):
        expect = f"note.md:{m.group(1)}: {m.group(2)}"  # one mistake: its line said once
    assert expect in said
    assert str(err.value).startswith("note.md:")


def test_markers_in_code_fences_are_text():
    text = (
        "```md\n%% rotation-notes:setup %%\n```\n"
        "~~~~\n%% /rotation-notes:tracking %%\n```\nstill code\n~~~~\n"
        "> ```\n> %% rotation-notes:setup %%\n> ```\n"
        "%% rotation-notes:setup %%\n%% /rotation-notes:setup %%\n"
    )
    (r,) = regions_of(text)
    assert r.begin == 11


def test_unclosed_fence_hides_later_markers():
    assert regions_of("```\n%% rotation-notes:setup %%\n") == []


def test_replace_only_touches_region_lines_and_keeps_crlf():
    text = "a\r\n%% rotation-notes:setup %%\r\nold\r\n%% /rotation-notes:setup %%\r\nz"
    note = decode_note(text.encode())
    out = replace_regions(note, find_regions(note, "n"), {"setup": "| x |\n| 1 |\n"})
    assert (
        out
        == "a\r\n%% rotation-notes:setup %%\r\n| x |\r\n| 1 |\r\n%% /rotation-notes:setup %%\r\nz"
    )


def test_reformatted_table_is_not_rewritten():
    old = "| Metric | A |\n| :----- | -----: |\n|  YTD   |  +5.8% |  \n\n\n"
    new = "| Metric | A |\n|:---|---:|\n| YTD | +5.8% |\n"
    assert normalise(old) == normalise(new)
    text = "%% rotation-notes:setup %%\n" + old + "%% /rotation-notes:setup %%\n"
    note = decode_note(text.encode())
    assert replace_regions(note, find_regions(note, "n"), {"setup": new}) == text


def test_changed_figure_is_rewritten():
    assert normalise("| YTD | +5.8% |") != normalise("| YTD | +5.9% |")


def test_init_places_regions_under_matching_headings():
    text = "---\na: 1\n---\n# Title\n\nIntro.\n\n## The setup\n\nMine.\n\n## Tracking\n\nEnd"
    note = decode_note(text.encode())
    out = insert_missing(
        note, [], placements(["headline", "updated", "setup", "charts", "tracking", "history"])
    )
    lines = out.split("\n")
    assert lines[:5] == ["---", "a: 1", "---", "# Title", ""]
    assert lines[5:9] == [
        "%% rotation-notes:headline %%",
        "%% /rotation-notes:headline %%",
        "%% rotation-notes:updated %%",
        "%% /rotation-notes:updated %%",
    ]
    setup = lines.index("## The setup")
    assert lines[setup + 2] == "%% rotation-notes:setup %%"
    tracking = lines.index("## Tracking")
    assert lines[tracking + 2] == "%% rotation-notes:charts %%"
    assert lines[tracking + 5] == "%% rotation-notes:tracking %%"
    assert "## Historical parallels" in lines  # no such heading: appended at the end
    assert lines.index("## Historical parallels") > lines.index("End")
    # every original line is still there, in order
    original = text.split("\n")
    it = iter(lines)
    assert all(any(line == o for line in it) for o in original)
    # and the result parses, with each region once
    assert {r.name for r in regions_of(out)} == {
        "headline",
        "updated",
        "setup",
        "charts",
        "tracking",
        "history",
    }


def test_init_is_a_no_op_when_regions_exist():
    text = "%% rotation-notes:setup %%\n%% /rotation-notes:setup %%\n"
    note = decode_note(text.encode())
    assert insert_missing(note, find_regions(note, "n"), placements(["setup"])) == text


def test_percent_formatting():
    from rotation_notes.output.templates import fmt_pct, fmt_pp

    assert [fmt_pct(5.83), fmt_pct(-1.44), fmt_pct(-0.004), fmt_pct(None), fmt_pp(7.25, 2)] == [
        "+5.8%",
        "-1.4%",
        "0.0%",
        "n/a",
        "+7.25 pp",
    ]


def test_huge_and_tiny_numbers_stay_short():
    """No 300-digit cell: past a bound, scientific notation; below a cent, significant digits."""
    from rotation_notes.output.templates import fmt_number, fmt_pct, fmt_pp, fmt_price

    # ordinary values are written as before
    assert [fmt_number(18), fmt_number(17.25), fmt_number(-3), fmt_number(0)] == [
        "18",
        "17.2",
        "-3",
        "0",
    ]
    assert [fmt_price(1234.5), fmt_price(0.5), fmt_price(99_999_999_999.99)] == [
        "1,234.50",
        "0.50",
        "99,999,999,999.99",
    ]
    assert [fmt_pct(5191.73), fmt_pct(-99.99), fmt_pp(999_999.9)] == [
        "+5191.7%",
        "-100.0%",
        "+999999.9 pp",
    ]
    # huge
    assert [fmt_number(1e308), fmt_number(-2.5e12), fmt_number(10**400)] == [
        "1.0e+308",
        "-2.5e+12",
        "n/a",  # an int past any float
    ]
    assert [fmt_price(1e308), fmt_price(1e12)] == ["1.00e+308", "1.00e+12"]
    assert [fmt_pct(1e306), fmt_pct(-1e7), fmt_pp(1e6, 2)] == [
        "+1.0e+306%",
        "-1.0e+07%",
        "+1.00e+06 pp",
    ]
    # tiny
    assert [fmt_price(2.5e-7), fmt_price(0.00123), fmt_price(1e-300)] == [
        "2.5e-07",
        "0.00123",
        "1e-300",
    ]
    assert [fmt_number(0.004), fmt_number(3e-5), fmt_number(1e-300)] == ["0.004", "3e-05", "1e-300"]
    assert fmt_pct(1e-300) == "0.0%"
    values = [10.0**e * s for e in range(-320, 309, 7) for s in (1, -1)]
    for fmt in (fmt_number, fmt_price, fmt_pct, fmt_pp):
        assert max(len(fmt(v)) for v in values) <= 20


def test_init_after_frontmatter_without_final_newline():
    text = "---\nrotation-notes: {}\n---"
    note = decode_note(text.encode())
    out = insert_missing(note, [], placements(["headline", "setup"]))
    assert out.startswith("---\nrotation-notes: {}\n---\n%% rotation-notes:headline %%\n")
    assert {r.name for r in regions_of(out)} == {"headline", "setup"}


def test_init_after_a_marker_ending_in_a_lone_cr():
    # Found by the fuzzer: the marker's lone CR became CR CR LF and the marker broke.
    # A lone CR ends a line (as in CommonMark and Obsidian's editor): the marker keeps it.
    text = "# T\n%% rotation-notes:headline %%\n%% /rotation-notes:headline %%\r"
    note = decode_note(text.encode())
    out = insert_missing(note, regions_of(text), placements(["headline", "updated"]))
    assert out.startswith(text + "%% rotation-notes:updated %%\n")
    assert [r.name for r in regions_of(out)] == ["headline", "updated"]


def test_init_refuses_to_append_into_a_code_block_left_open(make_vault):
    # Found by the fuzzer: regions appended after an unclosed fence are code, so every
    # --init appended them again.
    from conftest import THESIS_FRONTMATTER, run_cli

    text = THESIS_FRONTMATTER + "# Thesis\n\nSome code:\n```python\nprint('never closed')\n"
    vault = make_vault({"t.md": text})
    result = run_cli("refresh", vault, "--init")
    assert result.returncode == 2
    assert "t.md:20: line 20 opens a code block that is never closed" in result.stderr
    assert (vault / "t.md").read_text() == text
