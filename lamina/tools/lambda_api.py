"""The few Lambda API calls the tools make, over :class:`lamina.cli.client.Client`.

Every request goes through the CLI's client, so whatever it does for every request
(authentication, signing, timeouts) the tools get too. Nothing here is specific to Lamina:
the same calls would tune a function on AWS.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from lamina.cli.client import Client, ClientError, fn_path
from lamina.tools.report_line import Report, parse_report


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


class LambdaApi:
    """Configuration reads and writes, invokes, and function create/delete."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    def get_configuration(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = self.client.call("GET", fn_path(name) + "/configuration")
        return body

    def update_configuration(
        self, name: str, changes: dict[str, Any], revision_id: str | None = None
    ) -> dict[str, Any]:
        """UpdateFunctionConfiguration; with ``revision_id`` it fails (412) if someone else
        changed the function since that revision."""
        payload = dict(changes)
        if revision_id is not None:
            payload["RevisionId"] = revision_id
        body: dict[str, Any] = self.client.call("PUT", fn_path(name) + "/configuration", payload)
        return body

    def invoke(self, name: str, payload: bytes, qualifier: str | None = None) -> InvokeOutcome:
        """A RequestResponse invoke with the log tail, timed by the client."""
        path = fn_path(name) + "/invocations"
        if qualifier:
            path += f"?Qualifier={qualifier}"
        started = time.perf_counter_ns()
        answer = self.client.request(
            "POST", path, payload, {"X-Amz-Log-Type": "Tail", "Content-Type": "application/json"}
        )
        wall_ms = (time.perf_counter_ns() - started) / 1e6
        tail = base64.b64decode(answer.headers.get("x-amz-log-result", "")).decode(
            "utf-8", "replace"
        )
        return InvokeOutcome(
            status=answer.status,
            payload=answer.body,
            function_error=answer.headers.get("x-amz-function-error"),
            log_tail=tail,
            report=parse_report(tail),
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
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": runtime,
            "Handler": handler,
            "MemorySize": memory_mb,
            "Role": "arn:aws:iam::000000000000:role/lamina-tools",
            "Code": {"ZipFile": base64.b64encode(code).decode()},
        }
        if timeout_s is not None:
            body["Timeout"] = timeout_s
        if environment is not None:
            body["Environment"] = {"Variables": environment}
        if architecture is not None:
            body["Architectures"] = [architecture]
        if description is not None:
            body["Description"] = description
        created: dict[str, Any] = self.client.call("POST", "/2015-03-31/functions", body, ok=(201,))
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


def payload_bytes(value: object) -> bytes:
    """An event as the bytes sent: JSON text for anything but bytes."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":")).encode()
