"""JSONata as Step Functions uses it (``QueryLanguage: JSONata``), on ``jsonata-python``.

A field value that is a string wrapped in ``{% ... %}`` is an expression; objects and
arrays may hold such strings at any depth (``Arguments``, ``Output``, ``Assign``). Each
expression sees ``$states`` (``input``, ``result``, ``errorOutput``, ``context``), the
workflow variables as ``$name``, and Step Functions' additions to the function library:
``$partition``, ``$range``, ``$hash``, ``$random``, ``$uuid`` and ``$parse``.
A failing expression is a ``States.QueryEvaluationError``, and so is one that returns
nothing (JSONata's *undefined*, not ``null``) where Step Functions needs a value: the
whole field or one member of a template (AWS-recorded histories of LocalStack's tests,
``test_assign_reference_variables.py::test_undefined_reference``). Inside one
expression JSONata's own rules stay: an object member or array item that is undefined
is left out.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jsonata
from jsonata.jexception import JException
from jsonata.utils import Utils

from lamina.workflows.errors import QueryEvaluationError, StatesError
from lamina.workflows.jsonpath import Json

_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384",
           "SHA-512": "sha512"}  # fmt: skip


class JsonataSyntaxError(ValueError):
    """Raised by :func:`compile_expression` for text that is not JSONata."""


def undefined(text: str, field: str) -> QueryEvaluationError:
    """The error of an expression that returned nothing, worded as AWS words it."""
    body = text[2:-2].strip() if is_expression(text) else text
    return QueryEvaluationError(
        f"The JSONata expression '{body}' specified for the field '{field}' "
        "returned nothing (undefined).",
        field,
    )


def unexpected_type(text: str, field: str, expected: str, value: Json) -> QueryEvaluationError:
    """The error of an expression whose value has the wrong JSON type, worded as AWS
    words it (``test_base_scenarios.py::test_map_state_items_eval_jsonata_fail``)."""
    body = text[2:-2].strip() if is_expression(text) else text
    shown = json.dumps(value, separators=(",", ":"))
    return QueryEvaluationError(
        f"The JSONata expression '{body}' specified for the field '{field}' returned an "
        f"unexpected result type. Expected '{expected}', but was '{json_type(value)}' for "
        f"value: {shown}",
        field,
    )


def json_type(value: Json) -> str:
    """JSON's name for the type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def is_expression(value: Json) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def _query_error(message: str) -> QueryEvaluationError:
    return QueryEvaluationError(message)


def _partition(array: Json, size: Json) -> Json:
    if not isinstance(array, list) or not isinstance(size, (int, float)) or size < 1:
        raise _query_error("$partition needs an array and a positive size")
    n = int(size)
    return [array[i : i + n] for i in range(0, len(array), n)]


def _range(start: Json, end: Json, step: Json) -> Json:
    if not all(isinstance(v, (int, float)) for v in (start, end, step)) or step == 0:
        raise _query_error("$range needs numbers start, end and a non-zero step")
    s, e, st = int(start), int(end), int(step)
    out = list(range(s, e + (1 if st > 0 else -1), st))
    if len(out) > 1000:
        raise _query_error("$range may return at most 1000 items")
    return out


def _hash(data: Json, algorithm: Json) -> Json:
    if algorithm not in _HASHES:
        raise _query_error(f"$hash: algorithm must be one of {', '.join(_HASHES)}")
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _parse(text: Json) -> Json:
    if not isinstance(text, str):
        raise _query_error("$parse needs a string")
    try:
        value = json.loads(text)
        return Utils.NULL_VALUE if value is None else value
    except ValueError as exc:
        raise _query_error(f"$parse: invalid JSON: {exc}") from None


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Any:
    """Compile the body of ``{% ... %}``; raises :class:`JsonataSyntaxError`."""
    body = text[2:-2].strip() if is_expression(text) else text
    try:
        expr = jsonata.Jsonata(body)
    except JException as exc:
        raise JsonataSyntaxError(f"{body!r}: {exc}") from None
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise JsonataSyntaxError(f"{body!r}: {exc}") from None
    expr.register_lambda("partition", _partition)
    expr.register_lambda("range", _range)
    expr.register_lambda("hash", _hash)
    expr.register_lambda("parse", _parse)
    # null comes back as Utils.NULL_VALUE and undefined as None, to tell them apart
    expr.set_output_convert_nulls(False)
    return expr


class Evaluator:
    """Evaluates expressions for one state: ``$states`` plus the variables in scope."""

    def __init__(
        self, states: Mapping[str, Json], variables: Mapping[str, Json], rng: random.Random
    ) -> None:
        self.rng = rng
        # a variable holding null is JSONata's null (a None binding would be undefined)
        bindings: dict[str, Any] = {
            k: Utils.NULL_VALUE if v is None else v for k, v in variables.items()
        }
        bindings["states"] = dict(states)
        bindings["random"] = jsonata.Jsonata.JLambda(self._random)
        bindings["uuid"] = jsonata.Jsonata.JLambda(self._uuid)
        self.bindings = bindings

    def _random(self, seed: Json = None) -> float:
        return random.Random(seed).random() if seed is not None else self.rng.random()

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def expression(self, text: str, field: str) -> Json:
        """The value of ``{% text %}`` in the field ``field`` (as ``Output/result``): one
        that fails, returns nothing or returns a function is an error worded as AWS
        words it (LocalStack's AWS-recorded snapshots, see docs/workflows.md)."""
        body = text[2:-2].strip() if is_expression(text) else text
        try:
            expr = compile_expression(text)
        except JsonataSyntaxError as exc:
            raise QueryEvaluationError(str(exc), field) from None
        threw = (
            f"The JSONata expression '{body}' specified for the field '{field}' threw an "
            "error during evaluation."
        )
        try:
            value = expr.evaluate(None, self.bindings)
        except QueryEvaluationError as exc:  # from Step Functions' functions
            exc.location = exc.location or field
            raise
        except StatesError:
            raise
        except JException as exc:
            raise QueryEvaluationError(f"{threw} {exc.error}: {exc}", field) from None
        except (ValueError, TypeError, IndexError, KeyError, AttributeError, ZeroDivisionError,
                RecursionError) as exc:  # fmt: skip
            # jsonata-python lets some evaluation errors out as plain Python errors.
            raise QueryEvaluationError(f"{threw} {type(exc).__name__}: {exc}", field) from None
        if value is None:  # undefined; null is Utils.NULL_VALUE
            raise undefined(text, field)
        value = Utils.convert_nulls(value)
        if value is not None and not isinstance(value, (str, int, float, list, dict)):
            raise QueryEvaluationError(
                f"The JSONata expression '{body}' specified for the field '{field}' returned "
                "an unsupported result type.",
                field,
            )
        return _plain(value)

    def template(self, value: Json, field: str) -> Json:
        """Evaluate every ``{% %}`` string inside ``value`` (objects and arrays walked), the
        value of the field ``field``; each must return something."""
        if isinstance(value, str):
            return self.expression(value, field) if is_expression(value) else value
        if isinstance(value, dict):
            return {k: self.template(v, f"{field}/{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.template(v, f"{field}[{i}]") for i, v in enumerate(value)]
        return value


def _plain(value: Json) -> Json:
    """jsonata-python's sequences and whole floats back to plain JSON values."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def template_expressions(value: Json) -> list[str]:
    """Every ``{% %}`` string inside ``value`` (for validation at create time)."""
    if is_expression(value):
        return [value]
    if isinstance(value, dict):
        return [e for v in value.values() for e in template_expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in template_expressions(v)]
    return []
