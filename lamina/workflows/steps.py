"""What the engine tells its driver to do next: a small union of typed steps.

The engine never sleeps, invokes or stores anything. It returns one of these and the
driver (:mod:`lamina.workflows.runner`) does the I/O, then reports back. Each step also
carries the history events it implies, so the history is written in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lamina.workflows.definition import Machine
from lamina.workflows.distributed import ItemReaderSpec
from lamina.workflows.jsonpath import Json

_encode = json.JSONEncoder(separators=(",", ":")).encode


class JsonDoc:
    """A JSON value that history shows as text (``input``, ``output``, ``parameters``),
    serialised only when the history is read or stored."""

    __slots__ = ("_text", "value")

    def __init__(self, value: Json) -> None:
        self.value = value
        self._text: str | None = None

    def text(self) -> str:
        if self._text is None:
            self._text = _encode(self.value)
        return self._text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonDoc) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


_last: list[JsonDoc | None] = [None]


def doc(value: Json) -> JsonDoc:
    """A :class:`JsonDoc` of ``value``, the same one as last time for the same object: a
    state's output is the next state's input, and the cursor's, so it is encoded once."""
    last = _last[0]
    if last is not None and last.value is value:
        return last
    made = JsonDoc(value)
    _last[0] = made
    return made


@dataclass(frozen=True, slots=True)
class Event:
    """One history event: AWS's ``type`` and its details object."""

    type: str
    details: dict[str, Json] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Frame:
    """Where one (sub-)execution stands: about to enter ``state`` with ``input``."""

    state: str
    input: Json
    variables: dict[str, Json]
    entered: float = 0.0  # when the state was entered ($$.State.EnteredTime), epoch s
    retries: tuple[int, ...] = ()  # attempts used, per retrier of the state
    map_item: Json = None  # {"Index": i, "Value": v} inside a Map iteration

    @property
    def retry_count(self) -> int:
        return sum(self.retries)


@dataclass(frozen=True, slots=True)
class Move:
    """Enter ``frame.state`` next."""

    frame: Frame
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class Succeed:
    output: Json
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class Fail:
    error: str
    cause: str
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait until ``until`` (epoch seconds, schedule clock), then emit ``after`` and take
    ``then``."""

    until: float
    then: Move | Succeed
    events: tuple[Event, ...] = ()
    after: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class RunTask:
    """Call ``resource`` with ``payload``; report with ``Engine.task_done``."""

    frame: Frame
    resource: str
    payload: Json
    timeout_s: float | None
    heartbeat_s: float | None
    token: str | None  # the task token of a ``.waitForTaskToken`` call
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class Branch:
    machine: Machine
    input: Json
    variables: dict[str, Json]
    map_item: Json = None


@dataclass(frozen=True, slots=True)
class RunBranches:
    """Run every branch (Parallel) or item (Map) as a sub-execution, at most
    ``max_concurrency`` at once (0: all); report with ``Engine.branches_done``."""

    frame: Frame
    kind: str  # "Parallel" or "Map"
    branches: tuple[Branch, ...]
    max_concurrency: int
    tolerated_count: float
    tolerated_percentage: float
    events: tuple[Event, ...] = ()
    # A distributed Map: its Map Run, and the type of its child executions.
    map_run_arn: str | None = None
    child_type: str = "STANDARD"


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Run the state's work again after ``delay_s`` (``Engine.attempt`` with ``frame``)."""

    frame: Frame
    delay_s: float
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadItems:
    """Read a distributed Map's items (``ItemReader``); report with ``Engine.items_read``."""

    frame: Frame
    reader: ItemReaderSpec
    parameters: Json  # evaluated: {"Bucket", "Key"} or {"Bucket", "Prefix"}
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class WriteResults:
    """Store a Map's results (``ResultWriter``); report with ``Engine.results_written``."""

    frame: Frame
    parameters: Json  # evaluated: {"Bucket", "Prefix"}
    files: dict[str, Json]  # key → document
    result: Json  # the state's result once written: {"MapRunArn", "ResultWriterDetails"}
    events: tuple[Event, ...] = ()


Step = Move | Succeed | Fail | Sleep | RunTask | RunBranches | RetryLater | ReadItems | WriteResults


def with_events(step: Step, events: tuple[Event, ...]) -> Step:
    """``step`` with ``events`` before its own. Steps are frozen for their readers; the
    engine adds events to one it has just made, before anyone else sees it, so it sets
    the field in place instead of copying the step (``dataclasses.replace`` is slow)."""
    object.__setattr__(step, "events", events + step.events)
    return step


@dataclass(frozen=True, slots=True)
class Ok:
    """A task's or branch's result."""

    value: Json


@dataclass(frozen=True, slots=True)
class Err:
    error: str
    cause: str


Outcome = Ok | Err
