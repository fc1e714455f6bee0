"""The cold-start benchmark, lambda-perf style: the same hello function in each runtime,
N forced cold starts each, Init Duration / cold invoke / Max Memory Used as distributions.

lambda-perf (github.com/maxday/lambda-perf) deploys a hello function per runtime to AWS
every day and forces cold starts by updating the function between invokes; this does the
same against Lamina (each function's configuration is changed right after its invoke, so
its environment is retired before it is frozen and the next invoke is cold). Its
published AWS averages (LAMBDA.md) are printed beside ours. The
numbers differ on purpose — AWS also pays for placement and code download, and runs other
interpreters — but the *order* of the runtimes is the thing to check, and it is measured
here, not assumed.

The runs are interleaved (one cold start of every runtime, then the next round), so a
burst of load on the machine lands on all runtimes alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lamina.client.http import ClientError
from lamina.client.lambda_api import LambdaClient, payload_bytes
from lamina.errors import InvalidParameterValue
from lamina.tools.progress import Progress
from lamina.tools.stats import Summary
from lamina.tools.tuning import check_sizes

COLD_VARIABLE = "LAMINA_BENCH_COLD"
MARKER = "created by lamina bench coldstart"


@dataclass(frozen=True, slots=True)
class AwsReference:
    """lambda-perf's published figures for the closest AWS runtime (128 MB, zip, x86_64)."""

    runtime: str
    init_avg_ms: float
    max_memory_mb: float


@dataclass(frozen=True, slots=True)
class RuntimeSpec:
    """One runtime's hello function, as built by ``scripts/build-examples.sh``."""

    key: str
    label: str
    runtime: str
    handler: str
    zip_name: str
    aws: AwsReference | None


# LAMBDA.md, "Cold-start figures on AWS" (lambda-perf, Aug 2026).
RUNTIMES: dict[str, RuntimeSpec] = {
    "rust": RuntimeSpec(
        "rust",
        "Rust",
        "provided.al2023",
        "bootstrap",
        "hello-rust.zip",
        AwsReference("Rust (provided.al2023)", 15.5, 15.6),
    ),
    "python": RuntimeSpec(
        "python",
        "Python 3.11",
        "python3.11",
        "app.handler",
        "hello-python.zip",
        AwsReference("Python 3.12", 85.2, 37.0),
    ),
    "node": RuntimeSpec(
        "node",
        "Node.js 20",
        "nodejs20.x",
        "index.handler",
        "hello-node.zip",
        AwsReference("Node.js 22", 137.1, 75.0),
    ),
    "ric-python": RuntimeSpec(
        "ric-python",
        "Python + awslambdaric",
        "provided.al2023",
        "app.handler",
        "ric-python.zip",
        None,
    ),
    "ric-node": RuntimeSpec(
        "ric-node",
        "Node + aws-lambda-ric",
        "provided.al2023",
        "index.handler",
        "ric-node.zip",
        None,
    ),
}
DEFAULT_RUNTIMES = ("rust", "python", "node")


@dataclass(slots=True)
class ColdSeries:
    """The forced cold starts of one runtime at one memory size."""

    spec: RuntimeSpec
    memory_mb: int
    init_ms: list[float] = field(default_factory=list)
    cold_total_ms: list[float] = field(default_factory=list)  # the client's whole invoke
    duration_ms: list[float] = field(default_factory=list)
    billed_ms: list[float] = field(default_factory=list)
    max_memory_mb: list[float] = field(default_factory=list)
    not_cold: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def init(self) -> Summary | None:
        return Summary.of(self.init_ms) if self.init_ms else None

    @property
    def cold_total(self) -> Summary | None:
        return Summary.of(self.cold_total_ms) if self.cold_total_ms else None

    @property
    def memory(self) -> Summary | None:
        return Summary.of(self.max_memory_mb) if self.max_memory_mb else None

    @property
    def billed(self) -> Summary | None:
        return Summary.of(self.billed_ms) if self.billed_ms else None


@dataclass(slots=True)
class ColdBench:
    series: list[ColdSeries]
    count: int

    def ranking(self, memory_mb: int) -> list[ColdSeries]:
        """The runtimes at one size, fastest Init Duration p50 first (no data: last)."""
        at = [s for s in self.series if s.memory_mb == memory_mb]
        return sorted(at, key=lambda s: (s.init is None, s.init.p50 if s.init else 0.0))

    @property
    def memory_sizes(self) -> list[int]:
        return sorted({s.memory_mb for s in self.series})


def aws_ranking(specs: Sequence[RuntimeSpec]) -> list[RuntimeSpec]:
    """The same runtimes in lambda-perf's order (those without an AWS figure left out)."""
    with_ref = [s for s in specs if s.aws is not None]
    return sorted(with_ref, key=lambda s: s.aws.init_avg_ms if s.aws else 0.0)


def resolve_runtimes(keys: Sequence[str]) -> list[RuntimeSpec]:
    unknown = [k for k in keys if k not in RUNTIMES]
    if unknown:
        raise InvalidParameterValue(
            f"unknown runtime {', '.join(unknown)} (known: {', '.join(RUNTIMES)})"
        )
    return [RUNTIMES[k] for k in dict.fromkeys(keys)]


def function_name(prefix: str, spec: RuntimeSpec, memory_mb: int) -> str:
    return f"{prefix}-{spec.key}-{memory_mb}"


def run_coldstart(
    api: LambdaClient,
    specs: Sequence[RuntimeSpec],
    memory_sizes: Sequence[int],
    count: int,
    examples_dir: Path,
    *,
    prefix: str = "lamina-bench-coldstart",
    keep: bool = False,
    progress: bool | None = None,
) -> ColdBench:
    """Deploy each hello function, force ``count`` cold starts of each, delete them."""
    if count < 1:
        raise InvalidParameterValue("measure at least one cold start")
    sizes = check_sizes(memory_sizes)
    missing = [s.zip_name for s in specs if not (examples_dir / s.zip_name).is_file()]
    if missing:
        raise InvalidParameterValue(
            f"missing {', '.join(missing)} in {examples_dir}: run scripts/build-examples.sh"
        )
    series = [ColdSeries(spec, size) for spec in specs for size in sizes]
    created: list[str] = []
    try:
        for s in series:
            name = function_name(prefix, s.spec, s.memory_mb)
            _replace_function(api, name, s, examples_dir)
            created.append(name)
        with Progress(count * len(series), "bench coldstart", enabled=progress) as bar:
            for round_ in range(count):
                for s in series:
                    name = function_name(prefix, s.spec, s.memory_mb)
                    _one_cold_start(api, name, s)
                    # Retire the environment at once, while it is idle and not yet frozen
                    # (a fresh function's first invoke is cold already; every later one is
                    # cold because of this change).
                    api.update_configuration(
                        name, {"Environment": {"Variables": {COLD_VARIABLE: str(round_ + 1)}}}
                    )
                    bar.advance()
    finally:
        if not keep:
            for name in created:
                # Best effort: the results matter more than the clean-up.
                with contextlib.suppress(ClientError):
                    api.delete_function(name)
    return ColdBench(series, count)


def _replace_function(api: LambdaClient, name: str, s: ColdSeries, examples_dir: Path) -> None:
    if api.exists(name):
        description = api.get_configuration(name).get("Description", "")
        if description != MARKER:
            raise InvalidParameterValue(
                f"a function named {name} exists and was not made by this benchmark; "
                "use --prefix to pick other names"
            )
        api.delete_function(name)
    api.create_function(
        name,
        (examples_dir / s.spec.zip_name).read_bytes(),
        s.spec.runtime,
        s.spec.handler,
        s.memory_mb,
        timeout_s=30,
        environment={COLD_VARIABLE: "0"},
        description=MARKER,
    )


def _one_cold_start(api: LambdaClient, name: str, s: ColdSeries) -> None:
    try:
        outcome = api.invoke(name, payload_bytes({"name": "lambda-perf"}))
    except ClientError as exc:
        s.failures.append(str(exc))
        return
    report = outcome.report
    if outcome.status != 200 or outcome.function_error or report is None:
        s.failures.append(f"{outcome.status} {outcome.payload[:200]!r}")
        return
    start_ms = report.init_ms if report.init_ms is not None else report.restore_ms
    if start_ms is None:
        s.not_cold += 1
        return
    s.init_ms.append(start_ms)
    s.cold_total_ms.append(outcome.wall_ms)
    s.duration_ms.append(report.duration_ms)
    s.billed_ms.append(float(report.billed_ms))
    s.max_memory_mb.append(float(report.max_memory_mb))
