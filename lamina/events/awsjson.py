"""Moved to :mod:`lamina.services.protocol.awsjson`; this re-export lasts for the merge window.

Import from the new path; this module goes once no branch uses the old one.
"""

from __future__ import annotations

from lamina.services.protocol.awsjson import (
    AwsJsonError,
    JsonOperation,
    dispatch_json,
    error_response,
    json_response,
)

__all__ = ["AwsJsonError", "JsonOperation", "dispatch_json", "error_response", "json_response"]
