"""How a service is mounted on Lamina's shared port.

Every service answers on the API's port, beside the Lambda API: a :class:`Mount` says
which requests are its own (a predicate, usually on ``X-Amz-Target`` or the SigV4 scope),
which SigV4 service to verify them as before the handler runs, which protocol its
errors are answered in, and (optionally) what its predicate can pick at all, as a
:class:`~lamina.services.protocol.reach.Reach` the API uses to skip asking. :meth:`lamina.api.app.LambdaApi.mount` serves them, in order,
before the Lambda routes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from lamina.services.protocol.errors import LAMBDA, Protocol
from lamina.services.protocol.reach import Reach
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

Answer = Response | Coroutine[Any, Any, Response]
# The connection is None for a request Lamina makes of itself (nothing to stream on).
Handler = Callable[[Request, HttpConnection | None], Answer]


@dataclass(frozen=True, slots=True)
class Mount:
    select: Callable[[Request], bool]
    handler: Handler
    sigv4_service: str | None  # None: not verified at the mount (the handler decides)
    protocol: Protocol = LAMBDA
    reach: Reach | None = None  # None: the predicate is asked about every request
