"""X-Ray's API over the trace store: requests checked as X-Ray checks them (pure)."""

from __future__ import annotations

import json

import pytest

from lamina.errors import AwsServiceError
from lamina.services.xray.service import XrayService
from lamina.wire.http import Request
from lamina.xray.traces import TraceStore

T1 = "1-6b151031-e7b9ed85fbe14103ac015b76"


def call(service: XrayService, path: str, body: object) -> tuple[int, dict[str, object]]:
    auth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/xray/aws4_request, Signature=0"
    req = Request("POST", path, {"authorization": auth}, json.dumps(body).encode())
    assert service.accepts(req)
    answer = service.handle(req)
    return answer.status, json.loads(answer.body)


def test_batch_get_traces_takes_one_to_five_ids() -> None:
    store = TraceStore()
    service = XrayService(store)
    with pytest.raises(AwsServiceError, match="1 to 5"):
        service.batch_get({"TraceIds": [T1] * 6})
    with pytest.raises(AwsServiceError, match="1 to 5"):
        service.batch_get({"TraceIds": []})
    assert service.batch_get({"TraceIds": [T1]}) == {"Traces": [], "UnprocessedTraceIds": [T1]}
    status, body = call(service, "/Traces", {"TraceIds": "x"})
    assert status == 400 and "TraceIds" in str(body)


def test_summaries_understand_one_filter_expression_and_refuse_the_rest() -> None:
    service = XrayService(TraceStore())
    status, body = call(service, "/TraceSummaries", {"StartTime": 0, "EndTime": 2e9,
                                                     "FilterExpression": 'service("fn")'})  # fmt: skip
    assert status == 200 and body["TraceSummaries"] == []
    status, body = call(service, "/TraceSummaries", {"StartTime": 0, "EndTime": 2e9,
                                                     "FilterExpression": "responsetime > 5"})  # fmt: skip
    assert status == 400 and 'service("<function name>")' in str(body)
    status, _ = call(service, "/TraceSummaries", {"StartTime": 10, "EndTime": 5})
    assert status == 400


def test_put_trace_segments_answers_each_refusal_with_its_reason() -> None:
    reasons = iter(["", "foreign trace"])
    service = XrayService(TraceStore(), put=lambda document: next(reasons))
    documents = [json.dumps({"id": "00000000000000e1"}), json.dumps({"id": "00000000000000e2"})]
    status, body = call(service, "/TraceSegments", {"TraceSegmentDocuments": documents})
    assert status == 200
    assert body == {"UnprocessedTraceSegments": [
        {"Id": "00000000000000e2", "ErrorCode": "400", "Message": "foreign trace"},
    ]}  # fmt: skip
