"""Provisioned concurrency through boto3: the four operations and their errors, and a real
function with two environments initialised ahead of its invokes, a third invoke spilling
over to an on-demand one, a restart that brings them back, and the deletion that ends them."""

from __future__ import annotations

import concurrent.futures
import functools
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from lamina.billing.meter import gb_seconds
from lamina.client.http import Client
from tests.integration.harness import (
    Invocation,
    LaminaProcess,
    api_error,
    aws_client,
    lamina_cli,
    log_text,
    python_zip,
    unvalidated_client,
)
from tests.sam.upcli import nothing_done, up

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

# Each invoke holds its environment for a while, so concurrent ones cannot share one.
HANDLER = """
import os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {
        "type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"],
        "stream": context.log_stream_name,
    }
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(tmp_path / "data", {"LAMINA_FREEZE_GRACE_S": "0.05"}).start()
    yield proc
    proc.stop()


def wait_ready(client: Any, name: str, qualifier: str) -> dict[str, Any]:
    """GetProvisionedConcurrencyConfig once its Status is no longer IN_PROGRESS."""
    deadline = time.monotonic() + 60
    while True:
        got: dict[str, Any] = client.get_provisioned_concurrency_config(
            FunctionName=name, Qualifier=qualifier
        )
        if got["Status"] != "IN_PROGRESS":
            return got
        assert time.monotonic() < deadline, f"still IN_PROGRESS: {got}"
        time.sleep(0.1)


def environments(server: LaminaProcess, name: str) -> list[dict[str, Any]]:
    rows = Client(server.endpoint).call("GET", "/lamina/v1/environments")["Environments"]
    return [r for r in rows if r["Function"] == name]


def concurrently(server: LaminaProcess, name: str, n: int, sleep: float) -> list[Invocation]:
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(
            pool.map(lambda _: server.invoke(name, {"sleep": sleep}, Qualifier="live"), range(n))
        )


def test_the_operations_refuse_what_lambda_refuses(server: LaminaProcess) -> None:
    client = server.lambda_client()
    raw = unvalidated_client(server)
    server.create("pc-rules", python_zip(HANDLER))
    version = client.publish_version(FunctionName="pc-rules")["Version"]
    client.create_alias(FunctionName="pc-rules", Name="live", FunctionVersion=version)
    client.create_alias(FunctionName="pc-rules", Name="head", FunctionVersion="$LATEST")

    unpublished = (
        "InvalidParameterValueException",
        400,
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
    )
    for qualifier in ("$LATEST", "head"):
        put = functools.partial(
            client.put_provisioned_concurrency_config,
            FunctionName="pc-rules",
            Qualifier=qualifier,
            ProvisionedConcurrentExecutions=1,
        )
        assert api_error(put) == unpublished
    code, status, message = api_error(
        lambda: raw.put_provisioned_concurrency_config(
            FunctionName="pc-rules", Qualifier="live", ProvisionedConcurrentExecutions=0
        )
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "greater than or equal to 1" in message
    code, status, _ = api_error(
        lambda: client.put_provisioned_concurrency_config(
            FunctionName="pc-rules", Qualifier="9", ProvisionedConcurrentExecutions=1
        )
    )
    assert (code, status) == ("ResourceNotFoundException", 404)
    code, status, _ = api_error(
        lambda: client.get_provisioned_concurrency_config(FunctionName="pc-rules", Qualifier="live")
    )
    assert (code, status) == ("ProvisionedConcurrencyConfigNotFoundException", 404)
    # More than the account's unreserved pool leaves (1000 less its minimum of 100).
    code, status, message = api_error(
        lambda: client.put_provisioned_concurrency_config(
            FunctionName="pc-rules", Qualifier="live", ProvisionedConcurrentExecutions=901
        )
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "UnreservedConcurrentExecution" in message
    # More than the function's reserved concurrency.
    client.put_function_concurrency(FunctionName="pc-rules", ReservedConcurrentExecutions=1)
    code, status, message = api_error(
        lambda: client.put_provisioned_concurrency_config(
            FunctionName="pc-rules", Qualifier="live", ProvisionedConcurrentExecutions=2
        )
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "reservedConcurrentExecution" in message
    # Within it: accepted (202), IN_PROGRESS or READY, then READY with one allocated.
    put = client.put_provisioned_concurrency_config(
        FunctionName="pc-rules", Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 1
    assert put["Status"] in ("IN_PROGRESS", "READY")
    ready = wait_ready(client, "pc-rules", "live")
    assert ready["Status"] == "READY"
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 1
    assert ready["AvailableProvisionedConcurrentExecutions"] == 1
    # Its reserved concurrency can no longer go below the provisioned total (1); to it, yes.
    assert api_error(
        lambda: client.put_function_concurrency(
            FunctionName="pc-rules", ReservedConcurrentExecutions=0
        )
    ) == (
        "InvalidParameterValueException",
        400,
        "ReservedConcurrentExecutions 0 should not be lower than function's total "
        "provisioned concurrency [1].",
    )
    assert client.get_function_concurrency(FunctionName="pc-rules") == {
        "ReservedConcurrentExecutions": 1,
        "ResponseMetadata": ANY,
    }
    client.put_function_concurrency(FunctionName="pc-rules", ReservedConcurrentExecutions=1)
    # The alias serves version 1: the version itself cannot have one too.
    code, status, _ = api_error(
        lambda: client.put_provisioned_concurrency_config(
            FunctionName="pc-rules", Qualifier=version, ProvisionedConcurrentExecutions=1
        )
    )
    assert (code, status) == ("ResourceConflictException", 409)
    listed = client.list_provisioned_concurrency_configs(FunctionName="pc-rules")
    arns = [c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]]
    assert arns == ["arn:aws:lambda:us-east-1:000000000000:function:pc-rules:live"]
    # Deleting the alias deletes its configuration and its environment.
    client.delete_alias(FunctionName="pc-rules", Name="live")
    assert (
        client.list_provisioned_concurrency_configs(FunctionName="pc-rules")[
            "ProvisionedConcurrencyConfigs"
        ]
        == []
    )
    deadline = time.monotonic() + 10
    while any(
        e["InitializationType"] == "provisioned-concurrency"
        for e in environments(server, "pc-rules")
    ):
        assert time.monotonic() < deadline, "the deleted configuration's environment lives on"
        time.sleep(0.05)

    # Deleting the function deletes its configurations (on a version here) and environments.
    client.put_provisioned_concurrency_config(
        FunctionName="pc-rules", Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    assert wait_ready(client, "pc-rules", version)["Status"] == "READY"
    client.delete_function(FunctionName="pc-rules")
    gone_by = time.monotonic() + 10
    while environments(server, "pc-rules"):
        assert time.monotonic() < gone_by, "the deleted function's environment lives on"
        time.sleep(0.05)
    server.create("pc-rules", python_zip(HANDLER))  # the same name again: nothing carried over
    version = client.publish_version(FunctionName="pc-rules")["Version"]
    assert (
        client.list_provisioned_concurrency_configs(FunctionName="pc-rules")[
            "ProvisionedConcurrencyConfigs"
        ]
        == []
    )

    # SnapStart does not support provisioned concurrency: its version, nor an alias of it.
    server.create(
        "pc-snap",
        python_zip(HANDLER),
        runtime="python3.12",
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    snapped = client.publish_version(FunctionName="pc-snap")["Version"]
    client.create_alias(FunctionName="pc-snap", Name="live", FunctionVersion=snapped)
    for qualifier in (snapped, "live"):
        put = functools.partial(
            client.put_provisioned_concurrency_config,
            FunctionName="pc-snap",
            Qualifier=qualifier,
            ProvisionedConcurrentExecutions=1,
        )
        assert api_error(put) == (
            "InvalidParameterValueException",
            400,
            "Provisioned Concurrency is not supported for function versions with SnapStart "
            "enabled.",
        )
    assert (
        client.list_provisioned_concurrency_configs(FunctionName="pc-snap")[
            "ProvisionedConcurrencyConfigs"
        ]
        == []
    )
    # With SnapStart off, the next version takes one.
    client.update_function_configuration(FunctionName="pc-snap", SnapStart={"ApplyOn": "None"})
    client.get_waiter("function_updated_v2").wait(FunctionName="pc-snap")
    plain = client.publish_version(FunctionName="pc-snap")["Version"]
    client.put_provisioned_concurrency_config(
        FunctionName="pc-snap", Qualifier=plain, ProvisionedConcurrentExecutions=1
    )
    assert wait_ready(client, "pc-snap", plain)["Status"] == "READY"


def test_two_provisioned_environments_serve_first_and_a_third_spills_over(
    server: LaminaProcess,
) -> None:
    client = server.lambda_client()
    server.create("pc-real", python_zip(HANDLER), Timeout=30)
    version = client.publish_version(FunctionName="pc-real")["Version"]
    client.create_alias(FunctionName="pc-real", Name="live", FunctionVersion=version)
    client.put_provisioned_concurrency_config(
        FunctionName="pc-real", Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    ready = wait_ready(client, "pc-real", "live")
    assert (ready["Status"], ready["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 2)

    # Two environments, initialised before any invoke.
    envs = environments(server, "pc-real")
    assert [(e["InitializationType"], e["Invocations"]) for e in envs] == [
        ("provisioned-concurrency", 0)
    ] * 2
    assert log_text(server, "pc-real").count("INIT_START") == 2
    assert "START RequestId" not in log_text(server, "pc-real")

    # Two concurrent invokes: both served by them, with no Init Duration.
    served = concurrently(server, "pc-real", 2, 1.0)
    assert sorted(i.json()["type"] for i in served) == ["provisioned-concurrency"] * 2
    assert [i.report()["init"] for i in served] == [None, None]
    assert len({i.json()["stream"] for i in served}) == 2
    assert {i.executed_version for i in served} == {version}

    # Three: the third spills over to an on-demand environment, with its Init Duration.
    served = concurrently(server, "pc-real", 3, 2.0)
    by_type = sorted(served, key=lambda i: i.json()["type"])
    assert [i.json()["type"] for i in by_type] == [
        "on-demand",
        "provisioned-concurrency",
        "provisioned-concurrency",
    ]
    assert by_type[0].report()["init"] is not None
    assert [i.report()["init"] for i in by_type[1:]] == [None, None]

    # Deleting the configuration shuts its environments down; the on-demand one stays.
    client.delete_provisioned_concurrency_config(FunctionName="pc-real", Qualifier="live")
    deadline = time.monotonic() + 10
    while True:
        types = [e["InitializationType"] for e in environments(server, "pc-real")]
        if types == ["on-demand"]:
            break
        assert time.monotonic() < deadline, types
        time.sleep(0.05)
    code, status, _ = api_error(
        lambda: client.get_provisioned_concurrency_config(FunctionName="pc-real", Qualifier="live")
    )
    assert (code, status) == ("ProvisionedConcurrencyConfigNotFoundException", 404)

    # The bill: each invoke at its price, and the configured concurrency for its READY span.
    Client(server.endpoint).call("GET", "/lamina/v1/cost")  # flushes the ledger
    with closing(sqlite3.connect(server.data_dir / "ledger.db")) as conn:
        rows = conn.execute(
            "SELECT provisioned, memory_mb, billed_ms, duration_cost FROM invocations "
            "WHERE function = 'pc-real'"
        ).fetchall()
    assert sorted(p for p, _, _, _ in rows) == [0, 1, 1, 1, 1]
    for provisioned, memory_mb, billed_ms, duration_cost in rows:
        price = D("0.0000097222") if provisioned else D("0.0000166667")
        assert D(duration_cost) == gb_seconds(memory_mb, billed_ms) * price
    # The metrics: four invokes served by provisioned environments, one spilled over.
    cw = aws_client(server, "cloudwatch")
    now = datetime.now(UTC)
    sums = {}
    for metric in (
        "ProvisionedConcurrencyInvocations",
        "ProvisionedConcurrencySpilloverInvocations",
        "Invocations",
    ):
        points = cw.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=metric,
            Dimensions=[
                {"Name": "FunctionName", "Value": "pc-real"},
                {"Name": "Resource", "Value": f"pc-real:{version}"},
            ],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(minutes=2),
            Period=3600 + 180,
            Statistics=["Sum"],
        )["Datapoints"]
        sums[metric] = sum(p["Sum"] for p in points)
    assert sums == {
        "ProvisionedConcurrencyInvocations": 4,
        "ProvisionedConcurrencySpilloverInvocations": 1,
        "Invocations": 5,
    }
    # One sample per invocation of the version: how many of its two provisioned
    # environments were busy when it began (1, then 2, in each concurrent pair; 2 for the
    # one that spilled over), and that over the 2 configured. Read per minute, as Lambda
    # publishes them, through both reads.
    dims = [
        {"Name": "FunctionName", "Value": "pc-real"},
        {"Name": "Resource", "Value": f"pc-real:{version}"},
    ]
    window = {"StartTime": now - timedelta(hours=1), "EndTime": now + timedelta(minutes=2)}
    samples: dict[str, list[dict[str, Any]]] = {}
    for metric in ("ProvisionedConcurrentExecutions", "ProvisionedConcurrencyUtilization"):
        samples[metric] = cw.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=metric,
            Dimensions=dims,
            Period=60,
            Statistics=["Maximum", "Minimum", "SampleCount", "Sum"],
            **window,
        )["Datapoints"]
    for metric, low, high in (
        ("ProvisionedConcurrentExecutions", 1, 2),
        ("ProvisionedConcurrencyUtilization", 0.5, 1.0),
    ):
        points = samples[metric]
        assert sum(p["SampleCount"] for p in points) == 5
        assert (min(p["Minimum"] for p in points), max(p["Maximum"] for p in points)) == (
            low,
            high,
        )
        assert {p["Unit"] for p in points} == {"Count"}
    assert sum(p["Sum"] for p in samples["ProvisionedConcurrentExecutions"]) == 8  # 1+2+1+2+2
    assert sum(p["Sum"] for p in samples["ProvisionedConcurrencyUtilization"]) == 4.0
    answer = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "used",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "ProvisionedConcurrencyUtilization",
                        "Dimensions": dims,
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
        **window,
    )["MetricDataResults"][0]
    by_minute = {
        int(p["Timestamp"].timestamp()): p["Maximum"]
        for p in samples["ProvisionedConcurrencyUtilization"]
    }
    got = {
        int(at.timestamp()): v for at, v in zip(answer["Timestamps"], answer["Values"], strict=True)
    }
    assert got == by_minute and max(got.values()) == 1.0
    out = lamina_cli("cost", "pc-real", "--json", "--endpoint", server.endpoint)
    assert out.returncode == 0, out.stderr
    (charge,) = [r for r in json.loads(out.stdout) if r.get("kind") == "provisioned"]
    assert (charge["qualifier"], charge["version"], charge["concurrency"]) == ("live", version, 2)
    assert charge["billed_seconds"] == 300  # well under 5 minutes READY: one increment
    gb_s = D(128 * 2 * 300) / 1024
    assert (D(charge["gb_s"]), D(charge["cost"])) == (gb_s, gb_s * D("0.0000041667"))


def test_a_configuration_survives_a_restart_and_goes_with_its_version(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = LaminaProcess(data).start()
    try:
        client = first.lambda_client()
        first.create("pc-kept", python_zip(HANDLER))
        version = client.publish_version(FunctionName="pc-kept")["Version"]
        client.put_provisioned_concurrency_config(
            FunctionName="pc-kept", Qualifier=version, ProvisionedConcurrentExecutions=1
        )
        assert wait_ready(client, "pc-kept", version)["Status"] == "READY"
    finally:
        first.stop()
    second = LaminaProcess(data).start()
    try:
        client = second.lambda_client()
        ready = wait_ready(client, "pc-kept", version)
        assert (ready["Status"], ready["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 1)
        invoked = second.invoke("pc-kept", {}, Qualifier=version)
        assert invoked.json()["type"] == "provisioned-concurrency"
        assert invoked.report()["init"] is None
        client.delete_function(FunctionName="pc-kept", Qualifier=version)
        gone_by = time.monotonic() + 10
        while environments(second, "pc-kept"):
            assert time.monotonic() < gone_by, "the deleted version's environment lives on"
            time.sleep(0.05)
        code, _, _ = api_error(
            lambda: client.get_provisioned_concurrency_config(
                FunctionName="pc-kept", Qualifier=version
            )
        )
        assert code == "ResourceNotFoundException"  # the version is gone
    finally:
        second.stop()


def test_a_failing_init_makes_the_configuration_failed(server: LaminaProcess) -> None:
    client = server.lambda_client()
    server.create("pc-broken", python_zip("raise RuntimeError('no INIT for you')\n"))
    version = client.publish_version(FunctionName="pc-broken")["Version"]
    client.put_provisioned_concurrency_config(
        FunctionName="pc-broken", Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    failed = wait_ready(client, "pc-broken", version)
    assert failed["Status"] == "FAILED"
    assert failed["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE"
    assert failed["AllocatedProvisionedConcurrentExecutions"] == 0


SAM_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Hot:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      AutoPublishAlias: live
{provisioned}
"""


def sam_project(root: Path, provisioned: int | None, marker: str) -> Path:
    extra = (
        f"      ProvisionedConcurrencyConfig:\n        ProvisionedConcurrentExecutions: {provisioned}\n"
        if provisioned
        else ""
    )
    (root / "template.yaml").write_text(SAM_TEMPLATE.format(provisioned=extra))
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "app.py").write_text(HANDLER + f"\nMARKER = {marker!r}\n")
    return root / "template.yaml"


def test_lamina_up_provisions_the_alias_and_follows_its_new_versions(
    server: LaminaProcess, tmp_path: Path
) -> None:
    client = server.lambda_client()
    name = "pcsam-Hot"
    template = sam_project(tmp_path, 1, "one")
    code, report = up(server, template, "--stack-name", "pcsam")
    assert code == 0, report
    ready = wait_ready(client, name, "live")
    assert (ready["Status"], ready["RequestedProvisionedConcurrentExecutions"]) == ("READY", 1)
    first = server.invoke(name, {}, Qualifier="live")
    assert (first.json()["type"], first.executed_version) == ("provisioned-concurrency", "1")

    # New code: the alias moves to version 2, and its provisioned environment with it.
    sam_project(tmp_path, 2, "two")
    code, report = up(server, template, "--stack-name", "pcsam")
    assert code == 0, report
    (changed,) = report["changed"]
    assert "provisioned concurrency → 2" in changed["changes"]
    ready = wait_ready(client, name, "live")
    assert (ready["Status"], ready["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 2)
    second = server.invoke(name, {}, Qualifier="live")
    assert (second.json()["type"], second.executed_version) == ("provisioned-concurrency", "2")

    # Unchanged: nothing to do. Then removed from the template: the configuration goes.
    code, report = up(server, template, "--stack-name", "pcsam")
    assert code == 0 and nothing_done(report), report
    sam_project(tmp_path, None, "two")
    code, report = up(server, template, "--stack-name", "pcsam")
    assert code == 0, report
    code_, status, _ = api_error(
        lambda: client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    )
    assert (code_, status) == ("ProvisionedConcurrencyConfigNotFoundException", 404)
