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

# invoke(function_name, qualifier, payload, request_id) -> InvokeResult
Invoke = Callable[[str, str | None, bytes, str], Awaitable[InvokeResult]]

# enqueue(function_name, qualifier, payload) -> request_id, once durably accepted
Enqueue = Callable[[str, str | None, bytes], Awaitable[str]]


def split_function_arn(arn_or_name: str) -> tuple[str, str | None]:
    """``name``, ``name:qual``, ``arn:aws:lambda:r:a:function:name[:qual]`` → (name, qualifier)."""
    rest = arn_or_name
    if rest.startswith("arn:"):
        parts = rest.split(":")
        # arn:aws:lambda:region:account:function:name[:qualifier]
        name = parts[6] if len(parts) > 6 else ""
        qualifier = parts[7] if len(parts) > 7 else None
        return name, qualifier
    name, _, qualifier = rest.partition(":")
    return name, qualifier or None
