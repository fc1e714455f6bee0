"""STS's GetCallerIdentity on Lamina's port (query protocol, SigV4 service ``sts``).

Terraform's AWS provider asks it for the account id unless ``skip_requesting_account_id``
is set; SDK users call it to check their setup. A function's role credentials answer with
their assumed-role ARN; every other caller is the account's root (Lamina has no IAM users).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from xml.sax.saxutils import escape

from lamina.services.iam.credentials import Session
from lamina.services.protocol.errors import Protocol, Wire
from lamina.services.protocol.query import query_params
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.routing import Mount
from lamina.services.protocol.sigv4 import header_service
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

VERSION = "2011-06-15"
NAMESPACE = f"https://sts.amazonaws.com/doc/{VERSION}/"
_KEY = re.compile(r"Credential=([^/,\s]+)/")
PROTOCOL = Protocol(Wire.QUERY, xml_namespace=NAMESPACE)

# (access key id, session token, now) -> the role session, if the credentials are one.
VerifySession = Callable[[str, str, float], Session | None]


def is_sts_request(req: Request) -> bool:
    """Signed for ``sts``, or an unsigned query call carrying STS's API version."""
    service = header_service(req)
    if service is not None:
        return service == "sts"
    version = f"Version={VERSION}"
    return version in req.target or (req.method == "POST" and version.encode() in req.body)


# What is_sts_request can pick (lamina.services.protocol.reach).
REACH = Reach(signed_for=frozenset({"sts"}), unsigned=("Version=",))


class StsHandler:
    def __init__(self, account: str, verify: VerifySession) -> None:
        self.account = account
        self._verify = verify

    def mount(self) -> Mount:
        """STS's face on the shared port, verified as ``sts``."""
        return Mount(is_sts_request, self.handle, "sts", PROTOCOL, REACH)

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        action = query_params(req).get("Action", "")
        rid = str(uuid.uuid4())
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": rid}
        if action != "GetCallerIdentity":
            body = (
                f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type>'
                f"<Code>InvalidAction</Code><Message>Lamina's STS serves GetCallerIdentity, not "
                f"{escape(action)}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
            )
            return Response(400, body.encode(), headers)
        arn, user_id = self._identity(req)
        body = (
            f'<GetCallerIdentityResponse xmlns="{NAMESPACE}"><GetCallerIdentityResult>'
            f"<Arn>{escape(arn)}</Arn><UserId>{escape(user_id)}</UserId>"
            f"<Account>{self.account}</Account></GetCallerIdentityResult>"
            f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>"
        )
        return Response(200, body.encode(), headers)

    def _identity(self, req: Request) -> tuple[str, str]:
        m = _KEY.search(req.headers.get("authorization", ""))
        token = req.headers.get("x-amz-security-token")
        if m and token:
            session = self._verify(m.group(1), token, time.time())
            if session is not None:
                return session.principal, f"{m.group(1)}:{session.session_name}"
        return f"arn:aws:iam::{self.account}:root", self.account
