"""Network escapes: each environment has its own network namespace.

A hostile function tries to reach the host's loopback services (including every port the
host has listening on 127.0.0.1, where other environments' Runtime APIs used to be) and
to see other environments' sockets; it must fail. Lamina's own API must still answer at
``AWS_ENDPOINT_URL`` (boto3 to the embedded SQS), and the Runtime API is at
``127.0.0.1:9001`` as on Lambda.
"""

from __future__ import annotations

import concurrent.futures
import json
import textwrap
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.harness import LaminaProcess, python_zip, zip_files
from tests.security.conftest import HostService

pytestmark = pytest.mark.privileged

PROBE_PY = """
import json, os, socket, time

def _try(host, port):
    s = socket.socket()
    s.settimeout(1.0)
    try:
        s.connect((host, port))
        data = s.recv(64)
        return "connected " + data.decode(errors="replace")
    except OSError as exc:
        return type(exc).__name__
    finally:
        s.close()

def _listening():
    out = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                out.append(int(fields[1].split(":")[1], 16))
    return sorted(out)

def _gateway():
    with open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == "00000000":
                return socket.inet_ntoa(bytes.fromhex(fields[2])[::-1])
    return None

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {
        "runtime_api": os.environ["AWS_LAMBDA_RUNTIME_API"],
        "endpoint": os.environ.get("AWS_ENDPOINT_URL", ""),
        "results": {str(p): _try(h, p) for h, p in event.get("targets", [])},
        "listening": _listening(),
        "interfaces": sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]),
        "gateway": _gateway(),
    }
"""


def _host_listening_loopback() -> list[int]:
    """Ports listening on the host's 127.0.0.1 (and 0.0.0.0) right now."""
    ports = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            addr, port = fields[1].split(":")
            if fields[3] == "0A" and addr in ("0100007F", "00000000"):
                ports.add(int(port, 16))
    return sorted(ports)


def test_runtime_api_is_127_0_0_1_9001_inside_the_environment(lamina: LaminaProcess) -> None:
    lamina.create("sec-net-addr", python_zip(PROBE_PY))
    out = lamina.invoke("sec-net-addr", {}).json()
    api_port = int(urlsplit(lamina.endpoint).port or 0)
    assert out["runtime_api"] == "127.0.0.1:9001"
    assert out["endpoint"] == f"http://127.0.0.1:{api_port}"
    # Only its own two listeners exist in its namespace.
    assert out["listening"] == sorted([9001, api_port])


def test_host_loopback_services_are_unreachable(
    lamina: LaminaProcess, host_service: HostService
) -> None:
    lamina.create("sec-net-host", python_zip(PROBE_PY))
    api_port = int(urlsplit(lamina.endpoint).port or 0)
    targets = [["127.0.0.1", p] for p in _host_listening_loopback() if p != api_port]
    assert ["127.0.0.1", host_service.port] in targets
    out = lamina.invoke("sec-net-host", {"targets": targets}).json()
    # 9001 inside is the function's own Runtime API; every other host port is refused.
    reached = {p: r for p, r in out["results"].items() if r.startswith("connected")}
    assert set(reached) <= {"9001"}, reached
    assert out["results"][str(host_service.port)] == "ConnectionRefusedError"
    assert host_service.connections == 0


def test_another_environment_is_invisible_while_it_works(lamina: LaminaProcess) -> None:
    """B holds an event in flight; A sees no socket of B's and no host port serves B."""
    lamina.create("sec-net-b", python_zip(PROBE_PY))
    lamina.create("sec-net-a", python_zip(PROBE_PY))
    lamina.invoke("sec-net-b", {})  # B's environment exists
    before = set(_host_listening_loopback())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        busy = pool.submit(lamina.invoke, "sec-net-b", {"sleep": 3})
        api_port = int(urlsplit(lamina.endpoint).port or 0)
        targets = [["127.0.0.1", p] for p in sorted(before) if p != api_port]
        out = lamina.invoke("sec-net-a", {"targets": targets}).json()
        assert busy.result().status == 200
    assert out["listening"] == sorted([9001, api_port])
    assert not [p for p, r in out["results"].items() if r.startswith("connected") and p != "9001"]


def test_lamina_api_sqs_and_s3_are_reachable_through_aws_endpoint_url(
    lamina: LaminaProcess,
) -> None:
    code = python_zip(
        """
        import boto3

        def handler(event, context):
            sqs = boto3.client("sqs")
            url = sqs.create_queue(QueueName="sec-net-queue")["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="from inside")
            got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
            names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket="sec-net-bucket")
            s3.put_object(Bucket="sec-net-bucket", Key="k", Body=b"stored inside")
            obj = s3.get_object(Bucket="sec-net-bucket", Key="k")["Body"].read().decode()
            return {"body": got[0]["Body"], "sees_self": "sec-net-sdk" in names, "s3": obj}
        """
    )
    lamina.create("sec-net-sdk", code, Timeout=30)
    result = lamina.invoke("sec-net-sdk", {})
    assert result.function_error is None, result.payload
    assert result.json() == {"body": "from inside", "sees_self": True, "s3": "stored inside"}


def test_node_function_cannot_reach_the_host_loopback(
    lamina: LaminaProcess, host_service: HostService
) -> None:
    index = textwrap.dedent(
        """
        const net = require("node:net");
        exports.handler = async (event) => new Promise((resolve) => {
          const s = net.connect({ host: "127.0.0.1", port: event.port, timeout: 1000 });
          s.on("connect", () => { s.destroy(); resolve("connected"); });
          s.on("error", (e) => resolve(e.code));
          s.on("timeout", () => { s.destroy(); resolve("timeout"); });
        });
        """
    )
    lamina.create("sec-net-node", zip_files({"index.js": index}), runtime="nodejs20.x",
                  handler="index.handler")  # fmt: skip
    out = lamina.invoke("sec-net-node", {"port": host_service.port})
    assert json.loads(out.payload) == "ECONNREFUSED"
    assert host_service.connections == 0


SHELL_BOOTSTRAP = """#!/bin/bash
# A custom runtime in bash: each event names a host port to try over /dev/tcp.
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  headers=$(mktemp)
  event=$(curl -sS -D "$headers" "$api/invocation/next")
  rid=$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | tr -d '\\r' | cut -d' ' -f2)
  port=${event//[^0-9]/}
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then out=connected; else out=refused; fi
  curl -sS -X POST "$api/invocation/$rid/response" -d "\\"$out $AWS_LAMBDA_RUNTIME_API\\"" >/dev/null
done
"""


def test_shell_bootstrap_cannot_reach_the_host_loopback(
    lamina: LaminaProcess, host_service: HostService
) -> None:
    code = zip_files({"bootstrap": SHELL_BOOTSTRAP}, executable=("bootstrap",))
    lamina.create("sec-net-sh", code, runtime="provided.al2023", handler="x")
    out = lamina.invoke("sec-net-sh", host_service.port)
    assert json.loads(out.payload) == "refused 127.0.0.1:9001", out.payload
    assert host_service.connections == 0


SNAP: dict[str, Any] = {"SnapStart": {"ApplyOn": "PublishedVersions"}}


def test_forked_environments_get_their_own_namespace_too(
    lamina: LaminaProcess, host_service: HostService
) -> None:
    """SnapStart: the zygote and every environment forked from it are namespaced alike."""
    lamina.create("sec-net-snap", python_zip(PROBE_PY), **SNAP)
    api_port = int(urlsplit(lamina.endpoint).port or 0)
    targets = [["127.0.0.1", host_service.port]]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        # Two at once: two forked environments, each with its own 127.0.0.1:9001.
        futures = [
            pool.submit(lamina.invoke, "sec-net-snap", {"targets": targets, "sleep": 1})
            for _ in range(2)
        ]
        outs = [f.result() for f in futures]
    for out in outs:
        assert out.function_error is None, out.payload
        assert "Restore Duration" in out.log or "Init Duration" in out.log
        body = out.json()
        assert body["runtime_api"] == "127.0.0.1:9001"
        assert body["endpoint"] == f"http://127.0.0.1:{api_port}"
        assert body["listening"] == sorted([9001, api_port])
        assert body["results"] == {str(host_service.port): "ConnectionRefusedError"}
    assert host_service.connections == 0
