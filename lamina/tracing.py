"""Trace ids of an invocation, shared by what the function sees and what Lamina exports (pure).

A function gets ``_X_AMZN_TRACE_ID`` (``Lambda-Runtime-Trace-Id``) =
``Root=1-<8 hex: epoch s>-<24 hex>;Parent=<16 hex>``. Both parts are derived from the
request id (a random UUID) and the delivery second, so Lamina's OTLP span of the
invocation (:mod:`lamina.metrics.otlp`) has exactly that trace id and that span id: the
function's own spans, propagated with the X-Ray format, become its children.
"""

from __future__ import annotations

from random import getrandbits

_HEX = frozenset("0123456789abcdef")


def invocation_ids(request_id: str, at: float) -> tuple[str, str] | None:
    """(32-hex trace id, 16-hex span id) for an invocation delivered at epoch ``at``;
    None when the request id is not a UUID (then ids are random and not linked)."""
    digits = request_id.replace("-", "").lower()
    if len(digits) != 32 or not _HEX.issuperset(digits):
        return None
    return f"{int(at) & 0xFFFFFFFF:08x}{digits[:24]}", digits[16:]


def xray_header(request_id: str, at: float) -> str:
    """The trace header handed to the runtime for this invocation."""
    ids = invocation_ids(request_id, at)
    if ids is None:
        # A trace id is a correlation id, not a secret: the Mersenne Twister is cheap.
        return (
            f"Root=1-{int(at) & 0xFFFFFFFF:08x}-{getrandbits(96):024x};"
            f"Parent={getrandbits(64):016x};Sampled=0"
        )
    trace, span = ids
    return f"Root=1-{trace[:8]}-{trace[8:]};Parent={span};Sampled=0"
