"""Desired stack vs what Lamina has → the actions that make them equal. Pure: no I/O.

Idempotent by construction: a second plan against the state the first one produced is
empty. Resources the stack made before (its state file, or its functions' tags) that the
template no longer has are deleted; anything else on the server is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lamina import arns
from lamina.sam.apis import api_differs, api_wants
from lamina.sam.current import (
    Current,
    CurrentFunction,
    CurrentMapping,
    CurrentRule,
    CurrentSubscription,
)
from lamina.sam.model import (
    STACK_TAG,
    FunctionSpec,
    MappingSpec,
    NotificationSpec,
    RuleSpec,
    StackSpec,
    StateMachineSpec,
    SubscriptionSpec,
    TopicSpec,
)
from lamina.sam.state import StackState

Verb = Literal["create", "update", "delete"]
# Which service each kind of resource needs (for Current.unavailable).
SERVICE = {
    "function": "lambda",
    "queue": "sqs",
    "topic": "sns",
    "subscription": "sns",
    "bucket": "s3",
    "notifications": "s3",
    "mapping": "event-source-mappings",
    "rule": "events",
    "schedule": "scheduler",
    "routes": "routes",
    "api": "API",
    "statemachine": "stepfunctions",
}


@dataclass(frozen=True)
class FunctionChange:
    """What an update of one function must do."""

    spec: FunctionSpec
    code: bool = False
    configuration: bool = False
    architecture: bool = False
    tags_set: dict[str, str] = field(default_factory=dict)
    tags_removed: tuple[str, ...] = ()
    concurrency: Literal["set", "delete", None] = None
    url: Literal["create", "update", "delete", None] = None
    url_qualifier: str | None = None  # where the URL is (delete: where it was)
    publish: bool = False
    alias: Literal["create", "update", None] = None
    alias_removed: str | None = None
    invoke_config: Literal["put", "delete", None] = None
    provisioned: Literal["set", "delete", None] = None  # on the alias
    recursive_loop: bool = False  # PutFunctionRecursionConfig


@dataclass(frozen=True)
class Action:
    verb: Verb
    kind: str  # function, queue, bucket, notifications, mapping, rule, routes, api
    name: str
    changes: tuple[str, ...] = ()
    target: Any = None  # the spec, change or identifier the apply step needs

    def describe(self) -> str:
        detail = f" ({', '.join(self.changes)})" if self.changes else ""
        return f"{self.kind} {self.name}{detail}"


@dataclass
class StackPlan:
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    blocked: set[tuple[str, str]] = field(default_factory=set)  # (kind, name) not done

    def of(self, verb: Verb) -> list[Action]:
        return [a for a in self.actions if a.verb == verb]

    @property
    def empty(self) -> bool:
        return not self.actions


# -- functions ---------------------------------------------------------------------------
def _comparable(cfg: dict[str, Any], with_logging: bool) -> dict[str, Any]:
    """The managed fields of a configuration, in the shape FunctionSpec.configuration has."""
    out: dict[str, Any] = {
        "Runtime": cfg.get("Runtime"),
        "Handler": cfg.get("Handler"),
        "MemorySize": cfg.get("MemorySize"),
        "Timeout": cfg.get("Timeout"),
        "Environment": {"Variables": dict((cfg.get("Environment") or {}).get("Variables") or {})},
        "EphemeralStorage": {"Size": (cfg.get("EphemeralStorage") or {}).get("Size", 512)},
        "Description": cfg.get("Description") or "",
        "SnapStart": {"ApplyOn": (cfg.get("SnapStart") or {}).get("ApplyOn", "None")},
        "Layers": [layer.get("Arn") for layer in cfg.get("Layers") or []],
        "DeadLetterConfig": {"TargetArn": (cfg.get("DeadLetterConfig") or {}).get("TargetArn", "")},
        "Role": cfg.get("Role"),
        "TracingConfig": {"Mode": (cfg.get("TracingConfig") or {}).get("Mode", "PassThrough")},
    }
    if with_logging:
        out["LoggingConfig"] = dict(cfg.get("LoggingConfig") or {})
    return out


def config_differences(spec: FunctionSpec, cfg: dict[str, Any]) -> list[str]:
    want = spec.configuration()
    have = _comparable(cfg, "LoggingConfig" in want)
    if "LoggingConfig" in want:  # only the logging fields the template sets
        have["LoggingConfig"] = {k: have["LoggingConfig"].get(k) for k in want["LoggingConfig"]}
    out = []
    for key, value in want.items():
        if have.get(key) != value:
            if isinstance(value, dict) or isinstance(have.get(key), dict):
                out.append(key)
            else:
                out.append(f"{key} {have.get(key)} → {value}")
    return out


def _url_differs(spec: FunctionSpec, current: dict[str, Any]) -> bool:
    assert spec.url is not None
    return (
        current.get("AuthType") != spec.url.auth_type
        or current.get("InvokeMode", "BUFFERED") != spec.url.invoke_mode
        or (current.get("Cors") or None) != (spec.url.cors or None)
    )


def _function_change(
    spec: FunctionSpec, sha: str, cur: CurrentFunction, state: StackState
) -> FunctionChange | None:
    changes: dict[str, Any] = {}
    cfg = cur.configuration
    config = config_differences(spec, cfg)
    changes["code"] = cur.code_sha256 != sha
    changes["configuration"] = bool(config)
    changes["architecture"] = (cfg.get("Architectures") or ["x86_64"])[0] != spec.architecture
    wanted_tags = spec.tags
    changes["tags_set"] = {k: v for k, v in wanted_tags.items() if cur.tags.get(k) != v}
    changes["tags_removed"] = tuple(
        sorted(k for k in cur.tags if k not in wanted_tags and not k.startswith("aws:"))
    )
    if spec.reserved_concurrency != cur.reserved_concurrency:
        changes["concurrency"] = "delete" if spec.reserved_concurrency is None else "set"
    qualifier = spec.alias
    if spec.url is not None:
        if cur.url is None:
            changes["url"] = "create"
        elif _url_differs(spec, cur.url):
            changes["url"] = "update"
        changes["url_qualifier"] = qualifier
    elif cur.url is not None and spec.name in state.urls:
        changes["url"] = "delete"
        changes["url_qualifier"] = cur.url.get("Qualifier") or None
    if spec.alias:
        pinned = cur.alias_versions.get(spec.alias)
        moved = changes["code"] or changes["configuration"] or changes["architecture"]
        stale = (
            pinned is None
            or pinned.get("CodeSha256") != sha
            or bool(config_differences(spec, pinned))
        )
        if spec.alias not in cur.aliases:
            changes.update(publish=True, alias="create")
        elif moved or stale:
            changes.update(publish=True, alias="update")
    wanted_config = (
        None
        if spec.invoke_config is None
        else (
            spec.invoke_config.maximum_retry_attempts,
            spec.invoke_config.maximum_event_age_s,
            spec.invoke_config.on_success,
            spec.invoke_config.on_failure,
        )
    )
    if spec.provisioned != cur.provisioned and (spec.provisioned or spec.alias in cur.aliases):
        changes["provisioned"] = "delete" if spec.provisioned is None else "set"
    if wanted_config != cur.invoke_config:
        changes["invoke_config"] = "delete" if wanted_config is None else "put"
    if spec.recursive_loop != cur.recursive_loop:
        changes["recursive_loop"] = True
    made = state.aliases.get(spec.name)
    if made and made != spec.alias and made in cur.aliases:
        changes["alias_removed"] = made
    change = FunctionChange(spec, **changes)
    if change == FunctionChange(spec, url_qualifier=change.url_qualifier):
        return None
    return change


def _function_summary(c: FunctionChange, config: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    if c.code:
        out.append("code")
    out.extend(config)
    if c.architecture:
        out.append(f"architecture → {c.spec.architecture}")
    if c.tags_set or c.tags_removed:
        out.append("tags")
    if c.concurrency:
        out.append(f"reserved concurrency → {c.spec.reserved_concurrency or 'none'}")
    if c.url:
        out.append(f"URL {c.url}")
    if c.publish:
        out.append(f"publish a version, alias {c.spec.alias}")
    if c.alias_removed:
        out.append(f"remove alias {c.alias_removed}")
    if c.invoke_config:
        out.append(f"async invoke config {'set' if c.invoke_config == 'put' else 'removed'}")
    if c.provisioned:
        out.append(f"provisioned concurrency → {c.spec.provisioned or 'none'}")
    if c.recursive_loop:
        out.append(f"recursive loop → {c.spec.recursive_loop}")
    return tuple(out)


# -- the other kinds ---------------------------------------------------------------------
def notification_shape(n: NotificationSpec) -> dict[str, Any]:
    return {
        "Id": n.id,
        "kind": n.kind,
        "target": n.target_arn,
        "events": sorted(n.events),
        "prefix": n.prefix,
        "suffix": n.suffix,
    }


def _sorted_shapes(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda d: (d["Id"], d["target"]))


def _mapping_differences(want: MappingSpec, have: CurrentMapping) -> list[str]:
    out = []
    pairs = (
        ("BatchSize", want.batch_size, have.batch_size),
        ("MaximumBatchingWindowInSeconds", want.batching_window_s, have.batching_window_s),
        ("Enabled", want.enabled, have.enabled),
        (
            "ReportBatchItemFailures",
            want.report_batch_item_failures,
            have.report_batch_item_failures,
        ),
        ("MaximumConcurrency", want.maximum_concurrency, have.maximum_concurrency),
    )
    for label, a, b in pairs:
        if a != b:
            out.append(f"{label} {b} → {a}")
    return out


def _pattern(text: str | None) -> Any:
    """A pattern as parsed JSON: the same pattern written differently is no change."""
    return None if text is None else json.loads(text)


def _rule_differences(want: RuleSpec, have: CurrentRule) -> list[str]:
    out = []
    if want.schedule != have.schedule:
        out.append(f"schedule {have.schedule} → {want.schedule}")
    if want.enabled != have.enabled:
        out.append("enabled" if want.enabled else "disabled")
    if want.description != have.description:
        out.append("description")
    if _pattern(want.pattern) != _pattern(have.pattern):
        out.append("event pattern")
    if tuple(t.compared() for t in want.targets) != have.targets:
        out.append("targets")
    return out


def schedule_differences(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    """What an UpdateSchedule would change; a left-out RetryPolicy is Scheduler's default."""
    out = [
        k for k in ("ScheduleExpression", "State", "FlexibleTimeWindow") if want[k] != have.get(k)
    ]
    if want.get("Description", "") != have.get("Description", ""):
        out.append("Description")
    wt, ht = want["Target"], have.get("Target") or {}
    policy = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86_400}
    policy.update(wt.get("RetryPolicy") or {})
    if (wt["Arn"], wt.get("Input"), policy, wt.get("SqsParameters")) != (
        ht.get("Arn"),
        ht.get("Input"),
        ht.get("RetryPolicy") or {},
        ht.get("SqsParameters"),
    ):
        out.append("Target")
    return out


@dataclass(frozen=True)
class StateMachineChange:
    """An update of one state machine; ``replace``: its type changed, which Step Functions
    cannot update in place (delete, then create)."""

    spec: StateMachineSpec
    replace: bool = False
    tags_set: dict[str, str] = field(default_factory=dict)
    tags_removed: tuple[str, ...] = ()


def _same_json(a: str, b: str) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return a == b


def state_machine_change(
    want: StateMachineSpec, have: dict[str, Any]
) -> tuple[StateMachineChange, list[str]] | None:
    """What an update must do to make ``have`` (DescribeStateMachine + tags) ``want``."""
    out: list[str] = []
    if not _same_json(want.definition, str(have.get("definition", ""))):
        out.append("definition")
    if have.get("roleArn") != want.role_arn:
        out.append("role")
    replace = have.get("type") != want.type
    if replace:
        out.append(f"type {have.get('type')} → {want.type} (replaced)")
    tags: dict[str, str] = have.get("tags") or {}
    tags_set = {k: v for k, v in want.tags.items() if tags.get(k) != v}
    tags_removed = tuple(sorted(k for k in tags if k not in want.tags))
    if tags_set or tags_removed:
        out.append("tags")
    if not out:
        return None
    return StateMachineChange(want, replace, tags_set, tags_removed), out


def route_entries(spec: StackSpec) -> list[dict[str, str]]:
    """This stack's routes as entries of Lamina's routes file."""
    return sorted((r.entry() for r in spec.routes), key=lambda e: e["route"])


# -- topics and subscriptions -------------------------------------------------------------
# Subscription attributes whose text is JSON: compared as documents, not as text.
_JSON_ATTRIBUTES = ("FilterPolicy", "RedrivePolicy", "DeliveryPolicy")


def topic_differences(want: TopicSpec, have: dict[str, str]) -> list[str]:
    """The attributes (and ``tags``) of a topic that differ from the template's."""
    out = sorted(k for k, v in want.attributes.items() if have.get(k, "") != v)
    if json.loads(have.get("tags") or "{}") != want.tags:
        out.append("tags")
    return out


def _as_document(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def subscription_differences(want: SubscriptionSpec, have: CurrentSubscription) -> dict[str, str]:
    """Attribute → the value to set so the subscription is as the template says (an empty
    value clears a filter, redrive or delivery policy the template no longer has)."""
    wanted = dict(want.attributes)
    wanted.setdefault("RawMessageDelivery", "false")
    if wanted.get("FilterPolicy"):
        wanted.setdefault("FilterPolicyScope", "MessageAttributes")
    for key in _JSON_ATTRIBUTES:
        wanted.setdefault(key, "")
    out: dict[str, str] = {}
    for key, value in wanted.items():
        current = have.attributes.get(key, "")
        if key in _JSON_ATTRIBUTES:
            same = _as_document(current) == _as_document(value)
        else:
            same = (
                current.lower() == value.lower()
                if key == "RawMessageDelivery"
                else current == value
            )
        if not same:
            out[key] = value
    return out


def _subscriptions(
    spec: StackSpec,
    current: Current,
    state: StackState,
    creates: list[Action],
    updates: list[Action],
    deletes: list[Action],
    add: Any,
) -> None:
    matched: set[str] = set()
    for sub in spec.subscriptions:
        found = [
            c
            for c in current.subscriptions
            if (c.topic_arn, c.protocol, c.endpoint) == (sub.topic_arn, sub.protocol, sub.endpoint)
        ]
        if not found:
            add(creates, Action("create", "subscription", sub.key, target=sub))
            continue
        matched.add(found[0].arn)
        diff = subscription_differences(sub, found[0])
        if diff:
            add(
                updates,
                Action(
                    "update",
                    "subscription",
                    sub.key,
                    tuple(sorted(diff)),
                    (sub, found[0].arn, diff),
                ),
            )
    for key, arn in sorted(state.subscriptions.items()):
        if arn not in matched and any(c.arn == arn for c in current.subscriptions):
            add(deletes, Action("delete", "subscription", key, target=arn))


# -- the plan ----------------------------------------------------------------------------
def plan(spec: StackSpec, shas: dict[str, str], current: Current, state: StackState) -> StackPlan:
    """The actions that make Lamina hold ``spec``; ``shas``: function logical id → CodeSha256."""
    out = StackPlan()
    creates: list[Action] = []
    updates: list[Action] = []
    deletes: list[Action] = []
    blocked: dict[str, list[str]] = {}

    def add(bucket: list[Action], action: Action) -> None:
        service = SERVICE[action.kind]
        if service in current.unavailable:
            blocked.setdefault(service, []).append(action.name)
            out.blocked.add((action.kind, action.name))
        else:
            bucket.append(action)

    # Queues and buckets first: functions' environments and events name them.
    for q in spec.queues.values():
        have = current.queues.get(q.name)
        if have is None:
            add(creates, Action("create", "queue", q.name, target=q))
        else:
            diff = sorted(k for k, v in q.attributes.items() if have.get(k) != v)
            if diff:
                add(updates, Action("update", "queue", q.name, tuple(diff), q))
    for t in spec.topics.values():
        have_topic = current.topics.get(t.name)
        if have_topic is None:
            add(creates, Action("create", "topic", t.name, target=t))
        elif diff := topic_differences(t, have_topic):
            add(updates, Action("update", "topic", t.name, tuple(diff), t))
    for b in spec.buckets.values():
        if b.name not in current.buckets:
            add(creates, Action("create", "bucket", b.name, target=b))
    for fn in spec.functions.values():
        sha = shas[fn.logical_id]
        cur = current.functions.get(fn.name)
        if cur is None:
            add(creates, Action("create", "function", fn.name, target=fn))
            continue
        change = _function_change(fn, sha, cur, state)
        if change is not None:
            summary = _function_summary(change, config_differences(fn, cur.configuration))
            add(updates, Action("update", "function", fn.name, summary, change))
    for sm in spec.state_machines.values():
        have = current.state_machines.get(sm.name)
        if have is None:
            add(creates, Action("create", "statemachine", sm.name, target=sm))
        elif found := state_machine_change(sm, have):
            add(updates, Action("update", "statemachine", sm.name, tuple(found[1]), found[0]))
    _events(spec, current, state, creates, updates, deletes, add)
    _subscriptions(spec, current, state, creates, updates, deletes, add)
    _removals(spec, current, state, deletes, add)
    out.actions = [*creates, *updates, *deletes]
    for service, blocked_names in blocked.items():
        out.notes.append(
            f"{service}: {current.unavailable[service]}; not done: {', '.join(blocked_names)}"
        )
    return out


def _events(
    spec: StackSpec,
    current: Current,
    state: StackState,
    creates: list[Action],
    updates: list[Action],
    deletes: list[Action],
    add: Any,
) -> None:
    for b in spec.buckets.values():
        want = _sorted_shapes([notification_shape(n) for n in b.notifications])
        have = _sorted_shapes(current.buckets.get(b.name, []))
        if want != have and (b.notifications or b.name in state.notifications):
            verb: Verb = "update" if have else "create"
            add(
                updates if verb == "update" else creates,
                Action(verb, "notifications", b.name, (f"{len(want)} notification(s)",), b),
            )
    matched: set[str] = set()
    for m in spec.mappings:
        fn_arn = arns.function_arn(spec.region, spec.account, m.function_name, m.qualifier)
        found = [
            c for c in current.mappings if c.queue_arn == m.queue_arn and c.function_arn == fn_arn
        ]
        if not found:
            add(creates, Action("create", "mapping", m.key, target=m))
            continue
        matched.add(found[0].uuid)
        diff = _mapping_differences(m, found[0])
        if diff:
            add(updates, Action("update", "mapping", m.key, tuple(diff), (m, found[0].uuid)))
    for key, uuid in state.mappings.items():
        if uuid not in matched and any(c.uuid == uuid for c in current.mappings):
            add(deletes, Action("delete", "mapping", key, target=uuid))
    wanted_rules = {r.name for r in spec.rules}
    for r in spec.rules:
        have_rule = current.rules.get(r.name)
        if have_rule is None:
            add(creates, Action("create", "rule", r.name, target=r))
        else:
            diff = _rule_differences(r, have_rule)
            if diff:
                add(updates, Action("update", "rule", r.name, tuple(diff), (r, have_rule)))
    for name in sorted(set(state.rules.values()) - wanted_rules):
        if name in current.rules:
            add(deletes, Action("delete", "rule", name, target=current.rules[name]))
    wanted_schedules = {f"{sc.group}/{sc.name}" for sc in spec.schedules}
    for sc in spec.schedules:
        key = f"{sc.group}/{sc.name}"
        have_schedule = current.schedules.get(key)
        if have_schedule is None:
            add(creates, Action("create", "schedule", key, target=sc))
        elif diff := schedule_differences(sc.body(spec.account), have_schedule):
            add(updates, Action("update", "schedule", key, tuple(diff), sc))
    for key in sorted(set(state.schedules.values()) - wanted_schedules):
        if key in current.schedules:
            add(deletes, Action("delete", "schedule", key, target=key))
    if current.apis is not None:
        wanted = api_wants(spec)
        for api_id, api_want in wanted.items():
            api_have = current.apis.get(api_id)
            label = f"{api_want['logicalId']} ({len(api_want['routes'])} route(s))"
            if api_have is None:
                add(creates, Action("create", "api", label, target=(api_id, api_want)))
            elif diff := api_differs(api_want, api_have):
                add(updates, Action("update", "api", label, tuple(diff), (api_id, api_want)))
        for api_id, api_have in sorted(current.apis.items()):
            if api_id not in wanted:
                lid = str(api_have.get("name", api_id)).rpartition("/")[2]
                add(deletes, Action("delete", "api", lid, target=(api_id, None)))
    entries = route_entries(spec)
    if current.routes is not None and entries != current.routes:
        verb2: Verb = "delete" if not entries else ("update" if current.routes else "create")
        bucket = {"create": creates, "update": updates, "delete": deletes}[verb2]
        add(bucket, Action(verb2, "routes", f"{len(entries)} route(s)", target=entries))


def _removals(
    spec: StackSpec, current: Current, state: StackState, deletes: list[Action], add: Any
) -> None:
    wanted_functions = {f.name for f in spec.functions.values()}
    owned = set(state.functions.values()) | {
        f.name for f in current.functions.values() if f.tags.get(STACK_TAG) == spec.name
    }
    for name in sorted(owned - wanted_functions):
        if name in current.functions:
            add(deletes, Action("delete", "function", name, target=name))
    # What the state file names, Lamina still has, and the template no longer wants.
    recorded: tuple[tuple[str, Mapping[str, Any], Mapping[str, str], Container[str]], ...] = (
        ("statemachine", spec.state_machines, state.state_machines, current.state_machines),
        ("queue", spec.queues, state.queues, current.queues),
        ("topic", spec.topics, state.topics, current.topics),
        ("bucket", spec.buckets, state.buckets, current.buckets),
    )
    for kind, specs, names, have in recorded:
        wanted = {w.name for w in specs.values()}
        for name in sorted(set(names.values()) - wanted):
            if name in have:
                add(deletes, Action("delete", kind, name, target=name))
