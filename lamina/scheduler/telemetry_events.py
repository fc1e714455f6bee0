"""The platform's Telemetry API events (schema 2022-12-13), built from what the scheduler
knows at each step and sent to the environment's subscribers (none: nothing is built)."""

from __future__ import annotations

from lamina.logs import lines
from lamina.models.invocation import InvocationRecord
from lamina.runtimes.version import RuntimeVersion
from lamina.scheduler.environment import Environment
from lamina.scheduler.outcome import InitFailed, InitOutcome
from lamina.scheduler.spans import InvokeTrace, Span, TraceSource, parent_span_id


def init_start(env: Environment, version: RuntimeVersion) -> None:
    """A cold start (each attempt) begins: Lambda's ``INIT_START`` line, first in the
    environment's log stream (JSON in the JSON log format; not in the invoke's
    ``LogType=Tail``, which is the invoke's own log), and ``platform.initStart``."""
    record = lines.init_start_record(env.cfg, version.name, version.arn, env.slot.init_type)
    env.log_platform(
        lines.init_start_line(version.name, version.arn),
        "platform.initStart",
        dict(record),
        tail=False,
    )
    telemetry = env.channel.telemetry
    if telemetry.active:
        telemetry.emit("platform", "platform.initStart", dict(record))


def restore_start(env: Environment, version: RuntimeVersion) -> None:
    """An environment restored from its version's snapshot (forked from the zygote) begins:
    Lambda's ``RESTORE_START`` line in place of ``INIT_START`` (JSON in the JSON log format;
    not in ``LogType=Tail``), and ``platform.restoreStart``."""
    record = lines.restore_start_record(env.cfg, version.name, version.arn)
    env.log_platform(
        lines.restore_start_line(version.name, version.arn),
        "platform.restoreStart",
        dict(record),
        tail=False,
    )
    telemetry = env.channel.telemetry
    if telemetry.active:
        telemetry.emit("platform", "platform.restoreStart", dict(record))


def restore_done(env: Environment, outcome: InitOutcome) -> None:
    """The restore ended: ``RESTORE_REPORT`` (its duration, and its status and error type
    when it failed), ``platform.restoreRuntimeDone`` and ``platform.restoreReport``."""
    if isinstance(outcome, InitFailed):
        status = "timeout" if outcome.timed_out else "error"
        error_type: str | None = outcome.error.error_type
        restore_ms = outcome.init_ms
    else:
        status, error_type = "success", None
        restore_ms = outcome.restore.duration_ms if outcome.restore is not None else 0.0
    record = lines.restore_report_record(restore_ms, status, error_type)
    env.log_platform(
        lines.restore_report_line(restore_ms, status, error_type),
        "platform.restoreReport",
        record,
        tail=False,
    )
    telemetry = env.channel.telemetry
    if telemetry.active:
        done: dict[str, object] = {"status": status}
        if error_type:
            done["errorType"] = error_type
        telemetry.emit("platform", "platform.restoreRuntimeDone", done)
        telemetry.emit("platform", "platform.restoreReport", record)


def init_done(env: Environment, outcome: InitOutcome) -> None:
    """``platform.initRuntimeDone`` and ``platform.initReport``: to Telemetry API
    subscribers, and in the JSON log format to the log stream after a successful INIT
    (at DEBUG: SystemLogLevel=DEBUG shows them; the Text format has no line for it, and a
    failed INIT's report is written with the failed invoke's lines)."""
    telemetry = env.channel.telemetry
    logged = env.cfg.log_format == "JSON" and not isinstance(outcome, InitFailed)
    if not telemetry.active and not logged:
        return
    if isinstance(outcome, InitFailed):
        status = "timeout" if outcome.timed_out else "error"
        init_ms = outcome.init_ms
        extra = {"errorType": outcome.error.error_type}
    else:
        status, init_ms, extra = "success", outcome.init_ms or 0.0, {}
    base = {"initializationType": env.slot.init_type, "phase": "init", "status": status, **extra}
    report = {**base, "metrics": {"durationMs": round(init_ms, 3)}}
    if logged:
        env.log_platform(None, "platform.initRuntimeDone", dict(base), tail=False)
        env.log_platform(None, "platform.initReport", dict(report), tail=False)
    if telemetry.active:
        telemetry.emit("platform", "platform.initRuntimeDone", base)
        telemetry.emit("platform", "platform.initReport", report)


def extensions_ready(env: Environment) -> None:
    """INIT is done: one ``EXTENSION`` log line and one ``platform.extension`` event per
    registered extension (``State: Ready`` and the events it registered for), as Lambda
    writes them between ``INIT_START`` and the first ``START``."""
    registered = list(env.channel.extensions.by_id.values())
    if not registered:
        return
    telemetry = env.channel.telemetry
    for ext in registered:
        env.log_platform(
            lines.extension_line(ext.name, "Ready", ext.events),
            "platform.extension",
            lines.extension_record(ext.name, "Ready", ext.events),
        )
        if telemetry.active:
            telemetry.emit(
                "platform",
                "platform.extension",
                {"name": ext.name, "state": "Ready", "events": sorted(ext.events)},
            )


def start(env: Environment, request_id: str, trace_id: str) -> None:
    """``platform.start``, its tracing context made from ``trace_id`` (the X-Ray header)."""
    telemetry = env.channel.telemetry
    if telemetry.active:
        tracing = InvokeTrace(trace_id, parent_span_id(trace_id)).tracing()
        telemetry.emit(
            "platform",
            "platform.start",
            {
                "requestId": request_id,
                "version": env.cfg.version,
                "tracing": tracing,
            },
        )


def invoke_done(
    env: Environment,
    rec: InvocationRecord,
    produced_bytes: int,
    runtime_ms: float | None,
    trace: TraceSource | None,
    *,
    reusable: bool = False,
) -> None:
    """``platform.runtimeDone`` (the runtime's time) and ``platform.report`` (the invoke
    phase's, extensions' included) of one invocation, with its tracing context and the
    response's spans (``trace``; None when unknown).

    As on Lambda, runtimeDone comes when the runtime asks for its next event, with a
    ``runtimeOverhead`` span from its answer to that ``/next``: a reusable environment's
    events wait for it (or for the environment's end); others are sent now."""
    telemetry = env.channel.telemetry
    if not telemetry.active:
        return
    built = trace.trace() if trace is not None else None
    answered = _answered_at(built)
    channel = env.channel

    def send(next_at: float | None) -> None:
        overhead: tuple[Span, ...] = ()
        if answered is not None and next_at is not None and next_at >= answered:
            overhead = (Span("runtimeOverhead", answered, (next_at - answered) * 1000),)
        _runtime_done(env, rec, produced_bytes, runtime_ms, built, overhead)

    if not reusable or answered is None:
        send(None)
    elif channel.last_next_at >= answered:  # it asked already (extensions held the end)
        send(channel.last_next_at)
    else:
        channel.settle_next()  # an earlier invoke's, never settled: send it first
        channel.on_next = send


def _answered_at(trace: InvokeTrace | None) -> float | None:
    """When the response ended (epoch s): the end of its responseDuration span."""
    for span in trace.spans if trace is not None else ():
        if span.name == "responseDuration":
            return span.start + span.duration_ms / 1000
    return None


def _runtime_done(
    env: Environment,
    rec: InvocationRecord,
    produced_bytes: int,
    runtime_ms: float | None,
    trace: InvokeTrace | None,
    overhead: tuple[Span, ...],
) -> None:
    telemetry = env.channel.telemetry
    status = str(rec.outcome)
    duration = round(rec.duration_ms, 3)
    runtime = round(rec.duration_ms if runtime_ms is None else runtime_ms, 3)
    telemetry.emit(
        "platform",
        "platform.runtimeDone",
        {
            "requestId": rec.request_id,
            "status": status,
            "metrics": {"durationMs": runtime, "producedBytes": produced_bytes},
            **_traced(trace, overhead),
        },
    )
    metrics: dict[str, float | int] = {
        "durationMs": duration,
        "billedDurationMs": rec.billed_ms,
        "memorySizeMB": rec.memory_mb,
        "maxMemoryUsedMB": rec.max_memory_used_mb,
    }
    if rec.init_ms is not None:
        metrics["initDurationMs"] = round(rec.init_ms, 3)
    telemetry.emit(
        "platform",
        "platform.report",
        {"requestId": rec.request_id, "status": status, "metrics": metrics, **_traced(trace)},
    )


def _traced(trace: InvokeTrace | None, extra: tuple[Span, ...] = ()) -> dict[str, object]:
    """A record's ``tracing`` and ``spans`` fields (``extra``: spans after the response's)."""
    if trace is None:
        return {}
    return {
        "tracing": trace.tracing(),
        "spans": [*trace.spans_json(), *(s.to_json() for s in extra)],
    }
