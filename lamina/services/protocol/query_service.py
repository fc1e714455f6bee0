"""A query-protocol service whose answers are member XML: IAM and CloudFormation.

Its calls are ``Action=<Op>&Version=<version>`` as a form body or a query string, signed
for its SigV4 service (or unsigned, carrying its API version). Each action is one
operation over the flat parameters, returning a mapping that is answered as
``<OpResponse><OpResult>...`` with ``member`` lists and no XML declaration
(:func:`~lamina.services.protocol.query.member_envelope`); errors are answered by
:func:`~lamina.services.protocol.errors.answer` in the service's :class:`Protocol`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lamina.errors import AwsServiceError
from lamina.services.protocol.errors import Protocol, answer, new_request_id
from lamina.services.protocol.query import member_envelope, query_params
from lamina.services.protocol.sigv4 import header_service
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

QueryOperation = Callable[[dict[str, str]], Mapping[str, Any]]


def is_query_call(req: Request, service: str, version: str, *, form_only: bool = False) -> bool:
    """Signed for ``service``, or an unsigned call with ``Action=`` and ``Version=<version>``
    in its query string or its ``POST`` body (only a form-encoded one when ``form_only``)."""
    signed = header_service(req)
    if signed is not None:
        return signed == service
    query = req.target.partition("?")[2]
    if f"Version={version}" in query and "Action=" in query:
        return True
    form = req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    return (
        req.method == "POST"
        and (form or not form_only)
        and f"Version={version}".encode() in req.body
        and b"Action=" in req.body
    )


class QueryService:
    """Answers one service's query calls with its operations' results as member XML."""

    def __init__(
        self,
        protocol: Protocol,
        operations: Mapping[str, QueryOperation],
        unknown_action: Callable[[str], str],
        wrapped: frozenset[str] = frozenset(),
    ) -> None:
        """``unknown_action`` words the ``InvalidAction`` message for an action not served;
        ``wrapped``: actions whose result element is sent even when empty."""
        self.protocol = protocol
        self._ops = operations
        self._unknown_action = unknown_action
        self._wrapped = wrapped

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        return answer(self.protocol, lambda: self._call(req))

    def _call(self, req: Request) -> Response:
        params = query_params(req)
        action = params.pop("Action", "")
        params.pop("Version", None)
        op = self._ops.get(action)
        if op is None:
            raise AwsServiceError("InvalidAction", self._unknown_action(action))
        result = op(params)
        rid = new_request_id()
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": rid}
        body = member_envelope(
            action, result, rid, self.protocol.xml_namespace, wrapped=action in self._wrapped
        )
        return Response(200, body, headers)
