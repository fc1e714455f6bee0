"""FunctionConfig JSON round trips, and the RevisionId / LastModified stamps."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from lamina.models.function import FunctionConfig
from lamina.store.codec import config_from_json, config_to_json
from lamina.store.stamps import new_revision_id, now_lambda_timestamp, stamped

FULL = FunctionConfig(
    name="orders-api",
    runtime="python3.12",
    handler="app.handler",
    code_sha256="ab" * 32,
    code_size=1234,
    memory_mb=1769,
    timeout_s=30,
    environment={"TABLE": "orders", "UNICODE": "naïve ✓"},
    ephemeral_mb=1024,
    architecture="arm64",
    description="Orders",
    version="7",
    revision_id="5f0c3a52-1111-4a4a-9d9d-000000000000",
    last_modified="2024-01-01T12:00:00.000+0000",
    log_format="JSON",
)


def test_round_trip_is_exact() -> None:
    assert config_from_json(config_to_json(FULL)) == FULL
    minimal = FunctionConfig("f", "provided.al2023", "bootstrap", "00" * 32, 1)
    assert config_from_json(config_to_json(minimal)) == minimal


def test_unknown_keys_are_ignored_and_missing_ones_default() -> None:
    data = json.loads(config_to_json(FULL))
    data["a_future_field"] = {"ApplyOn": "None"}
    del data["description"]
    decoded = config_from_json(json.dumps(data))
    assert decoded == FULL.with_changes(description="")


@pytest.mark.parametrize(
    ("key", "value"),
    [("memory_mb", "128"), ("memory_mb", True), ("environment", {"A": 1}), ("log_format", "XML")],
)
def test_mistyped_values_are_refused(key: str, value: object) -> None:
    data = json.loads(config_to_json(FULL))
    data[key] = value
    with pytest.raises(ValueError, match=key):
        config_from_json(json.dumps(data))


def test_lambda_timestamp_format() -> None:
    assert now_lambda_timestamp(1_704_110_400.25) == "2024-01-01T12:00:00.250+0000"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", now_lambda_timestamp())


def test_revision_ids_are_fresh_uuid4s() -> None:
    first, second = new_revision_id(), new_revision_id()
    assert first != second
    assert uuid.UUID(first).version == 4


def test_stamped_changes_revision_and_time_only() -> None:
    after = stamped(FULL, now=0.0)
    assert after.last_modified == "1970-01-01T00:00:00.000+0000"
    assert after.revision_id != FULL.revision_id
    assert (
        after.with_changes(revision_id=FULL.revision_id, last_modified=FULL.last_modified) == FULL
    )
