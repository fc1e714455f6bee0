"""Custom metrics without a server: EMF parsing, PutMetricData validation, the store's
buckets and retention, and the read path over them (the store is a real SQLite file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lamina.errors import AwsServiceError
from lamina.logs import emf
from lamina.logs.store import LogStore
from lamina.services.cloudwatch.custom import CustomMetrics
from lamina.services.cloudwatch.operations import CloudWatchOperations
from lamina.services.cloudwatch.put import parse_put
from lamina.services.cloudwatch.sources import MetricSources

NOW = 1_800_000_000.0  # a minute boundary: 1_800_000_000 % 60 == 0


def document(**root: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(NOW * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": "App",
                    "Dimensions": [["Service"]],
                    "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}],
                }
            ],
        },
        "Service": "api",
        "Latency": [5, 5, 9],
    }
    base.update(root)
    return base


def test_emf_document_becomes_one_datum_per_dimension_set() -> None:
    doc = document()
    doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [["Service"], []]
    [with_service, bare] = emf.parse(json.dumps(doc), NOW)
    assert with_service.dimensions == (("Service", "api"),) and bare.dimensions == ()
    assert (with_service.sample_count, with_service.total) == (3.0, 19.0)
    assert (with_service.minimum, with_service.maximum) == (5.0, 9.0)
    assert dict(with_service.values) == {5.0: 2.0, 9.0: 1.0}
    assert with_service.unit == "Milliseconds" and with_service.timestamp == NOW


@pytest.mark.parametrize(
    "breaks",
    [
        lambda d: d["_aws"].pop("Timestamp"),
        lambda d: d["_aws"].update(Timestamp=int((NOW - 15 * 86400) * 1000)),
        lambda d: d.pop("Service"),  # a dimension without its member
        lambda d: d.update(Latency="fast"),
        lambda d: d.update(Latency=list(range(101))),
        lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Parsecs"),
        lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Namespace="AWS/Lambda"),
        lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Dimensions="Service"),
    ],
)
def test_invalid_emf_yields_no_datapoints(breaks: Any) -> None:
    doc = document()
    breaks(doc)
    with pytest.raises(emf.InvalidEmf):
        emf.parse(json.dumps(doc), NOW)


def test_only_json_objects_mentioning_aws_are_candidates() -> None:
    assert emf.candidate(json.dumps(document()))
    assert not emf.candidate('INFO {"_aws": 1}')  # a prefixed line is not an EMF document
    assert not emf.candidate('{"level": "INFO"}')


def put(change: dict[str, Any]) -> dict[str, Any]:
    return {"Namespace": "App", "MetricData": [{"MetricName": "m", "Value": 1, **change}]}


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"Value": None, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1}},
         "MissingParameter",
         "MetricData.member.1.StatisticValues.Maximum is required"),
        ({"Value": float("nan")}, "InvalidParameterValue", "MetricData.member.1.Value"),
        ({"Value": 2.0**-400}, "InvalidParameterValue", "MetricData.member.1.Value"),
        ({"Unit": "Parsecs"}, "InvalidParameterValue", "MetricData.member.1.Unit"),
        ({"StorageResolution": 5}, "InvalidParameterValue", "StorageResolution"),
        ({"Value": None}, "InvalidParameterCombination", "At least one of"),
        ({"Value": None, "Values": [1] * 151}, "InvalidParameterValue",
         "must not have a size greater than 150"),
        ({"Dimensions": [{"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}]},
         "InvalidParameterValue", "more than once"),
        ({"Dimensions": [{"Name": "a"}]}, "MissingParameter",
         "MetricData.member.1.Dimensions.member.1.Value is required"),
    ],
)  # fmt: skip
def test_put_metric_data_is_validated_like_cloudwatch(
    change: dict[str, Any], code: str, words: str
) -> None:
    with pytest.raises(AwsServiceError) as info:
        parse_put(put(change), NOW)
    assert info.value.query_code == code
    assert words in info.value.message


def test_zero_is_a_valid_value_and_counts_merge_equal_values() -> None:
    [zero] = parse_put(put({"Value": 0}), NOW)
    assert (zero.sample_count, zero.total) == (1.0, 0.0)
    [many] = parse_put(put({"Value": None, "Values": [1, 2, 1], "Counts": [2, 1, 3]}), NOW)
    assert dict(many.values) == {1.0: 5.0, 2.0: 1.0} and many.sample_count == 6.0


def test_store_folds_batches_into_minutes_and_reads_them_back(tmp_path: Path) -> None:
    clock = [NOW]
    store = CustomMetrics(tmp_path / "metrics.db", clock=lambda: clock[0])
    try:
        for value in (1, 2, 3):
            store.put(parse_put(put({"Value": value, "Timestamp": NOW + value}), NOW))
        store.put(parse_put(put({"Value": 7, "Timestamp": NOW + 61}), NOW))
        sources = MetricSources(lambda *_: [], store)
        rows = sources.summaries("App", "m", [], None, NOW, NOW + 120, 60)
        assert [(at, s.sample_count, s.total, s.maximum) for at, _, s in rows] == [
            (int(NOW), 3.0, 6.0, 3.0),
            (int(NOW) + 60, 1.0, 7.0, 7.0),
        ]
        [(_, unit, whole)] = sources.summaries("App", "m", [], None, NOW, NOW + 120, 120)
        assert unit == "None" and whole.statistic("p50", "m") == 2.0
        # Retention: 15 days later, a write prunes the old minutes.
        clock[0] = NOW + 16 * 86400
        store.put(parse_put(put({"Value": 1}), clock[0]))
        assert sources.summaries("App", "m", [], None, NOW, NOW + 120, 60) == []
    finally:
        store.close()


def test_emf_lines_flushed_by_the_log_store_reach_the_store(tmp_path: Path) -> None:
    store = CustomMetrics(tmp_path / "metrics.db", clock=lambda: NOW)
    logs = LogStore(tmp_path / "logs")
    logs.on_emf = store.ingest_emf
    try:
        logs.append("fn", "s", int(NOW * 1000), json.dumps(document()))
        logs.append("fn", "s", int(NOW * 1000), "plain line")
        logs.append("fn", "s", int(NOW * 1000), '{"_aws": "not EMF"}')
        logs.flush()
        dims = [{"Name": "Service", "Value": "api"}]
        sources = MetricSources(lambda *_: [], store)
        [(_, unit, s)] = sources.summaries("App", "Latency", dims, None, NOW, NOW + 60, 60)
        assert (unit, s.sample_count, s.total) == ("Milliseconds", 3.0, 19.0)
        # Every line stays in the log, EMF or not.
        assert [e.message for e in logs.read("fn")][1:] == ["plain line", '{"_aws": "not EMF"}']
    finally:
        store.close()


def test_datapoints_survive_reopening_the_store(tmp_path: Path) -> None:
    store = CustomMetrics(tmp_path / "metrics.db", clock=lambda: NOW)
    store.put(parse_put(put({"Value": 4, "Timestamp": NOW, "StorageResolution": 1}), NOW))
    store.close()
    again = CustomMetrics(tmp_path / "metrics.db", clock=lambda: NOW)
    try:
        sources = MetricSources(lambda *_: [], again)
        [(_, _, second)] = sources.summaries("App", "m", [], None, NOW, NOW + 10, 10)
        [(_, _, minute)] = sources.summaries("App", "m", [], None, NOW, NOW + 60, 60)
        assert second.total == minute.total == 4.0
        assert again.series("App") == [("App", "m", ())]
    finally:
        again.close()


def test_list_metrics_recently_active_keeps_the_last_three_hours(tmp_path: Path) -> None:
    store = CustomMetrics(tmp_path / "metrics.db", clock=lambda: NOW)
    try:
        store.put(parse_put(put({"MetricName": "old", "Timestamp": NOW - 4 * 3600}), NOW))
        store.put(parse_put(put({"MetricName": "new", "Timestamp": NOW - 60}), NOW))
        ops = CloudWatchOperations(MetricSources(lambda *_: [], store), lambda: [])
        every = ops.list_metrics({"Namespace": "App"})["Metrics"]
        assert [m["MetricName"] for m in every] == ["new", "old"]
        recent = ops.list_metrics({"Namespace": "App", "RecentlyActive": "PT3H"})["Metrics"]
        assert [m["MetricName"] for m in recent] == ["new"]
        with pytest.raises(AwsServiceError):
            ops.list_metrics({"RecentlyActive": "P1D"})
    finally:
        store.close()
