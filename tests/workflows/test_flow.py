"""Choice, Wait, Fail, Retry/Catch, Parallel and Map through the engine and its driver."""

from __future__ import annotations

from typing import Any

from lamina.workflows.steps import Err, Fail, Ok, Outcome, RunTask, Succeed
from tests.workflows.helpers import echo, run

FN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def choice_machine() -> dict[str, Any]:
    return {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [
                    {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
                    {"And": [{"Variable": "$.value", "IsPresent": True},
                             {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                             {"Variable": "$.value", "NumericLessThan": 30}],
                     "Next": "ValueInTwenties"},
                    {"Variable": "$.file", "StringMatches": "log-*.txt", "Next": "Log"},
                    {"Variable": "$.when", "TimestampLessThanPath": "$.limit", "Next": "Early"},
                ],
                "Default": "DefaultState",
            },
            "Public": {"Type": "Pass", "Result": "public", "End": True},
            "ValueInTwenties": {"Type": "Pass", "Result": "twenties", "End": True},
            "Log": {"Type": "Pass", "Result": "log", "End": True},
            "Early": {"Type": "Pass", "Result": "early", "End": True},
            "DefaultState": {"Type": "Fail", "Error": "DefaultStateError", "Cause": "No Matches!"},
        },
    }  # fmt: skip


def test_choice_rules_pick_the_documented_branches() -> None:
    # A Variable that is missing is a States.Runtime error (as on AWS), so every case
    # carries the fields the rules before its match read.
    cases = [
        ({"type": "Public"}, "public"),
        ({"type": "Private", "value": 25}, "twenties"),
        ({"type": "Private", "value": 35, "file": "log-2024.txt"}, "log"),
        ({"type": "Private", "file": "x", "when": "2024-01-01T00:00:00Z",
          "limit": "2024-06-01T00:00:00Z"},
         "early"),
    ]  # fmt: skip
    for data, expected in cases:
        end, _ = run(choice_machine(), data)
        assert isinstance(end, Succeed), data
        assert end.output == expected
    end, events = run(choice_machine(), {"type": "Private", "file": "x", "when": "x", "limit": "y"})
    assert isinstance(end, Fail)
    assert (end.error, end.cause) == ("DefaultStateError", "No Matches!")
    assert events[-1].type == "FailStateEntered"


def test_retry_backs_off_then_succeeds_and_counts_in_the_context() -> None:
    calls: list[Any] = []

    async def flaky(rt: RunTask) -> Outcome:
        calls.append(rt.payload)
        return Err("Boom", "not yet") if len(calls) < 3 else Ok({"done": True})

    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": FN,
                "Parameters": {"retry.$": "$$.State.RetryCount"},
                "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 2,
                           "BackoffRate": 2, "MaxDelaySeconds": 5, "JitterStrategy": "FULL"}],
                "End": True,
            }
        },
    }  # fmt: skip
    end, events = run(definition, {}, flaky)
    assert isinstance(end, Succeed) and end.output == {"done": True}
    assert calls == [{"retry": 0}, {"retry": 1}, {"retry": 2}]
    assert [e.type for e in events].count("LambdaFunctionFailed") == 2


def test_spent_retries_go_to_catch_with_the_error_at_its_result_path() -> None:
    async def fails(rt: RunTask) -> Outcome:
        return Err("States.TaskFailed", "it broke")

    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": FN,
                "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 3},
                          {"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handle"}],
                "Next": "Never",
            },
            "Never": {"Type": "Succeed"},
            "Handle": {"Type": "Pass", "End": True},
        },
    }  # fmt: skip
    end, events = run(definition, {"order": 1}, fails)
    assert isinstance(end, Succeed)
    assert end.output == {"order": 1, "error": {"Error": "States.TaskFailed", "Cause": "it broke"}}
    assert [e.type for e in events].count("LambdaFunctionScheduled") == 2


def test_states_task_failed_does_not_match_a_timeout() -> None:
    async def slow(rt: RunTask) -> Outcome:
        return Err("States.Timeout", "too slow")

    definition = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": FN, "End": True,
                  "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "H"}]},
            "H": {"Type": "Succeed"},
        },
    }  # fmt: skip
    end, _ = run(definition, {}, slow)
    assert isinstance(end, Fail) and end.error == "States.Timeout"


def test_parallel_gives_each_branch_the_input_and_collects_outputs_in_order() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 2, "End": True}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "End": True}}},
                ],
                "ResultSelector": {"first.$": "$[0].n", "second.$": "$[1]"},
                "End": True,
            }
        },
    }  # fmt: skip
    end, events = run(definition, {"n": 3})
    assert isinstance(end, Succeed)
    assert end.output == {"first": 3, "second": {"n": 3}}
    types = [e.type for e in events]
    assert types[0] == "ParallelStateEntered" and types[-1] == "ParallelStateExited"
    assert "WaitStateExited" in types and "ParallelStateSucceeded" in types


def test_a_failing_branch_fails_the_parallel_state() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 100, "End": True}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Fail", "Error": "E", "Cause": "c"}}},
                ],
                "End": True,
            }
        },
    }  # fmt: skip
    end, _ = run(definition, {}, scale=1.0)  # the Wait is cancelled, not waited for
    assert isinstance(end, Fail) and (end.error, end.cause) == ("E", "c")


def test_map_iterates_with_item_selector_and_max_concurrency() -> None:
    running = 0
    peak = 0

    async def task(rt: RunTask) -> Outcome:
        nonlocal running, peak
        import asyncio

        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return Ok(rt.payload["value"] * 10 + rt.payload["index"])

    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.detail.items",
                "MaxConcurrency": 2,
                "ItemSelector": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value",
                                 "ship.$": "$.detail.shipped"},
                "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": True}}},
                "ResultPath": "$.detail.results",
                "End": True,
            }
        },
    }  # fmt: skip
    end, events = run(definition, {"detail": {"items": [1, 2, 3, 4], "shipped": True}}, task)
    assert isinstance(end, Succeed)
    assert end.output["detail"]["results"] == [10, 21, 32, 43]
    assert peak == 2
    assert [e.type for e in events].count("MapIterationSucceeded") == 4
    assert events[1].type == "MapStateStarted" and events[1].details == {"length": 4}


def test_map_tolerates_failures_up_to_the_threshold() -> None:
    async def task(rt: RunTask) -> Outcome:
        return Err("Odd", "odd item") if rt.payload % 2 else Ok(rt.payload)

    def machine(tolerated: int) -> dict[str, Any]:
        return {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "ToleratedFailureCount": tolerated,
                    "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": True}}},
                    "End": True,
                }
            },
        }  # fmt: skip

    end, _ = run(machine(2), [1, 2, 3, 4], task)
    assert isinstance(end, Succeed)
    assert end.output == [{"Error": "Odd", "Cause": "odd item"}, 2,
                          {"Error": "Odd", "Cause": "odd item"}, 4]  # fmt: skip
    end, _ = run(machine(1), [1, 2, 3, 4], task)
    assert isinstance(end, Fail) and end.error == "States.ExceedToleratedFailureThreshold"


def test_branch_variables_do_not_leak_out_but_outer_ones_are_visible() -> None:
    definition: dict[str, Any] = {
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"outer": "o"}, "Next": "P"},
            "P": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "In", "States": {"In": {
                    "Type": "Pass", "Assign": {"inner": "i"},
                    "Parameters": {"seen.$": "$outer"}, "End": True}}}],
                "Next": "After",
            },
            "After": {"Type": "Pass", "Parameters": {"outer.$": "$outer", "branches.$": "$"}, "End": True},
        },
    }  # fmt: skip
    end, _ = run(definition, {})
    assert isinstance(end, Succeed)
    assert end.output == {"outer": "o", "branches": [{"seen": "o"}]}
    definition["States"]["After"]["Parameters"] = {"inner.$": "$inner"}
    end, _ = run(definition, {})
    assert isinstance(end, Fail) and end.error == "States.Runtime"


def test_wait_seconds_path_and_fail_paths() -> None:
    definition = {
        "StartAt": "W",
        "States": {
            "W": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "F"},
            "F": {
                "Type": "Fail",
                "ErrorPath": "$.err",
                "CausePath": "States.Format('code {}', $.code)",
            },
        },
    }
    end, events = run(definition, {"delay": 5, "err": "Custom", "code": 7})
    assert isinstance(end, Fail) and (end.error, end.cause) == ("Custom", "code 7")
    assert [e.type for e in events] == ["WaitStateEntered", "WaitStateExited", "FailStateEntered"]


def test_wait_for_task_token_puts_a_token_in_the_context() -> None:
    tokens: list[str | None] = []

    async def task(rt: RunTask) -> Outcome:
        tokens.append(rt.token)
        return Ok(rt.payload)

    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                         "Parameters": {"FunctionName": "f", "Payload": {"token.$": "$$.Task.Token"}},
                         "HeartbeatSeconds": 60, "End": True}},
    }  # fmt: skip
    end, events = run(definition, {}, task)
    assert isinstance(end, Succeed)
    assert tokens == ["token-1"] and end.output["Payload"] == {"token": "token-1"}
    scheduled = next(e for e in events if e.type == "TaskScheduled")
    assert scheduled.details["resourceType"] == "lambda"
    assert scheduled.details["resource"] == "invoke.waitForTaskToken"
    assert scheduled.details["heartbeatInSeconds"] == 60


def test_no_choice_matched_without_default() -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "S"}]},
            "S": {"Type": "Succeed"},
        },
    }  # fmt: skip
    end, _ = run(definition, {"x": False})
    assert isinstance(end, Fail) and end.error == "States.NoChoiceMatched"
    _ = echo


def test_a_retried_parallel_runs_all_its_branches_again_and_maps_nest() -> None:
    calls: list[Any] = []

    async def task(rt: RunTask) -> Outcome:
        calls.append(rt.payload)
        return Err("Flaky", "first time") if len(calls) == 1 else Ok({"ok": len(calls)})

    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "Branches": [
                    {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": True}}},
                    {"StartAt": "Outer", "States": {"Outer": {
                        "Type": "Map", "ItemsPath": "$.rows", "End": True,
                        "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": {
                            "Type": "Map", "ItemsPath": "$", "End": True,
                            "ItemProcessor": {"StartAt": "Double", "States": {"Double": {
                                "Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, $)"},
                                "End": True}}}}}}}}},
                ],
                "End": True,
            }
        },
    }  # fmt: skip
    end, events = run(definition, {"rows": [[1, 2], [3]]}, task)
    assert isinstance(end, Succeed)
    assert end.output == [{"ok": 2}, [[{"v": 2}, {"v": 4}], [{"v": 6}]]]
    assert len(calls) == 2
    assert [e.type for e in events].count("ParallelStateStarted") == 2


def test_a_failed_iteration_aborts_the_ones_in_flight() -> None:
    import asyncio

    async def task(rt: RunTask) -> Outcome:
        if rt.payload == 0:
            return Err("Broken", "item 0")
        await asyncio.sleep(30)  # cancelled by the failure long before
        return Ok(rt.payload)

    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": True}}},
                "End": True,
            }
        },
    }  # fmt: skip
    end, events = run(definition, [0, 1, 2], task)
    assert isinstance(end, Fail) and end.error == "Broken"
    ends = {(e.type, e.details.get("index")) for e in events if e.type.startswith("MapIteration")
            and e.type != "MapIterationStarted"}  # fmt: skip
    assert ends == {("MapIterationFailed", 0), ("MapIterationAborted", 1),
                    ("MapIterationAborted", 2)}  # fmt: skip
    # as AWS records it: each iteration's end, then its unfinished Task state's abort
    tail = [(e.type, e.details.get("index")) for e in events
            if e.type in ("MapIterationFailed", "MapIterationAborted", "TaskStateAborted")]  # fmt: skip
    assert tail == [("MapIterationFailed", 0), ("TaskStateAborted", None),
                    ("MapIterationAborted", 1), ("TaskStateAborted", None),
                    ("MapIterationAborted", 2), ("TaskStateAborted", None)]  # fmt: skip
    assert [e.type for e in events][-1] == "MapStateFailed"


def test_a_task_failing_a_parallel_branch_is_aborted_and_a_fail_state_is_not() -> None:
    async def task(rt: RunTask) -> Outcome:
        return Err("Broken", "no")

    branch = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": True}}}
    failing = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}}
    caught = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": True,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
              "F": {"Type": "Fail", "Error": "E"}}}  # fmt: skip
    for branches, aborted in (([branch], 1), ([failing], 0), ([caught], 0)):
        definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True,
                                                       "Branches": branches}}}  # fmt: skip
        end, events = run(definition, {}, task)
        assert isinstance(end, Fail)
        types = [e.type for e in events]
        assert types.count("TaskStateAborted") == aborted
        if aborted:
            failed = types.index("LambdaFunctionFailed")
            assert types[failed : failed + 3] == [
                "LambdaFunctionFailed", "TaskStateAborted", "ParallelStateFailed"
            ]  # fmt: skip


def test_an_uncaught_jsonata_evaluation_error_is_recorded_as_evaluation_failed() -> None:
    # as AWS records it (LocalStack's AWS-recorded snapshots, see docs/workflows.md)
    def one(state: dict[str, Any]) -> tuple[Succeed | Fail, list[Any]]:
        state = {"QueryLanguage": "JSONata", **state}
        return run({"StartAt": "S", "States": {"S": state}}, {})

    cases = [
        ({"Type": "Pass", "Output": "{% $nothing() %}", "End": True},
         ["PassStateEntered", "EvaluationFailed"], "Output"),
        ({"Type": "Map", "Items": "{% 1 %}", "End": True, "ItemProcessor": {
            "StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}},
         ["MapStateEntered", "EvaluationFailed", "MapStateFailed"], "Items"),
        ({"Type": "Task", "Resource": FN, "Arguments": "{% $nothing() %}", "End": True},
         ["TaskStateEntered", "EvaluationFailed"], "Arguments"),
        ({"Type": "Wait", "Timestamp": "{% '2016-12-05 21:29:29Z' %}", "End": True},
         ["WaitStateEntered", "EvaluationFailed"], "Timestamp"),
    ]  # fmt: skip
    for state, types, location in cases:
        end, events = one(state)
        assert isinstance(end, Fail) and end.error == "States.QueryEvaluationError"
        assert [e.type for e in events] == types
        assert events[1].details == {"error": end.error, "cause": end.cause,
                                     "location": location, "state": "S"}  # fmt: skip
    # worded as AWS words them (test_base_scenarios / test_wait_timestamp_jsonata snapshots)
    items_end, wait_end = one(cases[1][0])[0], one(cases[3][0])[0]
    # (the helper's history has no ExecutionStarted: the state's Entered event is #1)
    prefix = "An error occurred while executing the state 'S' (entered at the event id #1). "
    assert isinstance(items_end, Fail) and items_end.cause == prefix + (
        "The JSONata expression '1' specified for the field 'Items' returned an unexpected "
        "result type. Expected 'array', but was 'number' for value: 1"
    )
    pass_end = one(cases[0][0])[0]
    assert isinstance(pass_end, Fail) and pass_end.cause == prefix + (
        "The JSONata expression '$nothing()' specified for the field 'Output' threw an error "
        "during evaluation. T1006: Attempted to invoke a non-function"
    )
    fn = {**cases[1][0], "Items": "{% $fn := function($x){$x} %}"}
    fn_end = one(fn)[0]
    assert isinstance(fn_end, Fail) and fn_end.cause == prefix + (
        "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' "
        "returned an unsupported result type."
    )
    assert isinstance(wait_end, Fail) and wait_end.cause == prefix + (
        "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time "
        "format string: 2016-12-05 21:29:29Z"
    )
    # caught, it is the Catch's to handle: no EvaluationFailed
    caught = {"Type": "Task", "Resource": FN, "Arguments": "{% $nothing() %}", "Next": "C",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}]}  # fmt: skip
    end, events = run({"QueryLanguage": "JSONata", "StartAt": "S", "States": {
        "S": caught, "C": {"Type": "Pass", "End": True}}}, {})  # fmt: skip
    assert isinstance(end, Succeed)
    assert "EvaluationFailed" not in [e.type for e in events]


def test_a_jsonata_expression_that_returns_nothing_fails_where_a_value_is_needed() -> None:
    # AWS-recorded: test_assign_reference_variables.py::test_undefined_reference (Output,
    # Output/result, Assign/result, Arguments, Arguments/FunctionName), test_error_output
    def one(state: dict[str, Any], data: Any = None) -> tuple[Succeed | Fail, list[Any]]:
        machine = {"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": state}}
        return run(machine, {"x": None} if data is None else data)

    pass_end: dict[str, Any] = {"Type": "Pass", "End": True}
    items: dict[str, Any] = {"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "I", "States": {"I": pass_end}}}  # fmt: skip
    cases: list[tuple[dict[str, Any], str]] = [
        ({**pass_end, "Output": "{% $doesNotExist %}"}, "Output"),
        ({**pass_end, "Output": {"result": "{% $states.input.missing %}"}}, "Output/result"),
        ({**pass_end, "Output": {"a": [1, {"b": "{% $nope %}"}]}}, "Output/a[1]/b"),
        ({**pass_end, "Assign": {"result": "{% $doesNotExist %}"}}, "Assign/result"),
        ({"Type": "Task", "Resource": FN, "End": True,
          "Arguments": {"FunctionName": "{% $doesNotExist %}"}}, "Arguments/FunctionName"),
        ({**items, "Items": "{% $states.input.missing %}"}, "Items"),
        ({"Type": "Choice", "Default": "D", "Choices": [
            {"Condition": "{% $states.input.missing %}", "Next": "D"}]}, "Condition"),
        ({"Type": "Wait", "Seconds": "{% $states.input.missing %}", "End": True}, "Seconds"),
        ({"Type": "Fail", "Error": "{% $states.input.missing %}"}, "Error"),
    ]  # fmt: skip
    for state, location in cases:
        if state["Type"] == "Choice":
            end, events = run({"QueryLanguage": "JSONata", "StartAt": "S", "States": {
                "S": state, "D": pass_end}}, {})  # fmt: skip
        else:
            end, events = one(state)
        assert isinstance(end, Fail), (state, end)
        assert end.error == "States.QueryEvaluationError", end
        assert end.cause.endswith(
            f"specified for the field '{location}' returned nothing (undefined)."
        ), end.cause
        failed = next(e for e in events if e.type == "EvaluationFailed")
        assert failed.details["location"] == location
    # null is a value: JSON null in, null out (from the input, a literal, a variable)
    state = {**pass_end, "Assign": {"v": None},
             "Output": {"a": "{% null %}", "b": "{% $states.input.x %}", "c": [None]}}  # fmt: skip
    end, _ = one(state)
    assert isinstance(end, Succeed) and end.output == {"a": None, "b": None, "c": [None]}
    two = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"v": None}, "Next": "B"},
        "B": {**pass_end, "Output": "{% $v %}"}}}  # fmt: skip
    end, _ = run(two, {})
    assert isinstance(end, Succeed) and end.output is None
    # inside one expression JSONata's rules stay: an undefined member or item is left out
    state = {**pass_end, "Output": "{% {'a': $states.input.missing, 'b': [1, $nope]} %}"}
    end, _ = one(state)
    assert isinstance(end, Succeed) and end.output == {"b": [1]}
    # caught like any other evaluation error
    caught = {
        "Type": "Task",
        "Resource": FN,
        "Arguments": "{% $nope %}",
        "Next": "C",
        "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "C"}],
    }
    end, events = run({"QueryLanguage": "JSONata", "StartAt": "S", "States": {
        "S": caught, "C": pass_end}}, {})  # fmt: skip
    assert isinstance(end, Succeed) and "EvaluationFailed" not in [e.type for e in events]
    assert isinstance(end.output, dict) and end.output["Error"] == "States.QueryEvaluationError"
