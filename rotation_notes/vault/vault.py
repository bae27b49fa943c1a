"""The vault: where it is, what it holds, how Obsidian resolves links in it.

A vault is the folder holding ``.obsidian/``. Its optional
``rotation-notes.toml`` says where the bundled market data and the template
overrides live. Link resolution follows Obsidian's rules: a link with a
folder path is matched from the vault root (or the note's folder); a bare
name matches the file of that name anywhere in the vault, the note's own
folder first, then the shortest path. Matching ignores case.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import stat
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from rotation_notes.defaults import STALE_AFTER_DAYS
from rotation_notes.errors import UsageError
from rotation_notes.vault.files import kind_of, read_regular

log = logging.getLogger(__name__)

CONFIG_NAME = "rotation-notes.toml"
#: Settings files are a few hundred bytes; a larger one is not read (it would only cost memory).
MAX_SETTINGS_BYTES = 1024 * 1024
#: Part of the name of every temp file a write makes (``writer.TEMP_MARK``).
TEMP_HINT = ".rotation-notes-"
#: Folders Obsidian itself ignores, and so do we.
IGNORED_DIRS = frozenset({".obsidian", ".trash", ".git"})


def ignored_name(name: str) -> bool:
    """A folder (or file) Obsidian does not show: the ones above and every hidden one."""
    return name in IGNORED_DIRS or name.startswith(".")


_WARNED: set[tuple[str, str, str]] = set()


def walk_vault(root: Path) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
    """Each folder of the vault Obsidian shows, as (vault-relative folder, its non-folder entries).

    Skips the folders Obsidian ignores (``.obsidian``, ``.trash``, ``.git``, every hidden
    folder) and symlinked folders; entries and folders come in name order. The entries
    include hidden files and anything that is not a folder (pipes, links): callers filter.
    """
    stack = [("", root)]
    while stack:
        rel_dir, folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue  # unreadable folder (permissions), or removed meanwhile
        dirs = []
        others = []
        for e in entries:
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if not ignored_name(e.name):
                    dirs.append(e)
            else:
                others.append(e)
        yield rel_dir, others
        for d in reversed(dirs):
            stack.append((f"{rel_dir}/{d.name}" if rel_dir else d.name, Path(d.path)))


def _not_regular(entry: os.DirEntry[str]) -> str | None:
    """None for a regular file (or a link to one); else what the entry is, in words."""
    try:
        if entry.is_file():
            return None
        return kind_of(os.stat(entry.path).st_mode)
    except FileNotFoundError:
        return "a link to nothing (its target is gone)"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"


def find_vault_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds ``.obsidian/``."""
    start = start.resolve()
    if not start.exists():
        raise UsageError(f"no such folder: {start}")
    for folder in [start, *start.parents] if start.is_dir() else start.parents:
        if (folder / ".obsidian").is_dir():
            return folder
    raise UsageError(
        f"{start} is not inside an Obsidian vault (no .obsidian/ folder in it or its parents)",
        hint="pass the vault folder, or open it once in Obsidian to create .obsidian/",
    )


@dataclass(frozen=True)
class VaultConfig:
    data_dir: str | None = None
    templates_dir: str | None = None
    stale_after_days: int = STALE_AFTER_DAYS
    provider: str = "yfinance"
    cache_dir: str | None = None


KNOWN_CONFIG_KEYS = {"data_dir", "templates_dir", "stale_after_days", "provider", "cache_dir"}
PROVIDERS = ("yfinance", "bundled")


def _load_config(root: Path) -> VaultConfig:
    path = root / CONFIG_NAME
    if not os.path.lexists(path):
        return VaultConfig()
    try:
        raw = read_regular(path, MAX_SETTINGS_BYTES + 1)
        if len(raw) > MAX_SETTINGS_BYTES:
            raise UsageError(f"{CONFIG_NAME} is over {MAX_SETTINGS_BYTES:,} bytes", path=path)
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {CONFIG_NAME}: {exc}", path=path) from None
    unknown = set(data) - KNOWN_CONFIG_KEYS
    if unknown:
        raise UsageError(
            f"{path}: unknown setting(s) {', '.join(sorted(unknown))}",
            hint=f"known settings: {', '.join(sorted(KNOWN_CONFIG_KEYS))}",
        )
    for key in ("data_dir", "templates_dir", "cache_dir"):
        if key in data and not isinstance(data[key], str):
            raise UsageError(f"{path}: '{key}' must be a folder path")
    stale = data.get("stale_after_days", STALE_AFTER_DAYS)
    if isinstance(stale, bool) or not isinstance(stale, int) or stale < 0:
        raise UsageError(f"{path}: 'stale_after_days' must be a whole number of days")
    provider = data.get("provider", "yfinance")
    if provider not in PROVIDERS:
        raise UsageError(f"{path}: 'provider' must be one of {', '.join(PROVIDERS)}")
    return VaultConfig(
        data.get("data_dir"), data.get("templates_dir"), stale, provider, data.get("cache_dir")
    )


def _load_app_json(root: Path) -> dict[str, Any]:
    path = root / ".obsidian" / "app.json"
    try:
        raw = read_regular(path, MAX_SETTINGS_BYTES + 1)
        if len(raw) > MAX_SETTINGS_BYTES:
            return {}  # not Obsidian's: it writes a few hundred bytes
        data = json.loads(raw.decode("utf-8-sig"))
    except OSError:
        return {}  # absent, or a pipe: Obsidian's defaults
    except (ValueError, UnicodeDecodeError):
        return {}  # Obsidian itself falls back to defaults; never fail a refresh on it
    return data if isinstance(data, dict) else {}


@dataclass
class Vault:
    root: Path
    config: VaultConfig
    app: dict[str, Any]
    #: Every file in the vault, as POSIX paths relative to the root.
    files: list[str] = field(default_factory=list)
    #: Vault entries that are not regular files (pipes, sockets, devices, dangling
    #: links), vault-relative, with what each is: never opened, skipped with a warning.
    special: dict[str, str] = field(default_factory=dict)
    #: Each note's file state as the walk saw it (``fingerprint.file_state``): the scan
    #: index knows an unchanged note by it without opening it.
    states: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    #: Hidden files that may be temp files of an interrupted run (``writer.sweep_stale_temps``)
    temps: list[str] = field(default_factory=list, repr=False)
    _by_name: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _by_path: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: Path) -> Vault:
        root = find_vault_root(path)
        vault = cls(root, _load_config(root), _load_app_json(root))
        vault.rescan()
        return vault

    def rescan(self) -> None:
        files: list[str] = []
        special: dict[str, str] = {}
        states: dict[str, tuple[int, ...]] = {}
        temps: list[str] = []
        by_name: dict[str, list[str]] = {}
        by_path: dict[str, str] = {}
        for rel_dir, entries in walk_vault(self.root):
            prefix = f"{rel_dir}/" if rel_dir else ""
            for entry in entries:
                name = entry.name
                rel = prefix + name
                if name[0] == ".":
                    if TEMP_HINT in name:
                        temps.append(rel)
                    continue
                lower = name.lower()
                if lower.endswith(".md"):  # a note: its state too (one stat, links followed)
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        special[rel] = "a link to nothing (its target is gone)"
                        continue
                    except OSError as exc:
                        special[rel] = f"unreadable ({exc.strerror})"
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        special[rel] = kind_of(st.st_mode)
                        continue
                    states[rel] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                                   st.st_dev)  # fmt: skip
                elif (what := _not_regular(entry)) is not None:
                    special[rel] = what
                    continue
                files.append(rel)
                by_name.setdefault(lower, []).append(rel)
                by_path[rel.lower()] = rel
        self.states = states
        self.temps = temps
        for rel, what in special.items():
            key = (str(self.root), rel, what)
            if key not in _WARNED:  # once per process: the watcher rescans often
                _WARNED.add(key)
                log.warning("skipped %s: it is %s, not a regular file", rel, what)
        self.special = special
        self.files = files
        self._by_name = by_name
        self._by_path = by_path

    def add_file(self, rel: str) -> None:
        """Record one new regular file (``rel`` vault-relative) without walking the vault:
        what the watcher does for a created or renamed-in note, and a run for a file it wrote.
        The file's state is unknown until read (the index then opens it): a file already
        known may be another file now (a save by rename, the tool's own atomic write), and
        its inode, freed, may be a new file's."""
        self.states.pop(rel, None)
        if rel in self._by_name.get(posixpath.basename(rel).lower(), ()):
            return
        self.special.pop(rel, None)
        self.files.append(rel)
        self._by_name.setdefault(posixpath.basename(rel).lower(), []).append(rel)
        self._by_path[rel.lower()] = rel

    def remove_file(self, rel: str) -> None:
        """Forget one file that was deleted or renamed away (no walk)."""
        self.special.pop(rel, None)
        self.states.pop(rel, None)
        if self._by_path.get(rel.lower()) != rel:
            return
        self.files.remove(rel)
        del self._by_path[rel.lower()]
        same = self._by_name.get(posixpath.basename(rel).lower(), [])
        if rel in same:
            same.remove(rel)
        for other in self.files:  # another file differing only in case keeps the path key
            if other.lower() == rel.lower():
                self._by_path[rel.lower()] = other
                break

    # -- paths ---------------------------------------------------------------

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def shown(self, folder: Path) -> str:
        """A folder as a note names it: vault-relative inside the vault (``Data/market-data/``),
        by its name only outside it (``market-data/``). A note is synced and shared: it never
        carries this machine's paths (a home folder, a temp folder)."""
        try:
            rel = self.rel(folder)
        except ValueError:
            name = folder.resolve().name
            return f"{name}/" if name else "/"
        return f"{rel}/" if rel != "." else "the vault folder"

    def abs(self, rel: str) -> Path:
        return self.root / Path(*PurePosixPath(rel).parts)

    def inside(self, rel: str, *, what: str) -> str:
        """``rel`` normalised, refusing anything that would leave the vault."""
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in rel) or len(rel.encode()) > 1024:
            raise UsageError(
                f"{what} {rel[:80]!r} is not a usable folder path (a control character, "
                "or over 1,024 bytes)"
            )
        norm = posixpath.normpath(rel.replace("\\", "/"))
        if norm.startswith("/") or norm == ".." or norm.startswith("../") or ":" in norm[:2]:
            raise UsageError(f"{what} '{rel}' points outside the vault")
        return "" if norm == "." else norm

    def markdown_files(self) -> list[str]:
        return [f for f in self.files if f.lower().endswith(".md")]

    # -- links ---------------------------------------------------------------

    def resolve_link(self, target: str, source: str) -> str | None:
        """The vault-relative file a wikilink target points to, as Obsidian resolves it."""
        target = target.strip().replace("\\", "/")
        if not target:
            return None
        names = [target] if target.lower().endswith(".md") else [target, target + ".md"]
        source_dir = posixpath.dirname(source)
        for name in names:
            lname = name.lower().lstrip("/")
            if "/" in target:
                if lname in self._by_path:
                    return self._by_path[lname]
                rel = posixpath.normpath(posixpath.join(source_dir, name)).lower()
                if rel in self._by_path:
                    return self._by_path[rel]
                hits = [p for p in self.files if p.lower().endswith("/" + lname)]
            else:
                hits = self._by_name.get(lname, [])
            if hits:
                same = [p for p in hits if posixpath.dirname(p) == source_dir]
                return (same or sorted(hits, key=lambda p: (len(p), p)))[0]
        return None

    def special_named(self, target: str) -> tuple[str, str] | None:
        """A skipped non-regular entry a link target names, as (path, what it is), if any."""
        want = {target.lower(), target.lower() + ".md"}
        for rel, what in self.special.items():
            if rel.lower() in want or posixpath.basename(rel).lower() in want:
                return rel, what
        return None

    def attachment_dir(self, note: str) -> str:
        """Where Obsidian would put a new attachment pasted into ``note``."""
        raw = self.app.get("attachmentFolderPath", "/")
        if not isinstance(raw, str):
            raise UsageError(
                f"attachmentFolderPath in .obsidian/app.json is {raw!r}, not a folder path",
                hint="set 'Default location for new attachments' again in Obsidian's settings",
            )
        setting = (raw or "/").strip()
        bad = set(setting) & set('<>:"|?*')
        if bad:
            raise UsageError(
                f"attachmentFolderPath {setting!r} in .obsidian/app.json holds "
                f"{''.join(sorted(bad))!r}, which Windows (and a vault synced there) cannot hold",
                hint="rename that folder in Obsidian's settings",
            )
        note_dir = posixpath.dirname(note)
        if setting in ("/", ""):
            return ""
        if setting == "." or setting.startswith("./"):
            sub = setting[2:].strip("/") if setting.startswith("./") else ""
            return self.inside(
                posixpath.join(note_dir, sub) if sub else note_dir, what="attachmentFolderPath"
            )
        return self.inside(setting.strip("/"), what="attachmentFolderPath")
