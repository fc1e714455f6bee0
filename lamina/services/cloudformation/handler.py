"""CloudFormation on Lamina's port (query protocol, SigV4 service ``cloudformation``), and
the Lamina endpoint through which ``lamina up`` records a stack after applying it:

- ``PUT /lamina/v1/stacks/<name>``: a JSON :class:`~.model.StackRecord`; answers the stack as
  DescribeStacks describes it (as JSON);
- ``DELETE /lamina/v1/stacks/<name>``: the stack is DELETE_COMPLETE (204).

These are Lamina's own routes (signed as ``lambda``, like the rest of ``/lamina/v1``), since
CloudFormation has no call that says "these resources now exist".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from lamina.errors import InvalidRequestContent, MethodNotAllowed
from lamina.services.cloudformation.model import parse_record
from lamina.services.cloudformation.operations import CloudFormationOperations, describe
from lamina.services.cloudformation.store import StackStore
from lamina.services.protocol.errors import Protocol, Wire, json_answer, new_request_id
from lamina.services.protocol.query_service import QueryService, is_query_call
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.routing import Mount
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

VERSION = "2010-05-15"
NAMESPACE = f"http://cloudformation.amazonaws.com/doc/{VERSION}/"
PROTOCOL = Protocol(Wire.QUERY, xml_namespace=NAMESPACE, xml_declaration=False, error_detail=False)
RECORD_PREFIX = "/lamina/v1/stacks/"


def is_cloudformation_request(req: Request) -> bool:
    """Signed for ``cloudformation``, or an unsigned query call carrying its API version."""
    return is_query_call(req, "cloudformation", VERSION)


def is_record_request(req: Request) -> bool:
    return req.path.startswith(RECORD_PREFIX)


# What is_cloudformation_request and is_record_request can pick (protocol.reach).
REACH = Reach(signed_for=frozenset({"cloudformation"}), unsigned=("Version=",))
RECORD_REACH = Reach(paths=(RECORD_PREFIX,))


class CloudFormationHandler:
    def __init__(self, store: StackStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.operations = CloudFormationOperations(store, clock)
        ops = self.operations.operations()
        self._service = QueryService(
            PROTOCOL,
            ops,
            lambda action: f"Lamina's CloudFormation serves {', '.join(sorted(ops))}, not {action}",
        )

    def mount(self) -> Mount:
        """CloudFormation's face on the shared port, verified as ``cloudformation``."""
        return Mount(is_cloudformation_request, self.handle, "cloudformation", PROTOCOL, REACH)

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        return self._service.handle(req, conn)

    # -- Lamina's record of what `lamina up` applied -----------------------------------
    def handle_record(self, req: Request, conn: HttpConnection | None = None) -> Response:
        """``PUT``/``DELETE /lamina/v1/stacks/<name>`` (errors: Lambda-shaped, by the API)."""
        name = req.path[len(RECORD_PREFIX) :]
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": new_request_id()}
        if req.method == "PUT":
            try:
                doc = json.loads(req.body or b"null")
            except ValueError:
                raise InvalidRequestContent("the stack record is not JSON") from None
            stack = self.store.record(parse_record(name, doc), self.clock())
            return json_answer(200, describe(stack), headers)
        if req.method == "DELETE":
            found = self.store.find(name)
            if found is not None:
                self.store.mark_deleted(found.record.stack_id, self.clock())
            return Response(204, b"", headers)
        raise MethodNotAllowed(
            f"{req.method} is not allowed on {RECORD_PREFIX}<name>", ["PUT", "DELETE"]
        )
