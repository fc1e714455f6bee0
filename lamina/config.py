"""Settings, loaded once at start-up (defaults ← ``LAMINA_*`` environment ← CLI flags).

Nothing in Lamina reads the environment at import time: the server builds one
:class:`Settings` and passes it to every component that needs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from lamina.errors import ConfigError

Isolation = Literal["auto", "process", "none"]


def default_data_dir(env: Mapping[str, str]) -> Path:
    """A per-user data directory: ``$XDG_DATA_HOME/lamina`` or ``~/.local/share/lamina``."""
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "/tmp")) / ".local" / "share")
    return Path(base) / "lamina"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one Lamina server."""

    host: str = "127.0.0.1"
    port: int = 9000
    data_dir: Path = field(default_factory=lambda: default_data_dir(os.environ))
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # Concurrency: Lambda's default account limit, and the share reserved concurrency must leave.
    concurrency_limit: int = 1000
    unreserved_minimum: int = 100
    # Environment lifecycle (seconds). Lambda reclaims idle environments after minutes and
    # recycles busy ones after hours; both are configurable so tests need no waiting.
    idle_reclaim_s: float = 300.0
    max_lifetime_s: float = 7200.0
    init_timeout_s: float = 10.0
    # Freeze an environment only after it has been idle this long, so a busy one never pays
    # the ~0.5 ms freeze/thaw on its hot path.
    freeze_grace_s: float = 0.05
    # Lambda runs INIT without the memory-proportional CPU cap (lambda-perf's 85 ms Python
    # INIT at 128 MB would take ~0.5 s at 7 % of a CPU); the cap applies from the first event.
    init_cpu_boost: bool = True
    isolation: Isolation = "auto"
    # Extra interpreter mappings, e.g. {"python3.12": "/usr/bin/python3.12"}.
    interpreters: dict[str, str] = field(default_factory=dict)
    log_level: str = "info"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


_ENV_PREFIX = "LAMINA_"


def _coerce(name: str, raw: str, kind: object) -> object:
    try:
        if kind in (bool, "bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (Path, "Path"):
            return Path(raw).expanduser()
    except ValueError as exc:
        raise ConfigError(f"{_ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw


def parse_interpreters(raw: str) -> dict[str, str]:
    """Parse ``python3.12=/usr/bin/python3.12,nodejs22.x=/opt/node22/bin/node``."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        runtime, eq, path = item.partition("=")
        if not eq or not runtime or not path:
            raise ConfigError(f"interpreter mapping {item!r} must look like runtime=/path/to/bin")
        out[runtime.strip()] = path.strip()
    return out


def load_settings(env: Mapping[str, str], **overrides: object) -> Settings:
    """Build settings from ``LAMINA_*`` variables, then explicit overrides (CLI flags)."""
    settings = Settings(data_dir=default_data_dir(env))
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(_ENV_PREFIX + f.name.upper())
        if raw is None:
            continue
        if f.name == "interpreters":
            values[f.name] = parse_interpreters(raw)
        else:
            values[f.name] = _coerce(f.name, raw, f.type)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "data_dir" in values:
        values["data_dir"] = Path(str(values["data_dir"])).expanduser()
    settings = replace(settings, **values)  # type: ignore[arg-type]
    if settings.isolation not in ("auto", "process", "none"):
        raise ConfigError(f"isolation must be auto, process or none, not {settings.isolation!r}")
    if not settings.concurrency_limit >= 1:
        raise ConfigError("concurrency_limit must be at least 1")
    return settings
