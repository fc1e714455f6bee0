"""Metrics of a real server: ``/metrics`` parsed by prometheus_client after known traffic.

Signed mode (access keys set), so the scrape's authentication is exercised: Basic
credentials and SigV4 are accepted, nothing else is.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import LaminaProcess, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

KEY, SECRET = "AKIDMETRICS", "metrics-secret"
CODE = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""
OK, FAILED, THROTTLED = 5, 3, 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    env = {"LAMINA_ACCESS_KEYS": f"{KEY}:{SECRET}"}
    proc = LaminaProcess(tmp_path_factory.mktemp("metrics"), env).start()
    try:
        yield proc
    finally:
        proc.stop()


def client(server: LaminaProcess, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 0}),
    )


@pytest.fixture(scope="module")
def traffic(server: LaminaProcess) -> None:
    """OK successes and FAILED errors of ``metered``, THROTTLED throttles of ``blocked``."""
    lam = client(server, "lambda")
    for name in ("metered", "blocked"):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Handler="app.handler",
            Role="arn:aws:iam::000000000000:role/r",
            Code={"ZipFile": python_zip(CODE)},
            MemorySize=256,
        )
    for i in range(OK + FAILED):
        out = lam.invoke(FunctionName="metered", Payload=json.dumps({"fail": i < FAILED}))
        assert ("FunctionError" in out) == (i < FAILED)
    lam.put_function_concurrency(FunctionName="blocked", ReservedConcurrentExecutions=0)
    for _ in range(THROTTLED):
        with pytest.raises(ClientError) as info:
            lam.invoke(FunctionName="blocked", Payload=b"{}")
        assert info.value.response["Error"]["Code"] == "TooManyRequestsException"


def scrape(server: LaminaProcess, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(server.endpoint + "/metrics", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


FN = (("faas_name", "metered"), ("faas_version", "$LATEST"))


def test_scrape_counts_known_invokes_errors_and_throttles(
    server: LaminaProcess, traffic: None
) -> None:
    status, text = scrape(server, basic(KEY, SECRET))
    assert status == 200, text
    got = samples(text)
    assert got[("faas_invocations_total", FN)] == OK + FAILED
    assert got[("faas_errors_total", FN)] == FAILED
    assert got[("faas_timeouts_total", FN)] == 0
    assert got[("faas_coldstarts_total", FN)] >= 1
    blocked = (("faas_name", "blocked"), ("faas_version", "$LATEST"))
    assert got[("lamina_throttles_total", blocked)] == THROTTLED
    assert got[("faas_invocations_total", blocked)] == 0
    # The duration histogram counts every invocation; its +Inf bucket equals _count.
    assert got[("faas_invoke_duration_seconds_count", FN)] == OK + FAILED
    assert got[("faas_invoke_duration_seconds_bucket", (*FN, ("le", "+Inf")))] == OK + FAILED
    assert got[("faas_invoke_duration_seconds_sum", FN)] > 0
    assert got[("faas_init_duration_seconds_count", FN)] == got[("faas_coldstarts_total", FN)]
    assert got[("faas_mem_limit_bytes", FN)] == 256 * 1024 * 1024
    assert 0 < got[("faas_mem_usage_bytes", FN)] <= 256 * 1024 * 1024
    assert got[("lamina_billed_gb_seconds_total", FN)] > 0
    assert got[("lamina_cost_usd_total", FN)] > 0
    assert got[("faas_concurrent_executions", (("faas_name", "metered"),))] == 0
    envs = sum(v for (name, _), v in got.items() if name == "lamina_environments")
    assert envs >= 1


def test_scrape_again_after_more_invokes_counts_them(server: LaminaProcess, traffic: None) -> None:
    before = samples(scrape(server, basic(KEY, SECRET))[1])[("faas_invocations_total", FN)]
    client(server, "lambda").invoke(FunctionName="metered", Payload=b"{}")
    after = samples(scrape(server, basic(KEY, SECRET))[1])[("faas_invocations_total", FN)]
    assert after == before + 1


def test_scrape_needs_credentials_when_keys_are_set(server: LaminaProcess) -> None:
    assert scrape(server, {})[0] == 403
    assert scrape(server, basic(KEY, "wrong"))[0] == 403
    assert scrape(server, basic("AKIDNOBODY", SECRET))[0] == 403
    # A SigV4-signed GET is accepted too.
    aws = AWSRequest(method="GET", url=server.endpoint + "/metrics")
    SigV4Auth(Credentials(KEY, SECRET), "lambda", "us-east-1").add_auth(aws)
    status, text = scrape(server, dict(aws.headers.items()))
    assert status == 200 and "faas_invocations_total" in text
