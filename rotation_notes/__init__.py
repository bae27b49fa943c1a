"""rotation-notes: keep the figures, tables and charts of Obsidian thesis notes current.

The library API (the command line is a thin layer over it)::

    from rotation_notes import load_prices, render_thesis, symbols_of

    text = open("Small cap rotation 2026.md", encoding="utf-8").read()
    prices = load_prices("Data/market-data", symbols_of(text))
    rendered = render_thesis(text, prices)
    rendered.text       # the note with its regions re-rendered; every other byte as it was
    rendered.charts     # RenderedChart(file, png, caption) for each chart: bytes, not written
    rendered.report     # the figures for scripts (as in ``refresh --json``)

Nothing is read or written by ``render_thesis``; ``load_prices`` reads the CSV folder.
The names below are imported on first use, so ``import rotation_notes`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "render_thesis": "rotation_notes.thesis.core",
    "Rendered": "rotation_notes.thesis.core",
    "RenderedChart": "rotation_notes.thesis.core",
    "symbols_of": "rotation_notes.thesis.core",
    "load_prices": "rotation_notes.prices.marketdata",
    "PriceSet": "rotation_notes.prices.marketdata",
    "make_env": "rotation_notes.output.templates",
    "RotationNotesError": "rotation_notes.errors",
    "NoteError": "rotation_notes.errors",
}

__all__ = [
    "__version__",
    "render_thesis",
    "Rendered",
    "RenderedChart",
    "symbols_of",
    "load_prices",
    "PriceSet",
    "make_env",
    "RotationNotesError",
    "NoteError",
]

if TYPE_CHECKING:
    from rotation_notes.errors import NoteError, RotationNotesError
    from rotation_notes.output.templates import make_env
    from rotation_notes.prices.marketdata import PriceSet, load_prices
    from rotation_notes.thesis.core import Rendered, RenderedChart, render_thesis, symbols_of


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rotation_notes' has no attribute {name!r}")
