"""The Prometheus text exposition format (version 0.0.4) of Lamina's metrics (pure).

Names follow the OpenTelemetry FaaS semantic conventions mapped to Prometheus: dots become
underscores, units become suffixes and counters end in ``_total`` (``faas.invocations`` →
``faas_invocations_total``, ``faas.invoke_duration`` → ``faas_invoke_duration_seconds``).
Their attributes ``faas.name`` / ``faas.version`` are the labels ``faas_name`` /
``faas_version``. Numbers the conventions do not name (throttles, billed GB-s, cost,
environments) carry the ``lamina_`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lamina.billing.rollups import BUCKETS_MS, Minute, SeriesKey
from lamina.models.cluster_load import Demand, NodeLoad

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Gauges:
    """What is true right now (read from the pool at scrape time)."""

    concurrent: Mapping[str, int]  # function → executions in flight
    environments: Mapping[str, int]  # state (starting, busy, idle, frozen) → count
    async_backlog: Mapping[str, tuple[int, float]] = field(default_factory=dict)
    # function → (events queued, age of the oldest in seconds)
    loop_lag_s: float = 0.0  # the event loop's largest recent lag
    cluster: Demand | None = None  # on a cluster (lamina serve --cluster) only
    requests: Mapping[str, int] = field(default_factory=dict)  # face → requests answered
    esm: Sequence[EsmBatches] = ()
    # On a cluster: node → state → count (replaces ``environments``: the control plane's
    # own pool is empty there), for the nodes that answered at scrape time.
    node_environments: Mapping[str, Mapping[str, int]] | None = None
    # X-Ray segment documents functions sent: (function or "", "kept" or why dropped) →
    # count ("" when dropped before its function was known: lamina.xray.daemon).
    xray: Mapping[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EsmBatches:
    """One event source mapping's batches since the server started."""

    mapping: str  # its UUID
    function: str
    source: str  # the queue's ARN
    batches: int
    records: int
    failed: int


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)
    return "{" + inner + "}" if inner else ""


def _num(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, labels: Iterable[tuple[str, str]], value: float | int) -> None:
        self.lines.append(f"{name}{_labels(labels)} {_num(value)}")

    def histogram(
        self,
        name: str,
        labels: tuple[tuple[str, str], ...],
        buckets: list[int],
        sum_ms: float,
    ) -> None:
        cumulative = 0
        for bound, count in zip(BUCKETS_MS, buckets, strict=False):
            cumulative += count
            le = _num(bound / 1000.0)
            self.sample(f"{name}_bucket", (*labels, ("le", le)), cumulative)
        total = sum(buckets)
        self.sample(f"{name}_bucket", (*labels, ("le", "+Inf")), total)
        self.sample(f"{name}_sum", labels, sum_ms / 1000.0)
        self.sample(f"{name}_count", labels, total)


_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("faas_invocations", "invocations", "Invocations that ran (any outcome)."),
    ("faas_errors", "errors", "Invocations that ended in an error or a timeout."),
    ("faas_timeouts", "timeouts", "Invocations stopped at their timeout."),
    ("faas_coldstarts", "cold_starts", "Invocations that started a new environment."),
    ("lamina_throttles", "throttles", "Invokes refused with 429 (they never ran)."),
)


def render(totals: Mapping[SeriesKey, Minute], gauges: Gauges) -> str:
    """The whole scrape: counters and histograms per function version, then gauges."""
    out = _Writer()
    series = sorted(totals.items())

    def fv(key: SeriesKey) -> tuple[tuple[str, str], ...]:
        return (("faas_name", key[0]), ("faas_version", key[1]))

    for name, attr, help_text in _COUNTERS:
        out.family(f"{name}_total", "counter", help_text)
        for key, m in series:
            out.sample(f"{name}_total", fv(key), getattr(m, attr))
    out.family("faas_invoke_duration_seconds", "histogram", "Duration of invocations.")
    for key, m in series:
        out.histogram(
            "faas_invoke_duration_seconds", fv(key), m.duration_buckets, m.duration_sum_ms
        )
    out.family("faas_init_duration_seconds", "histogram", "Init Duration of cold starts.")
    for key, m in series:
        out.histogram("faas_init_duration_seconds", fv(key), m.init_buckets, m.init_sum_ms)
    out.family("faas_mem_usage_bytes", "gauge", "Largest Max Memory Used seen (bytes).")
    for key, m in series:
        out.sample("faas_mem_usage_bytes", fv(key), m.max_memory_used_mb * 1024 * 1024)
    out.family("faas_mem_limit_bytes", "gauge", "Configured memory size last invoked (bytes).")
    for key, m in series:
        out.sample("faas_mem_limit_bytes", fv(key), m.memory_mb * 1024 * 1024)
    out.family("lamina_billed_gb_seconds_total", "counter", "Billed GB-seconds.")
    for key, m in series:
        out.sample("lamina_billed_gb_seconds_total", fv(key), float(m.gb_s))
    out.family("lamina_cost_usd_total", "counter", "Cost at Lambda's first-tier prices (USD).")
    for key, m in series:
        out.sample("lamina_cost_usd_total", fv(key), float(m.cost))
    out.family("faas_concurrent_executions", "gauge", "Invocations in flight now.")
    for function, active in sorted(gauges.concurrent.items()):
        out.sample("faas_concurrent_executions", (("faas_name", function),), active)
    out.family("lamina_environments", "gauge", "Execution environments by state.")
    if gauges.node_environments is None:
        for state, count in sorted(gauges.environments.items()):
            out.sample("lamina_environments", (("state", state),), count)
    else:
        for node, states in sorted(gauges.node_environments.items()):
            for state, count in sorted(states.items()):
                out.sample("lamina_environments", (("node", node), ("state", state)), count)
    out.family("lamina_async_events", "gauge", "Asynchronous invokes queued or in flight.")
    for function, (count, _) in sorted(gauges.async_backlog.items()):
        out.sample("lamina_async_events", (("faas_name", function),), count)
    out.family("lamina_async_event_age_seconds", "gauge", "Age of the oldest queued event.")
    for function, (_, age) in sorted(gauges.async_backlog.items()):
        out.sample("lamina_async_event_age_seconds", (("faas_name", function),), age)
    out.family("lamina_event_loop_lag_seconds", "gauge", "Largest event loop lag, last 10 s.")
    out.sample("lamina_event_loop_lag_seconds", (), gauges.loop_lag_s)
    if gauges.cluster is not None:
        _cluster(out, gauges.cluster)
    out.family("lamina_http_requests_total", "counter", "HTTP requests answered, per face.")
    for face, count in sorted(gauges.requests.items()):
        out.sample("lamina_http_requests_total", (("face", face),), count)
    for name, attr, help_text in (
        ("lamina_esm_batches_total", "batches", "Batches an event source mapping handed over."),
        ("lamina_esm_records_total", "records", "Records in those batches."),
        ("lamina_esm_failed_batches_total", "failed", "Batches the function failed."),
    ):
        out.family(name, "counter", help_text)
        for e in gauges.esm:
            labels = (("faas_name", e.function), ("source", e.source), ("mapping", e.mapping))
            out.sample(name, labels, getattr(e, attr))
    out.family(
        "lamina_xray_documents_total", "counter", "X-Ray documents functions sent, kept or not."
    )
    for (function, outcome), count in sorted(gauges.xray.items()):
        out.sample(
            "lamina_xray_documents_total", (("faas_name", function), ("outcome", outcome)), count
        )
    return "\n".join(out.lines) + "\n"


_MIB = 1024 * 1024
_NODE_GAUGES: tuple[tuple[str, str, Callable[[NodeLoad], float | int]], ...] = (
    (
        "lamina_cluster_node_up",
        "1 while the node's agent is connected, else 0.",
        lambda n: int(n.alive),
    ),
    (
        "lamina_cluster_node_memory_capacity_bytes",
        "Memory for environments.",
        lambda n: n.capacity_mb * _MIB,
    ),
    (
        "lamina_cluster_node_memory_used_bytes",
        "Memory the node's environments hold.",
        lambda n: n.used_mb * _MIB,
    ),
    ("lamina_cluster_node_cpus", "CPUs of the node.", lambda n: float(n.cpus)),
    ("lamina_cluster_node_busy", "Invocations running on the node.", lambda n: n.busy),
    (
        "lamina_cluster_node_idle_environments",
        "Idle (warm) environments on the node.",
        lambda n: n.idle_environments,
    ),
)


def _cluster(out: _Writer, load: Demand) -> None:
    """Per-node load and the unmet demand an autoscaler acts on (docs/cluster.md)."""
    nodes = sorted(load.nodes, key=lambda n: n.node_id)
    for name, help_text, value in _NODE_GAUGES:
        out.family(name, "gauge", help_text)
        for node in nodes:
            out.sample(name, (("node", node.node_id),), value(node))
    out.family(
        "lamina_cluster_pending_cold_starts",
        "gauge",
        "Cold starts refused for lack of room on any node, in the last minute.",
    )
    out.sample("lamina_cluster_pending_cold_starts", (), load.pending_cold_starts)
    out.family(
        "lamina_cluster_pending_memory_bytes",
        "gauge",
        "Memory the refused cold starts of the last minute would have needed.",
    )
    out.sample("lamina_cluster_pending_memory_bytes", (), load.pending_mb * _MIB)
