"""Event invoke configurations in memory (the delivery path reads them) backed by the store."""

from __future__ import annotations

from lamina.events.asyncinvoke.config import LATEST, EventInvokeConfig
from lamina.events.asyncinvoke.store import AsyncInvokeStore


class EventInvokeConfigs:
    """Per function and qualifier; an unqualified invoke uses ``$LATEST``'s configuration."""

    def __init__(self, store: AsyncInvokeStore) -> None:
        self._store = store
        self._by_key: dict[tuple[str, str], EventInvokeConfig] = {
            (c.function, c.qualifier): c for c in store.load_configs()
        }

    def get(self, function: str, qualifier: str | None) -> EventInvokeConfig | None:
        return self._by_key.get((function, qualifier or LATEST))

    def effective(self, function: str, qualifier: str | None) -> EventInvokeConfig:
        """The configuration that applies, or Lambda's defaults."""
        q = qualifier or LATEST
        return self._by_key.get((function, q)) or EventInvokeConfig(function, q)

    def list(self, function: str) -> list[EventInvokeConfig]:
        return sorted(
            (c for (f, _), c in self._by_key.items() if f == function), key=lambda c: c.qualifier
        )

    def put(self, cfg: EventInvokeConfig) -> None:
        self._store.put_config(cfg)
        self._by_key[(cfg.function, cfg.qualifier)] = cfg

    def delete(self, function: str, qualifier: str | None) -> None:
        q = qualifier or LATEST
        self._store.delete_configs(function, [q])
        self._by_key.pop((function, q), None)

    def delete_function(self, function: str) -> None:
        """Forget every configuration of a deleted function."""
        self._store.delete_configs(function)
        for key in [k for k in self._by_key if k[0] == function]:
            del self._by_key[key]
