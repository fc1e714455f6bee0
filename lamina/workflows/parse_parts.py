"""Parsing the parts of Task, Parallel and Map states: Retry, Catch, and the distributed
Map's ItemReader, ItemBatcher and ResultWriter (with their checks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamina.workflows.checks import Checker
from lamina.workflows.definition import Catcher, QueryLanguage, Retrier
from lamina.workflows.distributed import (
    GET_OBJECT,
    LIST_OBJECTS,
    PUT_OBJECT,
    ItemBatcherSpec,
    ItemReaderSpec,
    ResultWriterSpec,
)


def _params(raw: dict[str, Any], language: QueryLanguage) -> Any:
    return raw.get("Arguments" if language is QueryLanguage.JSONATA else "Parameters")


def read_reader(
    raw: Any, checker: Checker, at: str, language: QueryLanguage
) -> ItemReaderSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("Resource") not in (GET_OBJECT, LIST_OBJECTS):
        checker.add("SCHEMA_VALIDATION_FAILED", f"ItemReader needs a Resource: {GET_OBJECT} "
                    f"or {LIST_OBJECTS}", at)  # fmt: skip
        return None
    config = raw.get("ReaderConfig") or {}
    kind = str(config.get("InputType", "JSON")) if raw["Resource"] == GET_OBJECT else "LISTING"
    if kind not in ("JSON", "JSONL", "CSV", "LISTING"):
        checker.add("SCHEMA_VALIDATION_FAILED", f"InputType {kind} is not supported",
                    f"{at}/ReaderConfig/InputType")  # fmt: skip
    max_items = config.get("MaxItems")
    if max_items is not None and (not isinstance(max_items, int) or max_items < 1):
        checker.add("SCHEMA_VALIDATION_FAILED", "MaxItems must be a positive integer",
                    f"{at}/ReaderConfig/MaxItems")  # fmt: skip
        max_items = None
    if language is QueryLanguage.JSONPATH:
        checker.template(_params(raw, language), f"{at}/Parameters")
    else:
        checker.jsonata(_params(raw, language), f"{at}/Arguments")
    return ItemReaderSpec(
        raw["Resource"], _params(raw, language), kind,
        str(config.get("CSVHeaderLocation", "FIRST_ROW")),
        tuple(str(h) for h in config.get("CSVHeaders") or ()), max_items,
    )  # fmt: skip


def read_batcher(raw: Any, checker: Checker, at: str) -> ItemBatcherSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not any(
        k in raw for k in ("MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch",
                           "MaxInputBytesPerBatchPath")
    ):  # fmt: skip
        checker.add("SCHEMA_VALIDATION_FAILED",
                    "ItemBatcher needs MaxItemsPerBatch or MaxInputBytesPerBatch", at)  # fmt: skip
        return None
    for key in ("MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath"):
        checker.path(raw.get(key), f"{at}/{key}")
    return ItemBatcherSpec(
        raw.get("MaxItemsPerBatch"), raw.get("MaxItemsPerBatchPath"),
        raw.get("MaxInputBytesPerBatch"), raw.get("MaxInputBytesPerBatchPath"),
        raw.get("BatchInput"),
    )  # fmt: skip


def read_writer(
    raw: Any, checker: Checker, at: str, language: QueryLanguage
) -> ResultWriterSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("Resource") != PUT_OBJECT:
        checker.add("SCHEMA_VALIDATION_FAILED", f"ResultWriter needs Resource {PUT_OBJECT}", at)
        return None
    return ResultWriterSpec(PUT_OBJECT, _params(raw, language))


def _errors(raw: Any, checker: Checker, at: str, last: bool) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) for e in raw):
        checker.add("SCHEMA_VALIDATION_FAILED", "ErrorEquals must be a non-empty list of strings",
                    f"{at}/ErrorEquals")  # fmt: skip
        return ()
    if "States.ALL" in raw and (len(raw) != 1 or not last):
        checker.add("SCHEMA_VALIDATION_FAILED",
                    "States.ALL must appear alone and in the last retrier or catcher",
                    f"{at}/ErrorEquals")  # fmt: skip
    return tuple(raw)


def _number(raw: dict[str, Any], key: str, default: float, ok: Callable[[float], bool],
            checker: Checker, at: str) -> float:  # fmt: skip
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
        checker.add("SCHEMA_VALIDATION_FAILED", f"{key} is out of range", f"{at}/{key}")
        return default
    return float(value)


def read_retriers(raw: Any, checker: Checker, at: str) -> tuple[Retrier, ...]:
    if not isinstance(raw, list):
        checker.add("SCHEMA_VALIDATION_FAILED", "Retry must be a list", at)
        return ()
    out = []
    for i, r in enumerate(raw):
        where = f"{at}[{i}]"
        if not isinstance(r, dict):
            checker.add("SCHEMA_VALIDATION_FAILED", "A retrier must be an object", where)
            continue
        for key in r:
            if key not in ("ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate",
                           "MaxDelaySeconds", "JitterStrategy", "Comment"):  # fmt: skip
                checker.add("SCHEMA_VALIDATION_FAILED", f"Field '{key}' is not supported",
                            f"{where}/{key}")  # fmt: skip
        jitter = r.get("JitterStrategy", "NONE")
        if jitter not in ("FULL", "NONE"):
            checker.add("SCHEMA_VALIDATION_FAILED", "JitterStrategy must be FULL or NONE",
                        f"{where}/JitterStrategy")  # fmt: skip
        max_delay = r.get("MaxDelaySeconds")
        out.append(
            Retrier(
                _errors(r.get("ErrorEquals"), checker, where, i == len(raw) - 1),
                _number(r, "IntervalSeconds", 1, lambda v: 0 < v <= 99999999, checker, where),
                int(_number(r, "MaxAttempts", 3, lambda v: 0 <= v <= 99999999, checker, where)),
                _number(r, "BackoffRate", 2.0, lambda v: v >= 1.0, checker, where),
                None if max_delay is None else
                _number(r, "MaxDelaySeconds", 1, lambda v: 0 < v <= 31622400, checker, where),
                jitter == "FULL",
            )
        )  # fmt: skip
    return tuple(out)


def read_catchers(raw: Any, checker: Checker, at: str) -> tuple[Catcher, ...]:
    if not isinstance(raw, list):
        checker.add("SCHEMA_VALIDATION_FAILED", "Catch must be a list", at)
        return ()
    out = []
    for i, c in enumerate(raw):
        where = f"{at}[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("Next"), str):
            checker.add("SCHEMA_VALIDATION_FAILED", "These fields are required: [Next]", where)
            continue
        for key in c:
            if key not in ("ErrorEquals", "Next", "ResultPath", "Output", "Assign", "Comment"):
                checker.add("SCHEMA_VALIDATION_FAILED", f"Field '{key}' is not supported",
                            f"{where}/{key}")  # fmt: skip
        checker.path(c.get("ResultPath"), f"{where}/ResultPath", reference=True)
        checker.jsonata(c.get("Output"), f"{where}/Output")
        out.append(
            Catcher(
                _errors(c.get("ErrorEquals"), checker, where, i == len(raw) - 1),
                c["Next"],
                c.get("ResultPath", "$"),
                c.get("Output"),
                c.get("Assign"),
            )
        )
    return tuple(out)
