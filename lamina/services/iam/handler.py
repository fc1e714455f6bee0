"""IAM's endpoint on Lamina's port: the query protocol (``Action=CreateRole&Version=2010-05-08``
as a form body or a query string, SigV4 service ``iam``), answered in XML with ``member``
lists (:mod:`lamina.services.protocol.query_service`)."""

from __future__ import annotations

from lamina.services.iam.operations import IamOperations
from lamina.services.protocol.errors import Protocol, Wire
from lamina.services.protocol.query_service import QueryService, is_query_call
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.routing import Mount
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

VERSION = "2010-05-08"
NAMESPACE = f"https://iam.amazonaws.com/doc/{VERSION}/"
# IAM's errors (ApiErrors with IAM's codes) keep their code and status; its error
# document has neither an XML declaration nor <Detail/>.
PROTOCOL = Protocol(Wire.QUERY, xml_namespace=NAMESPACE, xml_declaration=False, error_detail=False)


def is_iam_request(req: Request) -> bool:
    """Signed for ``iam``, or an unsigned query call carrying IAM's API version."""
    return is_query_call(req, "iam", VERSION, form_only=True)


# What is_iam_request can pick (lamina.services.protocol.reach).
REACH = Reach(signed_for=frozenset({"iam"}), unsigned=("Version=",))


class IamHandler:
    def __init__(self, operations: IamOperations) -> None:
        self._service = QueryService(
            PROTOCOL,
            operations.operations(),
            lambda action: f"Could not find operation {action} for version {VERSION}",
        )

    def mount(self) -> Mount:
        """IAM's face on the shared port, verified as ``iam``."""
        return Mount(is_iam_request, self.handle, "iam", PROTOCOL, REACH)

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        return self._service.handle(req, conn)
