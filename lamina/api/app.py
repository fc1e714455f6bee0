"""The Lambda REST API (and Lamina's own ``/lamina/v1`` endpoints) over the wire layer.

Every request is authenticated (SigV4, :mod:`lamina.api.auth`), then the invoke route is
checked first with two string tests; everything else is matched against the route table
(:mod:`lamina.api.routes`) and handed to its operation. Other services are mounted on the
same port (:meth:`LambdaApi.mount`). :meth:`LambdaApi.handle` is the one error boundary:
every :class:`ApiError` or :class:`AwsServiceError` raised on the way becomes an answer in
the protocol of the face that raised it (:mod:`lamina.services.protocol.errors`).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from typing import Protocol as TypingProtocol
from urllib.parse import unquote

from lamina.api.account_ops import AccountOps
from lamina.api.alias_ops import AliasOps
from lamina.api.answers import JSON, error_response, json_response
from lamina.api.auth import Authenticator, SessionSecrets
from lamina.api.cluster_code import OPERATION as CLUSTER_CODE
from lamina.api.cluster_code import serve_code
from lamina.api.context import ApiContext
from lamina.api.context import Handler as Operation
from lamina.api.event_ops import EventOps
from lamina.api.function_ops import FunctionOps
from lamina.api.lamina_ops import LaminaOps
from lamina.api.layer_ops import LayerOps
from lamina.api.mounts import Mounted, MountTable, Selector
from lamina.api.permission_ops import PermissionOps
from lamina.api.provisioned_ops import ProvisionedOps, list_operation
from lamina.api.recursion_ops import RecursionOps
from lamina.api.routes import match
from lamina.api.streaming import invoke_with_response_stream
from lamina.api.url_ops import UrlOps
from lamina.arns import FunctionRef, function_arn, parse_function_ref
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
from lamina.services.protocol.errors import (
    ANSWERABLE,
    LAMBDA,
    Protocol,
    answering,
    error_answer,
    logged,
)
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.routing import Answer, Handler, Mount
from lamina.tracing import new_request_id
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
STREAMING = "/2021-11-15/functions"
STREAMING_SUFFIX = "/response-streaming-invocations"
# Parsed FunctionName + Qualifier texts kept (each at most _REF_KEPT_CHARS long: ~6 MB).
_REFS_KEPT = 4096
_REF_KEPT_CHARS = 512
# Answered without a signature even when keys are configured (load balancers, probes).
UNSIGNED_PATHS = frozenset({"/lamina/v1/health"})

_LAMBDA_AUTH: Any = object()  # mount()'s default: the Lambda API's own authenticator


class AccessGate(TypingProtocol):
    """Authorises calls made with a function's role credentials (lamina.services.iam)."""

    def check_mounted(self, service: str, req: Request) -> None: ...

    def check_role(self, role_arn: str) -> None: ...

    def check_lambda(
        self,
        req: Request,
        operation: str,
        params: dict[str, str],
        resource_policies: Callable[[], Sequence[Any]] | None = None,
    ) -> None: ...


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
        gate: AccessGate | None = None,
    ) -> None:
        """``sessions`` resolves functions' role credentials and ``gate`` authorises calls
        made with them (both lamina.services.iam)."""
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
        self.gate = gate
        # Requests answered per face (GET /metrics: lamina_http_requests_total).
        self.requests: Counter[str] = Counter()
        # Invoke's FunctionName and Qualifier, parsed (a regex match): by the raw text.
        self._refs: dict[tuple[str, str | None], FunctionRef] = {}
        self.auth = self.authenticator("lambda")
        self.ctx = ctx = ApiContext(functions, scheduler, ledger, settings)
        if gate is not None:
            ctx.check_role = gate.check_role
        self._handlers: dict[str, Operation] = {}
        self.permissions = PermissionOps(ctx)
        for ops in (
            self.permissions,
            FunctionOps(ctx),
            AliasOps(ctx),
            AccountOps(ctx),
            ProvisionedOps(ctx),
            RecursionOps(ctx),
            UrlOps(ctx),
            LaminaOps(ctx),
            LayerOps(ctx),
        ):
            self._handlers.update(ops.handlers())
        self.mounts = MountTable()
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
        self.ctx.resource_tags = sources.rule_ops.tags
        self._handlers.update(EventOps(sources).handlers())
        for m in sources.mounts():
            self.mount_service(m)

    def mount_service(self, m: Mount) -> None:
        """Serve a service's :class:`Mount`: verified as its SigV4 service (S3 with S3's
        payload rules; not at all when it names none), answered in its protocol."""
        service = m.sigv4_service
        auth = None if service is None else self.authenticator(service, s3_style=service == "s3")
        self.mount(m.select, m.handler, auth=auth, protocol=m.protocol, reach=m.reach)

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
        self,
        select: Selector,
        handler: Handler,
        *,
        auth: Authenticator | None = _LAMBDA_AUTH,
        protocol: Protocol = LAMBDA,
        reach: Reach | None = None,
    ) -> None:
        """Serve the requests ``select`` picks (a path prefix, or a predicate) with ``handler``.

        They are checked first, in mount order, before the Lambda routes. ``auth`` verifies
        them before the handler runs (default: as Lambda requests; ``None``: not at all,
        e.g. function URLs with AuthType NONE; or :meth:`authenticator` for another service).
        An error the handler lets escape is answered in ``protocol``. ``reach``: what a
        predicate can pick at all (see :mod:`lamina.services.protocol.reach`); without
        one, the predicate is asked about every request, invokes included.
        """
        verifier = self.auth if auth is _LAMBDA_AUTH else auth
        self.mounts.add(Mounted(select, handler, verifier, protocol), reach)

    # -- entry point: the one error boundary ------------------------------------------
    def handle(self, req: Request, conn: HttpConnection) -> Answer:
        """Answer ``req``; every error raised on the way is answered here, in the protocol
        of the face that raised it (Lambda's REST-JSON unless a mount says otherwise)."""
        protocol = LAMBDA
        try:
            if req.too_large:
                raise RequestTooLarge(f"Request must be smaller than {MAX_REQUEST_BYTES} bytes")
            mounted = self.mounts.pick(req)
            if mounted is not None:
                auth = mounted.auth
                self.requests[face(req.path, auth)] += 1
                if auth is not None:
                    # Lamina's SigV4 refusals are Lambda-shaped on every face.
                    auth.check(req.method, req.target, req.headers, req.body)
                protocol = mounted.protocol
                if auth is not None and self.gate is not None:
                    # A function's role session may only do what its role allows; a denial
                    # is answered in the service's own words.
                    self.gate.check_mounted(auth.service, req)
                answer = mounted.handler(req, conn)
            else:
                self.requests["lambda"] += 1
                raw_name = invoke_name(req)
                if raw_name is not None:
                    # Invoke: its coroutine answers its own errors (no wrapper around it).
                    return self._checked_invoke(req, raw_name, verify=True)
                answer = self._lambda(req, conn)
        except ANSWERABLE as exc:
            return error_answer(logged(exc), protocol, head=req.method == "HEAD")
        if isinstance(answer, Response):
            return answer
        return answering(protocol, answer, head=req.method == "HEAD")

    async def answer_trusted(self, req: Request) -> Response:
        """Answer a request Lamina makes of itself (a workflow's ``aws-sdk`` Task): routed
        like any request, but not verified (no signature: the caller is Lamina) and never
        streamed. Errors are answered in the face's protocol, as for any client."""
        protocol = LAMBDA
        try:
            mounted = self.mounts.pick(req)
            if mounted is not None:
                protocol = mounted.protocol
                answer = mounted.handler(req, None)
            else:
                answer = self._lambda(req, None, verify=False)
        except ANSWERABLE as exc:
            return error_answer(logged(exc), protocol)
        if isinstance(answer, Response):
            return answer
        return await answering(protocol, answer)

    def screen(self, req: Request) -> Response | None:
        """Refuse a request from its head, before its body is read (signed mode only).

        The wire layer calls this as soon as a head is parsed; a refusal is answered
        while the body, if any, is read and dropped, so an unsigned 200 MB upload costs
        no memory. Requests that may be served unsigned (function URLs, health) pass.
        """
        if not self.settings.signature_required or req.path in UNSIGNED_PATHS:
            return None
        if self.mounts.unverified(req):
            return None
        try:
            self.auth.check_head(req.target, req.headers)
        except ApiError as exc:
            return error_response(exc)
        return None

    def _lambda(self, req: Request, conn: HttpConnection | None, *, verify: bool = True) -> Answer:
        """The Lambda API (and ``/lamina/v1``): the invoke route first, then the table."""
        raw_name = invoke_name(req)
        if raw_name is not None:
            return self._checked_invoke(req, raw_name, verify=verify)
        path = req.path
        if verify and path not in UNSIGNED_PATHS:
            self.auth.check(req.method, req.target, req.headers, req.body)
        if req.method == "POST" and path.endswith(STREAMING_SUFFIX) and path.startswith(STREAMING):
            raw_name = path[len(STREAMING) + 1 : -len(STREAMING_SUFFIX)]
            if verify and self.gate is not None:
                name = unquote(raw_name)
                self.gate.check_lambda(
                    req,
                    "InvokeWithResponseStream",
                    {"FunctionName": name},
                    lambda: self._function_policy(req, name),
                )
            return self._invoke(req, raw_name, conn)
        route, params = match(req.method, path)
        if verify and self.gate is not None and path not in UNSIGNED_PATHS:
            fn = params.get("FunctionName")
            self.gate.check_lambda(
                req,
                list_operation(route.operation, req),
                params,
                None if fn is None else (lambda: self._function_policy(req, fn)),
            )
        if route.operation == CLUSTER_CODE:
            # Streamed on the connection (node agents fetch packages of any size).
            if conn is None:  # Lamina's own in-process call: nothing to stream on
                raise InvalidParameterValue("The code of a function is fetched over HTTP")
            return serve_code(self.functions.code, req, params, conn)
        return self._handlers[route.operation](req, params)

    def _checked_invoke(self, req: Request, raw_name: str, *, verify: bool) -> Answer:
        """Invoke (not streamed) after its signature (``verify``) and IAM checks: the
        coroutine it may return answers its own errors."""
        if verify:
            self.auth.check(req.method, req.target, req.headers, req.body)
            if self.gate is not None:
                name = unquote(raw_name)
                self.gate.check_lambda(
                    req, "Invoke", {"FunctionName": name}, lambda: self._function_policy(req, name)
                )
        return self._invoke(req, raw_name)

    def _function_policy(self, req: Request, raw_name: str) -> list[Any]:
        """A function's resource policy (AddPermission's statements), for the authoriser:
        they grant other principals what their own roles do not."""
        qualifier = req.query.get("Qualifier") if "?" in req.target else None
        try:
            ref = parse_function_ref(raw_name, qualifier)
        except ApiError:
            return []
        policy = self.permissions.policy(ref.name, ref.qualifier)
        return [] if policy is None else [policy]

    # -- invoke -----------------------------------------------------------------------
    def _invoke(
        self, req: Request, raw_name: str, stream_to: HttpConnection | None = None
    ) -> Answer:
        """Invoke, or InvokeWithResponseStream when ``stream_to`` is the connection to
        stream the answer on."""
        qualifier = req.query.get("Qualifier") if "?" in req.target else None
        ref = self._refs.get((raw_name, qualifier))
        if ref is None:  # parsed once per name (a refusal is not kept: raised each time)
            ref = parse_function_ref(unquote(raw_name), qualifier)
            if len(raw_name) + len(qualifier or "") <= _REF_KEPT_CHARS:  # bounded memory
                if len(self._refs) >= _REFS_KEPT:
                    self._refs.clear()
                self._refs[raw_name, qualifier] = ref
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
        elif itype == "Event" and stream_to is None:
            if len(payload) > ASYNC_PAYLOAD_MAX:
                raise RequestTooLarge(
                    f"Request must be smaller than {ASYNC_PAYLOAD_MAX} bytes for the "
                    "InvokeAsync operation"
                )
        elif itype != "DryRun":
            if stream_to is not None:
                raise InvalidParameterValue(
                    f"1 validation error detected: Value '{itype}' at 'invocationType' "
                    "failed to satisfy constraint: Member must satisfy enum value set: "
                    "[RequestResponse, DryRun]"
                )
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
        if itype == "DryRun":
            return Response(
                204,
                b"",
                {"x-amzn-RequestId": new_request_id(), "X-Amz-Executed-Version": cfg.version},
            )
        arn = function_arn(self.region, self.account, cfg.name, ref.qualifier)
        trace = headers.get("x-amzn-trace-id")  # continued when it is an X-Ray header
        if itype == "Event":
            return self._enqueue(cfg.name, ref.qualifier, payload, cfg.version, trace)
        # Positional: a frozen dataclass built with keywords costs ~1 µs more.
        ireq = InvokeRequest(
            cfg,
            payload,
            arn,
            new_request_id(),
            client_context,
            None,
            log_type == "Tail",
            None,
            trace,
        )
        if stream_to is not None:
            return invoke_with_response_stream(
                self.scheduler,
                ireq,
                stream_to,
                self.settings.stream_response_max_bytes,
                self.settings.stream_bandwidth_bytes_s,
            )
        return self._invoke_sync(ireq)

    async def _enqueue(
        self, name: str, qualifier: str | None, payload: bytes, version: str, trace: str | None
    ) -> Response:
        # The event is committed to the durable queue before the 202 goes out.
        try:
            if self.events is None:
                raise ServiceError("asynchronous invocation is not available")
            request_id = await self.events.enqueue(name, qualifier, payload, trace)
        except ANSWERABLE as exc:
            return error_answer(logged(exc), LAMBDA)
        return Response(
            202, b"", {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": version}
        )

    async def _invoke_sync(self, ireq: InvokeRequest) -> Response:
        try:
            result = await self.scheduler.invoke(ireq)
        except ANSWERABLE as exc:
            return error_answer(logged(exc), LAMBDA)
        return invoke_response(result)


def invoke_name(req: Request) -> str | None:
    """The raw ``FunctionName`` of an Invoke (``POST /2015-03-31/functions/<name>/invocations``),
    told by two string tests before the route table; None for any other request."""
    if req.method != "POST":
        return None
    path = req.path
    if path.endswith("/invocations") and path.startswith(FUNCTIONS):
        return path[len(FUNCTIONS) + 1 : -len("/invocations")]
    return None


def face(path: str, auth: Authenticator | None) -> str:
    """What a mounted request is, for the request counters: the service it is signed for,
    or (unsigned) the console, the metrics scrape, a function URL or another face."""
    if auth is not None:
        return auth.service
    for prefix, name in (("/console", "console"), ("/metrics", "metrics")):
        if path.startswith(prefix):
            return name
    return "function_url" if path.startswith("/lambda-url/") else "unsigned"


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
    if result.node:
        headers["X-Lamina-Node"] = result.node  # the cluster node that ran it
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
