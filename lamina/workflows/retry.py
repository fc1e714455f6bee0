"""Retry and Catch: which retrier or catcher applies to an error, and the delay (pure).

``States.ALL`` matches every error but ``States.Runtime`` and ``States.DataLimitExceeded``;
``States.TaskFailed`` matches every error but those and ``States.Timeout``. Each retrier
counts its own attempts; once one that matches is spent, later retriers are not tried
(the error goes to Catch).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from lamina.workflows.definition import Catcher, Retrier

_TERMINAL = {"States.Runtime", "States.DataLimitExceeded"}


def matches(patterns: tuple[str, ...], error: str) -> bool:
    if error in patterns:
        return True
    if error in _TERMINAL:
        return False
    if "States.ALL" in patterns:
        return True
    return "States.TaskFailed" in patterns and error != "States.Timeout"


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """Run the state again after ``delay_s``; ``attempts`` are the updated counters."""

    delay_s: float
    attempts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class GiveUp:
    pass


def decide_retry(
    retriers: tuple[Retrier, ...], attempts: tuple[int, ...], error: str, rng: random.Random
) -> RetryAfter | GiveUp:
    counts = list(attempts) if len(attempts) == len(retriers) else [0] * len(retriers)
    for i, retrier in enumerate(retriers):
        if not matches(retrier.errors, error):
            continue
        if counts[i] >= retrier.max_attempts:
            return GiveUp()
        delay = retrier.interval_s * retrier.backoff_rate ** counts[i]
        if retrier.max_delay_s is not None:
            delay = min(delay, retrier.max_delay_s)
        if retrier.full_jitter:
            delay = rng.uniform(0, delay)
        counts[i] += 1
        return RetryAfter(delay, tuple(counts))
    return GiveUp()


def find_catcher(catchers: tuple[Catcher, ...], error: str) -> Catcher | None:
    for catcher in catchers:
        if matches(catcher.errors, error):
            return catcher
    return None
