"""Lambda's destination record and the DLQ message for a finished asynchronous event (pure)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lamina.events.asyncinvoke.policy import Condition


@dataclass(frozen=True, slots=True)
class LastResponse:
    """What the last attempt answered; kept with the event between attempts."""

    status_code: int
    executed_version: str
    function_error: str | None
    payload: bytes

    def to_json(self) -> str:
        return json.dumps(
            {
                "statusCode": self.status_code,
                "executedVersion": self.executed_version,
                "functionError": self.function_error,
                "payload": self.payload.decode("utf-8", "replace"),
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> LastResponse:
        d = json.loads(raw)
        return cls(d["statusCode"], d["executedVersion"], d["functionError"], d["payload"].encode())


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def iso_millis(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(epoch * 1000) % 1000:03d}Z"
    )


def bus_event(
    record: dict[str, Any], *, bus_arn: str, region: str, account: str, now: float
) -> dict[str, Any]:
    """The event Lambda puts on an event-bus destination: the destination ``record`` as its
    ``detail``, ``source`` ``lambda``, the bus's and the function's ARNs as ``resources``."""
    ok = record["requestContext"]["condition"] == Condition.SUCCESS.value
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Lambda Function Invocation Result - " + ("Success" if ok else "Failure"),
        "source": "lambda",
        "account": account,
        "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [bus_arn, record["requestContext"]["functionArn"]],
        "detail": record,
    }


def destination_record(
    *,
    request_id: str,
    function_arn: str,
    condition: Condition,
    invoke_count: int,
    request_payload: bytes,
    last: LastResponse | None,
    now: float,
) -> dict[str, Any]:
    """``{"version":"1.0","timestamp",...}`` exactly as Lambda sends it to a destination."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso_millis(now),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition.value,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": _json_or_text(request_payload),
    }
    if last is not None:
        context: dict[str, Any] = {
            "statusCode": last.status_code,
            "executedVersion": last.executed_version,
        }
        if last.function_error:
            context["functionError"] = last.function_error
        record["responseContext"] = context
        record["responsePayload"] = _json_or_text(last.payload)
    return record


# What a DLQ message of an event that never ran says (status code as Lambda's API would).
_NOT_RUN = {
    Condition.EVENT_AGE_EXCEEDED: ("Event age exceeded", "429"),
    Condition.RECURSIVE_LOOP: (
        "Lambda has detected your function being invoked in a recursive loop with other AWS "
        "resources and stopped your function's invocation.",
        "400",
    ),
}


def dead_letter_attributes(
    request_id: str, last: LastResponse | None, condition: Condition
) -> dict[str, tuple[str, str]]:
    """The message attributes Lambda puts on a DLQ message: RequestID, ErrorCode, ErrorMessage."""
    if last is not None and last.function_error:
        err = _json_or_text(last.payload)
        message = err.get("errorMessage", "") if isinstance(err, dict) else str(err)
        code = str(last.status_code)
    else:
        message, code = _NOT_RUN.get(condition, ("", "200"))
    return {
        "RequestID": ("String", request_id),
        "ErrorCode": ("Number", code),
        "ErrorMessage": ("String", message[:1024] or condition.value),
    }
