"""One workload, two implementations: "should I rewrite this Lambda in Rust?"

Both functions are power-tuned with the same payloads and memory sizes (each left as it
was found), each is taken at *its own* best memory size by the strategy (``cost`` by
default: the usual question is the bill), and the two are set side by side: latency,
memory used, cold-start INIT, cost per million, the month at a rate, and the ratios.
Cost is compared at each one's best size; speed at the same size (the largest both ran),
since a function given more memory also gets more CPU.
The first answer of each is kept, so the report also says whether both gave the same one.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from decimal import Decimal

from lamina.billing.prices import PriceTable
from lamina.billing.projection import RequestRate, project
from lamina.client.lambda_api import LambdaClient
from lamina.tools.tuner import TunePlan, TuneResult, tune
from lamina.tools.tuning import SizeResult


@dataclass(frozen=True, slots=True)
class Side:
    """One implementation at its best memory size."""

    name: str
    result: TuneResult
    best: SizeResult | None
    monthly: Decimal | None  # at the comparison's rate

    @property
    def runtime(self) -> str:
        return self.result.runtime

    @property
    def init_p50(self) -> float | None:
        """The median over sizes of each size's INIT p50 (INIT runs at full CPU anyway)."""
        inits = sorted(r.init.p50 for r in self.result.sizes if r.init is not None)
        return inits[len(inits) // 2] if inits else None


@dataclass(frozen=True, slots=True)
class Comparison:
    a: Side
    b: Side
    rate: RequestRate | None
    same_answer: bool | None  # None when one of them never answered

    def _ratio(self, x: float | Decimal | None, y: float | Decimal | None) -> float | None:
        if x is None or y is None or y == 0:
            return None
        return float(x) / float(y)

    @property
    def cost_ratio(self) -> float | None:
        """A's cost per million over B's, each at its best size (> 1: B is cheaper)."""
        if self.a.best is None or self.b.best is None:
            return None
        return self._ratio(self.a.best.cost_per_invocation, self.b.best.cost_per_invocation)

    @property
    def common_size(self) -> int | None:
        """The largest memory size at which both completed invokes (same CPU for both)."""
        a = {r.memory_mb for r in self.a.result.sizes if r.usable}
        b = {r.memory_mb for r in self.b.result.sizes if r.usable}
        return max(a & b, default=None)

    def mean_latency(self, side: Side) -> float | None:
        """A side's mean latency at :attr:`common_size`."""
        size = self.common_size
        at = side.result.at(size) if size is not None else None
        return at.latency.mean if at is not None and at.latency is not None else None

    @property
    def latency_ratio(self) -> float | None:
        """A's mean latency over B's at the same memory size, so the same CPU share: how
        much faster the code is (> 1: B is faster)."""
        return self._ratio(self.mean_latency(self.a), self.mean_latency(self.b))

    @property
    def memory_ratio(self) -> float | None:
        """A's max memory used over B's at their best sizes."""
        if self.a.best is None or self.b.best is None:
            return None
        return self._ratio(self.a.best.max_memory_mb, self.b.best.max_memory_mb)

    @property
    def init_ratio(self) -> float | None:
        return self._ratio(self.a.init_p50, self.b.init_p50)


def same_answer(a: bytes | None, b: bytes | None) -> bool | None:
    """Equal as JSON values when both are JSON, else byte for byte."""
    if a is None or b is None:
        return None
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return a == b


def side(result: TuneResult, rate: RequestRate | None, prices: PriceTable) -> Side:
    best = result.recommended
    monthly = None
    if rate is not None and best is not None and best.workload is not None:
        monthly = project(best.workload, rate.per_month, prices).total
    return Side(result.plan.function, result, best, monthly)


def compare_results(
    a: TuneResult, b: TuneResult, prices: PriceTable, rate: RequestRate | None
) -> Comparison:
    return Comparison(
        side(a, rate, prices),
        side(b, rate, prices),
        rate,
        same_answer(a.first_answer, b.first_answer),
    )


def run_compare(
    api: LambdaClient,
    plan: TunePlan,
    function_b: str,
    prices: PriceTable,
    rate: RequestRate | None,
    *,
    progress: bool | None = None,
) -> Comparison:
    """Tune ``plan.function`` and ``function_b`` with the same plan, and compare them."""
    a = tune(api, plan, prices, progress=progress, label=f"compare {plan.function}")
    plan_b = dataclasses.replace(plan, function=function_b)
    b = tune(api, plan_b, prices, progress=progress, label=f"compare {function_b}")
    return compare_results(a, b, prices, rate)
