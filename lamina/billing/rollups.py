"""Per-minute rollups of the ledger: what metrics, CloudWatch and the console read (pure).

One :class:`Minute` per (function, version, UTC minute) holds counts, sums, maxima and two
fixed-bucket histograms (duration and Init Duration) — enough for rates, averages, p50/p99
and cost without touching the raw rows. The ledger's flusher folds every record it writes
into them (:func:`fold`), so the invoke path pays nothing beyond the ledger's own append.

Buckets are fixed (Prometheus-style upper bounds in ms), so minutes merge by adding lists,
and a quantile is read by linear interpolation inside its bucket (:func:`quantile`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from lamina.models.invocation import InvocationRecord, Outcome

# Upper bounds (ms, inclusive) of the histogram buckets; one more bucket is +Inf.
BUCKETS_MS: tuple[float, ...] = (
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 900000,
)  # fmt: skip
N_BUCKETS = len(BUCKETS_MS) + 1

RollupKey = tuple[str, str, int]  # (function, version, minute start in epoch seconds)
SeriesKey = tuple[str, str]  # (function, version)


def minute_of(epoch_s: float) -> int:
    """The start (epoch seconds) of the UTC minute holding ``epoch_s``."""
    return int(epoch_s // 60) * 60


def bucket_index(value_ms: float) -> int:
    """The histogram bucket of a value: the first bound ≥ it (the last one is +Inf)."""
    return bisect_left(BUCKETS_MS, value_ms)


def _zeros() -> list[int]:
    return [0] * N_BUCKETS


@dataclass(slots=True)
class Minute:
    """Accumulated numbers of one function version over one minute (or any span, merged)."""

    invocations: int = 0
    errors: int = 0  # error or timeout, as Lambda's Errors metric counts them
    timeouts: int = 0
    throttles: int = 0
    cold_starts: int = 0
    duration_sum_ms: float = 0.0
    duration_max_ms: float = 0.0
    duration_min_ms: float | None = None
    duration_buckets: list[int] = field(default_factory=_zeros)
    init_sum_ms: float = 0.0
    init_buckets: list[int] = field(default_factory=_zeros)
    max_memory_used_mb: int = 0
    memory_mb: int = 0  # the configured size last seen
    gb_s: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    # Provisioned concurrency: invocations its environments served (and their summed
    # duration), and those that spilled over to on-demand environments.
    provisioned_invocations: int = 0
    provisioned_duration_sum_ms: float = 0.0
    spillover_invocations: int = 0
    # Lambda's per-invocation samples (an invocation of a version with provisioned
    # concurrency, served or spilled over) of ProvisionedConcurrentExecutions (its
    # environments busy when it began) and of ProvisionedConcurrencyUtilization (that over
    # the configured concurrency): how many, their sum, smallest and largest (the
    # smallest are 0 while there is none).
    pc_samples: int = 0
    pc_busy_sum: int = 0
    pc_busy_min: int = 0
    pc_busy_max: int = 0
    pc_used_sum: float = 0.0
    pc_used_min: float = 0.0
    pc_used_max: float = 0.0
    # Invocations recursive loop detection stopped (RecursiveInvocationsDropped): they
    # never ran, so they have no ledger record (lamina.events.recursion).
    recursive_drops: int = 0

    def add(self, rec: InvocationRecord, gb_s: Decimal, cost: Decimal) -> None:
        """Count one metered invocation in, with its GB-s and cost."""
        self.count(rec)
        self.gb_s += gb_s
        self.cost += cost

    def count(self, rec: InvocationRecord) -> None:
        """Count one invocation in, without its money (see :func:`fold_batch`). Once per
        record in the ledger's flusher, which holds the GIL the event loop needs: plain
        comparisons rather than max()/min() calls, fields read once."""
        self.invocations += 1
        outcome = rec.outcome
        if outcome is not Outcome.SUCCESS:
            self.errors += 1
            if outcome is Outcome.TIMEOUT:
                self.timeouts += 1
        duration = rec.duration_ms
        self.duration_sum_ms += duration
        if duration > self.duration_max_ms:
            self.duration_max_ms = duration
        low = self.duration_min_ms
        if low is None or duration < low:
            self.duration_min_ms = duration
        self.duration_buckets[bisect_left(BUCKETS_MS, duration)] += 1
        init = rec.init_ms
        if init is not None:
            self.cold_starts += 1
            self.init_sum_ms += init
            self.init_buckets[bisect_left(BUCKETS_MS, init)] += 1
        used = rec.max_memory_used_mb
        if used > self.max_memory_used_mb:
            self.max_memory_used_mb = used
        self.memory_mb = rec.memory_mb
        if rec.provisioned:
            self.provisioned_invocations += 1
            self.provisioned_duration_sum_ms += duration
        elif rec.spillover:
            self.spillover_invocations += 1
        if rec.provisioned_concurrency:  # served, or spilled over: a sample either way
            self._sample(rec.provisioned_busy, rec.provisioned_concurrency)

    def _sample(self, busy: int, configured: int) -> None:
        used = busy / configured
        if self.pc_samples:
            self.pc_busy_min = min(self.pc_busy_min, busy)
            self.pc_busy_max = max(self.pc_busy_max, busy)
            self.pc_used_min = min(self.pc_used_min, used)
            self.pc_used_max = max(self.pc_used_max, used)
        else:
            self.pc_busy_min = self.pc_busy_max = busy
            self.pc_used_min = self.pc_used_max = used
        self.pc_samples += 1
        self.pc_busy_sum += busy
        self.pc_used_sum += used

    def merge(self, other: Minute) -> None:
        """Add ``other``'s numbers into this one."""
        self.invocations += other.invocations
        self.errors += other.errors
        self.timeouts += other.timeouts
        self.throttles += other.throttles
        self.recursive_drops += other.recursive_drops
        self.cold_starts += other.cold_starts
        self.duration_sum_ms += other.duration_sum_ms
        self.duration_max_ms = max(self.duration_max_ms, other.duration_max_ms)
        if other.duration_min_ms is not None and (
            self.duration_min_ms is None or other.duration_min_ms < self.duration_min_ms
        ):
            self.duration_min_ms = other.duration_min_ms
        self.duration_buckets = [
            a + b for a, b in zip(self.duration_buckets, other.duration_buckets, strict=True)
        ]
        self.init_sum_ms += other.init_sum_ms
        self.init_buckets = [
            a + b for a, b in zip(self.init_buckets, other.init_buckets, strict=True)
        ]
        self.max_memory_used_mb = max(self.max_memory_used_mb, other.max_memory_used_mb)
        self.memory_mb = other.memory_mb or self.memory_mb
        self.gb_s += other.gb_s
        self.cost += other.cost
        self.provisioned_invocations += other.provisioned_invocations
        self.provisioned_duration_sum_ms += other.provisioned_duration_sum_ms
        self.spillover_invocations += other.spillover_invocations
        if other.pc_samples:
            if self.pc_samples:
                self.pc_busy_min = min(self.pc_busy_min, other.pc_busy_min)
                self.pc_busy_max = max(self.pc_busy_max, other.pc_busy_max)
                self.pc_used_min = min(self.pc_used_min, other.pc_used_min)
                self.pc_used_max = max(self.pc_used_max, other.pc_used_max)
            else:
                self.pc_busy_min, self.pc_busy_max = other.pc_busy_min, other.pc_busy_max
                self.pc_used_min, self.pc_used_max = other.pc_used_min, other.pc_used_max
            self.pc_samples += other.pc_samples
            self.pc_busy_sum += other.pc_busy_sum
            self.pc_used_sum += other.pc_used_sum

    def copy(self) -> Minute:
        out = Minute()
        out.merge(self)
        return out

    @property
    def duration_p50_ms(self) -> float | None:
        return quantile(self.duration_buckets, 0.5, self.duration_max_ms)

    @property
    def duration_p99_ms(self) -> float | None:
        return quantile(self.duration_buckets, 0.99, self.duration_max_ms)


def fold(acc: dict[RollupKey, Minute], rec: InvocationRecord, gb_s: Decimal, cost: Decimal) -> None:
    """Count a priced record into its minute of ``acc``."""
    key = (rec.function_name, rec.version, minute_of(rec.started_at))
    minute = acc.get(key)
    if minute is None:
        minute = acc[key] = Minute()
    minute.add(rec, gb_s, cost)


def fold_batch(
    acc: dict[RollupKey, Minute], priced: Iterable[tuple[InvocationRecord, str, str]]
) -> None:
    """Count priced records (record, GB-s text, cost text) into ``acc``.

    Money is summed the way the ledger's ``decimal_sum`` does: a batch repeats a handful of
    distinct prices, so each distinct (minute, price) pair is parsed and multiplied once
    rather than every record paying two Decimal parses and adds (the flusher holds the GIL
    the event loop needs).
    """
    money: dict[tuple[RollupKey, str, str], int] = {}
    for rec, gb_s, cost in priced:
        key = (rec.function_name, rec.version, int(rec.started_at // 60) * 60)  # minute_of
        minute = acc.get(key)
        if minute is None:
            minute = acc[key] = Minute()
        minute.count(rec)
        mkey = (key, gb_s, cost)
        money[mkey] = money.get(mkey, 0) + 1
    for (key, gb_s, cost), n in money.items():
        minute = acc[key]
        minute.gb_s += Decimal(gb_s) * n
        minute.cost += Decimal(cost) * n


def fold_throttle(
    acc: dict[RollupKey, Minute], function: str, version: str, at: float, recursive: bool = False
) -> None:
    """Count one throttled invoke, or (``recursive``) one recursive loop detection stopped:
    it never ran, so it has no ledger record."""
    key = (function, version, minute_of(at))
    minute = acc.get(key)
    if minute is None:
        minute = acc[key] = Minute()
    if recursive:
        minute.recursive_drops += 1
    else:
        minute.throttles += 1


def merged(minutes: Iterable[Minute]) -> Minute:
    """The sum of several minutes (an empty :class:`Minute` for none)."""
    out = Minute()
    for minute in minutes:
        out.merge(minute)
    return out


def quantile(buckets: Sequence[int], q: float, max_ms: float) -> float | None:
    """The ``q`` quantile estimated from bucket counts (None when empty).

    Linear inside the bucket that holds it, as Prometheus' ``histogram_quantile`` does; the
    +Inf bucket's upper edge is the largest value seen, and no estimate exceeds it.
    """
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(buckets):
        if count and seen + count >= rank:
            lower = 0.0 if i == 0 else BUCKETS_MS[i - 1]
            upper = BUCKETS_MS[i] if i < len(BUCKETS_MS) else max(max_ms, lower)
            value = lower + (upper - lower) * (rank - seen) / count
            return min(value, max_ms) if max_ms > 0 else value
        seen += count
    return max_ms
