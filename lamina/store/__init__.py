"""Lamina's stores: function metadata (SQLite) and code packages (a content-addressed folder).

``metadata`` and ``code`` are the entry points; see ``docs/storage.md`` for the layout of
the data directory and the rules a code package must follow.
"""
