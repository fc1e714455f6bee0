"""The console's Workflows pages: state machines, their executions, and an execution's
graph coloured by what happened to each state (``lamina workflow picture``'s SVG, from
:mod:`lamina.workflows.picture`) with its history.

Pure rendering of typed rows; :class:`WorkflowPages` reads them from the running Step
Functions service's records (on the event loop, where executions change them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from lamina.errors import ResourceNotFound
from lamina.services.stepfunctions.operations import StepFunctionsOperations
from lamina.services.stepfunctions.records import ExecutionRecord
from lamina.workflows.picture import render_svg, state_runs

MAX_EXECUTIONS = 200  # the newest shown per state machine


@dataclass(frozen=True, slots=True)
class MachineRow:
    name: str
    arn: str
    type: str
    created: float
    statuses: dict[str, int]  # RUNNING / SUCCEEDED / FAILED / ... → executions


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    name: str
    arn: str
    status: str
    started: float
    stopped: float | None


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _took(row: ExecutionRow) -> str:
    return "—" if row.stopped is None else f"{1000 * (row.stopped - row.started):.0f} ms"


def execution_link(arn: str) -> str:
    return f"/console/executions/{quote(arn, safe='')}"


def machines_html(rows: list[MachineRow]) -> str:
    body = "".join(
        f'<tr data-machine="{escape(r.name)}">'
        f'<td><a href="/console/workflows/{quote(r.name)}">{escape(r.name)}</a></td>'
        f"<td>{escape(r.type)}</td><td>{_when(r.created)}</td>"
        f"<td class=executions>{sum(r.statuses.values())}</td>"
        + "".join(
            f"<td class={s.lower()}>{r.statuses.get(s, 0)}</td>"
            for s in ("RUNNING", "SUCCEEDED", "FAILED")
        )
        + "</tr>"
        for r in rows
    )
    empty = "" if rows else "<p>No state machines yet.</p>"
    return (
        f"<h1>Workflows ({len(rows)})</h1><table id=machines><thead><tr><th>State machine</th>"
        "<th>Type</th><th>Created</th><th>Executions</th><th>Running</th><th>Succeeded</th>"
        f"<th>Failed</th></tr></thead><tbody>{body}</tbody></table>{empty}"
    )


def machine_html(machine: MachineRow, definition: str, runs: list[ExecutionRow]) -> str:
    body = "".join(
        f'<tr data-execution="{escape(r.name)}" class="status-{escape(r.status.lower())}">'
        f'<td><a href="{execution_link(r.arn)}">{escape(r.name)}</a></td>'
        f"<td class=status>{escape(r.status)}</td><td>{_when(r.started)}</td>"
        f"<td>{_when(r.stopped)}</td><td>{_took(r)}</td></tr>"
        for r in runs
    )
    return (
        f"<h1 id=machine>{escape(machine.name)}</h1><p>{escape(machine.type)} · "
        f"{escape(machine.arn)}</p><section><h2>Executions (newest first)</h2>"
        "<table id=executions><thead><tr><th>Name</th><th>Status</th><th>Started</th>"
        f"<th>Stopped</th><th>Took</th></tr></thead><tbody>{body}</tbody></table>"
        f"{'' if runs else '<p>No executions yet.</p>'}</section>"
        f"<section><h2>Definition</h2><pre>{escape(definition)}</pre></section>"
    )


def _event_row(event: dict[str, Any]) -> str:
    details: Any = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
    state = details.get("name", "") if isinstance(details, dict) else ""
    problem = ""
    if isinstance(details, dict) and ("error" in details or "cause" in details):
        problem = f"{details.get('error', '')}: {details.get('cause', '')}"[:300]
    return (
        f"<tr><td>{event['id']}</td><td>{_when(float(event['timestamp']))}</td>"
        f"<td class=type>{escape(event['type'])}</td><td>{escape(str(state))}</td>"
        f"<td>{escape(problem)}</td></tr>"
    )


def execution_html(row: ExecutionRow, definition: str, events: list[dict[str, Any]]) -> str:
    """The graph (states coloured by status) and the history, with each state's status as
    data the browser test reads."""
    runs, _ = state_runs(events)
    states = escape(json.dumps({name: run.status for name, run in runs.items()}))
    history = "".join(_event_row(e) for e in events)
    return (
        f'<h1 id=execution data-states="{states}" data-status="{escape(row.status)}">'
        f"{escape(row.name)}</h1><p>{escape(row.status)} · started {_when(row.started)} · "
        f"took {_took(row)}</p><figure class=graph>{render_svg(definition, events, row.name)}"
        "</figure><section><h2>History</h2><table id=history-events><thead><tr><th>#</th>"
        "<th>Time</th><th>Type</th><th>State</th><th>Error</th></tr></thead>"
        f"<tbody>{history}</tbody></table></section>"
    )


def _execution_row(ex: ExecutionRecord) -> ExecutionRow:
    return ExecutionRow(ex.name, ex.arn, ex.status, ex.started, ex.stopped)


class WorkflowPages:
    """Reads state machines and executions from the Step Functions service."""

    def __init__(self, ops: StepFunctionsOperations) -> None:
        self.ops = ops

    def _row(self, arn: str) -> MachineRow:
        sm = self.ops.machines[arn]
        statuses: dict[str, int] = {}
        for ex in self.ops.by_machine.get(arn, ()):
            statuses[ex.status] = statuses.get(ex.status, 0) + 1
        return MachineRow(sm.name, sm.arn, sm.type, sm.created, statuses)

    def machines(self) -> str:
        rows = sorted((self._row(arn) for arn in self.ops.machines), key=lambda r: r.name)
        return machines_html(rows)

    def machine(self, name: str) -> str:
        found = [arn for arn, sm in self.ops.machines.items() if sm.name == name]
        if not found:
            raise ResourceNotFound(f"No state machine named {name}")
        sm = self.ops.machines[found[0]]
        runs = sorted(self.ops.by_machine.get(sm.arn, ()), key=lambda e: -e.started)
        return machine_html(
            self._row(sm.arn),
            sm.definition,
            [_execution_row(e) for e in runs[:MAX_EXECUTIONS]],
        )

    async def execution(self, arn: str) -> str:
        ex = self.ops.runs.get(arn)
        if ex is None:
            raise ResourceNotFound(f"No execution {arn}")
        # An ended execution's history may be paged out (read back from the store).
        events = [e.render() for e in await self.ops.histories.history(ex)]
        return execution_html(_execution_row(ex), ex.definition, events)
