"""A target's ``InputTransformer``: values picked from the event by ``InputPathsMap`` and put
into ``InputTemplate``'s ``<placeholders>``; checked when set, applied when fired (pure).

Placement follows EventBridge. In a template that is JSON, a placeholder inside a string
gets the value's text (a string without its quotes, anything else as JSON, JSON-escaped so
the string stays valid) and a placeholder outside one gets the value as JSON (a string with
its quotes; ``null`` for a path the event lacks). A template that is not JSON is text: each
placeholder becomes the value's text. The predefined placeholders are ``<aws.events.rule-arn>``,
``<aws.events.rule-name>``, ``<aws.events.event.ingestion-time>`` and ``<aws.events.event>`` /
``<aws.events.event.json>`` (the whole event). A ``<name>`` that names nothing is left as
it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.errors import ApiError, AwsServiceError
from lamina.services.eventbridge.input_path import check_input_path, select

MAX_PATHS = 100
MAX_TEMPLATE = 8192
_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,256}$")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


@dataclass(frozen=True, slots=True)
class InputTransformer:
    paths: tuple[tuple[str, str], ...]  # InputPathsMap: (key, "$.detail.x"), in order
    template: str

    def shape(self) -> dict[str, Any]:
        """As PutTargets takes it and ListTargetsByRule answers it."""
        out: dict[str, Any] = {"InputTemplate": self.template}
        if self.paths:
            out["InputPathsMap"] = dict(self.paths)
        return out

    def to_json(self) -> str:
        return json.dumps(self.shape(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> InputTransformer:
        raw = json.loads(text)
        return cls(tuple(raw.get("InputPathsMap", {}).items()), raw["InputTemplate"])


def _invalid(message: str) -> AwsServiceError:
    return AwsServiceError("ValidationException", message)


def parse_input_transformer(raw: object, target: str) -> InputTransformer:
    """PutTargets' ``InputTransformer`` of target ``target``, with EventBridge's checks."""
    if not isinstance(raw, Mapping):
        raise _invalid(f"InputTransformer of target {target} must be an object")
    template = raw.get("InputTemplate")
    if not isinstance(template, str) or not 1 <= len(template) <= MAX_TEMPLATE:
        raise _invalid(
            "1 validation error detected: Value at 'targets.1.member.inputTransformer."
            "inputTemplate' failed to satisfy constraint: Member must have length between 1 "
            f"and {MAX_TEMPLATE}"
        )
    paths = raw.get("InputPathsMap") or {}
    if not isinstance(paths, Mapping) or not all(isinstance(v, str) for v in paths.values()):
        raise _invalid(f"InputPathsMap of target {target} must map names to JSON paths")
    if len(paths) > MAX_PATHS:
        raise _invalid(f"InputPathsMap of target {target} has more than {MAX_PATHS} entries")
    for key, path in paths.items():
        if not isinstance(key, str) or not _KEY.match(key) or key.lower().startswith("aws"):
            raise _invalid(
                f"InputPathsMap key {key} of target {target} is not valid: letters, digits, "
                "'_' and '-', not starting with 'AWS'"
            )
        try:
            check_input_path(path)
        except ApiError:
            raise _invalid(
                f"Invalid InputPathsMap[{key}] of target {target}: {path} is not a valid JSON "
                "path like $.detail.x"
            ) from None
    transformer = InputTransformer(tuple(paths.items()), template)
    _check_template(transformer, target)
    return transformer


def _check_template(transformer: InputTransformer, target: str) -> None:
    """A JSON object template may not use a placeholder as a key (EventBridge refuses it)."""
    stripped = transformer.template.strip()
    if not stripped.startswith("{"):
        return
    for m in _PLACEHOLDER.finditer(transformer.template):
        rest = transformer.template[m.end() :].lstrip()
        before = transformer.template[: m.start()].rstrip()
        if _inside_string(transformer.template, m.start()):
            continue
        if rest.startswith(":") and before.endswith(("{", ",")):
            raise _invalid(
                f"InputTemplate of target {target} is not valid: a placeholder cannot be used "
                "as an object key"
            )


def _inside_string(text: str, at: int) -> bool:
    """Whether position ``at`` of ``text`` is inside a JSON string literal."""
    inside = escaped = False
    for ch in text[:at]:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = inside
        elif ch == '"':
            inside = not inside
    return inside


def transform(
    event: dict[str, Any], transformer: InputTransformer, *, rule_arn: str, rule_name: str
) -> bytes:
    """The target's input: the template with its placeholders filled from ``event``."""
    values: dict[str, Any] = {key: select(event, path) for key, path in transformer.paths}
    values["aws.events.rule-arn"] = rule_arn
    values["aws.events.rule-name"] = rule_name
    values["aws.events.event.ingestion-time"] = event.get("time")
    values["aws.events.event"] = event
    values["aws.events.event.json"] = event
    template = transformer.template
    as_json = _is_json(template)

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            return m.group(0)
        value = values[name]
        if as_json and not _inside_string(template, m.start()):
            return json.dumps(value, separators=(",", ":"))
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if value is None:
            text = ""
        # Inside a JSON string, the text must not end it: escape as JSON does, quotes off.
        return json.dumps(text)[1:-1] if as_json else text

    return _PLACEHOLDER.sub(fill, template).encode()


def _is_json(template: str) -> bool:
    """Whether the template is JSON once its placeholders are values (a placeholder outside
    a string is replaced by ``null`` to see)."""
    probe = _PLACEHOLDER.sub(
        lambda m: "x" if _inside_string(template, m.start()) else "null", template
    )
    try:
        json.loads(probe)
    except ValueError:
        return False
    return True
