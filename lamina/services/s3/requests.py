"""Which requests on the shared port are S3's, and what a path-style request addresses (pure)."""

from __future__ import annotations

import re

from lamina.services.protocol.sigv4 import signed_service
from lamina.wire.http import Request

_LAMBDA_PATH = re.compile(r"^/(20\d\d-\d\d-\d\d|lamina)(/|$)")


def is_s3_request(req: Request) -> bool:
    """S3 requests on the shared port: signed for ``s3``, or unsigned path-style ones that
    carry S3's payload header and are not Lambda API paths."""
    service = signed_service(req)
    if service is not None:
        return service == "s3"
    return "x-amz-content-sha256" in req.headers and not _LAMBDA_PATH.match(req.path)
