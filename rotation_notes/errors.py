"""One exception tree for the whole tool, and the exit codes it maps to.

Every error carries the file it concerns and, where known, the line and the
frontmatter key, so a message reads ``path:line: message (key: k). hint``.
"""

from __future__ import annotations

from pathlib import Path

#: All notes refreshed (or nothing to do).
EXIT_OK = 0
#: ``--check`` found a note or chart that would change.
EXIT_CHANGES = 1
#: One or more notes failed, or the command line was wrong.
EXIT_FAILED = 2
#: Interrupted (Ctrl-C / SIGTERM).
EXIT_INTERRUPTED = 130


class RotationNotesError(Exception):
    """Base of every error the tool reports to a user."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.key = key
        self.hint = hint

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        text = where + self.message
        if self.key:
            text += f" (key: {self.key})"
        if self.hint:
            text += f". {self.hint}"
        return text


class UsageError(RotationNotesError):
    """The command line or the vault layout is wrong; nothing was attempted."""


class NoteError(RotationNotesError):
    """A note cannot be refreshed; it is left untouched."""


class FrontmatterError(NoteError):
    """The YAML frontmatter cannot be parsed."""


class SpecError(NoteError):
    """The frontmatter parses but does not describe a valid thesis."""


class MarkerError(NoteError):
    """Generated-region markers are unbalanced, duplicated, nested or unknown."""


class LinkError(NoteError):
    """A wikilink the thesis depends on does not resolve, or escapes the vault."""


class TemplateError(NoteError):
    """A Jinja template failed to load or render."""


class DataError(NoteError):
    """Market data needed by a note is missing or unusable."""


class ConcurrentEditError(NoteError):
    """The file changed while it was being refreshed; it was not overwritten."""
