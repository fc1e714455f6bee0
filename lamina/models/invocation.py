"""Values describing one invocation: what was asked, what came back, what it cost to run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Outcome(StrEnum):
    """How an invocation ended, as Lambda's platform.report ``status`` names it."""

    SUCCESS = "success"
    ERROR = "error"  # the handler raised, or the runtime crashed / ran out of memory
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class FunctionError:
    """An error *of the function* (not of Lamina), sent back as the invoke's body."""

    error_type: str
    error_message: str
    stack_trace: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        body: dict[str, object] = {"errorMessage": self.error_message, "errorType": self.error_type}
        if self.stack_trace:
            body["stackTrace"] = list(self.stack_trace)
        return json.dumps(body, separators=(",", ":")).encode()


class InvocationRecord(NamedTuple):
    """One metered invocation: the ledger's row and the REPORT line's numbers.

    A named tuple, not a frozen dataclass: one is made on every invoke, and a frozen
    dataclass's ``__init__`` sets each of its 15 fields through ``object.__setattr__``
    (~3 µs here, against ~0.3 µs for a tuple). Immutable all the same; copies with changes
    are ``rec._replace(node=...)``."""

    request_id: str
    function_name: str
    version: str
    started_at: float  # epoch seconds
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_used_mb: int
    init_ms: float | None  # set on cold starts only
    architecture: str
    outcome: Outcome
    ephemeral_mb: int = 512
    # A cold start restored from a published SnapStart version's snapshot: billed a
    # restore (per GB) besides its duration.
    restored: bool = False
    # The X-Ray header the function was handed (_X_AMZN_TRACE_ID): OTLP export puts the
    # invocation's span in that trace. None: derived from the request id (lamina.tracing).
    trace_header: str | None = None
    # The cluster node that ran it (its Ray node id); None: the control plane's own
    # machine (single-machine mode). Stamped by the control plane from the connection
    # the record arrived on, so a node cannot claim another's work.
    node: str | None = None
    # What started it, as OpenTelemetry's ``faas.trigger`` (lamina.triggers): http,
    # pubsub, datasource, timer or other. OTLP export puts it on the span.
    trigger: str = "other"
    # Served by an environment of a provisioned concurrency configuration: its duration
    # is billed at the provisioned duration price (lamina.billing.meter).
    provisioned: bool = False
    # Its version had provisioned environments, all busy: it ran on an on-demand one
    # (Lambda's ProvisionedConcurrencySpilloverInvocations). Not stored in the ledger's rows.
    spillover: bool = False
    # An invocation of a version with provisioned concurrency (served by it, or spilled
    # over): the concurrency its configuration had then, and how many of its environments
    # served an event when it began (a served one included): Lambda's per-invocation
    # ProvisionedConcurrentExecutions and ProvisionedConcurrencyUtilization samples. 0
    # otherwise; not stored in the ledger's rows.
    provisioned_concurrency: int = 0
    provisioned_busy: int = 0

    @property
    def cold(self) -> bool:
        return self.init_ms is not None


@dataclass(frozen=True, slots=True)
class InvokeResult:
    """What a synchronous invoke answers with."""

    request_id: str
    payload: bytes
    executed_version: str
    function_error: str | None  # "Unhandled" when the function failed
    log_tail: bytes
    record: InvocationRecord | None
    node: str = ""  # the cluster node that ran it ("" on a single machine)
    # The X-Ray header the function was handed (_X_AMZN_TRACE_ID); None where not known
    # (an INIT that failed, a cluster node's answer). An Event invoke's destination and
    # dead-letter messages continue it.
    trace_header: str | None = None
