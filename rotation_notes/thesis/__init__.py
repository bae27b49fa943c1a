"""The thesis kind of note: its properties, its figures, its regions. Pure: no I/O.

``core`` is the entry point (``render_thesis``); ``registry`` lists the regions.
"""
