"""The web console in a real browser: Playwright driving Debian's Chromium, headless, against
a real server (signed mode, so the login is exercised) with real functions.

Without Chromium or Playwright the test is skipped locally but FAILS under CI (``CI=true``,
set by ``.ci/run``; ``make test`` installs both: scripts/install-system-deps.sh and the
``dev`` extra).
``LAMINA_UPDATE_SCREENSHOTS=1`` also writes the screenshots shown in docs/console.md.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import (
    ROOT,
    LaminaProcess,
    aws_client,
    python_zip,
    signed_lamina,
)
from tests.unavailable import unavailable

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY, SECRET = "AKIDCONSOLE", "console-secret"
CODE = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    print("hello from the console test", event.get("n"))
    return {"ok": True, "n": event.get("n")}
"""
OK, FAILED = 4, 2
FLOW = json.dumps({
    "StartAt": "Check",
    "States": {
        "Check": {"Type": "Choice", "Default": "Done",
                  "Choices": [{"Variable": "$.ok", "BooleanEquals": False, "Next": "Broken"}]},
        "Done": {"Type": "Succeed"},
        "Broken": {"Type": "Fail", "Error": "NotOk", "Cause": "asked to fail"},
    },
})  # fmt: skip


def _browser_or_skip() -> Any:
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (pip install -e .[dev])"
    if missing is None and not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        missing = "Chromium is missing (scripts/install-system-deps.sh installs it)"
    if missing is not None:
        unavailable(missing)  # fails under CI=true (.ci/run), which `make test` installs for
    return sync_playwright


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with signed_lamina(tmp_path_factory.mktemp("console"), KEY, SECRET, "r") as proc:
        yield proc


def _lambda(server: LaminaProcess, service: str = "lambda") -> Any:
    return aws_client(server, service, KEY, SECRET)


@pytest.fixture(scope="module")
def traffic(server: LaminaProcess) -> None:
    lam = _lambda(server)
    for name in ("console-fn", "idle-fn"):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Handler="app.handler",
            Role="arn:aws:iam::000000000000:role/r",
            Code={"ZipFile": python_zip(CODE)},
            MemorySize=192,
        )
    for i in range(OK + FAILED):
        out = lam.invoke(FunctionName="console-fn", Payload=json.dumps({"fail": i < FAILED}))
        assert ("FunctionError" in out) == (i < FAILED)
    # Triggers the function page lists (none of them fires during the test).
    arn = lam.get_function(FunctionName="console-fn")["Configuration"]["FunctionArn"]
    lam.create_function_url_config(FunctionName="console-fn", AuthType="NONE")
    queue = _lambda(server, "sqs").create_queue(QueueName="console-q")["QueueUrl"]
    lam.create_event_source_mapping(
        FunctionName="console-fn",
        EventSourceArn="arn:aws:sqs:us-east-1:000000000000:console-q",
        BatchSize=5,
    )
    assert queue.endswith("/console-q")
    events = _lambda(server, "events")
    events.put_rule(Name="console-daily", ScheduleExpression="rate(1 day)")
    events.put_targets(Rule="console-daily", Targets=[{"Id": "1", "Arn": arn}])
    s3 = _lambda(server, "s3")
    s3.create_bucket(Bucket="console-uploads")
    s3.put_bucket_notification_configuration(
        Bucket="console-uploads",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    sfn = _lambda(server, "stepfunctions")
    machine = sfn.create_state_machine(
        name="console-flow", definition=FLOW, roleArn="arn:aws:iam::000000000000:role/r"
    )["stateMachineArn"]
    for name, ok in (("good", True), ("bad", False)):
        run = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps({"ok": ok}))
        for _ in range(100):
            if sfn.describe_execution(executionArn=run["executionArn"])["status"] != "RUNNING":
                break
            time.sleep(0.1)
    lam.put_function_event_invoke_config(
        FunctionName="console-fn",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": arn.replace("console-fn", "idle-fn")}},
    )


def _save(shown: Any, name: str, tmp: Path) -> None:
    """A screenshot of a page (whole) or of one element, under docs/ when asked."""
    whole = {"full_page": True} if hasattr(shown, "goto") else {}
    shown.screenshot(path=str(tmp / name), **whole)
    if os.environ.get("LAMINA_UPDATE_SCREENSHOTS") == "1":
        shown.screenshot(path=str(ROOT / "docs" / name), **whole)


def test_console_in_chromium(server: LaminaProcess, traffic: None, tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    problems: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type in ("error", "warning") else None,
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on(
                "request",
                lambda r: outside.append(r.url) if not r.url.startswith(server.endpoint) else None,
            )

            # Not logged in: the console sends us to the login form; a wrong secret fails.
            page.goto(server.endpoint + "/console")
            assert page.url.endswith("/console/login")
            _save(page, "console-login.png", tmp_path)
            page.fill("input[name=key_id]", KEY)
            page.fill("input[name=secret]", "wrong")
            page.click("form.login button")
            assert "wrong secret" in page.inner_text("main")
            page.fill("input[name=key_id]", KEY)
            page.fill("input[name=secret]", SECRET)
            page.click("form.login button")
            page.wait_for_selector("#functions")
            assert SECRET not in page.url

            # The list shows the known counts.
            row = page.locator('tr[data-function="console-fn"]')
            assert row.locator(".invocations").inner_text() == str(OK + FAILED)
            assert row.locator(".errors").inner_text() == str(FAILED)
            assert row.locator(".throttles").inner_text() == "0"
            idle = page.locator('tr[data-function="idle-fn"]')
            assert idle.locator(".invocations").inner_text() == "0"
            # Cost today and its month: spent by the invoked function only.
            assert float(row.locator(".projected").inner_text()) > 0
            assert float(idle.locator(".projected").inner_text()) == 0
            page.fill("#filter", "idle")
            assert row.is_hidden() and idle.is_visible()
            page.fill("#filter", "")
            # Sorting: by invocations, ascending then descending.
            order = "() => [...document.querySelectorAll('#functions tbody tr')].map(r => r.dataset.function)"
            page.click("#functions th:has-text('Invocations (1 h)')")
            assert page.evaluate(order) == ["idle-fn", "console-fn"]
            page.click("#functions th:has-text('Invocations (1 h)')")
            assert page.evaluate(order) == ["console-fn", "idle-fn"]
            page.click("#functions th:has-text('Function')")
            assert page.evaluate(order) == ["console-fn", "idle-fn"]
            _save(page, "console-functions.png", tmp_path)

            # The function page: charts hold the per-minute data points.
            page.click('a[href="/console/functions/console-fn"]')
            page.wait_for_function("() => window.laminaCharts && window.laminaCharts.invocations")
            data = page.evaluate("() => window.laminaCharts.invocations.data")
            assert len(data[0]) == 60  # one point per minute of the last hour
            assert sum(v or 0 for v in data[1]) == OK + FAILED
            assert sum(v or 0 for v in data[2]) == FAILED
            p99 = page.evaluate("() => window.laminaCharts.duration.data[2]")
            assert any(v for v in p99)
            assert "REPORT RequestId:" in page.inner_text("#reports")
            assert page.locator("canvas").count() >= 7
            # Concurrency: the average over each minute, drawn against the limit.
            conc = page.evaluate("() => window.laminaCharts.concurrency.data")
            assert any(v for v in conc[1]) and set(conc[2]) == {1000}
            # Cost per hour (the trailing hour): every invoke so far is in the last one.
            hourly = page.evaluate("() => window.laminaCharts.cost.data[1]")
            assert hourly[-1] > 0 and hourly == sorted(hourly)

            # A custom range, in UTC: the last ten minutes hold every invoke so far, a range
            # a day ago none, and a range that is not one says why.
            def utc_minute(t: float) -> str:
                return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(t))

            invocations = "() => window.laminaCharts.invocations.data"
            page.select_option("#range", "custom")
            assert page.is_visible("#range-custom")
            now = time.time()
            page.fill("#range-from", utc_minute(now - 600))
            page.fill("#range-to", utc_minute(now))
            page.click("#range-custom button")
            page.wait_for_function(f"() => ({invocations})()[0].length <= 12")
            shown = page.evaluate(invocations)
            assert len(shown[0]) in (11, 12)  # 12 when a minute turned meanwhile
            assert shown[0][0] == (int(now - 600) // 60) * 60
            assert sum(v or 0 for v in shown[1]) == OK + FAILED
            page.fill("#range-from", utc_minute(now - 86_400 - 600))
            page.fill("#range-to", utc_minute(now - 86_400))
            page.click("#range-custom button")
            page.wait_for_function(f"() => ({invocations})()[0][0] < {int(now - 86_000)}")
            assert sum(v or 0 for v in page.evaluate(invocations)[1]) == 0
            page.fill("#range-from", utc_minute(now))
            page.fill("#range-to", utc_minute(now - 600))
            page.click("#range-custom button")
            page.wait_for_function("() => document.getElementById('range-error').textContent")
            assert "before" in page.inner_text("#range-error")
            # The server refuses what the form lets through, with the reason (AWS-style JSON).
            week = page.request.get(
                f"{server.endpoint}/console/api/functions/console-fn/series"
                f"?from={int(now) - 8 * 86_400}&to={int(now)}"
            )
            assert week.status == 400 and "at most 7 days" in week.json()["message"]
            page.select_option("#range", "60")
            assert page.is_hidden("#range-custom")
            page.wait_for_function(f"() => ({invocations})()[0].length === 60")

            # Triggers and the asynchronous invocation settings.
            kinds = page.locator("table.triggers tbody tr td:first-child").all_inner_texts()
            assert sorted(kinds) == sorted(
                ["EventBridge rule", "Event source mapping", "Function URL", "S3 bucket"]
            )
            triggers = page.inner_text("table.triggers")
            assert "console-uploads" in triggers and "rate(1 day)" in triggers
            assert server.endpoint + "/lambda-url/" in triggers and "batch 5" in triggers
            assert page.inner_text("#async .q-0") == "0"
            assert "function:idle-fn" in page.inner_text("table.destinations")

            # The live tail shows lines of an invoke made elsewhere (here: boto3).
            out = _lambda(server).invoke(FunctionName="console-fn", Payload=b'{"n": 4242}')
            boto_id = out["ResponseMetadata"]["RequestId"]
            page.wait_for_function(
                "() => document.getElementById('tail').textContent"
                ".includes('hello from the console test 4242')",
                timeout=10_000,
            )

            # The Invoke box runs the function and the charts catch up.
            page.fill("textarea[name=payload]", '{"n": 7}')
            page.click("#invoke button")
            page.wait_for_function(
                "() => document.getElementById('invoke-result').dataset.status === '200'"
            )
            result = page.inner_text("#invoke-result")
            assert '"n": 7' in result and "hello from the console test" in result
            # The payload is in the history; choosing it fills the box again.
            page.wait_for_function("() => document.getElementById('history').options.length > 1")
            page.fill("textarea[name=payload]", "{}")
            page.select_option("#history", index=1)
            assert page.input_value("textarea[name=payload]") == '{"n": 7}'
            page.wait_for_function(
                "() => window.laminaCharts.invocations.data[1].reduce((a, b) => a + (b || 0), 0) "
                f"=== {OK + FAILED + 2}"
            )
            _save(page, "console-function.png", tmp_path)
            # Recent invocations keep their payloads, joined to their REPORT line.
            page.reload()
            kept = page.locator(f'#invocations details[data-request-id="{boto_id}"]')
            kept.locator("summary").click()
            assert json.loads(kept.locator("pre.request").inner_text()) == {"n": 4242}
            assert json.loads(kept.locator("pre.response").inner_text()) == {"ok": True, "n": 4242}
            assert f"REPORT RequestId: {boto_id}" in kept.locator("pre.report").inner_text()
            # ... and, opened, their log lines from START to REPORT.
            page.wait_for_function(
                f'() => document.querySelector(\'#invocations details[data-request-id="{boto_id}"]'
                " pre.logs').dataset.loaded === '1'"
            )
            logs = kept.locator("pre.logs").inner_text().splitlines()
            assert logs[0].startswith(f"START RequestId: {boto_id} ")
            assert any(line.endswith("hello from the console test 4242") for line in logs)
            assert logs[-1].startswith(f"REPORT RequestId: {boto_id}\t")
            assert page.locator("#invocations details").count() == OK + FAILED + 2

            # Workflows: the state machine, its executions, an execution's coloured graph.
            page.click('header a[href="/console/workflows"]')
            flow = page.locator('tr[data-machine="console-flow"]')
            assert flow.locator(".executions").inner_text() == "2"
            assert flow.locator(".failed").inner_text() == "1"
            _save(page, "console-workflows.png", tmp_path)
            flow.locator("a").click()
            statuses = page.locator("#executions td.status").all_inner_texts()
            assert sorted(statuses) == ["FAILED", "SUCCEEDED"]
            _save(page, "console-state-machine.png", tmp_path)
            page.click('tr[data-execution="bad"] a')
            states = json.loads(page.get_attribute("#execution", "data-states") or "{}")
            assert states == {"Check": "succeeded", "Broken": "failed"}
            assert page.locator("figure.graph svg rect").count() >= 3
            assert "NotOk: asked to fail" in page.inner_text("#history-events")
            _save(page, "console-execution.png", tmp_path)

            # Cost: the bill by day, the month at a rate and the break-even against a server.
            page.click('header a[href="/console/cost"]')
            page.select_option("select[name=by]", "day")
            page.fill("input[name=rate]", "10/s")
            page.fill("input[name=server]", "40$/month")
            page.click("#cost-query button")
            page.wait_for_function("() => window.laminaCharts && window.laminaCharts.costDays")
            assert float(page.inner_text("#bill-total")) > 0
            day_costs = page.evaluate("() => window.laminaCharts.costDays.data[1]")
            assert sum(day_costs) > 0
            outlook = page.locator('#outlook tr[data-function="console-fn"]')
            assert float(outlook.locator(".projected").inner_text()) > 0
            assert "/ month" in outlook.locator(".break-even").inner_text()
            _save(page, "console-cost.png", tmp_path)
            page.goto(server.endpoint + "/console/cost?rate=fast")
            assert "is not a rate" in page.inner_text("main")

            # Tune and compare run the real CLI against this server; their curves are drawn.
            page.goto(server.endpoint + "/console/functions/console-fn")
            page.fill("#tune input[name=memory]", "128,256")
            page.fill("#tune input[name=invocations]", "2")
            page.click("#tune button[value=tune]")
            done = "() => ['succeeded', 'failed'].includes(document.getElementById('tune-status')"
            page.wait_for_function(done + ".dataset.status)", timeout=180_000)
            assert page.get_attribute("#tune-status", "data-status") == "succeeded", (
                page.inner_text("#tune-status")
            )
            assert "Recommended: " in page.inner_text("#tune-status")
            curve = page.evaluate("() => window.laminaCharts.tune.data")
            assert curve[0] == [128, 256] and all(v and v > 0 for v in curve[1])
            section = page.locator("section", has=page.locator("#tune"))
            _save(section, "console-tune.png", tmp_path)

            page.fill("#tune input[name=memory]", "128")
            page.fill("#tune input[name=other]", "idle-fn")
            page.click("#tune button[value=compare]")  # its handler marks it running at once
            page.wait_for_function(done + ".dataset.status)", timeout=180_000)
            assert page.get_attribute("#tune-status", "data-status") == "succeeded", (
                page.inner_text("#tune-status")
            )
            curve = page.evaluate("() => window.laminaCharts.tune.data")
            assert curve[0] == [128] and len(curve) == 5  # cost and time of each side
            _save(section, "console-compare.png", tmp_path)
            # Refused before anything runs (asked outside the page: a browser logs any 404).
            api = server.endpoint + "/console/api/functions/console-fn/compare"
            headers = {"X-Lamina-Console": "1"}
            resp = page.request.post(api, headers=headers, data={"other": "no-such-fn"})
            assert resp.status == 404 and "no-such-fn" in resp.json()["message"]
            resp = page.request.post(api, headers=headers, data={"memory": "64", "other": "x"})
            assert resp.status == 400 and "memory" in resp.json()["message"]
            assert page.request.post(api, data={"other": "idle-fn"}).status == 403

            # The CSP is on every page and nothing was fetched from outside.
            resp = page.request.get(server.endpoint + "/console")
            assert "default-src 'self'" in resp.headers["content-security-policy"]
        finally:
            browser.close()
    assert problems == []
    assert outside == []


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_console_needs_a_session(server: LaminaProcess) -> None:
    opener = urllib.request.build_opener(_NoRedirect)
    for path, status in (
        ("/console/api/functions/console-fn/series", 401),
        ("/console/functions/console-fn", 303),
        ("/console", 303),
    ):
        with pytest.raises(urllib.error.HTTPError) as info:
            opener.open(server.endpoint + path, timeout=30)
        assert info.value.code == status, path
    # Assets are public (they hold no data) and shipped in the package.
    with urllib.request.urlopen(
        server.endpoint + "/console/static/vendor/uplot/uPlot.iife.min.js", timeout=30
    ) as resp:
        assert resp.headers["Content-Type"] == "text/javascript"
        assert b"uPlot" in resp.read()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server.endpoint + "/console/static/../app.py", timeout=30)
    assert info.value.code == 404
