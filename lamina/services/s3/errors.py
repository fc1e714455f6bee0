"""S3's error answer: an XML ``<Error>`` with S3's code, and the HTTP status."""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

from lamina.wire.server import Response


class S3Error(Exception):
    """Raised by the object store's operations; rendered by :func:`error_response`."""

    def __init__(self, code: str, message: str, status: int, resource: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.resource = resource


def error_response(exc: S3Error, head: bool = False) -> Response:
    rid = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{exc.code}</Code><Message>{escape(exc.message)}</Message>"
        f"<Resource>{escape(exc.resource)}</Resource><RequestId>{rid}</RequestId></Error>"
    ).encode()
    headers = {"Content-Type": "application/xml", "x-amz-request-id": rid}
    # HEAD answers carry no body; clients read the status alone.
    return Response(exc.status, b"" if head else body, headers)
