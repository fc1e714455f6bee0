"""What a mount's selector can pick, said in clues the API tests once per request.

Every service on the shared port has a selector (a predicate over the request); the API
asks them in mount order before its own routes. Most requests are Lambda's (invokes above
all), and asking 16 predicates "is this yours?" cost a warm invoke ~10 µs. A
:class:`Reach` states a *necessary condition* of a selector in a small fixed vocabulary
(path prefixes, header names, Host fragments, SigV4 scopes, markers of unsigned query
calls), so the API can union the reaches of every mount once and refuse, with a handful
of string tests, a request no selector could pick — without asking any. A request some
reach admits is still decided by the selectors themselves, in order: a reach never picks,
it only rules out. A mount that declares no reach is always asked.

Declaring a reach is a promise: ``select(req)`` is True only if ``reach.admits(req)``.
Each service's tests check it over a corpus of requests (tests/services/test_reach.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lamina.services.protocol.sigv4 import header_service, signed_service
from lamina.wire.http import Request


@dataclass(frozen=True, slots=True)
class Reach:
    """A selector picks a request only if one of these clues holds.

    ``paths``: the path starts with one of these. ``headers``: the request has one of
    these (lower-case) headers. ``hosts``: the Host header contains one of these.
    ``signed_for``: the SigV4 scope (the ``Authorization`` header's, or when it has none
    a presigned URL's) names one of these services. ``unsigned``: the ``Authorization``
    header names no scope, and the target (path and query) or the body contains one of
    these markers (the query protocol's ``Action=`` or ``Version=``). ``unsigned_headers``:
    the ``Authorization`` header names no scope and the request has one of these headers
    (S3 takes unsigned requests carrying its payload header; SDKs that send that header
    with every request, signed for Lambda, stay out of S3's reach).

    A request whose ``Authorization`` header names a service outside ``signed_for`` is
    out of reach of the ``unsigned`` clues: the selectors of the query-protocol services
    decide by the scope first and look at the body only without one.
    """

    paths: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    signed_for: frozenset[str] = frozenset()
    unsigned: tuple[str, ...] = ()
    unsigned_headers: tuple[str, ...] = ()
    _marks: tuple[tuple[str, bytes], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Each marker as text (for the target) and bytes (for the body), made once.
        object.__setattr__(self, "_marks", tuple((m, m.encode()) for m in self.unsigned))

    def admits(self, req: Request) -> bool:
        """Whether the selector this describes may pick ``req``."""
        if self.paths and req.path.startswith(self.paths):
            return True
        headers = req.headers
        for name in self.headers:
            if name in headers:
                return True
        if self.hosts:
            host = headers.get("host", "")
            for fragment in self.hosts:
                if fragment in host:
                    return True
        if "authorization" in headers:
            scope = header_service(req)
            if scope is not None:
                return scope in self.signed_for
        presigned = "X-Amz-Credential=" in req.target
        if presigned and self.signed_for and signed_service(req) in self.signed_for:
            return True
        for name in self.unsigned_headers:
            if name in headers:
                return True
        target, body = req.target, req.body
        for text, data in self._marks:  # noqa: SIM110 - no generator per request
            if text in target or data in body:
                return True
        return False


# The JSON-protocol services' selectors: an ``X-Amz-Target`` naming them.
TARGETED = Reach(headers=("x-amz-target",))


def union(reaches: list[Reach]) -> Reach:
    """One reach that admits whatever any of ``reaches`` admits (and nothing else)."""

    def merged(parts: list[tuple[str, ...]]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for part in parts for p in part))

    return Reach(
        paths=merged([r.paths for r in reaches]),
        headers=merged([r.headers for r in reaches]),
        hosts=merged([r.hosts for r in reaches]),
        signed_for=frozenset().union(*(r.signed_for for r in reaches)),
        unsigned=merged([r.unsigned for r in reaches]),
        unsigned_headers=merged([r.unsigned_headers for r in reaches]),
    )
