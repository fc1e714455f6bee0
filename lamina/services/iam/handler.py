"""IAM's endpoint on Lamina's port: the query protocol (``Action=CreateRole&Version=2010-05-08``
as a form body or a query string, SigV4 service ``iam``), answered in XML."""

from __future__ import annotations

from lamina.errors import AwsServiceError
from lamina.services.iam.operations import IamOperations
from lamina.services.iam.xml import NAMESPACE, render_result
from lamina.services.protocol.errors import Protocol, Wire, answer, new_request_id
from lamina.services.protocol.query import query_params
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.routing import Mount
from lamina.services.protocol.sigv4 import header_service
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

VERSION = "2010-05-08"
# IAM's errors (ApiErrors with IAM's codes) keep their code and status; its error
# document has neither an XML declaration nor <Detail/>.
PROTOCOL = Protocol(Wire.QUERY, xml_namespace=NAMESPACE, xml_declaration=False, error_detail=False)


def is_iam_request(req: Request) -> bool:
    """Signed for ``iam``, or an unsigned query call carrying IAM's API version."""
    service = header_service(req)
    if service is not None:
        return service == "iam"
    query = req.target.partition("?")[2]
    if f"Version={VERSION}" in query and "Action=" in query:
        return True
    return (
        req.method == "POST"
        and req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        and f"Version={VERSION}".encode() in req.body
        and b"Action=" in req.body
    )


# What is_iam_request can pick (lamina.services.protocol.reach).
REACH = Reach(signed_for=frozenset({"iam"}), unsigned=("Version=",))


class IamHandler:
    def __init__(self, operations: IamOperations) -> None:
        self._ops = operations.operations()

    def mount(self) -> Mount:
        """IAM's face on the shared port, verified as ``iam``."""
        return Mount(is_iam_request, self.handle, "iam", PROTOCOL, REACH)

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        return answer(PROTOCOL, lambda: self._call(req))

    def _call(self, req: Request) -> Response:
        params = query_params(req)
        action = params.pop("Action", "")
        params.pop("Version", None)
        op = self._ops.get(action)
        if op is None:
            raise AwsServiceError(
                "InvalidAction", f"Could not find operation {action} for version {VERSION}"
            )
        result = op(params)
        rid = new_request_id()
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": rid}
        return Response(200, render_result(action, result, rid), headers)
