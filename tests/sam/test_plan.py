"""The plan: desired stack vs current state → actions (pure, no server)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lamina.sam.current import (
    Current,
    CurrentFunction,
    CurrentMapping,
    CurrentRule,
    CurrentSubscription,
)
from lamina.sam.model import (
    ApiRouteSpec,
    BucketSpec,
    CodeSource,
    FunctionSpec,
    MappingSpec,
    NotificationSpec,
    QueueSpec,
    RuleSpec,
    StackSpec,
    SubscriptionSpec,
    TargetSpec,
    TopicSpec,
    UrlSpec,
)
from lamina.sam.plan import (
    FunctionChange,
    notification_shape,
    plan,
    route_entries,
    subscription_differences,
    topic_differences,
)
from lamina.sam.state import StackState

ARN = "arn:aws:lambda:us-east-1:000000000000:function"
SHA = "c2hhLW9uZQ=="


def fn(name: str = "app-Api", **changes: object) -> FunctionSpec:
    base = FunctionSpec(
        logical_id=name.removeprefix("app-"),
        name=name,
        runtime="python3.12",
        handler="app.handler",
        code=CodeSource("dir", path=Path("/src")),
        memory_mb=256,
        environment={"STAGE": "dev"},
        tags={"lamina:stack": "app", "lamina:logical-id": name.removeprefix("app-")},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def current_of(spec: FunctionSpec, sha: str = SHA, **extra: object) -> CurrentFunction:
    cfg = {
        "FunctionName": spec.name,
        "Runtime": spec.runtime,
        "Handler": spec.handler,
        "MemorySize": spec.memory_mb,
        "Timeout": spec.timeout_s,
        "Environment": {"Variables": dict(spec.environment)},
        "EphemeralStorage": {"Size": spec.ephemeral_mb},
        "Description": spec.description,
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "Architectures": [spec.architecture],
        "CodeSha256": sha,
    }
    return CurrentFunction(spec.name, cfg, dict(spec.tags), **extra)  # type: ignore[arg-type]


def stack(*functions: FunctionSpec, **parts: object) -> StackSpec:
    spec = StackSpec("app", "us-east-1", "000000000000")
    spec.functions = {f.logical_id: f for f in functions}
    for key, value in parts.items():
        setattr(spec, key, value)
    return spec


def shas(spec: StackSpec, sha: str = SHA) -> dict[str, str]:
    return {lid: sha for lid in spec.functions}


def test_everything_is_created_on_an_empty_server() -> None:
    spec = stack(
        fn(),
        queues={"Q": QueueSpec("Q", "app-Q", {"VisibilityTimeout": "60"})},
        buckets={"B": BucketSpec("B", "app-b")},
        rules=[RuleSpec("Api.Tick", "app-Api-Tick", "rate(1 minute)")],
    )
    p = plan(spec, shas(spec), Current(), StackState("app", "e"))
    kinds = [(a.verb, a.kind) for a in p.actions]
    # queues and buckets before functions (environments name them), events after
    assert kinds == [
        ("create", "queue"),
        ("create", "bucket"),
        ("create", "function"),
        ("create", "rule"),
    ]


def test_an_unchanged_stack_plans_nothing() -> None:
    f = fn(alias="live", url=UrlSpec("NONE"))
    spec = stack(f, queues={"Q": QueueSpec("Q", "app-Q", {"VisibilityTimeout": "60"})})
    cur = current_of(
        f,
        aliases={"live": "3"},
        alias_versions={"live": current_of(f).configuration},
        url={"AuthType": "NONE", "InvokeMode": "BUFFERED", "FunctionUrl": "http://x/"},
    )
    current = Current(
        functions={f.name: cur}, queues={"app-Q": {"VisibilityTimeout": "60", "DelaySeconds": "0"}}
    )
    assert plan(spec, shas(spec), current, StackState("app", "e")).empty


def test_code_and_configuration_changes_are_one_update_naming_the_fields() -> None:
    f = fn()
    cur = current_of(replace(f, memory_mb=128), sha="b2xk")
    spec = stack(f)
    p = plan(spec, shas(spec), Current(functions={f.name: cur}), StackState("app", "e"))
    (action,) = p.actions
    assert (action.verb, action.kind, action.name) == ("update", "function", "app-Api")
    assert action.changes == ("code", "MemorySize 128 → 256")
    change = action.target
    assert isinstance(change, FunctionChange) and change.code and change.configuration
    assert not change.publish


def test_an_alias_is_moved_only_when_its_version_is_stale() -> None:
    f = fn(alias="live")
    pinned_old = current_of(f, sha="b2xk").configuration
    cur = current_of(f, aliases={"live": "1"}, alias_versions={"live": pinned_old})
    spec = stack(f)
    (action,) = plan(
        spec, shas(spec), Current(functions={f.name: cur}), StackState("a", "e")
    ).actions
    assert action.target.publish and action.target.alias == "update"
    missing = current_of(f)
    (action,) = plan(
        spec, shas(spec), Current(functions={f.name: missing}), StackState("a", "e")
    ).actions
    assert action.target.alias == "create"


def test_removed_resources_are_deleted_only_when_the_stack_made_them() -> None:
    kept = fn("app-Kept")
    spec = stack(kept)
    state = StackState(
        "app",
        "e",
        functions={"Kept": "app-Kept", "Gone": "app-Gone"},
        queues={"Old": "app-Old"},
        rules={"Kept.Tick": "app-tick"},
        mappings={"Kept.Q": "uuid-1"},
    )
    current = Current(
        functions={
            "app-Kept": current_of(kept),
            "app-Gone": current_of(fn("app-Gone")),
            "someone-elses": current_of(replace(fn("someone-elses"), tags={})),
            # tagged with this stack but missing from the state file: still ours
            "app-Tagged": current_of(fn("app-Tagged")),
        },
        queues={"app-Old": {}, "other": {}},
        rules={"app-tick": CurrentRule("app-tick", "rate(1 minute)", True, "", ())},
        mappings=[CurrentMapping("uuid-1", "arn:q", f"{ARN}:app-Kept", 10, 0, True, False, None)],
    )
    p = plan(spec, shas(spec), current, state)
    deleted = [(a.kind, a.name) for a in p.of("delete")]
    assert deleted == [
        ("mapping", "Kept.Q"),
        ("rule", "app-tick"),
        ("function", "app-Gone"),
        ("function", "app-Tagged"),
        ("queue", "app-Old"),
    ]


def test_mappings_match_by_queue_and_function_and_update_in_place() -> None:
    f = fn(alias="live")
    m = MappingSpec("Api.Q", "arn:aws:sqs:us-east-1:000000000000:q", f.name, "live", batch_size=5)
    spec = stack(f, mappings=[m])
    cur = current_of(f, aliases={"live": "1"}, alias_versions={"live": current_of(f).configuration})
    have = CurrentMapping("u-1", m.queue_arn, f"{ARN}:{f.name}:live", 10, 0, True, False, None)
    p = plan(
        spec, shas(spec), Current(functions={f.name: cur}, mappings=[have]), StackState("a", "e")
    )
    (action,) = p.actions
    assert (action.verb, action.kind) == ("update", "mapping")
    assert action.changes == ("BatchSize 10 → 5",) and action.target[1] == "u-1"


def test_rules_and_notifications_compare_their_contents() -> None:
    f = fn()
    target = TargetSpec("ApiTick", f"{ARN}:{f.name}", '{"x": 1}')
    rule = RuleSpec("Api.Tick", "app-tick", "rate(5 minutes)", targets=(target,))
    note = NotificationSpec("n1", "lambda", f"{ARN}:{f.name}", ("s3:ObjectCreated:*",), "", ".png")
    spec = stack(f, rules=[rule], buckets={"B": BucketSpec("B", "app-b", (note,))})
    current = Current(
        functions={f.name: current_of(f)},
        rules={
            "app-tick": CurrentRule("app-tick", "rate(1 minute)", True, "", (target.compared(),))
        },
        buckets={"app-b": []},
    )
    p = plan(spec, shas(spec), current, StackState("app", "e"))
    assert [(a.verb, a.kind, a.changes) for a in p.actions] == [
        ("create", "notifications", ("1 notification(s)",)),
        ("update", "rule", ("schedule rate(1 minute) → rate(5 minutes)",)),
    ]
    current.buckets["app-b"] = [notification_shape(note)]
    current.rules["app-tick"] = CurrentRule(
        "app-tick", "rate(5 minutes)", True, "", (target.compared(),)
    )
    assert plan(spec, shas(spec), current, StackState("app", "e")).empty


def test_unavailable_services_leave_their_part_out_with_a_note() -> None:
    spec = stack(fn(), queues={"Q": QueueSpec("Q", "app-Q")})
    current = Current(unavailable={"sqs": "this Lamina does not serve it"})
    p = plan(spec, shas(spec), current, StackState("app", "e"))
    assert [a.kind for a in p.actions] == ["function"]
    assert p.notes == ["sqs: this Lamina does not serve it; not done: app-Q"]


def test_routes_are_written_when_they_differ() -> None:
    f = fn()
    route = ApiRouteSpec(
        "Api.Get", "ServerlessHttpApi", "http", "GET", "/items/{id}", f.name, None, "2.0"
    )
    spec = stack(f, routes=[route])
    current = Current(functions={f.name: current_of(f)}, routes=[])
    (action,) = plan(spec, shas(spec), current, StackState("app", "e")).actions
    assert (action.verb, action.kind) == ("create", "routes")
    assert action.target == [
        {"route": "GET /items/{id}", "function": "app-Api", "payloadFormatVersion": "2.0"}
    ]
    current.routes = route_entries(spec)
    assert plan(spec, shas(spec), current, StackState("app", "e")).empty


# -- topics and subscriptions ------------------------------------------------------------
def test_a_subscriptions_differences_compare_policies_as_documents_and_clear_old_ones() -> None:
    topic = "arn:aws:sns:us-east-1:000000000000:t"
    fn = "arn:aws:lambda:us-east-1:000000000000:function:f"
    want = SubscriptionSpec("F.E", topic, "lambda", fn, {"FilterPolicy": '{"a": ["x"]}'})
    have = CurrentSubscription(
        "arn:s",
        topic,
        "lambda",
        fn,
        {
            "FilterPolicy": '{"a":["x"]}',  # the same document, spelled otherwise
            "FilterPolicyScope": "MessageAttributes",
            "RawMessageDelivery": "false",
            "RedrivePolicy": '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:q"}',
        },
    )
    assert subscription_differences(want, have) == {"RedrivePolicy": ""}  # no longer wanted
    body = SubscriptionSpec(
        "F.E",
        topic,
        "lambda",
        fn,
        {"FilterPolicy": '{"a": {"b": ["x"]}}', "FilterPolicyScope": "MessageBody"},
    )
    assert subscription_differences(body, have) == {
        "FilterPolicy": '{"a": {"b": ["x"]}}',
        "FilterPolicyScope": "MessageBody",
        "RedrivePolicy": "",
    }


def test_a_topics_differences_name_its_attributes_and_tags() -> None:
    want = TopicSpec("T", "t", {"DisplayName": "New"}, {"team": "a"})
    assert topic_differences(want, {"DisplayName": "Old", "tags": '{"team": "a"}'}) == [
        "DisplayName"
    ]
    assert topic_differences(want, {"DisplayName": "New", "tags": "{}"}) == ["tags"]
    assert topic_differences(want, {"DisplayName": "New", "tags": '{"team": "a"}'}) == []


def test_recursive_loop_is_compared_and_put_on_its_own() -> None:
    f = fn(recursive_loop="Allow")
    spec = stack(f)
    p = plan(spec, shas(spec), Current(functions={f.name: current_of(f)}), StackState("app", "e"))
    (action,) = p.actions  # the server's Terminate differs from the template's Allow
    assert action.changes == ("recursive loop → Allow",)
    change = action.target
    assert isinstance(change, FunctionChange) and change.recursive_loop
    assert not change.configuration and not change.code
    same = Current(functions={f.name: current_of(f, recursive_loop="Allow")})
    assert plan(spec, shas(spec), same, StackState("app", "e")).empty
