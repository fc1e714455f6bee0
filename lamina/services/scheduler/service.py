"""EventBridge Scheduler's REST-JSON protocol on Lamina's port.

``/schedules/...`` could also be an S3 path-style bucket named ``schedules``, so requests
are told apart by their SigV4 credential scope (``.../scheduler/aws4_request``), the way
the client addressed them; everything else on those paths stays S3's.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import unquote

from lamina.services.scheduler.operations import ScheduleOperations, SchedulerError
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/scheduler/aws4_request")
_PATH = re.compile(r"^/schedules(?:/(?P<name>[^/?]+))?/?$")


def _answer(status: int, body: dict[str, Any]) -> Response:
    return Response(
        status,
        json.dumps(body, separators=(",", ":")).encode(),
        {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _error(exc: SchedulerError) -> Response:
    resp = _answer(exc.status, {"Message": exc.message, "message": exc.message})
    resp.headers["x-amzn-ErrorType"] = exc.code
    return resp


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

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        m = _PATH.match(req.path)
        if m is None:
            return _error(SchedulerError("ValidationException", f"no such path {req.path}", 404))
        name = unquote(m.group("name")) if m.group("name") else None
        q = req.query
        try:
            ops = self.operations
            if name is None and req.method == "GET":
                return _answer(
                    200, ops.list(q.get("NamePrefix") or "", q.get("ScheduleGroup"), q.get("State"))
                )
            if name is None:
                raise SchedulerError("ValidationException", "a schedule name is required", 400)
            if req.method == "GET":
                return _answer(200, ops.get(name, q.get("groupName")))
            if req.method == "DELETE":
                return _answer(200, ops.delete(name, q.get("groupName")))
            body = json.loads(req.body) if req.body else {}
            if not isinstance(body, dict):
                raise SchedulerError("ValidationException", "the body must be a JSON object", 400)
            if req.method == "POST":
                return _answer(200, ops.create(name, body))
            if req.method == "PUT":
                return _answer(200, ops.update(name, body))
        except SchedulerError as exc:
            return _error(exc)
        except ValueError as exc:
            return _error(SchedulerError("ValidationException", f"malformed JSON: {exc}", 400))
        return _error(SchedulerError("ValidationException", f"{req.method} is not supported", 405))
