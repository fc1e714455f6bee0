"""Every mounted selector keeps its reach's promise: it picks nothing its reach rules out.

The API skips asking selectors about a request the union of their reaches rules out
(lamina.api.mounts), so a reach that promised too little would send a service's request
to the Lambda routes. The corpus crosses the paths, queries, headers and bodies each
selector looks at (and invoke requests, which must stay out of every reach).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator

import pytest

from lamina.cluster.status import REACH as CLUSTER_REACH
from lamina.cluster.status import ClusterStatus
from lamina.console.app import REACH as CONSOLE_REACH
from lamina.console.app import Console
from lamina.events.http.handlers import REACH as URL_REACH
from lamina.events.http.handlers import FunctionUrlHandler
from lamina.metrics.endpoint import REACH as METRICS_REACH
from lamina.metrics.endpoint import MetricsEndpoint
from lamina.services.cloudformation.handler import REACH as CFN_REACH
from lamina.services.cloudformation.handler import (
    RECORD_REACH,
    is_cloudformation_request,
    is_record_request,
)
from lamina.services.cloudwatch.service import REACH as CLOUDWATCH_REACH
from lamina.services.cloudwatch.service import CloudWatchService
from lamina.services.eventbridge.service import EventsService
from lamina.services.iam.handler import REACH as IAM_REACH
from lamina.services.iam.handler import is_iam_request
from lamina.services.logs.service import LogsService
from lamina.services.protocol.reach import TARGETED, Reach, union
from lamina.services.s3.requests import REACH as S3_REACH
from lamina.services.s3.requests import is_s3_request
from lamina.services.scheduler.service import REACH as SCHEDULER_REACH
from lamina.services.scheduler.service import SchedulerService
from lamina.services.sns.handler import REACH as SNS_REACH
from lamina.services.sns.handler import is_sns_request
from lamina.services.sqs.handler import REACH as SQS_REACH
from lamina.services.sqs.handler import is_sqs_request
from lamina.services.stepfunctions.handler import StepFunctions
from lamina.services.sts import REACH as STS_REACH
from lamina.services.sts import is_sts_request
from lamina.services.xray.service import REACH as XRAY_REACH
from lamina.services.xray.service import XrayService
from lamina.wire.http import Request

Selector = Callable[[Request], bool]

# Every selector the server mounts, with the reach it declares, in the server's order.
MOUNTED: list[tuple[str, Selector, Reach]] = [
    ("iam", is_iam_request, IAM_REACH),
    ("sts", is_sts_request, STS_REACH),
    ("cloudformation", is_cloudformation_request, CFN_REACH),
    ("stack records", is_record_request, RECORD_REACH),
    ("function urls", FunctionUrlHandler.accepts, URL_REACH),
    ("eventbridge", EventsService.accepts, TARGETED),
    ("scheduler", SchedulerService.accepts, SCHEDULER_REACH),
    ("sns", is_sns_request, SNS_REACH),
    ("sqs", is_sqs_request, SQS_REACH),
    ("s3", is_s3_request, S3_REACH),
    ("logs", LogsService.accepts, TARGETED),
    ("stepfunctions", StepFunctions.accepts, TARGETED),
    ("metrics", MetricsEndpoint.accepts, METRICS_REACH),
    ("cloudwatch", CloudWatchService.accepts, CLOUDWATCH_REACH),
    ("xray", XrayService.accepts, XRAY_REACH),
    ("console", Console.accepts, CONSOLE_REACH),
    ("cluster status", ClusterStatus.accepts, CLUSTER_REACH),
]

PATHS = [
    "/",
    "/2015-03-31/functions/f/invocations",
    "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/invocations",
    "/2021-11-15/functions/f/response-streaming-invocations",
    "/2015-03-31/functions",
    "/lamina/v1/health",
    "/lamina/v1/stacks/s",
    "/lamina/v1/cluster",
    "/lamina/v1/s3-events/f",
    "/metrics",
    "/console",
    "/console/functions/f",
    "/lambda-url/abc/p",
    "/schedules/s",
    "/Traces",
    "/TraceSummaries",
    "/TraceSegments",
    "/service/GraniteServiceVersion20100801/operation/GetMetricData",
    "/bucket/key",
    "/000000000000/q",
]
QUERIES = [
    "",
    "?Qualifier=1",
    "?Action=ListUsers&Version=2010-05-08",
    "?Action=GetCallerIdentity&Version=2011-06-15",
    "?Action=ListStacks&Version=2010-05-15",
    "?Action=SendMessage",
    "?Action=Publish&Version=2010-03-31",
    "?X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=ab",
    "?X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Signature=ab",
]
SERVICES = [
    "lambda", "s3", "sqs", "sns", "iam", "sts", "cloudformation", "monitoring", "scheduler",
    "xray",
]  # fmt: skip
HEADERS: list[dict[str, str]] = [
    {},
    {"x-amz-target": "AWSEvents.PutEvents"},
    {"x-amz-target": "AmazonSQS.SendMessage"},
    {"x-amz-target": "Logs_20140328.PutLogEvents"},
    {"x-amz-target": "AWSStepFunctions.StartExecution"},
    {"x-amz-target": "GraniteServiceVersion20100801.GetMetricData"},
    {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
    {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
    {"host": "abc.lambda-url.us-east-1.on.aws"},
    {"authorization": "AWS4-HMAC-SHA256 no scope here"},
    *(
        {
            "authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/"
            f"{service}/aws4_request, SignedHeaders=host, Signature=" + "0" * 64,
            "content-type": "application/x-www-form-urlencoded",
        }
        for service in SERVICES
    ),
    {  # as the JavaScript SDK v3 signs every call: with its payload header
        "authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/"
        "aws4_request, SignedHeaders=host;x-amz-content-sha256, Signature=" + "0" * 64,
        "x-amz-content-sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    },
]
BODIES = [
    b"",
    b"{}",
    b"Action=SendMessage&Version=2012-11-05",
    b"Action=GetCallerIdentity&Version=2011-06-15",
    b"Action=ListUsers&Version=2010-05-08",
    b"Action=PutMetricData&Version=2010-08-01",
    b"Action=ListStacks&Version=2010-05-15",
    b"Action=Publish&Version=2010-03-31",
]


def corpus() -> Iterator[Request]:
    for method, path, query, headers, body in itertools.product(
        ("GET", "POST"), PATHS, QUERIES, HEADERS, BODIES
    ):
        yield Request(method, path + query, {"host": "localhost", **headers}, body)


@pytest.mark.parametrize(("name", "select", "reach"), MOUNTED, ids=[m[0] for m in MOUNTED])
def test_a_selector_picks_nothing_outside_its_reach(
    name: str, select: Selector, reach: Reach
) -> None:
    picked = 0
    for req in corpus():
        if select(req):
            picked += 1
            assert reach.admits(req), f"{name} picked {req.method} {req.target} {req.headers}"
    assert picked > 0  # the corpus reaches every selector


@pytest.mark.parametrize(("name", "select", "reach"), MOUNTED, ids=[m[0] for m in MOUNTED])
def test_every_clue_of_a_reach_is_needed(name: str, select: Selector, reach: Reach) -> None:
    """A reach no wider than its selector: without any one of its clues, some request the
    selector picks would be ruled out (so a reach says what the selector looks at)."""
    picked = [req for req in corpus() if select(req)]
    for clue in ("paths", "headers", "hosts", "signed_for", "unsigned", "unsigned_headers"):
        value = getattr(reach, clue)
        if value:
            narrower = dataclasses.replace(reach, **{clue: type(value)()})
            assert any(not narrower.admits(req) for req in picked), f"{name}: {clue}"


def test_the_union_admits_exactly_what_one_of_its_parts_admits() -> None:
    reaches = [reach for _, _, reach in MOUNTED]
    whole = union(reaches)
    for req in corpus():
        assert whole.admits(req) == any(r.admits(req) for r in reaches), req


def test_plain_invokes_are_out_of_every_reach() -> None:
    """What the fast path is for: SDK invokes (signed for lambda) and unsigned ones."""
    whole = union([reach for _, _, reach in MOUNTED])
    signed = [h for h in HEADERS if "/lambda/" in h.get("authorization", "")]
    assert len(signed) == 2  # botocore's shape and the JavaScript SDK's
    for headers in ({}, *signed, {"x-amz-invocation-type": "Event", "x-amz-log-type": "Tail"}):
        for path in (PATHS[1], PATHS[2], PATHS[3]):
            req = Request("POST", path + "?Qualifier=1", {"host": "localhost", **headers}, b"{}")
            assert not whole.admits(req)
    # ... but an unsigned one whose payload looks like a query call is left to the selectors
    # (STS answers it today, and still will).
    req = Request("POST", PATHS[1], {}, b'{"q": "Action=GetCallerIdentity&Version=2011-06-15"}')
    assert whole.admits(req) and is_sts_request(req)
