"""CloudWatch Logs' JSON 1.1 protocol (``X-Amz-Target: Logs_20140328.<Op>``), SigV4 ``logs``.

Mounted on Lamina's port by the composition root, beside S3, SQS and EventBridge, over the
function logs Lamina already writes; :class:`RetentionKeeper` keeps every group within
its retention and Lamina's size cap. StartLiveTail streams its session on the request's
connection (see :mod:`lamina.services.logs.livetail`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from lamina.config import Settings
from lamina.errors import ApiError, AwsServiceError
from lamina.logs.store import LogStore
from lamina.services.logs import livetail
from lamina.services.logs.groups import GroupSettings
from lamina.services.logs.operations import LogsOperations
from lamina.services.logs.retention import RetentionKeeper
from lamina.services.protocol.awsjson import JsonDialect, json_result, parse_call
from lamina.services.protocol.errors import Protocol, Wire, answer, answering, new_request_id
from lamina.services.protocol.reach import TARGETED
from lamina.services.protocol.routing import Mount
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response, Streamed

TARGET_PREFIX = "Logs_20140328"
LIVE_TAIL = "StartLiveTail"
EVENT_STREAM = "application/vnd.amazon.eventstream"
CONTENT_TYPE = "application/x-amz-json-1.1"
SIGV4_SERVICE = "logs"


def _translate(exc: ApiError) -> AwsServiceError:
    code = {
        400: "InvalidParameterException",
        404: "ResourceNotFoundException",
        409: "ResourceAlreadyExistsException",
    }.get(exc.status, "ServiceUnavailableException")
    return AwsServiceError(code, exc.message, 400 if exc.status < 500 else 500)


PROTOCOL = Protocol(Wire.JSON, CONTENT_TYPE, translate=_translate)
DIALECT = JsonDialect(TARGET_PREFIX, PROTOCOL)


class LogsService:
    """Serves ``boto3.client("logs")`` / ``aws logs`` for the operations Lamina implements."""

    def __init__(self, operations: LogsOperations, keeper: RetentionKeeper) -> None:
        self.operations = operations
        self.keeper = keeper
        self._table = operations.table()
        # Live tail's pace and limit (CloudWatch's: an update a second, three hours).
        self.tail_interval_s = livetail.UPDATE_INTERVAL_S
        self.tail_limit_s = livetail.SESSION_LIMIT_S

    @classmethod
    def open(
        cls, settings: Settings, logs: LogStore, clock: Callable[[], float] = time.time
    ) -> LogsService:
        """The service over ``logs``; mount :meth:`handle` (SigV4 service ``logs``) and
        start :attr:`keeper`, which enforces retention and the size cap."""
        groups = GroupSettings(logs.root / ".groups.json")
        operations = LogsOperations(logs, groups, settings.region, settings.account_id, clock)
        cap = settings.log_group_max_mb * 1024 * 1024
        return cls(operations, RetentionKeeper(logs, groups, cap, settings.log_sweep_s, clock))

    @staticmethod
    def accepts(req: Request) -> bool:
        return DIALECT.accepts(req)

    def mount(self) -> Mount:
        """CloudWatch Logs' face on the shared port, verified as ``logs``."""
        return Mount(self.accepts, self.handle, SIGV4_SERVICE, PROTOCOL, TARGETED)

    def handle(
        self, req: Request, conn: HttpConnection | None = None
    ) -> Response | Coroutine[Any, Any, Response]:
        if conn is not None and req.headers.get("x-amz-target") == f"{TARGET_PREFIX}.{LIVE_TAIL}":
            return answering(PROTOCOL, self._live_tail(req, conn))
        return answer(PROTOCOL, lambda: self._call(req))

    def _call(self, req: Request) -> Response:
        call = parse_call(req, DIALECT, self._table)
        return json_result(self._table[call.operation](call.members), PROTOCOL)

    async def _live_tail(self, req: Request, conn: HttpConnection) -> Response:
        """One live tail session on ``conn``, until the client closes it or its time is up.
        Errors in the request (a bad parameter, a group that does not exist) are ordinary
        error answers, sent before the stream starts."""
        call = parse_call(req, DIALECT, self._table)
        spec = livetail.parse_spec(call.members)
        for group in spec.groups:
            self.operations.require_group(group)
        cursor = livetail.TailCursor(self.operations.store, spec)
        request_id = new_request_id()
        head = [("Content-Type", EVENT_STREAM), ("x-amzn-RequestId", request_id)]
        if not conn.start_stream(200, head):
            return Streamed()
        conn.write_chunk(
            livetail.initial_response()
            + livetail.session_start(spec, request_id, str(uuid.uuid4()))
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.tail_limit_s
        while not conn.closed:
            await asyncio.sleep(self.tail_interval_s)
            if conn.closed:
                break
            if loop.time() >= deadline:
                conn.write_chunk(livetail.session_timeout())
                break
            written, skipped = cursor.poll()
            events, sampled = livetail.select(written, spec.matcher)
            conn.write_chunk(livetail.session_update(events, sampled or skipped))
            await conn.drain()  # a slow reader: the cursor waits in the files, not in memory
        return Streamed()
