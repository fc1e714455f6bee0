"""EventBridge Scheduler's REST-JSON protocol on Lamina's port.

``/schedules/...`` could also be an S3 path-style bucket named ``schedules``, so requests
are told apart by their SigV4 credential scope (``.../scheduler/aws4_request``), the way
the client addressed them; everything else on those paths stays S3's. Errors are answered
by the protocol layer in the REST-JSON shape (``x-amzn-ErrorType``).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from lamina.errors import AwsServiceError
from lamina.services.protocol.errors import Protocol, Wire, answer, json_answer, new_request_id
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.routing import Mount
from lamina.services.scheduler.operations import ScheduleOperations
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

PROTOCOL = Protocol(Wire.REST_JSON)
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/scheduler/aws4_request")
_PATH = re.compile(r"^/schedules(?:/(?P<name>[^/?]+))?/?$")


def _result(body: dict[str, Any]) -> Response:
    return json_answer(
        200, body, {"Content-Type": "application/json", "x-amzn-RequestId": new_request_id()}
    )


def _invalid(message: str, status: int = 400) -> AwsServiceError:
    return AwsServiceError("ValidationException", message, status)


# What SchedulerService.accepts can pick (lamina.services.protocol.reach).
REACH = Reach(paths=("/schedules",))


class SchedulerService:
    """Serves ``boto3.client("scheduler")``: Create/Get/Update/Delete/ListSchedules."""

    def __init__(self, operations: ScheduleOperations) -> None:
        self.operations = operations

    @staticmethod
    def accepts(req: Request) -> bool:
        if not req.path.startswith("/schedules"):
            return False
        auth = req.headers.get("authorization", "")
        return bool(_SCOPE.search(auth)) or "scheduler%2Faws4_request" in req.target

    def mount(self) -> Mount:
        """Scheduler's face on the shared port (before S3's), verified as ``scheduler``."""
        return Mount(self.accepts, self.handle, "scheduler", PROTOCOL, REACH)

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        return answer(PROTOCOL, lambda: _result(self._call(req)))

    def _call(self, req: Request) -> dict[str, Any]:
        m = _PATH.match(req.path)
        if m is None:
            raise _invalid(f"no such path {req.path}", 404)
        name = unquote(m.group("name")) if m.group("name") else None
        q = req.query
        ops = self.operations
        if name is None and req.method == "GET":
            return ops.list(q.get("NamePrefix") or "", q.get("ScheduleGroup"), q.get("State"))
        if name is None:
            raise _invalid("a schedule name is required")
        if req.method == "GET":
            return ops.get(name, q.get("groupName"))
        if req.method == "DELETE":
            return ops.delete(name, q.get("groupName"))
        if req.method not in ("POST", "PUT"):
            raise _invalid(f"{req.method} is not supported", 405)
        try:
            body = json.loads(req.body) if req.body else {}
        except ValueError as exc:
            raise _invalid(f"malformed JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _invalid("the body must be a JSON object")
        if req.method == "POST":
            return ops.create(name, body)
        return ops.update(name, body)
