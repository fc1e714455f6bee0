"""X-Ray: functions with active tracing send segments to Lamina's daemon endpoint, and
they join the invocation's trace, readable through the X-Ray API and exported as OTLP.

A real Python function uses AWS's X-Ray SDK (``xray_recorder``, ``patch``,
``in_subsegment``; shipped in its zip), a Node function sends a subsegment over plain
UDP, and a hostile function floods its daemon socket with garbage and forged traces while
another function keeps answering. Both ways an environment reaches the daemon are run, in
every isolation tier: its own network namespace (``127.0.0.1:2000`` inside: the process
tier) and the host's network (one shared socket: the process tier with
``LAMINA_NETWORK_ISOLATION=false``, and the rlimit tier, ``LAMINA_ISOLATION=none``).
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_xray_sdk
import pytest
import wrapt
from prometheus_client.parser import text_string_to_metric_families

from tests.events.live import wait_until
from tests.integration.harness import LaminaProcess, aws_cli, aws_client, zip_files
from tests.integration.test_otlp import Collector

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

SDK_CODE = """
import os
from aws_xray_sdk.core import xray_recorder, patch
patch(["boto3"])
import boto3

def handler(event, context):
    with xray_recorder.in_subsegment("work") as work:
        work.put_annotation("order", event.get("order", "none"))
        with xray_recorder.in_subsegment("inner"):
            pass
    try:
        with xray_recorder.in_subsegment("failing"):
            raise ValueError("inside")
    except ValueError:
        pass
    boto3.client("lambda").list_functions()
    keys = ("_X_AMZN_TRACE_ID", "AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_ADDRESS",
            "_AWS_XRAY_DAEMON_PORT")
    return {k: os.environ.get(k) for k in keys}
"""

CALLER_CODE = """
import json, os
from aws_xray_sdk.core import xray_recorder, patch
patch(["boto3"])
import boto3

def handler(event, context):
    with xray_recorder.in_subsegment("calling"):
        out = boto3.client("lambda").invoke(
            FunctionName=event["callee"], Payload=json.dumps({"order": "called"}))
    return {"trace": os.environ["_X_AMZN_TRACE_ID"], "callee": json.loads(out["Payload"].read())}
"""

NODE_CODE = """
const dgram = require("node:dgram");
exports.handler = async () => {
  const header = process.env._X_AMZN_TRACE_ID;
  const field = (k) => header.split(";").find((p) => p.startsWith(k + "=")).split("=")[1];
  const now = Date.now() / 1000;
  const doc = { name: "node-udp", id: "00000000000000ab", trace_id: field("Root"),
    parent_id: field("Parent"), type: "subsegment", start_time: now - 0.01, end_time: now };
  const [host, port] = process.env.AWS_XRAY_DAEMON_ADDRESS.split(":");
  const socket = dgram.createSocket("udp4");
  await new Promise((ok, fail) => socket.send(
    '{"format":"json","version":1}\\n' + JSON.stringify(doc), Number(port), host,
    (err) => (err ? fail(err) : ok())));
  socket.close();
  return header;
};
"""

HOSTILE_CODE = """
import json, os, socket, time

HEAD = b'{"format":"json","version":1}\\n'

def handler(event, context):
    root, parent = [p.split("=")[1] for p in os.environ["_X_AMZN_TRACE_ID"].split(";")[:2]]
    host, port = os.environ["AWS_XRAY_DAEMON_ADDRESS"].split(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    sent = 0
    def send(data):
        nonlocal sent
        try:
            s.sendto(data, (host, int(port)))
            sent += 1
        except BlockingIOError:
            time.sleep(0.0005)
    def doc(trace, i, pad=0):
        return HEAD + json.dumps({"name": "flood", "id": "%016x" % i, "trace_id": trace,
            "parent_id": parent, "type": "subsegment", "start_time": time.time(),
            "end_time": time.time(), "metadata": {"default": {"pad": "x" * pad}}}).encode()
    for i in range(event["rounds"]):
        send(b"\\xff" * 60000)                          # garbage, near the datagram limit
        send(HEAD + b"[" * 30000)                        # more arrays than a document holds
        send(doc(event["victim"], i + 1))                # another function's trace
        send(doc("1-00000000-%024x" % i, i + 1))         # a trace nobody handed out
        send(doc(root, i + 1, pad=20000))                # its own trace, far past its bound
    return {"sent": sent, "root": root}
"""

SITE = Path(aws_xray_sdk.__file__).parent.parent
assert Path(wrapt.__file__).parent.parent == SITE


def sdk_zip(code: str) -> bytes:
    """The function and the X-Ray SDK with its one dependency (wrapt, whose pure-Python
    fallback runs where its compiled module does not)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", code)
        for package in ("aws_xray_sdk", "wrapt"):
            for path in sorted((SITE / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so":
                    z.write(path, str(path.relative_to(SITE)))
    return buf.getvalue()


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", params=["namespace", "host", "rlimit"])
def lamina(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, collector: Collector
) -> Iterator[LaminaProcess]:
    env = {"LAMINA_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}"}
    if request.param == "host":
        env["LAMINA_NETWORK_ISOLATION"] = "false"
    elif request.param == "rlimit":
        env["LAMINA_ISOLATION"] = "none"  # the rlimit tier: the host's network too
    proc = LaminaProcess(tmp_path_factory.mktemp(f"xray-{request.param}"), env).start()
    proc.tier = request.param  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        proc.stop()


def fields(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split(";"))


def exported(collector: Collector, trace_hex: str) -> dict[str, Any]:
    return {
        s.name: s
        for r in list(collector.requests)
        for rs in r.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
        if s.trace_id.hex() == trace_hex
    }


def traced(lamina: LaminaProcess, xray: Any, root: str) -> dict[str, Any]:
    """The trace's documents by id (nested ones included), once Lamina's own segment and
    the function's subsegments are all in."""
    found: dict[str, Any] = {}

    def ready() -> bool:
        traces = xray.batch_get_traces(TraceIds=[root])["Traces"]
        found.clear()
        stack = [json.loads(s["Document"]) for t in traces for s in t["Segments"]]
        while stack:
            doc = stack.pop()
            found[doc["name"]] = doc
            stack.extend(doc.get("subsegments", []))
        return {"work", "inner", "failing", "lambda"} <= set(found) and any(
            d.get("origin") == "AWS::Lambda::Function" for d in found.values()
        )

    wait_until(ready, 30, "the trace's documents")
    return found


def test_the_sdks_subsegments_join_the_invocation_under_lambdas_span(
    lamina: LaminaProcess, collector: Collector, tmp_path: Path
) -> None:
    name = f"sdk-{lamina.tier}"  # type: ignore[attr-defined]
    lamina.create(name, sdk_zip(SDK_CODE), runtime="python3.12", Timeout=30,
                  TracingConfig={"Mode": "Active"})  # fmt: skip
    config = lamina.lambda_client().get_function_configuration(FunctionName=name)
    assert config["TracingConfig"] == {"Mode": "Active"}
    out = lamina.invoke(name, {"order": "o-1"})
    assert out.function_error is None, out.payload
    env = out.json()
    header = fields(env["_X_AMZN_TRACE_ID"])
    assert header["Sampled"] == "1"
    root, parent = header["Root"], header["Parent"]
    address = env["AWS_XRAY_DAEMON_ADDRESS"]
    host, port = address.split(":")
    assert (env["_AWS_XRAY_DAEMON_ADDRESS"], env["_AWS_XRAY_DAEMON_PORT"]) == (host, port)
    if lamina.tier == "namespace":  # type: ignore[attr-defined]
        assert address == "127.0.0.1:2000"
    else:
        assert host == "127.0.0.1" and port != "2000"

    xray = aws_client(lamina, "xray")
    docs = traced(lamina, xray, root)
    own = docs[name]
    assert (own["id"], own["trace_id"], own["aws"]["request_id"]) == (
        parent,
        root,
        own["aws"]["request_id"],
    )
    assert own["origin"] == "AWS::Lambda::Function" and "fault" not in own
    # The subsegments are the SDK's own, under Lamina's segment (the Parent it was handed).
    assert {s["name"] for s in own["subsegments"]} == {"work", "failing", "lambda"}
    assert docs["work"]["annotations"] == {"order": "o-1"}
    assert [s["name"] for s in docs["work"]["subsegments"]] == ["inner"]
    assert docs["failing"]["fault"] is True or docs["failing"]["error"] is True
    assert docs["lambda"]["aws"]["operation"] == "ListFunctions"
    for sub in ("work", "inner", "lambda"):
        assert own["start_time"] <= docs[sub]["start_time"] <= docs[sub]["end_time"]

    # GetTraceSummaries finds it, by function too.
    now = time.time()
    summaries = xray.get_trace_summaries(
        StartTime=now - 300, EndTime=now + 60, FilterExpression=f'service("{name}")'
    )["TraceSummaries"]
    (summary,) = [s for s in summaries if s["Id"] == root]
    assert summary["ServiceIds"][0]["Name"] == name and summary["HasFault"] is False
    assert summary["Annotations"]["order"][0]["AnnotationValue"] == {"StringValue": "o-1"}

    # The same subsegments reach the OTLP collector, children of Lamina's invocation span.
    trace_hex = root[2:].replace("-", "")
    wait_until(lambda: {"work", "inner", name} <= set(exported(collector, trace_hex)), 30)
    spans = exported(collector, trace_hex)
    assert spans[name].span_id.hex() == parent
    assert spans["work"].parent_span_id.hex() == parent
    assert spans["inner"].parent_span_id == spans["work"].span_id
    assert spans["failing"].status.code == 2

    # The console's function page lists them under the invocation.
    with urllib.request.urlopen(f"{lamina.endpoint}/console/functions/{name}", timeout=30) as r:
        page = r.read().decode()
    request_id = own["aws"]["request_id"]
    shown = page.split(f'data-request-id="{request_id}"')[1].split("</details>")[0]
    listed = shown.split("<pre class=subsegments>")[1].split("</pre>")[0].splitlines()
    assert [line.split("  ")[0] for line in listed if not line.startswith(" ")] == [
        "work", "failing", "lambda",
    ]  # fmt: skip
    assert [line.strip().split("  ")[0] for line in listed if line.startswith(" ")] == ["inner"]
    assert "(error)" in next(line for line in listed if line.startswith("failing"))

    # The AWS CLI reads the same trace.
    result = aws_cli(lamina, tmp_path, "xray", "batch-get-traces", "--trace-ids", root)
    assert result.returncode == 0, result.stderr
    (trace,) = json.loads(result.stdout)["Traces"]
    assert trace["Id"] == root and parent in {s["Id"] for s in trace["Segments"]}


def test_a_node_function_sending_plain_udp_joins_its_trace(lamina: LaminaProcess) -> None:
    name = f"node-{lamina.tier}"  # type: ignore[attr-defined]
    lamina.create(name, zip_files({"index.js": NODE_CODE}), runtime="nodejs20.x",
                  handler="index.handler", TracingConfig={"Mode": "Active"})  # fmt: skip
    out = lamina.invoke(name, {})
    assert out.function_error is None, out.payload
    header = fields(out.json())
    xray = aws_client(lamina, "xray")

    def subsegments() -> list[dict[str, Any]]:
        traces = xray.batch_get_traces(TraceIds=[header["Root"]])["Traces"]
        docs = [json.loads(s["Document"]) for t in traces for s in t["Segments"]]
        return [
            sub for d in docs if d["id"] == header["Parent"] for sub in d.get("subsegments", [])
        ]

    wait_until(lambda: bool(subsegments()), 30, "the Node function's subsegment")
    assert [s["name"] for s in subsegments()] == ["node-udp"]


def test_passthrough_gets_no_daemon_and_keeps_no_trace(lamina: LaminaProcess) -> None:
    name = f"plain-{lamina.tier}"  # type: ignore[attr-defined]
    lamina.create(name, sdk_zip(SDK_CODE), runtime="python3.12", Timeout=30)
    config = lamina.lambda_client().get_function_configuration(FunctionName=name)
    assert config["TracingConfig"] == {"Mode": "PassThrough"}
    out = lamina.invoke(name, {})
    assert out.function_error is None, out.payload
    env = out.json()
    assert env["AWS_XRAY_DAEMON_ADDRESS"] is None and env["_AWS_XRAY_DAEMON_PORT"] is None
    header = fields(env["_X_AMZN_TRACE_ID"])
    assert header["Sampled"] == "0"  # the SDK sends nothing for an unsampled trace
    got = aws_client(lamina, "xray").batch_get_traces(TraceIds=[header["Root"]])
    assert got["Traces"] == [] and got["UnprocessedTraceIds"] == [header["Root"]]


def test_a_flooding_function_is_bounded_and_the_others_keep_answering(
    lamina: LaminaProcess,
) -> None:
    tier = lamina.tier  # type: ignore[attr-defined]
    quiet, noisy = f"quiet-{tier}", f"noisy-{tier}"
    lamina.create(quiet, sdk_zip(SDK_CODE), runtime="python3.12", Timeout=30,
                  TracingConfig={"Mode": "Active"})  # fmt: skip
    lamina.create(noisy, zip_files({"app.py": HOSTILE_CODE}), runtime="python3.12",
                  Timeout=60, TracingConfig={"Mode": "Active"})  # fmt: skip
    first = fields(lamina.invoke(quiet, {"order": "before"}).json()["_X_AMZN_TRACE_ID"])
    answered: list[str] = []
    flood: dict[str, Any] = {}

    def run_flood() -> None:
        out = lamina.invoke(noisy, {"rounds": 3000, "victim": first["Root"]})
        flood.update(out.json())

    thread = threading.Thread(target=run_flood)
    thread.start()
    while thread.is_alive() or not answered:
        out = lamina.invoke(quiet, {"order": "during"})
        assert out.function_error is None, out.payload
        answered.append(fields(out.json()["_X_AMZN_TRACE_ID"])["Root"])
    thread.join()
    assert flood["sent"] > 3000, flood
    xray = aws_client(lamina, "xray")
    # The quiet function's traces are whole and the forged documents are not in them: in
    # their own namespaces each environment has its own socket and at most half the
    # budget of all. On the host's network one shared socket cannot tell environments
    # apart: a trace handed out is open to all of them, and a flood may use up the shared
    # budget, so only the trace sent before the flood is whole there.
    if tier == "namespace":
        for root in (first["Root"], answered[-1]):
            assert "flood" not in traced(lamina, xray, root)
    else:
        traced(lamina, xray, first["Root"])
    # The flooding function's own trace holds at most its bound, and says it overflowed.
    (trace,) = xray.batch_get_traces(TraceIds=[flood["root"]])["Traces"]
    assert trace["LimitExceeded"] is True
    assert sum(len(s["Document"]) for s in trace["Segments"]) <= 1024 * 1024
    # What was kept and dropped is counted on /metrics, per function and reason ...
    with urllib.request.urlopen(f"{lamina.endpoint}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    counted = {
        (s.labels["faas_name"], s.labels["outcome"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "lamina_xray_documents_total"
    }
    # work, inner, failing, lambda: of every invocation, or (shared socket) the first.
    assert counted[(quiet, "kept")] >= 4 * (1 + len(answered) if tier == "namespace" else 1)
    assert counted[(noisy, "trace full")] > 0 and counted[("", "too many objects")] > 0
    assert counted[("", "foreign trace")] > 0
    # ... and said, by reason (the last report at shutdown).
    lamina.stop()
    try:
        log = "".join(lamina.output)
        said = [line for line in log.splitlines() if "X-Ray: segment documents dropped" in line]
        assert said, log[-3000:]
        reasons = " ".join(said)
        for reason in ("no header", "too many objects", "foreign trace", f"trace full ({noisy})"):
            assert reason in reasons, reasons
    finally:
        lamina.start()  # the module's other tests get a server again


def test_a_snapstart_version_restored_from_its_snapshot_sends_to_its_own_daemon(
    lamina: LaminaProcess,
) -> None:
    """Environments forked from a snapshot reach the daemon as cold-started ones do (in
    their own namespace: a socket made there after the fork)."""
    name = f"snap-{lamina.tier}"  # type: ignore[attr-defined]
    lamina.create(name, sdk_zip(SDK_CODE), runtime="python3.12", Timeout=30,
                  TracingConfig={"Mode": "Active"},
                  SnapStart={"ApplyOn": "PublishedVersions"})  # fmt: skip
    version = lamina.lambda_client().publish_version(FunctionName=name)["Version"]
    xray = aws_client(lamina, "xray")
    for order in ("first", "second"):
        out = lamina.invoke(name, {"order": order}, Qualifier=version)
        assert out.function_error is None, out.payload
        header = fields(out.json()["_X_AMZN_TRACE_ID"])
        docs = traced(lamina, xray, header["Root"])
        assert docs[name]["id"] == header["Parent"]
        assert docs["work"]["annotations"] == {"order": order}


def test_a_function_invoking_another_makes_one_trace_of_both(lamina: LaminaProcess) -> None:
    """The SDK's patched boto3 passes the trace on; both invocations' segments and both
    functions' subsegments are in it (the caller's Invoke subsegment ends after the callee
    was handed the same trace, and is kept)."""
    tier = lamina.tier  # type: ignore[attr-defined]
    caller, callee = f"caller-{tier}", f"callee-{tier}"
    for name, code in ((caller, CALLER_CODE), (callee, SDK_CODE)):
        lamina.create(name, sdk_zip(code), runtime="python3.12", Timeout=30,
                      TracingConfig={"Mode": "Active"})  # fmt: skip
    out = lamina.invoke(caller, {"callee": callee})
    assert out.function_error is None, out.payload
    result = out.json()
    mine, theirs = fields(result["trace"]), fields(result["callee"]["_X_AMZN_TRACE_ID"])
    assert theirs["Root"] == mine["Root"] and theirs["Parent"] != mine["Parent"]
    xray = aws_client(lamina, "xray")
    docs = traced(lamina, xray, mine["Root"])  # the callee's subsegments, all in
    owns = {d["name"]: d for d in docs.values() if d.get("origin") == "AWS::Lambda::Function"}
    assert set(owns) == {caller, callee}
    assert owns[callee]["id"] == theirs["Parent"] and owns[caller]["id"] == mine["Parent"]

    def calling() -> dict[str, Any]:
        (trace,) = xray.batch_get_traces(TraceIds=[mine["Root"]])["Traces"]
        segment = next(
            json.loads(s["Document"]) for s in trace["Segments"] if s["Id"] == mine["Parent"]
        )
        return {sub["name"]: sub for sub in segment.get("subsegments", [])}

    wait_until(lambda: "calling" in calling(), 30, "the caller's subsegment")
    (invoke,) = calling()["calling"]["subsegments"]
    assert invoke["aws"]["operation"] == "Invoke"
    # The callee's segment hangs under the caller's Invoke subsegment (the Parent of the
    # header the SDK sent with the call), as X-Ray links them.
    assert owns[callee]["parent_id"] == invoke["id"] and "parent_id" not in owns[caller]


def test_put_trace_segments_keeps_documents_of_handed_out_traces_only(
    lamina: LaminaProcess, tmp_path: Path
) -> None:
    """What an exporter sends through the API instead of the daemon's socket."""
    name = f"put-{lamina.tier}"  # type: ignore[attr-defined]
    lamina.create(name, zip_files({"app.py": HOSTILE_CODE}), runtime="python3.12",
                  TracingConfig={"Mode": "Active"})  # fmt: skip
    out = lamina.invoke(name, {"rounds": 0, "victim": ""})
    root = out.json()["root"]
    now = time.time()

    def document(ident: str, trace: str) -> str:
        return json.dumps({"name": "exported", "id": ident, "trace_id": trace,
                           "start_time": now, "end_time": now + 0.01})  # fmt: skip

    xray = aws_client(lamina, "xray")
    unknown = "1-00000000-" + "0" * 23 + "7"
    refused = xray.put_trace_segments(
        TraceSegmentDocuments=[
            document("00000000000000e1", root),
            document("00000000000000e2", unknown),
            "{not json",
        ]
    )["UnprocessedTraceSegments"]
    assert [(r.get("Id"), r["Message"]) for r in refused] == [
        ("00000000000000e2", "foreign trace"),
        ("", "not JSON"),
    ]
    result = aws_cli(lamina, tmp_path, "xray", "put-trace-segments", "--trace-segment-documents",
                     document("00000000000000e3", root))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["UnprocessedTraceSegments"] == []
    (trace,) = xray.batch_get_traces(TraceIds=[root])["Traces"]
    ids = {s["Id"] for s in trace["Segments"]}
    assert {"00000000000000e1", "00000000000000e3"} <= ids and "00000000000000e2" not in ids
