"""rotation-notes: keep the figures, tables and charts of Obsidian thesis notes current."""

__version__ = "0.1.0"
