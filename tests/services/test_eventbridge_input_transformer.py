"""InputTransformer: EventBridge's placement of values in JSON and text templates, the
predefined placeholders, and the checks PutTargets makes (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lamina.errors import AwsServiceError
from lamina.services.eventbridge.input_transformer import (
    InputTransformer,
    parse_input_transformer,
    transform,
)

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "e-1",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "time": "2026-01-01T03:00:00Z",
    "detail": {
        "instance": "i-123",
        "state": "running",
        "n": 3,
        "tags": ["a", "b"],
        "q": 'say "hi"',
    },
}
PATHS = {
    "instance": "$.detail.instance",
    "state": "$.detail.state",
    "n": "$.detail.n",
    "tags": "$.detail.tags",
    "q": "$.detail.q",
    "missing": "$.detail.nope",
}
RULE = "arn:aws:events:us-east-1:000000000000:rule/bus/r"


def run(template: str) -> bytes:
    transformer = parse_input_transformer({"InputPathsMap": PATHS, "InputTemplate": template}, "t")
    return transform(EVENT, transformer, rule_arn=RULE, rule_name="r")


def test_outside_a_string_values_go_in_as_json() -> None:
    out = run('{"id": <instance>, "n": <n>, "tags": <tags>, "gone": <missing>}')
    assert json.loads(out) == {"id": "i-123", "n": 3, "tags": ["a", "b"], "gone": None}


def test_inside_a_string_values_go_in_as_text_and_keep_the_string_valid() -> None:
    out = run('{"msg": "<instance> is <state> (<n>) <q> <missing>|"}')
    assert json.loads(out) == {"msg": 'i-123 is running (3) say "hi" |'}
    assert json.loads(run('"<instance> is in state \\"<state>\\""')) == (
        'i-123 is in state "running"'
    )


def test_a_text_template_is_filled_as_text() -> None:
    assert run("<instance> is in state <state>") == b"i-123 is in state running"


def test_predefined_placeholders_and_unknown_names() -> None:
    out = json.loads(
        run(
            '{"rule": <aws.events.rule-arn>, "name": "<aws.events.rule-name>", '
            '"at": <aws.events.event.ingestion-time>, "whole": <aws.events.event.json>, '
            '"other": "<unknown>"}'
        )
    )
    assert out == {"rule": RULE, "name": "r", "at": EVENT["time"], "whole": EVENT,
                   "other": "<unknown>"}  # fmt: skip


def test_it_round_trips_through_its_stored_text() -> None:
    t = parse_input_transformer({"InputPathsMap": PATHS, "InputTemplate": "<n>"}, "t")
    assert InputTransformer.from_json(t.to_json()) == t
    assert t.shape() == {"InputPathsMap": PATHS, "InputTemplate": "<n>"}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"InputPathsMap": {}}, "inputTemplate"),
        ({"InputTemplate": ""}, "inputTemplate"),
        ({"InputTemplate": "x" * 8193}, "inputTemplate"),
        ({"InputPathsMap": {"a b": "$.x"}, "InputTemplate": "<a b>"}, "key a b"),
        ({"InputPathsMap": {"AWSx": "$.x"}, "InputTemplate": "x"}, "not starting with 'AWS'"),
        ({"InputPathsMap": {"a": "detail"}, "InputTemplate": "<a>"}, "Invalid InputPathsMap[a]"),
        ({"InputPathsMap": {f"k{i}": "$.x" for i in range(101)}, "InputTemplate": "x"}, "100"),
        ({"InputPathsMap": {"a": "$.x"}, "InputTemplate": "{<a>: 1}"}, "as an object key"),
        ("nope", "must be an object"),
    ],
)
def test_put_targets_refuses_what_eventbridge_refuses(raw: object, says: str) -> None:
    with pytest.raises(AwsServiceError) as err:
        parse_input_transformer(raw, "t")
    assert err.value.code == "ValidationException"
    assert says in err.value.message
