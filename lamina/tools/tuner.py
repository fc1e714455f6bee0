"""Power tuning, the driver: set each memory size, invoke, measure, recommend, restore.

For every size the tuner sets ``MemorySize`` with UpdateFunctionConfiguration — which, on
Lambda and on Lamina, retires the warm environments of the old configuration — and then:

* **warm runs** (default) send ``parallel`` warm-up invokes first (cold starts: their
  Init Duration is kept, their durations are not), then N measured invokes; an invoke
  that still turns out cold is left out and counted;
* **cold runs** (``cold=True``) force every measured invoke to be a cold start by changing
  an environment variable (``LAMINA_TUNE_COLD``) before each batch, as a deploy would.

Invokes go one at a time, or ``parallel`` at a time from a thread pool. The function is
restored by :class:`~lamina.tools.preserve.Preserved` whatever happens, including Ctrl-C;
with ``apply=True`` it is left at the recommended size instead.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lamina.billing.prices import PriceTable
from lamina.client.http import ClientError
from lamina.client.lambda_api import InvokeOutcome, LambdaClient
from lamina.errors import InvalidParameterValue
from lamina.tools.payloads import WeightedPayload, schedule
from lamina.tools.preserve import Preserved, RestoreReport
from lamina.tools.progress import Progress
from lamina.tools.tuning import (
    DEFAULT_SIZES,
    Sample,
    SizeResult,
    Strategy,
    check_sizes,
    recommend,
    summarize,
)

COLD_VARIABLE = "LAMINA_TUNE_COLD"


@dataclass(frozen=True, slots=True)
class TunePlan:
    """What to measure and how."""

    function: str
    sizes: tuple[int, ...] = DEFAULT_SIZES
    invocations: int = 10
    parallel: int = 1
    payloads: tuple[WeightedPayload, ...] = (WeightedPayload(b"{}"),)
    discard: float = 0.2
    cold: bool = False
    strategy: Strategy = Strategy.COST
    weight: float = 0.5
    apply: bool = False
    # Pause between invokes (batches, in parallel runs), like Power Tuning's
    # sleepBetweenRunsMs: back-to-back invokes share the CPU quota's 100 ms periods, so
    # spacing them measures a function called every so often rather than flat out.
    sleep_ms: int = 0

    def __post_init__(self) -> None:
        if self.invocations < 1:
            raise InvalidParameterValue("invoke at least once per memory size")
        if self.parallel < 1:
            raise InvalidParameterValue("parallel must be at least 1")
        if not 0.0 <= self.discard < 0.5:
            raise InvalidParameterValue("discard must be within [0, 0.5)")
        if not 0.0 <= self.weight <= 1.0:
            raise InvalidParameterValue("the balanced weight must be within [0, 1]")
        if not self.payloads:
            raise InvalidParameterValue("give at least one payload")
        if not 0 <= self.sleep_ms <= 60_000:
            raise InvalidParameterValue("the pause between invokes must be 0 to 60,000 ms")
        object.__setattr__(self, "sizes", check_sizes(self.sizes))


@dataclass(slots=True)
class TuneResult:
    """A finished tuning run."""

    plan: TunePlan
    runtime: str
    architecture: str
    original_memory_mb: int
    sizes: list[SizeResult]
    recommended: SizeResult | None
    restore: RestoreReport
    first_answer: bytes | None = None  # the first successful answer, to compare implementations

    def at(self, memory_mb: int) -> SizeResult | None:
        return next((r for r in self.sizes if r.memory_mb == memory_mb), None)


@dataclass(slots=True)
class _Collected:
    samples: list[Sample] = field(default_factory=list)
    errors: int = 0
    cold_excluded: int = 0
    inits: list[float] = field(default_factory=list)
    first_error: str | None = None
    first_answer: bytes | None = None


def _failure(outcome: InvokeOutcome) -> str | None:
    if outcome.status != 200:
        return f"HTTP {outcome.status}"
    if outcome.function_error:
        return outcome.payload.decode("utf-8", "replace")[:300]
    if outcome.report is None:
        return "no REPORT line in the log tail"
    return None


def tune(
    api: LambdaClient,
    plan: TunePlan,
    table: PriceTable,
    *,
    progress: bool | None = None,
    label: str | None = None,
) -> TuneResult:
    """Run the plan against a live function; it is restored (or applied) on the way out."""
    weights = [p.weight for p in plan.payloads]
    order = schedule(weights, plan.invocations)
    warmups = 0 if plan.cold else plan.parallel
    total = len(plan.sizes) * (plan.invocations + warmups)
    guard = Preserved(api, plan.function)
    with guard, Progress(total, label or f"tune {plan.function}", enabled=progress) as bar:
        config = guard.snapshot
        architecture = str((config.get("Architectures") or ["x86_64"])[0])
        ephemeral = int((config.get("EphemeralStorage") or {}).get("Size", 512))
        results: list[SizeResult] = []
        first_answer: bytes | None = None
        pool = ThreadPoolExecutor(plan.parallel) if plan.parallel > 1 else None
        try:
            for size in plan.sizes:
                bar.relabel(f"{label or 'tune ' + plan.function} {size} MB")
                got = _measure_size(api, guard, plan, size, order, pool, bar)
                first_answer = first_answer or got.first_answer
                results.append(
                    summarize(
                        size,
                        got.samples,
                        architecture=architecture,
                        table=table,
                        discard=plan.discard,
                        errors=got.errors,
                        cold_excluded=got.cold_excluded,
                        extra_inits=got.inits,
                        first_error=got.first_error,
                        ephemeral_mb=ephemeral,
                    )
                )
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        best = recommend(results, plan.strategy, plan.weight)
        if plan.apply and best is not None:
            guard.keep_memory(best.memory_mb)
    return TuneResult(
        plan=plan,
        runtime=str(config.get("Runtime", "")),
        architecture=architecture,
        original_memory_mb=guard.memory_mb,
        sizes=results,
        recommended=best,
        restore=guard.report,
        first_answer=first_answer,
    )


def _measure_size(
    api: LambdaClient,
    guard: Preserved,
    plan: TunePlan,
    size: int,
    order: list[int],
    pool: ThreadPoolExecutor | None,
    bar: Progress,
) -> _Collected:
    got = _Collected()
    changes: dict[str, Any] = {"MemorySize": size}
    guard.update(changes)

    def invoke(index: int) -> InvokeOutcome | ClientError:
        try:
            return api.invoke(plan.function, plan.payloads[index].body)
        except ClientError as exc:  # a throttle or a lost connection counts as an error
            return exc

    def run(batch: list[int]) -> list[tuple[int, InvokeOutcome | ClientError]]:
        if pool is None or len(batch) == 1:
            return [(i, invoke(i)) for i in batch]
        return list(zip(batch, pool.map(invoke, batch), strict=True))

    def record(index: int, outcome: InvokeOutcome | ClientError, warmup: bool) -> None:
        bar.advance()
        failure = str(outcome) if isinstance(outcome, ClientError) else _failure(outcome)
        if failure is not None or isinstance(outcome, ClientError):
            got.errors += 0 if warmup else 1  # the table counts measured invokes only
            got.first_error = got.first_error or failure
            return
        report = outcome.report
        assert report is not None
        got.first_answer = got.first_answer or outcome.payload
        # A cold start's INIT, or its restore from a snapshot (SnapStart).
        start_ms = report.init_ms if report.init_ms is not None else report.restore_ms
        if warmup or (not plan.cold and report.cold):
            if start_ms is not None:
                got.inits.append(start_ms)
            got.cold_excluded += 0 if warmup else 1
            return
        got.samples.append(
            Sample(
                memory_mb=size,
                payload=index,
                duration_ms=report.duration_ms,
                billed_ms=report.billed_ms,
                max_memory_mb=report.max_memory_mb,
                init_ms=start_ms,
                wall_ms=outcome.wall_ms,
            )
        )

    if not plan.cold:
        for index, outcome in run([order[0]] * plan.parallel):
            record(index, outcome, warmup=True)
    batches = [order[i : i + plan.parallel] for i in range(0, len(order), plan.parallel)]
    for number, batch in enumerate(batches):
        if plan.sleep_ms and number:
            time.sleep(plan.sleep_ms / 1000)
        for index, outcome in run(batch):
            record(index, outcome, warmup=False)
        if plan.cold and number < len(batches) - 1:
            # Retire the environments now, while they are idle and not yet frozen; the
            # memory change for the next size (or the restore) retires the last ones.
            _force_cold(guard, f"{size}-{number}")
    return got


def _force_cold(guard: Preserved, token: str) -> None:
    """Retire every warm environment: a configuration change, as a deploy would make."""
    variables = {**guard.environment, COLD_VARIABLE: token}
    guard.update({"Environment": {"Variables": variables}})
