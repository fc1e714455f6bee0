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
``maxConcurrency`` applies to children not yet started (its tolerated failures to the
failures still to come). An ended Map Run is kept in
stepfunctions.db (one JSON document, in the group commit) and loaded at start; memory is
bounded by ``MAX_CHILDREN`` and ``MAX_CHILD_EVENTS`` (the oldest ended runs are let go).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lamina.errors import AwsServiceError
from lamina.services.stepfunctions.records import HistoryEntry
from lamina.workflows.jsonpath import Json
from lamina.workflows.runner import Record, after_latest
from lamina.workflows.steps import Event, Fail, JsonDoc, Ok, Outcome, RunBranches, Succeed

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


def _entry_doc(e: HistoryEntry) -> list[Any]:
    details = {k: v.text() if isinstance(v, JsonDoc) else v for k, v in e.details.items()}
    return [e.id, e.type, e.timestamp, e.previous, details]


def run_doc(run: MapRunRecord) -> str:
    """An ended Map Run as the JSON document stepfunctions.db keeps."""
    return json.dumps({
        "arn": run.arn, "execution": run.execution_arn, "machine": run.state_machine_arn,
        "started": run.started, "stopped": run.stopped, "status": run.status,
        "maxConcurrency": run.max_concurrency, "toleratedCount": run.tolerated_count,
        "toleratedPercentage": run.tolerated_percentage, "childType": run.child_type,
        "children": [
            {"arn": c.arn, "name": c.name, "input": c.input, "status": c.status,
             "started": c.started, "stopped": c.stopped, "output": c.output, "error": c.error,
             "cause": c.cause, "history": [_entry_doc(e) for e in c.history]}
            for c in run.children
        ],
    }, separators=(",", ":"))  # fmt: skip


def run_from_doc(text: str) -> MapRunRecord:
    d = json.loads(text)
    run = MapRunRecord(
        d["arn"], d["execution"], d["machine"], d["started"], d["maxConcurrency"],
        d["toleratedCount"], d["toleratedPercentage"], d["childType"],
        status=d["status"], stopped=d["stopped"],
    )  # fmt: skip
    for c in d["children"]:
        child = ChildExecution(c["arn"], c["name"], c["input"], c["status"], c["started"],
                               c["stopped"], c["output"], c["error"], c["cause"])  # fmt: skip
        child.history = [HistoryEntry(*e) for e in c["history"]]
        run.children.append(child)
    return run


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
            last = after_latest(len(history)) if previous is None else previous
            for event in events:
                n = len(history) + 1
                history.append(HistoryEntry(n, event.type, ts, last, event.details))
                last = n
            runs.events += len(events)
            return last

        return record

    def history(self, index: int) -> list[HistoryEntry] | None:
        if self.run.child_type == "EXPRESS":
            return None
        return self.run.children[index].history

    def attach(self, index: int, task: asyncio.Future[Succeed | Fail]) -> None:
        child = self.run.children[index]
        child.task = task
        if child.stop_requested is not None:  # stopped before it started
            task.cancel()

    def limit(self) -> int:
        return self.run.max_concurrency

    def tolerance(self) -> tuple[float, float]:
        return self.run.tolerated_count, self.run.tolerated_percentage

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
        if self.runs.save is not None:
            self.runs.save(self.run)
        for child in self.run.children:  # stopped with the run (Map without tolerance)
            if child.status in ("PENDING", "RUNNING"):
                child.status = "FAILED" if child.status == "RUNNING" else child.status


class MapRuns:
    """Every Map Run of this server's life, by ARN and by parent execution."""

    def __init__(self, save: Callable[[MapRunRecord], None] | None = None) -> None:
        self.save = save  # keeps an ended Map Run (stepfunctions.db)
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
        self._forget(step.map_run_arn)  # run again after a restart: the new run replaces it
        kind = "express" if step.child_type == "EXPRESS" else "execution"
        base = step.map_run_arn.replace(":mapRun:", f":{kind}:").rsplit(":", 1)[0]
        for branch in step.branches:
            name = str(uuid.uuid4())
            run.children.append(ChildExecution(f"{base}:{name}", name, branch.input))
        self._add(run)
        return MapRunTracker(run, self)

    def load(self, docs: list[str]) -> None:
        """The ended Map Runs kept in stepfunctions.db (oldest first), within the bounds."""
        for doc in docs:
            self._add(run_from_doc(doc))

    def _add(self, run: MapRunRecord) -> None:
        self.runs[run.arn] = run
        self.by_execution.setdefault(run.execution_arn, []).append(run)
        for child in run.children:
            self.children[child.arn] = (run, child)
            self.events += len(child.history)
        self._prune()

    def forget_execution(self, execution_arn: str) -> None:
        """Forget the Map Runs of an execution deleted for its age (.retention)."""
        for run in list(self.by_execution.get(execution_arn, ())):
            self._forget(run.arn)

    def _forget(self, arn: str) -> None:
        run = self.runs.pop(arn, None)
        if run is None:
            return
        self.by_execution[run.execution_arn].remove(run)
        if not self.by_execution[run.execution_arn]:
            del self.by_execution[run.execution_arn]
        for child in run.children:
            self.children.pop(child.arn, None)
            self.events -= len(child.history)

    def _prune(self) -> None:
        """Forget the oldest ended Map Runs while more than MAX_CHILDREN children are kept."""
        for arn in list(self.runs):
            if len(self.children) <= MAX_CHILDREN and self.events <= MAX_CHILD_EVENTS:
                return
            if self.runs[arn].status != "RUNNING":
                self._forget(arn)

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
