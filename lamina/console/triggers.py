"""What invokes a function, and what waits for it: the function page's Triggers and
Asynchronous invocation sections.

The pure part turns the event sources' own records (URL configurations, API routes, event
source mappings, bucket notification routes, rules and schedules, topic subscriptions,
event invoke configurations, the async queue's backlog) into rows the page shows; :class:`TriggerReader`
is the thin driver that reads them from a running server's :class:`EventSources`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lamina.arns import function_arn, split_function_arn
from lamina.events.asyncinvoke.config import EventInvokeConfig
from lamina.events.esm.config import Mapping
from lamina.events.http.apis import ApiDefinition
from lamina.events.http.routes import RouteSpec
from lamina.events.sources import EventSources
from lamina.models.function_url import FunctionUrlConfig
from lamina.services.eventbridge.rules import Rule
from lamina.services.s3.notifications import NotificationRoute, parse_configuration
from lamina.services.sns.store import Subscription


@dataclass(frozen=True, slots=True)
class Trigger:
    """One thing that invokes the function: its kind, what it is, and how it calls."""

    kind: str  # "Function URL", "API route", "Event source mapping", "S3 bucket", ...
    source: str  # the URL, the route, the queue ARN, the bucket, the rule
    detail: str  # auth and mode, the qualifier, batch size and state, events, schedule


@dataclass(frozen=True, slots=True)
class AsyncStatus:
    """The function's asynchronous invocations: its queue now, and where events end up."""

    depth: int  # events waiting or in flight
    oldest_age_s: float | None  # the oldest one's age
    configs: tuple[EventInvokeConfig, ...]  # per qualifier: retries, max age, destinations
    dead_letter_arn: str  # the function's DeadLetterConfig target ("" for none)


def _qualified(name: str, qualifier: str | None) -> str:
    return f"{name}:{qualifier}" if qualifier else name


def _targets_function(arn: str, name: str) -> str | None:
    """The qualifier shown for ``arn`` when it names function ``name`` ("" unqualified),
    else None."""
    target, qualifier = split_function_arn(arn)
    if target != name or not (arn.startswith("arn:aws:lambda:") or ":" not in arn):
        return None
    return qualifier or ""


def url_triggers(configs: Iterable[FunctionUrlConfig], endpoint: str) -> list[Trigger]:
    return [
        Trigger(
            "Function URL",
            f"{endpoint.rstrip('/')}/lambda-url/{c.url_id}/",
            f"{c.qualifier or '$LATEST'} · {c.auth_type} · {c.invoke_mode}",
        )
        for c in configs
    ]


def route_triggers(
    name: str, apis: Iterable[ApiDefinition], file_routes: Iterable[RouteSpec] = ()
) -> list[Trigger]:
    """Routes of the APIs (SAM/CloudFormation ones and the routes file) that call ``name``."""
    found = []
    for api in apis:
        for r in api.config.routes:
            if r.function == name:
                where = f"{api.name or api.api_id} (port {api.port or '—'})"
                found.append(
                    Trigger(
                        "API route",
                        f"{api.stage_prefix}{r.key}",
                        f"{where} · {_qualified(name, r.qualifier)} · payload {r.payload_version}",
                    )
                )
    for r in file_routes:
        if r.function == name:
            found.append(
                Trigger(
                    "API route",
                    r.key,
                    f"routes file · {_qualified(name, r.qualifier)} · payload {r.payload_version}",
                )
            )
    return found


def mapping_triggers(name: str, mappings: Iterable[Mapping]) -> list[Trigger]:
    return [
        Trigger(
            "Event source mapping",
            m.event_source_arn,
            f"{_qualified(name, m.qualifier)} · batch {m.batch_size} · {m.state} · {m.last_result}",
        )
        for m in sorted(mappings, key=lambda m: m.event_source_arn)
        if m.function_name == name
    ]


def bucket_triggers(
    name: str, buckets: Iterable[tuple[str, Iterable[NotificationRoute]]]
) -> list[Trigger]:
    found = []
    for bucket, routes in buckets:
        for r in routes:
            qualifier = _targets_function(r.target, name) if r.kind == "lambda" else None
            if qualifier is None:
                continue
            keys = f" · keys {r.prefix or ''}*{r.suffix or ''}" if r.prefix or r.suffix else ""
            found.append(
                Trigger(
                    "S3 bucket",
                    bucket,
                    f"{', '.join(r.events)}{keys} · {_qualified(name, qualifier or None)}",
                )
            )
    return found


def rule_triggers(name: str, rules: Iterable[Rule], kind: str) -> list[Trigger]:
    """Rules (``kind`` "EventBridge rule") or schedules ("Schedule") targeting ``name``."""
    found = []
    for rule in sorted(rules, key=lambda r: r.name):
        for t in rule.targets:
            qualifier = _targets_function(t.arn, name)
            if qualifier is not None:
                what = rule.schedule or "event pattern"
                found.append(
                    Trigger(
                        kind,
                        rule.name,
                        f"{what} · {rule.state} · {_qualified(name, qualifier or None)}",
                    )
                )
    return found


def topic_triggers(name: str, subscriptions: Iterable[Subscription]) -> list[Trigger]:
    """SNS topics with a ``lambda`` subscription of ``name`` (any qualifier)."""
    found = []
    for sub in subscriptions:
        qualifier = _targets_function(sub.endpoint, name) if sub.protocol == "lambda" else None
        if qualifier is None:
            continue
        policy = sub.attributes.get("FilterPolicy")
        scope = sub.attributes.get("FilterPolicyScope") or "MessageAttributes"
        shown = f"filter on {scope}: {policy}" if policy else "every message"
        found.append(
            Trigger("SNS topic", sub.topic_arn, f"{shown} · {_qualified(name, qualifier or None)}")
        )
    return found


def async_status(
    name: str,
    backlog: dict[str, tuple[int, float]],
    configs: Iterable[EventInvokeConfig],
    dead_letter_arn: str,
    now: float,
) -> AsyncStatus:
    depth, oldest = backlog.get(name, (0, now))
    return AsyncStatus(
        depth,
        max(0.0, now - oldest) if depth else None,
        tuple(sorted(configs, key=lambda c: c.qualifier)),
        dead_letter_arn,
    )


class TriggerReader:
    """Reads a function's triggers from the running event sources (on the event loop:
    bucket notifications live behind the S3 store's async database)."""

    def __init__(self, events: EventSources) -> None:
        self.events = events

    async def buckets(self) -> list[tuple[str, list[NotificationRoute]]]:
        store = self.events.object_store
        found = []
        for bucket, _ in await store.list_buckets():
            raw = await store.get_notifications(bucket)
            if raw:
                found.append((bucket, parse_configuration(raw.encode())))
        return found

    async def triggers(
        self, name: str, urls: Iterable[FunctionUrlConfig], endpoint: str
    ) -> list[Trigger]:
        """``endpoint``: where the viewer reaches this server (function URLs hang off it)."""
        ev = self.events
        file_routes = ev.routes.api.routes if ev.routes is not None else ()
        return [
            *url_triggers(urls, endpoint),
            *route_triggers(name, ev.apis.store.apis.values(), file_routes),
            *mapping_triggers(name, ev.mapping_store.mappings.values()),
            *bucket_triggers(name, await self.buckets()),
            *rule_triggers(name, ev.rule_store.rules.values(), "EventBridge rule"),
            *rule_triggers(name, ev.scheduler.store.rules.values(), "Schedule"),
            *topic_triggers(name, await ev.sns_store.lambda_subscriptions(self._arn(name))),
        ]

    def _arn(self, name: str) -> str:
        settings = self.events.settings
        return function_arn(settings.region, settings.account_id, name)

    def async_status(self, name: str, dead_letter_arn: str, now: float) -> AsyncStatus:
        """Reads the async store (SQLite): call from a worker thread."""
        ev = self.events
        return async_status(
            name, ev.async_store.backlog(), ev.invoke_configs.list(name), dead_letter_arn, now
        )
