"""What started an invocation, in OpenTelemetry's FaaS terms: the span's ``faas.trigger``.

The semantic conventions' values: ``http`` (an inbound HTTP request: function URLs, API
routes), ``pubsub`` (a message sent to a messaging system: SQS event source mappings,
EventBridge event-pattern rules), ``datasource`` (a data source operation: S3
notifications), ``timer`` (a schedule: EventBridge schedule rules, EventBridge Scheduler)
and ``other`` (direct Invoke / InvokeAsync, Step Functions tasks, anything else).

As :data:`lamina.tracing.INCOMING`, the event source that knows its kind sets
:data:`TRIGGER` around its invoke or enqueue (:func:`triggered`), so the many invoke
callables keep their signatures; the server's invoke functions read it into
``InvokeRequest.trigger`` and the async queue stores it with each event.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HTTP = "http"
PUBSUB = "pubsub"
DATASOURCE = "datasource"
TIMER = "timer"
OTHER = "other"
TRIGGERS = frozenset((HTTP, PUBSUB, DATASOURCE, TIMER, OTHER))

# The trigger of the invokes made in the current context.
TRIGGER: ContextVar[str] = ContextVar("lamina_trigger", default=OTHER)


def known(value: object) -> str:
    """``value`` if it is one of the conventions' triggers, else ``other`` (a stored or
    received value is not trusted to be one)."""
    return value if isinstance(value, str) and value in TRIGGERS else OTHER


@contextmanager
def triggered(kind: str) -> Iterator[None]:
    """Invokes (and async events) made inside were started by a ``kind`` trigger."""
    token = TRIGGER.set(known(kind))
    try:
        yield
    finally:
        TRIGGER.reset(token)
