"""EventBridge's JSON protocol (``X-Amz-Target: AWSEvents.<Op>``) for schedule rules."""

from __future__ import annotations

from lamina.errors import ApiError
from lamina.services.eventbridge.operations import RuleOperations
from lamina.services.protocol.awsjson import AwsJsonError, dispatch_json
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

TARGET_PREFIX = "AWSEvents"
CONTENT_TYPE = "application/x-amz-json-1.1"


def _translate(exc: ApiError) -> AwsJsonError:
    code = {400: "ValidationException", 404: "ResourceNotFoundException"}.get(
        exc.status, "InternalException"
    )
    return AwsJsonError(code, exc.message, exc.status if exc.status >= 500 else 400)


class EventsService:
    """Serves ``boto3.client("events")`` for the rule operations Lamina implements."""

    def __init__(self, operations: RuleOperations) -> None:
        self.operations = operations
        self._table = operations.table()

    @staticmethod
    def accepts(req: Request) -> bool:
        return req.headers.get("x-amz-target", "").startswith(TARGET_PREFIX + ".")

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        return dispatch_json(req, TARGET_PREFIX, self._table, CONTENT_TYPE, _translate)
