"""What a SigV4 signature says about a request before it is verified: its service scope.

The credential scope (``<key>/<date>/<region>/<service>/aws4_request``) names the service
a client signed for; requests for different services share Lamina's port and are told
apart by it. Verifying the signature is :mod:`lamina.api.auth`'s job, at the mount.
"""

from __future__ import annotations

import re

from lamina.wire.http import Request

_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")
_PRESIGNED_SCOPE = re.compile(r"X-Amz-Credential=[^&]*?%2F[^&]*?%2F[^&]*?%2F([a-z0-9-]+)%2F")
_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


def header_service(req: Request) -> str | None:
    """The service in the ``Authorization`` header's credential scope, if any."""
    m = _SCOPE.search(req.headers.get("authorization", ""))
    return m.group(1) if m else None


def signed_service(req: Request) -> str | None:
    """The credential scope's service (``s3``, ``sqs``, ``lambda``...): from the
    ``Authorization`` header, else from a presigned URL's ``X-Amz-Credential``."""
    service = header_service(req)
    if service is not None:
        return service
    m = _PRESIGNED_SCOPE.search(req.target.partition("?")[2])
    return m.group(1) if m else None


def access_key(req: Request) -> str | None:
    """The access key id the ``Authorization`` header names, if any."""
    m = _ACCESS_KEY.search(req.headers.get("authorization", ""))
    return m.group(1) if m else None
