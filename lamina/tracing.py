"""Trace ids of an invocation, shared by what the function sees and what Lamina exports (pure).

A function gets ``_X_AMZN_TRACE_ID`` (``Lambda-Runtime-Trace-Id``) =
``Root=1-<8 hex: epoch s>-<24 hex>;Parent=<16 hex>``. Both parts are derived from the
request id (a random UUID) and the delivery second, so Lamina's OTLP span of the
invocation (:mod:`lamina.metrics.otlp`) has exactly that trace id and that span id: the
function's own spans, propagated with the X-Ray format, become its children.

A trace that arrives with the event continues: an ``X-Amzn-Trace-Id`` header on an Invoke
call (kept with an asynchronous event), on a function URL or API route request, an SQS
message's ``AWSTraceHeader`` system attribute, or a workflow's execution (``traceHeader``
of StartExecution) keeps its ``Root`` (and ``Sampled``); only ``Parent`` is Lamina's span.
S3 notifications (the ``PutObject``/``CopyObject``/... call's header), EventBridge rules
(``PutEvents``' header, or an entry's ``TraceHeader``) and queue targets (a message's
``AWSTraceHeader``) continue it too, as AWS's services do. The event source that knows the
incoming header sets :data:`INCOMING` around its invoke or enqueue (:func:`continued`),
as OpenTelemetry's context does, so the many invoke callables keep their signatures; the
server's invoke functions read it into ``InvokeRequest`` and the async queue stores it.
What is kept is :func:`canonical`'s rebuilt header, never the text a client sent.

**Lineage** (recursive loop detection, :func:`lineage_step`): an invocation started by a
counted source (an asynchronous event — an ``Event`` invoke, an S3 or SNS notification — or
an SQS mapping's batch) adds one to its function's count in the header's ``Lineage`` field,
which the function's SDK hands on with every call it makes (botocore and the JavaScript
SDK copy ``_X_AMZN_TRACE_ID`` into ``X-Amzn-Trace-Id``), so a message the function sends
to the queue that invokes it carries the count on. Past :data:`LOOP_LIMIT` the source stops
(``RecursiveLoop``: Terminate, Lambda's default). Lamina's field is
``Lineage=<8 hex>:<count>[,<8 hex>:<count>...]`` — the hash of a function's ARN and how many
counted invocations of it the chain has had — its own encoding: AWS's is not documented.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from random import getrandbits

# The X-Ray header of the trace the current invoke continues (None: a new trace).
INCOMING: ContextVar[str | None] = ContextVar("lamina_incoming_trace", default=None)
_ROOT = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
MAX_HEADER = 256  # longer headers are not traces anyone sent on purpose: ignored

_HEX = frozenset("0123456789abcdef")
# Recursive loop detection: Lambda stops the invocation after which a function would have
# been invoked more than this many times in one chain of requests.
LOOP_LIMIT = 16
_LINEAGE_ENTRIES = 8  # functions a header tracks at most (the most recent kept)
_LINEAGE_ENTRY = re.compile(r"([0-9a-f]{8}):([0-9]{1,3})")
# A UUID's version (4) and variant (RFC 4122) bits, and the bits they replace.
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)


def new_request_id() -> str:
    """A request id shaped as Lambda's: a version 4 UUID's text (lower-case hex).

    A correlation id, not a secret (like the trace ids below): drawn from the Mersenne
    Twister, not ``uuid.uuid4()``, whose ``getrandom`` system call cost ~5 µs per invoke.
    """
    h = f"{getrandbits(128) & _UUID_CLEAR | _UUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def invocation_ids(request_id: str, at: float) -> tuple[str, str] | None:
    """(32-hex trace id, 16-hex span id) for an invocation delivered at epoch ``at``;
    None when the request id is not a UUID (then ids are random and not linked)."""
    digits = request_id.replace("-", "").lower()
    if len(digits) != 32 or not _HEX.issuperset(digits):
        return None
    return f"{int(at) & 0xFFFFFFFF:08x}{digits[:24]}", digits[16:]


def incoming_root(header: str | None) -> tuple[str, str] | None:
    """(``Root`` value, ``Sampled`` flag) of an incoming X-Ray header, None when it has no
    valid root (then the invocation starts a new trace)."""
    if not header or len(header) > MAX_HEADER:
        return None
    fields = {}
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        fields[key.strip().lower()] = value.strip()
    root = fields.get("root", "").lower()
    if not _ROOT.fullmatch(root):
        return None
    return root, "1" if fields.get("sampled") == "1" else "0"


def canonical(header: str | None) -> str | None:
    """The X-Ray header rebuilt from its valid fields (``Root``, then ``Parent`` when it is
    16 hex digits, then ``Sampled`` when it is 0 or 1), None when it has no valid root:
    what Lamina keeps and passes on, so a client's text is never stored or handed on."""
    found = incoming_root(header)
    if found is None or header is None:
        return None
    fields = {}
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        fields[key.strip().lower()] = value.strip().lower()
    parts = [f"Root={found[0]}"]
    parent = fields.get("parent", "")
    if len(parent) == 16 and _HEX.issuperset(parent):
        parts.append(f"Parent={parent}")
    if fields.get("sampled") in ("0", "1"):
        parts.append(f"Sampled={fields['sampled']}")
    lineage = _lineage_text(_parse_lineage(fields.get("lineage", "")))
    if lineage:
        parts.append(f"Lineage={lineage}")
    return ";".join(parts)


def _lineage_of(header: str) -> str:
    """The canonical ``Lineage`` value of ``header`` ("" if it has none that parses)."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "lineage":
            return _lineage_text(_parse_lineage(value.strip().lower()))
    return ""


def _parse_lineage(value: str) -> dict[str, int]:
    """A ``Lineage`` value's counts by function hash; what does not parse is left out."""
    out: dict[str, int] = {}
    for entry in value.split(",")[-_LINEAGE_ENTRIES:]:
        m = _LINEAGE_ENTRY.fullmatch(entry.strip())
        if m is not None:
            out[m.group(1)] = int(m.group(2))
    return out


def _lineage_text(counts: dict[str, int]) -> str:
    return ",".join(f"{h}:{n}" for h, n in list(counts.items())[-_LINEAGE_ENTRIES:])


def function_hash(function_arn: str) -> str:
    """The 8 hex digits a function is known by in ``Lineage`` (its unqualified ARN's)."""
    return hashlib.sha256(function_arn.encode()).hexdigest()[:8]


def lineage_step(header: str | None, function_hash_: str) -> tuple[str | None, int]:
    """One more counted invocation of the function ``function_hash_`` in ``header``'s
    chain: (the header to continue with, the function's count in the chain now). A header
    with no valid root starts no chain: (``header``, 1)."""
    kept = canonical(header)
    if kept is None:
        return header, 1
    base, _, rest = kept.partition(";Lineage=")
    counts = _parse_lineage(rest)
    count = min(counts.pop(function_hash_, 0) + 1, 999)
    counts[function_hash_] = count  # last: the most recent entry is kept when trimming
    return f"{base};Lineage={_lineage_text(counts)}", count


def header_ids(header: str | None) -> tuple[str, str] | None:
    """(32-hex trace id, 16-hex span id) of an X-Ray header with a valid Root and Parent."""
    found = incoming_root(header)
    if found is None or header is None:
        return None
    parent = ""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "parent":
            parent = value.strip().lower()
    if len(parent) != 16 or not _HEX.issuperset(parent):
        return None
    return found[0][2:].replace("-", ""), parent


def _sampled_given(header: str | None) -> bool:
    """Whether ``header`` carries a sampling decision (``Sampled=0`` or ``1``)."""
    for part in (header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "sampled" and value.strip() in ("0", "1"):
            return True
    return False


@contextmanager
def continued(header: str | None) -> Iterator[None]:
    """Invokes made inside continue the trace ``header`` (its :func:`canonical` form) if
    it is one; if not, the trace of the context around (a new one when there is none)."""
    token = INCOMING.set(canonical(header) or INCOMING.get())
    try:
        yield
    finally:
        INCOMING.reset(token)


def xray_header(
    request_id: str, at: float, incoming: str | None = None, active: bool = False
) -> str:
    """The trace header handed to the runtime for this invocation: a new trace, or the
    incoming one continued with Lamina's span as the parent.

    ``active``: the function has active tracing. Lambda then samples the invocation
    unless the caller decided (``Sampled=0`` or ``1``); Lamina samples every such one
    (no reservoir, no 5 %: a self-hosted trace store keeps them all, within its bounds)."""
    continues = incoming_root(incoming)
    ids = invocation_ids(request_id, at)
    decided = continues is not None and _sampled_given(incoming)
    sample = "1" if active else "0"
    if continues is not None:
        root, sampled = continues
        if not decided:
            sampled = sample
        parent = ids[1] if ids is not None else f"{getrandbits(64):016x}"
        # The chain's Lineage goes on to the function (and from its SDK to what it calls),
        # rebuilt from its valid entries (a sync Invoke's header arrives as the client sent it).
        lineage = _lineage_of(incoming) if incoming and "ineage=" in incoming.lower() else ""
        tail = f";Lineage={lineage}" if lineage else ""
        return f"Root={root};Parent={parent};Sampled={sampled}{tail}"
    if ids is None:
        # A trace id is a correlation id, not a secret: the Mersenne Twister is cheap.
        return (
            f"Root=1-{int(at) & 0xFFFFFFFF:08x}-{getrandbits(96):024x};"
            f"Parent={getrandbits(64):016x};Sampled={sample}"
        )
    trace, span = ids
    return f"Root=1-{trace[:8]}-{trace[8:]};Parent={span};Sampled={sample}"
