"""Generated regions: find them, replace their contents, insert missing ones.

A region is the lines between two Obsidian comment lines (hidden in reading
view)::

    %% rotation-notes:setup %%
    ...generated...
    %% /rotation-notes:setup %%

Markers are recognised only at the start of a line, outside the frontmatter,
outside fenced code blocks and outside block quotes / callouts. Everything in
this module is string-in, string-out: no file I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from rotation_notes.errors import MarkerError
from rotation_notes.note.text import NoteText, line_body, split_lines


@dataclass(frozen=True)
class Placement:
    """Where ``--init`` inserts a region a note lacks (each kind of note's registry says).

    ``after_title``: right after the note's first ``#`` heading (else at the top of the
    body). ``glued_to``: on the line right after that region's end (or right behind it,
    when it is being inserted too). Otherwise under the first heading whose text (case,
    a leading "The " and numbering ignored) is one of ``headings``, ``before``/``after``
    a present region of that name; with no such heading, appended at the end under a new
    ``## default_heading`` (``first_section``: as a new first section instead, before the
    first heading below the title, when there is one).
    """

    headings: tuple[str, ...] = ()
    default_heading: str = ""
    after_title: bool = False
    glued_to: str | None = None
    before: str | None = None
    after: str | None = None
    first_section: bool = False


_MARKER = re.compile(r"%%[ \t]*(/?)rotation-notes:([A-Za-z0-9_.-]*)[ \t]*%%[ \t]*")
_QUOTE = re.compile(r" {0,3}> ?")
_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
HEADING = re.compile(r" {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*")


def begin_marker(name: str) -> str:
    return f"%% rotation-notes:{name} %%"


def end_marker(name: str) -> str:
    return f"%% /rotation-notes:{name} %%"


@dataclass(frozen=True)
class Region:
    name: str
    begin: int  # index of the begin-marker line
    end: int  # index of the end-marker line


@dataclass(frozen=True)
class _Line:
    index: int
    body: str  # without line ending
    in_code: bool  # inside a fenced code block (or is a fence line)
    quoted: bool  # inside a block quote / callout
    opens: bool = False  # the line opens a fenced code block


def _scan(lines: list[str], start: int) -> Iterator[_Line]:
    fence: tuple[str, int, int] | None = None  # (char, length, quote depth)
    for i in range(start, len(lines)):
        body = line_body(lines[i])
        rest, depth = body, 0
        while m := _QUOTE.match(rest):
            depth += 1
            rest = rest[m.end() :]
        if fence is not None and depth < fence[2]:
            fence = None  # the block quote holding the fence ended
        if fence is not None:
            char, length, _ = fence
            if re.fullmatch(rf" {{0,3}}{re.escape(char)}{{{length},}}[ \t]*", rest):
                fence = None
            yield _Line(i, body, True, depth > 0)
            continue
        m = _FENCE_OPEN.fullmatch(rest)
        if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            fence = (m.group(1)[0], len(m.group(1)), depth)
            yield _Line(i, body, True, depth > 0, opens=True)
            continue
        yield _Line(i, body, False, depth > 0)


def find_regions(
    note: NoteText, path: Path | str, known: Iterable[str] | None = None
) -> list[Region]:
    """All regions of the note, or MarkerError naming every problem and its line.

    ``known``: the region names this kind of note has (others are an error); None
    accepts any name.

    Each mistake is reported once, at the line to fix: a start marker without its end is
    that start's line (saying where the end marker goes), not every marker after it; a
    region started inside another is that start's line, and its own end is not reported
    again; an end with no start is that end's line.
    """
    names = None if known is None else tuple(known)
    problems: list[tuple[int, str]] = []
    markers: list[tuple[int, bool, str]] = []  # (line index, is an end, name)
    for ln in _scan(note.lines, note.body_start):
        if ln.in_code:
            continue
        m = _MARKER.fullmatch(ln.body)
        if m is None:
            if _looks_like_marker(ln.body):
                where = "inside a block quote or callout" if ln.quoted else "malformed"
                problems.append(
                    (
                        ln.index,
                        f"line {ln.index + 1} looks like a rotation-notes marker but is "
                        f"{where}; markers must stand alone at the start of a line, e.g. "
                        f"'{begin_marker('setup')}'",
                    )
                )
            continue
        name = m.group(2)
        if names is not None and name not in names:
            problems.append(
                (
                    ln.index,
                    f"line {ln.index + 1}: unknown region '{name}' (known: {', '.join(names)})",
                )
            )
            continue
        markers.append((ln.index, m.group(1) == "/", name))
    regions, paired = _pair_markers(markers)
    problems.extend(paired)
    if problems:
        problems.sort()
        first = problems[0][1]
        if len(problems) == 1:  # "NOTE:12: line 12: ..." says the line twice
            first = re.sub(r"^line \d+: ", "", first)
        raise MarkerError(
            "; ".join([first, *(p for _, p in problems[1:])]),
            path=path,
            line=problems[0][0] + 1,
            hint="fix the markers; the note was left untouched",
        )
    return regions


def _end_of(markers: list[tuple[int, bool, str]], k: int, name: str) -> int | None:
    """The line of the end marker of ``name`` after marker ``k``, before ``name`` starts again."""
    for index, closing, other in markers[k + 1 :]:
        if other == name:
            return index if closing else None
    return None


def _pair_markers(
    markers: list[tuple[int, bool, str]],
) -> tuple[list[Region], list[tuple[int, str]]]:
    """Regions from the marker lines, and each mistake once: (line index, message)."""
    problems: list[tuple[int, str]] = []
    regions: list[Region] = []
    seen: dict[str, int] = {}
    open_: tuple[str, int] | None = None
    skip_end: dict[str, int] = {}  # a start reported as nested: its own end is no new mistake
    skip_start: set[int] = set()  # a start reported with its end (the two the wrong way round)
    for k, (index, closing, name) in enumerate(markers):
        lineno = index + 1
        if index in skip_start:
            continue
        if not closing:
            if open_ is None:
                open_ = (name, index)
                continue
            outer, at = open_
            outer_end = _end_of(markers, k, outer)
            if outer == name and outer_end is not None:
                problems.append(
                    (
                        index,
                        f"line {lineno}: region '{name}' starts again (it started at line "
                        f"{at + 1} and ends at line {outer_end + 1}); delete one of the starts",
                    )
                )
                continue
            if outer_end is None:  # the region open here lacks its end: the fix is there
                problems.append(
                    (
                        at,
                        f"line {at + 1}: region '{outer}' is never closed; add "
                        f"'{end_marker(outer)}' on a line of its own where it ends, "
                        f"before line {lineno} (where region '{name}' starts)",
                    )
                )
                open_ = (name, index)
                continue
            problems.append(
                (
                    index,
                    f"line {lineno}: region '{name}' starts inside region '{outer}' "
                    f"(lines {at + 1}-{outer_end + 1}); regions cannot nest: move it out",
                )
            )
            if _end_of(markers, k, name) is not None:
                skip_end[name] = skip_end.get(name, 0) + 1
            continue
        if open_ is not None and open_[0] == name:
            outer, at = open_
            open_ = None
            if name in seen:
                first = seen[name] + 1
                problems.append(
                    (at, f"line {at + 1}: region '{name}' appears twice (first at line {first})")
                )
            else:
                seen[name] = at
                regions.append(Region(name, at, index))
            continue
        if skip_end.get(name):
            skip_end[name] -= 1
            continue
        if open_ is None:
            later = next(
                ((i, j) for j, (i, c, n) in enumerate(markers) if j > k and n == name), None
            )
            if (
                later is not None
                and not markers[later[1]][1]
                and _end_of(markers, later[1], name) is None
            ):
                skip_start.add(later[0])  # this end and that start are the wrong way round
                problems.append(
                    (
                        index,
                        f"line {lineno}: end of region '{name}' without a start: it comes "
                        f"before its start (line {later[0] + 1}); swap the two markers",
                    )
                )
                continue
            problems.append(
                (
                    index,
                    f"line {lineno}: end of region '{name}' without a start; add "
                    f"'{begin_marker(name)}' where it starts, or delete this line",
                )
            )
            continue
        outer, at = open_
        if _end_of(markers, k, outer) is not None:  # the other region ends later: a stray end
            problems.append(
                (
                    index,
                    f"line {lineno}: end of region '{name}' without a start (inside region "
                    f"'{outer}', opened at line {at + 1}); delete this line",
                )
            )
            continue
        problems.append(
            (
                index,
                f"line {lineno}: end of region '{name}', but region '{outer}' opened at line "
                f"{at + 1} is still open; make this line '{end_marker(outer)}'",
            )
        )
        open_ = None
    if open_ is not None:
        name, at = open_
        problems.append(
            (
                at,
                f"line {at + 1}: region '{name}' is never closed; add '{end_marker(name)}' "
                "on a line of its own where it ends (it runs to the end of the note)",
            )
        )
    return regions, problems


def _looks_like_marker(body: str) -> bool:
    stripped = body.strip().lstrip(">").strip()
    return stripped.startswith("%%") and "rotation-notes:" in stripped


def check_rendered(name: str, text: str, path: Path | str) -> None:
    """Refuse generated text that would break the note's regions once written.

    A marker line (or one that looks like one) anywhere in it would end the region early,
    start another or make the note unreadable on the next run; a code block it opens and
    does not close would swallow the region's end marker.
    """
    lines = split_lines(text)
    problem = None
    for i, line in enumerate(lines):
        if _looks_like_marker(line_body(line)):
            problem = f"its line {i + 1} is a marker line ({line_body(line).strip()[:80]!r})"
            break
    else:
        fence = _unclosed_fence(lines, 0)
        if fence is not None:
            problem = f"its line {fence + 1} opens a code block that it does not close"
    if problem is not None:
        raise MarkerError(
            f"the rendered '{name}' region would break the note's markers: {problem}; "
            "the note was left untouched",
            path=path,
            hint=f"the text comes from the template {name}.md.j2 (the vault's own, if it has "
            "one) or a value it shows: generated text may hold no rotation-notes marker line "
            "and no unclosed code block",
        )


def check_same_regions(before: list[Region], text: str, path: Path | str) -> None:
    """The note about to be written has the same regions, in the same order, as before."""
    from rotation_notes.note.text import decode_note  # the text as it will be read back

    try:
        after = find_regions(decode_note(text.encode("utf-8", "surrogateescape")), path)
    except MarkerError as exc:
        after_names = None
        detail = exc.message
    else:
        after_names = [r.name for r in after]
        detail = f"it would hold regions {', '.join(after_names) or 'none'}"
    if after_names != [r.name for r in before]:
        raise MarkerError(
            f"the rendered note would not read back with the regions it has ({detail}); "
            "the note was left untouched",
            path=path,
            hint="a template's output breaks the markers: see docs/regions.md",
        )


# --- comparing and replacing ------------------------------------------------

_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_SEP_CELL = re.compile(r":?-+:?")


def _normalise_row(row: str) -> str:
    cells = [c.strip() for c in _CELL_SPLIT.split(row.strip())]
    if cells and cells[0] == "":
        cells = cells[1:]
    if cells and cells[-1] == "":
        cells = cells[:-1]
    if cells and all(_SEP_CELL.fullmatch(c) for c in cells):
        cells = [
            (":" if c.startswith(":") else "")
            + "---"
            + (":" if c.endswith(":") and len(c) > 1 else "")
            for c in cells
        ]
    return "|" + "|".join(cells) + "|"


def normalise(text: str) -> str:
    """Content as a linter or Obsidian might reformat it, reduced to what it means.

    Ignores line endings, trailing spaces, runs of blank lines, table cell
    padding and separator width, and Unicode composition, so that the tool
    never rewrites a region only because someone re-aligned its table.
    """
    out: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = unicodedata.normalize("NFC", line).rstrip()
        if line.lstrip().startswith("|"):
            line = _normalise_row(line)
        else:
            indent = len(line) - len(line.lstrip())
            line = line[:indent] + re.sub(r"[ \t]+", " ", line[indent:])
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out)


def region_text(note: NoteText, region: Region) -> str:
    return "".join(note.lines[region.begin + 1 : region.end])


def replace_regions(note: NoteText, regions: list[Region], contents: Mapping[str, str]) -> str:
    """The note's text with each region's lines replaced by ``contents[name]``.

    A region whose current content normalises to the same as the new content
    is left exactly as it is. Lines outside regions, and the marker lines
    themselves, are never touched.
    """
    out: list[str] = []
    pos = 0
    for region in sorted(regions, key=lambda r: r.begin):
        out.extend(note.lines[pos : region.begin + 1])
        old = note.lines[region.begin + 1 : region.end]
        new = contents.get(region.name)
        if new is None or normalise("".join(old)) == normalise(new):
            out.extend(old)
        else:
            marker_line = note.lines[region.begin]
            nl = marker_line[len(line_body(marker_line)) :] or "\n"  # its own ending
            body = new.replace("\r\n", "\n").rstrip("\n")
            if body:
                out.extend(line + nl for line in body.split("\n"))
        pos = region.end
    out.extend(note.lines[pos:])
    return "".join(out)


# --- inserting missing regions (--init) -------------------------------------


def heading_key(text: str) -> str:
    text = re.sub(r"[*_`]", "", text).strip().lower()
    text = re.sub(r"^[0-9.]+\s*", "", text)
    return text[4:] if text.startswith("the ") else text


def _unclosed_fence(lines: list[str], start: int) -> int | None:
    """The index of the fence line whose code block runs to the end of the note, if any."""
    opened = None
    for ln in _scan([*lines, "\n"], start):  # a sentinel line: in code iff a block is open
        if ln.opens:
            opened = ln.index
        elif not ln.in_code:
            opened = None
    return opened


def _unclosed_comment(lines: list[str], start: int) -> int | None:
    """The line of an Obsidian ``%%`` comment that runs to the end of the note, if any."""
    opened = None
    for ln in _scan(lines, start):
        if ln.in_code or _MARKER.fullmatch(ln.body):
            continue
        for _ in range(ln.body.count("%%")):
            opened = ln.index if opened is None else None
    return opened


def insert_missing(
    note: NoteText,
    regions: list[Region],
    wanted: Iterable[tuple[str, Placement]],
    path: Path | str = "",
) -> str:
    """The note with an empty region inserted for each wanted region it lacks.

    ``wanted``: (name, placement) in the order to insert them (a registry's order);
    docs/regions.md describes the thesis note's placements.
    """
    nl = note.newline
    present = {r.name: r for r in regions}
    missing = [(n, place) for n, place in wanted if n not in present]
    if not missing:
        return note.text

    def block(name: str) -> list[str]:
        return [begin_marker(name) + nl, end_marker(name) + nl]

    inserts: dict[int, list[str]] = {}  # insert before line index
    appended: dict[str, list[str]] = {}  # heading -> lines appended at the end
    appended_names: list[str] = []
    lines = note.lines
    scanned = [ln for ln in _scan(lines, note.body_start) if not ln.in_code and not ln.quoted]
    headings = [(ln.index, m) for ln in scanned if (m := HEADING.fullmatch(ln.body))]

    def after(index: int, new: list[str]) -> None:
        inserts.setdefault(index + 1, []).extend(new)

    for name, place in missing:
        if place.after_title:
            h1 = next((i for i, m in headings if len(m.group(1)) == 1), None)
            if h1 is None:
                inserts.setdefault(note.body_start, []).extend(block(name) + [nl])
            else:
                after(h1, [nl, *block(name)])
            continue
        if (glued := place.glued_to) is not None:
            if glued in present:
                after(present[glued].end, block(name))
            else:  # the region it follows was just queued: go right behind it
                for key in inserts:
                    if begin_marker(glued) + nl in inserts[key]:
                        pos = inserts[key].index(end_marker(glued) + nl) + 1
                        inserts[key][pos:pos] = block(name)
                        break
            continue
        if place.before is not None and place.before in present:
            inserts.setdefault(present[place.before].begin, []).extend(block(name) + [nl])
            continue
        if place.after is not None and place.after in present:
            after(present[place.after].end, [nl, *block(name)])
            continue
        target = next((i for i, m in headings if heading_key(m.group(2)) in place.headings), None)
        if target is None and place.first_section:
            h1 = next((i for i, m in headings if len(m.group(1)) == 1), -1)
            section = next((i for i, m in headings if i > h1 and len(m.group(1)) > 1), None)
            if section is not None:
                gap = [nl] if lines[section - 1].strip() else []
                inserts.setdefault(section, []).extend(
                    [*gap, f"## {place.default_heading}{nl}", nl, *block(name), nl]
                )
                continue
        if target is None:
            appended.setdefault(place.default_heading, []).extend([nl, *block(name)])
            appended_names.append(name)
        else:
            after(target, [nl, *block(name)])

    out: list[str] = []

    def end_line() -> None:
        """Give the last line an ending (e.g. a closing '---' at the very end of the file)."""
        if out and not out[-1].endswith(("\n", "\r")):  # a lone CR ends a line too
            out[-1] += nl

    def insert(new: list[str]) -> None:
        if new:
            end_line()
        out.extend(new)

    for i, line in enumerate(lines):
        insert(inserts.get(i, []))
        out.append(line)
    insert(inserts.get(len(lines), []))
    if appended:
        # Obsidian shows everything after an unclosed code block as code, and hides everything
        # after an unclosed %% comment: markers (and charts) appended there would not work.
        for find, opened, where, fix in (
            (_unclosed_fence, "a code block", "inside it", "close the code block"),
            (_unclosed_comment, "a %% comment", "hidden inside it", "close it with another %%"),
        ):
            at = find(lines, note.body_start)
            if at is not None:
                raise MarkerError(
                    f"line {at + 1} opens {opened} that is never closed, so regions appended "
                    f"at the end would be {where}",
                    path=path,
                    line=at + 1,
                    hint=f"{fix}, or add the markers by hand (see docs/regions.md); "
                    f"missing: {', '.join(appended_names)}",
                )
        end_line()
        for heading, new in appended.items():
            out.extend([nl, f"## {heading}" + nl, *new])
    text = "".join(out)
    if note.text and not note.text.endswith(("\n", "\r")) and text.endswith(nl):
        text = text[: -len(nl)]  # a note without a final line ending keeps it that way
    return text
