"""State machines and executions as the service keeps them in memory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from lamina.workflows.definition import Machine
from lamina.workflows.steps import JsonDoc


@dataclass
class StateMachineRecord:
    arn: str
    name: str
    type: str  # STANDARD | EXPRESS
    definition: str
    role_arn: str
    created: float
    updated: float
    revision_id: str
    machine: Machine
    description: str = ""
    logging: dict[str, Any] = field(
        default_factory=lambda: {"level": "OFF", "includeExecutionData": False}
    )
    tracing: dict[str, Any] = field(default_factory=lambda: {"enabled": False})
    tags: dict[str, str] = field(default_factory=dict)
    versions: dict[int, VersionRecord] = field(default_factory=dict)
    aliases: dict[str, AliasRecord] = field(default_factory=dict)
    last_version: int = 0  # version numbers are never reused, even after a delete

    @property
    def express(self) -> bool:
        return self.type == "EXPRESS"


@dataclass
class VersionRecord:
    """A published, immutable version: ``<state machine ARN>:<number>``."""

    arn: str
    machine_arn: str
    number: int
    definition: str
    role_arn: str
    machine: Machine
    created: float
    revision_id: str
    description: str = ""


@dataclass
class AliasRecord:
    """``<state machine ARN>:<alias>``, routing executions to one or two versions."""

    arn: str
    machine_arn: str
    name: str
    routing: list[tuple[str, int]]  # (version ARN, weight), weights summing to 100
    created: float
    updated: float
    description: str = ""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    type: str
    timestamp: float
    previous: int
    details: dict[str, Any]

    def render(self) -> dict[str, Any]:
        """The event as GetExecutionHistory returns it."""
        out: dict[str, Any] = {
            "timestamp": self.timestamp,
            "type": self.type,
            "id": self.id,
            "previousEventId": self.previous,
        }
        if self.details or self.type in _ALWAYS_DETAILS:
            out[details_key(self.type)] = {
                k: v.text() if isinstance(v, JsonDoc) else v for k, v in self.details.items()
            }
        return out


# AWS writes these details even when empty (a StopExecution without error or cause)
_ALWAYS_DETAILS = {"ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted"}


def details_key(event_type: str) -> str:
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return event_type[0].lower() + event_type[1:] + "EventDetails"


@dataclass
class ExecutionRecord:
    arn: str
    machine_arn: str
    name: str
    input: str
    started: float
    definition: str
    role_arn: str
    machine: Machine
    express: bool = False
    test_case: str | None = None  # a mock-configuration test case (``arn#Case``)
    version_arn: str | None = None  # started on a version, or on an alias that chose it
    alias_arn: str | None = None
    redrive_count: int = 0
    redrive_date: float | None = None
    last_cursor: dict[str, Any] | None = None  # the last committed transition's cursor
    status: str = "RUNNING"  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    stopped: float | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    flushed: int = 0  # history entries committed to the store
    # Ended, its history (and last cursor) only in the store until asked for (.retention);
    # cursor_stored: it has a cursor there (it can be redriven).
    paged_out: bool = False
    cursor_stored: bool = False
    task: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def running(self) -> bool:
        return self.status == "RUNNING"
