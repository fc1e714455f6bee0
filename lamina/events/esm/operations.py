"""Create/Get/List/Update/DeleteEventSourceMapping as pure operation handlers.

The API routes ``/2015-03-31/event-source-mappings[/{UUID}]`` here. Handlers return
``(status, body)`` and raise :class:`~lamina.errors.ApiError`; the pollers follow the
stored state (Creating → Enabled, Updating, Enabling/Disabling → Disabled, Deleting).
"""

from __future__ import annotations

import re
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lamina.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from lamina.events.esm.config import Mapping, apply_settings, check_sqs_arn
from lamina.events.esm.store import MappingStore

# Any ARN, as Lambda's model constrains an EventSourceArn filter.
_ARN = re.compile(
    r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-"
    r"\d{1})?:(\d{12})?:(.*)"
)

# resolve(FunctionName as given) -> (name, qualifier, function ARN as Lambda shows it)
Resolve = Callable[[str], tuple[str, str | None, str]]


class MappingOperations:
    def __init__(
        self,
        store: MappingStore,
        resolve: Resolve,
        region: str,
        account: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._resolve = resolve
        self.region = region
        self.account = account
        self._clock = clock
        self.changed: Callable[[], None] = lambda: None  # the poller manager's wake-up

    def handle(
        self,
        method: str,
        uuid: str | None,
        query: dict[str, str],
        body: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        if uuid is None:
            if method == "POST":
                return self.create(body or {})
            if method == "GET":
                return self.list(query)
        else:
            if method == "GET":
                return self.get(uuid)
            if method == "PUT":
                return self.update(uuid, body or {})
            if method == "DELETE":
                return self.delete(uuid)
        raise ResourceNotFound(f"Unknown operation {method} event-source-mappings")

    def _shape(self, m: Mapping) -> dict[str, Any]:
        return m.shape(self.region, self.account)

    def _get(self, uuid: str) -> Mapping:
        m = self.store.mappings.get(uuid)
        if m is None:
            raise ResourceNotFound(
                f"The resource you requested does not exist. (Service: Lambda, UUID: {uuid})"
            )
        return m

    def create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        arn = check_sqs_arn(body.get("EventSourceArn"))
        fn = body.get("FunctionName")
        if not isinstance(fn, str) or not fn:
            raise InvalidParameterValue("FunctionName is required")
        name, qualifier, function_arn = self._resolve(fn)
        for other in self.store.mappings.values():
            if other.event_source_arn == arn and other.function_arn == function_arn:
                raise ResourceConflict(
                    f'An event source mapping with SQS arn (" {arn} ") and function '
                    f'(" {name} ") already exists. Please update or delete the existing '
                    f"mapping with UUID {other.uuid}"
                )
        base = Mapping(str(uuidlib.uuid4()), arn, name, qualifier, function_arn)
        m = replace(apply_settings(base, body), state="Creating", last_modified=self._clock())
        self.store.save(m)
        self.changed()
        return 202, self._shape(m)

    def get(self, uuid: str) -> tuple[int, dict[str, Any]]:
        return 200, self._shape(self._get(uuid))

    def list(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        items = sorted(self.store.mappings.values(), key=lambda m: m.uuid)
        source = query.get("EventSourceArn")
        if source is not None and not _ARN.fullmatch(source):
            raise InvalidParameterValue.constraint(
                "eventSourceArn",
                f"Member must satisfy regular expression pattern: {_ARN.pattern}",
                source,
            )
        if source:
            items = [m for m in items if m.event_source_arn == source]
        fn = query.get("FunctionName")
        if fn == "":
            raise InvalidParameterValue(
                "1 validation error detected: Value '' at 'functionName' failed to satisfy "
                "constraint: Member must have length greater than or equal to 1"
            )
        if fn:
            _, _, function_arn = self._resolve(fn)
            items = [m for m in items if m.function_arn == function_arn]
        try:
            limit = int(query.get("MaxItems") or 100)
        except ValueError:
            raise InvalidParameterValue("MaxItems must be a number") from None
        if not 1 <= limit <= 10_000:
            raise InvalidParameterValue("MaxItems must be between 1 and 10000")
        marker = query.get("Marker")
        if marker:
            items = [m for m in items if m.uuid > marker]
        page = items[:limit]
        out: dict[str, Any] = {"EventSourceMappings": [self._shape(m) for m in page]}
        if len(items) > limit:
            out["NextMarker"] = page[-1].uuid
        return 200, out

    def update(self, uuid: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        m = self._get(uuid)
        if m.state in ("Creating", "Updating", "Deleting", "Enabling", "Disabling"):
            raise ResourceConflict(
                f"The operation cannot be performed at this time. The event source mapping "
                f"is currently in {m.state} state."
            )
        fn = body.get("FunctionName")
        if isinstance(fn, str) and fn:
            name, qualifier, function_arn = self._resolve(fn)
            m = replace(m, function_name=name, qualifier=qualifier, function_arn=function_arn)
        new = apply_settings(m, body)
        if new.enabled != m.enabled:
            state = "Enabling" if new.enabled else "Disabling"
        else:
            state = "Updating"
        new = replace(new, state=state, last_modified=self._clock())
        self.store.save(new)
        self.changed()
        return 202, self._shape(new)

    def delete(self, uuid: str) -> tuple[int, dict[str, Any]]:
        m = self._get(uuid)
        if m.state == "Deleting":
            raise ResourceConflict(
                "The operation cannot be performed at this time. The event source mapping "
                "is currently in Deleting state."
            )
        deleting = replace(m, state="Deleting", last_modified=self._clock())
        self.store.save(deleting)
        self.changed()
        return 202, self._shape(deleting)
