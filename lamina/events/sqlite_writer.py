"""Moved to :mod:`lamina.store.sqlite_writer`; a re-export for the merge window."""

from __future__ import annotations

from lamina.store.sqlite_writer import SqliteWriter

__all__ = ["SqliteWriter"]
