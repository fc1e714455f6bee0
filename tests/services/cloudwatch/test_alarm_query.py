"""CloudWatch's query protocol for alarms (what Terraform's AWS provider sends), pure."""

from __future__ import annotations

import pytest

from lamina.errors import AwsServiceError
from lamina.services.cloudwatch.alarms import parse_put
from lamina.services.cloudwatch.query import alarm_body, read_body, result_xml
from lamina.services.protocol.cbor import Epoch


def test_flattened_alarm_parameters_become_the_json_body() -> None:
    body = alarm_body({
        "Action": "PutMetricAlarm", "Version": "2010-08-01", "AlarmName": "a",
        "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum",
        "Period": "300", "EvaluationPeriods": "2", "Threshold": "1.5",
        "ComparisonOperator": "GreaterThanThreshold", "ActionsEnabled": "false",
        "Dimensions.member.2.Name": "Resource", "Dimensions.member.2.Value": "f:1",
        "Dimensions.member.1.Name": "FunctionName", "Dimensions.member.1.Value": "f",
        "AlarmActions.member.1": "arn:aws:lambda:us-east-1:000000000000:function:g",
        "Tags.member.1.Key": "team", "Tags.member.1.Value": "ops",
    })  # fmt: skip
    assert body["Period"] == 300 and body["EvaluationPeriods"] == 2
    assert body["Threshold"] == 1.5 and body["ActionsEnabled"] is False
    assert body["Dimensions"] == [
        {"Name": "FunctionName", "Value": "f"},
        {"Name": "Resource", "Value": "f:1"},
    ]
    assert body["AlarmActions"] == ["arn:aws:lambda:us-east-1:000000000000:function:g"]
    alarm = parse_put(body, 0.0, None)
    assert alarm.tags == {"team": "ops"} and not alarm.datapoints_given
    # An update keeps the tags it had (TagResource changes them), as CloudWatch does.
    again = parse_put({**body, "Tags": [{"Key": "team", "Value": "x"}]}, 1.0, alarm)
    assert again.tags == {"team": "ops"}


@pytest.mark.parametrize(("key", "value"), [("Period", "1.5"), ("ActionsEnabled", "yes")])
def test_malformed_numbers_and_booleans_are_refused(key: str, value: str) -> None:
    with pytest.raises(AwsServiceError) as info:
        alarm_body({key: value})
    assert info.value.query_code == "InvalidParameterValue"


def test_results_render_as_members_with_iso_timestamps() -> None:
    xml = result_xml({
        "MetricAlarms": [{"AlarmName": "a&b", "StateUpdatedTimestamp": Epoch(0.25),
                          "Dimensions": [{"Name": "FunctionName", "Value": "f"}]}],
        "CompositeAlarms": [],
    })  # fmt: skip
    assert xml == (
        "<MetricAlarms><member><AlarmName>a&amp;b</AlarmName>"
        "<StateUpdatedTimestamp>1970-01-01T00:00:00.250Z</StateUpdatedTimestamp>"
        "<Dimensions><member><Name>FunctionName</Name><Value>f</Value></member></Dimensions>"
        "</member></MetricAlarms><CompositeAlarms></CompositeAlarms>"
    )


def test_read_parameters_nest_lists_numbers_times_and_booleans() -> None:
    body = read_body({
        "Action": "GetMetricData", "Version": "2010-08-01",
        "StartTime": "2026-12-05T00:00:00Z", "EndTime": "2026-12-05T01:00:00.5Z",
        "MetricDataQueries.member.1.Id": "a",
        "MetricDataQueries.member.1.ReturnData": "false",
        "MetricDataQueries.member.1.MetricStat.Period": "60",
        "MetricDataQueries.member.1.MetricStat.Stat": "p99",
        "MetricDataQueries.member.1.MetricStat.Metric.Namespace": "AWS/Lambda",
        "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name": "FunctionName",
        "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value": "f",
        "Statistics.member.2": "Sum", "Statistics.member.1": "Maximum",
    })  # fmt: skip
    assert body["StartTime"] == 1_796_428_800.0 and body["EndTime"] == 1_796_432_400.5
    assert body["Statistics"] == ["Maximum", "Sum"]
    [query] = body["MetricDataQueries"]
    assert query["ReturnData"] is False and query["MetricStat"]["Period"] == 60
    metric = query["MetricStat"]["Metric"]
    assert metric["Dimensions"] == [{"Name": "FunctionName", "Value": "f"}]
    with pytest.raises(AwsServiceError):
        read_body({"StartTime": "yesterday"})


def test_maps_render_as_entries() -> None:
    xml = result_xml({"Datapoints": [{"Sum": 2.0, "ExtendedStatistics": {"p99": 1.5}}]})
    assert xml == (
        "<Datapoints><member><Sum>2.0</Sum><ExtendedStatistics><entry><key>p99</key>"
        "<value>1.5</value></entry></ExtendedStatistics></member></Datapoints>"
    )
