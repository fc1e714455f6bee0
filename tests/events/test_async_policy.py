"""Lambda's retry, age and backoff rules for asynchronous events (pure, no clock)."""

from __future__ import annotations

from lamina.events.asyncinvoke.policy import (
    Condition,
    Finish,
    Retry,
    RetryTimings,
    after_function_error,
    after_success,
    after_throttle,
    is_expired,
)

T = RetryTimings()


def test_function_errors_are_retried_one_then_two_minutes_apart() -> None:
    first = after_function_error(1, 2, accepted_at=0, max_age_s=21_600, now=10, t=T)
    second = after_function_error(2, 2, accepted_at=0, max_age_s=21_600, now=100, t=T)
    assert first == Retry(70.0, counts_as_attempt=True)
    assert second == Retry(220.0, counts_as_attempt=True)


def test_retries_exhausted_after_maximum_retry_attempts() -> None:
    assert after_function_error(3, 2, 0, 21_600, 500, T) == Finish(Condition.RETRIES_EXHAUSTED)
    assert after_function_error(1, 0, 0, 21_600, 1, T) == Finish(Condition.RETRIES_EXHAUSTED)
    assert isinstance(after_function_error(1, 1, 0, 21_600, 1, T), Retry)


def test_a_retry_past_the_maximum_age_ends_the_event() -> None:
    assert after_function_error(1, 2, 0, 60, 30, T) == Finish(Condition.EVENT_AGE_EXCEEDED)


def test_throttles_back_off_exponentially_up_to_a_cap_without_counting_attempts() -> None:
    t = RetryTimings(throttle_base_s=1, throttle_max_s=8)
    delays = [after_throttle(n, 0, 21_600, 100, t) for n in range(1, 7)]
    assert [d.at - 100 for d in delays if isinstance(d, Retry)] == [1, 2, 4, 8, 8, 8]
    assert all(isinstance(d, Retry) and not d.counts_as_attempt for d in delays)


def test_throttled_until_the_maximum_age() -> None:
    assert after_throttle(1, 0, 60, 59.5, T) == Finish(Condition.EVENT_AGE_EXCEEDED)
    assert is_expired(0, 60, 60) and not is_expired(0, 60, 59.9)


def test_success_finishes() -> None:
    assert after_success() == Finish(Condition.SUCCESS)
