"""A rule target's ``SqsParameters`` in RuleOperations and RuleStore (no server): refused
without a group on a FIFO queue, kept with one across a reopened store, and added to an
older store's targets table."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from lamina.errors import AwsServiceError
from lamina.services.eventbridge.operations import RuleOperations
from lamina.services.eventbridge.rules import RuleStore

REGION, ACCOUNT = "us-east-1", "000000000000"
FIFO = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs.fifo"


def test_a_group_is_required_on_a_fifo_queue_and_kept(tmp_path: Path) -> None:
    store = RuleStore(tmp_path / "schedules.db")
    ops = RuleOperations(store, REGION, ACCOUNT, clock=lambda: 1_700_000_000.0)
    ops.put_rule({"Name": "r", "EventPattern": '{"source": ["a"]}'})
    with pytest.raises(AwsServiceError) as err:
        ops.put_targets({"Rule": "r", "Targets": [{"Id": "t", "Arn": FIFO}]})
    assert (err.value.code, err.value.message) == (
        "ValidationException",
        "Parameter(s) SqsParameters must be specified for target: t.",
    )
    for bad in ({}, {"MessageGroupId": ""}, {"MessageGroupId": "x" * 129}, "g"):
        with pytest.raises(AwsServiceError):
            ops.put_targets(
                {"Rule": "r", "Targets": [{"Id": "t", "Arn": FIFO, "SqsParameters": bad}]}
            )
    ops.put_targets(
        {
            "Rule": "r",
            "Targets": [{"Id": "t", "Arn": FIFO, "SqsParameters": {"MessageGroupId": "g"}}],
        }
    )
    store.close()
    again = RuleStore(tmp_path / "schedules.db")
    try:
        (target,) = again.rules["r"].targets
        assert target.message_group_id == "g"
    finally:
        again.close()


def test_an_older_targets_table_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "schedules.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "CREATE TABLE targets (rule TEXT NOT NULL, id TEXT NOT NULL, arn TEXT NOT NULL, "
            "input TEXT, input_path TEXT, PRIMARY KEY (rule, id))"
        )
        conn.commit()
    store = RuleStore(path)
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(targets)")}
    assert "message_group_id" in columns
