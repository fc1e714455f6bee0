"""REPORT lines of environments restored from a zygote (SnapStart), text and JSON."""

from __future__ import annotations

import json

from lamina.logs.lines import Restore, report_json, report_line
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
