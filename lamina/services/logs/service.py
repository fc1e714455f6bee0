"""CloudWatch Logs' JSON 1.1 protocol (``X-Amz-Target: Logs_20140328.<Op>``), SigV4 ``logs``.

Mounted on Lamina's port by the composition root, beside S3, SQS and EventBridge, over the
function logs Lamina already writes; :class:`RetentionKeeper` keeps every group within
its retention and Lamina's size cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lamina.config import Settings
from lamina.errors import ApiError, AwsServiceError
from lamina.logs.store import LogStore
from lamina.services.logs.groups import GroupSettings
from lamina.services.logs.operations import LogsOperations
from lamina.services.logs.retention import RetentionKeeper
from lamina.services.protocol.awsjson import JsonDialect, json_result, parse_call
from lamina.services.protocol.errors import Protocol, Wire, answer
from lamina.services.protocol.reach import TARGETED
from lamina.services.protocol.routing import Mount
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

TARGET_PREFIX = "Logs_20140328"
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

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        return answer(PROTOCOL, lambda: self._call(req))

    def _call(self, req: Request) -> Response:
        call = parse_call(req, DIALECT, self._table)
        return json_result(self._table[call.operation](call.members), PROTOCOL)
