"""API routes (``GET /items/{id}`` → function) from a JSON file, and matching them (pure).

The file::

    {"apiId": "myapi", "stage": "$default", "payloadFormatVersion": "2.0",
     "routes": [
       {"route": "GET /items/{id}", "function": "items"},
       {"route": "POST /items", "function": "items:live", "payloadFormatVersion": "1.0"},
       {"route": "ANY /static/{proxy+}", "function": "files"},
       {"route": "POST /orders", "stateMachine": "arn:aws:states:...:stateMachine:orders"},
       {"route": "$default", "function": "fallback"}]}

A route names a ``function`` to invoke or a ``stateMachine`` to start an execution of with
the request's body as its input (SAM's Api event on a state machine: API Gateway's
StartExecution integration).

Matching follows API Gateway's HTTP APIs: the most specific route wins: more literal
segments first, then path parameters over a greedy ``{proxy+}``, then a method over
``ANY``; ``$default`` catches what nothing else does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamina.errors import ConfigError

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}
_PARAM = re.compile(r"^\{([A-Za-z0-9_.-]+)(\+?)\}$")


@dataclass(frozen=True, slots=True)
class RouteSpec:
    key: str  # "GET /items/{id}" or "$default"
    method: str  # "ANY" for $default
    segments: tuple[str, ...]
    function: str
    qualifier: str | None
    payload_version: str  # "1.0" | "2.0"
    state_machine: str | None = None  # set: start an execution of it, ``function`` is ""

    @property
    def resource(self) -> str:
        return "/" + "/".join(self.segments) if self.key != "$default" else "/{proxy+}"

    def match(self, method: str, path: str) -> tuple[tuple[int, int, int], dict[str, str]] | None:
        """(specificity, path parameters) if this route serves ``method path``."""
        if self.key == "$default":
            return (-1, 0, 0), {}
        if self.method not in ("ANY", method):
            return None
        parts = [p for p in path.split("/") if p]
        params: dict[str, str] = {}
        literal = 0
        greedy = 0
        for i, seg in enumerate(self.segments):
            m = _PARAM.match(seg)
            if m and m.group(2):  # {proxy+}: the rest, at least one segment
                if i >= len(parts):
                    return None
                params[m.group(1)] = "/".join(parts[i:])
                greedy = 1
                break
            if i >= len(parts):
                return None
            if m:
                params[m.group(1)] = parts[i]
            elif seg != parts[i]:
                return None
            else:
                literal += 1
        else:
            if len(parts) != len(self.segments):
                return None
        return (literal, -greedy, 1 if self.method != "ANY" else 0), params


@dataclass(frozen=True, slots=True)
class ApiConfig:
    api_id: str
    stage: str
    routes: tuple[RouteSpec, ...]

    def find(self, method: str, path: str) -> tuple[RouteSpec, dict[str, str]] | None:
        best: tuple[tuple[int, int, int], RouteSpec, dict[str, str]] | None = None
        for r in self.routes:
            m = r.match(method, path)
            if m is not None and (best is None or m[0] > best[0]):
                best = (m[0], r, m[1])
        return (best[1], best[2]) if best else None


def parse_routes(doc: dict[str, Any]) -> ApiConfig:
    default_version = str(doc.get("payloadFormatVersion", "2.0"))
    routes = []
    for item in doc.get("routes", []):
        key = str(item.get("route", "")).strip()
        function = str(item.get("function", ""))
        machine = item.get("stateMachine")
        version = str(item.get("payloadFormatVersion", default_version))
        if bool(function) == (machine is not None):
            raise ConfigError(f"route {key!r} needs a function or a stateMachine (not both)")
        if machine is not None and not str(machine).startswith("arn:aws:states:"):
            raise ConfigError(f"route {key!r}: stateMachine must be a state machine ARN")
        if version not in ("1.0", "2.0"):
            raise ConfigError(f"route {key!r}: payloadFormatVersion must be 1.0 or 2.0")
        name, _, qualifier = function.rpartition(":function:")[2].partition(":")
        segments: tuple[str, ...] = ()
        if key == "$default":
            method = "ANY"
        else:
            method, _, path = key.partition(" ")
            if method not in _METHODS or not path.startswith("/"):
                raise ConfigError(f"route {key!r} must look like 'GET /items/{{id}}' or $default")
            segments = tuple(p for p in path.split("/") if p)
            for i, seg in enumerate(segments):
                m = _PARAM.match(seg)
                if m and m.group(2) and i != len(segments) - 1:
                    raise ConfigError(f"route {key!r}: a greedy {{name+}} must come last")
        if machine is not None:
            name, qualifier = "", ""
        routes.append(
            RouteSpec(
                key,
                method,
                segments,
                name,
                qualifier or None,
                version,
                None if machine is None else str(machine),
            )
        )
    return ApiConfig(
        str(doc.get("apiId", "lamina")), str(doc.get("stage", "$default")), tuple(routes)
    )


def load_routes(path: Path) -> ApiConfig:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read API routes from {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} must hold a JSON object with a routes list")
    return parse_routes(doc)
