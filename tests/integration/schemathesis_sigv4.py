"""Schemathesis hooks (``SCHEMATHESIS_HOOKS``): sign every request with SigV4 and the dev
key, as an AWS SDK would, so the fuzzer reaches the operations instead of 403s."""

from __future__ import annotations

from typing import Any

import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lamina.config import DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY

_UNSIGNED = frozenset({"authorization", "x-amz-date", "x-amz-security-token"})


class SigV4Requests(requests.auth.AuthBase):
    """A ``requests`` auth that signs the request exactly as prepared (bytes on the wire)."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        headers = {k: v for k, v in r.headers.items() if k.lower() not in _UNSIGNED}
        aws = AWSRequest(method=r.method, url=r.url, data=body, headers=headers)
        credentials = Credentials(DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY)
        SigV4Auth(credentials, "lambda", "us-east-1").add_auth(aws)
        r.headers["Authorization"] = aws.headers["Authorization"]
        r.headers["X-Amz-Date"] = aws.headers["X-Amz-Date"]
        return r


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    kwargs["auth"] = SigV4Requests()
