"""State machine versions and aliases.

A version is an immutable copy of a revision (``<arn>:<n>``, numbers never reused);
``PublishStateMachineVersion`` of a revision that already has one returns it. An alias
(``<arn>:<name>``) routes executions to one or two versions by weight; a version an alias
routes to cannot be deleted. ``StartExecution`` takes either ARN (see
``StepFunctionsOperations.target``).
"""

from __future__ import annotations

import time
from typing import Any

from lamina.arns import STATES_NAME, parse_states_arn
from lamina.services.stepfunctions.operations import (
    Operation,
    StepFunctionsOperations,
    field_str,
    listing,
    sfn_error,
)
from lamina.services.stepfunctions.records import AliasRecord, StateMachineRecord


class VersionOperations:
    def __init__(self, ops: StepFunctionsOperations) -> None:
        self.ops = ops

    def table(self) -> dict[str, Operation]:
        return {
            "PublishStateMachineVersion": self.publish_version,
            "ListStateMachineVersions": self.list_versions,
            "DeleteStateMachineVersion": self.delete_version,
            "CreateStateMachineAlias": self.create_alias,
            "DescribeStateMachineAlias": self.describe_alias,
            "UpdateStateMachineAlias": self.update_alias,
            "DeleteStateMachineAlias": self.delete_alias,
            "ListStateMachineAliases": self.list_aliases,
        }

    # -- versions ----------------------------------------------------------------------------
    async def publish_version(self, body: dict[str, Any]) -> dict[str, Any]:
        sm = self.ops.machine(field_str(body, "stateMachineArn") or "")
        revision = body.get("revisionId")
        if revision is not None and revision != sm.revision_id:
            raise sfn_error("ConflictException",
                            f"Failed to publish the State Machine version for revision "
                            f"{revision}. The current State Machine revision is "
                            f"{sm.revision_id}.")  # fmt: skip
        version = await self.ops.publish(sm, str(body.get("description") or ""))
        return {"creationDate": version.created, "stateMachineVersionArn": version.arn}

    async def list_versions(self, body: dict[str, Any]) -> dict[str, Any]:
        sm = self.ops.machine(field_str(body, "stateMachineArn") or "")
        items = sorted(sm.versions.values(), key=lambda v: -v.number)
        return listing(
            body,
            "stateMachineVersions",
            items,
            lambda v: {"stateMachineVersionArn": v.arn, "creationDate": v.created},
        )

    async def delete_version(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = field_str(body, "stateMachineVersionArn") or ""
        sm, qualifier = self._split(arn)
        if not qualifier.isdigit():
            raise sfn_error("InvalidArn", f"Invalid Arn: '{arn}'")
        version = sm.versions.get(int(qualifier))
        if version is None:
            return {}
        for alias in sm.aliases.values():
            if any(v == arn for v, _ in alias.routing):
                raise sfn_error("ConflictException",
                                f"Version {arn} can not be deleted: alias {alias.arn} routes "
                                "to it")  # fmt: skip
        del sm.versions[version.number]
        await self.ops.store.delete_version_or_alias(arn)
        return {}

    # -- aliases -----------------------------------------------------------------------------
    def _split(self, arn: str) -> tuple[StateMachineRecord, str]:
        parsed = parse_states_arn(arn)
        if parsed is None or parsed.kind != "stateMachine" or len(parsed.names) != 2:
            raise sfn_error("InvalidArn", f"Invalid Arn: '{arn}'")
        base = arn.rsplit(":", 1)[0]
        sm = self.ops.machines.get(base)
        if sm is None:
            raise sfn_error("ResourceNotFound", f"Resource not found: '{arn}'")
        return sm, parsed.names[1]

    def _routing(self, raw: Any) -> tuple[StateMachineRecord, list[tuple[str, int]]]:
        if not isinstance(raw, list) or not 1 <= len(raw) <= 2:
            raise sfn_error("ValidationException",
                            "routingConfiguration must name one or two versions")  # fmt: skip
        routes: list[tuple[str, int]] = []
        owners = set()
        for route in raw:
            arn = route.get("stateMachineVersionArn") if isinstance(route, dict) else None
            weight = route.get("weight") if isinstance(route, dict) else None
            if not isinstance(arn, str) or not isinstance(weight, int) or not 0 <= weight <= 100:
                raise sfn_error("ValidationException",
                                "each route needs a stateMachineVersionArn and a weight "
                                "between 0 and 100")  # fmt: skip
            sm, qualifier = self._split(arn)
            if not qualifier.isdigit() or int(qualifier) not in sm.versions:
                raise sfn_error("ResourceNotFound", f"Resource not found: '{arn}'")
            owners.add(sm.arn)
            routes.append((arn, weight))
        if len(owners) != 1 or sum(w for _, w in routes) != 100:
            raise sfn_error("ValidationException",
                            "The versions must belong to one state machine and the weights "
                            "must add up to 100")  # fmt: skip
        return self.ops.machines[owners.pop()], routes

    def _alias(self, arn: str) -> AliasRecord:
        sm, name = self._split(arn)
        alias = sm.aliases.get(name)
        if alias is None:
            raise sfn_error("ResourceNotFound", f"Resource not found: '{arn}'")
        return alias

    async def create_alias(self, body: dict[str, Any]) -> dict[str, Any]:
        name = field_str(body, "name") or ""
        if not STATES_NAME.match(name) or name.isdigit():
            raise sfn_error("ValidationException", f"Invalid alias name: '{name}'")
        sm, routes = self._routing(body.get("routingConfiguration"))
        description = str(body.get("description") or "")
        existing = sm.aliases.get(name)
        if existing is not None:
            if existing.routing == routes and existing.description == description:
                return {"stateMachineAliasArn": existing.arn, "creationDate": existing.created}
            raise sfn_error("ConflictException", f"Alias {existing.arn} already exists")
        now = time.time()
        alias = AliasRecord(f"{sm.arn}:{name}", sm.arn, name, routes, now, now, description)
        await self.ops.store.save_alias(alias)
        sm.aliases[name] = alias
        return {"stateMachineAliasArn": alias.arn, "creationDate": now}

    async def describe_alias(self, body: dict[str, Any]) -> dict[str, Any]:
        alias = self._alias(field_str(body, "stateMachineAliasArn") or "")
        out: dict[str, Any] = {
            "stateMachineAliasArn": alias.arn,
            "name": alias.name,
            "routingConfiguration": [
                {"stateMachineVersionArn": v, "weight": w} for v, w in alias.routing
            ],
            "creationDate": alias.created,
            "updateDate": alias.updated,
        }
        if alias.description:
            out["description"] = alias.description
        return out

    async def update_alias(self, body: dict[str, Any]) -> dict[str, Any]:
        alias = self._alias(field_str(body, "stateMachineAliasArn") or "")
        if "routingConfiguration" in body:
            sm, routes = self._routing(body["routingConfiguration"])
            if sm.arn != alias.machine_arn:
                raise sfn_error("ValidationException",
                                "An alias routes to versions of its own state machine")  # fmt: skip
            alias.routing = routes
        if "description" in body:
            alias.description = str(body["description"] or "")
        alias.updated = time.time()
        await self.ops.store.save_alias(alias)
        return {"updateDate": alias.updated}

    async def delete_alias(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = field_str(body, "stateMachineAliasArn") or ""
        sm, name = self._split(arn)
        if sm.aliases.pop(name, None) is not None:
            await self.ops.store.delete_version_or_alias(arn)
        return {}

    async def list_aliases(self, body: dict[str, Any]) -> dict[str, Any]:
        sm = self.ops.machine(field_str(body, "stateMachineArn") or "")
        items = sorted(sm.aliases.values(), key=lambda a: a.name)
        return listing(
            body,
            "stateMachineAliases",
            items,
            lambda a: {"stateMachineAliasArn": a.arn, "creationDate": a.created},
        )
