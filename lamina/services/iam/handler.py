"""IAM's endpoint on Lamina's port: the query protocol (``Action=CreateRole&Version=2010-05-08``
as a form body or a query string, SigV4 service ``iam``), answered in XML."""

from __future__ import annotations

import logging
import re
import uuid
from urllib.parse import parse_qsl

from lamina.errors import ApiError
from lamina.services.iam.operations import IamOperations
from lamina.services.iam.xml import render_error, render_result
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

log = logging.getLogger("lamina.services.iam")

VERSION = "2010-05-08"
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")


def is_iam_request(req: Request) -> bool:
    """Signed for ``iam``, or an unsigned query call carrying IAM's API version."""
    m = _SCOPE.search(req.headers.get("authorization", ""))
    if m:
        return m.group(1) == "iam"
    query = req.target.partition("?")[2]
    if f"Version={VERSION}" in query and "Action=" in query:
        return True
    return (
        req.method == "POST"
        and req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        and f"Version={VERSION}".encode() in req.body
        and b"Action=" in req.body
    )


class IamHandler:
    def __init__(self, operations: IamOperations) -> None:
        self._ops = operations.operations()

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        params = dict(parse_qsl(req.target.partition("?")[2], keep_blank_values=True))
        if req.method == "POST" and req.body:
            params.update(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        action = params.pop("Action", "")
        params.pop("Version", None)
        rid = str(uuid.uuid4())
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": rid}
        op = self._ops.get(action)
        if op is None:
            body = render_error(
                "InvalidAction",
                f"Could not find operation {action} for version {VERSION}",
                True,
                rid,
            )
            return Response(400, body, headers)
        try:
            result = op(params)
        except ApiError as exc:
            if exc.status >= 500:
                log.error("IAM %s failed: %s", action, exc.message)
            body = render_error(exc.error_type, exc.message, exc.status < 500, rid)
            return Response(exc.status, body, headers)
        return Response(200, render_result(action, result, rid), headers)
