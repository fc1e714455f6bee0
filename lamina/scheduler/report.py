"""The platform's lines of one invocation and its meter record.

``START`` is written when the event is delivered (the function's own lines follow it);
everything after is ONE step, :meth:`Reporter.after_invoke` (or
:meth:`Reporter.after_failed_init` when INIT failed): the outcome's own lines, ``END``,
the :class:`InvocationRecord` (to the ledger's buffer) and ``REPORT`` made from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lamina.billing.meter import billed_duration_ms
from lamina.logs import lines
from lamina.models.function import LATEST, FunctionConfig
from lamina.models.invocation import InvocationRecord, Outcome
from lamina.scheduler import telemetry_events
from lamina.scheduler.environment import Environment
from lamina.scheduler.outcome import ExtensionFailed, InitFailed, InvokeOutcome, Ready
from lamina.scheduler.spans import TraceSource

RecordSink = Callable[[InvocationRecord], None]


def invocation_record(
    cfg: FunctionConfig,
    request_id: str,
    *,
    duration_ms: float,
    init_ms: float | None,
    outcome: Outcome,
    started_at: float,
    max_memory_mb: int,
    restore: lines.Restore | None = None,
    trace_header: str | None = None,
    trigger: str = "other",
    provisioned: bool = False,
    spillover: bool = False,
    provisioned_concurrency: int = 0,
    provisioned_busy: int = 0,
) -> InvocationRecord:
    """Meter one invocation (pure). A restored environment is billed its Billed Restore
    Duration on top of the duration, as SnapStart is (INIT was billed once, by the invoke
    that made the zygote)."""
    billed_ms = billed_duration_ms(
        duration_ms, init_ms if restore is None else float(restore.billed_ms)
    )
    # Lamina restores $LATEST from a zygote too, for speed; Lambda's SnapStart (and its
    # restore fee) is for published versions only.
    restored = restore is not None and cfg.snap_start and cfg.version != LATEST
    # Positional, in the model's field order (tests/scheduler/test_report.py pins each
    # field): this runs on every invoke, and keywords cost a frozen dataclass ~1 µs more.
    return InvocationRecord(
        request_id,
        cfg.name,
        cfg.version,
        started_at,
        duration_ms,
        billed_ms,
        cfg.memory_mb,
        max_memory_mb,
        init_ms,
        cfg.architecture,
        outcome,
        cfg.ephemeral_mb,
        restored,
        trace_header,
        None,  # node: the control plane stamps it (lamina.cluster)
        trigger,
        provisioned,
        spillover,
        provisioned_concurrency,
        provisioned_busy,
    )


def write_start(env: Environment, request_id: str) -> None:
    version = env.cfg.version
    if env.cfg.log_format == "Text":  # the hot path: no record built
        env.log(lines.start_line(request_id, version))
    else:
        env.log_platform(None, "platform.start", lines.start_record(request_id, version))


def outcome_lines(env: Environment, outcome: InvokeOutcome) -> tuple[str, ...]:
    """The outcome's own lines (a timeout's, a crash's) in the function's log format: an
    extension's crash is a ``platform.extension`` record in JSON (WARN: never filtered);
    the others have no record and stay text."""
    if isinstance(outcome, ExtensionFailed) and env.cfg.log_format == "JSON":
        record = lines.extension_record(outcome.name, outcome.state)
        line = env.platform_line(None, "platform.extension", record)
        return () if line is None else (line,)
    return outcome.log_lines(time.time())


def closing_lines(
    env: Environment,
    rec: InvocationRecord,
    restore: lines.Restore | None,
    produced_bytes: int,
    runtime_ms: float | None,
) -> str | None:
    """END and REPORT as one message (the Text format); in the JSON format
    ``platform.runtimeDone`` (no END: Lambda writes none) and ``platform.report``, each
    if SystemLogLevel lets it through (None: neither)."""
    if env.cfg.log_format == "Text":
        return f"{lines.end_line(rec.request_id)}\n{lines.report_line(rec, restore)}"
    status = rec.outcome.value
    done = lines.runtime_done_record(
        rec.request_id,
        status,
        rec.duration_ms if runtime_ms is None else runtime_ms,
        produced_bytes,
    )
    kept = [
        line
        for line in (
            env.platform_line(None, "platform.runtimeDone", done),
            env.platform_line(None, "platform.report", lines.report_record(rec, restore)),
        )
        if line is not None
    ]
    return "\n".join(kept) if kept else None


class Reporter:
    """Writes the platform's lines after each invocation and sends its record on."""

    def __init__(self, record: RecordSink) -> None:
        self._record = record

    def after_invoke(
        self,
        env: Environment,
        request_id: str,
        outcome: InvokeOutcome,
        *,
        duration_ms: float,
        started_at: float,
        ready: Ready | None,
        streamed_bytes: int | None = None,
        runtime_ms: float | None = None,
        trace: TraceSource | None = None,
        max_memory_mb: int | None = None,
    ) -> InvocationRecord:
        """``ready`` is how INIT ended when this invoke made the environment (None: warm);
        ``streamed_bytes``: what a streamed response carried (its payload is empty);
        ``runtime_ms``: the runtime's part of ``duration_ms`` when extensions worked on;
        ``max_memory_mb``: read already, the runtime's lines drained before (by
        :meth:`AfterInvoke.read`): the environment's next event may be running, so its
        lines are not drained here (the loop reads them in a later callback)."""
        drain = max_memory_mb is None
        if drain:
            env.drain_output()
        extra = outcome_lines(env, outcome)
        if extra:
            for line in extra:
                env.log(line)
            if drain:
                env.drain_output()
        restore = ready.restore if ready is not None else None
        rec = invocation_record(
            env.cfg,
            request_id,
            duration_ms=duration_ms,
            init_ms=ready.init_ms if ready is not None else None,
            outcome=outcome.status,
            started_at=started_at,
            max_memory_mb=env.max_memory_mb() if max_memory_mb is None else max_memory_mb,
            restore=restore,
            trace_header=trace.trace_id if trace is not None else None,
            trigger=trace.trigger if trace is not None else "other",
            provisioned=env.slot.provisioned is not None,
            spillover=env.spillover,
            provisioned_concurrency=env.provisioned_concurrency,
            provisioned_busy=env.provisioned_busy,
        )
        self._record(rec)
        produced = streamed_bytes or len(outcome.payload)
        # END and REPORT in one append: the log store makes them two events (it splits at
        # newlines) with one timestamp, and the tail reads the same bytes.
        closing = closing_lines(env, rec, restore, produced, runtime_ms)
        if closing is not None:
            env.log(closing)
        telemetry_events.invoke_done(
            env, rec, produced, runtime_ms, trace, reusable=outcome.reusable
        )
        return rec

    async def after_extensions(
        self,
        env: Environment,
        request_id: str,
        outcome: InvokeOutcome,
        *,
        runtime_ms: float,
        runtime_done_at: float,
        started_at: float,
        ready: Ready | None,
        streamed_bytes: int | None = None,
        trace: TraceSource | None = None,
    ) -> None:
        """The invoke phase ends when every extension is done with the event, as on
        Lambda: END, REPORT and the bill then count that post-runtime extension time
        (the caller had its answer when the runtime gave it). A server that stops ends
        the phase at once (:meth:`Environment.cut_invoke_phase`): it is reported as of then."""
        await env.invoke_phase_ends()
        extension_ms = (time.perf_counter() - runtime_done_at) * 1000
        self.after_invoke(
            env,
            request_id,
            outcome,
            duration_ms=runtime_ms + extension_ms,
            started_at=started_at,
            ready=ready,
            streamed_bytes=streamed_bytes,
            runtime_ms=runtime_ms,
            trace=trace,
        )

    def after_failed_init(
        self, env: Environment, request_id: str, failed: InitFailed, trigger: str = "other"
    ) -> InvocationRecord:
        env.drain_output()
        status = "timeout" if failed.timed_out else "error"
        error_type = failed.error.error_type
        env.log_platform(
            lines.init_report_line(failed.init_ms, status, error_type),
            "platform.initReport",
            lines.init_report_record(failed.init_ms, status, error_type),
        )
        write_start(env, request_id)
        if env.cfg.log_format == "Text":
            env.log(lines.end_line(request_id))
        rec = invocation_record(
            env.cfg,
            request_id,
            duration_ms=0.0,
            init_ms=failed.init_ms,
            outcome=failed.status,
            started_at=time.time(),
            max_memory_mb=env.max_memory_mb(),
            trigger=trigger,
        )
        self._record(rec)
        env.log_platform(lines.report_line(rec), "platform.report", lines.report_record(rec))
        return rec


class AfterInvoke:
    """One invoke's after-invoke step (:meth:`Reporter.after_invoke`), in two parts.

    :meth:`read` is what must come before the environment's next event: the runtime's
    lines drained (they are this invoke's) and Max Memory Used read (the environment's
    high-water mark: the next event would raise it). Calling the step does the rest — the
    outcome's lines, END, REPORT, the record — and :meth:`read` first if it has not run.
    So a next event that arrives before the loop ran the step waits only for the reading;
    the rest follows once that event is on its way to the runtime (which works
    meanwhile), still before its START (:func:`lamina.scheduler.delivery.deliver`)."""

    __slots__ = (
        "_duration_ms",
        "_env",
        "_memory_mb",
        "_outcome",
        "_ready",
        "_reporter",
        "_request_id",
        "_started_at",
        "_streamed_bytes",
        "_trace",
    )

    def __init__(
        self,
        reporter: Reporter,
        env: Environment,
        request_id: str,
        outcome: InvokeOutcome,
        duration_ms: float,
        started_at: float,
        ready: Ready | None,
        streamed_bytes: int | None,
        trace: TraceSource,
    ) -> None:
        self._reporter, self._env, self._request_id = reporter, env, request_id
        self._outcome, self._duration_ms, self._started_at = outcome, duration_ms, started_at
        self._ready, self._streamed_bytes, self._trace = ready, streamed_bytes, trace
        self._memory_mb: int | None = None

    def read(self) -> None:
        """Drain the runtime's lines and read Max Memory Used (once)."""
        if self._memory_mb is None:
            env = self._env
            env.drain_output()
            self._memory_mb = env.max_memory_mb()

    def __call__(self) -> InvocationRecord:
        return self._reporter.after_invoke(
            self._env,
            self._request_id,
            self._outcome,
            duration_ms=self._duration_ms,
            started_at=self._started_at,
            ready=self._ready,
            streamed_bytes=self._streamed_bytes,
            trace=self._trace,
            max_memory_mb=self._memory_mb,
        )
