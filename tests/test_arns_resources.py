"""ARNs of queues, rules, buckets and mappings: built and taken apart in lamina.arns (pure)."""

from __future__ import annotations

import pytest

from lamina.arns import (
    Arn,
    bucket_arn,
    function_arn,
    iam_user_arn,
    mapping_arn,
    parse_arn,
    qualify,
    queue_arn,
    rule_arn,
    split_function_arn,
)


def test_built_arns_parse_back_into_their_parts() -> None:
    assert parse_arn(queue_arn("eu-west-1", "123456789012", "jobs")) == Arn(
        "aws", "sqs", "eu-west-1", "123456789012", "jobs"
    )
    rule = parse_arn(rule_arn("us-east-1", "000000000000", "nightly"))
    assert rule is not None and rule.service == "events" and rule.resource == "rule/nightly"
    fn = parse_arn(function_arn("us-east-1", "000000000000", "f", "live"))
    assert fn is not None and fn.is_function() and fn.resource == "function:f:live"
    bucket = parse_arn(bucket_arn("photos"))
    assert bucket == Arn("aws", "s3", "", "", "photos")
    assert mapping_arn("us-east-1", "1", "u-1").endswith(":event-source-mapping:u-1")
    assert iam_user_arn("1", "AKID") == "arn:aws:iam::1:user/AKID"


@pytest.mark.parametrize(
    ("raw", "queue", "function"),
    [
        ("arn:aws:sqs:us-east-1:000000000000:q", True, False),
        ("arn:aws:sqs:us-east-1:000000000000:", False, False),
        ("arn:aws:sqs:us-east-1:000000000000:q:extra", False, False),
        ("arn:aws:lambda:us-east-1:000000000000:function:f", False, True),
        ("arn:aws:lambda:us-east-1:000000000000:function", False, False),
        ("arn:aws:lambda:us-east-1:000000000000:event-source-mapping:u", False, False),
    ],
)
def test_queue_and_function_arns_are_told_apart(raw: str, queue: bool, function: bool) -> None:
    parsed = parse_arn(raw)
    assert parsed is not None
    assert (parsed.is_queue(), parsed.is_function()) == (queue, function)


@pytest.mark.parametrize("raw", ["", "q", "arn:aws:sqs:r:a", "urn:aws:sqs:r:a:q"])
def test_what_is_not_an_arn_parses_to_none(raw: str) -> None:
    assert parse_arn(raw) is None


def test_function_references_split_leniently() -> None:
    assert split_function_arn("f") == ("f", None)
    assert split_function_arn("f:live") == ("f", "live")
    assert split_function_arn("arn:aws:lambda:r:1:function:f") == ("f", None)
    assert split_function_arn("arn:aws:lambda:r:1:function:f:7") == ("f", "7")
    assert qualify("arn:aws:lambda:r:1:function:f", None) == "arn:aws:lambda:r:1:function:f"
    assert qualify("arn:aws:lambda:r:1:function:f", "7").endswith(":f:7")
