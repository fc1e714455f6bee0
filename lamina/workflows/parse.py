"""Definition text → :class:`~lamina.workflows.definition.Machine`, or ``InvalidDefinition``.

Everything Step Functions checks when a state machine is created is checked here, and
every problem is reported at once with its location, the way the service words it
(``MISSING_TRANSITION_TARGET: Missing 'Next' target: Foo at /States/Bar/Next``): unknown
fields, missing transitions, targets that do not exist, unreachable states, path syntax,
intrinsic and JSONata syntax, Retry/Catch shape, Choice rules and Wait fields.
"""

from __future__ import annotations

import json
from typing import Any

from lamina.workflows.checks import Checker
from lamina.workflows.definition import (
    AllOf,
    AnyOf,
    Choice,
    ChoiceComparison,
    ChoiceCondition,
    ChoiceState,
    FailState,
    Machine,
    MapState,
    NoneOf,
    ParallelState,
    PassState,
    QueryLanguage,
    Rule,
    State,
    SucceedState,
    TaskState,
    WaitState,
)
from lamina.workflows.errors import InvalidDefinition
from lamina.workflows.jsonata_lang import (
    is_expression,
)
from lamina.workflows.parse_parts import (
    read_batcher,
    read_catchers,
    read_reader,
    read_retriers,
    read_writer,
)

_COMMON = {"Type", "Comment", "QueryLanguage", "Assign"}
_FLOW = {"Next", "End"}
_IO = {"InputPath", "OutputPath"}
_RESULT = {"ResultPath", "Parameters", "ResultSelector", "Retry", "Catch"}
_FIELDS: dict[str, set[str]] = {
    "Pass": _COMMON | _FLOW | _IO | {"ResultPath", "Parameters", "Result", "Output"},
    "Task": _COMMON | _FLOW | _IO | _RESULT | {
        "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds",
        "HeartbeatSecondsPath", "Credentials", "Arguments", "Output",
    },
    "Choice": _COMMON | _IO | {"Choices", "Default", "Output"},
    "Wait": _COMMON | _FLOW | _IO | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath",
                                     "Output"},
    "Succeed": _COMMON | _IO | {"Output"},
    "Fail": {"Type", "Comment", "QueryLanguage", "Error", "Cause", "ErrorPath", "CausePath"},
    "Parallel": _COMMON | _FLOW | _IO | _RESULT | {"Branches", "Arguments", "Output"},
    "Map": _COMMON | _FLOW | _IO | _RESULT | {
        "ItemProcessor", "Iterator", "ItemsPath", "Items", "ItemSelector", "ItemReader",
        "ItemBatcher", "ResultWriter", "MaxConcurrency", "MaxConcurrencyPath",
        "ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage",
        "ToleratedFailurePercentagePath", "Label", "Arguments", "Output",
    },
}  # fmt: skip
_JSONPATH_ONLY = {
    "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "ItemsPath",
    "TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath", "TimestampPath",
    "ErrorPath", "CausePath", "MaxConcurrencyPath", "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath", "Iterator",
}  # fmt: skip
_JSONATA_ONLY = {"Arguments", "Output", "Items"}
_TOP = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
_COMPARATORS = {
    f"{kind}{op}{suffix}"
    for kind in ("String", "Numeric", "Timestamp")
    for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
    for suffix in ("", "Path")
} | {"BooleanEquals", "BooleanEqualsPath", "StringMatches", "IsNull", "IsPresent",
     "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"}  # fmt: skip


def parse_definition(text: str) -> Machine:
    """Parse and validate a definition; raises :class:`InvalidDefinition`."""
    try:
        raw = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise InvalidDefinition([f"INVALID_JSON_DESCRIPTION: {exc}"]) from None
    checker = Checker()
    if not isinstance(raw, dict):
        raise InvalidDefinition(["SCHEMA_VALIDATION_FAILED: The definition must be an object"])
    for key in raw:
        if key not in _TOP:
            checker.add("SCHEMA_VALIDATION_FAILED", f"Field '{key}' is not supported", "/")
    language = _language(raw.get("QueryLanguage", "JSONPath"), QueryLanguage.JSONPATH, checker, "/")
    timeout = raw.get("TimeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        checker.add("SCHEMA_VALIDATION_FAILED", "TimeoutSeconds must be a positive integer",
                    "/TimeoutSeconds")  # fmt: skip
    machine = _machine(raw, language, checker, "")
    if checker.problems:
        raise InvalidDefinition(checker.problems)
    return Machine(machine.start_at, machine.states, language, timeout, str(raw.get("Comment", "")))


def _language(value: Any, default: QueryLanguage, checker: Checker, where: str) -> QueryLanguage:
    try:
        return QueryLanguage(value)
    except ValueError:
        checker.add("SCHEMA_VALIDATION_FAILED",
                    f"QueryLanguage must be JSONPath or JSONata, not {value!r}", where)  # fmt: skip
        return default


def _machine(raw: dict[str, Any], language: QueryLanguage, checker: Checker, where: str) -> Machine:
    start = raw.get("StartAt")
    states_raw = raw.get("States")
    if not isinstance(start, str):
        checker.add(
            "SCHEMA_VALIDATION_FAILED", "These fields are required: [StartAt]", where or "/"
        )
        start = ""
    if not isinstance(states_raw, dict) or not states_raw:
        checker.add("SCHEMA_VALIDATION_FAILED", "These fields are required: [States]", where or "/")
        return Machine(start, {}, language)
    states: dict[str, State] = {}
    for name, spec in states_raw.items():
        at = f"{where}/States/{name}"
        if len(name) > 80:
            checker.add("SCHEMA_VALIDATION_FAILED", "State names are at most 80 characters", at)
        if not isinstance(spec, dict):
            checker.add("SCHEMA_VALIDATION_FAILED", "A state must be an object", at)
            continue
        state = _state(name, spec, language, checker, at)
        if state is not None:
            states[name] = state
    if start and start not in states_raw:
        checker.add("MISSING_TRANSITION_TARGET", f"Missing 'Next' target: {start}",
                    f"{where}/StartAt")  # fmt: skip
    for name, state in states.items():
        for target, field_name in _targets(state):
            if target not in states_raw:
                checker.add("MISSING_TRANSITION_TARGET", f"Missing 'Next' target: {target}",
                            f"{where}/States/{name}/{field_name}")  # fmt: skip
    reachable = _reachable(start, states)
    for name in states_raw:
        if name not in reachable and start in states_raw:
            checker.add("UNREACHABLE_STATE", f"State '{name}' is not reachable",
                        f"{where}/States/{name}")  # fmt: skip
    if states and not any(
        isinstance(s, (SucceedState, FailState)) or s.end for s in states.values()
    ):
        checker.add("MISSING_END_STATE", "Workflow has no terminal state", where or "/")
    return Machine(start, states, language)


def _targets(state: State) -> list[tuple[str, str]]:
    out = [(state.next, "Next")] if state.next else []
    if isinstance(state, ChoiceState):
        out += [(c.next, f"Choices[{i}]/Next") for i, c in enumerate(state.choices)]
        if state.default:
            out.append((state.default, "Default"))
    if isinstance(state, (TaskState, ParallelState, MapState)):
        out += [(c.next, f"Catch[{i}]/Next") for i, c in enumerate(state.catch)]
    return out


def _reachable(start: str, states: dict[str, State]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        todo.extend(t for t, _ in _targets(states[name]))
    return seen


def _state(
    name: str, spec: dict[str, Any], parent: QueryLanguage, checker: Checker, at: str
) -> State | None:
    kind = spec.get("Type")
    if kind not in _FIELDS:
        checker.add(
            "SCHEMA_VALIDATION_FAILED", f"State type {kind!r} is not supported", f"{at}/Type"
        )
        return None
    language = _language(spec.get("QueryLanguage", parent.value), parent, checker, at)
    if parent is QueryLanguage.JSONATA and language is QueryLanguage.JSONPATH:
        checker.add("SCHEMA_VALIDATION_FAILED",
                    "A JSONPath state cannot be inside a JSONata state machine", at)  # fmt: skip
    for key in spec:
        if key not in _FIELDS[kind]:
            checker.add(
                "SCHEMA_VALIDATION_FAILED", f"Field '{key}' is not supported", f"{at}/{key}"
            )
        elif language is QueryLanguage.JSONATA and key in _JSONPATH_ONLY:
            checker.add("SCHEMA_VALIDATION_FAILED",
                        f"Field '{key}' is not supported by JSONata states", f"{at}/{key}")  # fmt: skip
        elif language is QueryLanguage.JSONPATH and key in _JSONATA_ONLY:
            checker.add("SCHEMA_VALIDATION_FAILED",
                        f"Field '{key}' is supported only by JSONata states", f"{at}/{key}")  # fmt: skip
    jsonpath = language is QueryLanguage.JSONPATH
    nxt, end = spec.get("Next"), spec.get("End", False)
    if kind in ("Choice", "Succeed", "Fail"):
        pass
    elif (nxt is None) == (end is not True):
        checker.add("SCHEMA_VALIDATION_FAILED",
                    "Exactly one of these fields is required: [Next, End]", at)  # fmt: skip
    if nxt is not None and not isinstance(nxt, str):
        checker.add("SCHEMA_VALIDATION_FAILED", "Next must be a state name", f"{at}/Next")
        nxt = None
    for key in ("InputPath", "OutputPath"):
        checker.path(spec.get(key), f"{at}/{key}")
    checker.path(spec.get("ResultPath"), f"{at}/ResultPath", reference=True)
    for key in ("Parameters", "ResultSelector", "ItemSelector"):
        if jsonpath:
            checker.template(spec.get(key), f"{at}/{key}")
    for key in ("Arguments", "Output", "Assign", "Items", "ItemSelector", "Error", "Cause",
                "Seconds", "Timestamp", "TimeoutSeconds", "HeartbeatSeconds", "MaxConcurrency",
                "ToleratedFailureCount", "ToleratedFailurePercentage"):  # fmt: skip
        if not jsonpath:
            checker.jsonata(spec.get(key), f"{at}/{key}")
    if jsonpath and "Assign" in spec:
        checker.template(spec["Assign"], f"{at}/Assign")
    base: dict[str, Any] = {
        "name": name,
        "language": language,
        "next": nxt,
        "end": end is True,
        "comment": str(spec.get("Comment", "")),
        "input_path": spec.get("InputPath", "$"),
        "output_path": spec.get("OutputPath", "$"),
        "assign": spec.get("Assign"),
        "output": spec.get("Output"),
    }
    if kind == "Pass":
        return PassState(
            **base,
            parameters=spec.get("Parameters"),
            result=spec.get("Result"),
            has_result="Result" in spec,
            result_path=spec.get("ResultPath", "$"),
        )
    if kind == "Succeed":
        return SucceedState(**base)
    if kind == "Fail":
        for key in ("ErrorPath", "CausePath"):
            if key in spec and not (isinstance(spec[key], str) and spec[key].startswith("States.")):
                checker.path(spec[key], f"{at}/{key}")
        return FailState(
            **base,
            error=spec.get("Error"),
            cause=spec.get("Cause"),
            error_path=spec.get("ErrorPath"),
            cause_path=spec.get("CausePath"),
        )
    if kind == "Wait":
        given = [k for k in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if k in spec]
        if len(given) != 1:
            checker.add("SCHEMA_VALIDATION_FAILED", "Exactly one of these fields is required: "
                        "[Seconds, Timestamp, SecondsPath, TimestampPath]", at)  # fmt: skip
        seconds = spec.get("Seconds")
        if jsonpath and seconds is not None and (not isinstance(seconds, int) or seconds < 0):
            checker.add("SCHEMA_VALIDATION_FAILED", "Seconds must be a non-negative integer",
                        f"{at}/Seconds")  # fmt: skip
        for key in ("SecondsPath", "TimestampPath"):
            checker.path(spec.get(key), f"{at}/{key}")
        return WaitState(
            **base,
            seconds=seconds,
            timestamp=spec.get("Timestamp"),
            seconds_path=spec.get("SecondsPath"),
            timestamp_path=spec.get("TimestampPath"),
        )
    if kind == "Choice":
        return _choice_state(spec, base, checker, at, jsonpath)
    retry = read_retriers(spec.get("Retry", []), checker, f"{at}/Retry")
    catch = read_catchers(spec.get("Catch", []), checker, f"{at}/Catch")
    result: dict[str, Any] = {
        **base,
        "parameters": spec.get("Parameters") if jsonpath else spec.get("Arguments"),
        "result_selector": spec.get("ResultSelector"),
        "result_path": spec.get("ResultPath", "$"),
        "retry": retry,
        "catch": catch,
    }
    if kind == "Task":
        resource = spec.get("Resource")
        if not isinstance(resource, str) or not resource.startswith("arn:"):
            checker.add("SCHEMA_VALIDATION_FAILED", "Resource must be an ARN", f"{at}/Resource")
            resource = ""
        for key in ("TimeoutSeconds", "HeartbeatSeconds"):
            value = spec.get(key)
            if (
                value is not None
                and not is_expression(value)
                and (not isinstance(value, int) or value <= 0)
            ):
                checker.add("SCHEMA_VALIDATION_FAILED", f"{key} must be a positive integer",
                            f"{at}/{key}")  # fmt: skip
        for key in ("TimeoutSecondsPath", "HeartbeatSecondsPath"):
            checker.path(spec.get(key), f"{at}/{key}")
        return TaskState(
            **result,
            resource=resource,
            timeout=spec.get("TimeoutSeconds"),
            timeout_path=spec.get("TimeoutSecondsPath"),
            heartbeat=spec.get("HeartbeatSeconds"),
            heartbeat_path=spec.get("HeartbeatSecondsPath"),
            credentials=spec.get("Credentials"),
        )
    if kind == "Parallel":
        branches_raw = spec.get("Branches")
        if not isinstance(branches_raw, list) or not branches_raw:
            checker.add("SCHEMA_VALIDATION_FAILED", "These fields are required: [Branches]", at)
            branches_raw = []
        branches = tuple(
            _sub_machine(b, language, checker, f"{at}/Branches[{i}]")
            for i, b in enumerate(branches_raw)
        )
        return ParallelState(**result, branches=branches)
    return _map_state(spec, result, checker, at, language)


def _sub_machine(raw: Any, language: QueryLanguage, checker: Checker, at: str) -> Machine:
    if not isinstance(raw, dict):
        checker.add("SCHEMA_VALIDATION_FAILED", "A branch must be an object", at)
        return Machine("", {}, language)
    for key in raw:
        if key not in ("StartAt", "States", "Comment", "QueryLanguage", "ProcessorConfig"):
            checker.add(
                "SCHEMA_VALIDATION_FAILED", f"Field '{key}' is not supported", f"{at}/{key}"
            )
    inner = _language(raw.get("QueryLanguage", language.value), language, checker, at)
    return _machine(raw, inner, checker, at)


def _map_state(
    spec: dict[str, Any],
    result: dict[str, Any],
    checker: Checker,
    at: str,
    language: QueryLanguage,
) -> MapState:
    processor_raw = spec.get("ItemProcessor", spec.get("Iterator"))
    if processor_raw is None:
        checker.add("SCHEMA_VALIDATION_FAILED", "These fields are required: [ItemProcessor]", at)
        processor = Machine("", {}, language)
    else:
        processor = _sub_machine(processor_raw, language, checker, f"{at}/ItemProcessor")
    mode, execution_type = "INLINE", "STANDARD"
    if isinstance(processor_raw, dict):
        config = processor_raw.get("ProcessorConfig") or {}
        mode = config.get("Mode", "INLINE") if isinstance(config, dict) else "INLINE"
        if mode not in ("INLINE", "DISTRIBUTED"):
            checker.add("SCHEMA_VALIDATION_FAILED", "Mode must be INLINE or DISTRIBUTED",
                        f"{at}/ItemProcessor/ProcessorConfig/Mode")  # fmt: skip
        if isinstance(config, dict):
            execution_type = str(config.get("ExecutionType", "STANDARD"))
        if mode == "DISTRIBUTED" and execution_type not in ("STANDARD", "EXPRESS"):
            checker.add("SCHEMA_VALIDATION_FAILED", "ExecutionType must be STANDARD or EXPRESS",
                        f"{at}/ItemProcessor/ProcessorConfig/ExecutionType")  # fmt: skip
    for key in ("ItemsPath", "MaxConcurrencyPath", "ToleratedFailureCountPath",
                "ToleratedFailurePercentagePath"):  # fmt: skip
        checker.path(spec.get(key), f"{at}/{key}", reference=key == "ItemsPath")
    reader = read_reader(spec.get("ItemReader"), checker, f"{at}/ItemReader", language)
    batcher = read_batcher(spec.get("ItemBatcher"), checker, f"{at}/ItemBatcher")
    writer = read_writer(spec.get("ResultWriter"), checker, f"{at}/ResultWriter", language)
    mc = spec.get("MaxConcurrency", 0)
    if not is_expression(mc) and (not isinstance(mc, int) or mc < 0):
        checker.add("SCHEMA_VALIDATION_FAILED", "MaxConcurrency must be a non-negative integer",
                    f"{at}/MaxConcurrency")  # fmt: skip
    selector = spec.get("ItemSelector", spec.get("Parameters"))
    if language is QueryLanguage.JSONPATH:
        checker.template(selector, f"{at}/ItemSelector")
    result = dict(result)
    result["parameters"] = None
    return MapState(
        **result,
        processor=processor,
        distributed=mode == "DISTRIBUTED",
        execution_type=execution_type,
        items_path=spec.get("ItemsPath", "$"),
        items=spec.get("Items"),
        item_selector=selector,
        max_concurrency=mc,
        max_concurrency_path=spec.get("MaxConcurrencyPath"),
        tolerated_count=spec.get("ToleratedFailureCount", 0),
        tolerated_count_path=spec.get("ToleratedFailureCountPath"),
        tolerated_percentage=spec.get("ToleratedFailurePercentage", 0),
        tolerated_percentage_path=spec.get("ToleratedFailurePercentagePath"),
        label=str(spec.get("Label", "")),
        reader=reader,
        batcher=batcher,
        writer=writer,
    )


def _choice_state(
    spec: dict[str, Any], base: dict[str, Any], checker: Checker, at: str, jsonpath: bool
) -> ChoiceState:
    raw = spec.get("Choices")
    if not isinstance(raw, list) or not raw:
        checker.add("SCHEMA_VALIDATION_FAILED", "These fields are required: [Choices]", at)
        raw = []
    choices = []
    for i, c in enumerate(raw):
        where = f"{at}/Choices[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("Next"), str):
            checker.add("SCHEMA_VALIDATION_FAILED", "These fields are required: [Next]", where)
            continue
        rule = _rule({k: v for k, v in c.items() if k not in ("Next", "Assign", "Output")},
                     checker, where, jsonpath)  # fmt: skip
        checker.jsonata(c.get("Output"), f"{where}/Output")
        choices.append(Choice(rule, c["Next"], c.get("Assign"), c.get("Output")))
    default = spec.get("Default")
    return ChoiceState(
        **base, choices=tuple(choices), default=default if isinstance(default, str) else None
    )


def _rule(raw: Any, checker: Checker, at: str, jsonpath: bool) -> Rule:
    if not isinstance(raw, dict):
        checker.add("SCHEMA_VALIDATION_FAILED", "A choice rule must be an object", at)
        return AllOf(())
    raw = {k: v for k, v in raw.items() if k != "Comment"}
    if not jsonpath:
        if set(raw) != {"Condition"}:
            checker.add("SCHEMA_VALIDATION_FAILED",
                        "A JSONata choice rule has exactly one Condition", at)  # fmt: skip
        checker.jsonata(raw.get("Condition"), f"{at}/Condition")
        return ChoiceCondition(raw.get("Condition"))
    for key, ctor in (("And", AllOf), ("Or", AnyOf)):
        if key in raw:
            items = raw[key]
            if not isinstance(items, list) or not items or len(raw) != 1:
                checker.add("SCHEMA_VALIDATION_FAILED", f"{key} needs a non-empty list", at)
                return AllOf(())
            return ctor(tuple(_rule(r, checker, f"{at}/{key}[{i}]", jsonpath)
                              for i, r in enumerate(items)))  # fmt: skip
    if "Not" in raw:
        if len(raw) != 1:
            checker.add("SCHEMA_VALIDATION_FAILED", "Not takes one rule", at)
        return NoneOf(_rule(raw["Not"], checker, f"{at}/Not", jsonpath))
    variable = raw.get("Variable")
    ops = [k for k in raw if k != "Variable"]
    if not isinstance(variable, str) or len(ops) != 1 or ops[0] not in _COMPARATORS:
        checker.add("SCHEMA_VALIDATION_FAILED",
                    "A choice rule needs a Variable and exactly one comparison operator", at)  # fmt: skip
        return AllOf(())
    checker.path(variable, f"{at}/Variable")
    op = ops[0]
    value = raw[op]
    if op.endswith("Path"):
        checker.path(value, f"{at}/{op}", null=False)
    elif op.startswith("Is") and not isinstance(value, bool):
        checker.add("SCHEMA_VALIDATION_FAILED", f"{op} takes true or false", f"{at}/{op}")
    elif op.startswith(("String", "Timestamp")) and not isinstance(value, str):
        checker.add("SCHEMA_VALIDATION_FAILED", f"{op} takes a string", f"{at}/{op}")
    elif op.startswith("Numeric") and (
        isinstance(value, bool) or not isinstance(value, (int, float))
    ):
        checker.add("SCHEMA_VALIDATION_FAILED", f"{op} takes a number", f"{at}/{op}")
    elif op == "BooleanEquals" and not isinstance(value, bool):
        checker.add("SCHEMA_VALIDATION_FAILED", f"{op} takes true or false", f"{at}/{op}")
    return ChoiceComparison(variable, op, value)
