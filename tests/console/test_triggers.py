"""The function page's Triggers and Asynchronous invocation sections (pure)."""

from __future__ import annotations

from lamina.console import triggers as t
from lamina.console import views
from lamina.events.asyncinvoke.config import EventInvokeConfig
from lamina.events.esm.config import Mapping
from lamina.events.http.apis import ApiDefinition
from lamina.events.http.routes import parse_routes
from lamina.models.function_url import FunctionUrlConfig
from lamina.services.eventbridge.rules import Rule, Target
from lamina.services.s3.notifications import parse_configuration
from lamina.services.sns.store import Subscription
from tests.console.test_summary import cfg

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def test_each_kind_of_trigger_names_only_its_function() -> None:
    urls = [FunctionUrlConfig("fn", "live", "a" * 32, "NONE", "RESPONSE_STREAM")]
    assert t.url_triggers(urls, "http://127.0.0.1:9000") == [
        t.Trigger(
            "Function URL",
            f"http://127.0.0.1:9000/lambda-url/{'a' * 32}/",
            "live · NONE · RESPONSE_STREAM",
        )
    ]
    config = parse_routes(
        {"routes": [{"route": "GET /items/{id}", "function": "fn"},
                    {"route": "POST /other", "function": "other"}]}
    )  # fmt: skip
    api = ApiDefinition("abc", "stack/Api", "http", config, port=8123)
    routes = t.route_triggers("fn", [api], config.routes)
    assert [(r.source, r.detail.split(" · ")[0]) for r in routes] == [
        ("GET /items/{id}", "stack/Api (port 8123)"),
        ("GET /items/{id}", "routes file"),
    ]
    mappings = [
        Mapping("u1", "arn:aws:sqs:us-east-1:000000000000:q", "fn", None, ARN + "fn"),
        Mapping("u2", "arn:aws:sqs:us-east-1:000000000000:r", "other", None, ARN + "other"),
    ]
    (esm,) = t.mapping_triggers("fn", mappings)
    assert esm.source.endswith(":q") and "batch 10" in esm.detail
    xml = (
        "<NotificationConfiguration><CloudFunctionConfiguration><Id>a</Id>"
        f"<CloudFunction>{ARN}fn:live</CloudFunction><Event>s3:ObjectCreated:*</Event>"
        "</CloudFunctionConfiguration><CloudFunctionConfiguration><Id>b</Id>"
        f"<CloudFunction>{ARN}fnx</CloudFunction><Event>s3:ObjectCreated:*</Event>"
        "</CloudFunctionConfiguration></NotificationConfiguration>"
    ).encode()
    (bucket,) = t.bucket_triggers("fn", [("photos", parse_configuration(xml))])
    assert bucket.source == "photos" and bucket.detail.endswith("fn:live")
    rules = [
        Rule("tick", "rate(5 minutes)", "ENABLED", "", 0.0, None, (Target("1", ARN + "fn"),)),
        Rule("tock", "rate(1 hour)", "DISABLED", "", 0.0, None, (Target("1", ARN + "fn2"),)),
    ]
    assert t.rule_triggers("fn", rules, "Schedule") == [
        t.Trigger("Schedule", "tick", "rate(5 minutes) · ENABLED · fn")
    ]
    topic = "arn:aws:sns:us-east-1:000000000000:orders"
    subscriptions = [
        Subscription(topic + ":1", topic, "lambda", ARN + "fn:live", {"FilterPolicy": "{}"}),
        Subscription(topic + ":2", topic, "lambda", ARN + "fnx", {}),
        Subscription(topic + ":3", topic, "sqs", "arn:aws:sqs:us-east-1:000000000000:fn", {}),
    ]
    assert t.topic_triggers("fn", subscriptions) == [
        t.Trigger("SNS topic", topic, "filter on MessageAttributes: {} · fn:live")
    ]


def test_async_status_and_the_page_show_queue_destinations_and_history() -> None:
    configs = [EventInvokeConfig("fn", "$LATEST", 0, 60, None, ARN + "dlq-fn")]
    status = t.async_status("fn", {"fn": (3, 100.0), "other": (1, 0.0)}, configs, "", 130.0)
    assert (status.depth, status.oldest_age_s) == (3, 30.0)
    assert t.async_status("idle", {}, [], "", 130.0).oldest_age_s is None
    page = views.function_page(
        views.FunctionPage(
            cfg("fn"),
            ["$LATEST"],
            [],
            triggers=[t.Trigger("Schedule", "tick", "rate(5 minutes) · ENABLED · fn")],
            queued=status,
            concurrency_limit=7,
            payloads=['{"n": 1}', "<script>"],
        )
    )
    assert "<td>tick</td>" in page and "30 s" in page and ARN + "dlq-fn" in page
    assert "&quot;concurrency_limit&quot;: 7" in page
    assert "&lt;script&gt;" in page and "<script>" not in page.replace(
        '<script src="/console/static', ""
    )
