"""The vault on disk: its settings and files, safe reads, atomic writes, the writer lock."""
