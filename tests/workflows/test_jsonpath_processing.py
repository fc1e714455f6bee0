"""Input and output processing of JSONPath states, with the AWS documentation's examples."""

from __future__ import annotations

from typing import Any

from lamina.workflows.steps import Ok, Outcome, RunTask, Succeed
from tests.workflows.helpers import echo, ok, run

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:HelloFunction"


def one_task(**fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": LAMBDA, "End": True, **fields}},
    }


def test_input_result_and_output_paths_combine_as_in_the_docs_example() -> None:
    seen: list[Any] = []

    async def hello(rt: RunTask) -> Outcome:
        seen.append(rt.payload)
        return Ok(f"Hello, {rt.payload['who']}!")

    doc_input = {
        "comment": "An input comment.",
        "data": {"val1": 23, "val2": 17},
        "extra": "foo",
        "lambda": {"who": "AWS Step Functions"},
    }
    end, _ = run(
        one_task(InputPath="$.lambda", ResultPath="$.data.lambdaresult", OutputPath="$.data"),
        doc_input,
        hello,
    )
    assert seen == [{"who": "AWS Step Functions"}]
    assert isinstance(end, Succeed)
    assert end.output == {"val1": 23, "val2": 17, "lambdaresult": "Hello, AWS Step Functions!"}


def test_parameters_select_with_dollar_keys_as_in_the_docs_example() -> None:
    doc_input = {
        "comment": "Example for Parameters.",
        "product": {
            "details": {"color": "blue", "size": "small", "material": "cotton"},
            "availability": "in stock",
            "sku": "2317",
            "cost": "$23",
        },
    }
    params = {
        "comment": "Selecting what I care about.",
        "MyDetails": {
            "size.$": "$.product.details.size",
            "exists.$": "$.product.availability",
            "StaticValue": "foo",
        },
    }
    end, _ = run(one_task(Parameters=params), doc_input, echo())
    assert isinstance(end, Succeed)
    assert end.output == {
        "comment": "Selecting what I care about.",
        "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"},
    }


def test_result_selector_picks_from_the_raw_result_as_in_the_docs_example() -> None:
    result = {
        "resourceType": "elasticmapreduce",
        "resource": "createCluster.sync",
        "output": {
            "SdkHttpMetadata": {"HttpStatusCode": 200},
            "SdkResponseMetadata": {"RequestId": "1234-5678-9012"},
            "ClusterId": "AKIAIOSFODNN7EXAMPLE",
        },
    }
    selector = {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"}
    end, _ = run(one_task(ResultSelector=selector, ResultPath="$.EMROutput"), {"a": 1}, ok(result))
    assert isinstance(end, Succeed)
    assert end.output == {
        "a": 1,
        "EMROutput": {"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce"},
    }


def test_pass_result_placed_by_result_path_keeps_the_input() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
                "ResultPath": "$.coords",
                "End": True,
            }
        },
    }
    end, events = run(definition, {"georefOf": "Home"})
    assert isinstance(end, Succeed)
    assert end.output == {
        "georefOf": "Home",
        "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
    }
    assert [e.type for e in events] == ["PassStateEntered", "PassStateExited"]


def test_null_result_path_discards_the_result_and_null_input_path_gives_an_empty_object() -> None:
    seen: list[Any] = []

    async def task(rt: RunTask) -> Outcome:
        seen.append(rt.payload)
        return Ok("ignored")

    end, _ = run(one_task(InputPath=None, ResultPath=None), {"keep": True}, task)
    assert seen == [{}]
    assert isinstance(end, Succeed) and end.output == {"keep": True}


def test_context_object_and_filter_paths() -> None:
    params = {
        "name.$": "$$.Execution.Name",
        "state.$": "$$.State.Name",
        "big.$": "$.items[?(@.n > 1)].n",
        "all.$": "$..n",
        "first.$": "$.items[0]",
    }
    end, _ = run(one_task(Parameters=params), {"items": [{"n": 1}, {"n": 2}, {"n": 3}]}, echo())
    assert isinstance(end, Succeed)
    assert end.output == {"name": "run-1", "state": "T", "big": [2, 3], "all": [1, 2, 3],
                          "first": {"n": 1}}  # fmt: skip


def test_a_missing_path_fails_the_execution_with_states_runtime() -> None:
    end, _ = run(one_task(InputPath="$.nope"), {"a": 1}, echo())
    assert not isinstance(end, Succeed)
    assert end.error == "States.Runtime"
    assert "$.nope" in end.cause


def test_assigned_variables_are_read_by_later_states() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"orderId.$": "$.id", "fixed": 5}, "Next": "B"},
            "B": {
                "Type": "Pass",
                "Parameters": {
                    "order.$": "$orderId",
                    "f.$": "$fixed",
                    "msg.$": "States.Format('order {}', $orderId)",
                },
                "End": True,
            },
        },
    }
    end, _ = run(definition, {"id": "o-17"})
    assert isinstance(end, Succeed)
    assert end.output == {"order": "o-17", "f": 5, "msg": "order o-17"}
