"""The Step Functions API operations: request body → answer body, AWS's error names.

Every operation takes the parsed JSON body and returns the answer's JSON; errors are
:class:`~lamina.services.protocol.awsjson.AwsServiceError` with Step Functions' codes
(``InvalidDefinition``, ``StateMachineDoesNotExist``, ``ExecutionAlreadyExists``, ...).
Timestamps are epoch seconds, which is how the JSON 1.0 protocol carries them.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lamina.arns import (
    STATES_NAME,
    execution_arn,
    parse_states_arn,
    state_machine_arn,
)
from lamina.errors import AwsServiceError
from lamina.services.stepfunctions.executions import Executions
from lamina.services.stepfunctions.records import (
    ExecutionRecord,
    StateMachineRecord,
    VersionRecord,
)
from lamina.services.stepfunctions.retention import Histories
from lamina.services.stepfunctions.store import WorkflowStore
from lamina.services.stepfunctions.tasks import CallbackTokens
from lamina.services.stepfunctions.teststate import test_state
from lamina.tracing import INCOMING, continued
from lamina.workflows.definition import Machine
from lamina.workflows.errors import InvalidDefinition
from lamina.workflows.parse import parse_definition

MAX_INPUT = 256 * 1024
Operation = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def sfn_error(code: str, message: str) -> AwsServiceError:
    return AwsServiceError(code, message)


def wrong_resource_type(arn: str) -> AwsServiceError:
    """``InvalidArn`` for an ARN of another kind of resource than the call takes."""
    return sfn_error("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn}'")


def field_str(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise sfn_error("ValidationException", f"1 validation error detected: Value null at "
                       f"'{key[0].lower() + key[1:]}' failed to satisfy constraint: "
                       "Member must not be null")  # fmt: skip
        return None
    if not isinstance(value, str):
        raise sfn_error("ValidationException", f"{key} must be a string")
    return value


def listing(
    body: dict[str, Any],
    key: str,
    items: list[Any],
    shape: Callable[[Any], Any] = lambda item: item,
) -> dict[str, Any]:
    """One page of ``items`` (as ``maxResults`` and ``nextToken`` ask) under ``key``, each
    item shaped by ``shape``, with the ``nextToken`` of the next page when there is one."""
    page, token = page_of(body, items)
    out: dict[str, Any] = {key: [shape(item) for item in page]}
    if token:
        out["nextToken"] = token
    return out


def page_of(
    body: dict[str, Any], items: list[Any], default: int = 100
) -> tuple[list[Any], str | None]:
    size = body.get("maxResults") or default
    if not isinstance(size, int) or not 0 < size <= 1000:
        raise sfn_error("ValidationException", "maxResults must be between 1 and 1000")
    token = body.get("nextToken")
    start = 0
    if token:
        try:
            start = int(str(token))
        except ValueError:
            raise sfn_error("InvalidToken", "Invalid pagination token") from None
    page = items[start : start + size]
    more = start + size < len(items)
    return page, str(start + size) if more else None


@dataclass(frozen=True, slots=True)
class ExecutionTarget:
    machine_record: StateMachineRecord
    definition: str
    role_arn: str
    machine: Machine
    version_arn: str | None
    alias_arn: str | None


class StepFunctionsOperations:
    """State machines, executions and task tokens, in memory, persisted by the store."""

    def __init__(
        self, store: WorkflowStore, executions: Executions, tokens: CallbackTokens,
        region: str, account: str, history_days: float = 90.0,
    ) -> None:  # fmt: skip
        self.store = store
        self.executions = executions
        self.tokens = tokens
        self.region = region
        self.account = account
        self.machines: dict[str, StateMachineRecord] = {}
        self.runs: dict[str, ExecutionRecord] = {}
        self.by_machine: dict[str, list[ExecutionRecord]] = {}
        self.mocks = executions.mocks
        # Ended executions' histories in memory or paged out; the expired deleted.
        self.histories = Histories(store, self.runs, self.forget, history_days)

    def table(self) -> dict[str, Operation]:
        return {
            "CreateStateMachine": self.create_state_machine,
            "DescribeStateMachine": self.describe_state_machine,
            "UpdateStateMachine": self.update_state_machine,
            "DeleteStateMachine": self.delete_state_machine,
            "ListStateMachines": self.list_state_machines,
            "ValidateStateMachineDefinition": self.validate_definition,
            "TestState": self.test_state,
            "StartExecution": self.start_execution,
            "StartSyncExecution": self.start_sync_execution,
            "DescribeExecution": self.describe_execution,
            "StopExecution": self.stop_execution,
            "RedriveExecution": self.redrive_execution,
            "ListExecutions": self.list_executions,
            "GetExecutionHistory": self.get_execution_history,
            "DescribeStateMachineForExecution": self.describe_machine_for_execution,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags,
            "DescribeMapRun": self.describe_map_run,
            "ListMapRuns": self.list_map_runs,
            "UpdateMapRun": self.update_map_run,
        }

    # -- Map Runs (distributed Map states; see map_runs.py) ---------------------------------
    async def describe_map_run(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.executions.map_runs.describe(body)

    async def list_map_runs(self, body: dict[str, Any]) -> dict[str, Any]:
        ex = self._execution(field_str(body, "executionArn") or "")
        return listing(body, "mapRuns", self.executions.map_runs.list_runs(ex.arn))

    async def update_map_run(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.executions.map_runs.update(body)

    # -- lookups -----------------------------------------------------------------------------
    def machine(self, arn: str) -> StateMachineRecord:
        parsed = parse_states_arn(arn)
        if parsed is None or parsed.kind != "stateMachine":
            raise wrong_resource_type(arn)
        sm = self.machines.get(arn)
        if sm is None:
            raise sfn_error("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        return sm

    def target(self, arn: str) -> ExecutionTarget:
        """What an execution runs: a state machine, one of its versions, or an alias
        (which picks one of its versions by weight)."""
        parsed = parse_states_arn(arn)
        if parsed is None or parsed.kind != "stateMachine" or len(parsed.names) > 2:
            raise wrong_resource_type(arn)
        base = state_machine_arn(parsed.region, parsed.account, parsed.names[0])
        sm = self.machine(base)
        if len(parsed.names) == 1:
            return ExecutionTarget(sm, sm.definition, sm.role_arn, sm.machine, None, None)
        qualifier = parsed.names[1]
        alias_arn = None
        if not qualifier.isdigit():
            alias = sm.aliases.get(qualifier)
            if alias is None:
                raise sfn_error("ResourceNotFound", f"Resource not found: '{arn}'")
            alias_arn = alias.arn
            versions, weights = zip(*alias.routing, strict=True)
            qualifier = random.choices(versions, weights)[0].rsplit(":", 1)[-1]
        version = sm.versions.get(int(qualifier))
        if version is None:
            raise sfn_error("ResourceNotFound", f"Resource not found: '{arn}'")
        return ExecutionTarget(sm, version.definition, version.role_arn, version.machine, version.arn,
                      alias_arn)  # fmt: skip

    async def publish(self, sm: StateMachineRecord, description: str) -> VersionRecord:
        """A new version of the current revision, or the existing one if it has one."""
        for version in sm.versions.values():
            if version.revision_id == sm.revision_id:
                return version
        sm.last_version += 1
        number = sm.last_version
        version = VersionRecord(f"{sm.arn}:{number}", sm.arn, number, sm.definition, sm.role_arn,
                                sm.machine, time.time(), sm.revision_id, description)  # fmt: skip
        await self.store.save_version(version)
        sm.versions[number] = version
        return version

    def _execution(self, arn: str) -> ExecutionRecord:
        parsed = parse_states_arn(arn)
        if parsed is None or parsed.kind not in ("execution", "express"):
            raise wrong_resource_type(arn)
        ex = self.runs.get(arn)
        if ex is None:
            raise sfn_error("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        return ex

    @staticmethod
    def _parse(definition: str) -> Any:
        try:
            return parse_definition(definition)
        except InvalidDefinition as exc:
            raise sfn_error("InvalidDefinition", str(exc)) from None

    # -- state machines ----------------------------------------------------------------------
    async def create_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        name = field_str(body, "name") or ""
        definition = field_str(body, "definition") or ""
        role = field_str(body, "roleArn") or ""
        kind = body.get("type", "STANDARD")
        if not STATES_NAME.match(name):
            raise sfn_error("InvalidName", f"Invalid Name: '{name}'")
        if kind not in ("STANDARD", "EXPRESS"):
            raise sfn_error("ValidationException", f"Value '{kind}' at 'type' failed to satisfy "
                       "constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]")  # fmt: skip
        if not role.startswith("arn:"):
            raise sfn_error("InvalidArn", f"Invalid Arn: '{role}'")
        machine = self._parse(definition)
        arn = state_machine_arn(self.region, self.account, name)
        existing = self.machines.get(arn)
        if existing is not None:
            if (
                existing.definition == definition
                and existing.role_arn == role
                and existing.type == kind
            ):
                return {"stateMachineArn": arn, "creationDate": existing.created}
            raise sfn_error("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
        now = time.time()
        sm = StateMachineRecord(arn, name, kind, definition, role, now, now, str(uuid.uuid4()),
                                machine, str(body.get("description") or ""))  # fmt: skip
        _configure(sm, body)
        sm.tags = tags_of(body.get("tags"))
        await self.store.save_machine(sm)
        self.machines[arn] = sm
        out: dict[str, Any] = {"stateMachineArn": arn, "creationDate": now}
        return await self._publish_if_asked(sm, body, out)

    async def describe_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = field_str(body, "stateMachineArn") or ""
        parsed = parse_states_arn(arn)
        if parsed is not None and len(parsed.names) == 2 and parsed.names[1].isdigit():
            target = self.target(arn)
            version = target.machine_record.versions[int(parsed.names[1])]
            described = {
                "stateMachineArn": version.arn,
                "name": target.machine_record.name,
                "status": "ACTIVE",
                "definition": version.definition,
                "roleArn": version.role_arn,
                "type": target.machine_record.type,
                "creationDate": version.created,
                "revisionId": version.revision_id,
            }
            if version.description:
                described["description"] = version.description
            return described
        sm = self.machine(arn)
        out = {
            "stateMachineArn": sm.arn,
            "name": sm.name,
            "status": "ACTIVE",
            "definition": sm.definition,
            "roleArn": sm.role_arn,
            "type": sm.type,
            "creationDate": sm.created,
            "loggingConfiguration": sm.logging,
            "tracingConfiguration": sm.tracing,
            "revisionId": sm.revision_id,
        }
        if sm.description:
            out["description"] = sm.description
        return out

    async def update_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        sm = self.machine(field_str(body, "stateMachineArn") or "")
        definition = field_str(body, "definition", required=False)
        role = field_str(body, "roleArn", required=False)
        if (
            definition is None
            and role is None
            and not any(k in body for k in ("loggingConfiguration", "tracingConfiguration"))
        ):
            raise sfn_error("MissingRequiredParameter",
                       "Either the definition, the role ARN, the LoggingConfiguration, "
                       "or the TracingConfiguration must be specified")  # fmt: skip
        if definition is not None:
            sm.machine = self._parse(definition)
            sm.definition = definition
        if role is not None:
            sm.role_arn = role
        _configure(sm, body)
        sm.updated = time.time()
        sm.revision_id = str(uuid.uuid4())
        await self.store.save_machine(sm)
        out: dict[str, Any] = {"updateDate": sm.updated, "revisionId": sm.revision_id}
        return await self._publish_if_asked(sm, body, out)

    async def _publish_if_asked(
        self, sm: StateMachineRecord, body: dict[str, Any], out: dict[str, Any]
    ) -> dict[str, Any]:
        """``out``, with the version published when the request says ``publish``."""
        if body.get("publish"):
            version = await self.publish(sm, str(body.get("versionDescription") or ""))
            out["stateMachineVersionArn"] = version.arn
        return out

    async def delete_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = field_str(body, "stateMachineArn") or ""
        parsed = parse_states_arn(arn)
        if parsed is None or parsed.kind != "stateMachine":
            raise sfn_error("InvalidArn", f"Invalid Arn: '{arn}'")
        if self.machines.pop(arn, None) is not None:
            await self.store.delete_machine(arn)
        return {}

    async def list_state_machines(self, body: dict[str, Any]) -> dict[str, Any]:
        items = sorted(self.machines.values(), key=lambda m: m.name)
        return listing(
            body,
            "stateMachines",
            items,
            lambda m: {
                "stateMachineArn": m.arn,
                "name": m.name,
                "type": m.type,
                "creationDate": m.created,
            },
        )

    async def validate_definition(self, body: dict[str, Any]) -> dict[str, Any]:
        definition = field_str(body, "definition") or ""
        try:
            parse_definition(definition)
        except InvalidDefinition as exc:
            diagnostics = []
            for problem in exc.problems:
                code, _, rest = problem.partition(": ")
                message, _, location = rest.rpartition(" at ")
                diagnostics.append({"severity": "ERROR", "code": code,
                                    "message": message or rest, "location": location or "/"})  # fmt: skip
            limit = body.get("maxResults") or 100
            return {"result": "FAIL", "diagnostics": diagnostics[:limit],
                    "truncated": len(diagnostics) > limit}  # fmt: skip
        return {"result": "OK", "diagnostics": [], "truncated": False}

    async def test_state(self, body: dict[str, Any]) -> dict[str, Any]:
        ex = self.executions
        return await test_state(body, ex.tasks, ex.clock, self.region, self.account)

    # -- executions --------------------------------------------------------------------------
    def _new_execution(
        self, body: dict[str, Any], *, express: bool
    ) -> tuple[ExecutionRecord, bool]:
        target_arn, _, case = (field_str(body, "stateMachineArn") or "").partition("#")
        target = self.target(target_arn)
        sm = target.machine_record
        if case and not self.mocks.has_case(sm.name, case):
            raise sfn_error("ValidationException",
                       f"The mock configuration has no test case {sm.name}#{case}")  # fmt: skip
        raw_input = body.get("input")
        text = "{}" if raw_input is None else raw_input
        if not isinstance(text, str):
            raise sfn_error("ValidationException", "input must be a string")
        if len(text.encode()) > MAX_INPUT:
            raise sfn_error("ValidationException", "1 validation error detected: Value at 'input' "
                       "failed to satisfy constraint: Member must have length less than or "
                       f"equal to {MAX_INPUT}")  # fmt: skip
        try:
            json.loads(text)
        except ValueError as exc:
            raise sfn_error(
                "InvalidExecutionInput", f"Invalid State Machine Execution Input: '{exc}'"
            ) from None
        name = body.get("name") or str(uuid.uuid4())
        if not isinstance(name, str) or not STATES_NAME.match(name):
            raise sfn_error("InvalidName", f"Invalid Name: '{name}'")
        arn = execution_arn(self.region, self.account, sm.name, name, express=sm.express)
        existing = self.runs.get(arn)
        if existing is not None:
            if existing.running and existing.input == text:
                return existing, False
            raise sfn_error("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")
        ex = ExecutionRecord(arn, sm.arn, name, text, self.executions.clock.now(),
                             target.definition, target.role_arn, target.machine, express=express,
                             test_case=case or None, version_arn=target.version_arn,
                             alias_arn=target.alias_arn)  # fmt: skip
        return ex, True

    async def start_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        ex, new = self._new_execution(body, express=False)
        sm = self.machines[ex.machine_arn]
        if new:
            ex.express = sm.express
            if not sm.express:
                self._remember(ex)
            # Its Lambda tasks continue the caller's X-Ray trace (the run's task inherits it).
            with continued(_trace_of(body)):
                await self.executions.start(ex)
        return {"executionArn": ex.arn, "startDate": ex.started}

    def _remember(self, ex: ExecutionRecord) -> None:
        self.runs[ex.arn] = ex
        self.by_machine.setdefault(ex.machine_arn, []).append(ex)

    async def start_sync_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        sm = self.target(
            (field_str(body, "stateMachineArn") or "").partition("#")[0]
        ).machine_record
        if not sm.express:
            raise sfn_error("StateMachineTypeNotSupported",
                       "This operation is not supported by this type of state machine")  # fmt: skip
        ex, _ = self._new_execution(body, express=True)
        started = time.monotonic()
        with continued(_trace_of(body)):
            await self.executions.start(ex)
        await ex.done.wait()
        elapsed_ms = (time.monotonic() - started) * 1000
        out: dict[str, Any] = {
            "executionArn": ex.arn,
            "stateMachineArn": ex.machine_arn,
            "name": ex.name,
            "startDate": ex.started,
            "stopDate": ex.stopped,
            "status": ex.status,
            "input": ex.input,
            "inputDetails": {"included": True},
            "billingDetails": {
                "billedMemoryUsedInMB": 64,
                "billedDurationInMilliseconds": max(100, math.ceil(elapsed_ms / 100) * 100),
            },
        }
        _add_result(out, ex)
        return out

    async def describe_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = field_str(body, "executionArn") or ""
        child = self.executions.map_runs.children.get(arn)
        if child is not None:  # a distributed Map's child execution
            run, c = child
            out = self.executions.map_runs.summary(run, c)
            out["input"] = json.dumps(c.input)
            if c.status == "SUCCEEDED":
                out["output"] = json.dumps(c.output)
            for key, value in (("error", c.error), ("cause", c.cause)):
                if value is not None:
                    out[key] = value
            return out
        return _describe(self._execution(arn))

    async def stop_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = field_str(body, "executionArn") or ""
        if arn in self.executions.map_runs.children:  # a distributed Map's child
            error, cause = field_str(body, "error"), field_str(body, "cause")
            stopped = self.executions.map_runs.stop_child(arn, error, cause)
            return {"stopDate": stopped if stopped is not None else time.time()}
        ex = self._execution(arn)
        if ex.running:
            await self.executions.stop(ex, body.get("error"), body.get("cause"))
        return {"stopDate": ex.stopped}

    async def redrive_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        ex = self._execution(field_str(body, "executionArn") or "")
        if not _redrivable(ex):
            raise sfn_error("ExecutionNotRedrivable",
                            f"Execution is RUNNING or SUCCEEDED or cannot be redriven: '{ex.arn}'")  # fmt: skip
        await self.histories.history(ex)  # its history and cursor, if paged out
        if not _redrivable(ex):  # redriven by another request meanwhile
            raise sfn_error("ExecutionNotRedrivable",
                            f"Execution is RUNNING or SUCCEEDED or cannot be redriven: '{ex.arn}'")  # fmt: skip
        self.histories.running(ex)
        await self.executions.redrive(ex)
        return {"redriveDate": ex.redrive_date}

    async def list_executions(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("mapRunArn"):  # a distributed Map's child executions
            children = self.executions.map_runs.child_summaries(
                str(body["mapRunArn"]), body.get("statusFilter")
            )
            return listing(body, "executions", children)
        arn = field_str(body, "stateMachineArn") or ""
        parsed = parse_states_arn(arn)
        qualified = parsed is not None and parsed.kind == "stateMachine" and len(parsed.names) == 2
        if qualified:  # a version or an alias: the executions started through it
            assert parsed is not None
            self.target(arn)  # it exists (else ResourceNotFound)
            arn = state_machine_arn(parsed.region, parsed.account, parsed.names[0])
        sm = self.machine(arn)
        if sm.express:
            raise sfn_error("StateMachineTypeNotSupported",
                       "This operation is not supported by this type of state machine")  # fmt: skip
        status = body.get("statusFilter")
        redriven = {"REDRIVEN": True, "NOT_REDRIVEN": False}.get(str(body.get("redriveFilter")))
        via = field_str(body, "stateMachineArn") if qualified else None
        items = [
            ex for ex in reversed(self.by_machine.get(sm.arn, []))
            if (status is None or ex.status == status)
            and (redriven is None or (ex.redrive_count > 0) == redriven)
            and (via is None or via in (ex.version_arn, ex.alias_arn))
        ]  # fmt: skip
        return listing(body, "executions", items, _summary)

    async def get_execution_history(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = field_str(body, "executionArn") or ""
        kept = self.executions.map_runs.child_history(arn)  # a distributed Map's child
        history = kept if kept is not None else await self.histories.history(self._execution(arn))
        events = [e.render() for e in history]
        if body.get("reverseOrder"):
            events.reverse()
        if body.get("includeExecutionData") is False:
            for e in events:
                for value in e.values():
                    if isinstance(value, dict):
                        for key in ("input", "output", "parameters"):
                            value.pop(key, None)
        return listing(body, "events", events)

    async def describe_machine_for_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        ex = self._execution(field_str(body, "executionArn") or "")
        sm = self.machines.get(ex.machine_arn)
        return {
            "stateMachineArn": ex.machine_arn,
            "name": ex.machine_arn.rsplit(":", 1)[-1],
            "definition": ex.definition,
            "roleArn": ex.role_arn,
            "updateDate": sm.updated if sm is not None else ex.started,
            **({"stateMachineVersionArn": ex.version_arn} if ex.version_arn else {}),
            **({"stateMachineAliasArn": ex.alias_arn} if ex.alias_arn else {}),
            "loggingConfiguration": sm.logging if sm is not None else {"level": "OFF"},
            "tracingConfiguration": sm.tracing if sm is not None else {"enabled": False},
        }

    # -- tags --------------------------------------------------------------------------------
    async def tag_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        sm = self._tagged(field_str(body, "resourceArn") or "")
        sm.tags.update(tags_of(body.get("tags")))
        if len(sm.tags) > 50:
            raise sfn_error("TooManyTags", "Too many tags: at most 50 per resource")
        await self.store.save_machine(sm)
        return {}

    async def untag_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        sm = self._tagged(field_str(body, "resourceArn") or "")
        for key in body.get("tagKeys") or []:
            sm.tags.pop(key, None)
        await self.store.save_machine(sm)
        return {}

    async def list_tags(self, body: dict[str, Any]) -> dict[str, Any]:
        sm = self._tagged(field_str(body, "resourceArn") or "")
        return {"tags": [{"key": k, "value": v} for k, v in sm.tags.items()]}

    def _tagged(self, arn: str) -> StateMachineRecord:
        sm = self.machines.get(arn)
        if sm is None:
            raise sfn_error("ResourceNotFound", f"Resource not found: '{arn}'")
        return sm

    def remember(self, ex: ExecutionRecord) -> None:
        """Index an execution read back at start-up (see :mod:`.restore`)."""
        self._remember(ex)

    def forget(self, gone: list[ExecutionRecord]) -> None:
        """Take expired executions (and their Map Runs) out of the indexes (.retention)."""
        machines = set()
        for ex in gone:
            self.runs.pop(ex.arn, None)
            machines.add(ex.machine_arn)
            self.executions.map_runs.forget_execution(ex.arn)
        arns = {ex.arn for ex in gone}
        for machine in machines:
            kept = [ex for ex in self.by_machine.get(machine, ()) if ex.arn not in arns]
            if kept:
                self.by_machine[machine] = kept
            else:
                self.by_machine.pop(machine, None)

    def running(self) -> list[ExecutionRecord]:
        return [ex for ex in self.runs.values() if ex.running]


def tags_of(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise sfn_error("ValidationException", "tags must be a list")
    out = {}
    for tag in raw:
        if not isinstance(tag, dict) or not isinstance(tag.get("key"), str):
            raise sfn_error("ValidationException", "each tag needs a key")
        out[tag["key"]] = str(tag.get("value", ""))
    return out


def _summary(ex: ExecutionRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "executionArn": ex.arn,
        "stateMachineArn": ex.machine_arn,
        "name": ex.name,
        "status": ex.status,
        "startDate": ex.started,
    }
    if ex.stopped is not None:
        out["stopDate"] = ex.stopped
    if ex.version_arn is not None:
        out["stateMachineVersionArn"] = ex.version_arn
    if ex.alias_arn is not None:
        out["stateMachineAliasArn"] = ex.alias_arn
    if ex.redrive_count:
        out["redriveCount"], out["redriveDate"] = ex.redrive_count, ex.redrive_date
    return out


def _redrivable(ex: ExecutionRecord) -> bool:
    return (
        ex.status in ("FAILED", "ABORTED", "TIMED_OUT")
        and not ex.express
        and (ex.last_cursor is not None or ex.cursor_stored)
    )


def _add_result(out: dict[str, Any], ex: ExecutionRecord) -> None:
    """The execution's output, or its error and cause, as far as it has them."""
    if ex.output is not None:
        out["output"] = ex.output
        out["outputDetails"] = {"included": True}
    if ex.error is not None:
        out["error"] = ex.error
    if ex.cause is not None:
        out["cause"] = ex.cause


def _describe(ex: ExecutionRecord) -> dict[str, Any]:
    out = _summary(ex)
    out["input"] = ex.input
    out["inputDetails"] = {"included": True}
    _add_result(out, ex)
    if ex.version_arn:
        out["stateMachineVersionArn"] = ex.version_arn
    if ex.alias_arn:
        out["stateMachineAliasArn"] = ex.alias_arn
    out["redriveCount"] = ex.redrive_count
    out["redriveStatus"] = "REDRIVABLE" if _redrivable(ex) else "NOT_REDRIVABLE"
    if ex.redrive_date is not None:
        out["redriveDate"] = ex.redrive_date
    return out


def _configure(sm: StateMachineRecord, body: dict[str, Any]) -> None:
    """The logging and tracing configurations the request gives (each kept as sent)."""
    if isinstance(body.get("loggingConfiguration"), dict):
        sm.logging = body["loggingConfiguration"]
    if isinstance(body.get("tracingConfiguration"), dict):
        sm.tracing = body["tracingConfiguration"]


def _trace_of(body: dict[str, Any]) -> str | None:
    """The X-Ray trace an execution continues: the call's ``X-Amzn-Trace-Id`` header (or
    an event source's trace: the context's, :data:`lamina.tracing.INCOMING`), which Step
    Functions prefers, else the body's ``traceHeader``."""
    return INCOMING.get() or field_str(body, "traceHeader", required=False)
