"""FunctionConfig to JSON and back, exactly, for the metadata store.

Decoding is driven by the dataclass's own type hints, so a field added to
:class:`~lamina.models.function.FunctionConfig` later is stored without touching this
module; keys the current code does not know (written by a newer Lamina) are ignored, and
a value of the wrong type is refused rather than passed on.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from functools import cache
from typing import Any, Literal, Union

from lamina.models.function import FunctionConfig


def config_to_json(cfg: FunctionConfig) -> str:
    """A compact, key-sorted JSON object of every field."""
    return json.dumps(dataclasses.asdict(cfg), sort_keys=True, separators=(",", ":"))


def config_from_json(text: str) -> FunctionConfig:
    """Rebuild a FunctionConfig; raises ValueError on malformed or mistyped data."""
    data = json.loads(text)
    value = _decode(data, FunctionConfig, "config")
    assert isinstance(value, FunctionConfig)
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(value: object, hint: Any, where: str) -> object:
    """Check ``value`` against ``hint`` and convert JSON lists/objects back to Python."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object")
        hints = _hints(hint)
        known = {f.name for f in dataclasses.fields(hint) if f.init}
        kwargs = {k: _decode(v, hints[k], f"{where}.{k}") for k, v in value.items() if k in known}
        return hint(**kwargs)
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{where}: {value!r} is not one of {args}")
        return value
    if origin in (Union, types.UnionType):
        for option in args:
            try:
                return _decode(value, option, where)
            except ValueError:
                continue
        raise ValueError(f"{where}: {value!r} matches none of {args}")
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object")
        return {_decode(k, args[0], where): _decode(v, args[1], where) for k, v in value.items()}
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list")
        item = args[0] if args else Any
        items = [_decode(v, item, where) for v in value]
        return tuple(items) if origin is tuple else items
    return _scalar(value, hint, where)


def _scalar(value: object, hint: Any, where: str) -> object:
    if hint is Any or hint is object:
        return value
    if hint is type(None):
        if value is not None:
            raise ValueError(f"{where}: expected null")
        return None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # bool is an int in Python but never in a config: refuse True for memory_mb.
    if isinstance(hint, type) and isinstance(value, hint):
        if hint is int and isinstance(value, bool):
            raise ValueError(f"{where}: expected an integer, got a boolean")
        return value
    raise ValueError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
