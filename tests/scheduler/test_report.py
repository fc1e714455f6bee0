"""The after-invoke step: the platform's lines, the meter record, the REPORT (no root).

A real environment object (its log store on disk, an unstarted Runtime API channel, no
process) is enough: the step reads no process when there is none.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from lamina.logs import lines
from lamina.logs.lines import function_log_group
from lamina.logs.store import LogStore, group_folder
from lamina.models.function import FunctionConfig
from lamina.models.invocation import FunctionError, InvocationRecord, Outcome
from lamina.runtime_api.channel import RuntimeChannel
from lamina.runtime_api.extensions import Extension
from lamina.scheduler.environment import Environment
from lamina.scheduler.outcome import (
    Answered,
    Exited,
    ExtensionFailed,
    InitFailed,
    InvokeOutcome,
    Ready,
    TimedOut,
)
from lamina.scheduler.pool import EnvSlot, EnvState
from lamina.scheduler.report import Reporter, invocation_record

RID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"


def cfg(log_format: str = "Text", system_level: str = "") -> FunctionConfig:
    return FunctionConfig(
        "fn", "python3.12", "app.handler", "sha", 1, memory_mb=512, timeout_s=3,
        log_format=log_format,  # type: ignore[arg-type]
        system_log_level=system_level,  # type: ignore[arg-type]
    )  # fmt: skip


def after(
    tmp: Path,
    outcome: InvokeOutcome | InitFailed,
    ready: Ready | None = None,
    log_format: str = "Text",
    system_level: str = "",
) -> tuple[list[str], list[InvocationRecord]]:
    """Run the step on a fresh environment; the lines it logged and the records it sent."""
    records: list[InvocationRecord] = []

    async def scenario() -> list[str]:
        slot = EnvSlot("1", "fn", "k", EnvState.BUSY, 0.0, 0.0)
        store = LogStore(tmp)
        env = Environment(slot, cfg(log_format, system_level), RuntimeChannel(), "stream", store)
        env.tail = []
        reporter = Reporter(records.append)
        if isinstance(outcome, InitFailed):
            reporter.after_failed_init(env, RID, outcome)
        else:
            reporter.after_invoke(
                env, RID, outcome, duration_ms=1.234, started_at=100.0, ready=ready
            )
        # The tail (LogType=Tail) and the stored events (CloudWatch Logs) hold the same
        # lines, one event per line, whatever appends made them.
        tail = env.tail_bytes().decode().splitlines()
        events = [event.message for event in store.read(group_folder(function_log_group(env.cfg)))]
        assert events == tail
        return tail

    return asyncio.run(scenario()), records


def test_a_warm_success_logs_end_then_report_and_meters_once(tmp_path: Path) -> None:
    logged, records = after(tmp_path, Answered(b"{}"))
    assert len(records) == 1
    rec = records[0]
    assert (rec.duration_ms, rec.billed_ms, rec.init_ms, rec.outcome) == (
        1.234, 2, None, Outcome.SUCCESS,
    )  # fmt: skip
    assert rec.started_at == 100.0 and rec.memory_mb == 512 and rec.max_memory_used_mb == 0
    assert logged == [lines.end_line(RID), lines.report_line(rec)]


def test_a_cold_start_bills_and_reports_its_init_duration(tmp_path: Path) -> None:
    _, records = after(tmp_path, Answered(b"{}"), ready=Ready(120.5))
    assert records[0].init_ms == 120.5 and records[0].billed_ms == 122


def test_a_restored_start_bills_the_restore_and_reports_it(tmp_path: Path) -> None:
    restore = lines.Restore(4.2, 3)
    logged, records = after(tmp_path, Answered(b"{}"), ready=Ready(None, restore))
    assert records[0].init_ms is None and records[0].billed_ms == 5
    assert "Restore Duration: 4.20 ms\tBilled Restore Duration: 3 ms\t" in logged[-1]


def test_a_timeout_logs_its_line_before_end_and_reports_the_timeout(tmp_path: Path) -> None:
    logged, records = after(tmp_path, TimedOut(RID, 3.0))
    assert logged[0].endswith(f"Z {RID} Task timed out after 3.00 seconds")
    assert logged[1] == lines.end_line(RID)
    assert logged[2].startswith(f"REPORT RequestId: {RID}\t")
    assert records[0].outcome is Outcome.TIMEOUT


def test_in_json_a_timeout_writes_no_end_but_warn_level_runtime_done_and_report(
    tmp_path: Path,
) -> None:
    # WARN, the least detailed SystemLogLevel, still shows a failed invoke's records.
    logged, _ = after(tmp_path, TimedOut(RID, 3.0), log_format="JSON", system_level="WARN")
    assert logged[0].endswith(f"Z {RID} Task timed out after 3.00 seconds")
    done, report_ = (json.loads(line) for line in logged[1:])
    assert done["type"] == "platform.runtimeDone"
    assert done["record"] == {
        "requestId": RID, "status": "timeout",
        "metrics": {"durationMs": 1.234, "producedBytes": len(TimedOut(RID, 3.0).payload)},
    }  # fmt: skip
    assert report_["type"] == "platform.report" and report_["record"]["status"] == "timeout"
    assert not any(line.startswith("END") for line in logged)


def test_in_json_a_success_shows_report_at_info_and_runtime_done_only_at_debug(
    tmp_path: Path,
) -> None:
    at_info, _ = after(tmp_path / "info", Answered(b"{}"), log_format="JSON")
    assert [json.loads(line)["type"] for line in at_info] == ["platform.report"]
    at_debug, _ = after(
        tmp_path / "debug", Answered(b"{}"), log_format="JSON", system_level="DEBUG"
    )
    assert [json.loads(line)["type"] for line in at_debug] == [
        "platform.runtimeDone",
        "platform.report",
    ]
    at_warn, records = after(
        tmp_path / "warn", Answered(b"{}"), log_format="JSON", system_level="WARN"
    )
    assert at_warn == [] and len(records) == 1  # metered all the same


def test_in_json_a_failed_init_writes_init_report_start_and_report_as_records(
    tmp_path: Path,
) -> None:
    failed = InitFailed(FunctionError("Runtime.ImportModuleError", "no"), 42.0)
    logged, _ = after(tmp_path / "info", failed, log_format="JSON")
    init, start, report_ = (json.loads(line) for line in logged)
    assert init["type"] == "platform.initReport"
    assert init["record"] == {
        "initializationType": "on-demand", "phase": "init", "status": "error",
        "errorType": "Runtime.ImportModuleError", "metrics": {"durationMs": 42.0},
    }  # fmt: skip
    assert start == {"time": start["time"], "type": "platform.start",
                     "record": {"requestId": RID, "version": "$LATEST"}}  # fmt: skip
    assert report_["type"] == "platform.report" and report_["record"]["status"] == "error"
    warned, _ = after(tmp_path / "warn", failed, log_format="JSON", system_level="WARN")
    assert [json.loads(line)["type"] for line in warned] == [
        "platform.initReport",
        "platform.report",
    ]


def test_an_exit_logs_the_error_and_its_type_before_end(tmp_path: Path) -> None:
    logged, _ = after(tmp_path, Exited(RID, 137))
    assert logged[:3] == [
        f"RequestId: {RID} Error: Runtime exited with error: signal: killed",
        "Runtime.ExitError",
        lines.end_line(RID),
    ]


def test_a_failed_init_logs_init_report_start_end_report(tmp_path: Path) -> None:
    failed = InitFailed(FunctionError("Runtime.ImportModuleError", "no"), 42.0)
    logged, records = after(tmp_path, failed)
    rec = records[0]
    assert (rec.duration_ms, rec.init_ms, rec.outcome) == (0.0, 42.0, Outcome.ERROR)
    assert logged == [
        "INIT_REPORT Init Duration: 42.00 ms\tPhase: init\tStatus: error"
        "\tError Type: Runtime.ImportModuleError",
        lines.start_line(RID, "$LATEST"),
        lines.end_line(RID),
        lines.report_line(rec),
    ]


def test_a_timed_out_init_reports_status_timeout(tmp_path: Path) -> None:
    failed = InitFailed(FunctionError("Sandbox.Timedout", "late"), 10_000.0, timed_out=True)
    logged, records = after(tmp_path, failed)
    assert "\tStatus: timeout\tError Type: Sandbox.Timedout" in logged[0]
    assert records[0].outcome is Outcome.TIMEOUT


def test_the_record_is_billed_from_the_duration() -> None:
    rec = invocation_record(
        cfg(), RID, duration_ms=0.4, init_ms=None, outcome=Outcome.SUCCESS, started_at=1.0,
        max_memory_mb=70,
    )  # fmt: skip
    assert rec.billed_ms == 1 and rec.max_memory_used_mb == 70 and rec.function_name == "fn"


def test_the_record_holds_each_field_where_the_model_names_it() -> None:
    rec = invocation_record(
        cfg(), RID, duration_ms=2.5, init_ms=80.25, outcome=Outcome.TIMEOUT, started_at=7.0,
        max_memory_mb=70, trace_header="Root=1-5759e988-bd862e3fe1be46a994272793",
    )  # fmt: skip
    assert rec == InvocationRecord(
        request_id=RID, function_name="fn", version="$LATEST", started_at=7.0,
        duration_ms=2.5, billed_ms=83, memory_mb=512, max_memory_used_mb=70, init_ms=80.25,
        architecture="x86_64", outcome=Outcome.TIMEOUT, ephemeral_mb=512, restored=False,
        trace_header="Root=1-5759e988-bd862e3fe1be46a994272793",
    )  # fmt: skip


def _at_work(tmp: Path) -> Environment:
    """An environment one of whose extensions still works on the answered invoke."""
    slot = EnvSlot("1", "fn", "k", EnvState.BUSY, 0.0, 0.0)
    env = Environment(slot, cfg(), RuntimeChannel(), "stream", LogStore(tmp))
    env.channel.extensions.by_id["id"] = Extension("worker", "id", frozenset({"INVOKE"}))
    return env


async def _turns(n: int = 5) -> None:
    """A few turns of the event loop: what is not waiting on anything finishes in them (no
    clock: the extension's wait would end only at the function's timeout)."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_a_cut_invoke_phase_is_reported_at_once_and_as_a_success(tmp_path: Path) -> None:
    # A server that stops does not wait for the extension (up to the 3 s timeout here).
    records: list[InvocationRecord] = []

    async def scenario() -> None:
        env = _at_work(tmp_path)
        done_at = time.perf_counter()
        ending = Reporter(records.append).after_extensions(
            env, RID, Answered(b"{}"), runtime_ms=1.0, runtime_done_at=done_at,
            started_at=100.0, ready=None,
        )  # fmt: skip
        reporting = asyncio.get_running_loop().create_task(ending)
        await _turns()
        assert not reporting.done() and records == []
        env.cut_invoke_phase()
        await _turns()
        assert reporting.done() and reporting.exception() is None
        assert not env.channel.extensions.all_settled()  # they get SHUTDOWN and the grace

    asyncio.run(scenario())
    assert [r.outcome for r in records] == [Outcome.SUCCESS]


def test_a_phase_cut_before_its_report_waits_ends_at_once(tmp_path: Path) -> None:
    # The stop may come before the report's task first runs: the cut is kept.
    async def scenario() -> None:
        env = _at_work(tmp_path)
        env.cut_invoke_phase()
        ending = asyncio.get_running_loop().create_task(env.invoke_phase_ends())
        await _turns()
        assert ending.done()

    asyncio.run(scenario())


def test_an_extension_crash_is_a_warn_level_extension_record_in_json(tmp_path: Path) -> None:
    crashed = ExtensionFailed(RID, "telemetry-agent")
    text, _ = after(tmp_path / "text", crashed)
    assert text[0] == "EXTENSION\tName: telemetry-agent\tState: Crashed"
    logged, _ = after(tmp_path / "json", crashed, log_format="JSON", system_level="WARN")
    record = json.loads(logged[0])
    assert record["type"] == "platform.extension"
    assert record["record"] == {"name": "telemetry-agent", "state": "Crashed", "events": []}
    assert [json.loads(line)["type"] for line in logged[1:]] == [
        "platform.runtimeDone",
        "platform.report",
    ]
