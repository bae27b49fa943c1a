"""The scan index: what the last run learnt about a vault, so the next one redoes nothing that
did not change.

One JSON file per vault in the state folder (outside the vault, as the lock is: sync tools and
git never see it; ``ROTATION_NOTES_STATE`` moves it). It holds:

- ``notes``: each note that is not a thesis, by its file state (size, mtime, ctime, inode,
  device), with what the cheap test found (not a thesis, or a property that is nearly the
  thesis key): an unchanged note is not even opened again;
- ``theses``: for each thesis note the last run refreshed without error, the fingerprint of
  everything its output was made from (see ``refresh``) and what the run reported, so an
  unchanged thesis is neither recomputed nor are its charts redrawn;
- ``data``: the files the prices came from, their per-symbol fingerprints and sources.

Everything in it is a cache: a missing, unreadable, foreign or older-version index is
ignored (and replaced), and any doubt means "recompute". A file whose state is too recent to
vouch for its bytes (``fingerprint.racy``) is read and compared by content instead. The
index is written atomically, only when it changed, and never by a dry run (``--check``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from rotation_notes.vault.files import open_regular, read_regular
from rotation_notes.vault.fingerprint import file_state, racy

log = logging.getLogger(__name__)

FORMAT = 1
#: An index larger than this is not read (a 50,000-note vault's is about 5 MB).
MAX_INDEX_BYTES = 256 * 1024 * 1024


def index_path(root: Path) -> Path:
    from rotation_notes.vault.lock import state_dir, vault_key

    return state_dir() / "index" / f"{vault_key(root)}.json"


_THESIS_KEYS = {"g": str, "sha": str, "calls": list, "reads": dict, "misses": list,
                "charts": dict, "data": dict, "report": dict}  # fmt: skip
_REPORT_KEYS = ("as_of", "charts", "tickers", "catalysts", "scorecard", "levels", "warnings",
                "no_regions")  # fmt: skip


def _well_formed(found: dict[str, Any]) -> bool:
    """Whether every part of an index read from disk has the shape this version writes (a
    wrong one is dropped whole: it is only a cache)."""
    notes, theses, data = found.get("notes", {}), found.get("theses", {}), found.get("data", {})
    if not (isinstance(notes, dict) and isinstance(theses, dict) and isinstance(data, dict)):
        return False
    for entry in theses.values():
        if not isinstance(entry, dict) or any(
            not isinstance(entry.get(k), t) for k, t in _THESIS_KEYS.items()
        ):
            return False
        if any(k not in entry["report"] for k in _REPORT_KEYS):
            return False
        if not all(isinstance(c, list) and len(c) == 3 and isinstance(c[1], list)
                   for c in entry["calls"]):  # fmt: skip
            return False
        if not all(isinstance(m, list) and len(m) == 5 for m in entry["misses"]):
            return False
        if not all(isinstance(c, list) and len(c) == 2 for c in entry["charts"].values()):
            return False
        if not all(r is None or (isinstance(r, list) and len(r) == 2)
                   for r in entry["reads"].values()):  # fmt: skip
            return False
    if data:
        if not (isinstance(data.get("deps"), list) and isinstance(data.get("keys"), dict)
                and isinstance(data.get("sources"), dict)):  # fmt: skip
            return False
        if not all(isinstance(d, list) and len(d) == 3 for d in data["deps"]):
            return False
        if not all(isinstance(v, list) and v for v in data["sources"].values()):
            return False
    return True


def sha_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ScanIndex:
    def __init__(self, root: Path, code: str, data: dict[str, Any] | None = None) -> None:
        self.root, self.code = root, code
        data = data or {}
        self.notes: dict[str, list[Any]] = data.get("notes", {})
        self.theses: dict[str, dict[str, Any]] = data.get("theses", {})
        self.data: dict[str, Any] = data.get("data", {})
        self.dirty = False
        self.now_ns = 0  # the run's start (for the racy test), set by the caller

    @classmethod
    def fresh(cls, root: Path, code: str) -> ScanIndex:
        """An empty index that replaces the one on disk when saved (``refresh --full``)."""
        index = cls(root, code)
        index.dirty = True
        return index

    @classmethod
    def load(cls, root: Path, code: str) -> ScanIndex:
        path = index_path(root)
        try:
            raw = read_regular(path, MAX_INDEX_BYTES + 1)
            found = json.loads(raw) if len(raw) <= MAX_INDEX_BYTES else None
        except FileNotFoundError:
            found = None
        except (OSError, ValueError) as exc:  # unreadable or not ours: start over, never fail
            log.debug("scan index %s not used: %s", path, exc)
            found = None
        if (
            not isinstance(found, dict)
            or found.get("format") != FORMAT
            or found.get("code") != code
            or found.get("root") != str(root)
        ):
            index = cls(root, code)
            index.dirty = True
            return index
        if not _well_formed(found):  # written by hand, by another version, half-damaged
            log.debug("scan index %s not used: not of the expected shape", path)
            return cls.fresh(root, code)
        return cls(root, code, found)

    def save(self) -> None:
        """Write the index if it changed (atomically: a reader sees the old or the new)."""
        if not self.dirty:
            return
        path = index_path(self.root)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        payload = {
            "format": FORMAT,
            "code": self.code,
            "root": str(self.root),
            "notes": self.notes,
            "theses": self.theses,
            "data": self.data,
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # ASCII (any path, even undecodable); one string, then one write: json.dump to the
            # file writes each of its thousands of pieces (3x the time, at 10,000 notes)
            text = json.dumps(payload, separators=(",", ":"))
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except OSError as exc:  # a cache: the next run recomputes, nothing is lost
            log.warning("could not save the scan index %s: %s", path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.dirty = False

    # -- notes that are not theses ------------------------------------------------------

    def verdict(self, rel: str, state: tuple[int, ...] | None) -> Any:
        """What the cheap test found last time, if the note is as it was (else None)."""
        if state is None:
            return None
        entry = self.notes.get(rel)  # checked here, not at load: there are thousands
        if not isinstance(entry, list) or len(entry) != 6 or tuple(entry[:5]) != state:
            return None
        verdict = entry[5]
        if verdict == 0 or (
            isinstance(verdict, list)
            and len(verdict) == 2
            and isinstance(verdict[0], int)
            and isinstance(verdict[1], str)
        ):
            return verdict
        return None

    def set_verdict(self, rel: str, state: tuple[int, ...] | None, verdict: Any) -> None:
        if state is None or racy(state, self.now_ns):
            if self.notes.pop(rel, None) is not None:
                self.dirty = True
            return
        entry = [*state, verdict]
        if self.notes.get(rel) != entry:
            self.notes[rel] = entry
            self.dirty = True

    def forget_verdict(self, rel: str) -> None:
        if self.notes.pop(rel, None) is not None:
            self.dirty = True

    # -- theses -------------------------------------------------------------------------

    def set_thesis(self, rel: str, entry: dict[str, Any] | None) -> None:
        if entry is None:
            if self.theses.pop(rel, None) is not None:
                self.dirty = True
            return
        if self.theses.get(rel) != entry:
            self.theses[rel] = entry
            self.dirty = True

    def set_data(self, data: dict[str, Any]) -> None:
        if self.data != data:
            self.data = data
            self.dirty = True

    # -- files a result was made from ---------------------------------------------------

    def file_record(self, path: Path | str, data: bytes | None = None) -> list[Any] | None:
        """How a file read (or written) is recognised next time: its state and the sha256 of
        its bytes (read now unless given); None when nothing is there."""
        try:
            state = file_state(path)
        except OSError:
            return None
        if data is None:
            try:
                data = read_regular(path)
            except OSError:
                return None
        # a state from within the racy window of this run cannot vouch for the bytes later
        return [None if racy(state, self.now_ns) else list(state), sha_of(data)]

    def same_file(self, path: Path | str, record: list[Any] | None, limit: int = -1) -> bool:
        """Whether the file holds what ``record`` says it held (absent if None): by its state
        when that can vouch for the bytes, else by reading them (``limit``: a head only)."""
        try:
            state = file_state(path)
        except OSError:
            return record is None
        if record is None:
            return False
        if record[0] is not None and tuple(record[0]) == state:
            return True
        try:
            with open_regular(path) as fh:
                data = fh.read(limit)
        except OSError:
            return False
        return sha_of(data) == record[1]
