"""Writing files into the vault: atomically, and never over someone else's edit.

A file is replaced only through a temp file in the same folder (hidden:
its name starts with a dot, so Obsidian and most sync tools skip it), fsynced,
given the original's permission bits, then renamed over the original. Just
before the rename the file is read again; if its bytes are no longer the ones
the new content was computed from, nothing is written.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from .errors import ConcurrentEditError, NoteError

TEMP_MARK = ".rotation-notes-"


def temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}.tmp")


def read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def replace_if_unchanged(path: Path, expected: bytes | None, new: bytes) -> None:
    """Atomically set ``path`` to ``new`` if it still holds ``expected`` (None: absent)."""
    real = path.resolve() if path.is_symlink() else path
    try:
        st: os.stat_result | None = real.stat()
    except FileNotFoundError:
        st = None
    if st is not None and (not os.access(real, os.W_OK) or not st.st_mode & 0o222):
        raise NoteError(
            "file is read-only; not changed",
            path=path,
            hint="make it writable to let rotation-notes refresh it",
        )
    real.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(real)
    try:
        with open(tmp, "xb") as fh:
            fh.write(new)
            fh.flush()
            os.fsync(fh.fileno())
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if read_bytes(real) != expected:
            raise ConcurrentEditError(
                "changed while it was being refreshed; left as the other writer saved it",
                path=path,
                hint="run the refresh again",
            )
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(real.parent)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
