"""The platform's log lines, exactly as Lambda writes them (pure formatting)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvocationRecord


def log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def function_log_group(cfg: FunctionConfig) -> str:
    """Where ``cfg`` logs: its LoggingConfig.LogGroup, else ``/aws/lambda/<name>``."""
    return cfg.log_group or log_group(cfg.name)


def log_stream(version: str, now: float | None = None, node: str = "") -> str:
    """``YYYY/MM/DD/[<version>]<32 hex>``, one per execution environment.

    On a cluster node (``node``: its id) the node comes first, ``[<version>]<node>.<32 hex>``:
    Lambda's REPORT line has no field for it, and a stream is one environment's, which
    lives on one node; a stream-name prefix then lists one node's environments."""
    day = time.strftime("%Y/%m/%d", time.gmtime(time.time() if now is None else now))
    if node:
        return f"{day}/[{version}]{node}.{secrets.token_hex(16)}"
    return f"{day}/[{version}]{secrets.token_hex(16)}"


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


# A cold start's ``initializationType`` (``provisioned-concurrency`` for the environments
# of a provisioned concurrency configuration: lamina.scheduler.provisioned).
INIT_TYPE = "on-demand"


def init_start_line(runtime_version: str, runtime_version_arn: str) -> str:
    """Lambda's ``INIT_START`` line, the first of each cold start (before ``START``)."""
    return (
        f"INIT_START Runtime Version: {runtime_version}\tRuntime Version ARN: {runtime_version_arn}"
    )


def init_start_record(
    cfg: FunctionConfig, runtime_version: str, arn: str, init_type: str = INIT_TYPE
) -> dict[str, str]:
    """The ``platform.initStart`` record (Telemetry API and the JSON log format alike)."""
    return {
        "initializationType": init_type,
        "phase": "init",
        "runtimeVersion": runtime_version,
        "runtimeVersionArn": arn,
        "functionName": cfg.name,
        "functionVersion": cfg.version,
    }


def init_start_json(record: dict[str, str], now: float | None = None) -> str:
    """``INIT_START`` in Lambda's JSON log format: the ``platform.initStart`` record."""
    return platform_json("platform.initStart", record, now)


def platform_json(kind: str, record: Mapping[str, object], now: float | None = None) -> str:
    """One platform event in Lambda's JSON log format: ``{"time","type","record"}``."""
    return json.dumps(
        {"time": _stamp(time.time() if now is None else now), "type": kind, "record": record},
        separators=(",", ":"),
    )


def restore_start_line(runtime_version: str, runtime_version_arn: str) -> str:
    """Lambda's ``RESTORE_START`` line: an environment restored from its version's snapshot
    (Lamina: forked from the zygote) begins, in place of a cold start's ``INIT_START``."""
    return (
        f"RESTORE_START Runtime Version: {runtime_version}"
        f"\tRuntime Version ARN: {runtime_version_arn}"
    )


def restore_start_record(cfg: FunctionConfig, runtime_version: str, arn: str) -> dict[str, str]:
    """The ``platform.restoreStart`` record (Telemetry API and the JSON log format alike)."""
    return {
        "runtimeVersion": runtime_version,
        "runtimeVersionArn": arn,
        "functionName": cfg.name,
        "functionVersion": cfg.version,
    }


def restore_report_line(restore_ms: float, status: str, error_type: str | None = None) -> str:
    """Lambda's ``RESTORE_REPORT`` line, after a restore, before the invoke's ``START``:
    ``RESTORE_REPORT Restore Duration: 511.25 ms`` when it worked; a failed one adds
    ``Status: timeout`` or ``Status: error`` and its ``Error Type``."""
    line = f"RESTORE_REPORT Restore Duration: {restore_ms:.2f} ms"
    if status != "success":
        line += f"\tStatus: {status}"
        if error_type:
            line += f"\tError Type: {error_type}"
    return line


def restore_report_record(
    restore_ms: float, status: str, error_type: str | None = None
) -> dict[str, object]:
    """The ``platform.restoreReport`` record (Telemetry API and the JSON log format alike)."""
    record: dict[str, object] = {"status": status, "metrics": {"durationMs": round(restore_ms, 3)}}
    if error_type:
        record["errorType"] = error_type
    return record


def start_record(request_id: str, version: str) -> dict[str, object]:
    """``platform.start`` as the JSON log format writes it (``START``'s counterpart)."""
    return {"requestId": request_id, "version": version}


def runtime_done_record(
    request_id: str, status: str, duration_ms: float, produced_bytes: int
) -> dict[str, object]:
    """``platform.runtimeDone`` in the JSON log format: the runtime is done with the event
    (the JSON format's nearest to ``END``, at DEBUG when it succeeded)."""
    return {
        "requestId": request_id,
        "status": status,
        "metrics": {"durationMs": round(duration_ms, 3), "producedBytes": produced_bytes},
    }


def init_report_record(
    init_ms: float, status: str, error_type: str | None = None, init_type: str = INIT_TYPE
) -> dict[str, object]:
    """``platform.initReport`` (``INIT_REPORT``'s counterpart in the JSON log format);
    ``init_type``: ``snap-start`` for a zygote's INIT (the snapshot's, as SnapStart's)."""
    record: dict[str, object] = {"initializationType": init_type, "phase": "init", "status": status}
    if error_type:
        record["errorType"] = error_type
    record["metrics"] = {"durationMs": round(init_ms, 3)}
    return record


def extension_record(name: str, state: str, events: Iterable[str] = ()) -> dict[str, object]:
    """``platform.extension`` (``EXTENSION``'s counterpart in the JSON log format)."""
    return {"name": name, "state": state, "events": sorted(events)}


def _stamp(t: float) -> str:
    """An event's ``time`` in the JSON log format: ``2024-01-02T03:04:05.678Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def init_report_line(init_ms: float, status: str, error_type: str | None = None) -> str:
    """Lambda's ``INIT_REPORT`` line: written when INIT failed or timed out, and by a zygote
    (whose INIT runs apart from any invoke). ``status`` is ``success``, ``error`` or
    ``timeout``."""
    line = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: {status}"
    if error_type:
        line += f"\tError Type: {error_type}"
    return line


def extension_line(name: str, state: str, events: Iterable[str]) -> str:
    """Lambda's ``EXTENSION`` line, one per registered extension once INIT is done (as in
    CloudWatch: ``EXTENSION\tName: x\tState: Ready\tEvents: [INVOKE,SHUTDOWN]``)."""
    return f"EXTENSION\tName: {name}\tState: {state}\tEvents: [{','.join(sorted(events))}]"


@dataclass(frozen=True, slots=True)
class Restore:
    """A SnapStart-style cold start: the environment was restored (forked) from a zygote.

    ``duration_ms`` is Lambda's ``Restore Duration`` (the whole restore, the platform's part
    included); ``billed_ms`` its ``Billed Restore Duration`` (loading the runtime and the
    after-restore hooks, rounded up to the millisecond).
    """

    duration_ms: float
    billed_ms: int


def report_line(rec: InvocationRecord, restore: Restore | None = None) -> str:
    line = (
        f"REPORT RequestId: {rec.request_id}\tDuration: {rec.duration_ms:.2f} ms\t"
        f"Billed Duration: {rec.billed_ms} ms\tMemory Size: {rec.memory_mb} MB\t"
        f"Max Memory Used: {rec.max_memory_used_mb} MB\t"
    )
    if rec.init_ms is not None:
        line += f"Init Duration: {rec.init_ms:.2f} ms\t"
    if restore is not None:
        line += (
            f"Restore Duration: {restore.duration_ms:.2f} ms\t"
            f"Billed Restore Duration: {restore.billed_ms} ms\t"
        )
    return line


def timeout_line(request_id: str, timeout_s: float, now: float | None = None) -> str:
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() if now is None else now))
    return f"{ts}Z {request_id} Task timed out after {timeout_s:.2f} seconds"


def report_json(
    rec: InvocationRecord, now: float | None = None, restore: Restore | None = None
) -> str:
    """The ``platform.report`` record of Lambda's JSON log format."""
    return platform_json("platform.report", report_record(rec, restore), now)


def report_record(rec: InvocationRecord, restore: Restore | None = None) -> dict[str, object]:
    metrics: dict[str, float | int] = {
        "durationMs": round(rec.duration_ms, 3),
        "billedDurationMs": rec.billed_ms,
        "memorySizeMB": rec.memory_mb,
        "maxMemoryUsedMB": rec.max_memory_used_mb,
    }
    if rec.init_ms is not None:
        metrics["initDurationMs"] = round(rec.init_ms, 3)
    if restore is not None:
        metrics["restoreDurationMs"] = round(restore.duration_ms, 3)
        metrics["billedRestoreDurationMs"] = restore.billed_ms
    return {"requestId": rec.request_id, "metrics": metrics, "status": rec.outcome.value}
