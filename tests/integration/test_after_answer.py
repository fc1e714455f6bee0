"""The meter and the lines after the answer, seen from outside: boto3 against a real server.

Invokes without ``LogType=Tail`` get their answer before END and REPORT are written (a
loop iteration or two later: a request that arrives meanwhile may be served first, as
CloudWatch Logs' reads on AWS trail the invoke too); CloudWatch Logs' FilterLogEvents then
finds every invoke's START, the function's line, END and REPORT, in that order. With
``Tail`` the tail holds them.
"""

from __future__ import annotations

import base64
import time

import pytest

from tests.integration.harness import LaminaProcess, aws_client, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

NAME = "after-answer"
CODE = """
def handler(event, context):
    print("line of", context.aws_request_id)
    return event
"""


def test_back_to_back_invokes_are_each_logged_in_order_after_their_answers(
    lamina: LaminaProcess,
) -> None:
    lamina.create(NAME, python_zip(CODE), MemorySize=256)
    lam = lamina.lambda_client()
    logs = aws_client(lamina, "logs")
    ids = []
    for n in range(6):  # a cold start, then five warm invokes on one environment
        out = lam.invoke(FunctionName=NAME, Payload=b'{"n": %d}' % n)
        assert out["StatusCode"] == 200 and "LogResult" not in out
        assert out["Payload"].read() == b'{"n": %d}' % n
        ids.append(out["ResponseMetadata"]["RequestId"])
    deadline = time.monotonic() + 20
    while True:  # the last invoke's END and REPORT follow its answer
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{NAME}")["events"]
        lines = [e["message"].rstrip("\n") for e in events if not e["message"].startswith("INIT")]
        if any(line.startswith(f"REPORT RequestId: {ids[-1]}") for line in lines):
            break
        assert time.monotonic() < deadline, lines
        time.sleep(0.05)
    expected = []
    for rid in ids:
        expected += [f"START {rid}", f"line of {rid}", f"END {rid}", f"REPORT {rid}"]
    seen = [
        f"{line.split(' ')[0]} {line.split('RequestId: ')[1].split()[0]}"
        if "RequestId: " in line
        else line
        for line in lines
    ]
    assert seen == expected
    reports = [line for line in lines if line.startswith("REPORT")]
    assert all("\tMax Memory Used: " in r and "\tBilled Duration: " in r for r in reports)
    assert "Init Duration" in reports[0] and not any("Init Duration" in r for r in reports[1:])


def test_a_tail_holds_the_invokes_end_and_report(lamina: LaminaProcess) -> None:
    lamina.create(f"{NAME}-tail", python_zip(CODE))
    lam = lamina.lambda_client()
    for _ in range(3):  # warm invokes too
        out = lam.invoke(FunctionName=f"{NAME}-tail", LogType="Tail", Payload=b"{}")
        rid = out["ResponseMetadata"]["RequestId"]
        tail = base64.b64decode(out["LogResult"]).decode()
        order = [f"START RequestId: {rid}", f"line of {rid}", f"END RequestId: {rid}"]
        positions = [tail.index(marker) for marker in order]
        assert positions == sorted(positions)
        assert f"REPORT RequestId: {rid}\tDuration: " in tail
