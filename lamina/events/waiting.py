"""Moved to :mod:`lamina.waiting`; a re-export for the merge window."""

from __future__ import annotations

from lamina.waiting import wait_event

__all__ = ["wait_event"]
