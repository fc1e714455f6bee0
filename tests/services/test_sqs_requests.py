"""SQS requests parsed into typed values, with SQS's codes and messages (pure)."""

from __future__ import annotations

import base64

import pytest

from lamina.errors import AwsServiceError
from lamina.services.sqs.requests import (
    integer,
    parse_create_queue,
    parse_entries,
    parse_list_queues,
    parse_message,
    parse_receive,
    queue_name_of,
    queue_url,
    receipt_handle,
    visibility_timeout,
)


def code_of(exc: pytest.ExceptionInfo[AwsServiceError]) -> str:
    return exc.value.code


def test_create_queue_reads_name_attributes_and_tags_as_strings() -> None:
    req = parse_create_queue(
        {"QueueName": "jobs", "Attributes": {"VisibilityTimeout": 60}, "tags": {"team": 7}}
    )
    assert (req.name, req.attributes, req.tags) == (
        "jobs",
        {"VisibilityTimeout": "60"},
        {"team": "7"},
    )
    with pytest.raises(AwsServiceError) as bad_name:
        parse_create_queue({"QueueName": "no spaces"})
    assert code_of(bad_name) == "InvalidParameterValue"
    with pytest.raises(AwsServiceError) as bad_value:
        parse_create_queue({"QueueName": "q", "Attributes": {"DelaySeconds": "901"}})
    assert code_of(bad_value) == "InvalidAttributeValue"
    with pytest.raises(AwsServiceError) as not_a_map:
        parse_create_queue({"QueueName": "q", "Attributes": ["DelaySeconds"]})
    assert code_of(not_a_map) == "InvalidAttributeName"


def test_integers_accept_query_strings_and_report_range_with_sqs_words() -> None:
    assert integer({"MaxResults": "5"}, "MaxResults", 1, 1000, None) == 5
    assert integer({}, "MaxResults", 1, 1000, 7) == 7
    with pytest.raises(AwsServiceError) as exc:
        integer({"MaxResults": 0}, "MaxResults", 1, 1000, None)
    assert exc.value.message.endswith("Reason: Must be between 1 and 1000, if provided.")
    with pytest.raises(AwsServiceError):
        integer({"MaxResults": "many"}, "MaxResults", 1, 1000, None)
    assert parse_list_queues({"QueueNamePrefix": "a", "NextToken": ""}).next_token is None


def test_queue_urls_name_their_queue_and_must_be_present() -> None:
    assert queue_name_of(queue_url({"QueueUrl": "http://h:1/000000000000/jobs/"})) == "jobs"
    with pytest.raises(AwsServiceError) as exc:
        queue_url({})
    assert code_of(exc) == "MissingParameter"


def test_a_message_is_checked_against_its_queues_limits() -> None:
    blob = base64.b64encode(b"\x00\x01").decode()
    m = parse_message(
        {
            "MessageBody": "hi",
            "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": blob}},
            "MessageSystemAttributes": {
                "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1"}
            },
        },
        max_size=1024,
        default_delay_s=5,
    )
    assert m.body == "hi" and m.delay_s == 5 and m.trace_header == "Root=1"
    assert m.attributes == {"b": {"DataType": "Binary", "BinaryValue": blob}}
    stored = m.stored("AKID")
    assert stored.system_attributes == {"SenderId": "AKID", "AWSTraceHeader": "Root=1"}
    assert stored.md5_attributes is not None
    with pytest.raises(AwsServiceError) as too_big:
        parse_message({"MessageBody": "x" * 1025}, max_size=1024, default_delay_s=0)
    assert code_of(too_big) == "InvalidParameterValue"
    with pytest.raises(AwsServiceError) as empty:
        parse_message({"MessageBody": ""}, max_size=1024, default_delay_s=0)
    assert code_of(empty) == "MissingParameter"
    with pytest.raises(AwsServiceError) as system:
        parse_message(
            {"MessageBody": "x", "MessageSystemAttributes": ["x"]}, max_size=9, default_delay_s=0
        )
    assert code_of(system) == "InvalidParameterValue"


def test_receive_takes_the_queues_defaults_and_both_attribute_name_lists() -> None:
    req = parse_receive(
        {"AttributeNames": ["SentTimestamp"], "MessageSystemAttributeNames": ["SenderId"]},
        default_wait_s=20,
        default_visibility_s=30,
    )
    assert (req.limit, req.wait_s, req.visibility_s) == (1, 20, 30)
    assert req.system_names == ["SenderId", "SentTimestamp"]
    with pytest.raises(AwsServiceError):
        parse_receive({"MaxNumberOfMessages": 11}, default_wait_s=0, default_visibility_s=30)


def test_receipt_handles_and_visibility() -> None:
    assert receipt_handle({}) is None
    assert receipt_handle({"ReceiptHandle": "1-abc"}) == "1-abc"
    assert visibility_timeout({"VisibilityTimeout": "0"}) == 0
    with pytest.raises(AwsServiceError) as exc:
        visibility_timeout({})
    assert code_of(exc) == "MissingParameter"


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        ([], "EmptyBatchRequest"),
        ([{"Id": str(i)} for i in range(11)], "TooManyEntriesInBatchRequest"),
        ([{"Id": "bad id"}], "InvalidBatchEntryId"),
        ([{"Id": "a"}, {"Id": "a"}], "BatchEntryIdsNotDistinct"),
        (["not-an-entry"], "InvalidParameterValue"),
    ],
)
def test_batches_follow_sqs_rules(entries: list[object], code: str) -> None:
    with pytest.raises(AwsServiceError) as exc:
        parse_entries({"Entries": entries})
    assert code_of(exc) == code


def test_batch_entries_keep_their_ids_and_members() -> None:
    entries = parse_entries({"Entries": [{"Id": "a", "MessageBody": "x"}, {"Id": "b"}]})
    assert [e.id for e in entries] == ["a", "b"]
    assert entries[0].members["MessageBody"] == "x"
