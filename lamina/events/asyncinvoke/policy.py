"""What happens to an asynchronous event after each attempt: pure rules, time passed in.

Lambda's rules: a function error is retried ``MaximumRetryAttempts`` times (0 to 2), about
one minute and then two minutes apart; a throttle (or a failure of the platform itself)
is retried with exponential backoff, without counting as an attempt, until the event is
``MaximumEventAgeInSeconds`` old. An event that runs out of retries or of age goes to the
on-failure destination and the dead-letter queue; a success goes to the on-success one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Condition(StrEnum):
    """``requestContext.condition`` of Lambda's destination record."""

    SUCCESS = "Success"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"
    # Stopped by recursive loop detection (lamina.events.recursion). Lamina's word: AWS's
    # record for this case is not documented; Lambda's API names the error so.
    RECURSIVE_LOOP = "RecursiveInvocationException"


@dataclass(frozen=True, slots=True)
class RetryTimings:
    """Delays between attempts; Lambda's by default, shorter in tests."""

    function_error_delays_s: tuple[float, ...] = (60.0, 120.0)
    throttle_base_s: float = 1.0
    throttle_max_s: float = 300.0

    def after_error(self, attempts: int) -> float:
        """Delay before the retry that follows the ``attempts``-th failed attempt."""
        delays = self.function_error_delays_s
        return delays[min(attempts, len(delays)) - 1] if delays else 0.0

    def after_throttle(self, throttles: int) -> float:
        return min(self.throttle_base_s * 2.0 ** max(throttles - 1, 0), self.throttle_max_s)


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again at ``at`` (epoch seconds)."""

    at: float
    counts_as_attempt: bool


@dataclass(frozen=True, slots=True)
class Finish:
    """The event is done: deliver it to the destination for ``condition`` and forget it."""

    condition: Condition


Decision = Retry | Finish


def is_expired(accepted_at: float, max_age_s: float, now: float) -> bool:
    return now - accepted_at >= max_age_s


def after_success() -> Decision:
    return Finish(Condition.SUCCESS)


def after_function_error(
    attempts: int, retries: int, accepted_at: float, max_age_s: float, now: float, t: RetryTimings
) -> Decision:
    """``attempts`` counts the attempt that just failed."""
    if attempts > retries:
        return Finish(Condition.RETRIES_EXHAUSTED)
    at = now + t.after_error(attempts)
    if is_expired(accepted_at, max_age_s, at):
        return Finish(Condition.EVENT_AGE_EXCEEDED)
    return Retry(at, counts_as_attempt=True)


def after_throttle(
    throttles: int, accepted_at: float, max_age_s: float, now: float, t: RetryTimings
) -> Decision:
    """``throttles`` counts the throttle that just happened."""
    at = now + t.after_throttle(throttles)
    if is_expired(accepted_at, max_age_s, at):
        return Finish(Condition.EVENT_AGE_EXCEEDED)
    return Retry(at, counts_as_attempt=False)
