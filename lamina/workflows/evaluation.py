"""What states evaluate against: the context object, paths, intrinsics and JSONata.

:class:`Evaluation` is the engine's base: it builds ``$$`` (lazily — most states never
read it), payload templates with ``.$`` keys and intrinsics, JSONata evaluators with
``$states`` and the variables in scope, and numbers given as literals, paths or
expressions. Pure like the engine: time and randomness come from outside.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lamina.workflows.definition import MapState, State
from lamina.workflows.errors import StatesError
from lamina.workflows.intrinsics import evaluate_intrinsic
from lamina.workflows.jsonata_lang import Evaluator, is_expression
from lamina.workflows.jsonpath import Json, Scope, apply_template, compile_path
from lamina.workflows.steps import Frame


@dataclass(frozen=True, slots=True)
class ExecutionInfo:
    """The ``$$.Execution`` and ``$$.StateMachine`` parts of the context object."""

    arn: str
    name: str
    input: Json
    start_time: str
    role_arn: str
    state_machine_arn: str
    state_machine_name: str
    redrive_count: int = 0


def iso(now: float) -> str:
    """AWS's context timestamps: ``2024-01-01T00:00:00.000Z``."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Evaluation:
    """The context object, paths, intrinsics and JSONata for one execution's states."""

    def __init__(
        self, info: ExecutionInfo, new_token: Callable[[], str], rng: random.Random | None = None
    ) -> None:
        self.info = info
        self.new_token = new_token
        self.rng = rng or random.Random()

    # -- context and expressions ----------------------------------------------------------
    def context(self, frame: Frame, token: str | None = None) -> dict[str, Json]:
        info = self.info
        ctx: dict[str, Json] = {
            "Execution": {
                "Id": info.arn,
                "Input": info.input,
                "Name": info.name,
                "RoleArn": info.role_arn,
                "StartTime": info.start_time,
                "RedriveCount": info.redrive_count,
            },
            "State": {
                "EnteredTime": iso(frame.entered),
                "Name": frame.state,
                "RetryCount": frame.retry_count,
            },
            "StateMachine": {"Id": info.state_machine_arn, "Name": info.state_machine_name},
        }
        if token is not None:
            ctx["Task"] = {"Token": token}
        if frame.map_item is not None:
            ctx["Map"] = {"Item": frame.map_item}
        return ctx

    def _scope(self, frame: Frame, token: str | None = None) -> Scope:
        return Scope(None, frame.variables, lambda: self.context(frame, token))

    def _intrinsic(self, text: str, data: Json, scope: Scope) -> Json:
        return evaluate_intrinsic(text, data, scope, self.rng)

    def _template(self, template: Json, data: Json, scope: Scope) -> Json:
        return apply_template(template, data, scope, self._intrinsic)

    def _jsonata(self, frame: Frame, token: str | None = None, **states: Json) -> Evaluator:
        bound: dict[str, Json] = {"input": frame.input, "context": self.context(frame, token)}
        bound.update(states)
        return Evaluator(bound, frame.variables, self.rng)

    def _read(self, path: str | None, data: Json, scope: Scope) -> Json:
        if path is None:
            return {}
        if path == "$":
            return data
        return compile_path(path).read(data, scope)

    def _number(
        self, state: State, frame: Frame, value: Json, path: str | None, field: str
    ) -> float | None:
        """The number field ``field`` given as a literal, a JSONPath (``...Path``) or
        JSONata."""
        if path is not None:
            value = compile_path(path).read(frame.input, self._scope(frame))
        elif is_expression(value):
            value = self._jsonata(frame).expression(value, field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise StatesError("States.Runtime", f"{state.name}: expected a number, got {value!r}")
        return float(value)

    def _tolerance(self, state: MapState, frame: Frame) -> tuple[float, float]:
        """A Map's (ToleratedFailureCount, ToleratedFailurePercentage): the fixed numbers or
        their paths' or expressions' values; 0 where not given."""
        count = self._number(
            state, frame, state.tolerated_count, state.tolerated_count_path,
            "ToleratedFailureCount",
        )  # fmt: skip
        percentage = self._number(
            state, frame, state.tolerated_percentage, state.tolerated_percentage_path,
            "ToleratedFailurePercentage",
        )  # fmt: skip
        return count or 0, percentage or 0
