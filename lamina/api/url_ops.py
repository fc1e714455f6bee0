"""Function URL configurations: Create/Get/Update/Delete/ListFunctionUrlConfigs.

Lamina stores them and hands out the URL; answering HTTP on it is the event sources'
work. A URL is ``http://<host the caller used>/lambda-url/<url-id>/``: path-based, so it
works on any machine with no DNS or hosts-file set-up (``*.localhost`` does not resolve
everywhere). :func:`function_url` is the one place that shape is decided.
"""

from __future__ import annotations

import secrets
import string as _string
from datetime import UTC, datetime

from lamina.api.answers import empty_response, json_body, json_response
from lamina.api.context import ApiContext, Handler
from lamina.api.paging import max_items, page
from lamina.api.shapes import url_configuration
from lamina.arns import parse_function_ref
from lamina.errors import InvalidParameterValue
from lamina.models.function_url import (
    FunctionUrlConfig,
    parse_cors,
    validate_auth_type,
    validate_invoke_mode,
    validate_url_qualifier,
)
from lamina.wire.http import Request
from lamina.wire.server import Response

URL_PATH_PREFIX = "/lambda-url/"
_ID_ALPHABET = _string.ascii_lowercase + _string.digits


def function_url(host: str, url_id: str) -> str:
    return f"http://{host}{URL_PATH_PREFIX}{url_id}/"


def new_url_id() -> str:
    """32 lower-case letters and digits, like Lambda's url-id."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


def _timestamp(now: float) -> str:
    at = datetime.fromtimestamp(now, tz=UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond:06d}Z"


class UrlOps:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.functions = ctx.functions

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateFunctionUrlConfig": self.create,
            "GetFunctionUrlConfig": self.get,
            "UpdateFunctionUrlConfig": self.update,
            "DeleteFunctionUrlConfig": self.delete,
            "ListFunctionUrlConfigs": self.list,
        }

    def _target(self, req: Request, params: dict[str, str]) -> tuple[str, str | None]:
        ref = parse_function_ref(params["FunctionName"], req.query.get("Qualifier") or None)
        self.functions.get(ref.name)
        qualifier = ref.qualifier
        if qualifier is not None:
            validate_url_qualifier(qualifier)
            self.functions.alias(ref.name, qualifier)
        return ref.name, qualifier

    def _shape(self, req: Request, cfg: FunctionUrlConfig) -> dict[str, object]:
        url = function_url(self.ctx.host(req), cfg.url_id)
        return url_configuration(cfg, url, self.ctx.region, self.ctx.account)

    def create(self, req: Request, params: dict[str, str]) -> Response:
        name, qualifier = self._target(req, params)
        body = json_body(req)
        if body.get("AuthType") is None:
            raise InvalidParameterValue("CreateFunctionUrlConfig needs AuthType (NONE or AWS_IAM)")
        now = _timestamp(self.ctx.clock())
        cfg = FunctionUrlConfig(
            function=name,
            qualifier=qualifier,
            url_id=new_url_id(),
            auth_type=validate_auth_type(body["AuthType"]),
            invoke_mode=validate_invoke_mode(body.get("InvokeMode", "BUFFERED")),
            cors=parse_cors(body.get("Cors")),
            creation_time=now,
            last_modified_time=now,
        )
        self.functions.create_url_config(cfg)
        shape = self._shape(req, cfg)
        shape.pop("LastModifiedTime")  # CreateFunctionUrlConfig's answer has none
        return json_response(201, shape)

    def get(self, req: Request, params: dict[str, str]) -> Response:
        name, qualifier = self._target(req, params)
        return json_response(200, self._shape(req, self.functions.url_config(name, qualifier)))

    def update(self, req: Request, params: dict[str, str]) -> Response:
        name, qualifier = self._target(req, params)
        body = json_body(req)
        current = self.functions.url_config(name, qualifier)
        cfg = FunctionUrlConfig(
            function=name,
            qualifier=qualifier,
            url_id=current.url_id,
            auth_type=(
                current.auth_type
                if body.get("AuthType") is None
                else validate_auth_type(body["AuthType"])
            ),
            invoke_mode=(
                current.invoke_mode
                if body.get("InvokeMode") is None
                else validate_invoke_mode(body["InvokeMode"])
            ),
            cors=current.cors if "Cors" not in body else parse_cors(body["Cors"]),
            creation_time=current.creation_time,
            last_modified_time=_timestamp(self.ctx.clock()),
        )
        self.functions.update_url_config(cfg)
        return json_response(200, self._shape(req, cfg))

    def delete(self, req: Request, params: dict[str, str]) -> Response:
        name, qualifier = self._target(req, params)
        self.functions.delete_url_config(name, qualifier)
        return empty_response(204)

    def list(self, req: Request, params: dict[str, str]) -> Response:
        ref = parse_function_ref(params["FunctionName"])
        q = req.query
        configs, next_marker = page(
            self.functions.url_configs(ref.name),
            lambda c: c.qualifier or "",
            q.get("Marker") or None,
            max_items(q.get("MaxItems"), most=50),
        )
        body: dict[str, object] = {"FunctionUrlConfigs": [self._shape(req, c) for c in configs]}
        if next_marker:
            body["NextMarker"] = next_marker
        return json_response(200, body)
