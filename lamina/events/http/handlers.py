"""Serving HTTP for functions: function URLs and configured API routes.

Function URLs are addressed two ways, both on the API's port:

* ``http://<host>:<port>/lambda-url/<url-id>/<path>`` — works on any machine with no DNS
  set-up (the ``FunctionUrl`` the API returns); the function sees ``rawPath`` as
  ``/<path>``, i.e. relative to the URL, exactly as on Lambda's own URL domain;
* ``Host: <url-id>.lambda-url.<region>.<anything>`` — for a wildcard DNS name or
  ``*.localhost``; the path is passed through untouched.

API routes are served on their own listener (see :mod:`.routes`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote

from lamina.arns import iam_user_arn
from lamina.errors import ApiError, AwsServiceError, ResourceNotFound, TooManyRequests
from lamina.events.http.payloads import Context, payload_v1, payload_v2
from lamina.events.http.request import HttpRequest
from lamina.events.http.response import HttpAnswer, answer_v1, answer_v2, failure_answer
from lamina.events.http.routes import ApiConfig
from lamina.events.http.streaming import stream_answer
from lamina.events.invoker import Invoke, InvokeStream
from lamina.models.function_url import FunctionUrlConfig
from lamina.runtime_api.stream import ResponseStream
from lamina.services.protocol.rawresponse import RawResponse
from lamina.services.protocol.reach import Reach
from lamina.tracing import continued
from lamina.triggers import HTTP, OTHER, triggered
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

log = logging.getLogger("lamina.events.http")

URL_PREFIX = "/lambda-url/"
# What FunctionUrlHandler.accepts can pick (lamina.services.protocol.reach).
REACH = Reach(paths=(URL_PREFIX,), hosts=(".lambda-url.",))
# verify(method, target, headers, body) -> access key id; raises ApiError when refused
Verify = Callable[[str, str, Mapping[str, str], bytes], str | None]
# start(state machine ARN, input JSON text) -> StartExecution's answer
StartExecution = Callable[[str, str], Awaitable[dict[str, Any]]]
# find(url_id) -> the URL's configuration, or None
FindUrl = Callable[[str], FunctionUrlConfig | None]


def _render(answer: HttpAnswer, extra: list[tuple[str, str]] | None = None) -> Response:
    return RawResponse(
        answer.status, answer.body, {}, header_lines=[*answer.headers, *(extra or [])]
    )


def _plain(status: int, message: str) -> Response:
    return Response(
        status, f'{{"Message":"{message}"}}'.encode(), {"Content-Type": "application/json"}
    )


def _http_request(req: Request, raw_path: str, peer: str) -> HttpRequest:
    headers = [(k.lower(), v) for k, v in req.raw_headers]
    return HttpRequest(
        req.method,
        raw_path or "/",
        req.target.partition("?")[2],
        headers,
        req.body,
        peer,
        req.version,
    )


def _error_json(status: int, kind: str, message: str) -> Response:
    body = json.dumps({"__type": kind, "message": message}).encode()
    return Response(status, body, {"Content-Type": "application/json"})


def url_id_of(req: Request) -> tuple[str, str] | None:
    """(url-id, the still-encoded ``rawPath`` the function sees) if ``req`` is for a URL."""
    raw = req.target.partition("?")[0]
    host = req.headers.get("host", "").split(":", 1)[0]
    labels = host.split(".")
    if len(labels) >= 3 and labels[1] == "lambda-url":
        return labels[0], raw
    if raw.startswith(URL_PREFIX):
        url_id, _, tail = raw[len(URL_PREFIX) :].partition("/")
        return url_id, "/" + tail
    return None


class FunctionUrlHandler:
    def __init__(
        self,
        find: FindUrl,
        invoke: Invoke,
        *,
        region: str,
        account: str,
        verify: Verify | None = None,
        clock: Callable[[], float] = time.time,
        invoke_stream: InvokeStream | None = None,
        stream_limit: int = 20 * 1024 * 1024,
        stream_bandwidth: int = 0,
    ) -> None:
        self._find = find
        self._invoke = invoke
        # RESPONSE_STREAM URLs stream through this (without it they answer buffered).
        self._invoke_stream = invoke_stream
        self._stream_limit = stream_limit
        self._stream_bandwidth = stream_bandwidth
        self._verify = verify
        self.region = region
        self.account = account
        self._clock = clock

    @staticmethod
    def accepts(req: Request) -> bool:
        return url_id_of(req) is not None

    async def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        # An X-Amzn-Trace-Id header's trace continues into the function (lamina.tracing).
        with continued(req.headers.get("x-amzn-trace-id")), triggered(HTTP):
            return await self._handle(req, conn)

    async def _handle(self, req: Request, conn: HttpConnection | None) -> Response:
        peer = conn.peer[0] if conn is not None and conn.peer else "127.0.0.1"
        addressed = url_id_of(req)
        if addressed is None:
            return _plain(404, "Not Found")
        url_id, raw_path = addressed
        cfg = self._find(url_id)
        if cfg is None:
            return _plain(404, "Not Found")
        origin = req.headers.get("origin")
        cors = _cors_headers(cfg, origin)
        if req.method == "OPTIONS" and origin and "access-control-request-method" in req.headers:
            return RawResponse(200, b"", {}, header_lines=_preflight(cfg, origin))
        authorizer = None
        if cfg.auth_type == "AWS_IAM":
            signed = "authorization" in req.headers or "X-Amz-Signature=" in req.target
            try:
                if not signed or self._verify is None:
                    raise PermissionError
                key = self._verify(req.method, req.target, req.headers, req.body)
            except (ApiError, PermissionError):
                return _plain(403, "Forbidden")
            authorizer = {
                "iam": {
                    "accessKey": key,
                    "accountId": self.account,
                    "callerId": key,
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": iam_user_arn(self.account, str(key)),
                    "userId": key,
                }
            }
        hreq = _http_request(req, raw_path, peer)
        ctx = Context(
            account_id="anonymous" if cfg.auth_type == "NONE" else self.account,
            api_id=url_id,
            domain_name=f"{url_id}.lambda-url.{self.region}.on.aws",
            authorizer=authorizer,
        )
        rid = str(uuid.uuid4())
        event = payload_v2(hreq, ctx, self._clock(), rid)
        invoke_stream = self._invoke_stream
        if cfg.invoke_mode == "RESPONSE_STREAM" and invoke_stream is not None and conn is not None:
            stream = ResponseStream(self._stream_limit, bandwidth=self._stream_bandwidth)
            run = invoke_stream(
                cfg.function, cfg.qualifier, json.dumps(event).encode(), rid, stream
            )
            return await stream_answer(
                stream,
                run,
                conn,
                cors,
                lambda r: answer_v2(r.payload, r.function_error),
                lambda a: _render(a, cors),
            )
        answer = await _call(self._invoke, cfg.function, cfg.qualifier, event, rid, answer_v2)
        return _render(answer, cors)


def _allowed_origin(cfg: FunctionUrlConfig, origin: str | None) -> str | None:
    if cfg.cors is None or not origin or not cfg.cors.allow_origins:
        return None
    if "*" in cfg.cors.allow_origins:
        return "*"
    return origin if origin in cfg.cors.allow_origins else None


def _cors_headers(cfg: FunctionUrlConfig, origin: str | None) -> list[tuple[str, str]]:
    allowed = _allowed_origin(cfg, origin)
    if allowed is None or cfg.cors is None:
        return []
    out = [("access-control-allow-origin", allowed)]
    if cfg.cors.allow_credentials:
        out.append(("access-control-allow-credentials", "true"))
    if cfg.cors.expose_headers:
        out.append(("access-control-expose-headers", ",".join(cfg.cors.expose_headers)))
    return out


def _preflight(cfg: FunctionUrlConfig, origin: str) -> list[tuple[str, str]]:
    out = _cors_headers(cfg, origin)
    if cfg.cors is not None and out:
        if cfg.cors.allow_methods:
            out.append(("access-control-allow-methods", ",".join(cfg.cors.allow_methods)))
        if cfg.cors.allow_headers:
            out.append(("access-control-allow-headers", ",".join(cfg.cors.allow_headers)))
        if cfg.cors.max_age is not None:
            out.append(("access-control-max-age", str(cfg.cors.max_age)))
    return out


async def _call(
    invoke: Invoke,
    function: str,
    qualifier: str | None,
    event: dict[str, object],
    rid: str,
    answer: Callable[[bytes, str | None], HttpAnswer],
) -> HttpAnswer:
    try:
        result = await invoke(function, qualifier, json.dumps(event).encode(), rid)
    except (TooManyRequests, ResourceNotFound) as exc:
        return failure_answer(exc)
    except ApiError as exc:
        log.warning("HTTP invoke of %s failed: %s", function, exc.message)
        return failure_answer(exc)
    return answer(result.payload, result.function_error)


class ApiRoutesHandler:
    """Serves configured routes (``GET /items/{id}`` → function) with payload 1.0 or 2.0."""

    def __init__(
        self,
        api: ApiConfig,
        invoke: Invoke,
        *,
        region: str,
        account: str,
        host: str = "localhost",
        clock: Callable[[], float] = time.time,
        stage_prefix: str = "",
        rest: bool = False,
        start_execution: StartExecution | None = None,
    ) -> None:
        """``stage_prefix``: ``/Prod`` when requests name the stage first, as a REST API's
        do; "" when they do not (``$default``, and the routes file's API). ``rest``: a REST
        API, whose events' ``path`` leaves the stage out (an HTTP API's ``rawPath`` keeps it)."""
        self.api = api  # replaced as a whole when the routes change (no restart)
        self.stage_prefix = stage_prefix
        self.rest = rest
        self._invoke = invoke
        self.start_execution = start_execution  # None: state machine routes answer 500
        self.region = region
        self.account = account
        self.host = host
        self._clock = clock

    async def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        with continued(req.headers.get("x-amzn-trace-id")), triggered(HTTP):
            return await self._handle(req, conn)

    async def _start(self, state_machine: str, body: bytes) -> Response:
        """API Gateway's StartExecution integration (SAM's default for a state machine's Api
        event): the body is the input (none: ``{}``); the answer is StartExecution's."""
        start = self.start_execution
        if start is None:
            return _plain(500, "Internal server error")
        try:
            text = body.decode() if body.strip() else "{}"
        except UnicodeDecodeError:
            return _error_json(400, "InvalidExecutionInput", "the body is not UTF-8 text")
        try:
            with triggered(OTHER):  # the workflow's tasks are started by it, not the request
                started = await start(state_machine, text)
        except ApiError as exc:
            log.warning("StartExecution of %s failed: %s", state_machine, exc.message)
            return _error_json(exc.status, exc.error_type, exc.message)
        except AwsServiceError as exc:
            # The integration passes Step Functions' error through (API Gateway maps no
            # response for it: the client sees the service's status and body).
            return _error_json(exc.status, exc.code, exc.message)
        out = {"executionArn": started["executionArn"], "startDate": float(started["startDate"])}
        return Response(200, json.dumps(out).encode(), {"Content-Type": "application/json"})

    async def _handle(self, req: Request, conn: HttpConnection | None) -> Response:
        peer = conn.peer[0] if conn is not None and conn.peer else "127.0.0.1"
        api, prefix = self.api, self.stage_prefix
        path = unquote(req.path)
        raw_path = req.target.partition("?")[0]
        if prefix:
            if path != prefix and not path.startswith(prefix + "/"):
                # API Gateway's answer for a path outside every deployed stage.
                return Response(
                    403, b'{"message":"Forbidden"}', {"Content-Type": "application/json"}
                )
            path = path[len(prefix) :] or "/"
            if self.rest:
                raw_path = raw_path[len(prefix) :] or "/"
        found = api.find(req.method, path)
        if found is None:
            return Response(404, b'{"message":"Not Found"}', {"Content-Type": "application/json"})
        route, params = found
        if route.state_machine is not None:
            return await self._start(route.state_machine, req.body)
        hreq = _http_request(req, raw_path, peer)
        ctx = Context(
            account_id=self.account,
            api_id=api.api_id,
            domain_name=req.headers.get("host", self.host).split(":", 1)[0],
            route_key=route.key,
            stage=api.stage,
            resource=route.resource,
            path_parameters=params or None,
        )
        rid = str(uuid.uuid4())
        if route.payload_version == "1.0":
            event = payload_v1(hreq, ctx, self._clock(), rid)
            answer = answer_v1
        else:
            event = payload_v2(hreq, ctx, self._clock(), rid)
            answer = answer_v2
        result = await _call(self._invoke, route.function, route.qualifier, event, rid, answer)
        return _render(result)
