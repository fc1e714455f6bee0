"""Map Runs: a distributed Map state's run and its child executions, in the API.

Each time a ``DISTRIBUTED`` Map state runs, a Map Run is made
(``arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id>``), with one child
execution per item (or batch) named by a UUID
(``...:execution:<machine>/<label>:<uuid>``, ``express:`` for ``ExecutionType: EXPRESS``).
The parent's history gets ``MapRunStarted`` / ``MapRunSucceeded`` / ``MapRunFailed``;
``DescribeMapRun``, ``ListMapRuns``, ``UpdateMapRun``, ``ListExecutions`` with
``mapRunArn`` and ``DescribeExecution`` of a child answer from here.

Map Runs live in memory (a restarted server has those of the executions run since); the
children run inside the parent's execution, so they have no history of their own.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from lamina.errors import AwsServiceError
from lamina.workflows.jsonpath import Json
from lamina.workflows.steps import Ok, Outcome, RunBranches

# Bounded memory: past this many child executions kept, the oldest ended Map Runs go.
MAX_CHILDREN = 200_000
_COUNTS = ("pending", "running", "succeeded", "failed", "timedOut", "aborted", "total")


def _error(code: str, message: str) -> AwsServiceError:
    return AwsServiceError(code, message)


@dataclass
class ChildExecution:
    arn: str
    name: str
    input: Json
    status: str = "PENDING"  # PENDING | RUNNING | SUCCEEDED | FAILED
    started: float | None = None
    stopped: float | None = None
    output: Json = None
    error: str | None = None
    cause: str | None = None


@dataclass
class MapRunRecord:
    arn: str
    execution_arn: str
    state_machine_arn: str
    started: float
    max_concurrency: int
    tolerated_count: float
    tolerated_percentage: float
    child_type: str
    children: list[ChildExecution] = field(default_factory=list)
    status: str = "RUNNING"  # RUNNING | SUCCEEDED | FAILED | ABORTED
    stopped: float | None = None

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(_COUNTS, 0)
        for child in self.children:
            out[{"PENDING": "pending", "RUNNING": "running", "SUCCEEDED": "succeeded",
                 "FAILED": "failed"}[child.status]] += 1  # fmt: skip
        out["total"] = len(self.children)
        return out

    def describe(self) -> dict[str, Any]:
        counts = self.counts()
        out: dict[str, Any] = {
            "mapRunArn": self.arn,
            "executionArn": self.execution_arn,
            "status": self.status,
            "startDate": self.started,
            "maxConcurrency": self.max_concurrency,
            "toleratedFailurePercentage": float(self.tolerated_percentage),
            "toleratedFailureCount": int(self.tolerated_count),
            "itemCounts": {**counts, "resultsWritten": counts["succeeded"] + counts["failed"]},
            "executionCounts": {**counts, "resultsWritten": counts["succeeded"] + counts["failed"]},
            "redriveCount": 0,
        }
        if self.stopped is not None:
            out["stopDate"] = self.stopped
        return out


class MapRunTracker:
    """The driver's view of one Map Run (:class:`~lamina.workflows.runner.MapRunHook`)."""

    def __init__(self, run: MapRunRecord) -> None:
        self.run = run

    def started(self, index: int) -> None:
        child = self.run.children[index]
        child.status, child.started = "RUNNING", time.time()

    def ended(self, index: int, outcome: Outcome) -> None:
        child = self.run.children[index]
        child.stopped = time.time()
        if isinstance(outcome, Ok):
            child.status, child.output = "SUCCEEDED", outcome.value
        else:
            child.status, child.error, child.cause = "FAILED", outcome.error, outcome.cause

    def finished(self, ok: bool) -> None:
        if self.run.status == "RUNNING":
            self.run.status = "SUCCEEDED" if ok else "FAILED"
        self.run.stopped = time.time()
        for child in self.run.children:  # stopped with the run (Map without tolerance)
            if child.status in ("PENDING", "RUNNING"):
                child.status = "FAILED" if child.status == "RUNNING" else child.status


class MapRuns:
    """Every Map Run of this server's life, by ARN and by parent execution."""

    def __init__(self) -> None:
        self.runs: dict[str, MapRunRecord] = {}
        self.by_execution: dict[str, list[MapRunRecord]] = {}
        self.children: dict[str, tuple[MapRunRecord, ChildExecution]] = {}

    def tracker(self, execution_arn: str, machine_arn: str, step: RunBranches) -> MapRunTracker:
        assert step.map_run_arn is not None
        run = MapRunRecord(
            step.map_run_arn, execution_arn, machine_arn, time.time(), step.max_concurrency,
            step.tolerated_count, step.tolerated_percentage, step.child_type,
        )  # fmt: skip
        kind = "express" if step.child_type == "EXPRESS" else "execution"
        base = step.map_run_arn.replace(":mapRun:", f":{kind}:").rsplit(":", 1)[0]
        for branch in step.branches:
            name = str(uuid.uuid4())
            child = ChildExecution(f"{base}:{name}", name, branch.input)
            run.children.append(child)
            self.children[child.arn] = (run, child)
        self.runs[run.arn] = run
        self.by_execution.setdefault(execution_arn, []).append(run)
        self._prune()
        return MapRunTracker(run)

    def _prune(self) -> None:
        """Forget the oldest ended Map Runs while more than MAX_CHILDREN children are kept."""
        for arn in list(self.runs):
            if len(self.children) <= MAX_CHILDREN:
                return
            run = self.runs[arn]
            if run.status == "RUNNING":
                continue
            del self.runs[arn]
            self.by_execution[run.execution_arn].remove(run)
            if not self.by_execution[run.execution_arn]:
                del self.by_execution[run.execution_arn]
            for child in run.children:
                self.children.pop(child.arn, None)

    # -- the API --------------------------------------------------------------------------
    def get(self, arn: str) -> MapRunRecord:
        run = self.runs.get(arn)
        if run is None:
            raise _error("ResourceNotFound", f"Resource not found: '{arn}'")
        return run

    def describe(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.get(str(body.get("mapRunArn") or "")).describe()

    def list_runs(self, execution_arn: str) -> list[dict[str, Any]]:
        out = []
        for run in reversed(self.by_execution.get(execution_arn, [])):
            item = {"executionArn": run.execution_arn, "mapRunArn": run.arn,
                    "stateMachineArn": run.state_machine_arn, "startDate": run.started}  # fmt: skip
            if run.stopped is not None:
                item["stopDate"] = run.stopped
            out.append(item)
        return out

    def update(self, body: dict[str, Any]) -> dict[str, Any]:
        run = self.get(str(body.get("mapRunArn") or ""))
        if "maxConcurrency" in body:
            run.max_concurrency = int(body["maxConcurrency"])
        if "toleratedFailureCount" in body:
            run.tolerated_count = int(body["toleratedFailureCount"])
        if "toleratedFailurePercentage" in body:
            run.tolerated_percentage = float(body["toleratedFailurePercentage"])
        return {}

    def child_summaries(self, map_run_arn: str, status: str | None) -> list[dict[str, Any]]:
        run = self.get(map_run_arn)
        return [
            self.summary(run, c)
            for c in run.children
            if c.status != "PENDING" and (status is None or c.status == status)
        ]

    @staticmethod
    def summary(run: MapRunRecord, child: ChildExecution) -> dict[str, Any]:
        out: dict[str, Any] = {
            "executionArn": child.arn,
            "stateMachineArn": run.state_machine_arn,
            "name": child.name,
            "status": child.status,
            "startDate": child.started,
            "mapRunArn": run.arn,
            "itemCount": len(child.input["Items"])
            if isinstance(child.input, dict) and isinstance(child.input.get("Items"), list)
            else 1,
        }
        if child.stopped is not None:
            out["stopDate"] = child.stopped
        return out
