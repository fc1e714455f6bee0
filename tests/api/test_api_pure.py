"""The API's pure parts: routing, paging, alias routing and request-body parsing."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from lamina.api.bodies import code_ref, dead_letter_arn, parse_create, tags
from lamina.api.code_source import object_path, read_code
from lamina.api.paging import max_items, page
from lamina.api.routes import ROUTES, match
from lamina.errors import InvalidParameterValue, UnknownOperation
from lamina.models.alias import Alias, check_routing, parse_routing, validate_alias_name


# -- routes ------------------------------------------------------------------------------
def test_routes_decode_parameters_and_ignore_a_trailing_slash() -> None:
    route, params = match("GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Ax/aliases/live/")
    assert route.operation == "GetAlias"
    assert params == {"FunctionName": "arn:aws:lambda:x", "Name": "live"}
    assert match("GET", "/2015-03-31/functions/")[0].operation == "ListFunctions"
    assert match("GET", "/2019-09-30/functions/f/concurrency")[0].operation == (
        "GetFunctionConcurrency"
    )


def test_a_known_path_with_another_method_and_an_unknown_path_are_unknown_operations() -> None:
    with pytest.raises(UnknownOperation, match="method is not supported"):
        match("PATCH", "/2015-03-31/functions/f")
    with pytest.raises(UnknownOperation, match="No Lambda operation"):
        match("GET", "/2015-03-31/nothing/here")
    # GetFunctionConcurrency lives under 2019-09-30 only, as in botocore's model.
    with pytest.raises(UnknownOperation):
        match("GET", "/2017-10-31/functions/f/concurrency")


def test_every_route_is_unique() -> None:
    keys = [(r.method, r.template) for r in ROUTES]
    assert len(keys) == len(set(keys))


# -- paging ------------------------------------------------------------------------------
def test_paging_walks_every_item_once() -> None:
    items = [f"k{i:02d}" for i in range(7)]
    seen: list[str] = []
    marker = None
    while True:
        chunk, marker = page(items, lambda s: s, marker, 3)
        seen += chunk
        if marker is None:
            break
    assert seen == items


@pytest.mark.parametrize("raw", ["0", "10001", "x"])
def test_max_items_out_of_range_is_invalid(raw: str) -> None:
    with pytest.raises(InvalidParameterValue):
        max_items(raw)


def test_a_bad_marker_is_invalid() -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid marker"):
        page(["a"], lambda s: s, "%%%", 1)


# -- aliases -----------------------------------------------------------------------------
def test_alias_pick_sends_the_weight_to_the_additional_version() -> None:
    alias = Alias("f", "live", "1", weights={"2": 0.25})
    assert [alias.pick(d) for d in (0.0, 0.2499, 0.25, 0.9999)] == ["2", "2", "1", "1"]
    assert Alias("f", "live", "1").pick(0.0) == "1"
    assert Alias("f", "live", "1", weights={"2": 0.0}).pick(0.0) == "1"


def test_alias_json_round_trips() -> None:
    alias = Alias("f", "live", "3", "desc", {"4": 0.1}, "rev")
    assert Alias.from_json(alias.to_json()) == alias


@pytest.mark.parametrize("name", ["123", "", "a" * 129, "has space", "$LATEST"])
def test_alias_names_follow_lambdas_pattern(name: str) -> None:
    with pytest.raises(InvalidParameterValue):
        validate_alias_name(name)


def test_routing_rules() -> None:
    assert parse_routing({"AdditionalVersionWeights": {"2": 1}}) == {"2": 1.0}
    assert parse_routing(None) == {}
    for bad in (
        {"AdditionalVersionWeights": {"x": 0.1}},
        {"AdditionalVersionWeights": {"2": -0.1}},
    ):
        with pytest.raises(InvalidParameterValue):
            parse_routing(bad)
    with pytest.raises(InvalidParameterValue, match=r"\$LATEST"):
        check_routing("$LATEST", {"2": 0.5})
    check_routing("$LATEST", {})


# -- bodies ------------------------------------------------------------------------------
def test_create_needs_runtime_handler_and_code_and_refuses_unsupported_features() -> None:
    base: dict[str, Any] = {"Runtime": "python3.12", "Handler": "a.b", "Code": {"ZipFile": "UEs="}}
    assert parse_create(base, "f", "arn:aws:iam::000000000000:role/r").code.zip_file == b"PK"
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "Handler": None}, "mandatory"),
        ({**base, "Code": {}}, "source for function code"),
        ({**base, "VpcConfig": {"SubnetIds": ["s-1"]}}, "VPC"),
        ({**base, "TracingConfig": {"Mode": "Sometimes"}}, "Active, PassThrough"),
        ({**base, "PackageType": "Image"}, "container"),
    ]
    for body, message in cases:
        with pytest.raises(InvalidParameterValue, match=message):
            parse_create(body, "f", "arn:aws:iam::000000000000:role/r")
    # Active tracing is kept (lamina.xray); PassThrough is the default.
    traced = {**base, "TracingConfig": {"Mode": "Active"}}
    assert parse_create(traced, "f", "arn:aws:iam::000000000000:role/r").config.tracing_active
    assert not parse_create(base, "f", "arn:aws:iam::000000000000:role/r").config.tracing_active
    # Empty structures (as Terraform sends them) are fine.
    empty_vpc = {**base, "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []}}
    parse_create(empty_vpc, "f", "arn:aws:iam::000000000000:role/r")


def test_code_refs_and_tags() -> None:
    assert code_ref({"S3Bucket": "b", "S3Key": "k"}).s3_key == "k"
    with pytest.raises(InvalidParameterValue):
        code_ref({"S3Bucket": "b"})
    with pytest.raises(InvalidParameterValue):
        code_ref({"ZipFile": base64.b64encode(b"x").decode(), "S3Bucket": "b"})
    with pytest.raises(InvalidParameterValue, match="limit of 50"):
        tags({f"k{i}": "v" for i in range(51)})
    with pytest.raises(InvalidParameterValue, match="aws:"):
        tags({"aws:owner": "x"})


def test_the_bucket_folder_never_serves_a_path_outside_the_bucket(tmp_path: Path) -> None:
    (tmp_path / "bucket" / "dir").mkdir(parents=True)
    (tmp_path / "bucket" / "dir" / "f.zip").write_bytes(b"zip")
    (tmp_path / "secret.zip").write_bytes(b"secret")
    (tmp_path / "bucket" / "link.zip").symlink_to(tmp_path / "secret.zip")
    ref = code_ref({"S3Bucket": "bucket", "S3Key": "dir/f.zip"})
    assert read_code(ref, tmp_path) == b"zip"
    for key in ("../secret.zip", "dir/../../secret.zip", "link.zip", "/etc/passwd", "dir//f.zip"):
        with pytest.raises(InvalidParameterValue, match="NoSuchKey"):
            object_path(tmp_path, "bucket", key)
    with pytest.raises(InvalidParameterValue, match="NoSuchBucket"):
        object_path(tmp_path, "other", "f.zip")


# -- dead-letter targets -----------------------------------------------------------------
def test_a_dead_letter_target_must_be_a_queue_or_topic_arn() -> None:
    queue = "arn:aws:sqs:us-east-1:000000000000:failed"
    assert dead_letter_arn({"DeadLetterConfig": {"TargetArn": queue}}, "") == queue
    assert dead_letter_arn({"DeadLetterConfig": {"TargetArn": ""}}, queue) == ""  # removes it
    assert dead_letter_arn({}, queue) == queue  # not mentioned: unchanged
    topic = "arn:aws:sns:us-east-1:000000000000:alarms"
    assert dead_letter_arn({"DeadLetterConfig": {"TargetArn": topic}}, "") == topic
    for bad in ("arn:aws:s3:::bucket", "failed", 7):
        with pytest.raises(InvalidParameterValue, match=r"deadLetterConfig\.targetArn"):
            dead_letter_arn({"DeadLetterConfig": {"TargetArn": bad}}, "")
