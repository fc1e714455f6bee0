"""Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s) as pure operation handlers.

The API routes ``/2019-09-25/functions/{name}/event-invoke-config[/list]`` here with the
function reference already parsed; each handler returns ``(status, body)`` and raises
:class:`~lamina.errors.ApiError` for Lambda-shaped errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lamina.errors import InvalidParameterValue, ResourceNotFound
from lamina.events.asyncinvoke.config import LATEST, parse_config
from lamina.events.asyncinvoke.registry import EventInvokeConfigs

# resolve(name, qualifier) -> the function's unqualified ARN; raises ResourceNotFound
# when the function (or that version / alias) does not exist.
Resolve = Callable[[str, str | None], str]


class EventInvokeConfigOperations:
    def __init__(
        self,
        configs: EventInvokeConfigs,
        resolve: Resolve,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.configs = configs
        self._resolve = resolve
        self._clock = clock

    def handle(
        self,
        method: str,
        function: str,
        qualifier: str | None,
        body: dict[str, Any] | None = None,
        *,
        list_configs: bool = False,
        marker: str | None = None,
        max_items: str | None = None,
    ) -> tuple[int, dict[str, Any] | None]:
        """Dispatch on the HTTP method, as the routes of Lambda's API do."""
        if list_configs:
            if method != "GET":
                raise ResourceNotFound(f"Unknown operation {method} event-invoke-config/list")
            return self.list(function, marker, max_items)
        if method == "PUT":
            return self.put(function, qualifier, body or {})
        if method == "POST":
            return self.update(function, qualifier, body or {})
        if method == "GET":
            return self.get(function, qualifier)
        if method == "DELETE":
            return self.delete(function, qualifier)
        raise ResourceNotFound(f"Unknown operation {method} event-invoke-config")

    def _arn(self, function: str, qualifier: str | None) -> tuple[str, str]:
        base = self._resolve(function, qualifier)
        q = qualifier or LATEST
        return f"{base}:{q}", q

    def put(
        self, function: str, qualifier: str | None, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        arn, q = self._arn(function, qualifier)
        cfg = parse_config(function, q, body, self._clock())
        self.configs.put(cfg)
        return 200, cfg.shape(arn)

    def update(
        self, function: str, qualifier: str | None, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        arn, q = self._arn(function, qualifier)
        base = self.configs.get(function, q)
        if base is None:
            raise ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")
        cfg = parse_config(function, q, body, self._clock(), base)
        self.configs.put(cfg)
        return 200, cfg.shape(arn)

    def get(self, function: str, qualifier: str | None) -> tuple[int, dict[str, Any]]:
        arn, q = self._arn(function, qualifier)
        cfg = self.configs.get(function, q)
        if cfg is None:
            raise ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")
        return 200, cfg.shape(arn)

    def delete(self, function: str, qualifier: str | None) -> tuple[int, None]:
        arn, q = self._arn(function, qualifier)
        if self.configs.get(function, q) is None:
            raise ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")
        self.configs.delete(function, q)
        return 204, None

    def list(
        self, function: str, marker: str | None, max_items: str | None
    ) -> tuple[int, dict[str, Any]]:
        base = self._resolve(function, None)
        try:
            limit = 50 if max_items is None else int(max_items)
        except ValueError as exc:
            raise InvalidParameterValue(f"MaxItems must be a number, not {max_items!r}") from exc
        if not 1 <= limit <= 50:
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{limit}' at 'maxItems' failed to satisfy "
                "constraint: Member must have value "
                + ("greater than or equal to 1" if limit < 1 else "less than or equal to 50")
            )
        configs = self.configs.list(function)
        if marker:
            configs = [c for c in configs if c.qualifier > marker]
        page = configs[:limit]
        out: dict[str, Any] = {
            "FunctionEventInvokeConfigs": [c.shape(f"{base}:{c.qualifier}") for c in page]
        }
        if len(configs) > limit:
            out["NextMarker"] = page[-1].qualifier
        return 200, out
