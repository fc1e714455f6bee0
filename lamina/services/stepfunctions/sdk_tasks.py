"""The generic ``aws-sdk`` Task integration on Lamina's own services, in process.

``arn:aws:states:::aws-sdk:<service>:<action>`` calls the service's API action with the
Task's ``Parameters`` in the SDK's PascalCase (``StateMachineArn`` even where the wire
says ``stateMachineArn``). The call is built from the service's botocore model — the
same request an SDK would send — and answered by the service's own handler through the
API's trusted in-process path (no socket, no signature), so the action behaves exactly
as it does for any client. The answer is parsed with the same model and given back with
PascalCase keys; timestamps become ISO-8601 text, blobs UTF-8 text.

Errors are named as Step Functions names them, ``<Service>.<Code>Exception``
(``Sqs.QueueDoesNotExistException``, ``S3.NoSuchBucketException``,
``Lambda.ResourceNotFoundException``). A parameter the action does not take, or of the
wrong type, fails the task with ``States.Runtime`` naming it; so does a service or action
Lamina does not serve.

``arn:aws:states:::events:putEvents`` (EventBridge's optimized integration) is the same
call with each entry's ``Detail`` sent as JSON text; an entry the bus refused fails the
task with ``EventBridge.FailedEntry``. ``arn:aws:states:::sns:publish`` (SNS's) is SNS's
Publish with a ``Message`` that is not text sent as JSON text.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSRequest, HeadersDict, prepare_request_dict
from botocore.exceptions import ParamValidationError
from botocore.loaders import Loader, create_loader
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.utils import PRIORITY_ORDERED_SUPPORTED_PROTOCOLS

from lamina.services.protocol.rawresponse import RawResponse
from lamina.wire.http import Request
from lamina.wire.server import Response
from lamina.workflows.steps import Err, Ok, Outcome

log = logging.getLogger("lamina.stepfunctions.sdk")

Dispatch = Callable[[Request], Awaitable[Response]]
"""Answers a request Lamina makes of itself (the API's trusted in-process path)."""

PREFIX = "arn:aws:states:::aws-sdk:"
EVENTS_PUT = "arn:aws:states:::events:putEvents"
SNS_PUBLISH = "arn:aws:states:::sns:publish"

# Step Functions' service name → (botocore's model name, the prefix of its error names).
SERVICES: dict[str, tuple[str, str]] = {
    "sqs": ("sqs", "Sqs"),
    "lambda": ("lambda", "Lambda"),
    "s3": ("s3", "S3"),
    "sfn": ("stepfunctions", "Sfn"),
    "eventbridge": ("events", "EventBridge"),
    "cloudwatch": ("cloudwatch", "CloudWatch"),
    "sts": ("sts", "Sts"),
    "sns": ("sns", "Sns"),
}
_MODES = ("", "waitForTaskToken")


class _BadParameter(Exception):
    """Raised when Parameters do not fit the action's input (named by its path)."""


@dataclass(frozen=True, slots=True)
class SdkAction:
    """One resolved ``aws-sdk:<service>:<action>``."""

    resource: str
    error_prefix: str
    protocol: str
    operation: OperationModel

    @property
    def service(self) -> ServiceModel:
        return self.operation.service_model


class SdkTasks:
    """Resolves ``aws-sdk`` resources and runs them through ``dispatch``."""

    def __init__(self, dispatch: Dispatch, region: str, account: str) -> None:
        self.dispatch = dispatch
        self.region = region
        self.account = account
        self._loader: Loader | None = None
        self._models: dict[str, ServiceModel] = {}

    def _model(self, name: str) -> ServiceModel:
        model = self._models.get(name)
        if model is None:
            if self._loader is None:
                self._loader = create_loader()
            model = ServiceModel(self._loader.load_service_model(name, "service-2"), name)
            self._models[name] = model
        return model

    def resolve(self, resource: str) -> SdkAction | None:
        """``arn:aws:states:::aws-sdk:sqs:sendMessage`` → its action; None when Lamina
        does not serve it."""
        if not resource.startswith(PREFIX):
            return None
        service, _, action = resource[len(PREFIX) :].partition(":")
        known = SERVICES.get(service)
        if known is None or not action:
            return None
        model = self._model(known[0])
        wanted = action.lower()
        name = next((n for n in model.operation_names if n.lower() == wanted), None)
        if name is None:
            return None
        protocols = model.metadata.get("protocols") or [model.protocol]
        protocol = next(p for p in PRIORITY_ORDERED_SUPPORTED_PROTOCOLS if p in protocols)
        return SdkAction(resource, known[1], protocol, model.operation_model(name))

    async def run(self, resource: str, params: Any, mode: str) -> Outcome:
        """Run ``resource`` with ``params`` (the Task's Parameters)."""
        action = self.resolve(resource)
        if action is None:
            return Err("States.Runtime", f"Lamina does not support the Task resource {resource!r}")
        if mode not in _MODES:
            return Err("States.Runtime", f"{resource} does not support .{mode}")
        return await self.call(action, {} if params is None else params)

    async def call(self, action: SdkAction, params: Any) -> Outcome:
        op = action.operation
        try:
            api_params = _to_api(params, op.input_shape, "")
            serializer = create_serializer(action.protocol, include_validation=True)
            request_dict = serializer.serialize_to_request(api_params, op)
        except (_BadParameter, ParamValidationError) as exc:
            return Err("States.Runtime", f"{action.resource}: {exc}")
        resp = await self.dispatch(self._request(action, request_dict))
        headers = _headers(resp)
        parser = create_parser(action.protocol)
        parsed = parser.parse(
            # botocore reads headers by their model names: a case-insensitive mapping.
            {"status_code": resp.status, "headers": HeadersDict(headers), "body": resp.body},
            op.output_shape,
        )
        if resp.status >= 300:
            code, message = _error(resp, headers, action, parsed)
            if code in _NOT_SERVED:
                return Err(
                    "States.Runtime",
                    f"Lamina's {action.service.service_id} does not serve "
                    f"{action.operation.name} ({action.resource}) yet",
                )
            name = code if code.endswith("Exception") else code + "Exception"
            return Err(f"{action.error_prefix}.{name}", message)
        parsed.pop("ResponseMetadata", None)
        return Ok(_from_api(parsed, op.output_shape))

    def _request(self, action: SdkAction, request_dict: dict[str, Any]) -> Request:
        prepare_request_dict(request_dict, endpoint_url="http://localhost")
        prepared = AWSRequest(
            method=request_dict["method"],
            url=request_dict["url"],
            data=request_dict["body"],
            headers=request_dict["headers"],
        ).prepare()
        url = urlsplit(prepared.url)
        target = url.path + (f"?{url.query}" if url.query else "")
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = body.read()
        headers = {k.lower(): str(v) for k, v in prepared.headers.items()}
        # Not a signature (the trusted path does not verify): the credential scope is
        # what tells the services on the shared port apart.
        day = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
        signing = action.service.signing_name
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.account}/{day}/{self.region}/{signing}/"
            "aws4_request, SignedHeaders=host, Signature=lamina"
        )
        headers.setdefault("host", "localhost")
        headers["content-length"] = str(len(body))
        return Request(prepared.method or "POST", target or "/", headers, body)


def _headers(resp: Response) -> dict[str, str]:
    """The answer's headers as the wire would carry them (with its Content-Length)."""
    headers = {k.lower(): v for k, v in resp.headers.items()}
    if isinstance(resp, RawResponse):
        headers.update((k.lower(), v) for k, v in resp.header_lines)
        length = resp.content_length
        headers["content-length"] = str(len(resp.body) if length is None else length)
    else:
        headers.setdefault("content-length", str(len(resp.body)))
    return headers


# The service has no such operation: Lamina's gap, not an error the workflow could expect.
_NOT_SERVED = ("UnknownOperation", "UnknownOperationException", "InvalidAction")

# A body-less S3 error (HEAD) has only its status: the SDK names it by the operation.
_S3_NOT_FOUND = {"HeadObject": "NoSuchKey", "HeadBucket": "NoSuchBucket"}


def _error(
    resp: Response, headers: dict[str, str], action: SdkAction, parsed: dict[str, Any]
) -> tuple[str, str]:
    """The error's code as the service's model names it (for JSON services the shape's
    name, not a query-compatible alias), and its message."""
    error = parsed.get("Error") or {}
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "")
    if code in ("404", "NotFound") and action.operation.name in _S3_NOT_FOUND:
        code = _S3_NOT_FOUND[action.operation.name]
    if action.protocol in ("json", "rest-json"):
        raw = headers.get("x-amzn-errortype", "")
        if not raw:
            try:
                doc = json.loads(resp.body or b"{}")
            except ValueError:
                doc = {}
            raw = str(doc.get("__type") or doc.get("code") or "") if isinstance(doc, dict) else ""
        if raw:
            code = raw.split(":")[0].rsplit("#", 1)[-1]
    code = code.rsplit(".", 1)[-1] or f"Http{resp.status}"
    return code, message


def _to_api(value: Any, shape: Shape | None, where: str) -> Any:
    """Parameters (PascalCase keys) → the model's member names; objects given where text
    is expected (``Input``, ``MessageBody``, ``Detail``, ``Payload``) become JSON text."""
    if shape is None:
        if value not in (None, {}):
            raise _BadParameter("the action takes no parameters")
        return {}
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _BadParameter(f"{where or 'Parameters'} must be an object")
        members = {name.lower(): (name, member) for name, member in shape.members.items()}
        out: dict[str, Any] = {}
        for key, item in value.items():
            found = members.get(str(key).lower())
            if found is None:
                raise _BadParameter(f"{where}{key} is not a parameter of this action")
            out[found[0]] = _to_api(item, found[1], f"{where}{key}.")
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _BadParameter(f"{where.rstrip('.')} must be a list")
        member = shape.member
        return [_to_api(item, member, where) for item in value]
    if kind == "map":
        if not isinstance(value, dict):
            raise _BadParameter(f"{where.rstrip('.')} must be an object")
        inner = shape.value
        return {k: _to_api(v, inner, f"{where}{k}.") for k, v in value.items()}
    if kind == "string" and isinstance(value, (dict, list)):
        return json.dumps(value)
    if kind == "blob":
        if isinstance(value, str):
            return value.encode()
        if not isinstance(value, bytes):
            return json.dumps(value).encode()
    return value


def _from_api(value: Any, shape: Shape | None) -> Any:
    """A parsed answer → the Task's result: PascalCase keys, JSON-able values."""
    if isinstance(value, dict):
        members = shape.members if shape is not None and shape.type_name == "structure" else None
        if members is None:
            inner = shape.value if shape is not None and shape.type_name == "map" else None
            return {k: _from_api(v, inner) for k, v in value.items()}
        return {
            name[:1].upper() + name[1:]: _from_api(item, members.get(name))
            for name, item in value.items()
        }
    if isinstance(value, list):
        member = shape.member if shape is not None and shape.type_name == "list" else None
        return [_from_api(item, member) for item in value]
    if isinstance(value, dt.datetime):
        moment = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if hasattr(value, "read"):  # a streaming body
        return _from_api(value.read(), None)
    return value


def events_put_events(sdk: SdkTasks) -> Callable[[Any, str], Awaitable[Outcome]]:
    """The optimized ``events:putEvents`` (+ ``.waitForTaskToken``)."""

    async def run(params: Any, mode: str) -> Outcome:
        if mode not in _MODES:
            return Err("States.Runtime", f"events:putEvents does not support .{mode}")
        action = sdk.resolve(PREFIX + "eventbridge:putEvents")
        assert action is not None  # EventBridge's model always has PutEvents
        outcome = await sdk.call(action, params)
        answer = outcome.value if isinstance(outcome, Ok) else None
        if isinstance(answer, dict) and answer.get("FailedEntryCount"):
            return Err("EventBridge.FailedEntry", json.dumps(answer))
        return outcome

    return run


def sns_publish(sdk: SdkTasks) -> Callable[[Any, str], Awaitable[Outcome]]:
    """The optimized ``sns:publish`` (+ ``.waitForTaskToken``): a ``Message`` that is not
    text (an object from the state's input, say) is published as its JSON text."""

    async def run(params: Any, mode: str) -> Outcome:
        if mode not in _MODES:
            return Err("States.Runtime", f"sns:publish does not support .{mode}")
        if isinstance(params, dict) and not isinstance(params.get("Message", ""), str):
            params = {**params, "Message": json.dumps(params["Message"])}
        action = sdk.resolve(PREFIX + "sns:publish")
        assert action is not None  # SNS's model always has Publish
        return await sdk.call(action, params)

    return run
