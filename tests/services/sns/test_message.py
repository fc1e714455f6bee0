"""Published messages: their checks and limits, and what lambda and sqs subscribers get."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.parser.models import SnsModel, SnsNotificationModel

from lamina.errors import AwsServiceError
from lamina.services.sns.message import (
    MAX_MESSAGE_BYTES,
    Notification,
    lambda_event,
    parse_published,
    queue_body,
    raw_attributes,
    signature,
)

NOTE = Notification(
    "mid-1",
    "arn:aws:sns:us-east-1:000000000000:t",
    "arn:aws:sns:us-east-1:000000000000:t:sub-1",
    "2026-01-02T03:04:05.006Z",
    "http://127.0.0.1:9000",
)


def refusal(members: dict[str, object]) -> tuple[str, str]:
    with pytest.raises(AwsServiceError) as err:
        parse_published(members)
    return err.value.code, err.value.message


def test_the_lambda_event_has_lambdas_sns_shape() -> None:
    published = parse_published(
        {
            "Message": "hi",
            "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
        }
    )
    (record,) = lambda_event(published, NOTE)["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"] == NOTE.subscription_arn
    sns = record["Sns"]
    assert sns["Subject"] is None  # Lambda's event carries a null subject
    assert sns["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
    assert sns["UnsubscribeUrl"] == (
        "http://127.0.0.1:9000/?Action=Unsubscribe&SubscriptionArn="
        + NOTE.subscription_arn
        + "&Version=2010-03-31"
    )
    assert set(sns) == {
        "Type",
        "MessageId",
        "TopicArn",
        "Subject",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertUrl",
        "UnsubscribeUrl",
        "MessageAttributes",
    }


def test_the_queue_envelope_leaves_out_what_is_absent_and_names_urls_as_sqs_sees_them() -> None:
    body = json.loads(queue_body(parse_published({"Message": "hi"}), NOTE))
    assert "Subject" not in body and "MessageAttributes" not in body
    assert {"SigningCertURL", "UnsubscribeURL"} <= set(body)
    assert body["Message"] == "hi" and body["MessageId"] == "mid-1"


def test_powertools_parses_both_shapes() -> None:
    """The parser models functions use for SNS events and SNS-over-SQS bodies take them."""
    published = parse_published(
        {
            "Message": "m",
            "Subject": "s",
            "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"}},
        }
    )
    record = SnsModel(**lambda_event(published, NOTE)).Records[0]
    attributes = record.Sns.MessageAttributes or {}
    assert (record.Sns.Message, attributes["n"].Value) == ("m", "1")
    body = SnsNotificationModel(**json.loads(queue_body(published, NOTE)))
    assert (body.Subject, body.MessageId) == ("s", "mid-1")


def test_the_signature_is_a_digest_of_the_fields_it_covers() -> None:
    one = signature("m", NOTE, None)
    assert one == signature("m", NOTE, None)
    assert one != signature("m2", NOTE, None)
    assert one != signature("m", NOTE, "subject")


def test_message_structure_json_picks_the_protocols_message() -> None:
    published = parse_published(
        {
            "Message": json.dumps({"default": "d", "lambda": "l", "sqs": 5}),
            "MessageStructure": "json",
        }
    )
    assert published.message_for("lambda") == "l"
    assert published.message_for("sqs") == "d"  # a non-string value is ignored


def test_raw_attributes_keep_their_types() -> None:
    published = parse_published(
        {
            "Message": "m",
            "MessageAttributes": {
                "b": {"DataType": "Binary", "BinaryValue": "AAE="},
                "n": {"DataType": "Number.int", "StringValue": "3"},
            },
        }
    )
    assert raw_attributes(published) == {"b": ("Binary", "AAE="), "n": ("Number.int", "3")}


@pytest.mark.parametrize(
    ("members", "code"),
    [
        ({}, "InvalidParameter"),
        ({"Message": ""}, "InvalidParameter"),
        ({"Message": "x" * (MAX_MESSAGE_BYTES + 1)}, "InvalidParameter"),
        ({"Message": "m", "Subject": "two\nlines"}, "InvalidParameter"),
        ({"Message": "m", "Subject": "s" * 100}, "InvalidParameter"),
        ({"Message": "m", "MessageStructure": "xml"}, "InvalidParameter"),
        ({"Message": "{}", "MessageStructure": "json"}, "InvalidParameter"),
        ({"Message": "nope", "MessageStructure": "json"}, "InvalidParameter"),
        (
            {"Message": "m", "MessageAttributes": {"a": {"DataType": "Date", "StringValue": "x"}}},
            "ParameterValueInvalid",
        ),
        (
            {
                "Message": "m",
                "MessageAttributes": {"a": {"DataType": "Number", "StringValue": "x"}},
            },
            "ParameterValueInvalid",
        ),
        (
            {
                "Message": "m",
                "MessageAttributes": {"a": {"DataType": "String.Array", "StringValue": "x"}},
            },
            "ParameterValueInvalid",
        ),
        (
            {"Message": "m", "MessageAttributes": {"a": {"DataType": "String", "StringValue": ""}}},
            "ParameterValueInvalid",
        ),
        (
            {
                "Message": "m",
                "MessageAttributes": {"AWS.x": {"DataType": "String", "StringValue": "v"}},
            },
            "ParameterValueInvalid",
        ),
        (
            {
                "Message": "m",
                "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": "!!"}},
            },
            "ParameterValueInvalid",
        ),
    ],
)
def test_refusals(members: dict[str, object], code: str) -> None:
    assert refusal(members)[0] == code


def test_attributes_count_towards_the_size_limit() -> None:
    members: dict[str, object] = {
        "Message": "x" * (MAX_MESSAGE_BYTES - 10),
        "MessageAttributes": {"a": {"DataType": "String", "StringValue": "y" * 10}},
    }
    assert refusal(members) == ("InvalidParameter", "Invalid parameter: Message too long")
