"""The distributed Map's data plumbing (pure): reading items, batching them, result files.

``ItemReader`` names an S3 object (``arn:aws:states:::s3:getObject`` with
``ReaderConfig.InputType`` JSON, JSONL or CSV) or a prefix listing
(``arn:aws:states:::s3:listObjectsV2``); the driver fetches the bytes or the listing and
:func:`parse_items` turns them into items. :func:`batch` groups items for ``ItemBatcher``
(``MaxItemsPerBatch``, ``MaxInputBytesPerBatch``, ``BatchInput``). :func:`result_files`
lays out what ``ResultWriter`` stores: ``<prefix>/<map run id>/manifest.json`` and
``SUCCEEDED_0.json`` / ``FAILED_0.json``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from lamina.workflows.errors import StatesError
from lamina.workflows.jsonpath import Json

GET_OBJECT = "arn:aws:states:::s3:getObject"
LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
PUT_OBJECT = "arn:aws:states:::s3:putObject"


@dataclass(frozen=True, slots=True)
class ItemReaderSpec:
    resource: str
    parameters: Json  # Parameters (JSONPath template) or Arguments (JSONata)
    input_type: str = "JSON"  # JSON | JSONL | CSV (getObject); listing for listObjectsV2
    csv_header_location: str = "FIRST_ROW"  # or GIVEN
    csv_headers: tuple[str, ...] = ()
    max_items: int | None = None


@dataclass(frozen=True, slots=True)
class ItemBatcherSpec:
    max_items: Json = None  # a number (or JSONata)
    max_items_path: str | None = None
    max_bytes: Json = None
    max_bytes_path: str | None = None
    batch_input: Json = None


@dataclass(frozen=True, slots=True)
class ResultWriterSpec:
    resource: str
    parameters: Json  # {"Bucket", "Prefix"}


def parse_items(
    reader: ItemReaderSpec, body: bytes | None, listing: list[dict[str, Any]] | None
) -> list[Json]:
    """The items an ``ItemReader`` yields from an object's bytes or a listing."""
    if reader.resource == LIST_OBJECTS:
        items: list[Json] = [
            {"Etag": o.get("ETag", ""), "Key": o["Key"], "LastModified": o.get("LastModified", ""),
             "Size": o.get("Size", 0), "StorageClass": "STANDARD"}
            for o in listing or []
        ]  # fmt: skip
    else:
        text = (body or b"").decode("utf-8-sig")
        kind = reader.input_type
        try:
            if kind == "JSON":
                parsed = json.loads(text)
                if not isinstance(parsed, list):
                    raise StatesError("States.ItemReaderFailed", "The JSON object is not an array")
                items = parsed
            elif kind == "JSONL":
                items = [json.loads(line) for line in text.splitlines() if line.strip()]
            elif kind == "CSV":
                rows = list(csv.reader(io.StringIO(text)))
                if reader.csv_header_location == "GIVEN":
                    headers = list(reader.csv_headers)
                else:
                    headers, rows = (rows[0], rows[1:]) if rows else ([], [])
                items = [dict(zip(headers, row, strict=False)) for row in rows if row]
            else:
                raise StatesError("States.ItemReaderFailed", f"InputType {kind} is not supported")
        except ValueError as exc:
            raise StatesError(
                "States.ItemReaderFailed", f"Cannot read {kind} items: {exc}"
            ) from None
    if reader.max_items is not None:
        items = items[: reader.max_items]
    return items


def batch(items: list[Json], max_items: int | None, max_bytes: int | None,
          batch_input: Json) -> list[Json]:  # fmt: skip
    """``{"Items": [...], "BatchInput": ...}`` per batch, each within both limits."""
    out: list[Json] = []
    current: list[Json] = []
    size = 0
    for item in items:
        item_bytes = len(json.dumps(item, separators=(",", ":")).encode()) + 1
        full = (max_items is not None and len(current) >= max_items) or (
            max_bytes is not None and current and size + item_bytes > max_bytes
        )
        if full:
            out.append(current)
            current, size = [], 0
        current.append(item)
        size += item_bytes
    if current:
        out.append(current)
    batches: list[Json] = []
    for group in out:
        entry: dict[str, Json] = {"Items": group}
        if batch_input is not None:
            entry["BatchInput"] = batch_input
        batches.append(entry)
    return batches


def result_files(prefix: str, run_id: str, map_run_arn: str, inputs: list[Json],
                 outcomes: list[tuple[bool, Json]]) -> dict[str, Json]:  # fmt: skip
    """Key → JSON document, for what ``ResultWriter`` stores."""
    base = f"{prefix.rstrip('/')}/{run_id}" if prefix else run_id
    succeeded, failed = [], []
    for item_input, (ok, value) in zip(inputs, outcomes, strict=True):
        record = {"Input": json.dumps(item_input), "Status": "SUCCEEDED" if ok else "FAILED"}
        if ok:
            record["Output"] = json.dumps(value)
            succeeded.append(record)
        else:
            record.update(value)
            failed.append(record)
    files: dict[str, Json] = {}
    results: list[dict[str, Any]] = []
    for name, records in (("SUCCEEDED_0.json", succeeded), ("FAILED_0.json", failed)):
        if records:
            files[f"{base}/{name}"] = records
            results.append({"Key": f"{base}/{name}", "Size": len(records)})
    files[f"{base}/manifest.json"] = {
        "DestinationBucket": None,  # filled in by the writer, which knows the bucket
        "MapRunArn": map_run_arn,
        "ResultFiles": {
            "SUCCEEDED": [r for r in results if str(r["Key"]).endswith("SUCCEEDED_0.json")],
            "FAILED": [r for r in results if str(r["Key"]).endswith("FAILED_0.json")],
            "PENDING": [],
        },
    }
    return files
