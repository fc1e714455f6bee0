"""EventBridge's JSON protocol (``X-Amz-Target: AWSEvents.<Op>``) for rules and events."""

from __future__ import annotations

from lamina.errors import ApiError, AwsServiceError
from lamina.services.eventbridge.archive_operations import ArchiveOperations
from lamina.services.eventbridge.operations import RuleOperations
from lamina.services.protocol.awsjson import JsonDialect, json_result, parse_call
from lamina.services.protocol.errors import Protocol, Wire, answer
from lamina.services.protocol.reach import TARGETED
from lamina.services.protocol.routing import Mount
from lamina.tracing import continued
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

TARGET_PREFIX = "AWSEvents"
CONTENT_TYPE = "application/x-amz-json-1.1"


def _translate(exc: ApiError) -> AwsServiceError:
    """Shared validation raises Lambda's errors; EventBridge names them its own way."""
    code = {400: "ValidationException", 404: "ResourceNotFoundException"}.get(
        exc.status, "InternalException"
    )
    return AwsServiceError(code, exc.message, exc.status if exc.status >= 500 else 400)


PROTOCOL = Protocol(Wire.JSON, CONTENT_TYPE, translate=_translate)
DIALECT = JsonDialect(TARGET_PREFIX, PROTOCOL)


class EventsService:
    """Serves ``boto3.client("events")`` for the rule operations Lamina implements."""

    def __init__(
        self, operations: RuleOperations, archives: ArchiveOperations | None = None
    ) -> None:
        self.operations = operations
        self._table = operations.table()
        if archives is not None:
            self._table.update(archives.table())

    @staticmethod
    def accepts(req: Request) -> bool:
        return DIALECT.accepts(req)

    def mount(self) -> Mount:
        """EventBridge's face on the shared port, verified as ``events``."""
        return Mount(self.accepts, self.handle, "events", PROTOCOL, TARGETED)

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        return answer(PROTOCOL, lambda: self._call(req))

    def _call(self, req: Request) -> Response:
        call = parse_call(req, DIALECT, self._table)
        # PutEvents' X-Ray header is the trace its rules' targets continue (lamina.tracing).
        with continued(req.headers.get("x-amzn-trace-id")):
            return json_result(self._table[call.operation](call.members), PROTOCOL)
