"""The SNS endpoint on the shared port: query-protocol calls in, XML answers out.

SNS speaks only the query protocol (botocore's model: ``protocols: [query]``): ``POST /``
with ``Action=Publish&Version=2010-03-31&...``, signed for ``sns``. A Publish's
``X-Amzn-Trace-Id`` is the trace its deliveries continue (the async-invoke queue stores
it with each function's event; SQS messages carry it as ``AWSTraceHeader``).
"""

from __future__ import annotations

from lamina.errors import AwsServiceError
from lamina.services.protocol.errors import Protocol, Wire, answering, new_request_id
from lamina.services.protocol.query import query_params
from lamina.services.protocol.query_service import is_query_call
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.routing import Mount
from lamina.services.sns.query import NAMESPACE, parse_params, render
from lamina.services.sns.service import SnsService
from lamina.tracing import continued
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

VERSION = "2010-03-31"
PROTOCOL = Protocol(Wire.QUERY, xml_namespace=NAMESPACE, xml_declaration=True, error_detail=False)
# What is_sns_request can pick (lamina.services.protocol.reach).
REACH = Reach(signed_for=frozenset({"sns"}), unsigned=("Version=",))


def is_sns_request(req: Request) -> bool:
    """Signed for ``sns``, or an unsigned query call carrying SNS's API version."""
    return is_query_call(req, "sns", VERSION)


class SnsHandler:
    def __init__(self, service: SnsService) -> None:
        self.service = service
        self._ops = service.operations()

    def mount(self) -> Mount:
        """SNS's face on the shared port, verified as ``sns``."""
        return Mount(is_sns_request, self.handle, "sns", PROTOCOL, REACH)

    async def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        with continued(req.headers.get("x-amzn-trace-id")):
            return await answering(PROTOCOL, self._call(req))

    async def _call(self, req: Request) -> Response:
        params = query_params(req)
        action = params.get("Action", "")
        op = self._ops.get(action)
        if op is None:
            raise AwsServiceError(
                "InvalidAction", f"Lamina's SNS does not implement the action {action}", 400
            )
        result = await op(parse_params(params))
        rid = new_request_id()
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": rid}
        return Response(200, render(action, result, rid), headers)
