"""What CloudWatch Logs keeps about a group besides its events: retention, creation, tags.

One small JSON file next to the groups (``<data_dir>/logs/.groups.json``), rewritten
atomically on each change: a handful of groups change their settings rarely, so a
database would buy nothing. A group without an entry has no retention (never expires)
and was created when its folder was.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lamina.errors import InvalidParameterValue

log = logging.getLogger("lamina.logs")

# CloudWatch Logs accepts exactly these retention periods, in days.
RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class GroupInfo:
    retention_days: int | None = None
    created_ms: int | None = None
    tags: dict[str, str] = field(default_factory=dict)


def validate_retention(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in RETENTION_DAYS:
        raise InvalidParameterValue.constraint(
            "retentionInDays",
            f"Member must satisfy enum value set: [{', '.join(str(d) for d in RETENTION_DAYS)}]",
            value,
        )
    return value


class GroupSettings:
    """Retention and creation time per group name, persisted in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._groups: dict[str, GroupInfo] = {}
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raw = {}
        except (OSError, ValueError) as exc:
            log.error("cannot read %s (%s): log groups keep no retention until reset", path, exc)
            raw = {}
        for name, entry in raw.items() if isinstance(raw, dict) else ():
            if isinstance(entry, dict):
                tags = entry.get("tags") or {}
                self._groups[str(name)] = GroupInfo(
                    entry.get("retentionInDays"),
                    entry.get("creationTime"),
                    {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
                )

    def get(self, group: str) -> GroupInfo:
        with self._lock:
            return self._groups.get(group, GroupInfo())

    def retention(self, group: str) -> int | None:
        return self.get(group).retention_days

    def set(self, group: str, info: GroupInfo) -> None:
        with self._lock:
            self._groups[group] = info
            self._save()

    def forget(self, group: str) -> None:
        with self._lock:
            if self._groups.pop(group, None) is not None:
                self._save()

    def _save(self) -> None:
        data = {
            name: {
                "retentionInDays": info.retention_days,
                "creationTime": info.created_ms,
                "tags": info.tags,
            }
            for name, info in sorted(self._groups.items())
        }
        temp = self.path.with_name(self.path.name + ".tmp")
        temp.write_text(json.dumps(data, indent=1))
        os.replace(temp, self.path)
