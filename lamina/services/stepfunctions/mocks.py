"""Mocked task responses, in Step Functions Local's mock-configuration format.

``LAMINA_SFN_MOCK_CONFIG`` names a JSON file::

    {"StateMachines": {"Order": {"TestCases": {"HappyPath": {"Charge": "ChargeOk"}}}},
     "MockedResponses": {"ChargeOk": {"0": {"Return": {"charged": true}}},
                         "Flaky": {"0-1": {"Throw": {"Error": "Boom", "Cause": "x"}},
                                   "2": {"Return": {}}}}}

An execution started on ``<state machine ARN>#HappyPath`` runs with that test case: a Task
state it names does not call its resource, it answers with the mocked response for its
n-th attempt in this execution (``"0"``, ``"1-2"``: attempts counted from 0, retries
included). Tasks the test case does not name run for real.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.errors import ConfigError
from lamina.workflows.steps import Err, Ok, Outcome, RunTask


@dataclass(frozen=True, slots=True)
class MockedResponse:
    first: int
    last: int
    outcome: Outcome


@dataclass
class MockConfig:
    test_cases: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    responses: dict[str, list[MockedResponse]] = field(default_factory=dict)

    def has_case(self, machine: str, case: str) -> bool:
        return (machine, case) in self.test_cases

    def runner(
        self, machine: str, case: str, real: Callable[[RunTask], Awaitable[Outcome]]
    ) -> Callable[[RunTask], Awaitable[Outcome]]:
        """A task runner for one execution of ``machine`` under test case ``case``."""
        mapping = self.test_cases.get((machine, case), {})
        attempts: dict[str, int] = {}

        async def run(rt: RunTask) -> Outcome:
            name = mapping.get(rt.frame.state)
            if name is None:
                return await real(rt)
            n = attempts.get(rt.frame.state, 0)
            attempts[rt.frame.state] = n + 1
            for response in self.responses.get(name, []):
                if response.first <= n <= response.last:
                    return response.outcome
            return Err("States.Runtime",
                       f"Mocked response {name!r} has no answer for attempt {n}")  # fmt: skip

        return run


def parse_mock_config(raw: Any) -> MockConfig:
    if not isinstance(raw, dict):
        raise ConfigError("the mock configuration must be a JSON object")
    config = MockConfig()
    for machine, spec in (raw.get("StateMachines") or {}).items():
        for case, mapping in ((spec or {}).get("TestCases") or {}).items():
            if not isinstance(mapping, dict):
                raise ConfigError(f"test case {machine}#{case} must map states to responses")
            config.test_cases[(machine, case)] = {str(k): str(v) for k, v in mapping.items()}
    for name, spec in (raw.get("MockedResponses") or {}).items():
        responses = []
        for key, answer in (spec or {}).items():
            lo, _, hi = str(key).partition("-")
            try:
                first, last = int(lo), int(hi or lo)
            except ValueError:
                raise ConfigError(f"mocked response {name}: {key!r} is not N or N-M") from None
            if isinstance(answer, dict) and "Return" in answer:
                outcome: Outcome = Ok(answer["Return"])
            elif isinstance(answer, dict) and isinstance(answer.get("Throw"), dict):
                thrown = answer["Throw"]
                outcome = Err(str(thrown.get("Error", "")), str(thrown.get("Cause", "")))
            else:
                raise ConfigError(f"mocked response {name}/{key} needs Return or Throw")
            responses.append(MockedResponse(first, last, outcome))
        config.responses[name] = responses
    for (machine, case), mapping in config.test_cases.items():
        for state, name in mapping.items():
            if name not in config.responses:
                raise ConfigError(f"test case {machine}#{case}: state {state!r} uses the "
                                  f"unknown mocked response {name!r}")  # fmt: skip
    return config


def load_mock_config(path: Path | None) -> MockConfig:
    if path is None:
        return MockConfig()
    try:
        return parse_mock_config(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the mock configuration {path}: {exc}") from None
