"""One writer at a time per vault: a lock file outside the vault (sync tools never copy it).

Shared by ``refresh``, ``watch`` (held for each render, not for the whole session) and
scheduled runs. Lives in the platform's user state folder with the scheduler's state
(``ROTATION_NOTES_STATE`` overrides it).

The lock file exists only while a run holds it. On POSIX it is an ``flock`` on the file, and
the holder unlinks the file just before it unlocks. A waiter may then lock the inode it opened
earlier, which no longer has a name; so after every ``flock`` the waiter checks that the path
still names the inode it locked (``fstat(fd)`` against ``stat(path)``) and, if not, starts
over on the file now there. That check, unlike filelock's ``st_nlink == 0`` test, also holds
on NFS, where an unlinked file that is still open keeps a link (a ``.nfsXXXX`` name). On
Windows filelock's own lock is used; it removes the file on release where no one else has it
open. Lock files left by older versions (which never removed them) are removed once they
can be locked without waiting; a held one is never touched.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs
from filelock import FileLock, Timeout

from rotation_notes.errors import RotationNotesError

log = logging.getLogger(__name__)

STATE_ENV = "ROTATION_NOTES_STATE"

#: A vault lock's file name: the vault key and ``.lock``; nothing else in ``locks/`` is swept.
_LOCK_NAME = re.compile(r"[0-9a-f]{16}\.lock")
_CONTENDED = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES}
_POLL_FIRST, _POLL_MAX = 0.001, 0.05


class LockHeld(RotationNotesError):
    """The lock file is still held by another process after waiting."""


class VaultBusy(RotationNotesError):
    """Another rotation-notes run is writing this vault."""


def state_dir() -> Path:
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_state_dir("rotation-notes", appauthor=False))


def vault_key(root: Path) -> str:
    return hashlib.sha256(os.fsencode(root.resolve())).hexdigest()[:16]


def lock_path(root: Path) -> Path:
    return state_dir() / "locks" / f"{vault_key(root)}.lock"


# --- POSIX: flock, checked against the path, unlinked by its holder ------------------------


def _names(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _posix_acquire(path: Path, wait: float, *, create: bool = True) -> int:
    """An fd holding an exclusive flock on the file ``path`` names; ``LockHeld`` after
    ``wait`` seconds. Polls (a blocking flock cannot time out), keeping the file open so a
    release between two polls is seen at the next one."""
    import fcntl

    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    if create:
        flags |= os.O_CREAT
    deadline = time.monotonic() + wait
    delay = _POLL_FIRST
    fd: int | None = None
    try:
        while True:
            if fd is None:
                fd = os.open(path, flags, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in _CONTENDED:
                    raise
            else:
                if _names(fd, path):
                    held, fd = fd, None
                    return held
                # Its holder unlinked it as it released it: what we locked guards nothing.
                os.close(fd)
                fd = None
                if time.monotonic() < deadline:
                    continue  # lock the file there now, at once
            if time.monotonic() >= deadline:
                raise LockHeld(str(path))
            time.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)
    finally:
        if fd is not None:
            os.close(fd)


def _posix_release(fd: int, path: Path) -> None:
    """Unlink the file while still holding it, then unlock: whoever locks this inode next
    finds that the path no longer names it and starts over on a new file."""
    import fcntl

    try:
        if _names(fd, path):
            path.unlink()
    except OSError as exc:  # the lock is released all the same; the file is swept later
        log.debug("could not remove the lock file %s: %s", path, exc)
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


# --- the lock -------------------------------------------------------------------------------


def acquire(path: Path, *, wait: float) -> Callable[[], None]:
    """Take the lock file ``path`` (exclusive, between processes), waiting up to ``wait``
    seconds (``LockHeld`` after that); returns the function that releases it. The file
    exists only while it is held."""
    if sys.platform == "win32":  # pragma: no cover - filelock removes the file on release
        lock = FileLock(str(path))
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise LockHeld(str(path)) from None
        return lock.release
    fd = _posix_acquire(path, wait)
    return lambda: _posix_release(fd, path)


@contextmanager
def hold(path: Path, *, wait: float) -> Iterator[None]:
    """``acquire`` as a context manager."""
    release = acquire(path, wait=wait)
    try:
        yield
    finally:
        release()


def sweep_stale_locks(folder: Path, *, keep: Path | None = None) -> int:
    """Remove vault lock files no run holds (older versions left one per vault ever used).

    Each is taken without waiting, exactly as a run would take it, and removed by its holder,
    as a run's own lock is; one that is held is left alone. Returns how many were removed.
    """
    removed = 0
    try:
        names = [p for p in folder.iterdir() if _LOCK_NAME.fullmatch(p.name)]
    except OSError:
        return 0
    for path in names:
        if path == keep:
            continue
        try:
            if sys.platform == "win32":  # pragma: no cover
                acquire(path, wait=0)()
            else:
                _posix_release(_posix_acquire(path, 0, create=False), path)
        except (LockHeld, OSError):
            continue  # held by a run (or gone already): never removed from under it
        removed += 1
    if removed:
        log.debug("removed %d lock files no run held from %s", removed, folder)
    return removed


@contextmanager
def vault_lock(root: Path, *, wait: float) -> Iterator[None]:
    """Hold the vault's writer lock, waiting up to ``wait`` seconds for it."""
    path = lock_path(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        release = acquire(path, wait=wait)
    except LockHeld:
        raise VaultBusy(
            f"another rotation-notes run is writing this vault (waited {wait:g} s)",
            path=root,
            hint="try again when it has finished; nothing was changed",
        ) from None
    except OSError as exc:
        raise RotationNotesError(
            f"cannot take the vault's writer lock {path}: {exc.strerror or exc}",
            path=root,
            hint=f"the lock lives in the state folder; set {STATE_ENV} to a writable folder",
        ) from None
    try:
        sweep_stale_locks(path.parent, keep=path)
        yield
    finally:
        release()
