"""Lambda extensions end to end: an external extension written in Python registers,
receives INVOKE events for a cold and a warm invoke and SHUTDOWN when its environment
goes; a slow one delays the freeze, not the caller's answer; a crashing one fails INIT;
an AWS_LAMBDA_EXEC_WRAPPER script wraps the runtime.

The extensions come in layers, as on Lambda: executables in ``/opt/extensions``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lamina.client.http import Client
from tests.integration.harness import (
    EXAMPLES,
    LaminaProcess,
    log_text,
    running_lamina,
    wait_for_text,
    zip_files,
)

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

RECORDER = """#!/usr/bin/env python3
import json, os, sys, time, urllib.request

base = "http://%s/2020-01-01/extension" % os.environ["AWS_LAMBDA_RUNTIME_API"]
name = os.path.basename(__file__)
register = urllib.request.Request(
    base + "/register",
    data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
    headers={"Lambda-Extension-Name": name},
    method="POST",
)
with urllib.request.urlopen(register) as r:
    ident = r.headers["Lambda-Extension-Identifier"]
    info = json.load(r)
print("[recorder] registered for %s" % info["functionName"], flush=True)
time.sleep(float(os.environ.get("INIT_S", "0")))  # its own set-up, before its first next
slow = os.environ.get("SLOW_EXTENSION") == "1"
while True:
    nxt = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
    with urllib.request.urlopen(nxt) as r:
        event = json.load(r)
    if event["eventType"] == "INVOKE":
        print("[recorder] INVOKE %s at %f" % (event["requestId"], time.time()), flush=True)
        if slow:
            time.sleep(float(os.environ.get("SLOW_EXTENSION_S", "1")))
            print("[recorder] done %s at %f" % (event["requestId"], time.time()), flush=True)
    else:
        print("[recorder] SHUTDOWN %s" % event["shutdownReason"], flush=True)
        sys.exit(0)
"""

HANDLER = """
import os, time
def handler(event, context):
    return {"wrapped": os.environ.get("WRAPPED", ""), "at": time.time()}
"""


def _invoke(lamina: LaminaProcess, name: str) -> tuple[str, Any]:
    """(request id, answer) of one invoke. The REPORT line is not read from the log tail:
    with extensions still at work it comes after the answer."""
    out = lamina.lambda_client().invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in out, out["Payload"].read()
    return out["ResponseMetadata"]["RequestId"], json.loads(out["Payload"].read())


def _report(text: str, request_id: str) -> str:
    return next(
        line for line in text.splitlines() if line.startswith(f"REPORT RequestId: {request_id}")
    )


def _create(lamina: LaminaProcess, name: str, files: dict[str, str], **extra: Any) -> None:
    """The function ``name``; files under ``extensions/`` go in a layer of their own (its
    ``/opt/extensions``), the rest in the function's zip."""
    layered = {k: v for k, v in files.items() if k.startswith("extensions/")}
    own = {k: v for k, v in files.items() if not k.startswith("extensions/")}
    layers = []
    if layered:
        layer = lamina.lambda_client().publish_layer_version(
            LayerName=f"{name}-extensions",
            Content={"ZipFile": zip_files(dict(layered), executable=tuple(layered))},
        )
        layers = [layer["LayerVersionArn"]]
    executable = tuple(f for f in own if f.endswith(".sh"))
    code = zip_files({"app.py": HANDLER, **own}, executable=executable)
    lamina.create(name, code, Layers=layers, **extra)


def test_an_external_extension_gets_invoke_events_and_shutdown(lamina: LaminaProcess) -> None:
    name = "ext-recorder"
    _create(lamina, name, {"extensions/recorder": RECORDER})
    cold_id, _ = _invoke(lamina, name)
    warm_id, _ = _invoke(lamina, name)
    wait_for_text(lambda: log_text(lamina, name), f"REPORT RequestId: {warm_id}")
    # A configuration change retires the environment: SHUTDOWN reaches the extension.
    lamina.lambda_client().update_function_configuration(FunctionName=name, Description="v2")
    text = wait_for_text(lambda: log_text(lamina, name), "[recorder] SHUTDOWN spindown")
    assert "Init Duration" in _report(text, cold_id)
    assert "Init Duration" not in _report(text, warm_id)
    assert f"[recorder] registered for {name}" in text
    assert f"[recorder] INVOKE {cold_id}" in text and f"[recorder] INVOKE {warm_id}" in text
    # Registration happened before the runtime's INIT ended: before the first START.
    assert text.index("[recorder] registered") < text.index(f"START RequestId: {cold_id}")


def test_init_lasts_until_every_extension_is_ready_and_lists_them(
    lamina: LaminaProcess,
) -> None:
    # INIT (and REPORT's Init Duration) ends only when the
    # runtime and every extension asked for their next event: an extension's set-up is
    # INIT time, as on Lambda. Then Lambda lists the extensions, one EXTENSION line each.
    name = "ext-init-time"
    _create(
        lamina,
        name,
        {"extensions/starter": RECORDER},
        Environment={"Variables": {"INIT_S": "1"}},
    )
    request_id, _ = _invoke(lamina, name)
    text = wait_for_text(lambda: log_text(lamina, name), f"REPORT RequestId: {request_id}")
    init_ms = float(_report(text, request_id).split("Init Duration: ")[1].split()[0])
    assert init_ms >= 1000, text
    ready = "EXTENSION\tName: starter\tState: Ready\tEvents: [INVOKE,SHUTDOWN]"
    assert ready in text.splitlines(), text
    assert text.index(ready) < text.index(f"START RequestId: {request_id}")
    # A warm invoke has no INIT and no EXTENSION line of its own.
    warm_id, _ = _invoke(lamina, name)
    text = wait_for_text(lambda: log_text(lamina, name), f"REPORT RequestId: {warm_id}")
    assert "Init Duration" not in _report(text, warm_id)
    assert text.count(ready) == 1


def test_a_slow_extension_delays_the_freeze_not_the_answer(lamina: LaminaProcess) -> None:
    name = "ext-slow"
    _create(
        lamina,
        name,
        {"extensions/recorder": RECORDER},
        Environment={"Variables": {"SLOW_EXTENSION": "1"}},
    )
    _invoke(lamina, name)  # cold: INIT and a first event
    request_id, _ = _invoke(lamina, name)
    answered_at = time.time()
    # With no further invoke, the extension finishes its work and asks for its next event
    # (that is when REPORT is written): its environment was not frozen under it.
    text = wait_for_text(lambda: log_text(lamina, name), f"REPORT RequestId: {request_id}")
    # It received the event, then worked 1 s; the caller had its answer before that ended.
    got_at = float(text.split(f"[recorder] INVOKE {request_id} at ")[1].split()[0])
    assert answered_at < got_at + 1.0, "the caller waited for the extension"
    # The invoke phase, and the bill, last until the extension is done.
    report = _report(text, request_id)
    duration_ms = float(report.split("\tDuration: ")[1].split()[0])
    assert duration_ms >= 1000
    assert int(report.split("Billed Duration: ")[1].split()[0]) >= 1000
    # The ledger bills both invokes so far with their extension time (1 s each at least).
    rows = Client(lamina.endpoint).call("GET", f"/lamina/v1/ledger?function={name}")
    (group,) = rows["groups"]
    assert group["invocations"] == 2 and group["billed_ms"] >= 2000, group
    again_id, _ = _invoke(lamina, name)
    assert again_id != request_id


# Registered for INVOKE and SHUTDOWN; from its second INVOKE on it works 600 s before
# asking for its next event (the first invoke ends at once).
WORKS_FROM_THE_SECOND = """#!/usr/bin/env python3
import json, os, time, urllib.request

base = "http://%s/2020-01-01/extension" % os.environ["AWS_LAMBDA_RUNTIME_API"]
register = urllib.request.Request(
    base + "/register",
    data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
    headers={"Lambda-Extension-Name": "worker"},
    method="POST",
)
with urllib.request.urlopen(register) as r:
    ident = r.headers["Lambda-Extension-Identifier"]
invokes = 0
while True:
    nxt = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
    with urllib.request.urlopen(nxt) as r:
        event = json.load(r)
    invokes += 1
    if event["eventType"] == "INVOKE" and invokes > 1:
        print("[worker] works on %s" % event["requestId"], flush=True)
        time.sleep(600)
"""


def test_a_server_stopped_while_an_extension_works_still_reports_the_invoke(
    tmp_path: Path,
) -> None:
    # A server that stops does not wait for an extension's work on an answered invoke
    # (600 s here, within its 900 s timeout): it ends that invoke phase at once (END,
    # REPORT and the ledger record, before the ledger closes), then SHUTDOWN with its
    # grace, then the kill. A stop that waited would be killed by the harness after 30 s.
    with running_lamina(tmp_path) as server:
        name = "ext-stopped"
        _create(
            server,
            name,
            {"extensions/recorder": RECORDER, "extensions/worker": WORKS_FROM_THE_SECOND},
            Timeout=900,
        )
        _invoke(server, name)
        request_id, _ = _invoke(server, name)
        text = wait_for_text(lambda: log_text(server, name), f"[worker] works on {request_id}")
        assert f"REPORT RequestId: {request_id}" not in text
    assert server.proc is not None and server.proc.returncode == 0  # it stopped by itself
    output = "".join(server.output)
    assert "ledger is closed" not in output and "never retrieved" not in output, output
    with running_lamina(tmp_path) as again:
        text = log_text(again, name)
        assert f"END RequestId: {request_id}" in text
        report = _report(text, request_id)
        # As on Lambda, the invoke phase ends (its REPORT) before SHUTDOWN, which the idle
        # extension gets (the one at work gets it too, but does not ask for it in time).
        assert text.index(report) < text.index("[recorder] SHUTDOWN spindown")
        rows = Client(again.endpoint).call("GET", f"/lamina/v1/ledger?function={name}")
        assert [g["invocations"] for g in rows["groups"]] == [2], rows
        # The function's answer stands: the stop, not the function, ended the phase.
        assert [(g["errors"], g["timeouts"]) for g in rows["groups"]] == [(0, 0)], rows


# At each INVOKE: a long line, then a short one, then at once the next event (the freeze).
SAYS_THEN_NEXT = """#!/usr/bin/env python3
import json, os, time, urllib.request

base = "http://%s/2020-01-01/extension" % os.environ["AWS_LAMBDA_RUNTIME_API"]
register = urllib.request.Request(
    base + "/register",
    data=json.dumps({"events": ["INVOKE"]}).encode(),
    headers={"Lambda-Extension-Name": "sayer"},
    method="POST",
)
with urllib.request.urlopen(register) as r:
    ident = r.headers["Lambda-Extension-Identifier"]
while True:
    nxt = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
    with urllib.request.urlopen(nxt) as r:
        event = json.load(r)
    time.sleep(0.2)  # the runtime has answered: the environment freezes on the next /next
    print("[sayer] " + "x" * 60000, flush=True)
    print("[sayer] said %s" % event["requestId"], flush=True)
"""


def test_what_an_extension_writes_before_its_next_event_is_logged_without_a_thaw(
    lamina: LaminaProcess,
) -> None:
    # On Lambda the platform captures an extension's output outside the environment:
    # what it wrote before the freeze is logged (and sent to Telemetry API subscribers)
    # while the environment stays frozen, not at its next thaw.
    name = "ext-sayer"
    _create(lamina, name, {"extensions/sayer": SAYS_THEN_NEXT})
    request_id, _ = _invoke(lamina, name)
    text = wait_for_text(lambda: log_text(lamina, name), f"[sayer] said {request_id}")
    assert "[sayer] " + "x" * 60000 in text.splitlines()


def test_a_crashing_extension_fails_init_with_extension_crash(lamina: LaminaProcess) -> None:
    name = "ext-crash"
    _create(lamina, name, {"extensions/crasher": "#!/bin/sh\necho crashing; exit 3\n"})
    out = lamina.invoke(name, {})
    assert out.function_error == "Unhandled"
    body = out.json()
    assert body["errorType"] == "Extension.Crash"
    assert "crasher" in body["errorMessage"] and "3" in body["errorMessage"], body
    assert "INIT_REPORT" in out.log and "Status: error\tError Type: Extension.Crash" in out.log
    # What it wrote before it crashed is in the log, as on Lambda.
    wait_for_text(lambda: log_text(lamina, name), "crashing")


def test_an_exec_wrapper_wraps_the_runtime(lamina: LaminaProcess) -> None:
    name = "ext-wrapper"
    _create(
        lamina,
        name,
        {"wrapper.sh": '#!/bin/bash\nexport WRAPPED="yes:$1"\nexec "$@"\n'},
        Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"}},
    )
    out = lamina.invoke(name, {})
    assert out.function_error is None, out.payload
    assert out.json()["wrapped"].startswith("yes:/")  # the runtime's command came as "$@"


TELEMETRY = """#!/usr/bin/env python3
import json, os, sys, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
base = "http://%s/2020-01-01/extension" % api
seen = []  # (type, record) of every event received


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen.extend((e["type"], e["record"]) for e in json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
register = urllib.request.Request(
    base + "/register",
    data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
    headers={"Lambda-Extension-Name": "telemetry"},
    method="POST",
)
with urllib.request.urlopen(register) as r:
    ident = r.headers["Lambda-Extension-Identifier"]
subscribe = urllib.request.Request(
    "http://%s/2022-07-01/telemetry" % api,
    data=json.dumps({
        "schemaVersion": "2022-12-13",
        "types": ["platform", "function", "extension"],
        "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
        "destination": {"protocol": "HTTP",
                        "URI": "http://sandbox.localdomain:%d/" % server.server_port},
    }).encode(),
    headers={"Lambda-Extension-Identifier": ident},
    method="PUT",
)
with urllib.request.urlopen(subscribe) as r:
    assert r.status == 200
print("[telemetry] subscribed", flush=True)
while True:
    nxt = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
    with urllib.request.urlopen(nxt) as r:
        event = json.load(r)
    if event["eventType"] == "INVOKE":
        time.sleep(float(os.environ.get("TELEMETRY_LINGER_S", "0")))
    if event["eventType"] == "SHUTDOWN":
        types = sorted({t for t, _ in seen})
        starts = [r["requestId"] for t, r in seen if t == "platform.start"]
        reports = [r["requestId"] for t, r in seen if t == "platform.report"]
        functions = [r for t, r in seen if t == "function"]
        for t, r in seen:
            if t in ("platform.start", "platform.runtimeDone", "platform.report"):
                print("[telemetry] record " + json.dumps({"type": t, "record": r}), flush=True)
        counts = {t: sum(1 for u, _ in seen if u == t) for t in types}
        print("[telemetry] seen " + json.dumps(
            {"types": types, "counts": counts, "starts": starts, "reports": reports,
             "function": functions}),
            flush=True)
        sys.exit(0)
"""

SAYS_HELLO = """
def handler(event, context):
    print("hello from the function")
    return "ok"
"""


def test_an_extension_receives_telemetry_for_cold_and_warm_invokes(
    lamina: LaminaProcess,
) -> None:
    name = "ext-telemetry"
    _create(lamina, name, {"app.py": SAYS_HELLO, "extensions/telemetry": TELEMETRY})
    ids = [_invoke(lamina, name)[0], _invoke(lamina, name)[0]]
    lamina.lambda_client().update_function_configuration(FunctionName=name, Description="v2")
    text = wait_for_text(lambda: log_text(lamina, name), "[telemetry] seen ")
    seen = json.loads(text.split("[telemetry] seen ")[1].splitlines()[0])
    assert set(seen["types"]) >= {
        "platform.initStart",
        "platform.initRuntimeDone",
        "platform.initReport",
        "platform.extension",
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
        "function",
        "extension",
    }, seen["types"]
    assert seen["starts"] == ids and seen["reports"] == ids
    # INIT's events once (the cold invoke's), each invoke's three, the function's line of
    # each invoke: all delivered before SHUTDOWN, when the extension counts them.
    counts = seen["counts"]
    assert [counts[t] for t in ("platform.initStart", "platform.initRuntimeDone")] == [1, 1]
    assert [counts["platform.initReport"], counts["platform.extension"]] == [1, 1]
    assert counts["platform.runtimeDone"] == 2
    said = [line for line in seen["function"] if "hello from the function" in line]
    assert len(said) == 2, seen["function"]
    # runtimeDone and report carry the invoke's tracing context (as start does) and the
    # response's spans, in the schema's shape.
    records = _telemetry_records(text)
    for i, request_id in enumerate(ids):
        start, done, report = (
            records[t][i] for t in ("platform.start", "platform.runtimeDone", "platform.report")
        )
        assert start["requestId"] == done["requestId"] == report["requestId"] == request_id
        tracing = start["tracing"]
        assert tracing["type"] == "X-Amzn-Trace-Id" and tracing["value"].startswith("Root=1-")
        assert re.fullmatch(r"[0-9a-f]{16}", tracing["spanId"])
        assert done["tracing"] == report["tracing"] == tracing
        # runtimeDone also has Lambda's runtimeOverhead: from the answer to the next /next.
        assert [s["name"] for s in done["spans"]] == [
            "responseLatency",
            "responseDuration",
            "runtimeOverhead",
        ]
        assert done["spans"][1]["start"] <= done["spans"][2]["start"]
        for record in (done, report):
            spans = record["spans"][:2]
            assert [s["name"] for s in spans] == ["responseLatency", "responseDuration"]
            for span in spans:
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", span["start"])
                assert span["durationMs"] >= 0
            # The response starts once the latency before it is over.
            assert spans[0]["start"] <= spans[1]["start"]
    # The extension's own lines are logged too, as they were written.
    assert "\n[telemetry] subscribed" in "\n" + text
    # One producer: the server's telemetry bus (what the console's tail and `lamina logs
    # --follow` read) holds the very records the extension was sent.
    bus = Client(lamina.endpoint).call("GET", f"/lamina/v1/functions/{name}/telemetry?after=0")
    for kind in ("platform.start", "platform.runtimeDone", "platform.report"):
        published = [e["record"] for e in bus["events"] if e["type"] == kind]
        assert published[: len(ids)] == records[kind][: len(ids)], kind
    said = [e["record"] for e in bus["events"] if e["type"] == "function"]
    assert said[: len(seen["function"])] == seen["function"]


def test_an_extension_still_at_work_when_its_function_changes_gets_the_report_first(
    lamina: LaminaProcess,
) -> None:
    # The update retires the environment while the extension still works on the invoke
    # (the caller had its answer). On Lambda the SHUTDOWN phase follows the INVOKE phase,
    # which ends when every extension asked for its next event; the invoke's
    # platform.report comes at that end, so it reaches the extension before SHUTDOWN.
    # (SHUTDOWN used to come at once: the extension, at its next `next`, got it and not
    # the report, the flake of the test above when its extension was slow to ask.)
    name = "ext-telemetry-linger"
    _create(
        lamina,
        name,
        {"app.py": SAYS_HELLO, "extensions/telemetry": TELEMETRY},
        Environment={"Variables": {"TELEMETRY_LINGER_S": "1"}},
    )
    request_id, _ = _invoke(lamina, name)
    lamina.lambda_client().update_function_configuration(FunctionName=name, Description="v2")
    text = wait_for_text(lambda: log_text(lamina, name), "[telemetry] seen ")
    seen = json.loads(text.split("[telemetry] seen ")[1].splitlines()[0])
    assert seen["starts"] == [request_id]
    assert seen["reports"] == [request_id], text
    assert text.index(f"REPORT RequestId: {request_id}") < text.index("[telemetry] seen ")


def _telemetry_records(text: str) -> dict[str, list[dict[str, Any]]]:
    records: dict[str, list[dict[str, Any]]] = {}
    for line in text.splitlines():
        if line.startswith("[telemetry] record "):
            event = json.loads(line.removeprefix("[telemetry] record "))
            records.setdefault(event["type"], []).append(event["record"])
    return records


def _epoch(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def test_a_streamed_responses_spans_cover_its_stream(lamina: LaminaProcess) -> None:
    name = "ext-telemetry-stream"
    zip_path = EXAMPLES / "streaming-rust.zip"
    assert zip_path.is_file(), f"{zip_path} missing: run `make examples`"
    layer = lamina.lambda_client().publish_layer_version(
        LayerName=f"{name}-extensions",
        Content={
            "ZipFile": zip_files(
                {"extensions/telemetry": TELEMETRY}, executable=("extensions/telemetry",)
            )
        },
    )
    lamina.create(
        name,
        zip_path.read_bytes(),
        runtime="provided.al2023",
        handler="bootstrap",
        Layers=[layer["LayerVersionArn"]],
    )
    out = lamina.lambda_client().invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"chunks": 3, "gapMs": 100}).encode()
    )
    body = b"".join(e["PayloadChunk"]["Payload"] for e in out["EventStream"] if "PayloadChunk" in e)
    written = [float(p.partition("@")[2]) for p in body.decode().split(";") if p]
    assert len(written) == 3
    lamina.lambda_client().update_function_configuration(FunctionName=name, Description="v2")
    text = wait_for_text(lambda: log_text(lamina, name), "[telemetry] seen ")
    (done,) = _telemetry_records(text)["platform.runtimeDone"]
    assert done["metrics"]["producedBytes"] == len(body)
    latency, duration, overhead = done["spans"]
    assert (latency["name"], duration["name"], overhead["name"]) == (
        "responseLatency",
        "responseDuration",
        "runtimeOverhead",
    )
    assert overhead["durationMs"] >= 0
    # The response began (its head arrived) before its second piece was written, and
    # ended after its last one was (the span's start is in whole milliseconds).
    assert _epoch(latency["start"]) <= _epoch(duration["start"]) <= written[1]
    assert _epoch(duration["start"]) + duration["durationMs"] / 1000 >= written[-1] - 0.001


def test_a_snapstart_function_with_an_extension_runs_it(lamina: LaminaProcess) -> None:
    name = "ext-snapstart"
    _create(
        lamina,
        name,
        {"extensions/recorder": RECORDER},
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    request_id, _ = _invoke(lamina, name)
    wait_for_text(lambda: log_text(lamina, name), f"[recorder] INVOKE {request_id}")


def test_shutdown_after_a_timeout_says_timeout(lamina: LaminaProcess) -> None:
    name = "ext-timeout"
    sleepy = "import time\ndef handler(event, context):\n    time.sleep(5)\n"
    _create(lamina, name, {"app.py": sleepy, "extensions/recorder": RECORDER}, Timeout=1)
    out = lamina.invoke(name, {})
    assert out.function_error == "Unhandled"
    assert out.json()["errorType"] == "Sandbox.Timedout"
    wait_for_text(lambda: log_text(lamina, name), "[recorder] SHUTDOWN timeout")


REGISTERS_THEN_EXITS = """#!/usr/bin/env python3
import json, os, sys, urllib.request
req = urllib.request.Request(
    "http://%s/2020-01-01/extension/register" % os.environ["AWS_LAMBDA_RUNTIME_API"],
    data=json.dumps({"events": ["INVOKE"]}).encode(),
    headers={"Lambda-Extension-Name": "quitter"},
    method="POST",
)
urllib.request.urlopen(req).close()
sys.exit(2)
"""


def test_an_extension_exiting_after_it_registered_fails_init(lamina: LaminaProcess) -> None:
    name = "ext-quitter"
    _create(lamina, name, {"extensions/quitter": REGISTERS_THEN_EXITS})
    out = lamina.invoke(name, {})
    assert out.function_error == "Unhandled"
    assert out.json()["errorType"] == "Extension.Crash"


def test_node_options_preloads_an_internal_extension(lamina: LaminaProcess) -> None:
    name = "ext-node-options"
    lamina.create(
        name,
        zip_files(
            {
                "preload.js": "globalThis.preloaded = process.env.AWS_LAMBDA_FUNCTION_NAME;\n",
                "index.mjs": "export const handler = async () => ({ preloaded: globalThis.preloaded });\n",
            }
        ),
        runtime="nodejs20.x",
        handler="index.handler",
        Environment={"Variables": {"NODE_OPTIONS": "--require /var/task/preload.js"}},
    )
    out = lamina.invoke(name, {})
    assert out.function_error is None, out.payload
    assert out.json() == {"preloaded": name}


INTERNAL = """
import json, os, threading, urllib.request

base = "http://%s/2020-01-01/extension" % os.environ["AWS_LAMBDA_RUNTIME_API"]
req = urllib.request.Request(
    base + "/register",
    data=json.dumps({"events": ["INVOKE"]}).encode(),
    headers={"Lambda-Extension-Name": "internal"},
    method="POST",
)
with urllib.request.urlopen(req) as r:
    ident = r.headers["Lambda-Extension-Identifier"]
seen = []


def loop():
    while True:
        nxt = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
        with urllib.request.urlopen(nxt) as r:
            seen.append(json.load(r)["requestId"])


threading.Thread(target=loop, daemon=True).start()


def handler(event, context):
    return {"seen": list(seen)}
"""


def test_an_internal_extension_registers_from_the_runtime_process(lamina: LaminaProcess) -> None:
    name = "ext-internal"
    lamina.create(name, zip_files({"app.py": INTERNAL}))
    first_id, _ = _invoke(lamina, name)
    _, second = _invoke(lamina, name)
    assert first_id in second["seen"]


CRASHES_ON_INVOKE = """#!/usr/bin/env python3
import json, os, sys, urllib.request
base = "http://%s/2020-01-01/extension" % os.environ["AWS_LAMBDA_RUNTIME_API"]
req = urllib.request.Request(
    base + "/register",
    data=json.dumps({"events": ["INVOKE"]}).encode(),
    headers={"Lambda-Extension-Name": "fragile"},
    method="POST",
)
with urllib.request.urlopen(req) as r:
    ident = r.headers["Lambda-Extension-Identifier"]
nxt = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
urllib.request.urlopen(nxt).close()  # the first INVOKE
sys.exit(7)
"""


def test_an_extension_crashing_mid_invoke_fails_it_and_resets(lamina: LaminaProcess) -> None:
    name = "ext-fragile"
    # The handler outlasts the extension's exit (it waits for the platform to end it).
    slow = "import time\ndef handler(event, context):\n    time.sleep(8)\n    return 'late'\n"
    _create(lamina, name, {"app.py": slow, "extensions/fragile": CRASHES_ON_INVOKE}, Timeout=30)
    out = lamina.invoke(name, {})
    assert out.function_error == "Unhandled"
    assert out.json()["errorType"] == "Extension.Crash"
    # The environment was reset: the next invoke starts cold (and crashes alike).
    again = lamina.invoke(name, {})
    assert again.json()["errorType"] == "Extension.Crash"
    assert "Init Duration" in again.log


# Reports a failure as an extension should before it exits: /init/error during INIT
# (MODE=init), /exit/error during INIT (MODE=exit) or at its first INVOKE (MODE=exit-invoke).
REPORTS_THEN_EXITS = """#!/usr/bin/env python3
import json, os, sys, urllib.request
base = "http://%s/2020-01-01/extension" % os.environ["AWS_LAMBDA_RUNTIME_API"]
req = urllib.request.Request(
    base + "/register",
    data=json.dumps({"events": ["INVOKE"]}).encode(),
    headers={"Lambda-Extension-Name": "reporter"},
    method="POST",
)
with urllib.request.urlopen(req) as r:
    ident = r.headers["Lambda-Extension-Identifier"]
mode = os.environ["MODE"]
if mode == "exit-invoke":
    nxt = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
    urllib.request.urlopen(nxt).close()  # the first INVOKE
verb = "init/error" if mode == "init" else "exit/error"
report = urllib.request.Request(
    base + "/" + verb,
    data=json.dumps({"errorMessage": "no backend", "errorType": "Extension.NoBackend"}).encode(),
    headers={"Lambda-Extension-Identifier": ident,
             "Lambda-Extension-Function-Error-Type": "Extension.NoBackend"},
    method="POST",
)
with urllib.request.urlopen(report) as r:
    print("[reporter] %s answered %d" % (verb, r.status), flush=True)
sys.exit(1)
"""


@pytest.mark.parametrize(
    ("mode", "error_type"),
    [
        ("init", "Extension.InitError"),
        ("exit", "Extension.ExitError"),
        ("exit-invoke", "Extension.ExitError"),
    ],
)
def test_an_extensions_init_or_exit_error_fails_with_lambdas_type(
    lamina: LaminaProcess, mode: str, error_type: str
) -> None:
    name = f"ext-reports-{mode}"
    slow = "import time\ndef handler(event, context):\n    time.sleep(8)\n    return 'late'\n"
    _create(
        lamina,
        name,
        {"app.py": slow, "extensions/reporter": REPORTS_THEN_EXITS},
        Environment={"Variables": {"MODE": mode}},
        Timeout=30,
    )
    out = lamina.invoke(name, {})
    assert out.function_error == "Unhandled"
    assert out.json()["errorType"] == error_type, out.payload
    if mode == "exit-invoke":
        assert "EXTENSION\tName: reporter\tState: ExitError" in out.log
    else:
        # INIT failed: Lambda's INIT_REPORT says so with the error type.
        assert "Status: error" in out.log and f"Error Type: {error_type}" in out.log, out.log
    text = wait_for_text(lambda: log_text(lamina, name), "[reporter] ")
    verb = "init/error" if mode == "init" else "exit/error"
    assert f"[reporter] {verb} answered 202" in text


def test_logs_follow_prints_the_telemetry_events_as_they_happen(lamina: LaminaProcess) -> None:
    name = "follow-me"
    _create(lamina, name, {"app.py": SAYS_HELLO})
    _invoke(lamina, name)  # history: printed from the log store first
    cli = Path(sys.executable).with_name("lamina")
    follow = subprocess.Popen(
        [str(cli), "logs", name, "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "LAMINA_ENDPOINT": lamina.endpoint, "NO_COLOR": "1"},
    )
    try:
        lines: list[str] = []
        assert follow.stdout is not None
        while not any("hello from the function" in line for line in lines):
            line = follow.stdout.readline()
            assert line, "".join(lines)  # the command ended
            lines.append(line)
        request_id, _ = _invoke(lamina, name)  # live: from the telemetry bus
        while not any(f"REPORT RequestId: {request_id}" in line for line in lines):
            line = follow.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        live = "".join(lines)
        assert f"START RequestId: {request_id} Version: $LATEST" in live
        assert live.count("hello from the function") == 2
    finally:
        follow.kill()
        follow.wait()
