"""The States Language interpreter: (definition, frame, outcome, now) → the next step.

Pure: no clocks, sockets or sleeps. ``now`` (epoch seconds on the schedule clock) is passed
in, task tokens and randomness come from what the engine was built with, and everything
that must happen in the world is returned as a :mod:`~lamina.workflows.steps` value.
The driver loop is::

    step = engine.enter(machine, frame, now)
    Move → enter the next frame;  RunTask → call, then task_done(...)
    RunBranches → run sub-executions, then branches_done(...)
    Sleep → wait, then take step.then;  RetryLater → wait, then attempt(...)
    Succeed / Fail → the (sub-)execution is over
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

from lamina.workflows.choice import evaluate_rule, parse_timestamp
from lamina.workflows.definition import (
    ChoiceState,
    FailState,
    Machine,
    MapState,
    ParallelState,
    PassState,
    QueryLanguage,
    Retryable,
    State,
    SucceedState,
    TaskState,
    WaitState,
)
from lamina.workflows.distributed import batch, result_files
from lamina.workflows.errors import QueryEvaluationError, StatesError
from lamina.workflows.evaluation import Evaluation, ExecutionInfo, iso
from lamina.workflows.jsonata_lang import is_expression, unexpected_type
from lamina.workflows.jsonpath import Json, compile_path, write_result
from lamina.workflows.retry import GiveUp, decide_retry, find_catcher
from lamina.workflows.steps import (
    Branch,
    Err,
    Event,
    Fail,
    Frame,
    JsonDoc,
    Move,
    Ok,
    Outcome,
    ReadItems,
    RetryLater,
    RunBranches,
    RunTask,
    Sleep,
    Step,
    Succeed,
    WriteResults,
    doc,
    with_events,
)


def resource_parts(resource: str) -> tuple[str, str]:
    """History's ``resourceType`` and ``resource`` for a Task's ``Resource``."""
    if resource.startswith("arn:aws:states:::"):
        service, _, action = resource[len("arn:aws:states:::") :].rpartition(":")
        return service, action
    if ":lambda:" in resource:
        return "lambda", resource
    if ":activity:" in resource:
        return "activity", resource
    return "unknown", resource


def _text(value: Json) -> str:
    return json.dumps(value, separators=(",", ":"))


__all__ = ["Engine", "ExecutionInfo", "iso", "resource_parts"]


class Engine(Evaluation):
    """Runs one execution's states. ``new_token()`` makes task tokens."""

    # -- entering a state -----------------------------------------------------------------
    def start(self, machine: Machine, input: Json, now: float) -> Step:
        return Move(Frame(machine.start_at, input, {}, now))

    def enter(self, machine: Machine, frame: Frame, now: float) -> Step:
        state = machine.states[frame.state]
        frame = Frame(frame.state, frame.input, frame.variables, now, (), frame.map_item)
        entered = Event(_KINDS[type(state)] + "StateEntered",
                        {"name": state.name, "input": doc(frame.input)})  # fmt: skip
        try:
            step = self._enter(machine, state, frame, now)
        except StatesError as exc:
            step = self._state_error(machine, state, frame, exc)
        return _prepend(step, (entered,))

    def _state_error(
        self, machine: Machine, state: State, frame: Frame, exc: StatesError, retry: bool = True
    ) -> Step:
        """The state's own processing failed: retried, caught, or — uncaught, a JSONata
        evaluation error — recorded as ``EvaluationFailed``."""
        step = self._failed(machine, state, frame, Err(exc.error, exc.cause), retry=retry)
        if exc.error == _QUERY_ERROR and isinstance(step, Fail):
            step = _prepend(step, _evaluation_failed(state, exc))
        return step

    def _enter(self, machine: Machine, state: State, frame: Frame, now: float) -> Step:
        if isinstance(state, (TaskState, ParallelState, MapState)):
            return self.attempt(machine, frame)
        if isinstance(state, PassState):
            return self._pass(state, frame)
        if isinstance(state, ChoiceState):
            return self._choice(state, frame)
        if isinstance(state, WaitState):
            return self._wait(state, frame, now)
        if isinstance(state, SucceedState):
            output = self._finish_plain(state, frame)
            return Succeed(output, (_exited(state, output),))
        if isinstance(state, FailState):
            return self._fail_state(state, frame)
        raise StatesError("States.Runtime", f"Unknown state type of {state.name}")

    def _effective_input(self, state: State, frame: Frame, token: str | None = None) -> Json:
        if state.language is QueryLanguage.JSONATA:
            args = state.parameters if isinstance(state, Retryable) else None
            if args is None:
                return frame.input
            return self._jsonata(frame, token).template(args, "Arguments")
        scope = self._scope(frame, token)
        data = self._read(state.input_path, frame.input, scope)
        params = state.parameters if isinstance(state, (Retryable, PassState)) else None
        if params is not None:
            data = self._template(params, data, scope)
        return data

    def inspect(self, machine: Machine, frame: Frame, result: Outcome | None) -> dict[str, Json]:
        """TestState's ``inspectionData``: the value after each processing step of the state
        ``frame`` enters (``result``: its task's outcome, None if it has none). A step that
        fails to evaluate, and the ones after it, are left out."""
        state = machine.states[frame.state]
        out: dict[str, Json] = {}
        try:
            if state.language is QueryLanguage.JSONATA:
                args = state.parameters if isinstance(state, Retryable) else None
                if args is not None:
                    out["afterArguments"] = self._jsonata(frame).template(args, "Arguments")
                if isinstance(result, Ok):
                    out["result"] = result.value
                return out
            scope = self._scope(frame)
            data = self._read(state.input_path, frame.input, scope)
            out["afterInputPath"] = data
            params = state.parameters if isinstance(state, (Retryable, PassState)) else None
            if params is not None:
                data = self._template(params, data, scope)
            out["afterParameters"] = data
            value: Json
            if isinstance(state, PassState):
                value = state.result if state.has_result else data
            elif isinstance(result, Ok):
                value = result.value
            else:
                return out
            out["result"] = value
            if isinstance(state, Retryable) and state.result_selector is not None:
                value = self._template(state.result_selector, value, scope)
                out["afterResultSelector"] = value
            if isinstance(state, (Retryable, PassState)):
                out["afterResultPath"] = write_result(frame.input, state.result_path, value)
        except StatesError:
            pass
        return out

    def _output(
        self, state: State, frame: Frame, result: Json, *, has_result: bool
    ) -> tuple[Json, dict[str, Json]]:
        """The state's output and the variables after its ``Assign``."""
        if state.language is QueryLanguage.JSONATA:
            states: dict[str, Json] = {"result": result} if has_result else {}
            ev = self._jsonata(frame, **states)
            output = ev.template(state.output, "Output") if state.output is not None else (
                result if has_result else frame.input
            )  # fmt: skip
            assigned = ev.template(state.assign, "Assign") if state.assign is not None else None
        else:
            scope = self._scope(frame)
            result_path = getattr(state, "result_path", "$")
            combined = write_result(frame.input, result_path, result) if has_result else result
            output = self._read(state.output_path, combined, scope)
            assigned = (
                self._template(state.assign, result, scope) if state.assign is not None else None
            )
        variables = frame.variables
        if assigned:
            if not isinstance(assigned, dict):
                raise StatesError("States.Runtime", f"{state.name}: Assign must be an object")
            variables = {**frame.variables, **assigned}
        return output, variables

    def _next(self, state: State, output: Json, variables: dict[str, Json]) -> Move | Succeed:
        event = _exited(state, output)
        if state.end or state.next is None:
            return Succeed(output, (event,))
        return Move(Frame(state.next, output, variables), (event,))

    def _finish_plain(self, state: State, frame: Frame) -> Json:
        if state.language is QueryLanguage.JSONATA:
            output, _ = self._output(state, frame, None, has_result=False)
            return output
        data = self._read(state.input_path, frame.input, self._scope(frame))
        return self._read(state.output_path, data, self._scope(frame))

    def _pass(self, state: PassState, frame: Frame) -> Step:
        if state.language is QueryLanguage.JSONATA:
            output, variables = self._output(state, frame, None, has_result=False)
            return self._next(state, output, variables)
        effective = self._effective_input(state, frame)
        result = state.result if state.has_result else effective
        output, variables = self._output(state, frame, result, has_result=True)
        return self._next(state, output, variables)

    def _choice(self, state: ChoiceState, frame: Frame) -> Step:
        jsonata = state.language is QueryLanguage.JSONATA
        scope = self._scope(frame)
        data = frame.input if jsonata else self._read(state.input_path, frame.input, scope)
        for choice in state.choices:
            if jsonata:
                ev = self._jsonata(frame)
                cond = choice.rule.expression if hasattr(choice.rule, "expression") else None
                hit = (
                    ev.expression(cond, "Condition")
                    if isinstance(cond, str) and is_expression(cond)
                    else cond
                )
                if not isinstance(hit, bool):
                    raise StatesError(
                        "States.QueryEvaluationError",
                        f"{state.name}: a Condition must evaluate to a boolean, got {hit!r}",
                    )
            else:
                hit = evaluate_rule(choice.rule, data, scope)
            if hit:
                return self._choose(state, frame, choice.next, choice.assign, choice.output, data)
        if state.default is None:
            return Fail(
                "States.NoChoiceMatched",
                f"No Choice Rule matched for state {state.name!r} and no Default was set",
            )
        return self._choose(state, frame, state.default, None, None, data)

    def _choose(
        self,
        state: ChoiceState,
        frame: Frame,
        target: str,
        assign: Json,
        output_t: Json,
        data: Json,
    ) -> Step:
        if state.language is QueryLanguage.JSONATA:
            ev = self._jsonata(frame)
            template = output_t if output_t is not None else state.output
            output = ev.template(template, "Output") if template is not None else frame.input
            merged = [a for a in (state.assign, assign) if a is not None]
            assigned: dict[str, Json] = {}
            for a in merged:
                assigned.update(ev.template(a, "Assign"))
        else:
            scope = self._scope(frame)
            output = self._read(state.output_path, data, scope)
            assigned = {}
            for a in (state.assign, assign):
                if a is not None:
                    assigned.update(self._template(a, data, scope))
        variables = {**frame.variables, **assigned} if assigned else frame.variables
        return Move(Frame(target, output, variables), (_exited(state, output),))

    def _wait(self, state: WaitState, frame: Frame, now: float) -> Step:
        jsonata = state.language is QueryLanguage.JSONATA
        scope = self._scope(frame)
        seconds: Json = state.seconds
        timestamp: Json = state.timestamp
        if jsonata:
            ev = self._jsonata(frame)
            seconds = ev.expression(seconds, "Seconds") if is_expression(seconds) else seconds
            if is_expression(timestamp):
                timestamp = ev.expression(timestamp, "Timestamp")
        elif state.seconds_path is not None:
            seconds = compile_path(state.seconds_path).read(frame.input, scope)
        elif state.timestamp_path is not None:
            timestamp = compile_path(state.timestamp_path).read(frame.input, scope)
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                raise StatesError(
                    "States.Runtime",
                    f"{state.name}: Seconds must be a non-negative number, got {seconds!r}",
                )
            until = now + float(seconds)
        else:
            when = parse_timestamp(timestamp)
            if when is None and jsonata:  # as AWS words it
                raise QueryEvaluationError(
                    "The Timestamp field cannot be parsed as an ISO-8601 extended offset "
                    f"date-time format string: {timestamp}",
                    "Timestamp",
                )
            if when is None:
                raise StatesError(
                    "States.Runtime", f"{state.name}: invalid Timestamp {timestamp!r}"
                )
            until = when.timestamp()
        if jsonata:
            output, variables = self._output(state, frame, None, has_result=False)
        else:
            data = self._read(state.input_path, frame.input, scope)
            output = self._read(state.output_path, data, scope)
            variables = frame.variables
            if state.assign is not None:
                variables = {**variables, **self._template(state.assign, data, scope)}
        then = self._next(state, output, variables)
        return Sleep(until, replace(then, events=()), (), then.events)

    def _fail_state(self, state: FailState, frame: Frame) -> Step:
        error, cause = state.error, state.cause
        if state.language is QueryLanguage.JSONATA:
            ev = self._jsonata(frame)
            error = ev.expression(error, "Error") if is_expression(error) else error
            cause = ev.expression(cause, "Cause") if is_expression(cause) else cause
        else:
            scope = self._scope(frame)
            for attr in ("error_path", "cause_path"):
                path = getattr(state, attr)
                if path is None:
                    continue
                value = (
                    self._intrinsic(path, frame.input, scope)
                    if path.startswith("States.")
                    else compile_path(path).read(frame.input, scope)
                )
                if attr == "error_path":
                    error = value
                else:
                    cause = value
        return Fail("" if error is None else str(error), "" if cause is None else str(cause))

    # -- Task, Parallel, Map ----------------------------------------------------------------
    def attempt(self, machine: Machine, frame: Frame) -> Step:
        """Start (or, after ``RetryLater``, restart) a Task, Parallel or Map state's work."""
        state = machine.states[frame.state]
        try:
            if isinstance(state, TaskState):
                return self._task(state, frame)
            if isinstance(state, ParallelState):
                return self._parallel(state, frame)
            if isinstance(state, MapState):
                return self._map(state, frame)
        except StatesError as exc:
            return self._state_error(machine, state, frame, exc)
        raise StatesError("States.Runtime", f"{state.name} has no work to attempt")

    def _task(self, state: TaskState, frame: Frame) -> Step:
        activity = _activity(state.resource)
        callback = state.resource.endswith(".waitForTaskToken")
        token = self.new_token() if callback or activity else None
        payload = self._effective_input(state, frame, token)
        timeout = self._number(state, frame, state.timeout, state.timeout_path, "TimeoutSeconds")
        heartbeat = self._number(
            state, frame, state.heartbeat, state.heartbeat_path, "HeartbeatSeconds"
        )
        rtype, res = resource_parts(state.resource)
        scheduled: dict[str, Json] = {
            "resourceType": rtype,
            "resource": res,
            "region": self.info.state_machine_arn.split(":")[3],
            "parameters": JsonDoc(payload),
        }
        if timeout is not None:
            scheduled["timeoutInSeconds"] = int(timeout)
        if heartbeat is not None:
            scheduled["heartbeatInSeconds"] = int(heartbeat)
        events: tuple[Event, ...] = (
            Event("TaskScheduled", scheduled),
            Event("TaskStarted", {"resourceType": rtype, "resource": res}),
        )
        if _plain_lambda(state.resource):
            details: dict[str, Json] = {"resource": state.resource, "input": JsonDoc(payload)}
            if timeout is not None:
                details["timeoutInSeconds"] = int(timeout)
            events = (Event("LambdaFunctionScheduled", details), Event("LambdaFunctionStarted"))
        elif activity:
            details = {"resource": state.resource, "input": JsonDoc(payload)}
            if timeout is not None:
                details["timeoutInSeconds"] = int(timeout)
            if heartbeat is not None:
                details["heartbeatInSeconds"] = int(heartbeat)
            events = (Event("ActivityScheduled", details),)
        return RunTask(frame, state.resource, payload, timeout, heartbeat, token, events)

    def _parallel(self, state: ParallelState, frame: Frame) -> Step:
        data = self._effective_input(state, frame)
        branches = tuple(Branch(b, data, dict(frame.variables)) for b in state.branches)
        return RunBranches(frame, "Parallel", branches, 0, 0, 0, (Event("ParallelStateStarted"),))

    def _map(self, state: MapState, frame: Frame) -> Step:
        jsonata = state.language is QueryLanguage.JSONATA
        scope = self._scope(frame)
        data = frame.input if jsonata else self._read(state.input_path, frame.input, scope)
        if state.reader is not None:
            params = state.reader.parameters
            if jsonata:
                params = self._jsonata(frame).template(params, "ItemReader/Arguments")
            elif params is not None:
                params = self._template(params, data, scope)
            return ReadItems(frame, state.reader, params)
        if jsonata:
            items = (
                self._jsonata(frame).template(state.items, "Items")
                if state.items is not None
                else data
            )
        else:
            items = self._read(state.items_path, data, scope)
        return self._map_items(state, frame, data, items)

    def items_read(self, machine: Machine, frame: Frame, outcome: Outcome) -> Step:
        """The driver's report of a ``ReadItems``: the items, or why they could not be read."""
        state = machine.states[frame.state]
        assert isinstance(state, MapState)
        if isinstance(outcome, Err):
            return self._failed(machine, state, frame, outcome)
        try:
            data = frame.input
            if state.language is QueryLanguage.JSONPATH:
                data = self._read(state.input_path, frame.input, self._scope(frame))
            return self._map_items(state, frame, data, outcome.value)
        except StatesError as exc:
            return self._state_error(machine, state, frame, exc)

    def _map_items(self, state: MapState, frame: Frame, data: Json, items: Json) -> Step:
        jsonata = state.language is QueryLanguage.JSONATA
        if not isinstance(items, list):
            if jsonata and isinstance(state.items, str) and is_expression(state.items):
                raise unexpected_type(state.items, "Items", "array", items)
            if jsonata:  # as AWS words it
                raise QueryEvaluationError(
                    f"Map state input must be an array but was: {_text(items)[:200]}", "Items"
                )
            raise StatesError(
                "States.Runtime",
                f"{state.name}: the items to iterate must be an array, got {_text(items)[:200]}",
            )
        selected = []
        for index, value in enumerate(items):
            item = {"Index": index, "Value": value}
            item_frame = replace(frame, map_item=item)
            if state.item_selector is None:
                selected.append(value)
            elif jsonata:
                selected.append(
                    self._jsonata(item_frame).template(state.item_selector, "ItemSelector")
                )
            else:
                selected.append(self._template(state.item_selector, data, self._scope(item_frame)))
        if state.batcher is not None:
            b = state.batcher
            max_items = self._number(
                state, frame, b.max_items, b.max_items_path, "MaxItemsPerBatch"
            )
            max_bytes = self._number(
                state, frame, b.max_bytes, b.max_bytes_path, "MaxInputBytesPerBatch"
            )
            batch_input = b.batch_input
            if batch_input is not None:
                batch_input = (
                    self._jsonata(frame).template(batch_input, "ItemBatcher/BatchInput")
                    if jsonata
                    else self._template(batch_input, data, self._scope(frame))
                )
            selected = batch(
                selected,
                None if max_items is None else int(max_items),
                None if max_bytes is None else int(max_bytes),
                batch_input,
            )
        assert state.processor is not None
        branches = tuple(
            Branch(state.processor, value, dict(frame.variables), {"Index": i})
            for i, value in enumerate(selected)
        )
        mc = (
            self._number(
                state, frame, state.max_concurrency, state.max_concurrency_path, "MaxConcurrency"
            )
            or 0
        )
        tc, tp = self._tolerance(state, frame)
        started = Event("MapStateStarted", {"length": len(branches)})
        if not state.distributed:
            return RunBranches(frame, "Map", branches, int(mc), tc, tp, (started,))
        map_run_arn = self._map_run_arn(state)
        run = Event("MapRunStarted", {"mapRunArn": map_run_arn})
        return RunBranches(frame, "Map", branches, int(mc), tc, tp, (started, run),
                           map_run_arn, state.execution_type)  # fmt: skip

    def _map_run_arn(self, state: MapState) -> str:
        run_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        label = state.label or state.name
        map_run = self.info.state_machine_arn.replace(":stateMachine:", ":mapRun:")
        return f"{map_run}/{label}:{run_id}"

    def task_submitted(self, step: RunTask, answer: Json) -> Event:
        """``TaskSubmitted``: a ``.waitForTaskToken`` or ``.sync`` task's call was answered."""
        rtype, res = resource_parts(step.resource)
        return Event("TaskSubmitted", {"resourceType": rtype, "resource": res,
                                       "output": JsonDoc(answer),
                                       "outputDetails": {"truncated": False}})  # fmt: skip

    def task_done(self, machine: Machine, frame: Frame, outcome: Outcome) -> Step:
        """The driver's report of a ``RunTask``."""
        state = machine.states[frame.state]
        assert isinstance(state, TaskState)
        rtype, res = resource_parts(state.resource)
        prefix, ids = "Task", {"resourceType": rtype, "resource": res}
        if _plain_lambda(state.resource):
            prefix, ids = "LambdaFunction", {}
        elif _activity(state.resource):
            prefix, ids = "Activity", {}
        if isinstance(outcome, Err):
            timed_out = outcome.error in ("States.Timeout", "States.HeartbeatTimeout")
            kind = prefix + ("TimedOut" if timed_out else "Failed")
            event = Event(kind, {**ids, "error": outcome.error, "cause": outcome.cause})
            return _prepend(self._failed(machine, state, frame, outcome), (event,))
        event = Event(f"{prefix}Succeeded", {**ids, "output": JsonDoc(outcome.value)})
        return _prepend(self._succeeded(machine, state, frame, outcome.value), (event,))

    def branches_done(
        self,
        machine: Machine,
        frame: Frame,
        outcomes: list[Outcome],
        inputs: list[Json] | None = None,
        map_run_arn: str | None = None,
        tolerance: tuple[float, float] | None = None,
    ) -> Step:
        """The driver's report of a ``RunBranches``: one outcome per branch or item (and,
        for a Map with a ``ResultWriter``, each item's input; for a distributed Map, its
        Map Run and its tolerated failure count and percentage as they stand now, which
        UpdateMapRun may have changed)."""
        step = self._branches_done(machine, frame, outcomes, inputs, map_run_arn, tolerance)
        if map_run_arn is None:
            return step
        ok = not any(e.type.endswith("StateFailed") for e in step.events)
        return _prepend(step, (Event("MapRunSucceeded" if ok else "MapRunFailed", {}),))

    def _branches_done(
        self,
        machine: Machine,
        frame: Frame,
        outcomes: list[Outcome],
        inputs: list[Json] | None,
        map_run_arn: str | None,
        tolerance: tuple[float, float] | None = None,
    ) -> Step:
        state = machine.states[frame.state]
        assert isinstance(state, (ParallelState, MapState))
        kind = "Parallel" if isinstance(state, ParallelState) else "Map"
        failures = [o for o in outcomes if isinstance(o, Err)]
        if failures and isinstance(state, MapState):
            if tolerance is not None:  # a distributed Map's, as UpdateMapRun left it
                tc, tp = tolerance
            else:  # the fixed numbers or their paths' values (the state's input)
                tc, tp = self._tolerance(state, frame)
            if tc or tp:
                over = len(failures) > tc and len(failures) * 100 > tp * len(outcomes)
                if over:
                    failure = Err("States.ExceedToleratedFailureThreshold",
                                  "The specified tolerated failure threshold was exceeded")  # fmt: skip
                    return _prepend(
                        self._failed(machine, state, frame, failure), (Event(f"{kind}StateFailed"),)
                    )
                failures = []
        if failures:
            return _prepend(
                self._failed(machine, state, frame, failures[0]), (Event(f"{kind}StateFailed"),)
            )
        if isinstance(state, MapState) and state.writer is not None:
            return _prepend(
                self._write_results(machine, state, frame, outcomes, inputs or [], map_run_arn),
                (Event("MapStateSucceeded"),),
            )
        results = [
            o.value if isinstance(o, Ok) else {"Error": o.error, "Cause": o.cause} for o in outcomes
        ]
        return _prepend(
            self._succeeded(machine, state, frame, results), (Event(f"{kind}StateSucceeded"),)
        )

    def _write_results(
        self, machine: Machine, state: MapState, frame: Frame, outcomes: list[Outcome],
        inputs: list[Json], map_run_arn: str | None = None,
    ) -> Step:  # fmt: skip
        assert state.writer is not None
        try:
            params = state.writer.parameters
            if state.language is QueryLanguage.JSONATA:
                params = self._jsonata(frame).template(params, "ResultWriter/Arguments")
            elif params is not None:
                data = self._read(state.input_path, frame.input, self._scope(frame))
                params = self._template(params, data, self._scope(frame))
        except StatesError as exc:
            return self._state_error(machine, state, frame, exc)
        if not isinstance(params, dict) or not isinstance(params.get("Bucket"), str):
            return self._failed(machine, state, frame,
                                Err("States.ResultWriterFailed", "ResultWriter needs a Bucket"))  # fmt: skip
        map_run_arn = map_run_arn or self._map_run_arn(state)
        run_id = map_run_arn.rsplit(":", 1)[-1]
        pairs = [
            (True, o.value) if isinstance(o, Ok) else (False, {"Error": o.error, "Cause": o.cause})
            for o in outcomes
        ]
        prefix = str(params.get("Prefix") or "")
        files = result_files(prefix, run_id, map_run_arn, inputs, pairs)
        manifest = f"{prefix.rstrip('/')}/{run_id}" if prefix else run_id
        result = {
            "MapRunArn": map_run_arn,
            "ResultWriterDetails": {"Bucket": params["Bucket"], "Key": f"{manifest}/manifest.json"},
        }
        return WriteResults(frame, params, files, result)

    def results_written(self, machine: Machine, frame: Frame, written: WriteResults,
                        outcome: Outcome) -> Step:  # fmt: skip
        """The driver's report of a ``WriteResults``."""
        state = machine.states[frame.state]
        assert isinstance(state, MapState)
        if isinstance(outcome, Err):
            return self._failed(machine, state, frame,
                                Err("States.ResultWriterFailed", outcome.cause))  # fmt: skip
        return self._succeeded(machine, state, frame, written.result)

    def _succeeded(self, machine: Machine, state: Retryable, frame: Frame, result: Json) -> Step:
        try:
            if state.language is QueryLanguage.JSONPATH and state.result_selector is not None:
                result = self._template(state.result_selector, result, self._scope(frame))
            output, variables = self._output(state, frame, result, has_result=True)
        except StatesError as exc:
            return self._state_error(machine, state, frame, exc, retry=False)
        return self._next(state, output, variables)

    def _failed(
        self, machine: Machine, state: State, frame: Frame, err: Err, *, retry: bool = True
    ) -> Step:
        if not isinstance(state, Retryable):
            return Fail(err.error, err.cause)
        if retry:
            decision = decide_retry(state.retry, frame.retries, err.error, self.rng)
            if not isinstance(decision, GiveUp):
                return RetryLater(replace(frame, retries=decision.attempts), decision.delay_s)
        catcher = find_catcher(state.catch, err.error)
        if catcher is None:
            return Fail(err.error, err.cause)
        error_output = {"Error": err.error, "Cause": err.cause}
        try:
            if state.language is QueryLanguage.JSONATA:
                ev = self._jsonata(frame, errorOutput=error_output)
                output = (
                    ev.template(catcher.output, "Output")
                    if catcher.output is not None
                    else error_output
                )
                assigned = (
                    ev.template(catcher.assign, "Assign") if catcher.assign is not None else None
                )
            else:
                output = write_result(frame.input, catcher.result_path, error_output)
                assigned = (
                    self._template(catcher.assign, error_output, self._scope(frame))
                    if catcher.assign is not None else None
                )  # fmt: skip
        except StatesError as exc:
            return Fail(exc.error, exc.cause)
        variables = {**frame.variables, **assigned} if assigned else frame.variables
        return Move(Frame(catcher.next, output, variables), (_exited(state, output),))


def _plain_lambda(resource: str) -> bool:
    return resource.startswith("arn:aws:lambda:")


def _activity(resource: str) -> bool:
    return resource.startswith("arn:aws:states:") and ":activity:" in resource


def _exited(state: State, output: Json) -> Event:
    return Event(_KINDS[type(state)] + "StateExited", {"name": state.name, "output": doc(output)})


_QUERY_ERROR = "States.QueryEvaluationError"


def _evaluation_failed(state: State, exc: StatesError) -> tuple[Event, ...]:
    """A JSONata evaluation error that fails its state, as AWS records it (histories of
    LocalStack's AWS-recorded snapshots: test_assign_reference_variables,
    test_base_scenarios' items_eval_jsonata_fail, test_math_operations_jsonata):
    ``EvaluationFailed`` (error, cause, the field's ``location`` when known, state), then
    the state's Failed event if its kind has one (Map, Parallel) — no ``TaskFailed`` for
    a Task."""
    details: dict[str, Json] = {"error": exc.error, "cause": exc.cause}
    if isinstance(exc, QueryEvaluationError) and exc.location is not None:
        details["location"] = exc.location
    details["state"] = state.name
    failed = (Event(f"{_KINDS[type(state)]}StateFailed"),)
    return (Event("EvaluationFailed", details),) + (
        failed if isinstance(state, (MapState, ParallelState)) else ()
    )


def _prepend(step: Step, events: tuple[Event, ...]) -> Step:
    return with_events(step, events)


_KINDS: dict[type[State], str] = {
    cls: cls.__name__.removesuffix("State")
    for cls in (PassState, TaskState, ChoiceState, WaitState, SucceedState, FailState,
                ParallelState, MapState)
}  # fmt: skip
