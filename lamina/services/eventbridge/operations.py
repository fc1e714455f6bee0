"""EventBridge operations (PutRule, PutTargets, PutEvents, ...) as pure handlers.

They speak EventBridge's shapes, so ``boto3.client("events")`` manages Lamina's schedules;
:mod:`lamina.services.eventbridge.service` serves them over the JSON protocol.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

from lamina.arns import event_bus_arn, rule_arn
from lamina.errors import AwsServiceError
from lamina.services.eventbridge.input_transformer import InputTransformer
from lamina.services.eventbridge.pattern import matches, parse_pattern
from lamina.services.eventbridge.put_events import answer, parse_entries, to_event
from lamina.services.eventbridge.requests import (
    Members,
    bus_name,
    bus_of,
    force,
    new_bus_name,
    parse_list_rules,
    parse_put_rule,
    parse_target_ids,
    parse_targets,
    rule_name,
    validation,
)
from lamina.services.eventbridge.rules import (
    DEFAULT_BUS,
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_RETRIES,
    EventBus,
    Rule,
    RuleStore,
    Target,
    rule_key,
)
from lamina.store.resource_tags import ResourceTags
from lamina.tracing import continued

MAX_TARGETS = 5
MAX_TAGS = 50


def retry_policy_shape(t: Target) -> dict[str, int]:
    """A target's ``RetryPolicy`` as EventBridge (and Scheduler) answer it, defaults filled in."""
    return {
        "MaximumRetryAttempts": DEFAULT_MAX_RETRIES if t.max_retries is None else t.max_retries,
        "MaximumEventAgeInSeconds": DEFAULT_MAX_AGE_S if t.max_age_s is None else t.max_age_s,
    }


class RuleOperations:
    def __init__(
        self,
        store: RuleStore,
        region: str,
        account: str,
        clock: Callable[[], float] = time.time,
        tags: ResourceTags | None = None,
    ) -> None:
        """``tags`` keeps rules' tags (and event source mappings'; see the Lambda API)."""
        self.store = store
        self.tags = tags
        self.region = region
        self.account = account
        self._clock = clock
        self.changed: Callable[[], None] = lambda: None  # the scheduler loop's wake-up
        # Hands a put event to a matching rule's targets (the schedule runner delivers it).
        self.publish: Callable[[Rule, dict[str, Any]], None] = lambda rule, event: None
        # Offers every event put to a bus to the bus's archives (ArchiveOperations.record).
        self.archive: Callable[[str, dict[str, Any]], None] = lambda bus, event: None
        self.bus_deleted: Callable[[str], None] = lambda bus: None  # its archives go too

    def table(self) -> dict[str, Callable[[Members], dict[str, Any]]]:
        return {
            "PutRule": self.put_rule,
            "PutEvents": self.put_events,
            "TestEventPattern": self.test_event_pattern,
            "DescribeRule": self.describe_rule,
            "ListRules": self.list_rules,
            "DeleteRule": self.delete_rule,
            "EnableRule": lambda b: self._set_state(b, "ENABLED"),
            "DisableRule": lambda b: self._set_state(b, "DISABLED"),
            "PutTargets": self.put_targets,
            "RemoveTargets": self.remove_targets,
            "ListTargetsByRule": self.list_targets,
            "CreateEventBus": self.create_event_bus,
            "DeleteEventBus": self.delete_event_bus,
            "DescribeEventBus": self.describe_event_bus,
            "ListEventBuses": self.list_event_buses,
            "ListTagsForResource": self.list_tags,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
        }

    def _bus(self, members: Members) -> str:
        """The request's ``EventBusName`` (name or ARN), which must exist."""
        name = bus_name(members)
        if name != DEFAULT_BUS and name not in self.store.buses:
            raise AwsServiceError("ResourceNotFoundException", f"Event bus {name} does not exist.")
        return name

    def _rule(self, name: str, bus: str = DEFAULT_BUS) -> Rule:
        rule = self.store.rules.get(rule_key(bus, name))
        if rule is None:
            raise AwsServiceError(
                "ResourceNotFoundException", f"Rule {name} does not exist on EventBus {bus}."
            )
        return rule

    def _on_bus(self, bus: str) -> list[Rule]:
        return [r for r in self.store.rules.values() if r.bus == bus]

    def _save(self, rule: Rule) -> None:
        self.store.save(rule)
        self.changed()

    def _shape(self, rule: Rule) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": rule.name,
            "Arn": rule_arn(self.region, self.account, rule.name, rule.bus),
            "State": rule.state,
            "EventBusName": rule.bus,
        }
        if rule.schedule:
            out["ScheduleExpression"] = rule.schedule
        if rule.event_pattern is not None:
            out["EventPattern"] = rule.event_pattern
        if rule.description:
            out["Description"] = rule.description
        return out

    # -- tags (kept in ``self.tags`` by ARN; Terraform's default_tags reads them back) ----
    def _tagged(self, members: Members) -> str:
        """A rule's or a custom event bus's ARN, which must exist."""
        arn = members.get("ResourceARN")
        rules = rule_arn(self.region, self.account, "")
        buses = event_bus_arn(self.region, self.account, "")
        if isinstance(arn, str) and arn.startswith(rules):
            bus, _, name = arn[len(rules) :].rpartition("/")
            self._rule(name, bus or DEFAULT_BUS)
            return arn
        if isinstance(arn, str) and arn.startswith(buses):
            self._bus({"EventBusName": arn[len(buses) :]})
            return arn
        raise validation(f"Resource {arn} is not a rule or an event bus")

    def _set_tags(self, arn: str, raw: object) -> None:
        if raw is None:
            return
        if not isinstance(raw, list) or not all(
            isinstance(t, dict)
            and isinstance(t.get("Key"), str)
            and isinstance(t.get("Value"), str)
            for t in raw
        ):
            raise validation("Tags must be a list of {Key, Value} strings")
        tags = {t["Key"]: t["Value"] for t in raw}
        if self.tags is None:
            raise validation("this server keeps no tags")
        if len({**self.tags.get(arn), **tags}) > MAX_TAGS:
            raise validation(f"A resource can have at most {MAX_TAGS} tags")
        self.tags.set(arn, tags)

    def list_tags(self, members: Members) -> dict[str, Any]:
        arn = self._tagged(members)
        tags = {} if self.tags is None else self.tags.get(arn)
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}

    def tag_resource(self, members: Members) -> dict[str, Any]:
        self._set_tags(self._tagged(members), members.get("Tags"))
        return {}

    def untag_resource(self, members: Members) -> dict[str, Any]:
        arn = self._tagged(members)
        keys = members.get("TagKeys")
        if not isinstance(keys, list):
            raise validation("TagKeys must be a list of strings")
        if self.tags is not None:
            self.tags.remove(arn, [str(k) for k in keys])
        return {}

    # -- rules --------------------------------------------------------------------------
    def put_rule(self, members: Members) -> dict[str, Any]:
        req = parse_put_rule(members)
        bus = self._bus(members)
        name, expr, state, description = req.name, req.schedule, req.state, req.description
        if expr and bus != DEFAULT_BUS:
            raise validation("ScheduleExpression is supported only on the default event bus.")
        now = self._clock()
        old = self.store.rules.get(rule_key(bus, name))
        if old is None:
            rule = Rule(
                name, expr, state, description, now, None, event_pattern=req.event_pattern, bus=bus
            )
        else:
            restart = old.schedule != expr or (state == "ENABLED" and not old.enabled)
            rule = replace(
                old,
                schedule=expr,
                state=state,
                description=description,
                event_pattern=req.event_pattern,
                anchor=now if restart else old.anchor,
                last_tick=None if restart else old.last_tick,
            )
        self._save(rule)
        arn = rule_arn(self.region, self.account, name, bus)
        self._set_tags(arn, members.get("Tags"))
        return {"RuleArn": arn}

    # -- event buses (the default one always exists; custom ones are stored) --------------
    def _bus_shape(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": name,
            "Arn": event_bus_arn(self.region, self.account, name),
        }
        bus = self.store.buses.get(name)
        if bus is not None:
            if bus.description:
                out["Description"] = bus.description
            out["CreationTime"] = bus.created
            out["LastModifiedTime"] = bus.created
        return out

    def create_event_bus(self, members: Members) -> dict[str, Any]:
        name = new_bus_name(members)
        if members.get("EventSourceName"):
            raise validation("Partner event buses (EventSourceName) are not supported by Lamina.")
        if name == DEFAULT_BUS or name in self.store.buses:
            raise AwsServiceError(
                "ResourceAlreadyExistsException", f"Event bus {name} already exists."
            )
        description = members.get("Description") or ""
        if not isinstance(description, str) or len(description) > 512:
            raise validation(
                "1 validation error detected: Value at 'description' failed to satisfy "
                "constraint: Member must have length less than or equal to 512"
            )
        arn = event_bus_arn(self.region, self.account, name)
        self.store.save_bus(EventBus(name, description, self._clock()))
        self._set_tags(arn, members.get("Tags"))
        out: dict[str, Any] = {"EventBusArn": arn}
        if description:
            out["Description"] = description
        return out

    def delete_event_bus(self, members: Members) -> dict[str, Any]:
        """Refused for ``default`` and for a bus that still has rules (EventBridge: "All rules
        associated with this event bus need to be deleted"); a missing bus is no error."""
        name = new_bus_name(members)
        if name == DEFAULT_BUS:
            raise validation("Cannot delete event bus default.")
        if name not in self.store.buses:
            return {}
        if self._on_bus(name):
            raise validation("EventBus can't be deleted since it has rules.")
        self.store.delete_bus(name)
        self.bus_deleted(name)
        if self.tags is not None:
            self.tags.drop(event_bus_arn(self.region, self.account, name))
        return {}

    def describe_event_bus(self, members: Members) -> dict[str, Any]:
        return self._bus_shape(self._bus({"EventBusName": members.get("Name")}))

    def list_event_buses(self, members: Members) -> dict[str, Any]:
        req = parse_list_rules(members)
        names = sorted(n for n in (DEFAULT_BUS, *self.store.buses) if n.startswith(req.prefix))
        if req.next_token:
            names = [n for n in names if n > req.next_token]
        page = names[: req.limit]
        out: dict[str, Any] = {"EventBuses": [self._bus_shape(n) for n in page]}
        if len(names) > req.limit:
            out["NextToken"] = page[-1]
        return out

    # -- events -------------------------------------------------------------------------
    def put_events(self, members: Members) -> dict[str, Any]:
        """Accept each good entry as an event and hand it to every enabled rule it matches.

        An entry's ``TraceHeader`` (an X-Ray header, as EventBridge takes it) is the trace
        its targets continue, over the request's ``X-Amzn-Trace-Id`` (the context's,
        :func:`lamina.tracing.continued`); a malformed one is dropped, the event still
        delivered. The header is not put in the event, as EventBridge does not."""
        entries = parse_entries(members)
        outcomes = [
            to_event(
                e, region=self.region, account=self.account, now=time.time(), exists=self.has_bus
            )
            for e in entries
        ]
        for entry, event in zip(entries, outcomes, strict=True):
            if isinstance(event, dict):
                header = entry.get("TraceHeader")
                with continued(header if isinstance(header, str) else None):
                    self.put_event(bus_name(entry), event)
        return answer(outcomes)

    def has_bus(self, name: str) -> bool:
        return name == DEFAULT_BUS or name in self.store.buses

    def put_on_bus(self, bus_arn: str, event: dict[str, Any]) -> bool:
        """Put a ready event (a Lambda destination's) on the bus an ARN names; False when
        there is no such bus."""
        bus = bus_of(bus_arn)
        if bus is None or not self.has_bus(bus):
            return False
        self.put_event(bus, event)
        return True

    def put_event(
        self, bus: str, event: dict[str, Any], only: Collection[str] | None = None
    ) -> int:
        """Hand an accepted event to every enabled rule of ``bus`` whose pattern it matches
        (also how Lambda's event-bus destinations put their records, and how a replay puts
        its events back: to the rules whose ARNs are in ``only``, when given); how many
        matched. The bus's archives are offered it first."""
        self.archive(bus, event)
        matched = 0
        for rule in self._on_bus(bus):
            if only is not None and rule_arn(self.region, self.account, rule.name, bus) not in only:
                continue
            pattern = rule.event_pattern
            if rule.enabled and pattern is not None and matches(parse_pattern(pattern), event):
                self.publish(rule, event)
                matched += 1
        return matched

    def test_event_pattern(self, members: Members) -> dict[str, Any]:
        pattern, text = members.get("EventPattern"), members.get("Event")
        if not isinstance(pattern, str) or not isinstance(text, str):
            raise validation("EventPattern and Event are required")
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise validation("Parameter Event is not valid.")
        return {"Result": matches(parse_pattern(pattern), event)}

    def describe_rule(self, members: Members) -> dict[str, Any]:
        name = rule_name(members)
        return self._shape(self._rule(name, self._bus(members)))

    def list_rules(self, members: Members) -> dict[str, Any]:
        req = parse_list_rules(members)
        bus = self._bus(members)
        rules = {r.name: r for r in self._on_bus(bus)}
        names = sorted(n for n in rules if n.startswith(req.prefix))
        if req.next_token:
            names = [n for n in names if n > req.next_token]
        page = names[: req.limit]
        out: dict[str, Any] = {"Rules": [self._shape(rules[n]) for n in page]}
        if len(names) > req.limit:
            out["NextToken"] = page[-1]
        return out

    def delete_rule(self, members: Members) -> dict[str, Any]:
        name = rule_name(members)
        bus = self._bus(members)
        rule = self.store.rules.get(rule_key(bus, name))
        if rule is None:
            return {}  # EventBridge: deleting a missing rule succeeds
        if rule.targets and not force(members):
            raise validation("Rule can't be deleted since it has targets.")
        self.store.delete(rule.key)
        if self.tags is not None:
            self.tags.drop(rule_arn(self.region, self.account, name, bus))
        self.changed()
        return {}

    def _set_state(self, members: Members, state: str) -> dict[str, Any]:
        name = rule_name(members)
        rule = self._rule(name, self._bus(members))
        if rule.state != state:
            now = self._clock()
            enabling = state == "ENABLED"
            self._save(
                replace(
                    rule,
                    state=state,
                    anchor=now if enabling else rule.anchor,
                    last_tick=None if enabling else rule.last_tick,
                )
            )
        return {}

    # -- targets ------------------------------------------------------------------------
    def put_targets(self, members: Members) -> dict[str, Any]:
        name = rule_name(members, "Rule")
        rule = self._rule(name, self._bus(members))
        targets = {t.id: t for t in rule.targets}
        failed: list[dict[str, str]] = []
        for target in parse_targets(members):
            if target.id not in targets and len(targets) >= MAX_TARGETS:
                failed.append(
                    {
                        "TargetId": target.id,
                        "ErrorCode": "LimitExceededException",
                        "ErrorMessage": f"A rule can have at most {MAX_TARGETS} targets",
                    }
                )
                continue
            targets[target.id] = target
        self._save(replace(rule, targets=tuple(targets.values())))
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def remove_targets(self, members: Members) -> dict[str, Any]:
        name = rule_name(members, "Rule")
        rule = self._rule(name, self._bus(members))
        ids = parse_target_ids(members)
        self._save(replace(rule, targets=tuple(t for t in rule.targets if t.id not in ids)))
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def list_targets(self, members: Members) -> dict[str, Any]:
        name = rule_name(members, "Rule")
        rule = self._rule(name, self._bus(members))
        out = []
        for t in rule.targets:
            shape: dict[str, Any] = {"Id": t.id, "Arn": t.arn}
            if t.input is not None:
                shape["Input"] = t.input
            if t.input_path is not None:
                shape["InputPath"] = t.input_path
            if t.input_transformer is not None:
                shape["InputTransformer"] = InputTransformer.from_json(t.input_transformer).shape()
            if t.max_retries is not None or t.max_age_s is not None:
                shape["RetryPolicy"] = retry_policy_shape(t)
            if t.message_group_id is not None:
                shape["SqsParameters"] = {"MessageGroupId": t.message_group_id}
            out.append(shape)
        return {"Targets": out}
