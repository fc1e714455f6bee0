"""Moved to :mod:`lamina.services.protocol.rawresponse`; a re-export for the merge window."""

from __future__ import annotations

from lamina.services.protocol.rawresponse import RawResponse

__all__ = ["RawResponse"]
