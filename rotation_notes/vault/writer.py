"""Writing files into the vault: atomically, and never over someone else's edit.

A file is replaced only through a temp file in the same folder (hidden:
its name starts with a dot, so Obsidian and most sync tools skip it), fsynced,
given the original's permission bits, then renamed over the original. Just
before the rename the file is read again; if its bytes are no longer the ones
the new content was computed from, nothing is written. That check reads a
handle kept open across the rename, so a write landing between the check and
the rename (into the file the rename unlinks) is seen afterwards and put back:
the user's edit wins either way. What remains: a program that saves by renaming
its own temp file over the note in those microseconds, or that holds the note
open and writes to it after the rename, loses that save (tests/test_storm.py).

A run killed between creating its temp file and the rename (SIGKILL, power
loss) leaves that temp file behind; the next writing run removes it
(``sweep_stale_temps``): its name carries the writer's process id.

Test-only: ``ROTATION_NOTES_TEST_KILL_AT_STEP`` (``_step``) stops the process at a chosen
step of a write, so that tests and bench/crash_bench.py kill a run at a deterministic point.
It is inert unless set, and never set by anything but tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import re
import secrets
import signal
import stat
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rotation_notes.errors import ConcurrentEditError, NoteError
from rotation_notes.vault.files import NotRegularFile, open_regular, read_if_exists
from rotation_notes.vault.vault import TEMP_HINT, walk_vault

log = logging.getLogger(__name__)

TEMP_MARK = TEMP_HINT
#: ``.NAME.rotation-notes-PID-HEX.tmp``, exactly as ``temp_name`` spells it
TEMP_RE = re.compile(r"\.(?P<target>.+)\.rotation-notes-(?P<pid>[0-9]+)-[0-9a-f]{8}\.tmp")
#: A temp file this old is debris whatever its process id says (a write takes milliseconds;
#: the id may have been reused, or the file may come from another machine through a sync tool).
STALE_AFTER = 3600.0


#: Test-only (see the module's docstring). When set, each write step reached is printed to
#: stderr as ``rotation-notes write step N: WHAT: NAME``; ``N`` >= 1 then SIGKILLs this process
#: at its Nth step (counted across the process's writes), ``0`` kills nothing (to count them).
KILL_AT_STEP_ENV = "ROTATION_NOTES_TEST_KILL_AT_STEP"
_steps_done = 0


def _step(what: str, path: Path) -> None:
    """A kill point of the test-only hook; does nothing unless ``KILL_AT_STEP_ENV`` is set."""
    at = os.environ.get(KILL_AT_STEP_ENV)
    if not at:
        return
    global _steps_done
    _steps_done += 1
    print(
        f"rotation-notes write step {_steps_done}: {what}: {path.name}", file=sys.stderr, flush=True
    )
    if _steps_done == int(at):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def temp_name(target: Path) -> Path:
    """The hidden temp file beside ``target``; the target's name is shortened so that the
    whole name fits the 255 bytes file systems allow (a note's name may use most of them)."""
    suffix = f"{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}.tmp"
    room = 255 - 1 - len(suffix.encode())
    name = os.fsencode(target.name)[:room]
    stem = (
        name.decode("utf-8", "ignore") if len(name) < len(os.fsencode(target.name)) else target.name
    )
    return target.with_name(f".{stem}{suffix}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # no safe probe here (os.kill would terminate it): the age rule decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's live process (or an id we cannot probe): keep it
    return True


def sweep_stale_temps(
    root: Path, *, now: float | None = None, candidates: list[str] | None = None
) -> list[Path]:
    """Remove the temp files interrupted runs left under ``root``; returns those removed.

    Only files named as ``temp_name`` names them are touched, and only when the process
    that created them is gone (or the file is older than ``STALE_AFTER``): a live writer's
    temp file is never removed from under it. Callers hold the vault lock.
    """
    now = time.time() if now is None else now
    removed = []
    if candidates is not None:  # the hidden files a vault walk just saw (``Vault.temps``)
        paths = [root / rel for rel in candidates]
    else:
        paths = [Path(e.path) for _, entries in walk_vault(root) for e in entries]
    for path in paths:
        m = TEMP_RE.fullmatch(path.name)
        if m is None or path.is_symlink() or not path.is_file():
            continue
        try:
            age = now - path.lstat().st_mtime
            if _pid_alive(int(m["pid"])) and age < STALE_AFTER:
                continue
            path.unlink()
        except OSError:
            continue  # gone already (another sweep), or not ours to remove: never fatal
        log.info("removed %s, left behind by an interrupted run", path)
        removed.append(path)
    return removed


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes (None when absent); a pipe, socket or device is never opened."""
    return read_if_exists(path)


def replace_if_unchanged(path: Path, expected: bytes | None, new: bytes) -> None:
    """Atomically set ``path`` to ``new`` if it still holds ``expected`` (None: absent).

    The check is made through a handle on the file that is kept open across the rename: a
    write that lands in it between the check and the rename (a user's editor takes no lock)
    went into the file the rename unlinked, and shows there afterwards. Those bytes are then
    put back in place (the user's edit wins, as when it lands before the check) and
    ``ConcurrentEditError`` is raised all the same.
    """
    _replace(path, expected, new, rounds=3)


def _replace(path: Path, expected: bytes | None, new: bytes, *, rounds: int) -> None:
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
    old = None
    try:
        _step("create temp", real)
        with open(tmp, "xb") as fh:
            _step("write temp", real)
            fh.write(new)
            fh.flush()
            _step("fsync temp", real)
            os.fsync(fh.fileno())
        _step("chmod temp", real)
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        _step("check", real)
        try:
            old = open_regular(real)  # held open across the rename, closed below
        except FileNotFoundError:
            pass
        except NotRegularFile:
            raise _changed(path) from None  # a pipe or folder put there: never read or replaced
        if (old.read() if old is not None else None) != expected:
            raise _changed(path)
        if os.name != "posix" and old is not None:
            # Windows cannot rename over a file this process holds open: no late check there
            old.close()
            old = None
        _step("rename", real)
        exchanged = _swap(tmp, real) if st is not None else _swap_new(tmp, real)
    except BaseException:
        if old is not None:
            old.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _step("fsync folder", real)
    _fsync_dir(real.parent)
    _step("done", real)
    if exchanged:
        # ``tmp`` now holds whatever was at the path at the instant of the swap, even a
        # file another program renamed there after our check: that is what we replaced.
        if old is not None:
            old.close()
        if not stat.S_ISREG(os.lstat(tmp).st_mode):
            # A symlink or a folder was put there meanwhile: swap it back, never read it.
            _renameat2_call(tmp, real, _RENAME_EXCHANGE)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise _changed(path)
        late = tmp.read_bytes()
        if late == expected:
            os.unlink(tmp)
            return
        try:
            _put_back(path, expected or b"", new, late, rounds)
        except NoteError:
            os.unlink(tmp)  # the edit is back in place, or saved beside the note
            raise
        except BaseException:
            # Putting it back failed (a full disk...): the edit lives only in ``tmp``, which a
            # sweep would remove. Give it a visible name (a rename needs no space) and say so.
            saved = _conflict_name(path)
            _swap_new(tmp, saved)  # never over a file that appeared under that name
            log.error("%s: an edit made during the write is saved as %s", path, saved.name)
            raise
        return
    if old is None:
        return
    with old:
        old.seek(0)
        late = old.read()
    if late != expected:  # written between the check and the rename: put it back
        _put_back(path, expected or b"", new, late, rounds)


# --- the rename itself -----------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_RENAME_NOREPLACE = 1
_renameat2: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28
#: Errors that mean "this filesystem or kernel cannot do it": fall back to a plain rename.
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM}


def _renameat2_call(src: Path, dst: Path, flags: int) -> bool:
    """renameat2(src, dst, flags); False when the system cannot do it here."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), str(dst))


def _swap(tmp: Path, real: Path) -> bool:
    """Put ``tmp`` at ``real``. True when the two were exchanged atomically (Linux
    ``RENAME_EXCHANGE``): the file displaced from ``real`` is then at ``tmp``, whoever put it
    there. Elsewhere a plain ``os.replace`` (False): the displaced file is gone.
    """
    try:
        if _renameat2_call(tmp, real, _RENAME_EXCHANGE):
            return True
    except FileNotFoundError:
        # Deleted or renamed away since our check (the user renamed the note in Obsidian):
        # writing it again would bring it back as a duplicate.
        raise _changed(real) from None
    if not os.path.lexists(real):  # the same check where there is no exchange (narrower)
        raise _changed(real)
    os.replace(tmp, real)
    return False


def _swap_new(tmp: Path, real: Path) -> bool:
    """Put ``tmp`` at ``real``, which did not exist at our check; never over a file that
    appeared since (Linux ``RENAME_NOREPLACE``, or a hard link elsewhere)."""
    try:
        if not _renameat2_call(tmp, real, _RENAME_NOREPLACE):
            os.link(tmp, real)  # fails if real exists
            os.unlink(tmp)
    except FileExistsError:
        raise _changed(real) from None
    except OSError as exc:
        if isinstance(exc, FileExistsError) or exc.errno not in (errno.EPERM, errno.ENOTSUP):
            raise
        os.replace(tmp, real)  # no hard links here (FAT, some network folders)
    return False


def _changed(path: Path) -> ConcurrentEditError:
    return ConcurrentEditError(
        "changed while it was being refreshed; left as the other writer saved it",
        path=path,
        hint="run the refresh again",
    )


class _PutBack(ConcurrentEditError):
    """Raised after an edit made during the rename was put back in place."""


def _put_back(path: Path, expected: bytes, ours: bytes, theirs: bytes, rounds: int) -> None:
    """``path`` holds ``ours`` (or ``ours`` edited since); ``theirs`` is the file the rename
    replaced, edited after our check. Put the edit back (merging appends made to both files),
    then raise ``ConcurrentEditError``: the note is left as the user saved it."""
    log.info("%s was written to during our rename; putting that edit back", path)
    for _ in range(rounds):
        now = read_bytes(path)
        if now == ours:
            target = theirs
        elif now is not None and now.startswith(ours) and theirs.startswith(expected):
            target = theirs + now[len(ours) :]  # appended to before and after the rename
        elif now is not None and _holds_lines(now, added=theirs, base=expected):
            break  # rewritten since (an editor saving its whole buffer): nothing is missing
        else:
            saved = _save_conflict(path, theirs)
            raise NoteError(
                "changed by another program twice during the write; its first edit could not "
                f"be merged and is saved as {saved.name}",
                path=path,
                hint="merge it into the note by hand",
            )
        try:
            _replace(path, now, target, rounds=rounds - 1)
        except _PutBack:
            break  # edited again during that write too, and put back again
        except ConcurrentEditError:
            continue  # edited again before that write: merge with the newer text
        break
    else:
        saved = _save_conflict(path, theirs)
        raise NoteError(
            f"kept changing during the write; an edit made during it is saved as {saved.name}",
            path=path,
            hint="merge it into the note by hand",
        )
    raise _PutBack(
        "changed while it was being refreshed; left as the other writer saved it",
        path=path,
        hint="run the refresh again",
    )


def _holds_lines(now: bytes, *, added: bytes, base: bytes) -> bool:
    """Whether ``now`` has every line ``added`` has beyond ``base`` (as many times)."""
    extra = Counter(added.splitlines()) - Counter(base.splitlines())
    have = Counter(now.splitlines())
    return all(have[line] >= n for line, n in extra.items())


def _conflict_name(path: Path) -> Path:
    stamp = time.strftime("%Y-%m-%d %H%M%S")
    for n in range(1, 100):
        suffix = f" {n}" if n > 1 else ""
        dest = path.with_name(f"{path.stem} (edited during a refresh {stamp}{suffix}){path.suffix}")
        if not os.path.lexists(dest):
            return dest
    raise NoteError("cannot save an edit made during the write", path=path)


def _save_conflict(path: Path, data: bytes) -> Path:
    for _ in range(5):
        dest = _conflict_name(path)
        try:
            with open(dest, "xb") as fh:
                fh.write(data)
        except FileExistsError:
            continue
        return dest
    raise NoteError("cannot save an edit made during the write", path=path)


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
