"""Metric alarms at run time: kept in ``<data_dir>/alarms.json``, evaluated on a timer (and
at once after a put of an alarm or of custom metric data) against the metric sources
(rollups, custom metrics), notifying functions, queues and topics on a change.

Operations (PutMetricAlarm, DescribeAlarms, DeleteAlarms) run on worker threads, the timer
on the event loop: one lock guards the alarms; evaluation reads SQLite on a worker thread;
notifications (an asynchronous invoke, an SQS message, an SNS publish) are awaited on the
loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lamina.billing.rollups import minute_of
from lamina.errors import AwsServiceError, LaminaError
from lamina.services.cloudwatch.alarms import (
    ALARM,
    MAX_TAGS,
    OK,
    Alarm,
    evaluate,
    notification,
    parse_put,
    parse_tags,
    topic_notification,
)
from lamina.services.cloudwatch.operations import evaluate_queries, invalid, missing
from lamina.services.cloudwatch.sources import MetricSources
from lamina.services.protocol.cbor import Epoch

# deliver(target ARN, payload, subject): the subject is for an SNS topic (None otherwise).
Deliver = Callable[[str, bytes, str | None], Awaitable[None]]
MAX_ALARMS = 5000

log = logging.getLogger(__name__)


class AlarmRunner:
    def __init__(
        self,
        path: Path,
        sources: MetricSources,
        deliver: Deliver,
        region: str,
        account: str,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._sources = sources
        self._deliver = deliver
        self.region = region
        self.account = account
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._alarms: dict[str, Alarm] = self._load()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    # -- storage -------------------------------------------------------------------------
    def _load(self) -> dict[str, Alarm]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text())
        return {a["name"]: Alarm.from_json(a) for a in data.get("alarms", [])}

    def _save(self) -> None:
        """Atomically (write, fsync, rename); caller holds the lock."""
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump({"alarms": [a.to_json() for a in self._alarms.values()]}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def arn(self, name: str) -> str:
        return f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{name}"

    # -- operations (worker threads) -----------------------------------------------------
    def put_metric_alarm(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            previous = self._alarms.get(str(body.get("AlarmName")))
            alarm = parse_put(body, self._clock(), previous)
            if previous is None and len(self._alarms) >= MAX_ALARMS:
                raise invalid(f"Lamina keeps at most {MAX_ALARMS} alarms.")
            self._alarms[alarm.name] = alarm
            self._save()
        self.poke()
        return {}

    def delete_alarms(self, body: dict[str, Any]) -> dict[str, Any]:
        names = body.get("AlarmNames")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise invalid("The parameter AlarmNames must be a list of names.")
        with self._lock:
            for name in names:
                self._alarms.pop(name, None)
            self._save()
        return {}

    def describe_alarms(self, body: dict[str, Any]) -> dict[str, Any]:
        names = body.get("AlarmNames")
        prefix = body.get("AlarmNamePrefix")
        state = body.get("StateValue")
        with self._lock:
            alarms = sorted(self._alarms.values(), key=lambda a: a.name)
        out = [
            self._shape(a)
            for a in alarms
            if (names is None or a.name in names)
            and (not isinstance(prefix, str) or a.name.startswith(prefix))
            and (state is None or a.state == state)
        ]
        return {"MetricAlarms": out, "CompositeAlarms": []}

    def _named(self, body: dict[str, Any]) -> str:
        """The alarm ``ResourceARN`` names (ResourceNotFound for anything else); lock held."""
        arn = body.get("ResourceARN")
        if not isinstance(arn, str):
            raise missing("ResourceARN")
        prefix = self.arn("")
        name = arn[len(prefix) :] if arn.startswith(prefix) else ""
        if name not in self._alarms:
            raise AwsServiceError(
                "ResourceNotFoundException",
                f"Alarm {arn} does not exist.",
                404,
                "ResourceNotFound",
            )
        return name

    def list_tags_for_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            tags = self._alarms[self._named(body)].tags
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}

    def tag_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        added = parse_tags(body.get("Tags"))
        with self._lock:
            alarm = self._alarms[self._named(body)]
            tags = {**alarm.tags, **added}
            if len(tags) > MAX_TAGS:
                raise invalid(f"An alarm has at most {MAX_TAGS} tags.")
            self._alarms[alarm.name] = replace(alarm, tags=tags)
            self._save()
        return {}

    def untag_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        keys = body.get("TagKeys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise invalid("The parameter TagKeys must be a list of tag keys.")
        with self._lock:
            alarm = self._alarms[self._named(body)]
            tags = {k: v for k, v in alarm.tags.items() if k not in keys}
            self._alarms[alarm.name] = replace(alarm, tags=tags)
            self._save()
        return {}

    def _shape(self, a: Alarm) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "AlarmName": a.name,
            "AlarmArn": self.arn(a.name),
            "AlarmDescription": a.description,
            "AlarmConfigurationUpdatedTimestamp": Epoch(a.updated),
            "ActionsEnabled": a.actions_enabled,
            "OKActions": a.ok_actions,
            "AlarmActions": a.alarm_actions,
            "InsufficientDataActions": [],
            "StateValue": a.state,
            "StateReason": a.reason,
            "StateUpdatedTimestamp": Epoch(a.state_updated),
            "EvaluationPeriods": a.evaluation_periods,
            "Threshold": a.threshold,
            "ComparisonOperator": a.comparison,
            "TreatMissingData": a.treat_missing,
        }
        if a.metrics:  # a metric math alarm: its queries, no single metric
            shape["Metrics"] = a.metrics
        else:
            shape.update(
                MetricName=a.metric, Namespace=a.namespace, Dimensions=a.dimensions, Period=a.period
            )
            if a.statistic.startswith("p"):
                shape["ExtendedStatistic"] = a.statistic
            else:
                shape["Statistic"] = a.statistic
        if a.datapoints_given:
            shape["DatapointsToAlarm"] = a.datapoints_to_alarm
        if a.unit is not None:
            shape["Unit"] = a.unit
        return shape

    # -- evaluation ----------------------------------------------------------------------
    def values(self, alarm: Alarm, now: float) -> list[float | None]:
        """The alarm's statistic per sliding period, oldest first (None: no datapoint)."""
        k, period = alarm.evaluation_periods, alarm.period
        end = minute_of(now) + 60
        start = end - k * period
        out: list[float | None] = [None] * k
        if alarm.metrics:
            return self._math_values(alarm, start, end, out)
        summaries = self._sources.summaries(
            alarm.namespace, alarm.metric, alarm.dimensions, None, start, end, period, start
        )
        for at, _, summary in summaries:
            slot = (at - start) // period
            if 0 <= slot < k and out[slot] is None:  # one unit per period
                out[slot] = summary.statistic(alarm.statistic, alarm.metric)
        return out

    def _math_values(
        self, alarm: Alarm, start: int, end: int, out: list[float | None]
    ) -> list[float | None]:
        """A metric math alarm's returned query per sliding period (its queries evaluated
        as GetMetricData would, on periods starting at ``start``)."""
        try:
            evaluated = evaluate_queries(self._sources, alarm.metrics, start, end, start)
        except AwsServiceError as exc:  # e.g. an array result: no datapoint, logged
            log.warning("alarm %s: its expression failed: %s", alarm.name, exc.message)
            return out
        for query, series, _ in evaluated:
            if query.get("ReturnData", True) is False or len(series) != 1:
                continue
            for at, value in series[0].points.items():
                slot = (at - start) // alarm.period
                if 0 <= slot < len(out):
                    out[slot] = value
        return out

    def evaluate_all(self) -> list[tuple[Alarm, str]]:
        """Evaluate every alarm (blocking); the changed ones with their previous state."""
        now = self._clock()
        with self._lock:
            alarms = list(self._alarms.values())
        verdicts = [(alarm, *evaluate(alarm, self.values(alarm, now))) for alarm in alarms]
        changes: list[tuple[Alarm, str]] = []
        with self._lock:
            for alarm, state, reason in verdicts:
                current = self._alarms.get(alarm.name)
                if current is None or state == current.state:
                    continue  # deleted meanwhile, or unchanged
                changed = replace(current, state=state, reason=reason, state_updated=now)
                self._alarms[alarm.name] = changed
                changes.append((changed, current.state))
            if changes:
                self._save()
        return changes

    async def _notify(self, alarm: Alarm, previous: str) -> None:
        actions = (
            alarm.alarm_actions
            if alarm.state == ALARM
            else (alarm.ok_actions if alarm.state == OK else [])
        )
        if not alarm.actions_enabled or not actions:
            return
        when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
        event = notification(alarm, self.arn(alarm.name), previous, self.region, when)
        payload = json.dumps(event).encode()
        subject, message = topic_notification(
            alarm, self.arn(alarm.name), previous, self.region, self.account, when
        )
        for arn in actions:
            try:
                if ":sns:" in arn:
                    await self._deliver(arn, json.dumps(message).encode(), subject)
                else:
                    await self._deliver(arn, payload, None)
            except LaminaError as exc:
                log.error("alarm %s: notifying %s failed: %s", alarm.name, arn, exc)

    # -- the timer -----------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    def poke(self) -> None:
        """Evaluate soon (thread-safe): after a put of an alarm or of its data."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # the timer, not an error
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            try:
                changes = await asyncio.to_thread(self.evaluate_all)
            except (LaminaError, OSError) as exc:
                log.error("alarm evaluation failed: %s", exc)
                continue
            for alarm, previous in changes:
                log.info("alarm %s: %s → %s (%s)", alarm.name, previous, alarm.state, alarm.reason)
                await self._notify(alarm, previous)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
