"""Map Runs: a distributed Map state's run and its child executions, in the API.

Each time a ``DISTRIBUTED`` Map state runs, a Map Run is made
(``arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id>``), with one child
execution per item (or batch) named by a UUID
(``...:execution:<machine>/<label>:<uuid>``, ``express:`` for ``ExecutionType: EXPRESS``).
The parent's history gets ``MapRunStarted`` / ``MapRunSucceeded`` / ``MapRunFailed``;
``DescribeMapRun``, ``ListMapRuns``, ``UpdateMapRun``, ``ListExecutions`` with
``mapRunArn`` and ``DescribeExecution`` of a child answer from here.

Each child has its own history (``GetExecutionHistory`` of the child; the parent has no
``MapIteration*`` events for it, as on AWS), can be stopped on its own (``StopExecution``
aborts it: it counts as failed toward the Map's tolerance), and ``UpdateMapRun``'s
``maxConcurrency`` applies to children not yet started. Map Runs live in memory (a
restarted server has those of the executions run since); memory is bounded by
``MAX_CHILDREN`` and ``MAX_CHILD_EVENTS``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lamina.errors import AwsServiceError
from lamina.services.stepfunctions.records import HistoryEntry
from lamina.workflows.jsonpath import Json
from lamina.workflows.runner import Record
from lamina.workflows.steps import Event, Fail, Ok, Outcome, RunBranches, Succeed

# Bounded memory: past this many child executions kept, the oldest ended Map Runs go.
MAX_CHILDREN = 200_000
# ... and past this many events in children's own histories.
MAX_CHILD_EVENTS = 1_000_000
_COUNTS = ("pending", "running", "succeeded", "failed", "timedOut", "aborted", "total")


def _error(code: str, message: str) -> AwsServiceError:
    return AwsServiceError(code, message)


@dataclass
class ChildExecution:
    arn: str
    name: str
    input: Json
    status: str = "PENDING"  # PENDING | RUNNING | SUCCEEDED | FAILED | ABORTED
    started: float | None = None
    stopped: float | None = None
    output: Json = None
    error: str | None = None
    cause: str | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    task: asyncio.Future[Succeed | Fail] | None = None  # while it runs
    stop_requested: tuple[str | None, str | None] | None = None


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
    wake: Callable[[], None] | None = None  # the running Map's concurrency gate

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(_COUNTS, 0)
        for child in self.children:
            out[{"PENDING": "pending", "RUNNING": "running", "SUCCEEDED": "succeeded",
                 "FAILED": "failed", "ABORTED": "aborted"}[child.status]] += 1  # fmt: skip
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

    def __init__(self, run: MapRunRecord, runs: MapRuns) -> None:
        self.run = run
        self.runs = runs

    def record(self, index: int) -> Record:
        if self.run.child_type == "EXPRESS":
            return lambda events, previous: 0  # Express histories are not kept
        history = self.run.children[index].history
        runs = self.runs

        def record(events: tuple[Event, ...], previous: int | None) -> int:
            ts = time.time()
            last = len(history) if previous is None else previous
            for event in events:
                n = len(history) + 1
                history.append(HistoryEntry(n, event.type, ts, last, event.details))
                last = n
            runs.events += len(events)
            return last

        return record

    def attach(self, index: int, task: asyncio.Future[Succeed | Fail]) -> None:
        child = self.run.children[index]
        child.task = task
        if child.stop_requested is not None:  # stopped before it started
            task.cancel()

    def limit(self) -> int:
        return self.run.max_concurrency

    def watch(self, wake: Callable[[], None]) -> None:
        self.run.wake = wake

    def started(self, index: int) -> None:
        child = self.run.children[index]
        child.status, child.started = "RUNNING", time.time()

    def ended(self, index: int, outcome: Outcome) -> None:
        child = self.run.children[index]
        child.stopped = time.time()
        child.task = None
        if child.stop_requested is not None and not isinstance(outcome, Ok):
            child.status = "ABORTED"
            child.error, child.cause = child.stop_requested
        elif isinstance(outcome, Ok):
            child.status, child.output = "SUCCEEDED", outcome.value
        else:
            child.status, child.error, child.cause = "FAILED", outcome.error, outcome.cause

    def finished(self, ok: bool) -> None:
        if self.run.status == "RUNNING":
            self.run.status = "SUCCEEDED" if ok else "FAILED"
        self.run.stopped = time.time()
        self.run.wake = None
        for child in self.run.children:  # stopped with the run (Map without tolerance)
            if child.status in ("PENDING", "RUNNING"):
                child.status = "FAILED" if child.status == "RUNNING" else child.status


class MapRuns:
    """Every Map Run of this server's life, by ARN and by parent execution."""

    def __init__(self) -> None:
        self.runs: dict[str, MapRunRecord] = {}
        self.by_execution: dict[str, list[MapRunRecord]] = {}
        self.children: dict[str, tuple[MapRunRecord, ChildExecution]] = {}
        self.events = 0  # in the children's histories

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
        return MapRunTracker(run, self)

    def _prune(self) -> None:
        """Forget the oldest ended Map Runs while more than MAX_CHILDREN children are kept."""
        for arn in list(self.runs):
            if len(self.children) <= MAX_CHILDREN and self.events <= MAX_CHILD_EVENTS:
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
                self.events -= len(child.history)

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
            if run.wake is not None:
                run.wake()  # the running Map starts more children now, or fewer
        if "toleratedFailureCount" in body:
            run.tolerated_count = int(body["toleratedFailureCount"])
        if "toleratedFailurePercentage" in body:
            run.tolerated_percentage = float(body["toleratedFailurePercentage"])
        return {}

    def stop_child(self, arn: str, error: str | None, cause: str | None) -> float | None:
        """StopExecution of a child: abort it if it has not ended; its stop date."""
        _run, child = self.children[arn]
        if child.status in ("PENDING", "RUNNING") and child.stop_requested is None:
            child.stop_requested = (error, cause)
            if child.task is not None:
                child.task.cancel()
        return child.stopped

    def child_history(self, arn: str) -> list[HistoryEntry] | None:
        found = self.children.get(arn)
        return None if found is None else found[1].history

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
