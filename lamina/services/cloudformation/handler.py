"""CloudFormation on Lamina's port (query protocol, SigV4 service ``cloudformation``), and
the Lamina endpoint through which ``lamina up`` records a stack after applying it:

- ``PUT /lamina/v1/stacks/<name>``: a JSON :class:`~.model.StackRecord`; answers the stack as
  DescribeStacks describes it (as JSON); refused (409) for a stack the server deploys itself
  (change sets, :mod:`.writes`);
- ``GET /lamina/v1/stacks/<name>``: the live stack as DescribeStacks describes it, plus
  ``Managed`` (whether the server deploys it), so ``lamina up`` can refuse to fight it;
- ``DELETE /lamina/v1/stacks/<name>``: the stack is DELETE_COMPLETE (204).

These are Lamina's own routes (signed as ``lambda``, like the rest of ``/lamina/v1``), since
CloudFormation has no call that says "these resources now exist".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from lamina.errors import (
    AwsServiceError,
    InvalidRequestContent,
    MethodNotAllowed,
    ResourceConflict,
    ResourceNotFound,
)
from lamina.services.cloudformation.model import StackValidationError, parse_record
from lamina.services.cloudformation.operations import CloudFormationOperations, describe
from lamina.services.cloudformation.store import StackStore
from lamina.services.cloudformation.writes import REQUEST_HOST, WRITE_ACTIONS, StackWrites
from lamina.services.protocol.errors import (
    Protocol,
    Wire,
    error_answer,
    json_answer,
    new_request_id,
)
from lamina.services.protocol.query import query_params
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


# How long a write call's answer waits for the work it started (a waiter's first poll then
# usually sees it done; the SAM CLI's stack waiters poll every 30 s). Under botocore's 60 s.
ANSWER_WAIT_S = 20.0


class CloudFormationHandler:
    def __init__(
        self,
        store: StackStore,
        clock: Callable[[], float] = time.time,
        writes: StackWrites | None = None,
    ) -> None:
        """Without ``writes`` only the read API (and DeleteStack's refusal) is served."""
        self.store = store
        self.clock = clock
        self.writes = writes
        self.operations = CloudFormationOperations(store, clock)
        ops = self.operations.operations()
        if writes is not None:
            ops.update(writes.operations())
        self._service = QueryService(
            PROTOCOL,
            ops,
            lambda action: f"Lamina's CloudFormation serves {', '.join(sorted(ops))}, not {action}",
            wrapped=frozenset({"ExecuteChangeSet", "DeleteChangeSet"}),
        )

    def mount(self) -> Mount:
        """CloudFormation's face on the shared port, verified as ``cloudformation``."""
        return Mount(is_cloudformation_request, self.answer, "cloudformation", PROTOCOL, REACH)

    def answer(
        self, req: Request, conn: HttpConnection | None = None
    ) -> Response | Coroutine[Any, Any, Response]:
        """:meth:`handle`'s answer, sent once the work the call started is done (a little
        while at most, see ANSWER_WAIT_S)."""
        if self.writes is not None:
            self.writes.pending = None
        answer = self.handle(req, conn)
        pending = None
        if self.writes is not None:
            pending, self.writes.pending = self.writes.pending, None
        if pending is None or answer.status != 200:
            return answer
        return _after(pending, answer)

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        """Answer a call at once (the work it starts goes on on the engine's thread)."""
        if self.writes is None:
            return self._service.handle(req, conn)
        action = query_params(req).get("Action", "")
        if action in WRITE_ACTIONS and _role_session(req):
            # The deployment runs with the operator's credentials: a function's role session
            # would act beyond its role through it.
            denied = AwsServiceError(
                "AccessDenied",
                f"{action}: a role session cannot deploy stacks on Lamina; "
                "use the operator's access key",
                403,
                "AccessDenied",
            )
            return error_answer(denied, PROTOCOL)
        token = REQUEST_HOST.set(req.headers.get("host", ""))
        try:
            return self._service.handle(req, conn)
        finally:
            REQUEST_HOST.reset(token)

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
            record = parse_record(name, doc)
            if self.store.is_managed(record.stack_id) and self.store.find(name) is not None:
                raise ResourceConflict(
                    f"stack {name} is deployed by CloudFormation change sets on this server "
                    "(sam deploy): `lamina up` does not record over it"
                )
            stack = self.store.record(record, self.clock())
            return json_answer(200, describe(stack), headers)
        if req.method == "GET":
            live = self.store.find(name)
            if live is None:
                raise ResourceNotFound(f"Stack {name} does not exist")
            managed = self.store.is_managed(live.record.stack_id)
            return json_answer(200, {**describe(live), "Managed": managed}, headers)
        if req.method == "DELETE":
            found = self.store.find(name)
            if found is not None:
                self.store.mark_deleted(found.record.stack_id, self.clock())
            return Response(204, b"", headers)
        raise MethodNotAllowed(
            f"{req.method} is not allowed on {RECORD_PREFIX}<name>", ["GET", "PUT", "DELETE"]
        )


def _role_session(req: Request) -> bool:
    """Signed with a role session's temporary key (``ASIA...``), not the operator's."""
    authorization = req.headers.get("authorization", "")
    return "Credential=ASIA" in authorization or "Credential=ASIA" in req.target


async def _after(pending: Future[Any], answer: Response) -> Response:
    """``answer``, once the work the call started is done (or after ANSWER_WAIT_S); an
    UpdateStack that found nothing to update answers its ValidationError instead."""
    try:
        outcome = await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(pending)), ANSWER_WAIT_S
        )
    except TimeoutError:
        return answer
    except Exception:  # the job's own failure is recorded where the caller polls
        return answer
    if isinstance(outcome, str) and outcome:
        return error_answer(StackValidationError(outcome), PROTOCOL)
    return answer
