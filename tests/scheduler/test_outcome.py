"""How events and INITs end: the typed outcomes and their classification (pure)."""

from __future__ import annotations

import json

from lamina.models.invocation import FunctionError, Outcome
from lamina.runtime_api.channel import InitFailure, RuntimeAnswer
from lamina.scheduler.outcome import (
    Answered,
    DeadlinePassed,
    Exited,
    FunctionFailed,
    InitFailed,
    InitOutcome,
    OutOfMemory,
    ProcessExited,
    Ready,
    TimedOut,
    classify,
    classify_init,
)

RID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
NOW = 1709618828.912  # 2024-03-05T06:07:08Z


def test_an_answer_is_a_success_and_the_environment_serves_again() -> None:
    outcome = classify(RuntimeAnswer(True, b'{"ok":1}', at=1.0), RID, 3.0, oom=False)
    assert outcome == Answered(b'{"ok":1}')
    assert outcome.payload == b'{"ok":1}' and outcome.status is Outcome.SUCCESS
    assert not outcome.unhandled and outcome.reusable and outcome.log_lines(NOW) == ()


def test_an_error_post_is_an_unhandled_error_in_a_reusable_environment() -> None:
    answer = RuntimeAnswer(False, b'{"errorMessage":"m","errorType":"E"}', "E", at=1.0)
    outcome = classify(answer, RID, 3.0, oom=False)
    assert isinstance(outcome, FunctionFailed)
    assert json.loads(outcome.payload) == {"errorMessage": "m", "errorType": "E"}
    assert outcome.status is Outcome.ERROR and outcome.unhandled and outcome.reusable


def test_a_response_too_large_is_answered_with_lambdas_error() -> None:
    answer = RuntimeAnswer(False, b"", "Function.ResponseSizeTooLarge", True, 1.0)
    outcome = classify(answer, RID, 3.0, oom=False)
    assert json.loads(outcome.payload)["errorType"] == "Function.ResponseSizeTooLarge"
    assert outcome.reusable


def test_a_passed_deadline_is_a_timeout_that_discards_the_environment() -> None:
    outcome = classify(DeadlinePassed(5.0), RID, 3.0, oom=False)
    assert outcome == TimedOut(RID, 3.0)
    assert outcome.status is Outcome.TIMEOUT and outcome.unhandled and not outcome.reusable
    assert json.loads(outcome.payload) == {
        "errorMessage": f"RequestId: {RID} Error: Task timed out after 3.00 seconds",
        "errorType": "Sandbox.Timedout",
    }
    assert outcome.log_lines(NOW) == (
        f"2024-03-05T06:07:08Z {RID} Task timed out after 3.00 seconds",
    )


def test_an_exit_mid_invoke_is_an_exit_error_logged_in_two_lines() -> None:
    outcome = classify(ProcessExited(1, 2.0), RID, 3.0, oom=False)
    assert outcome == Exited(RID, 1) and not outcome.reusable
    message = f"RequestId: {RID} Error: Runtime exited with error: exit status 1"
    assert outcome.log_lines(NOW) == (message, "Runtime.ExitError")
    assert json.loads(outcome.payload) == {
        "errorMessage": message,
        "errorType": "Runtime.ExitError",
    }


def test_an_exit_after_an_oom_kill_is_out_of_memory() -> None:
    outcome = classify(ProcessExited(137, 2.0), RID, 3.0, oom=True)
    assert isinstance(outcome, OutOfMemory) and outcome.status is Outcome.ERROR
    assert json.loads(outcome.payload)["errorType"] == "Runtime.OutOfMemory"
    assert outcome.log_lines(NOW)[1] == "Runtime.OutOfMemory"


def init(
    *,
    now: float = 10.5,
    ready_at: float | None = None,
    failure: InitFailure | None = None,
    exit_status: int | None = None,
) -> InitOutcome:
    return classify_init(
        t0=10.0,
        now=now,
        limit_s=10.0,
        ready_at=ready_at,
        failure=failure,
        exit_status=exit_status,
        oom=False,
    )


def test_init_is_ready_at_the_first_next_and_that_instant_is_init_duration() -> None:
    assert init(ready_at=10.25) == Ready(250.0)
    # The first /next wins over anything that happened after it.
    assert init(ready_at=10.25, exit_status=1) == Ready(250.0)


def test_an_init_error_post_fails_init_with_the_runtimes_error() -> None:
    failure = InitFailure(b'{"errorMessage":"no module","errorType":"ImportError"}', "X")
    assert init(failure=failure) == InitFailed(FunctionError("ImportError", "no module"), 500.0)


def test_an_exit_during_init_fails_it_without_a_request_id() -> None:
    outcome = init(exit_status=2)
    assert outcome == InitFailed(
        FunctionError("Runtime.ExitError", "Error: Runtime exited with error: exit status 2"),
        500.0,
    )
    assert isinstance(outcome, InitFailed) and outcome.status is Outcome.ERROR


def test_nothing_within_the_limit_is_an_init_timeout() -> None:
    outcome = init(now=20.0)
    assert isinstance(outcome, InitFailed) and outcome.timed_out
    assert outcome.status is Outcome.TIMEOUT and outcome.init_ms == 10_000.0
    assert outcome.error == FunctionError("Sandbox.Timedout", "INIT timed out after 10.00 seconds")
    assert json.loads(outcome.payload("r2"))["requestId"] == "r2"
