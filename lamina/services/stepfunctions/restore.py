"""Reading the service back at start-up: state machines, versions, aliases, executions.

Returns the executions that were RUNNING, each with the cursor of its last committed
transition, for the executor to resume.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from lamina.services.stepfunctions.operations import StepFunctionsOperations
from lamina.services.stepfunctions.records import (
    ExecutionRecord,
    StateMachineRecord,
    VersionRecord,
)
from lamina.workflows.definition import Machine
from lamina.workflows.errors import InvalidDefinition
from lamina.workflows.parse import parse_definition

log = logging.getLogger("lamina.stepfunctions")


def _parsed(definition: str, owner: str) -> Machine | None:
    """A stored definition, parsed; one that no longer parses (a later Lamina checks more)
    is logged and left out rather than stopping the server."""
    try:
        return parse_definition(definition)
    except InvalidDefinition as exc:
        log.error("%s is not loaded: its stored definition is invalid now: %s", owner, exc)
        return None


def restore(ops: StepFunctionsOperations) -> list[tuple[ExecutionRecord, dict[str, Any]]]:
    """Read everything back; returns the RUNNING executions with their cursors."""
    for row in ops.store.load_machines():
        (
            arn,
            name,
            kind,
            definition,
            role,
            created,
            updated,
            rev,
            desc,
            logging,
            tracing,
            tags,
        ) = row
        machine = _parsed(definition, arn)
        if machine is None:
            continue
        sm = StateMachineRecord(arn, name, kind, definition, role, created, updated, rev,
                                machine, desc, json.loads(logging), json.loads(tracing),
                                json.loads(tags))  # fmt: skip
        ops.machines[arn] = sm
    for row in ops.store.load_versions():
        v_arn, m_arn, number, definition, role, created, rev, desc = row
        owner = ops.machines.get(m_arn)
        version_machine = _parsed(definition, v_arn)
        if owner is not None and version_machine is not None:
            owner.versions[number] = VersionRecord(v_arn, m_arn, number, definition, role,
                                                   version_machine, created, rev, desc)  # fmt: skip
            owner.last_version = max(owner.last_version, number)
    for alias in ops.store.load_aliases():
        owner = ops.machines.get(alias.machine_arn)
        if owner is not None:
            owner.aliases[alias.name] = alias
    histories, cursors = ops.store.load_progress()  # the running executions'
    holders = ops.store.load_cursor_holders()
    # Executions of one definition share its parsed machine, as live ones share their
    # state machine's: one parse per definition, not per execution.
    machines: dict[str, Machine | None] = {}
    resume = []
    for row in ops.store.load_executions():
        (arn, machine_arn, name, status, input_, output, error, cause, started, stopped,
         definition, role, test_case, version_arn, alias_arn, redrives) = row  # fmt: skip
        if definition not in machines:
            machines[definition] = _parsed(definition, arn)
        ex_machine = machines[definition]
        if ex_machine is None:
            continue
        ex = ExecutionRecord(arn, machine_arn, name, input_, started, definition, role,
                             ex_machine, status=status, output=output,
                             error=error, cause=cause, stopped=stopped,
                             test_case=test_case, version_arn=version_arn,
                             alias_arn=alias_arn)  # fmt: skip
        ex.redrive_count = redrives
        if ex.running:
            ex.history = histories.get(arn, [])
            ex.flushed = len(ex.history)
            ex.last_cursor = cursors.get(arn)
        else:  # read back when asked for (.retention)
            ex.paged_out = True
            ex.cursor_stored = arn in holders
            ex.done.set()
        ops.remember(ex)
        if ex.running and arn in cursors:
            resume.append((ex, cursors[arn]))
    return resume
