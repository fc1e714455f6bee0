"""A state machine definition as typed values (built by :mod:`lamina.workflows.parse`).

Control flow (types, transitions, Retry/Catch, timeouts, Choice rules) is typed here;
the data templates that the query languages evaluate (``Parameters``, ``Arguments``,
``Output``, ``Assign``, ...) stay JSON, because they *are* JSON in the language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from lamina.workflows.distributed import ItemBatcherSpec, ItemReaderSpec, ResultWriterSpec
from lamina.workflows.jsonpath import Json


class QueryLanguage(Enum):
    JSONPATH = "JSONPath"
    JSONATA = "JSONata"


@dataclass(frozen=True, slots=True)
class Retrier:
    errors: tuple[str, ...]
    interval_s: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_s: float | None = None
    full_jitter: bool = False


@dataclass(frozen=True, slots=True)
class Catcher:
    errors: tuple[str, ...]
    next: str
    result_path: str | None = "$"  # JSONPath; None discards the error output
    output: Json = None  # JSONata ``Output`` (None: the error output)
    assign: Json = None


@dataclass(frozen=True, slots=True)
class State:
    """What every state has. ``next is None and end`` ends the (sub-)machine."""

    name: str
    language: QueryLanguage
    next: str | None = None
    end: bool = False
    comment: str = ""
    input_path: str | None = "$"  # None: JSON null, the state sees {}
    output_path: str | None = "$"
    assign: Json = None
    output: Json = None  # JSONata ``Output``; None: the default


@dataclass(frozen=True, slots=True)
class PassState(State):
    parameters: Json = None
    result: Json = None
    has_result: bool = False
    result_path: str | None = "$"


@dataclass(frozen=True, slots=True)
class Retryable(State):
    """Task, Parallel and Map: they have a result, Retry and Catch."""

    parameters: Json = None  # JSONPath ``Parameters`` / JSONata ``Arguments``
    result_selector: Json = None
    result_path: str | None = "$"
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskState(Retryable):
    resource: str = ""
    timeout: Json = None  # seconds (int), a JSONPath, or a JSONata expression
    timeout_path: str | None = None
    heartbeat: Json = None
    heartbeat_path: str | None = None
    credentials: Json = None


@dataclass(frozen=True, slots=True)
class ParallelState(Retryable):
    branches: tuple[Machine, ...] = ()


@dataclass(frozen=True, slots=True)
class MapState(Retryable):
    processor: Machine | None = None
    distributed: bool = False
    execution_type: str = "STANDARD"  # a distributed Map's child executions
    items_path: str | None = "$"
    items: Json = None  # JSONata ``Items``
    item_selector: Json = None
    max_concurrency: Json = 0  # 0: no limit
    max_concurrency_path: str | None = None
    tolerated_count: Json = 0
    tolerated_count_path: str | None = None
    tolerated_percentage: Json = 0
    tolerated_percentage_path: str | None = None
    label: str = ""
    reader: ItemReaderSpec | None = None  # distributed Map: items from S3
    batcher: ItemBatcherSpec | None = None
    writer: ResultWriterSpec | None = None


@dataclass(frozen=True, slots=True)
class WaitState(State):
    seconds: Json = None  # int or JSONata expression
    timestamp: Json = None
    seconds_path: str | None = None
    timestamp_path: str | None = None


@dataclass(frozen=True, slots=True)
class SucceedState(State):
    pass


@dataclass(frozen=True, slots=True)
class FailState(State):
    error: Json = None
    cause: Json = None
    error_path: str | None = None
    cause_path: str | None = None


# -- Choice rules ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChoiceComparison:
    variable: str
    operator: str  # "StringEquals", "NumericLessThanPath", "IsPresent", ...
    value: Json


@dataclass(frozen=True, slots=True)
class AllOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class NoneOf:
    rule: Rule


@dataclass(frozen=True, slots=True)
class ChoiceCondition:
    """A JSONata ``Condition`` (``{% ... %}``)."""

    expression: Json


Rule = ChoiceComparison | AllOf | AnyOf | NoneOf | ChoiceCondition


@dataclass(frozen=True, slots=True)
class Choice:
    rule: Rule
    next: str
    assign: Json = None
    output: Json = None


@dataclass(frozen=True, slots=True)
class ChoiceState(State):
    choices: tuple[Choice, ...] = ()
    default: str | None = None


@dataclass(frozen=True, slots=True)
class Machine:
    """A state machine or one of its branches (Parallel branch, Map item processor)."""

    start_at: str
    states: dict[str, State] = field(default_factory=dict)
    language: QueryLanguage = QueryLanguage.JSONPATH
    timeout_s: int | None = None
    comment: str = ""

    def state(self, name: str) -> State:
        return self.states[name]
