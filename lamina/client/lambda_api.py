"""The Lambda API calls the tools and the bench make, over any :class:`Transport`.

Every request goes through one transport — :class:`lamina.client.http.Client` (signed, as
the CLI sends) or the bench's keep-alive connection — so whatever it does for every request
(authentication, signing, timeouts) every caller gets too. Nothing here is specific to
Lamina except the ``/lamina/v1`` reads: the same calls would tune a function on AWS.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.client.http import ClientError, Transport, call_json, fn_path
from lamina.client.report_line import Report, parse_report

FUNCTIONS_PATH = "/2015-03-31/functions"


@dataclass(frozen=True, slots=True)
class InvokeOutcome:
    """One synchronous invoke as the caller saw it."""

    status: int
    payload: bytes
    function_error: str | None  # "Unhandled" when the function failed
    log_tail: str
    report: Report | None
    wall_ms: float  # the client's round trip, request sent to answer read

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.function_error is None and self.report is not None


class LambdaClient:
    """Configuration reads and writes, invokes, and function create/delete."""

    def __init__(self, transport: Transport) -> None:
        self.client = transport

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    def close(self) -> None:
        self.client.close()

    def call(
        self, method: str, path: str, payload: object | None = None, ok: tuple[int, ...] = (200,)
    ) -> Any:
        return call_json(self.client, method, path, payload, ok)

    def get_configuration(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = self.call("GET", fn_path(name) + "/configuration")
        return body

    def update_configuration(
        self, name: str, changes: dict[str, Any], revision_id: str | None = None
    ) -> dict[str, Any]:
        """UpdateFunctionConfiguration; with ``revision_id`` it fails (412) if someone else
        changed the function since that revision."""
        payload = dict(changes)
        if revision_id is not None:
            payload["RevisionId"] = revision_id
        body: dict[str, Any] = self.call("PUT", fn_path(name) + "/configuration", payload)
        return body

    def set_variables(self, name: str, variables: dict[str, str]) -> None:
        """New environment variables: on Lamina this retires the warm environments."""
        self.update_configuration(name, {"Environment": {"Variables": variables}})

    def invoke(
        self, name: str, payload: bytes, qualifier: str | None = None, *, tail: bool = True
    ) -> InvokeOutcome:
        """A RequestResponse invoke (with the log tail unless ``tail`` is False), timed by
        the client."""
        path = fn_path(name) + "/invocations"
        if qualifier:
            path += f"?Qualifier={qualifier}"
        headers = {"Content-Type": "application/json"}
        if tail:
            headers["X-Amz-Log-Type"] = "Tail"
        started = time.perf_counter_ns()
        answer = self.client.request("POST", path, payload, headers)
        wall_ms = (time.perf_counter_ns() - started) / 1e6
        log_tail = base64.b64decode(answer.headers.get("x-amz-log-result", "")).decode(
            "utf-8", "replace"
        )
        return InvokeOutcome(
            status=answer.status,
            payload=answer.body,
            function_error=answer.headers.get("x-amz-function-error"),
            log_tail=log_tail,
            report=parse_report(log_tail),
            wall_ms=wall_ms,
        )

    def create_function(
        self,
        name: str,
        code: bytes,
        runtime: str,
        handler: str,
        memory_mb: int = 128,
        *,
        timeout_s: int | None = None,
        environment: dict[str, str] | None = None,
        architecture: str | None = None,
        description: str | None = None,
        role: str | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> dict[str, Any]:
        """CreateFunction from a zip; ``extra`` adds any other field (e.g. SnapStart).

        Without ``role`` the function gets the server's default role (no Role is sent: with
        keys configured, a Role that names no IAM role is refused, as on AWS)."""
        body: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": runtime,
            "Handler": handler,
            "MemorySize": memory_mb,
            "Code": {"ZipFile": base64.b64encode(code).decode()},
        }
        if role is not None:
            body["Role"] = role
        if timeout_s is not None:
            body["Timeout"] = timeout_s
        if environment is not None:
            body["Environment"] = {"Variables": environment}
        if architecture is not None:
            body["Architectures"] = [architecture]
        if description is not None:
            body["Description"] = description
        body.update(extra or {})
        created: dict[str, Any] = self.call("POST", FUNCTIONS_PATH, body, ok=(201,))
        return created

    def delete_function(self, name: str) -> None:
        self.client.request("DELETE", fn_path(name), ok=(204,))

    def exists(self, name: str) -> bool:
        try:
            self.get_configuration(name)
        except ClientError as exc:
            if exc.error_type == "ResourceNotFoundException":
                return False
            raise
        return True

    # -- account and Lamina's own reads ------------------------------------------------
    def unreserved_concurrency(self) -> int:
        body = self.call("GET", "/2016-08-19/account-settings")
        return int(body["AccountLimit"]["UnreservedConcurrentExecutions"])

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = self.call("GET", "/lamina/v1/health")
        return body

    def runtimes(self) -> dict[str, dict[str, str]]:
        """The interpreter each runtime resolves to on this host, by runtime name."""
        body = self.call("GET", "/lamina/v1/runtimes")
        return {r["runtime"]: r for r in body["runtimes"]}


def payload_bytes(value: object) -> bytes:
    """An event as the bytes sent: JSON text for anything but bytes."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":")).encode()
