"""Metric alarms (PutMetricAlarm's subset): the alarm, its request parsing and its evaluation
(pure). The runner (:mod:`alarm_runner`) stores them, evaluates them on a timer and sends
the notifications.

Evaluation uses *sliding* periods ending with the current minute (so an alarm sees traffic
at once, rather than a minute later as CloudWatch does): the last ``EvaluationPeriods``
periods of ``Period`` seconds each. The alarm goes to ALARM when at least
``DatapointsToAlarm`` of them breach, to OK when none of the evaluated ones do, and missing
datapoints are treated as ``TreatMissingData`` says (``missing``, ``notBreaching``,
``breaching``, ``ignore``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from lamina.errors import AwsServiceError
from lamina.services.cloudwatch.metricmath import Node, order, parse, validation
from lamina.services.cloudwatch.operations import (
    QUERY_ID,
    invalid,
    missing,
    parse_dimensions,
    parse_period,
)
from lamina.services.cloudwatch.statistics import BASIC_STATISTICS, percentile

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
MISSING = ("missing", "notBreaching", "breaching", "ignore")
_NAME = re.compile(r"^[^\x00-\x1f]{1,255}$")
MAX_ACTIONS = 5
MAX_TAGS = 50
# An SNS topic's ARN, as an alarm action names it.
TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
# The region names CloudWatch writes in its SNS notifications (others: the code itself).
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-north-1": "EU (Stockholm)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "sa-east-1": "South America (Sao Paulo)",
    "ca-central-1": "Canada (Central)",
}


@dataclass(frozen=True, slots=True)
class Alarm:
    name: str
    namespace: str
    metric: str
    dimensions: list[dict[str, str]]
    statistic: str  # a basic statistic or pNN
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str = "missing"
    alarm_actions: list[str] = field(default_factory=list)
    ok_actions: list[str] = field(default_factory=list)
    actions_enabled: bool = True
    description: str = ""
    state: str = INSUFFICIENT
    reason: str = "Unchecked: Initial alarm creation"
    state_updated: float = 0.0
    updated: float = 0.0
    tags: dict[str, str] = field(default_factory=dict)
    # Echoed by DescribeAlarms only as given (Terraform plans a change for anything else).
    datapoints_given: bool = True
    unit: str | None = None
    # A metric math alarm's queries (PutMetricAlarm's ``Metrics``, as given): then
    # namespace, metric, dimensions and statistic are empty, and period is the returned
    # query's.
    metrics: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alarm:
        return cls(**data)


def _actions(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_ACTIONS:
        raise invalid(f"The parameter {name} must be a list of at most {MAX_ACTIONS} ARNs.")
    for arn in value:
        if not isinstance(arn, str) or not (
            arn.startswith(("arn:aws:lambda:", "arn:aws:sqs:")) or TOPIC_ARN.match(arn)
        ):
            raise invalid(
                f"Invalid {name} ARN {arn!r}: Lamina notifies Lambda functions, SQS queues "
                "and SNS topics."
            )
    return list(value)


def parse_tags(value: Any) -> dict[str, str]:
    """``[{"Key": k, "Value": v}, ...]`` (PutMetricAlarm's and TagResource's ``Tags``)."""
    if value is None:
        return {}
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise invalid(f"The parameter Tags must be a list of at most {MAX_TAGS} tags.")
    tags: dict[str, str] = {}
    for tag in value:
        key = tag.get("Key") if isinstance(tag, dict) else None
        val = tag.get("Value", "") if isinstance(tag, dict) else None
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or not isinstance(val, str):
            raise invalid("Each tag needs a Key of 1 to 128 characters and a string Value.")
        if len(val) > 256:
            raise invalid(f"The value of tag {key!r} is longer than 256 characters.")
        tags[key] = val
    return tags


def parse_put(body: dict[str, Any], now: float, previous: Alarm | None) -> Alarm:
    """A PutMetricAlarm request as an :class:`Alarm` (a put replaces, keeping the state)."""
    name = body.get("AlarmName")
    if not isinstance(name, str) or not _NAME.match(name):
        raise missing("AlarmName")
    if not isinstance(body.get("ComparisonOperator"), str):
        raise missing("ComparisonOperator")
    metrics: list[dict[str, Any]] = []
    if body.get("Metrics") is not None:
        metrics, period = parse_metrics(body)
        body = {**body, "Namespace": "", "MetricName": "", "Statistic": "Sum", "Period": period}
    for key in ("MetricName", "Namespace"):
        if not isinstance(body.get(key), str):
            raise missing(key)
    stat = body.get("Statistic")
    extended = body.get("ExtendedStatistic")
    if (stat is None) == (extended is None):
        raise invalid("Exactly one of Statistic and ExtendedStatistic must be given.")
    if stat is not None and stat not in BASIC_STATISTICS:
        raise invalid(f"The parameter Statistic must be one of {', '.join(BASIC_STATISTICS)}.")
    if extended is not None and (not isinstance(extended, str) or percentile(extended) is None):
        raise invalid("The parameter ExtendedStatistic must be a percentile like p99.")
    comparison = body["ComparisonOperator"]
    if comparison not in COMPARISONS:
        raise invalid(f"The parameter ComparisonOperator must be one of {', '.join(COMPARISONS)}.")
    threshold = body.get("Threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise missing("Threshold")
    periods = body.get("EvaluationPeriods")
    if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= 1440:
        raise missing("EvaluationPeriods")
    to_alarm = body.get("DatapointsToAlarm", periods)
    if isinstance(to_alarm, bool) or not isinstance(to_alarm, int) or not 1 <= to_alarm <= periods:
        raise invalid("DatapointsToAlarm must be between 1 and EvaluationPeriods.")
    treat = body.get("TreatMissingData", "missing")
    if treat not in MISSING:
        raise invalid(f"The parameter TreatMissingData must be one of {', '.join(MISSING)}.")
    alarm = Alarm(
        name=name,
        namespace=body["Namespace"],
        metric=body["MetricName"],
        dimensions=parse_dimensions(body.get("Dimensions")),
        statistic="" if metrics else str(stat if stat is not None else extended),
        period=body["Period"] if metrics else parse_period(body.get("Period"), body["Namespace"]),
        evaluation_periods=periods,
        datapoints_to_alarm=to_alarm,
        threshold=float(threshold),
        comparison=comparison,
        treat_missing=treat,
        alarm_actions=_actions(body.get("AlarmActions"), "AlarmActions"),
        ok_actions=_actions(body.get("OKActions"), "OKActions"),
        actions_enabled=body.get("ActionsEnabled", True) is not False,
        description=str(body.get("AlarmDescription") or ""),
        state_updated=now,
        updated=now,
        tags=parse_tags(body.get("Tags")),
        datapoints_given="DatapointsToAlarm" in body,
        unit=str(body["Unit"]) if body.get("Unit") is not None else None,
        metrics=metrics,
    )
    if previous is not None:
        # As CloudWatch: an update keeps the state, and ignores Tags (TagResource sets them).
        alarm = replace(
            alarm,
            state=previous.state,
            reason=previous.reason,
            state_updated=previous.state_updated,
            tags=previous.tags,
        )
    return alarm


MAX_ALARM_METRICS = 10
_SINGLE_METRIC = ("MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions",
                  "Period", "Unit")  # fmt: skip


def parse_metrics(body: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """A metric math alarm's ``Metrics`` (validated as GetMetricData would run them, with
    exactly one returning data) and the period of the returned one."""
    metrics = body["Metrics"]
    if not isinstance(metrics, list) or not 1 <= len(metrics) <= MAX_ALARM_METRICS:
        raise validation(f"The parameter Metrics must hold 1 to {MAX_ALARM_METRICS} queries.")
    given = sorted(k for k in _SINGLE_METRIC if body.get(k) is not None)
    if given:
        raise validation(
            f"The parameters Metrics and {given[0]} are mutually exclusive: a metric math "
            "alarm names its metrics in Metrics."
        )
    if not all(isinstance(q, dict) for q in metrics):
        raise validation("Each of Metrics must be a MetricDataQuery structure.")
    returned = [q for q in metrics if q.get("ReturnData", True) is not False]
    if len(returned) != 1:
        raise validation("Exactly one element of the Metrics list must return data.")
    expressions: dict[str, Node] = {}
    periods: list[int] = []
    ids: set[str] = set()
    for query in metrics:
        qid = query.get("Id")
        if not isinstance(qid, str) or not QUERY_ID.match(qid) or qid in ids:
            raise validation(f"The Id {qid!r} of a query in Metrics is invalid or repeated.")
        ids.add(qid)
        if (query.get("Expression") is None) == (query.get("MetricStat") is None):
            raise validation(f"Exactly one of MetricStat and Expression in query {qid}.")
        if isinstance(query.get("Expression"), str):
            try:
                expressions[qid] = parse(query["Expression"])
            except AwsServiceError as exc:
                raise validation(f"Error in expression {qid}: {exc.message}") from None
            continue
        if query.get("Expression") is not None:
            raise validation(f"The Expression of query {qid} must be a string.")
        stat = query["MetricStat"]
        metric = stat.get("Metric") if isinstance(stat, dict) else None
        if not isinstance(metric, dict) or not isinstance(metric.get("Namespace"), str):
            raise missing(f"Metrics {qid}.MetricStat.Metric.Namespace")
        if not isinstance(metric.get("MetricName"), str):
            raise missing(f"Metrics {qid}.MetricStat.Metric.MetricName")
        parse_dimensions(metric.get("Dimensions"))
        name = stat.get("Stat")
        if not isinstance(name, str) or (name not in BASIC_STATISTICS and percentile(name) is None):
            raise invalid(f"The value {name!r} for parameter Stat is invalid.")
        periods.append(parse_period(stat.get("Period"), metric["Namespace"]))
    order(expressions, ids - set(expressions))
    chosen = returned[0]
    if isinstance(chosen.get("MetricStat"), dict):
        period = chosen["MetricStat"]["Period"]
    elif chosen.get("Period") is not None:
        period = parse_period(chosen["Period"], None)
    else:
        period = min(periods, default=60)
    return [dict(q) for q in metrics], int(period)


def evaluate(alarm: Alarm, values: Sequence[float | None]) -> tuple[str, str]:
    """The alarm's state and reason for its periods' values (oldest first; None: no data)."""
    breaching = COMPARISONS[alarm.comparison]
    verdicts: list[bool] = []
    for value in values:
        if value is None:
            if alarm.treat_missing == "breaching":
                verdicts.append(True)
            elif alarm.treat_missing == "notBreaching":
                verdicts.append(False)
            continue
        verdicts.append(breaching(value, alarm.threshold))
    shown = ", ".join("—" if v is None else f"{v:g}" for v in values)
    if not verdicts:
        if alarm.treat_missing == "ignore":
            return alarm.state, alarm.reason
        return INSUFFICIENT, f"Insufficient Data: no datapoints in {len(values)} period(s)."
    breaches = sum(verdicts)
    if breaches >= alarm.datapoints_to_alarm:
        return ALARM, (
            f"Threshold Crossed: {breaches} of the last {len(values)} datapoints [{shown}] "
            f"were {alarm.comparison} the threshold ({alarm.threshold:g})."
        )
    if breaches == 0:
        return OK, (
            f"Threshold not crossed: datapoints [{shown}] were not {alarm.comparison} the "
            f"threshold ({alarm.threshold:g})."
        )
    return alarm.state, alarm.reason  # some breaches, too few: no change


def _math_trigger(alarm: Alarm) -> dict[str, Any]:
    """An SNS notification's ``Trigger`` for a metric math alarm: its queries, no metric."""
    return {
        "Period": alarm.period,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm,
        "ComparisonOperator": alarm.comparison,
        "Threshold": alarm.threshold,
        "TreatMissingData": alarm.treat_missing,
        "EvaluateLowSampleCountPercentile": "",
        "Metrics": alarm.metrics,
    }


def topic_notification(
    alarm: Alarm, arn: str, previous: str, region: str, account: str, now_iso: str
) -> tuple[str, dict[str, Any]]:
    """(subject, message) CloudWatch publishes to an SNS topic: its older, flat shape
    (``NewStateValue``, ``Trigger``), not the event a function is invoked with."""
    where = REGION_NAMES.get(region, region)
    extended = alarm.statistic.startswith("p")
    message = {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": now_iso,
        "NewStateValue": alarm.state,
        "NewStateReason": alarm.reason,
        "StateChangeTime": now_iso,
        "Region": where,
        "AlarmArn": arn,
        "OldStateValue": previous,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": [],
        "Trigger": _math_trigger(alarm)
        if alarm.metrics
        else {
            "MetricName": alarm.metric,
            "Namespace": alarm.namespace,
            "StatisticType": "ExtendedStatistic" if extended else "Statistic",
            ("ExtendedStatistic" if extended else "Statistic"): (
                alarm.statistic if extended else alarm.statistic.upper()
            ),
            "Unit": alarm.unit,
            "Dimensions": [
                {"value": d.get("Value", ""), "name": d["Name"]} for d in alarm.dimensions
            ],
            "Period": alarm.period,
            "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm,
            "ComparisonOperator": alarm.comparison,
            "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing,
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    # SNS takes subjects under 100 characters; CloudWatch cuts longer ones short too.
    return f'{alarm.state}: "{alarm.name}" in {where}'[:99], message


def event_metrics(alarm: Alarm) -> list[dict[str, Any]]:
    """The alarm's metrics as the alarm event's ``configuration.metrics`` names them."""
    queries = alarm.metrics or [
        {
            "Id": "m1",
            "MetricStat": {
                "Metric": {
                    "Namespace": alarm.namespace,
                    "MetricName": alarm.metric,
                    "Dimensions": alarm.dimensions,
                },
                "Period": alarm.period,
                "Stat": alarm.statistic,
            },
        }
    ]
    out: list[dict[str, Any]] = []
    for q in queries:
        item: dict[str, Any] = {"id": q["Id"], "returnData": q.get("ReturnData", True) is not False}
        if q.get("Expression") is not None:
            item["expression"] = q["Expression"]
        else:
            stat = q["MetricStat"]
            item["metricStat"] = {
                "metric": {
                    "namespace": stat["Metric"]["Namespace"],
                    "name": stat["Metric"]["MetricName"],
                    "dimensions": {
                        d["Name"]: d.get("Value", "")
                        for d in stat["Metric"].get("Dimensions") or []
                    },
                },
                "period": stat.get("Period"),
                "stat": stat.get("Stat"),
            }
        if isinstance(q.get("Label"), str):
            item["label"] = q["Label"]
        out.append(item)
    return out


def notification(
    alarm: Alarm, arn: str, previous: str, region: str, now_iso: str
) -> dict[str, Any]:
    """The event CloudWatch sends a Lambda function (and, as the body, an SQS queue)."""
    return {
        "source": "aws.cloudwatch",
        "alarmArn": arn,
        "region": region,
        "time": now_iso,
        "alarmData": {
            "alarmName": alarm.name,
            "state": {"value": alarm.state, "reason": alarm.reason, "timestamp": now_iso},
            "previousState": {"value": previous},
            "configuration": {
                "description": alarm.description,
                "metrics": event_metrics(alarm),
            },
        },
    }
