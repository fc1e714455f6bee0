"""The distributed Map's pure parts: reading items, batching, result files."""

from __future__ import annotations

import json

import pytest

from lamina.workflows.distributed import (
    GET_OBJECT,
    LIST_OBJECTS,
    ItemReaderSpec,
    batch,
    parse_items,
    result_files,
)
from lamina.workflows.errors import StatesError


def test_items_from_json_jsonl_csv_and_listings() -> None:
    assert parse_items(ItemReaderSpec(GET_OBJECT, None, "JSON"), b'[1, {"a": 2}]', None) == [
        1, {"a": 2}]  # fmt: skip
    assert parse_items(ItemReaderSpec(GET_OBJECT, None, "JSONL"), b'{"a":1}\n\n{"a":2}\n', None) == [
        {"a": 1}, {"a": 2}]  # fmt: skip
    csv_text = b"\xef\xbb\xbfid,name\n1,ada\n2,bob\n"
    assert parse_items(ItemReaderSpec(GET_OBJECT, None, "CSV"), csv_text, None) == [
        {"id": "1", "name": "ada"}, {"id": "2", "name": "bob"}]  # fmt: skip
    given = ItemReaderSpec(GET_OBJECT, None, "CSV", "GIVEN", ("x", "y"), max_items=1)
    assert parse_items(given, b"1,2\n3,4\n", None) == [{"x": "1", "y": "2"}]
    listing = [{"Key": "a.txt", "Size": 3, "ETag": '"e"', "LastModified": "t"}]
    assert parse_items(ItemReaderSpec(LIST_OBJECTS, None, "LISTING"), None, listing) == [
        {"Etag": '"e"', "Key": "a.txt", "LastModified": "t", "Size": 3, "StorageClass": "STANDARD"}]  # fmt: skip
    with pytest.raises(StatesError) as info:
        parse_items(ItemReaderSpec(GET_OBJECT, None, "JSON"), b'{"not": "an array"}', None)
    assert info.value.error == "States.ItemReaderFailed"


def test_batches_respect_both_limits_and_carry_batch_input() -> None:
    items = [{"n": i} for i in range(5)]
    batches = batch(items, 2, None, {"job": 7})
    assert [len(b["Items"]) for b in batches] == [2, 2, 1]
    assert batches[0] == {"Items": [{"n": 0}, {"n": 1}], "BatchInput": {"job": 7}}
    one_item = len(json.dumps({"n": 0}, separators=(",", ":"))) + 1
    assert [len(b["Items"]) for b in batch(items, None, one_item * 3, None)] == [3, 2]


def test_result_files_split_succeeded_and_failed_with_a_manifest() -> None:
    files = result_files(
        "out/",
        "run-1",
        "arn:map",
        [1, 2],
        [(True, {"ok": 1}), (False, {"Error": "E", "Cause": "c"})],
    )
    assert set(files) == {
        "out/run-1/SUCCEEDED_0.json",
        "out/run-1/FAILED_0.json",
        "out/run-1/manifest.json",
    }
    assert files["out/run-1/SUCCEEDED_0.json"] == [
        {"Input": "1", "Status": "SUCCEEDED", "Output": '{"ok": 1}'}
    ]
    assert files["out/run-1/FAILED_0.json"][0]["Error"] == "E"
    assert files["out/run-1/manifest.json"]["ResultFiles"]["FAILED"] == [
        {"Key": "out/run-1/FAILED_0.json", "Size": 1}]  # fmt: skip
