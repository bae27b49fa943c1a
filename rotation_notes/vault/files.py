"""Reading files from a vault: regular files only, never a pipe, socket or device.

A vault may hold anything its owner (or whoever shared it) put there. Opening a
named pipe (FIFO) for reading blocks until some other process writes to it, a
character device can produce bytes forever, and a socket cannot be opened at
all: each of them would hang or crash a refresh while it holds the vault's
writer lock. So every file rotation-notes reads goes through :func:`open_regular`:
the path is checked before it is opened, opened non-blocking (a FIFO then opens
at once instead of waiting for a writer) and checked again on the open handle,
so a file swapped for a pipe in between is still refused.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of(mode: int) -> str:
    """What a file of this mode is, in words ("a named pipe (FIFO)")."""
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def stays_inside(path: Path | str, root: Path) -> bool:
    """Whether ``path``, with every symlink followed, is ``root`` or under it.

    The one vault-boundary check: every file read from or written to a vault (notes,
    linked notes, charts, templates, bundled data, the cache) passes it. ``root`` must
    already be resolved (``Vault.root`` is).
    """
    return Path(path).resolve().is_relative_to(root)


class NotRegularFile(OSError):
    """The path exists but is not a regular file (a FIFO, socket, device or folder)."""

    def __init__(self, path: Path | str, mode: int) -> None:
        super().__init__(errno.EINVAL, f"is {kind_of(mode)}, not a regular file", str(path))
        self.kind = kind_of(mode)

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def open_regular(path: Path | str) -> BinaryIO:
    """``open(path, "rb")`` for a regular file (symlinks followed); NotRegularFile otherwise."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, st.st_mode)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, st.st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path | str, limit: int = -1) -> bytes:
    """The bytes of a regular file (its first ``limit`` bytes when given)."""
    with open_regular(path) as fh:
        return fh.read(limit)


def read_if_exists(path: Path | str) -> bytes | None:
    """The bytes of a regular file, or None when nothing is there."""
    try:
        return read_regular(path)
    except FileNotFoundError:
        return None


def is_regular(path: Path | str) -> bool:
    """Whether ``path`` is a regular file (following symlinks); False when absent."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False
