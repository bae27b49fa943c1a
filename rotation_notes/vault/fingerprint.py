"""Fingerprints: one digest names everything an output is made from.

A refresh redoes nothing whose inputs are unchanged: a note whose text, linked notes, data,
templates, settings and code are as they were is neither recomputed nor are its charts redrawn.
That is only safe if a fingerprint covers *every* input, so :func:`digest_of` refuses a value
it does not know how to read (a ``TypeError``) rather than skipping or ``repr``-ing it: a
field left out would hide a real change.

Standard library only: the no-op path of a refresh imports neither pandas nor matplotlib;
pandas and numpy values are read through their own methods when they are handed in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import struct
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rotation_notes.vault.files import read_regular

#: The distributions whose versions change what a note or a chart holds (the PNG encoder, the
#: fonts and layout of matplotlib, numbers from pandas and numpy, YAML reading, templates, the
#: market calendar).
LIBRARIES = (
    "matplotlib",
    "numpy",
    "pandas",
    "pillow",
    "jinja2",
    "markupsafe",
    "pyyaml",
    "python-frontmatter",
    "exchange-calendars",
    "yfinance",
)


def digest_of(value: Any) -> str:
    """A sha256 hex digest of ``value``, equal for equal values in any process."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def _feed(h: Any, v: Any) -> None:  # noqa: C901 - one branch per kind of value, flat on purpose
    if v is None or isinstance(v, bool):
        h.update(b"N" if v is None else (b"T" if v else b"F"))
    elif isinstance(v, int):
        h.update(b"i%d;" % v)
    elif isinstance(v, float):
        h.update(b"f" + struct.pack("<d", v))
    elif isinstance(v, str):
        data = v.encode("utf-8", "surrogatepass")
        h.update(b"s%d:" % len(data) + data)
    elif isinstance(v, bytes):
        h.update(b"b%d:" % len(v) + v)
    elif isinstance(v, dt.datetime):
        h.update(b"t" + v.isoformat().encode() + b";")
    elif isinstance(v, dt.date):
        h.update(b"d" + v.isoformat().encode() + b";")
    elif isinstance(v, (tuple, list)):
        h.update(b"l%d:" % len(v))
        for item in v:
            _feed(h, item)
    elif isinstance(v, (set, frozenset)):
        _feed(h, sorted(digest_of(item) for item in v))
    elif isinstance(v, dict):
        h.update(b"m%d:" % len(v))
        for key in sorted(v, key=digest_of):
            _feed(h, key)
            _feed(h, v[key])
    elif dataclasses.is_dataclass(v) and not isinstance(v, type):
        h.update(b"c" + type(v).__qualname__.encode() + b":")
        for f in dataclasses.fields(v):
            h.update(f.name.encode() + b"=")
            _feed(h, getattr(v, f.name))
    else:
        _feed_array_like(h, v)


def _feed_array_like(h: Any, v: Any) -> None:
    """pandas Series and indexes, numpy arrays and scalars: by type, dtype, shape and bytes
    (those modules are only looked at when a value of theirs is handed in: already loaded)."""
    pd, np = sys.modules.get("pandas"), sys.modules.get("numpy")
    if pd is not None and isinstance(v, pd.Series):
        h.update(b"S")
        _feed(h, v.name if isinstance(v.name, (str, int, float, type(None))) else str(v.name))
        _feed(h, dict(v.attrs))
        _feed_array_like(h, v.index)
        _feed_array_like(h, v.to_numpy())
    elif pd is not None and isinstance(v, pd.Index):
        h.update(b"I" + type(v).__name__.encode() + str(v.dtype).encode() + b";")
        if isinstance(v, pd.DatetimeIndex):
            _feed(h, str(v.tz))
            _feed_array_like(h, v.asi8)
        else:
            _feed_array_like(h, v.to_numpy())
    elif np is not None and isinstance(v, np.ndarray):
        h.update(b"A" + str(v.dtype).encode() + repr(v.shape).encode() + b";")
        if v.dtype.kind == "O":
            for item in v.ravel():
                _feed(h, item)
        else:
            h.update(np.ascontiguousarray(v).tobytes())
    elif np is not None and isinstance(v, np.generic):
        _feed(h, v.item())
    else:
        kind = f"{type(v).__module__}.{type(v).__qualname__}"
        raise TypeError(f"no fingerprint for a {kind}: name how it is read before using it")


# --- what the code is ---------------------------------------------------------------------


def _tree_digest(folder: Path, suffixes: tuple[str, ...]) -> str:
    """Every file under ``folder`` with one of ``suffixes``: its path and bytes."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__pycache__")))
        for name in sorted(filenames):
            if name.endswith(suffixes):
                path = Path(dirpath, name)
                _feed(h, path.relative_to(folder).as_posix())
                _feed(h, path.read_bytes())
    return h.hexdigest()


def library_versions() -> dict[str, str | None]:
    """The installed version of each of ``LIBRARIES`` (None: not installed)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


_CODE: str | None = None


def code_key() -> str:
    """What the code is: this package's source, the shipped templates, Python and the
    version of every library that shapes a note or a chart. Changes with any of them."""
    global _CODE
    if _CODE is None:
        package = Path(__file__).resolve().parent.parent
        shipped = package / "templates"  # as output.templates.default_templates_dir finds them
        templates = shipped if shipped.is_dir() else package.parent / "templates"
        _CODE = digest_of(
            (
                "code",
                sys.version,
                sys.platform,
                library_versions(),
                _tree_digest(package, (".py",)),
                _tree_digest(templates, (".j2", ".md", ".txt")),
            )
        )
    return _CODE


def folder_digest(folder: Path | None, inside: Path | None = None, limit: int = 4 << 20) -> str:
    """A folder's files (names and bytes, each read up to ``limit``), or what is wrong with
    them: a vault's template overrides. Linked folders are followed as the template loader
    follows them, while they stay ``inside`` (the vault: the loader refuses the rest), each
    real folder once. A pipe or device is named, never opened."""
    if folder is None:
        return "none"
    h = hashlib.sha256()
    seen: set[str] = set()
    try:
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in seen or (inside is not None and not Path(real).is_relative_to(inside)):
                dirnames[:] = []
                _feed(h, f"not followed {Path(dirpath).relative_to(folder).as_posix()}")
                continue
            seen.add(real)
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath, name)
                _feed(h, path.relative_to(folder).as_posix())
                try:
                    _feed(h, read_regular(path, limit))
                except OSError as exc:
                    _feed(h, f"error {exc.errno}")
    except OSError as exc:
        _feed(h, f"error {exc.errno}")
    return h.hexdigest()


def file_state(path: Path | str) -> tuple[int, ...]:
    """What ``stat`` says of a file's content: size, mtime and ctime (ns), inode, device.

    Any write, rename over it, or ``touch`` changes one of them; ``ctime`` cannot be set back
    by a sync tool that restores an old mtime."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def racy(state: Iterable[int], now_ns: int, window_ns: int = 2_000_000_000) -> bool:
    """Whether a file's state is too recent to vouch for its bytes: a second write within
    the file system's timestamp granularity can leave size and times as they were (git's
    "racy clean" case). Such a file is read and hashed instead."""
    st = tuple(state)
    return max(st[1], st[2]) >= now_ns - window_ns
