"""The Lambda REST API (and Lamina's own ``/lamina/v1`` endpoints) over the wire layer.

Every request is authenticated (SigV4, :mod:`lamina.api.auth`), then the invoke route is
checked first with two string tests; everything else is matched against the route table
(:mod:`lamina.api.routes`) and handed to its operation. Every :class:`ApiError` becomes a
Lambda-shaped answer in :func:`error_response`, the one place that maps errors to statuses.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import unquote

from lamina.api.account_ops import AccountOps
from lamina.api.alias_ops import AliasOps
from lamina.api.answers import JSON, error_response, json_response
from lamina.api.auth import Authenticator, SessionSecrets
from lamina.api.context import ApiContext, Handler
from lamina.api.event_ops import EventOps
from lamina.api.function_ops import FunctionOps
from lamina.api.lamina_ops import LaminaOps
from lamina.api.layer_ops import LayerOps
from lamina.api.routes import match
from lamina.api.url_ops import UrlOps
from lamina.arns import function_arn, parse_function_ref
from lamina.billing.ledger import Ledger
from lamina.config import Settings
from lamina.errors import (
    ApiError,
    InvalidParameterValue,
    InvalidRequestContent,
    RequestTooLarge,
    ServiceError,
)
from lamina.events.sources import EventSources
from lamina.functions import Functions
from lamina.models.invocation import InvokeResult
from lamina.scheduler.driver import InvokeRequest, Scheduler
from lamina.wire.http import Request
from lamina.wire.jsonbody import parse_json
from lamina.wire.server import HttpConnection, Response

__all__ = ["MAX_REQUEST_BYTES", "LambdaApi", "error_response", "json_response"]

log = logging.getLogger("lamina.api")

SYNC_PAYLOAD_MAX = 6 * 1024 * 1024
ASYNC_PAYLOAD_MAX = 1024 * 1024
# The largest request body the API reads at all (a CreateFunction with a 50 MB zip).
MAX_REQUEST_BYTES = 70 * 1024 * 1024

FUNCTIONS = "/2015-03-31/functions"
# Answered without a signature even when keys are configured (load balancers, probes).
UNSIGNED_PATHS = frozenset({"/lamina/v1/health"})

Answer = Response | Coroutine[Any, Any, Response]
# A handler mounted by another component (function URLs, S3, SQS, ...), and what selects
# its requests: a path prefix, or a predicate (e.g. on X-Amz-Target).
Mounted = Callable[[Request, HttpConnection], Answer]
Selector = str | Callable[[Request], bool]
_LAMBDA_AUTH: Any = object()  # mount()'s default: the Lambda API's own authenticator


class LambdaApi:
    """Routes HTTP requests to operations of :class:`Functions` and :class:`Scheduler`."""

    def __init__(
        self,
        functions: Functions,
        scheduler: Scheduler,
        ledger: Ledger,
        region: str,
        account: str,
        settings: Settings | None = None,
        sessions: SessionSecrets | None = None,
    ) -> None:
        """``sessions`` resolves functions' role credentials (lamina.services.iam)."""
        settings = settings or functions.settings
        settings = settings.with_changes(region=region, account_id=account)
        self.functions = functions
        self.scheduler = scheduler
        self.ledger = ledger
        self.settings = settings
        self.region = region
        self.account = account
        self.events: EventSources | None = None
        self.sessions = sessions
        self.auth = self.authenticator("lambda")
        self.ctx = ctx = ApiContext(functions, scheduler, ledger, settings)
        self._handlers: dict[str, Handler] = {}
        for ops in (
            FunctionOps(ctx),
            AliasOps(ctx),
            AccountOps(ctx),
            UrlOps(ctx),
            LaminaOps(ctx),
            LayerOps(ctx),
        ):
            self._handlers.update(ops.handlers())
        self._mounts: list[tuple[Selector, Mounted, Authenticator | None]] = []
        if settings.signature_required:
            log.info(
                "SigV4: %d access key(s) configured; unsigned requests are refused",
                len(settings.access_keys),
            )
        else:
            log.warning(
                "SigV4: no LAMINA_ACCESS_KEYS: dev mode, any access key and any region are "
                "accepted (signatures are not checked), unsigned requests are served; "
                "resources live in region %s",
                region,
            )

    def attach_events(self, sources: EventSources) -> None:
        """Serve the event sources: durable Event invokes, their operations, their mounts."""
        self.events = sources
        self.functions.on_deleted.append(sources.function_deleted)
        self.ctx.s3_blob = sources.object_store.blob_path
        self._handlers.update(EventOps(sources).handlers())
        for select, handler, service in sources.mounts():
            auth = (
                None if service is None else self.authenticator(service, s3_style=service == "s3")
            )
            self.mount(select, handler, auth=auth)

    def authenticator(self, service: str, *, s3_style: bool = False) -> Authenticator:
        """A SigV4 verifier with Lamina's keys and mode, for another service's requests."""
        settings = self.settings
        return Authenticator(
            settings.verification_keys(),
            required=settings.signature_required,
            region=self.region,
            service=service,
            max_skew_s=settings.signature_skew_s,
            s3_style=s3_style,
            sessions=self.sessions,
        )

    def mount(
        self, select: Selector, handler: Mounted, *, auth: Authenticator | None = _LAMBDA_AUTH
    ) -> None:
        """Serve the requests ``select`` picks (a path prefix, or a predicate) with ``handler``.

        They are checked first, in mount order, before the Lambda routes. ``auth`` verifies
        them before the handler runs (default: as Lambda requests; ``None``: not at all,
        e.g. function URLs with AuthType NONE; or :meth:`authenticator` for another service).
        """
        self._mounts.append((select, handler, self.auth if auth is _LAMBDA_AUTH else auth))

    # -- entry point ------------------------------------------------------------------
    def handle(self, req: Request, conn: HttpConnection) -> Answer:
        path = req.path
        if req.too_large:
            return error_response(
                RequestTooLarge(f"Request must be smaller than {MAX_REQUEST_BYTES} bytes")
            )
        for select, handler, auth in self._mounts:
            if path.startswith(select) if isinstance(select, str) else select(req):
                if auth is not None and (denied := self._authenticate(req, auth)) is not None:
                    return denied
                return handler(req, conn)
        if (
            path not in UNSIGNED_PATHS
            and (denied := self._authenticate(req, self.auth)) is not None
        ):
            return denied
        if req.method == "POST" and path.endswith("/invocations") and path.startswith(FUNCTIONS):
            return self._invoke(req, path[len(FUNCTIONS) + 1 : -len("/invocations")])
        try:
            route, params = match(req.method, path)
            answer = self._handlers[route.operation](req, params)
        except ApiError as exc:
            return error_response(exc)
        if isinstance(answer, Response):
            return answer
        return self._wrap(answer)

    def screen(self, req: Request) -> Response | None:
        """Refuse a request from its head, before its body is read (signed mode only).

        The wire layer calls this as soon as a head is parsed; a refusal is answered
        while the body, if any, is read and dropped, so an unsigned 200 MB upload costs
        no memory. Requests that may be served unsigned (function URLs, health) pass.
        """
        if not self.settings.signature_required or req.path in UNSIGNED_PATHS:
            return None
        for select, _handler, auth in self._mounts:
            if auth is None and (
                req.path.startswith(select) if isinstance(select, str) else select(req)
            ):
                return None
        try:
            self.auth.check_head(req.target, req.headers)
        except ApiError as exc:
            return error_response(exc)
        return None

    @staticmethod
    def _authenticate(req: Request, auth: Authenticator) -> Response | None:
        try:
            auth.check(req.method, req.target, req.headers, req.body)
        except ApiError as exc:
            return error_response(exc)
        return None

    @staticmethod
    async def _wrap(coro: Coroutine[Any, Any, Response]) -> Response:
        try:
            return await coro
        except ApiError as exc:
            return error_response(exc)

    # -- invoke -----------------------------------------------------------------------
    def _invoke(self, req: Request, raw_name: str) -> Answer:
        try:
            qualifier = req.query.get("Qualifier") if "?" in req.target else None
            ref = parse_function_ref(unquote(raw_name), qualifier)
            # An alias with weights draws its version here: an in-memory lookup.
            cfg = self.functions.resolve(ref.name, ref.qualifier)
            headers = req.headers
            itype = headers.get("x-amz-invocation-type", "RequestResponse")
            payload = req.body or b"{}"
            if itype == "RequestResponse":
                if len(payload) > SYNC_PAYLOAD_MAX:
                    raise RequestTooLarge(
                        f"Request must be smaller than {SYNC_PAYLOAD_MAX} bytes for the "
                        "InvokeFunction operation"
                    )
            elif itype == "Event":
                if len(payload) > ASYNC_PAYLOAD_MAX:
                    raise RequestTooLarge(
                        f"Request must be smaller than {ASYNC_PAYLOAD_MAX} bytes for the "
                        "InvokeAsync operation"
                    )
            elif itype != "DryRun":
                raise InvalidParameterValue(
                    f"1 validation error detected: Value '{itype}' at 'invocationType' failed "
                    "to satisfy constraint: Member must satisfy enum value set: "
                    "[Event, RequestResponse, DryRun]"
                )
            _check_json(payload)
            log_type = headers.get("x-amz-log-type", "None")
            if log_type not in ("None", "Tail"):
                raise InvalidParameterValue(
                    f"1 validation error detected: Value '{log_type}' at 'logType' failed to "
                    "satisfy constraint: Member must satisfy enum value set: [Tail, None]"
                )
            client_context = _client_context(headers.get("x-amz-client-context"))
        except ApiError as exc:
            return error_response(exc)
        if itype == "DryRun":
            return Response(
                204,
                b"",
                {"x-amzn-RequestId": str(uuid.uuid4()), "X-Amz-Executed-Version": cfg.version},
            )
        arn = function_arn(self.region, self.account, cfg.name, ref.qualifier)
        if itype == "Event":
            return self._enqueue(cfg.name, ref.qualifier, payload, cfg.version)
        return self._invoke_sync(
            InvokeRequest(
                cfg, payload, arn, str(uuid.uuid4()), client_context, None, log_type == "Tail"
            )
        )

    async def _enqueue(
        self, name: str, qualifier: str | None, payload: bytes, version: str
    ) -> Response:
        # The event is committed to the durable queue before the 202 goes out.
        if self.events is None:
            return error_response(ServiceError("asynchronous invocation is not available"))
        request_id = await self.events.enqueue(name, qualifier, payload)
        return Response(
            202, b"", {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": version}
        )

    async def _invoke_sync(self, ireq: InvokeRequest) -> Response:
        try:
            result = await self.scheduler.invoke(ireq)
        except ApiError as exc:
            return error_response(exc)
        return invoke_response(result)


def invoke_response(result: InvokeResult) -> Response:
    headers = {
        "Content-Type": JSON,
        "x-amzn-RequestId": result.request_id,
        "X-Amz-Executed-Version": result.executed_version,
    }
    if result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    if result.log_tail:
        headers["X-Amz-Log-Result"] = base64.b64encode(result.log_tail).decode()
    return Response(200, result.payload, headers)


def _check_json(payload: bytes) -> None:
    """Lambda rejects a payload that is not JSON before any function sees it."""
    try:
        parse_json(payload)
    except ValueError as exc:
        raise InvalidRequestContent(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from exc


def _client_context(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestContent(
            "Client context must be a valid Base64-encoded JSON object."
        ) from exc
