"""S3's answer documents: the namespace, timestamps, an XML answer (pure)."""

from __future__ import annotations

import time

from lamina.services.protocol.errors import s3_request_id
from lamina.wire.server import Response

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


def iso(epoch: float) -> str:
    """S3's timestamps: ``2026-01-02T03:04:05.678Z``."""
    t = time.gmtime(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(epoch * 1000) % 1000:03d}Z"


def xml_answer(body: str, status: int = 200) -> Response:
    data = f'<?xml version="1.0" encoding="UTF-8"?>{body}'.encode()
    return Response(
        status, data, {"Content-Type": "application/xml", "x-amz-request-id": s3_request_id()}
    )


def empty_answer(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status, b"", {**(headers or {}), "x-amz-request-id": s3_request_id()})
