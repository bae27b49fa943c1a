"""Reading a note: bytes to text and back, frontmatter, wikilinks.

Nothing here writes. The note's bytes are decoded so that they can be
re-encoded exactly: a UTF-8 BOM is remembered, undecodable bytes survive as
surrogates, and lines are split at CRLF, LF and a lone CR only (``str.splitlines``
would also split on U+2028, form feeds and other characters that Obsidian keeps
inline).
Frontmatter is located with Obsidian's rule (a ``---`` line at the very top,
closed by the next ``---`` line) and only ever read, never re-serialised.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from rotation_notes.errors import FrontmatterError
from rotation_notes.vault.files import open_regular

BOM = b"\xef\xbb\xbf"
#: Frontmatter larger than this is not parsed (Obsidian's own property editor gives up far sooner).
MAX_FRONTMATTER_CHARS = 256 * 1024
#: How deeply lists and mappings may nest (PyYAML recurses once per level).
MAX_YAML_DEPTH = 100
#: Nodes the frontmatter may hold once aliases are expanded (a "billion laughs" holds 10^9).
MAX_YAML_NODES = 100_000
_FM_FENCE = re.compile(r"---[ \t]*\r?\n?")


_LINE_END = re.compile(r"\r\n?|\n")


def split_lines(text: str) -> list[str]:
    """Split at CRLF, LF or a lone CR (CommonMark's line endings, and what Obsidian's
    editor breaks lines at), keeping line ends, so ``"".join`` restores the text."""
    if "\r" not in text:  # the common case, fast
        parts = text.split("\n")
        lines = [p + "\n" for p in parts[:-1]]
        if parts[-1]:
            lines.append(parts[-1])
        return lines
    lines = []
    pos = 0
    for m in _LINE_END.finditer(text):
        lines.append(text[pos : m.end()])
        pos = m.end()
    if pos < len(text):
        lines.append(text[pos:])
    return lines


def line_body(line: str) -> str:
    """A line without its ending (``\\n``, ``\\r\\n`` or a lone ``\\r``)."""
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    return line


@dataclass(frozen=True)
class NoteText:
    """A note's text, with what is needed to write it back byte for byte."""

    raw: bytes
    bom: bool
    text: str
    lines: list[str]
    #: Index of the first line after the frontmatter (0 if there is none).
    body_start: int
    #: The YAML between the fences, or None when the note has no frontmatter.
    frontmatter_src: str | None
    #: True when the bytes are not valid UTF-8 (kept as surrogates).
    undecodable: bool

    @property
    def newline(self) -> str:
        """The line ending the note mostly uses (``\\r\\n``, ``\\n`` or a lone ``\\r``)."""
        crlf = self.text.count("\r\n")
        counts = {
            "\n": self.text.count("\n") - crlf,
            "\r\n": crlf,
            "\r": self.text.count("\r") - crlf,
        }
        return max(counts, key=lambda k: (counts[k], k == "\n"))

    def encode(self, text: str) -> bytes:
        data = text.encode("utf-8", "surrogateescape")
        return BOM + data if self.bom else data


#: Bytes read to decide whether a note can be a thesis (its whole frontmatter fits).
HEAD_BYTES = 4 * MAX_FRONTMATTER_CHARS + 64


def read_head(path: Path, limit: int = HEAD_BYTES) -> tuple[bytes, int]:
    """The first ``limit`` bytes of a file, and the file's size.

    Deciding whether a note is a thesis, or reading a linked note's properties,
    needs only the frontmatter: a 50 MB note is not read whole for that.
    """
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        return fh.read(limit), size


def may_be_thesis(head: bytes, spec_key: str) -> bool:
    """Cheap test on a note's first bytes: frontmatter that mentions the thesis key."""
    head = head[len(BOM) :] if head.startswith(BOM) else head
    return head.startswith(b"---") and spec_key.encode() in head


def decode_note(raw: bytes) -> NoteText:
    bom = raw.startswith(BOM)
    payload = raw[len(BOM) :] if bom else raw
    try:
        text = payload.decode("utf-8")
        undecodable = False
    except UnicodeDecodeError:
        text = payload.decode("utf-8", "surrogateescape")
        undecodable = True
    lines = split_lines(text)
    body_start, fm_src = _locate_frontmatter(lines)
    return NoteText(raw, bom, text, lines, body_start, fm_src, undecodable)


def _locate_frontmatter(lines: list[str]) -> tuple[int, str | None]:
    if not lines or line_body(lines[0]).rstrip() != "---":
        return 0, None
    for i in range(1, len(lines)):
        if line_body(lines[i]).rstrip() == "---":
            return i + 1, "".join(lines[1:i])
    return 0, None  # never closed: Obsidian shows it as text, so do we


class YAMLLimitError(yaml.YAMLError):
    """Frontmatter over one of the limits above."""

    def __init__(self, problem: str, mark: yaml.Mark | None = None) -> None:
        super().__init__(problem)
        self.problem, self.problem_mark, self.context, self.context_mark = problem, mark, None, None


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names the same key twice (YAML would silently keep the last one)."""

    def __init__(self, key: Any, first: yaml.Mark, second: yaml.Mark) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key, self.first, self.second = key, first, second
        self.problem, self.problem_mark = f"duplicate key {key!r}", second
        self.context, self.context_mark = None, first


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document holds with every alias expanded, stopping past the limit.

    Aliases share nodes, so PyYAML builds a "billion laughs" cheaply; whatever
    walks the data afterwards (validation, a JSON report) would not.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are being counted: a path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if not children_done and id(node) in open_:
            # an alias inside its own anchor (``a: &x [*x]``): infinitely deep once expanded
            raise YAMLLimitError(
                "holds an alias inside the value it names (&anchor ... *anchor), which never "
                "ends once expanded",
                node.start_mark,
            )
        if isinstance(node, yaml.ScalarNode):
            # A long scalar weighs what it would cost to repeat: one per 100 characters.
            sizes[id(node)] = 1 + len(node.value) // 100
            continue
        kids: list[yaml.Node] = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if children_done:
            total = 1 + sum(sizes.get(id(k), 0) for k in kids)
            if total > MAX_YAML_NODES:
                raise YAMLLimitError(
                    f"holds more than {MAX_YAML_NODES:,} values (a long text counts one per "
                    "100 characters) once its aliases are expanded"
                    + (" (a YAML 'billion laughs'?)" if total > len(sizes) + len(stack) else ""),
                    node.start_mark,
                )
            sizes[id(node)] = total
            open_.discard(id(node))
        else:
            open_.add(id(node))
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes[id(root)]


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader (plain data only, no Python object tags) that keeps dates as text.

    PyYAML would turn ``2026-02-03`` into a date and raise a bare ValueError
    for ``2026-13-01``; as text, the spec validates it and names key and line.
    Documents that expand past ``MAX_YAML_NODES`` through aliases are refused
    before anything is constructed.
    """

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise YAMLLimitError(
                    f"is nested more than {MAX_YAML_DEPTH} levels deep",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML keeps the last of two equal keys without a word; Obsidian refuses such
        # properties. Merge keys (``<<``) may be overridden, as YAML allows.
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            merge: yaml.Mark | None = None
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    if merge is not None:  # the second silently wins, key by key
                        raise DuplicateKeyError("<<", merge, key_node.start_mark)
                    merge = key_node.start_mark
                    continue
                key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:
                    continue  # an unhashable key: PyYAML's own error names it
                if first is not key_node.start_mark:
                    raise DuplicateKeyError(key, first, key_node.start_mark)
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[no-untyped-call]
        except (ValueError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
            why = "a number of more than 4,300 digits" if "digits" in str(exc) else str(exc)
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {why}", node.start_mark
            ) from None

    def compose_document(self) -> yaml.Node | None:
        node: yaml.Node | None = super().compose_document()  # type: ignore[no-untyped-call]
        if node is not None:
            _expanded_size(node)
        return node


def parse_frontmatter(note: NoteText, path: Path | str) -> dict[str, Any]:
    """The frontmatter as a dict ({} when absent). Errors name the file line."""
    if note.frontmatter_src is None:
        return {}
    if len(note.frontmatter_src) > MAX_FRONTMATTER_CHARS:
        raise FrontmatterError(
            f"frontmatter is {len(note.frontmatter_src):,} characters; "
            f"rotation-notes reads up to {MAX_FRONTMATTER_CHARS:,}",
            path=path,
            line=2,
            hint="move the bulk of it into the note's body",
        )
    try:
        data = frontmatter.YAMLHandler().load(note.frontmatter_src, Loader=_SafeLoader)
    except RecursionError:
        raise FrontmatterError(
            "frontmatter is nested too deeply to read",
            path=path,
            line=2,
            hint="flatten the YAML between the '---' lines",
        ) from None
    except yaml.YAMLError as exc:
        # The context mark is where the broken construct began (an unclosed
        # list or quote); the problem mark is often just the end of the text.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else None  # +1 for '---', +1 1-based
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        if isinstance(exc, DuplicateKeyError):
            first, second = exc.first.line + 2, exc.second.line + 2
            raise FrontmatterError(
                f"key '{exc.key}' appears twice in one mapping (lines {first} and {second}); "
                "YAML would silently keep only the second",
                path=path,
                line=second,
                hint="remove or rename one of the two (Obsidian, too, refuses such properties)",
            ) from None
        if isinstance(exc, YAMLLimitError):
            raise FrontmatterError(
                f"frontmatter {problem}; not read",
                path=path,
                line=line,
                hint="simplify the YAML between the '---' lines",
            ) from None
        if "could not determine a constructor" in problem:
            problem += " (only plain YAML data is read; Python object tags are never built)"
        raise FrontmatterError(
            f"frontmatter is not valid YAML: {context + ': ' if context else ''}{problem}",
            path=path,
            line=line,
            hint="fix the YAML between the '---' lines (Obsidian's source mode shows it)",
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FrontmatterError("frontmatter must be a mapping of properties", path=path, line=2)
    return data


@functools.lru_cache(maxsize=8)
def _composed(src: str) -> yaml.Node | None:
    """The frontmatter's node tree (once per text: each key's line is looked up in it)."""
    return yaml.compose(src, Loader=_SafeLoader)  # type: ignore[no-any-return]


def key_line(note: NoteText, keys: tuple[str | int, ...]) -> int | None:
    """The 1-based file line where a frontmatter key path starts, if found."""
    if note.frontmatter_src is None or len(note.frontmatter_src) > MAX_FRONTMATTER_CHARS:
        return None
    try:
        node = _composed(note.frontmatter_src)
    except (yaml.YAMLError, RecursionError):
        return None
    best = None
    for k in keys:
        if isinstance(node, yaml.MappingNode) and isinstance(k, str):
            for knode, vnode in node.value:
                if knode.value == k:
                    best, node = knode, vnode
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(k, int) and k < len(node.value):
            node = node.value[k]
            best = node
        else:
            break
    if best is None:
        return None
    return best.start_mark.line + 2


# --- wikilinks -------------------------------------------------------------

_WIKILINK = re.compile(r"(!?)\[\[([^\[\]\n]+?)\]\]")


@dataclass(frozen=True)
class WikiLink:
    embed: bool
    target: str  # link path without subpath or alias, e.g. "Fed policy"
    subpath: str  # "#Heading" or "#^block" or ""
    alias: str | None


def parse_wikilink(inner: str, embed: bool = False) -> WikiLink:
    target, _, alias = inner.replace("\\|", "|").partition("|")
    target, hash_, sub = target.partition("#")
    return WikiLink(embed, target.strip(), hash_ + sub, alias.strip() or None if _ else None)


def find_wikilinks(text: str) -> Iterator[WikiLink]:
    for m in _WIKILINK.finditer(text):
        yield parse_wikilink(m.group(2), embed=bool(m.group(1)))


def as_wikilink(value: Any) -> WikiLink | None:
    """A frontmatter value like ``"[[Note]]"`` as a link, else None."""
    if not isinstance(value, str):
        return None
    m = _WIKILINK.fullmatch(value.strip())
    return parse_wikilink(m.group(2), embed=bool(m.group(1))) if m else None


def unified_diff(old: str, new: str, rel: str) -> str:
    """What a write would change in the note ``rel``, as a unified diff (``a/``, ``b/``)."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{rel}",
            tofile=f"b/{rel}",
        )
    )
