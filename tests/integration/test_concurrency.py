"""Scale-out to more environments, and 429 at the limits, never a hang."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import LaminaProcess, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

SLEEPY = """
import os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return context.log_stream_name
"""


def test_concurrent_invokes_scale_out_to_separate_environments(lamina: LaminaProcess) -> None:
    lamina.create("conc-scale", python_zip(SLEEPY), Timeout=10)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        streams = list(
            pool.map(lambda _: lamina.invoke("conc-scale", {"sleep": 1}).json(), range(4))
        )
    assert len(set(streams)) == 4


def test_reserved_concurrency_throttles_with_429_at_once(lamina: LaminaProcess) -> None:
    client = lamina.lambda_client()
    lamina.create("conc-reserved", python_zip(SLEEPY), Timeout=10)
    client.put_function_concurrency(FunctionName="conc-reserved", ReservedConcurrentExecutions=1)
    assert (
        client.get_function_concurrency(FunctionName="conc-reserved")[
            "ReservedConcurrentExecutions"
        ]
        == 1
    )
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        busy = pool.submit(lamina.invoke, "conc-reserved", {"sleep": 2})
        time.sleep(0.5)
        started = time.monotonic()
        with pytest.raises(ClientError) as err:
            lamina.invoke("conc-reserved", {})
        waited = time.monotonic() - started
        assert busy.result().function_error is None
    e = err.value.response
    assert e["Error"]["Code"] == "TooManyRequestsException"
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert e.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert waited < 1.5, "a throttled invoke waited for the busy one instead of failing fast"
    client.delete_function_concurrency(FunctionName="conc-reserved")
    assert lamina.invoke("conc-reserved", {}).function_error is None


@pytest.fixture
def small_account(tmp_path: Path) -> Iterator[LaminaProcess]:
    server = LaminaProcess(tmp_path / "data", {"LAMINA_CONCURRENCY_LIMIT": "2"}).start()
    yield server
    server.stop()


def test_account_concurrency_limit_throttles(small_account: LaminaProcess) -> None:
    small_account.create("conc-account", python_zip(SLEEPY), Timeout=10)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [
            pool.submit(small_account.invoke, "conc-account", {"sleep": 2}) for _ in range(3)
        ]
        outcomes = []
        for f in futures:
            try:
                outcomes.append(f.result().function_error or "ok")
            except ClientError as exc:
                outcomes.append(exc.response["Error"]["Code"])
    assert sorted(outcomes) == ["TooManyRequestsException", "ok", "ok"]


def test_two_servers_on_one_host_never_touch_each_others_environments(
    lamina: LaminaProcess, tmp_path: Path
) -> None:
    lamina.create("conc-neighbour", python_zip(SLEEPY), Timeout=10)
    first = lamina.invoke("conc-neighbour", {})
    # A leftover group of a server that died without cleaning up is reclaimed by the next.
    stale = Path("/sys/fs/cgroup/freezer/lamina/s999999999/leftover")
    stale.mkdir(parents=True)
    other = LaminaProcess(tmp_path / "other").start()
    try:
        assert not stale.exists() and not stale.parent.exists()
        again = lamina.invoke("conc-neighbour", {})
        assert again.report()["init"] is None, "starting a second server killed a warm environment"
        assert again.json() == first.json()
    finally:
        other.stop()
    assert lamina.invoke("conc-neighbour", {}).report()["init"] is None
