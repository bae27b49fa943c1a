"""Turning figures into a note's text and pictures: sandboxed Jinja templates, PNG charts."""
