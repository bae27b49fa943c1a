"""One home for each default a user can change (in a note's properties or rotation-notes.toml).

docs/frontmatter.md and the README quote these; nothing else writes the numbers out.
"""

#: A hand-entered setup metric older than this many days is flagged stale in the note.
STALE_AFTER_DAYS = 90

#: How many calendar days a chart spans when its ``days:`` is not given.
CHART_DAYS = 90

#: A note whose data ends more than this many NYSE sessions before the run (or before the
#: ``--as-of`` date asked for) says so: its figures are old, though nothing failed.
BEHIND_AFTER_SESSIONS = 5
