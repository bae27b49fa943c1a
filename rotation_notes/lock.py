"""One writer at a time per vault: a lock file outside the vault (sync tools never copy it).

Shared by ``refresh``, ``watch`` (held for each render, not for the whole session) and
scheduled runs. Lives in the platform's user state folder with the scheduler's state
(``ROTATION_NOTES_STATE`` overrides it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs
from filelock import FileLock, Timeout

from .errors import RotationNotesError

STATE_ENV = "ROTATION_NOTES_STATE"


class VaultBusy(RotationNotesError):
    """Another rotation-notes run is writing this vault."""


def state_dir() -> Path:
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_state_dir("rotation-notes", appauthor=False))


def vault_key(root: Path) -> str:
    return hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]


def lock_path(root: Path) -> Path:
    return state_dir() / "locks" / f"{vault_key(root)}.lock"


@contextmanager
def vault_lock(root: Path, *, wait: float) -> Iterator[None]:
    """Hold the vault's writer lock, waiting up to ``wait`` seconds for it."""
    path = lock_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise VaultBusy(
            f"another rotation-notes run is writing this vault (waited {wait:g} s)",
            path=root,
            hint="try again when it has finished; nothing was changed",
        ) from None
    try:
        yield
    finally:
        lock.release()
