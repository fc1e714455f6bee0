"""REPORT lines of environments restored from a zygote (SnapStart), text and JSON."""

from __future__ import annotations

import json

from lamina.logs.lines import (
    Restore,
    platform_json,
    report_json,
    report_line,
    restore_report_line,
    restore_report_record,
    restore_start_line,
    restore_start_record,
)
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvocationRecord, Outcome


def record(init_ms: float | None = None) -> InvocationRecord:
    return InvocationRecord(
        "id-1", "f", "$LATEST", 0.0, 1.38, 4, 512, 73, init_ms, "x86_64", Outcome.SUCCESS
    )


def test_restored_report_line_has_restore_and_billed_restore_duration() -> None:
    line = report_line(record(), Restore(5.123, 2))
    assert line == (
        "REPORT RequestId: id-1\tDuration: 1.38 ms\tBilled Duration: 4 ms\tMemory Size: 512 MB\t"
        "Max Memory Used: 73 MB\tRestore Duration: 5.12 ms\tBilled Restore Duration: 2 ms\t"
    )
    assert "Init Duration" not in line


def test_plain_report_line_is_unchanged_without_a_restore() -> None:
    assert "Restore" not in report_line(record(12.5))
    assert "Init Duration: 12.50 ms" in report_line(record(12.5))


def test_json_report_carries_restore_metrics() -> None:
    metrics = json.loads(report_json(record(), now=0.0, restore=Restore(5.1234, 2)))["record"][
        "metrics"
    ]
    assert metrics["restoreDurationMs"] == 5.123
    assert metrics["billedRestoreDurationMs"] == 2
    assert "initDurationMs" not in metrics


def test_restore_start_line_is_lambdas() -> None:
    arn = "arn:aws:lambda:us-east-1::runtime:" + "ab" * 32
    assert restore_start_line("python:3.12.v7", arn) == (
        f"RESTORE_START Runtime Version: python:3.12.v7\tRuntime Version ARN: {arn}"
    )


def test_restore_report_line_says_status_only_when_the_restore_failed() -> None:
    assert restore_report_line(511.254, "success") == "RESTORE_REPORT Restore Duration: 511.25 ms"
    assert restore_report_line(1236.04, "timeout") == (
        "RESTORE_REPORT Restore Duration: 1236.04 ms\tStatus: timeout"
    )
    assert restore_report_line(1236.04, "error", "Runtime.ExitError") == (
        "RESTORE_REPORT Restore Duration: 1236.04 ms\tStatus: error\tError Type: Runtime.ExitError"
    )


def test_restore_records_in_the_json_log_format() -> None:
    cfg = FunctionConfig("f", "python3.12", "app.handler", "0" * 64, 1, version="3")
    start = json.loads(
        platform_json("platform.restoreStart", restore_start_record(cfg, "python:3.12.v7", "A"), 0)
    )
    assert start == {
        "time": "1970-01-01T00:00:00.000Z",
        "type": "platform.restoreStart",
        "record": {
            "runtimeVersion": "python:3.12.v7",
            "runtimeVersionArn": "A",
            "functionName": "f",
            "functionVersion": "3",
        },
    }
    assert restore_report_record(5.12345, "success") == {
        "status": "success",
        "metrics": {"durationMs": 5.123},
    }
    assert restore_report_record(9.0, "error", "Runtime.ExitError") == {
        "status": "error",
        "metrics": {"durationMs": 9.0},
        "errorType": "Runtime.ExitError",
    }
