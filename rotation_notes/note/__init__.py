"""A note's text, read as Obsidian reads it: bytes, frontmatter, wikilinks, region markers.

Any kind of note uses these; none of them knows what a thesis is.
"""
