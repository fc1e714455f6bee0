"""The events a function receives for an HTTP request: payload 2.0 and 1.0 (pure).

2.0 is what function URLs and HTTP APIs send (``routeKey`` ``$default`` for URLs); 1.0 is
the REST API / "payload format version 1.0" event, with multi-value headers and query.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from lamina.events.http.request import HttpRequest


@dataclass(frozen=True, slots=True)
class Context:
    """Where the request arrived: the URL or API it addressed."""

    account_id: str
    api_id: str  # the URL's url-id, or the API's id
    domain_name: str
    route_key: str = "$default"  # "GET /items/{id}" for routes
    stage: str = "$default"
    resource: str = "/{proxy+}"  # payload 1.0's resource (the route's path)
    path_parameters: dict[str, str] | None = None
    stage_variables: dict[str, str] | None = None
    authorizer: dict[str, Any] | None = None


def _clf_time(epoch: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch))


def payload_v2(
    req: HttpRequest, ctx: Context, now: float, request_id: str | None = None
) -> dict[str, Any]:
    query: dict[str, str] = {}
    for k, v in req.query_pairs():
        query[k] = f"{query[k]},{v}" if k in query else v
    body, b64 = req.body_field()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": ctx.route_key,
        "rawPath": req.raw_path,
        "rawQueryString": req.raw_query,
        "headers": req.joined_headers(skip_cookies=True),
        "requestContext": {
            "accountId": ctx.account_id,
            "apiId": ctx.api_id,
            "domainName": ctx.domain_name,
            "domainPrefix": ctx.domain_name.split(".", 1)[0],
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": req.protocol,
                "sourceIp": req.source_ip,
                "userAgent": req.header("user-agent"),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": ctx.route_key,
            "stage": ctx.stage,
            "time": _clf_time(now),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": b64,
    }
    cookies = req.cookies()
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if ctx.path_parameters:
        event["pathParameters"] = ctx.path_parameters
    if ctx.stage_variables:
        event["stageVariables"] = ctx.stage_variables
    if ctx.authorizer:
        event["requestContext"]["authorizer"] = ctx.authorizer
    if body is not None:
        event["body"] = body
    return event


def payload_v1(
    req: HttpRequest, ctx: Context, now: float, request_id: str | None = None
) -> dict[str, Any]:
    multi_query: dict[str, list[str]] = {}
    for k, v in req.query_pairs():
        multi_query.setdefault(k, []).append(v)
    multi_headers = req.multi_headers()
    body, b64 = req.body_field()
    rid = request_id or str(uuid.uuid4())
    return {
        "version": "1.0",
        "resource": ctx.resource,
        "path": req.path,
        "httpMethod": req.method,
        "headers": {k: v[-1] for k, v in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": ctx.path_parameters or None,
        "stageVariables": ctx.stage_variables or None,
        "requestContext": {
            "accountId": ctx.account_id,
            "apiId": ctx.api_id,
            "domainName": ctx.domain_name,
            "domainPrefix": ctx.domain_name.split(".", 1)[0],
            "extendedRequestId": rid,
            "httpMethod": req.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": req.source_ip,
                "user": None,
                "userAgent": req.header("user-agent"),
                "userArn": None,
            },
            "path": req.path,
            "protocol": req.protocol,
            "requestId": rid,
            "requestTime": _clf_time(now),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": ctx.route_key,
            "resourcePath": ctx.resource,
            "stage": ctx.stage,
        },
        "body": body,
        "isBase64Encoded": b64,
    }
