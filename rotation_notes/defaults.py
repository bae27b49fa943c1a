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

#: A spread or ratio level counts as near when the value is within this many points
#: (percentage points of spread, percent of ratio) of it; ``near:`` on the level overrides it.
LEVEL_NEAR_POINTS = 2.0

#: A level on a ticker's close counts as near within this percent of the level's price.
LEVEL_NEAR_PRICE_PCT = 2.0
