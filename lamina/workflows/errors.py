"""Errors of the workflow engine.

Two kinds, kept apart because they travel differently::

    LaminaError
    └── WorkflowError
        ├── InvalidDefinition     a definition broke the States Language (at create time)
        └── StatesError           a state failed while running: an ``Error`` name and a
            │                     ``Cause``, matched by Retry/Catch like a task's error
            └── QueryEvaluationError   a JSONata expression failed or returned nothing

The API turns :class:`InvalidDefinition` into Step Functions' ``InvalidDefinition`` answer;
a :class:`StatesError` never leaves the engine as an exception — it becomes a retry, a
catch or the execution's failure.
"""

from __future__ import annotations

from lamina.errors import LaminaError


class WorkflowError(LaminaError):
    """Base of the workflow engine's errors."""


class InvalidDefinition(WorkflowError):
    """Raised when a state machine definition is not valid States Language.

    ``problems`` are AWS-style ``CODE: message at /path`` strings; the message joins them
    the way Step Functions does.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid State Machine Definition: '" + ", ".join(problems) + "'")


class StatesError(WorkflowError):
    """Raised inside the engine when a state fails (``States.Runtime``, an intrinsic's
    ``States.IntrinsicFailure``, a JSONata ``States.QueryEvaluationError``, ...)."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class QueryEvaluationError(StatesError):
    """An expression that failed or returned nothing; ``location`` names the field (as
    ``Output/result``), as ``EvaluationFailed`` does on AWS."""

    def __init__(self, cause: str, location: str | None = None) -> None:
        super().__init__("States.QueryEvaluationError", cause)
        self.location = location
