"""The one interface every event source invokes functions through.

Event sources never import the scheduler: the composition root hands them an
:data:`Invoke` coroutine (RequestResponse semantics: it returns the function's answer,
or raises :class:`lamina.errors.TooManyRequests` when the function is throttled and
:class:`lamina.errors.ResourceNotFound` when it is gone). Sources that deliver
asynchronously (S3 notifications, schedules, destinations) put events on the durable
async-invoke queue instead, through an :data:`Enqueue` coroutine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lamina.models.invocation import InvokeResult
from lamina.runtime_api.stream import ResponseStream

# invoke(function_name, qualifier, payload, request_id) -> InvokeResult
Invoke = Callable[[str, str | None, bytes, str], Awaitable[InvokeResult]]

# invoke_stream(function_name, qualifier, payload, request_id, stream) -> InvokeResult: as
# Invoke, with a streaming response going to ``stream`` as it is produced (function URLs
# in RESPONSE_STREAM mode); it returns once the stream has ended.
InvokeStream = Callable[[str, str | None, bytes, str, ResponseStream], Awaitable[InvokeResult]]

# enqueue(function_name, qualifier, payload) -> request_id, once durably accepted
Enqueue = Callable[[str, str | None, bytes], Awaitable[str]]
