"""A published observability extension runs unmodified: Serverless Inc.'s OpenTelemetry
extension (npm ``@serverless/aws-lambda-otel-extension-dist`` 0.1.11, its
``extension.zip`` as a layer; ``make examples`` builds it).

It is an external extension in Node (``/opt/extensions/otel-extension``) that registers
for INVOKE and SHUTDOWN, subscribes to the Logs API (schema 2021-03-18, destination
``http://sandbox:4243``) and waits, at each INVOKE, for the data its internal half sends:
``AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-extension/otel-handler`` adds ``NODE_OPTIONS
--require wrapper.js``, which instruments the handler with OpenTelemetry and posts the
invocation's span to the extension on ``localhost:2772``. From the ``platform.report``
records and those spans it builds OTLP metrics and traces; with ``DEBUG_SLS_OTEL_LAYER``
it logs them, which is what this test reads (no ingestion URL is set: nothing leaves)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from lamina.client.http import Client
from tests.integration.harness import EXAMPLES, LaminaProcess, running_lamina, zip_files

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

HANDLER = "exports.handler = async (event) => ({ ok: true, n: event.n });\n"


@pytest.fixture(scope="module")
def lamina(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with running_lamina(tmp_path_factory.mktemp("published-extension")) as proc:
        yield proc


def _payloads(text: str, label: str) -> list[object]:
    """The JSON the extension logged after ``label`` (one per upload)."""
    found = []
    for line in text.splitlines():
        if line.startswith(label):
            found.append(json.loads(line[len(label) :]))
    return found


def test_the_serverless_otel_extension_reports_metrics_and_traces(lamina: LaminaProcess) -> None:
    zip_path = EXAMPLES / "sls-otel-extension.zip"
    assert zip_path.is_file(), f"{zip_path} missing: run `make examples`"
    lam = lamina.lambda_client()
    layer = lam.publish_layer_version(
        LayerName="sls-otel", Content={"ZipFile": zip_path.read_bytes()}
    )["LayerVersionArn"]
    lamina.create(
        "otel-fn",
        zip_files({"index.js": HANDLER}),
        runtime="nodejs20.x",
        handler="index.handler",
        Layers=[layer],
        Timeout=30,
        Environment={
            "Variables": {
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-extension/otel-handler",
                "DEBUG_SLS_OTEL_LAYER": "1",
                "SLS_OTEL_REPORT_TYPE": "json",
            }
        },
    )
    # A cold invoke and two warm ones. Lambda sends an invoke's platform.report after its
    # invoke phase, while the environment is thawed: during the next invoke, or at the
    # thaw after it if the extension asked for its next event first (it waits for its
    # wrapper's data, not for the record). So by the third invoke the first one's report
    # has reached the extension, which logs it as it takes it in, before its next `next`.
    ids = []
    for n in (1, 2, 3):
        out = lam.invoke(FunctionName="otel-fn", Payload=json.dumps({"n": n}))
        assert "FunctionError" not in out
        assert json.loads(out["Payload"].read()) == {"ok": True, "n": n}
        ids.append(out["ResponseMetadata"]["RequestId"])

    def logs() -> str:
        events = Client(lamina.endpoint).call("GET", "/lamina/v1/functions/otel-fn/logs")["events"]
        return "\n".join(e["message"] for e in events)

    report = re.compile(
        r"REPORT RequestId: ([0-9a-f-]+)\tDuration: [\d.]+ ms\tBilled Duration: (\d+)"
    )
    deadline = time.monotonic() + 60
    while True:
        text = logs()
        metrics = _payloads(text, "Metric Data:  ")
        executions = set(
            re.findall(r'"faas.execution","value":\{"stringValue":"([0-9a-f-]+)"', text)
        )
        billed = dict(report.findall(text))
        # The platform.report records the extension got from Lamina's Logs API (it logs
        # what it groups), with the Billed Duration of Lamina's REPORT line for that id.
        received = [
            i
            for i in ids
            if re.search(
                f'"requestId":"{i}","metrics":\\{{[^}}]*"billedDurationMs":{billed.get(i, "x")}[,}}]',
                text,
            )
        ]
        done = ids[0] in received and bool(executions) and any(metrics)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    # The extension registered and subscribed to the Logs API without complaint.
    assert "Logs API is not supported" not in text and "register failed" not in text
    # It got Lamina's platform.report records, with the REPORT line's numbers ...
    assert ids[0] in received, f"{ids} {billed}\n{text[-4000:]}"
    # ... the wrapper's spans of the invocations (which ones, and when the extension turns
    # reports into metrics, is its own affair: its uploads race its inputs) ...
    assert executions <= set(ids) and executions, text[-3000:]
    assert '"faas.name", "value": {"stringValue": "otel-fn"}' in json.dumps(metrics)
    # ... and its traces the handler's span, made by the OpenTelemetry wrapper it preloads.
    spans = re.findall(r'"name":"otel-fn","kind":"SPAN_KIND_SERVER"', text)
    assert spans, text[-3000:]
